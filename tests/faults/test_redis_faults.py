"""Redis (challenges and single-use sessions) going away while the service runs, on a Redis of its own (a
private ``redis-server`` on a free port, so nothing else on the machine is disturbed): storage answers 503
problem+json ``storage.unavailable`` while it is down, and the service recovers by itself when it is back."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import WorldFactory


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateRedis:
    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_redis_down_is_503_then_recovers(make_world: WorldFactory, private_redis: PrivateRedis) -> None:
    world = await make_world(redis_url=private_redis.url)
    assert (await world.client.post("/v1/challenges", json={})).status_code == 201
    private_redis.stop()
    for _ in range(3):
        response = await world.client.post("/v1/challenges", json={})
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "storage.unavailable"
    private_redis.start()
    # Back: the same service (same connection pool) issues challenges again, and they work end to end.
    device = world.iphone()
    key_id = await world.register_iphone(device)
    assert key_id
