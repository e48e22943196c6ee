"""The HTTP service: FastAPI routes of the v1 protocol, problem+json errors, size limits."""
