"""Reaching a source: local, s3:// and SSRF-safe http(s) reads, fetch plans with pagination, and profiles."""
