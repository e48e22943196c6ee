"""Run the HTTP service with uvicorn."""

from __future__ import annotations

import contextlib
import logging
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

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
        config = uvicorn.Config(
            "app_integrity.server.worker:app",
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_config=None,
            access_log=False,
            factory=True,
        )
        # uvicorn binds the shared socket with protocol 0, and asyncio turns Nagle off (TCP_NODELAY) only on
        # connections accepted from a socket whose protocol reads as TCP: without it a response written in two
        # parts (headers, body) waits for the client's delayed ACK, ~40 ms per request (measured: bench service).
        # socket(fileno=...) reads the real protocol back from the kernel.
        sock = socket.socket(fileno=config.bind_socket().detach())
        with contextlib.suppress(KeyboardInterrupt):
            Multiprocess(config, sockets=[sock]).run()
        return
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_config=None, access_log=False)
