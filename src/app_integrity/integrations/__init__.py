"""Drop-in protection for FastAPI / Starlette, Flask and Django routes (one shared core in ``core``)."""

from app_integrity.integrations.core import IntegrationConfig, IntegrityRuntime, RemoteVerifier

__all__ = ["IntegrationConfig", "IntegrityRuntime", "RemoteVerifier"]
