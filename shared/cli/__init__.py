"""The resource-service command line: wrap (with --plot) and api-key."""
