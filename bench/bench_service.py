"""Service under load: ``app-integrity serve`` as a real process, gated iOS requests against its own ``/healthz``.

A gated request is what a sidecar caller sends for every protected request of an iPhone app: ``POST /v1/verify``
with the ``App-Integrity`` header of a real App Attest assertion over that request's binding, so the server parses
the header, verifies the assertion, consumes the challenge, advances the key's counter and records the event.
Everything is prepared before the clock starts: one emulated iPhone (one attested key) per connection, registered
through the API; challenges issued through the API; each connection's assertions signed in counter order.

The load generator is a separate process speaking HTTP/1.1 over keep-alive connections with pre-built request
bytes (asyncio protocols, no HTTP library), so that it costs little CPU next to the server; its CPU share is
printed. Healthz and gated phases alternate on the same server in the same run, several rounds, and the ratio is
taken per round: load from other work on the machine disturbs both alike. Server CPU per request (from
``/proc``) is printed too, a figure that load on the machine barely moves. So is the server's memory: the resident
set size of each of its processes (with ``--workers 2`` the master, each worker and multiprocessing's resource
tracker, and their sum) once it is up, after the load, and at its peak (``VmHWM``).

Runs: SQLite; PostgreSQL (a fresh schema in database ``test``, dropped after); PostgreSQL + Redis with one worker
and with ``--workers 2``. Targets: gated throughput >= 50% of healthz's; two workers >= 1.6x one.
Results go to ``bench/results/service.json``. ``BENCH_SERVICE_QUICK=1`` runs shorter phases (and records the
memory figures only);
``BENCH_SERVICE_ONLY=sqlite`` (or ``postgresql``, ``workers``) runs one configuration; ``BENCH_SERVICE_WRAP`` prefixes
the server's command, e.g. ``py-spy record -o serve.svg --`` to profile it under load.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import multiprocessing
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import psycopg

from app_integrity.apple import AppleApp
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA
from app_integrity.testing.protocol import ios_header

QUICK = os.environ.get("BENCH_SERVICE_QUICK") == "1"
ONLY = os.environ.get("BENCH_SERVICE_ONLY", "")
WRAP = shlex.split(os.environ.get("BENCH_SERVICE_WRAP", ""))
CONNECTIONS = 16
GATED_PER_CONNECTION = 40 if QUICK else 120
HEALTHZ_PER_CONNECTION = 150 if QUICK else 500
ROUNDS = 2 if QUICK else 3
PHASE_TIMEOUT_SECONDS = 120
RATIO_TARGET = 0.5
WORKERS_TARGET = 1.6
TEAM_ID = "BENCH12345"
BUNDLE_ID = "dev.appintegrity.bench"
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
RESULTS = Path(__file__).resolve().parent / "results" / "service.json"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the server process -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _process_tree(pid: int) -> list[int]:
    found = [pid]
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.extend(_process_tree(int(child)))
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live descendants (uvicorn's worker processes)."""
    total = 0
    for member in _process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / CLOCK_TICKS


def _resident_kib(pid: int, field: str) -> dict[str, int]:
    """``VmRSS`` or ``VmHWM`` (the peak) in KiB of ``pid`` and of each live descendant, by role: the server (the
    master when it has workers), each worker, and multiprocessing's resource tracker beside them."""
    members = _process_tree(pid)
    sizes: dict[str, int] = {}
    for member in members:
        try:
            status = Path(f"/proc/{member}/status").read_text()
            command = Path(f"/proc/{member}/cmdline").read_bytes()
        except OSError:
            continue
        if member == pid:
            role = "server" if len(members) == 1 else "master"
        elif b"spawn_main" in command:
            role = f"worker {sum(name.startswith('worker') for name in sizes) + 1}"
        else:
            role = "resource tracker" if b"resource_tracker" in command else f"process {member}"
        sizes[role] = next(int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field}:"))
    return sizes


class Server:
    """``app-integrity serve`` on a free local port, its logs in a file next to the config."""

    def __init__(self, folder: Path, *, workers: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        command = [
            *WRAP,
            sys.executable,
            "-m",
            "app_integrity.cli",
            "serve",
            "--config",
            str(folder / "app-integrity.toml"),
        ]
        command += ["--port", str(self.port), "--workers", str(workers)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start:\n{self.log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)
        if workers > 1:
            # Every worker must be up before the clock starts: wait until the tree holds them all.
            while len(_process_tree(self.process.pid)) < workers + 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.process.pid)

    def resident_mib(self, field: str = "VmRSS") -> dict[str, float]:
        return {role: kib / 1024 for role, kib in _resident_kib(self.process.pid, field).items()}

    def stop(self) -> None:
        # Ctrl-C to the whole group: uvicorn shuts down cleanly, and a profiler wrapping it writes its output.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# --- the load generator (its own process) --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    """One phase: per connection, the exact request bytes to send in order, one at a time (keep-alive)."""

    connections: list[list[bytes]]
    expect: bytes  # a response counts as a success when it is a 200/201 whose body contains this
    collect: bool = False  # return the response bodies (used to issue challenges)


@dataclass(frozen=True, slots=True)
class Outcome:
    wall_seconds: float
    cpu_seconds: float  # the generator's own CPU during the phase
    latencies: list[float]
    failures: int
    first_failure: str
    bodies: list[list[bytes]]


class _Client(asyncio.Protocol):
    """Send a connection's requests back to back: the next one goes as soon as the previous answer is complete."""

    def __init__(self, requests: list[bytes], job: Job, done: asyncio.Future[None]) -> None:
        self.requests = requests
        self.job = job
        self.done = done
        self.index = 0
        self.buffer = bytearray()
        self.need = -1
        self.sent_at = 0.0
        self.latencies: list[float] = []
        self.failures = 0
        self.first_failure = ""
        self.bodies: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def start(self) -> None:
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if self.index == len(self.requests):
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.requests[self.index])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                raise ConnectionError(f"a response without content-length: {head[:200]!r}")
            stop = head.find(b"\r\n", at + 2)
            self.need = end + 4 + int(head[at + 17 : stop if stop > 0 else len(head)])
        if len(self.buffer) < self.need:
            return
        self.latencies.append(time.perf_counter() - self.sent_at)
        response = bytes(self.buffer[: self.need])
        del self.buffer[: self.need]
        self.need = -1
        body = response[response.find(b"\r\n\r\n") + 4 :]
        if response[9:12] not in (b"200", b"201") or self.job.expect not in body:
            self.failures += 1
            self.first_failure = self.first_failure or response.decode(errors="replace")[:600]
        if self.job.collect:
            self.bodies.append(body)
        self.index += 1
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if self.index < len(self.requests):
                self.done.set_exception(ConnectionError(f"connection closed after {self.index} responses: {exc}"))
            else:
                self.done.set_result(None)


def _returning(client: _Client) -> Callable[[], _Client]:
    return lambda: client


async def _run_job(port: int, job: Job) -> Outcome:
    loop = asyncio.get_running_loop()
    clients: list[_Client] = []
    for requests in job.connections:
        done: asyncio.Future[None] = loop.create_future()
        client = _Client(requests, job, done)
        await loop.create_connection(_returning(client), "127.0.0.1", port)
        clients.append(client)
    cpu = time.process_time()
    start = time.perf_counter()
    for client in clients:
        client.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(client.done for client in clients)), PHASE_TIMEOUT_SECONDS)
    except TimeoutError:
        stuck = [f"{client.index}/{len(client.requests)}" for client in clients if not client.done.done()]
        raise RuntimeError(f"phase timed out; connections at (answered/total): {', '.join(stuck)}") from None
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    failed = [client for client in clients if client.failures]
    return Outcome(
        wall_seconds=wall,
        cpu_seconds=cpu,
        latencies=[latency for client in clients for latency in client.latencies],
        failures=sum(client.failures for client in clients),
        first_failure=failed[0].first_failure if failed else "",
        bodies=[client.bodies for client in clients],
    )


def _generator(port: int, pipe: Connection) -> None:
    """The generator process: run each job it receives, answer with its outcome; ``None`` ends it."""
    while True:
        job = pipe.recv()
        if job is None:
            return
        pipe.send(asyncio.run(_run_job(port, job)))


class Generator:
    def __init__(self, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_generator, args=(port, child), daemon=True)
        self._process.start()

    def run(self, job: Job) -> Outcome:
        self._pipe.send(job)
        outcome: Outcome = self._pipe.recv()
        return outcome

    def close(self) -> None:
        self._pipe.send(None)
        self._process.join(timeout=10)


# --- preparing requests ---------------------------------------------------------------------------------------


def _request(method: str, target: str, port: int, body: bytes | None = None) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode("ascii") + b"\r\n" + (body or b"")


def _b64url_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


@dataclass(slots=True)
class Device:
    service: EmulatedAppAttestService
    key_id: str


def _register(url: str, ca: EmulatedAppleCA, count: int) -> list[Device]:
    """``count`` emulated iPhones, each with one key attested and registered through the API."""
    devices = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(count):
            service = EmulatedAppAttestService(ca=ca, app=AppleApp(team_id=TEAM_ID, bundle_id=BUNDLE_ID))
            key_id = service.generate_key()
            challenge = client.post("/v1/challenges", json={}).json()["challenge"]
            attestation = service.attest_key_async(key_id, challenge)
            response = client.post(
                "/v1/apple/keys", json={"keyId": key_id, "attestation": attestation, "challenge": challenge}
            )
            if response.status_code != 201:
                raise RuntimeError(f"registration failed: {response.text}")
            devices.append(Device(service, key_id))
    return devices


def _issue_challenges(generator: Generator, port: int, per_connection: int) -> list[list[str]]:
    """Challenges issued through the API (``POST /v1/challenges``), ``per_connection`` for each connection."""
    request = _request("POST", "/v1/challenges", port, b"{}")
    outcome = generator.run(Job([[request] * per_connection] * CONNECTIONS, expect=b'"challenge"', collect=True))
    if outcome.failures:
        raise RuntimeError(f"challenges failed: {outcome.first_failure}")
    return [[json.loads(body)["challenge"] for body in bodies] for bodies in outcome.bodies]


def _gated_job(port: int, devices: list[Device], challenges: list[list[str]]) -> Job:
    """Per connection (one device), ``POST /v1/verify`` calls carrying assertions signed in counter order."""
    connections = []
    for device, values in zip(devices, challenges, strict=True):
        requests = []
        for index, challenge in enumerate(values):
            path = f"/api/orders?item={index}"
            body = json.dumps({"item": index, "quantity": 1}).encode()
            header = ios_header(device.service, device.key_id, challenge=challenge, method="POST", path=path, body=body)
            call = {
                "action": "purchase",
                "request": {"method": "POST", "path": path, "bodySha256": _b64url_sha256(body)},
                "header": header,
            }
            requests.append(_request("POST", "/v1/verify", port, json.dumps(call).encode()))
        connections.append(requests)
    return Job(connections, expect=b'"outcome":"allow"')


def _healthz_job(port: int, per_connection: int) -> Job:
    return Job([[_request("GET", "/healthz", port)] * per_connection] * CONNECTIONS, expect=b'"ok"')


# --- phases, rounds, configurations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_us: float  # server CPU (all its processes) per request
    server_cpu_share: float  # server CPU seconds per wall second (up to the number of workers)
    generator_cpu_share: float  # generator CPU seconds per wall second
    database_cpu_us: float  # PostgreSQL and Redis server processes' CPU per request (zero on SQLite)
    idle_share: float  # the machine's idle CPU over the phase, in cores: what more workers could still use


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _database_cpu_seconds() -> float:
    """User + system CPU of the machine's PostgreSQL and Redis server processes (what they spend on our requests)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() not in ("postgres", "redis-server"):
                continue
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def _idle_seconds() -> float:
    """Idle + iowait time of all cores, from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[3]) + int(fields[4])) / CLOCK_TICKS


def _phase(generator: Generator, server: Server, job: Job) -> Phase:
    before = server.cpu_seconds()
    database_before, idle_before = _database_cpu_seconds(), _idle_seconds()
    outcome = generator.run(job)
    server_cpu = server.cpu_seconds() - before
    database_cpu = _database_cpu_seconds() - database_before
    idle = _idle_seconds() - idle_before
    if outcome.failures:
        raise RuntimeError(f"{outcome.failures} requests failed; the first:\n{outcome.first_failure}")
    count = len(outcome.latencies)
    return Phase(
        requests=count,
        per_second=count / outcome.wall_seconds,
        p50_ms=_percentile(outcome.latencies, 0.50) * 1000,
        p99_ms=_percentile(outcome.latencies, 0.99) * 1000,
        server_cpu_us=server_cpu / count * 1e6,
        server_cpu_share=server_cpu / outcome.wall_seconds,
        generator_cpu_share=outcome.cpu_seconds / outcome.wall_seconds,
        database_cpu_us=database_cpu / count * 1e6,
        idle_share=idle / outcome.wall_seconds,
    )


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident set size in MiB of each server process, by role (one process with one worker)."""

    before_mib: dict[str, float]  # up, before any request
    after_mib: dict[str, float]  # after the last round
    peak_mib: dict[str, float]  # VmHWM after the last round: the most each process ever held


@dataclass(frozen=True, slots=True)
class Round:
    healthz: Phase
    gated: Phase

    @property
    def ratio(self) -> float:
        return self.gated.per_second / self.healthz.per_second


def _config_text(storage_url: str | None, redis_url: str | None) -> str:
    storage = f'url = "{storage_url}"\n' if storage_url else ""
    storage += f'redis_url = "{redis_url}"\n' if redis_url else ""
    return f"""
[server]
data_dir = "data"

[storage]
{storage}
[apple]
team_id = "{TEAM_ID}"
bundle_ids = ["{BUNDLE_ID}"]
trust_roots = ["apple-roots.pem"]

[policy.actions.purchase]
mode = "enforce"
allow = "strong"
"""


def _run_config(
    label: str, ca: EmulatedAppleCA, *, storage_url: str | None, redis_url: str | None, workers: int
) -> tuple[list[Round], Memory]:
    with tempfile.TemporaryDirectory(prefix="bench-service-") as temp:
        folder = Path(temp)
        (folder / "apple-roots.pem").write_bytes(ca.roots_pem())
        (folder / "app-integrity.toml").write_text(_config_text(storage_url, redis_url))
        server = Server(folder, workers=workers)
        before = server.resident_mib()
        generator = Generator(server.port)
        try:
            devices = _register(server.url, ca, CONNECTIONS)
            # Warm-up: connections, caches, prepared statements.
            generator.run(_healthz_job(server.port, 50))
            _phase(generator, server, _gated_job(server.port, devices, _issue_challenges(generator, server.port, 10)))
            rounds = []
            for _ in range(ROUNDS):
                healthz = _phase(generator, server, _healthz_job(server.port, HEALTHZ_PER_CONNECTION))
                job = _gated_job(server.port, devices, _issue_challenges(generator, server.port, GATED_PER_CONNECTION))
                gated = _phase(generator, server, job)
                rounds.append(Round(healthz, gated))
                _print_round(label, workers, rounds[-1])
            return rounds, Memory(before, server.resident_mib(), server.resident_mib("VmHWM"))
        finally:
            generator.close()
            server.stop()


@contextmanager
def _pg_schema() -> Iterator[str]:
    """A fresh schema in database ``test``, dropped afterwards; its URL selects it through libpq ``options``."""
    schema = f"bench_service_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP SCHEMA {} CASCADE").format(psycopg.sql.Identifier(schema)))


# --- report ---------------------------------------------------------------------------------------------------


def _print_round(label: str, workers: int, result: Round) -> None:
    for name, phase in (("healthz", result.healthz), ("gated", result.gated)):
        print(
            f"  {label:<22} {workers:>2}w {name:<8} {phase.per_second:8.0f} req/s  p50 {phase.p50_ms:6.1f} ms"
            f"  p99 {phase.p99_ms:6.1f} ms  server {phase.server_cpu_us:6.0f} us CPU/req"
            f" ({phase.server_cpu_share:4.2f} cores)  database {phase.database_cpu_us:5.0f} us CPU/req"
            f"  generator {phase.generator_cpu_share:4.0%} of a core  idle {phase.idle_share:4.2f} cores"
        )
    print(f"  {'':<22}     gated/healthz {result.ratio:6.1%}")


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def _summary(rounds: list[Round], memory: Memory) -> dict[str, Any]:
    return {
        "gated_per_second": _spread([r.gated.per_second for r in rounds]),
        "healthz_per_second": _spread([r.healthz.per_second for r in rounds]),
        "ratio": _spread([r.ratio for r in rounds]),
        "gated_p50_ms": _spread([r.gated.p50_ms for r in rounds]),
        "gated_p99_ms": _spread([r.gated.p99_ms for r in rounds]),
        "healthz_p50_ms": _spread([r.healthz.p50_ms for r in rounds]),
        "healthz_p99_ms": _spread([r.healthz.p99_ms for r in rounds]),
        "gated_server_cpu_us": _spread([r.gated.server_cpu_us for r in rounds]),
        "healthz_server_cpu_us": _spread([r.healthz.server_cpu_us for r in rounds]),
        "gated_database_cpu_us": _spread([r.gated.database_cpu_us for r in rounds]),
        "gated_idle_cores": _spread([r.gated.idle_share for r in rounds]),
        "generator_cpu_share": _spread([p.generator_cpu_share for r in rounds for p in (r.healthz, r.gated)]),
        "rounds": [{"healthz": asdict(r.healthz), "gated": asdict(r.gated), "ratio": r.ratio} for r in rounds],
        "memory": {**asdict(memory), **{f"{name}_sum": sum(sizes.values()) for name, sizes in asdict(memory).items()}},
    }


def _line(label: str, summary: dict[str, Any]) -> str:
    def span(name: str, fmt: str) -> str:
        s = summary[name]
        return f"{s['median']:{fmt}} ({s['min']:{fmt}}-{s['max']:{fmt}})"

    def rss(name: str) -> str:
        sizes: dict[str, float] = summary["memory"][name]
        if len(sizes) == 1:
            return f"{sum(sizes.values()):.0f}"
        return " + ".join(f"{role} {size:.0f}" for role, size in sizes.items()) + f" = {sum(sizes.values()):.0f}"

    return (
        f"{label:<24} gated {span('gated_per_second', '.0f')} req/s, p50 {span('gated_p50_ms', '.1f')} ms,"
        f" p99 {span('gated_p99_ms', '.1f')} ms | healthz {span('healthz_per_second', '.0f')} req/s"
        f" | ratio {span('ratio', '.0%')} | server CPU/req gated {span('gated_server_cpu_us', '.0f')} us,"
        f" healthz {span('healthz_server_cpu_us', '.0f')} us, database CPU/req gated"
        f" {span('gated_database_cpu_us', '.0f')} us, idle while gated {span('gated_idle_cores', '.2f')} cores"
        f"\n{'':<24} server RSS MiB: before load"
        f" {rss('before_mib')}, after {rss('after_mib')}, peak {rss('peak_mib')}"
    )


def main() -> None:
    print(
        f"service benchmark: {CONNECTIONS} keep-alive connections (one iPhone key each), {ROUNDS} rounds of"
        f" {HEALTHZ_PER_CONNECTION}/connection healthz then {GATED_PER_CONNECTION}/connection gated"
        f" (POST /v1/verify, App Attest assertion); {os.cpu_count()} cores, load average"
        f" {os.getloadavg()[0]:.1f}"
    )
    ca = EmulatedAppleCA.generate()
    results: dict[str, Any] = {
        "connections": CONNECTIONS,
        "rounds": ROUNDS,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
    }
    if ONLY in ("", "sqlite"):
        results["sqlite"] = _summary(*_run_config("SQLite", ca, storage_url=None, redis_url=None, workers=1))
    if ONLY in ("", "postgresql"):
        with _pg_schema() as url:
            run = _run_config("PostgreSQL", ca, storage_url=url, redis_url=None, workers=1)
        results["postgresql"] = _summary(*run)
    if ONLY in ("", "workers"):
        with _pg_schema() as url:
            one, one_memory = _run_config("PostgreSQL+Redis", ca, storage_url=url, redis_url=REDIS_URL, workers=1)
        with _pg_schema() as url:
            two, two_memory = _run_config("PostgreSQL+Redis", ca, storage_url=url, redis_url=REDIS_URL, workers=2)
        results["postgresql_redis_1_worker"] = _summary(one, one_memory)
        results["postgresql_redis_2_workers"] = _summary(two, two_memory)
        scaling = [b.gated.per_second / a.gated.per_second for a, b in zip(one, two, strict=True)]
        results["workers_scaling"] = _spread(scaling)

    print()
    for key, label in (
        ("sqlite", "SQLite, 1 worker"),
        ("postgresql", "PostgreSQL, 1 worker"),
        ("postgresql_redis_1_worker", "PG+Redis, 1 worker"),
        ("postgresql_redis_2_workers", "PG+Redis, 2 workers"),
    ):
        if key in results:
            print(_line(label, results[key]))
    if "workers_scaling" in results:
        spread = results["workers_scaling"]
        print(
            f"2 workers / 1 worker (gated, PG+Redis): x{spread['median']:.2f}"
            f" ({spread['min']:.2f}-{spread['max']:.2f}), target >= x{WORKERS_TARGET}"
        )
    print(f"gated/healthz target >= {RATIO_TARGET:.0%}")
    if ONLY or WRAP:
        return  # partial or profiled runs do not replace the recorded figures
    if QUICK:
        # Short phases disturb the speed figures, not the memory ones: only those replace the recorded figures.
        recorded = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        for key, summary in results.items():
            if isinstance(summary, dict) and "memory" in summary:
                recorded.setdefault(key, {})["memory"] = {**summary["memory"], "from_quick_run": True}
        RESULTS.write_text(json.dumps(recorded, indent=2) + "\n")
        print(f"memory figures: {RESULTS}")
        return
    results["load_average_at_end"] = os.getloadavg()[0]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS}")
