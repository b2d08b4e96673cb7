"""Lambda triggered by the wrapper_validation_queue of Amazon MQ."""
