"""Run the HTTP service with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from app_integrity.config import Settings
from app_integrity.server.app import create_app
from app_integrity.server.logs import configure_logging


def run_server(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Serve until interrupted. ``workers > 1`` runs that many processes sharing the configured storage."""
    configure_logging()
    bind_host = host or settings.server.host
    bind_port = port if port is not None else settings.server.port
    logging.getLogger("app_integrity.server").info("listening on http://%s:%d", bind_host, bind_port)
    if workers > 1:
        # Each worker process builds its own app from the same configuration (an import string is required).
        uvicorn.run(
            "app_integrity.server.worker:app",
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_config=None,
            access_log=False,
            factory=True,
        )
        return
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_config=None, access_log=False)
