"""The Resource Service's core, one package per pipeline stage (see each package's docstring)."""
