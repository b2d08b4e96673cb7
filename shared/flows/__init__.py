"""The stages strung together: wrap (CLI), steps and batch (queues), run and tick (the job)."""
