"""Lambda triggered by the wrapper_creation_queue of Amazon MQ."""
