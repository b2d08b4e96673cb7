"""The service's records and rules: resources, wrappers and their lifecycle, generations, schedules."""
