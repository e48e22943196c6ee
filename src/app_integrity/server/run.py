"""Run the HTTP service with uvicorn."""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import cast

import uvicorn
from uvicorn.supervisors import Multiprocess

from app_integrity.config import Settings
from app_integrity.server.app import create_app
from app_integrity.server.listeners import ReusePortListener
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
        # Each worker listens on a socket of its own (SO_REUSEPORT): see ``listeners`` for why not uvicorn's shared one.
        listener = ReusePortListener(bind_host, bind_port)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                Multiprocess(config, sockets=[cast("socket.socket", listener)]).run()
        finally:
            listener.close()
        return
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_config=None, access_log=False)
