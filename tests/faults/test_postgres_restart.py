"""PostgreSQL restarted in the middle of a load run, on a cluster of its own (``initdb`` into a temporary folder,
another port, the installed server binaries), so that nothing else on the machine loses its database: requests
that need storage answer 503 problem+json ``storage.unavailable`` (or their ``on_unavailable`` decision) while it
is down, never a 500, and everything works again once it is back, with nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.protocol import ios_header
from tests.service.conftest import World, WorldFactory

BODY = b'{"item":1}'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateCluster:
    """A throwaway PostgreSQL cluster run as the ``postgres`` system user (the server refuses to run as root)."""

    def __init__(self, folder: Path) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        assert binaries, "the PostgreSQL server binaries are not installed"
        self.bin = Path(binaries[-1])
        self.folder = folder
        self.port = _free_port()
        shutil.chown(folder, user="postgres")
        self._as_postgres(self.bin / "initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str | Path) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *map(str, command)], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            self.bin / "pg_ctl", "-D", self.folder / "data", "-o", options, "-l", self.folder / "log", "-w", "start"
        )

    def stop(self) -> None:
        # Immediate: what a crash or a failover looks like to the clients.
        self._as_postgres(self.bin / "pg_ctl", "-D", self.folder / "data", "-m", "immediate", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    # Not under pytest's tmp_path: its parents are private to the test's user, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="app-integrity-pg-"))
    folder.chmod(0o755)
    try:
        server = PrivateCluster(folder)
        server.start()
        yield server
        with contextlib.suppress(subprocess.CalledProcessError):  # already down
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _request(world: World, device: EmulatedAppAttestService, key_id: str) -> int:
    """One protected request: a challenge, then a verified assertion; the status that mattered."""
    challenge = await world.client.post("/v1/challenges", json={})
    if challenge.status_code != 201:
        assert challenge.status_code == 503, challenge.text
        assert challenge.headers["content-type"] == "application/problem+json"
        assert challenge.json()["code"] == "storage.unavailable"
        return 503
    header = ios_header(device, key_id, challenge=challenge.json()["challenge"], method="POST", path="/shop", body=BODY)
    decision = await world.verify(action="redeem", method="POST", path="/shop", body=BODY, header=header)
    if decision["outcome"] == "allow":
        return 200
    assert decision["reasons"] in (["storage.unavailable"], ["challenge.unknown"]), decision
    return 503


async def test_postgres_restart_mid_load(make_world: WorldFactory, cluster: PrivateCluster) -> None:
    world = await make_world(storage_url=cluster.url)
    device = world.iphone()
    key_id = await world.register_iphone(device)
    statuses: list[int] = []
    stop = asyncio.Event()

    async def load() -> None:
        while not stop.is_set():
            statuses.append(await _request(world, device, key_id))
            # In process, a refused connection can fail without ever suspending: let the test's own steps run.
            await asyncio.sleep(0.005)

    runner = asyncio.create_task(load())
    await asyncio.sleep(1.0)
    before = len(statuses)
    await asyncio.to_thread(cluster.stop)
    await asyncio.sleep(1.5)
    during = statuses[before:]
    await asyncio.to_thread(cluster.start)
    await asyncio.sleep(2.0)
    stop.set()
    await runner
    assert 200 in statuses[:before], statuses[:before]
    assert 503 in during, during  # the outage was seen, as 503s (a 500 fails in _request)
    # Recovered: the same service, its pool reconnected, serves requests end to end again.
    assert [await _request(world, device, key_id) for _ in range(3)] == [200, 200, 200]
    stored = await world.service.store.list_keys()
    counter = next(k.counter for k in stored if k.key_id == base64.b64decode(key_id))
    assert counter >= statuses.count(200) + 3  # every acknowledged allow advanced the stored counter
