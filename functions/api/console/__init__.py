"""The web console and Swagger UI, served by the API function from files in the package."""
