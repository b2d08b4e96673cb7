"""The HTTP API function: FastAPI served by Mangum on API Gateway (HTTP API, payload v2.0)."""
