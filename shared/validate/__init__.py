"""Validating a wrapper: the static policy over its code, then a sandboxed run whose points are checked."""
