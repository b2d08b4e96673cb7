"""Scheduled container jobs that run continuous wrappers."""
