"""One listening socket per worker process, bound with ``SO_REUSEPORT``, so the kernel spreads connections evenly.

uvicorn's multi-process mode binds one socket in the supervisor and hands the same socket to every worker. Each
worker's event loop then accepts every pending connection it can at each wake-up, so a burst of new connections
goes mostly to whichever worker woke first. Measured here with ``serve --workers 2`` and 16 keep-alive
connections opened at once: splits of 16/0, 15/1 and 12/4, and the busy worker set the pace while the other idled.
With ``SO_REUSEPORT`` each worker listens on a socket of its own for the same address, and the kernel assigns each
new connection to one of them by a hash of its addresses and ports, independently of which process is awake.

``ReusePortListener`` stands in for the socket in the arguments uvicorn passes to each worker process: unpickling
it in the worker binds that worker's own socket. The supervisor holds the address with a bound socket that does
not listen (so the port is reserved and ``port = 0`` resolves once), and that socket takes no connections: the
kernel hands connections only to listening sockets. An address in use fails at start-up, even when the server
already there listens with ``SO_REUSEPORT`` itself.
"""

from __future__ import annotations

import socket
from typing import Any

# Enough for bursts of new connections; the kernel caps it at net.core.somaxconn.
BACKLOG = 2048


def _bound(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on connections accepted from a socket
    # whose protocol reads as TCP; without it a response written in two parts waits for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def listen_on(host: str, port: int) -> socket.socket:
    """A worker's own listening socket (called in the worker process, when its arguments are unpickled)."""
    sock = _bound(host, port)
    sock.listen(BACKLOG)
    return sock


class ReusePortListener:
    """Reserves ``host:port`` in the supervisor; each worker process that receives it listens on its own socket."""

    def __init__(self, host: str, port: int) -> None:
        # A probe without SO_REUSEPORT first: another server listening there with SO_REUSEPORT (a second
        # `serve --workers`, or workers left behind by a killed supervisor) would otherwise share the port silently.
        with _bound(host, port, reuse_port=False) as probe:
            port = probe.getsockname()[1]
        self._reservation = _bound(host, port)
        self.host = host
        self.port: int = port

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return (listen_on, (self.host, self.port))

    def close(self) -> None:
        self._reservation.close()
