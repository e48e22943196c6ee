"""Memory: bytes per registered App Attest key and per outstanding challenge, in each store.

Keys are registered through the ``Store`` interface (``insert_key``), 10k and then 100k in all, in two shapes:
as registration stores them (a real device's key: 65-byte public key, the 3703-byte receipt of its attestation,
a subject, the tier and bundle id) and bare (id, public key and date, as ``bench_storage`` builds them). Each
key gets its own receipt object, so the in-process store cannot share one copy among them.

- SQLite: growth of the database file plus its WAL after ``PRAGMA wal_checkpoint(TRUNCATE)``; the share of
  the indexes comes from ``dbstat``.
- PostgreSQL: growth of ``pg_total_relation_size`` (heap, TOAST and indexes) of the table, on a fresh schema in
  database ``test``, dropped after; the share of the indexes from ``pg_indexes_size``.
- Redis holds no keys (they stay in SQL), only challenges and single-use session ids: growth of ``used_memory``
  (``INFO memory``) per outstanding challenge, and ``MEMORY USAGE`` of one of them. Its records are deleted after.
- The in-process store (``memory://``): growth of the Python heap traced by ``tracemalloc``.

Outstanding challenges (issued, not yet consumed) are measured the same way in each store, as the service
issues them: 32 random bytes in base64url, no subject or purpose. ``BENCH_MEMORY_QUICK=1`` registers 1k and 10k.
Results go to ``bench/results/memory.json``.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import platform
import secrets
import sqlite3
import tempfile
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from redis import asyncio as redis_asyncio

from app_integrity._encoding import b64url
from app_integrity.apple import verify_attestation
from app_integrity.samples import load_apple_sample
from app_integrity.storage import open_store
from app_integrity.storage.base import ChallengeRecord, KeyKind, KeyRecord, Store

QUICK = os.environ.get("BENCH_MEMORY_QUICK") == "1"
COUNTS = (1_000, 10_000) if QUICK else (10_000, 100_000)
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
RESULTS = Path(__file__).resolve().parent / "results" / "memory.json"

# One measurement: the bytes it counts now (total, and the indexes' share where the store tells them apart).
Sizes = tuple[int, int | None]
Measure = Callable[[], Awaitable[Sizes]]


@dataclass(frozen=True, slots=True)
class Row:
    store: str
    item: str
    count: int
    bytes_per_item: float
    index_bytes_per_item: float | None
    measure: str


# --- what is stored -------------------------------------------------------------------------------------------


def _real_receipt() -> tuple[bytes, str]:
    """The receipt and bundle id of the real device attestation shipped with the package."""
    sample = load_apple_sample()
    key = verify_attestation(
        base64.b64decode(sample.attestation),
        key_id=sample.key_id,
        app=sample.app,
        challenge=sample.challenge,
        now=sample.attestation_valid_at,
    )
    return key.receipt, sample.app.bundle_id


def _registered_key(receipt: bytes, bundle_id: str) -> Callable[[int], KeyRecord]:
    def make(index: int) -> KeyRecord:
        return KeyRecord(
            key_id=secrets.token_bytes(32),
            kind=KeyKind.APPLE,
            public_key=b"\x04" + secrets.token_bytes(64),
            created_at=datetime.now(UTC),
            environment="production",
            receipt=bytes(bytearray(receipt)),  # a copy of its own, as each device's receipt is
            subject=f"user-{index:08d}",
            tier="strong",
            summary={"bundleId": bundle_id},
        )

    return make


def _bare_key(index: int) -> KeyRecord:
    return KeyRecord(
        key_id=secrets.token_bytes(32),
        kind=KeyKind.APPLE,
        public_key=b"\x04" + secrets.token_bytes(64),
        created_at=datetime.now(UTC),
    )


def _challenge(index: int) -> ChallengeRecord:
    return ChallengeRecord(value=b64url(secrets.token_bytes(32)), expires_at=datetime.now(UTC) + timedelta(minutes=30))


async def _grow(
    put: Callable[[int], Awaitable[None]], measure: Measure, *, store: str, item: str, how: str
) -> list[Row]:
    """Add items up to each of ``COUNTS`` in turn; the growth since the start, per item, at each count."""
    base_total, base_index = await measure()
    rows: list[Row] = []
    done = 0
    for count in COUNTS:
        for index in range(done, count):
            await put(index)
        done = count
        total, index_bytes = await measure()
        index_share = None if index_bytes is None or base_index is None else (index_bytes - base_index) / count
        rows.append(Row(store, item, count, (total - base_total) / count, index_share, how))
        _print_row(rows[-1])
    return rows


# --- the stores -----------------------------------------------------------------------------------------------


def _sqlite_measure(path: Path, table: str) -> Measure:
    async def measure() -> Sizes:
        with sqlite3.connect(path, timeout=10) as conn:
            # The store checkpoints in the background too: while it does, a full checkpoint answers busy.
            for _ in range(100):
                if conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the WAL checkpoint stayed blocked: sizes would include a stale WAL")
            pages = conn.execute(
                "SELECT d.name, SUM(d.pgsize) FROM dbstat AS d JOIN sqlite_schema AS s ON s.name = d.name"
                " WHERE s.tbl_name = ? GROUP BY d.name",
                (table,),
            ).fetchall()
        wal = path.with_name(path.name + "-wal")
        total = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        return total, sum(size for name, size in pages if name != table)

    return measure


async def _sqlite(item: str, put: Callable[[Store], Callable[[int], Awaitable[None]]], table: str) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as folder:
        store = open_store("sqlite:///memory.db", base_dir=folder)
        try:
            await store.migrate()
            measure = _sqlite_measure(Path(folder) / "memory.db", table)
            return await _grow(put(store), measure, store="SQLite", item=item, how="file + WAL after checkpoint")
        finally:
            await store.close()


@asynccontextmanager
async def _pg_store() -> AsyncIterator[tuple[Store, psycopg.AsyncConnection[Any], str]]:
    """A store on a fresh schema in database ``test`` (dropped after), and an admin connection to size it."""
    schema = f"bench_memory_{uuid.uuid4().hex[:12]}"
    admin = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    store = open_store(f"{PG_URL}?options={quote(f'-csearch_path={schema}', safe='')}")
    try:
        await store.migrate()
        yield store, admin, schema
    finally:
        await store.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def _postgresql(item: str, put: Callable[[Store], Callable[[int], Awaitable[None]]], table: str) -> list[Row]:
    async with _pg_store() as (store, admin, schema):
        relation = f'"{schema}"."{table}"'

        async def measure() -> Sizes:
            cursor = await admin.execute(
                "SELECT pg_total_relation_size(%s::regclass), pg_indexes_size(%s::regclass)", (relation, relation)
            )
            row = await cursor.fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

        return await _grow(put(store), measure, store="PostgreSQL", item=item, how="pg_total_relation_size")


def _heap_measure() -> Measure:
    async def measure() -> Sizes:
        gc.collect()
        return tracemalloc.get_traced_memory()[0], None

    return measure


async def _memory(item: str, put: Callable[[Store], Callable[[int], Awaitable[None]]]) -> list[Row]:
    store = open_store("memory://")
    tracemalloc.start()
    try:
        return await _grow(put(store), _heap_measure(), store="memory://", item=item, how="tracemalloc heap")
    finally:
        tracemalloc.stop()
        await store.close()


async def _redis_challenges() -> list[Row]:
    prefix = f"bench-memory:{uuid.uuid4().hex[:12]}:"
    store = open_store("memory://", redis_url=REDIS_URL, redis_prefix=prefix)
    client = redis_asyncio.Redis.from_url(REDIS_URL)
    try:

        async def measure() -> Sizes:
            info = await client.info("memory")
            return int(info["used_memory"]), None

        rows = await _grow(
            _put_challenge(store), measure, store="Redis", item="challenge", how="INFO used_memory (whole server)"
        )
        async for name in client.scan_iter(match=f"{prefix}challenge:*", count=1000):
            usage = await client.memory_usage(name)
            rows.append(Row("Redis", "challenge", 1, float(usage or 0), None, "MEMORY USAGE of one record"))
            _print_row(rows[-1])
            break
        return rows
    finally:
        names = [name async for name in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(names), 1000):
            await client.unlink(*names[start : start + 1000])
        await client.aclose()
        await store.close()


def _put_key(make: Callable[[int], KeyRecord]) -> Callable[[Store], Callable[[int], Awaitable[None]]]:
    def bind(store: Store) -> Callable[[int], Awaitable[None]]:
        return lambda index: store.insert_key(make(index))

    return bind


def _put_challenge(store: Store) -> Callable[[int], Awaitable[None]]:
    return lambda index: store.put_challenge(_challenge(index))


# --- report ---------------------------------------------------------------------------------------------------


def _print_row(row: Row) -> None:
    index = "" if row.index_bytes_per_item is None else f"(indexes {row.index_bytes_per_item:6.0f})"
    print(
        f"  {row.store:<11} {row.item:<16} {row.count:>7}  {row.bytes_per_item:8.0f} B/item {index:<17} {row.measure}"
    )


async def _run(receipt: bytes, bundle_id: str) -> list[Row]:
    print(f"(a registered key holds a {len(receipt)}-byte receipt; a bare one none)")
    print(f"  {'store':<11} {'item':<16} {'items':>7}  {'bytes per item':<32} measured by")
    keys = {
        "key, registered": _put_key(_registered_key(receipt, bundle_id)),
        "key, bare": _put_key(_bare_key),
    }
    rows: list[Row] = []
    for item, put in keys.items():
        rows += await _sqlite(item, put, "keys")
        rows += await _postgresql(item, put, "keys")
        rows += await _memory(item, put)
    rows += await _sqlite("challenge", _put_challenge, "challenges")
    rows += await _postgresql("challenge", _put_challenge, "challenges")
    rows += await _redis_challenges()
    rows += await _memory("challenge", _put_challenge)
    return rows


def main() -> None:
    print(f"memory benchmark: bytes per stored item at {' and '.join(f'{n:,}' for n in COUNTS)} items")
    receipt, bundle_id = _real_receipt()
    rows = asyncio.run(_run(receipt, bundle_id))
    if QUICK:
        return  # a quick run does not replace the recorded figures
    results = {
        "counts": list(COUNTS),
        "receipt_bytes": len(receipt),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "rows": [asdict(row) for row in rows],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS}")
