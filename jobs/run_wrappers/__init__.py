"""The run_wrappers container job: `python -m jobs.run_wrappers` runs one tick and exits."""
