"""Storage: per-op latency of what a gated iOS request does (get_key, consume_challenge_and_advance_counter,
record_event), on SQLite and PostgreSQL (and PostgreSQL + Redis for challenges).

Each figure is set against the floor measured in the same run: the same primary-key SELECT through the bare
driver (sqlite3 / psycopg async, no SQLAlchemy), i.e. what one round trip costs before this package adds anything.
Also printed: one P-256 ECDSA verification, the cryptographic cost of the same request, for scale.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity.errors import AppIntegrityError
from app_integrity.storage import open_store
from app_integrity.storage.base import ChallengeRecord, EventRecord, KeyKind, KeyRecord, Store

ROUNDS = 2000
CONCURRENCY = 16
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _per_op_us(elapsed: float, count: int) -> float:
    return elapsed / count * 1e6


async def _timed(count: int, op: Callable[[int], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for i in range(count):
        await op(i)
    return _per_op_us(time.perf_counter() - start, count)


def _ecdsa_floor_us() -> float:
    key = ec.generate_private_key(ec.SECP256R1())
    data = os.urandom(64)
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()
    start = time.perf_counter()
    for _ in range(ROUNDS):
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    return _per_op_us(time.perf_counter() - start, ROUNDS)


def _sqlite_floor_us(path: Path, key_id: bytes) -> float:
    conn = sqlite3.connect(path)
    try:
        start = time.perf_counter()
        for _ in range(ROUNDS):
            conn.execute("SELECT * FROM keys WHERE key_id = ?", (key_id,)).fetchall()
        return _per_op_us(time.perf_counter() - start, ROUNDS)
    finally:
        conn.close()


async def _pg_floor_us(schema: str, key_id: bytes) -> float:
    conn = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True, options=f"-csearch_path={schema}")
    try:
        start = time.perf_counter()
        for _ in range(ROUNDS):
            await (await conn.execute("SELECT * FROM keys WHERE key_id = %s", (key_id,))).fetchall()
        return _per_op_us(time.perf_counter() - start, ROUNDS)
    finally:
        await conn.close()


async def _measure(store: Store) -> dict[str, float]:
    await store.migrate()
    now = datetime.now(UTC)
    key_ids = [os.urandom(32) for _ in range(ROUNDS)]
    for key_id in key_ids:
        await store.insert_key(
            KeyRecord(key_id=key_id, kind=KeyKind.APPLE, public_key=b"\x04" + os.urandom(64), created_at=now)
        )
    challenges = [os.urandom(32).hex() for _ in range(2 * ROUNDS)]
    for value in challenges:
        await store.put_challenge(ChallengeRecord(value=value, expires_at=now + timedelta(minutes=10)))

    def event(i: int) -> EventRecord:
        return EventRecord(
            at=datetime.now(UTC),
            action="redeem",
            platform="ios",
            outcome="allow",
            tier="strong",
            reasons=(),
            enforced=True,
            latency_ms=1.0,
            key_id=key_ids[i % ROUNDS],
            subject="user",
        )

    figures = {
        "get_key": await _timed(ROUNDS, lambda i: store.get_key(key_ids[i])),
        "consume+advance": await _timed(
            ROUNDS, lambda i: store.consume_challenge_and_advance_counter(challenges[i], key_ids[i], 1, now)
        ),
        "record_event": await _timed(ROUNDS, lambda i: store.record_event(event(i))),
    }
    figures["gated request (3 ops)"] = sum(figures.values())

    # Throughput with requests in flight at once, as under a server: the full three-op sequence.
    async def request(i: int) -> None:
        await store.get_key(key_ids[i])
        await store.consume_challenge_and_advance_counter(challenges[ROUNDS + i], key_ids[i], 2, now)
        await store.record_event(event(i))

    pending = iter(range(ROUNDS))

    async def worker() -> None:
        for i in pending:
            await request(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    figures[f"gated request, {CONCURRENCY} in flight (per request)"] = _per_op_us(time.perf_counter() - start, ROUNDS)
    return figures


def _print(title: str, figures: dict[str, float], floor: float, ecdsa: float) -> None:
    print(f"\n{title} (floor: bare-driver SELECT by key {floor:.0f} us)")
    for name, value in figures.items():
        print(f"  {name:<45} {value:8.0f} us   x{value / floor:5.1f} floor   x{value / ecdsa:4.1f} ECDSA verify")


async def _run() -> None:
    ecdsa = _ecdsa_floor_us()
    print(f"storage benchmark: {ROUNDS} ops each; P-256 ECDSA verify (crypto floor of a gated request) {ecdsa:.0f} us")

    with tempfile.TemporaryDirectory() as folder:
        store = open_store("sqlite:///bench.db", base_dir=folder)
        try:
            figures = await _measure(store)
            some_key = (await store.list_keys(limit=1))[0].key_id
        finally:
            await store.close()
        _print("SQLite", figures, _sqlite_floor_us(Path(folder) / "bench.db", some_key), ecdsa)

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        admin = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True)
    except psycopg.OperationalError as error:
        print(f"\nPostgreSQL: not reachable ({type(error).__name__}), skipped")
        return
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{PG_URL}?options={quote(f'-csearch_path={schema}', safe='')}"
    try:
        for title, redis_url in (("PostgreSQL", None), ("PostgreSQL + Redis (challenges)", REDIS_URL)):
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
            store = open_store(url, redis_url=redis_url, redis_prefix=f"bench:{schema}:")
            try:
                figures = await _measure(store)
                some_key = (await store.list_keys(limit=1))[0].key_id
            except AppIntegrityError as error:
                print(f"\n{title}: {error}, skipped")
                continue
            finally:
                await store.close()
            _print(title, figures, await _pg_floor_us(schema, some_key), ecdsa)
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def main() -> None:
    asyncio.run(_run())
