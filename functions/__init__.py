"""AWS Lambda handlers: thin adapters from events to the shared core."""
