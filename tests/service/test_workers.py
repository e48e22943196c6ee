"""``serve --workers N``: every worker listens on its own ``SO_REUSEPORT`` socket, so connections spread over all.

With one socket shared by the workers (uvicorn's default), the worker that wakes first accepts a whole burst of
new connections; keep-alive clients (a proxy's pool, the benchmark's 16 connections) then load one worker.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from app_integrity.server.listeners import ReusePortListener
from tests.service.test_serve import Server


def test_a_worker_unpickling_the_listener_listens_on_a_socket_of_its_own() -> None:
    listener = ReusePortListener("127.0.0.1", 0)
    try:
        assert listener.port > 0
        with pytest.raises(ConnectionRefusedError):  # the supervisor's reservation takes no connections
            socket.create_connection(("127.0.0.1", listener.port), timeout=1)
        # What each worker process receives: our own object, pickled by uvicorn's process spawner.
        workers = [pickle.loads(pickle.dumps(listener)) for _ in range(2)]  # noqa: S301
        try:
            for worker in workers:
                assert isinstance(worker, socket.socket)
                assert worker.getsockname() == ("127.0.0.1", listener.port)
                assert worker.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY on what it accepts
                assert worker.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            with socket.create_connection(("127.0.0.1", listener.port), timeout=1):
                pass
        finally:
            for worker in workers:
                worker.close()
    finally:
        listener.close()


@pytest.mark.parametrize("reuse_port", [False, True])
def test_an_address_in_use_fails_at_start_up(reuse_port: bool) -> None:
    """Also when the server already there listens with SO_REUSEPORT (another `serve --workers`): no silent sharing."""
    with socket.socket() as taken:
        if reuse_port:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="in use"):
            ReusePortListener("127.0.0.1", taken.getsockname()[1])


def _connections_per_process(port: int, pids: list[int]) -> Counter[int]:
    """Established connections to ``port`` per process, from /proc (socket inodes of each process's fds)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes[target[8:-1]] = pid
    counts: Counter[int] = Counter()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01" and fields[9] in inodes:  # 01: ESTABLISHED
            counts[inodes[fields[9]]] += 1
    return counts


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(child) for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def test_two_workers_share_a_burst_of_keep_alive_connections(tmp_path: Path) -> None:
    server = Server(tmp_path, "--emulated", "--workers", "2")
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while time.monotonic() < deadline:
            workers = [pid for pid in _children(server.process.pid) if b"resource_tracker" not in _cmdline(pid)]
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2
        time.sleep(1)  # both workers listening
        connections = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(32)]
        try:
            time.sleep(0.5)
            counts = _connections_per_process(server.port, workers)
        finally:
            for connection in connections:
                connection.close()
    finally:
        server.stop()
    assert sum(counts.values()) == 32
    # A hash of each connection's ports picks the worker: fewer than 6 of 32 on one side has odds of about 1e-4.
    assert min(counts[pid] for pid in workers) >= 6, counts


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
