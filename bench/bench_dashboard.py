"""Dashboard aggregates on a large event table: SQLite and PostgreSQL seeded with 1 million events (bulk inserts
through ``insights.insert_events``) spread over 30 days, then every query the overview page runs, per time range.

Each figure is set against the floor measured in the same run: ``SELECT count(*)`` over the same range, the
least any aggregate over those rows can cost. ``APP_INTEGRITY_BENCH_EVENTS`` changes the size (default 1,000,000).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from app_integrity.storage import open_store
from app_integrity.storage.base import EventRecord, Store
from app_integrity.storage.insights import (
    Bucket,
    EventFilter,
    TimeRange,
    android_distribution,
    count_events,
    decisions_over_time,
    insert_events,
    keys_per_day,
    readiness,
    recent_events,
    split_by_platform_and_tier,
    sql_store,
    top_failure_reasons,
)
from app_integrity.storage.sql import SQLStore

EVENTS = int(os.environ.get("APP_INTEGRITY_BENCH_EVENTS", "1000000"))
BATCH = 50_000
REPEATS = 3
NOW = datetime(2026, 6, 30, tzinfo=UTC)
PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
ACTIONS = ("login", "redeem", "browse", "checkout", "session")
REASONS = (
    (),
    (),
    (),
    ("policy.below_allow",),
    ("challenge.unknown",),
    ("apple.signature_invalid",),
    ("policy.below_limit", "header.missing"),
    ("play.play_protect_off", "policy.below_allow"),
)
DEVICE = ("MEETS_DEVICE_INTEGRITY", "MEETS_STRONG_INTEGRITY", "MEETS_BASIC_INTEGRITY", "NONE")
PROTECT = ("NO_ISSUES", "NO_ISSUES", "POSSIBLE_RISK", "UNEVALUATED")


def _events(first: int, count: int, rng: random.Random) -> list[EventRecord]:
    # Events arrive in time order, as a service records them: evenly over the 30 days before NOW.
    step = 30 * 24 * 3600 / EVENTS
    start = NOW - timedelta(days=30)
    records = []
    for index in range(first, first + count):
        android = rng.random() < 0.5
        reasons = rng.choice(REASONS)
        outcome = "allow" if not reasons else rng.choice(("limit", "block"))
        records.append(
            EventRecord(
                at=start + timedelta(seconds=index * step),
                action=rng.choice(ACTIONS),
                platform="android" if android else "ios",
                outcome=outcome,
                tier=rng.choice(("strong", "device", "basic", "none")),
                reasons=reasons,
                enforced=rng.random() < 0.3,
                latency_ms=rng.random() * 20,
                key_id=rng.randbytes(32) if not android else None,
                subject=f"user-{rng.randrange(100_000)}",
                request_id=uuid.UUID(int=rng.getrandbits(128)).hex,
                device_verdict=rng.choice(DEVICE) if android else None,
                play_protect=rng.choice(PROTECT) if android else None,
            )
        )
    return records


async def _seed(store: SQLStore) -> float:
    rng = random.Random(7)
    start = time.perf_counter()
    done = 0
    while done < EVENTS:
        size = min(BATCH, EVENTS - done)
        await insert_events(store, _events(done, size, rng))
        done += size
    return time.perf_counter() - start


async def _best_ms(query: Callable[[], Awaitable[Any]]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        await query()
        best = min(best, time.perf_counter() - start)
    return best * 1000


async def _measure(label: str, store: Store) -> None:
    await store.migrate()
    sql = sql_store(store)
    seconds = await _seed(sql)
    print(f"\n{label}: seeded {EVENTS:,} events in {seconds:.1f} s ({EVENTS / seconds:,.0f} events/s, bulk insert)")
    for name, length, bucket in (
        ("24h", timedelta(days=1), Bucket.HOUR),
        ("7d", timedelta(days=7), Bucket.HOUR),
        ("30d", timedelta(days=30), Bucket.DAY),
    ):
        span = TimeRange(NOW - length, NOW, bucket)
        rows = await count_events(sql, span)
        floor = await _best_ms(partial(count_events, sql, span))
        queries: dict[str, Callable[[], Awaitable[Any]]] = {
            "decisions over time": partial(decisions_over_time, sql, span),
            "platform x tier": partial(split_by_platform_and_tier, sql, span),
            "top failure reasons": partial(top_failure_reasons, sql, span, limit=12),
            "ready to enforce": partial(readiness, sql, span),
            "device verdicts": partial(android_distribution, sql, span, "device_verdict"),
            "play protect": partial(android_distribution, sql, span, "play_protect"),
            "keys per day": partial(keys_per_day, sql, span),
            "recent events": partial(recent_events, sql, span, EventFilter(), limit=200),
            "recent, by reason": partial(recent_events, sql, span, EventFilter(reason="challenge.unknown"), limit=200),
            "recent, by subject": partial(recent_events, sql, span, EventFilter(subject="user-42"), limit=200),
        }
        print(f"  range {name}: {rows:,} events; floor (count(*) over the range) {floor:.1f} ms")
        total = 0.0
        for query_name, query in queries.items():
            ms = await _best_ms(query)
            total += ms
            print(f"    {query_name:<22} {ms:9.1f} ms   {ms / floor if floor else 0:6.1f}x floor")
        print(f"    {'whole overview page':<22} {total:9.1f} ms")


async def _postgres() -> None:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        admin = await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True)
    except psycopg.OperationalError as error:
        print(f"\nPostgreSQL skipped: {error}")
        return
    async with admin:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        store = open_store(f"{PG_URL}?options={quote(f'-csearch_path={schema}', safe='')}")
        try:
            await _measure("PostgreSQL", store)
        finally:
            await store.close()
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def _run() -> None:
    print(f"dashboard aggregates over {EVENTS:,} events (best of {REPEATS})")
    with tempfile.TemporaryDirectory() as folder:
        store = open_store("sqlite:///bench.db", base_dir=Path(folder))
        try:
            await _measure("SQLite", store)
        finally:
            await store.close()
    await _postgres()


def main() -> None:
    asyncio.run(_run())
