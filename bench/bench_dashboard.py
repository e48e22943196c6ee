"""Dashboard aggregates on a large event table: SQLite and PostgreSQL seeded with 1 million events (bulk inserts
through ``insights.insert_events``) spread over 30 days, then every query the overview page runs, per time range.

Per range (ending at an arbitrary second, as the dashboard's do, so both edges are partial hours), three ways:

- *raw*: every event of the range read (``rollups=False``), what the overview cost before the hourly rollups;
- *cold*: the first overview with no rollups at all, which rolls up every settled hour of the range;
- *warm*: the overview once the hours are rolled up (best of 3).

Each figure is set against the floor measured in the same run: ``SELECT count(*)`` over the same range's events,
the least any aggregate reading those rows can cost. ``APP_INTEGRITY_BENCH_EVENTS`` changes the size (default
1,000,000).
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
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app_integrity.storage import open_store
from app_integrity.storage.base import EventRecord, Store
from app_integrity.storage.insights import (
    Bucket,
    EventFilter,
    TimeRange,
    android_distribution,
    count_events,
    decisions_over_time,
    distinct_values,
    insert_events,
    keys_per_day,
    readiness,
    recent_events,
    recent_keys,
    split_by_platform_and_tier,
    sql_store,
    top_failure_reasons,
)
from app_integrity.storage.schema import ROLLUP_COUNTS, event_rollup_hours
from app_integrity.storage.sql import SQLStore

EVENTS = int(os.environ.get("APP_INTEGRITY_BENCH_EVENTS", "1000000"))
BATCH = 50_000
REPEATS = 3
NOW = datetime(2026, 6, 30, tzinfo=UTC)
UNTIL = NOW - timedelta(minutes=7, seconds=13)  # the ranges end mid-hour, as the dashboard's do
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


async def _best_ms(query: Callable[[], Awaitable[Any]], repeats: int = REPEATS) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        await query()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _forget_rollups(conn: Connection) -> None:
    for table in (event_rollup_hours, *ROLLUP_COUNTS):
        conn.execute(sa.delete(table))
    conn.commit()


def _overview(sql: SQLStore, span: TimeRange, *, rollups: bool) -> dict[str, Callable[[], Awaitable[Any]]]:
    """What the overview page runs (``server.dashboard.routes._overview``)."""
    return {
        "decisions over time": partial(decisions_over_time, sql, span, rollups=rollups),
        "ready to enforce": partial(readiness, sql, span, rollups=rollups),
        "platform x tier": partial(split_by_platform_and_tier, sql, span, rollups=rollups),
        "top failure reasons": partial(top_failure_reasons, sql, span, limit=12, rollups=rollups),
        "keys per day": partial(keys_per_day, sql, span),
        "device verdicts": partial(android_distribution, sql, span, "device_verdict", rollups=rollups),
        "play protect": partial(android_distribution, sql, span, "play_protect", rollups=rollups),
        "latest keys": partial(recent_keys, sql, limit=10),
    }


def _events_page(sql: SQLStore, span: TimeRange) -> dict[str, Callable[[], Awaitable[Any]]]:
    return {
        "recent events": partial(recent_events, sql, span, EventFilter(), limit=200),
        "recent, by reason": partial(recent_events, sql, span, EventFilter(reason="challenge.unknown"), limit=200),
        "recent, by subject": partial(recent_events, sql, span, EventFilter(subject="user-42"), limit=200),
        "filter choices": partial(_filter_choices, sql, span),
    }


async def _filter_choices(sql: SQLStore, span: TimeRange) -> None:
    await distinct_values(sql, span, "action")
    await distinct_values(sql, span, "platform")


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
        span = TimeRange(UNTIL - length, UNTIL, bucket)
        rows = await count_events(sql, span, rollups=False)
        floor = await _best_ms(partial(count_events, sql, span, rollups=False))
        print(f"  range {name}: {rows:,} events; floor (count(*) over the range) {floor:.1f} ms")
        await sql.execute_write(_forget_rollups)
        start = time.perf_counter()
        for query in _overview(sql, span, rollups=True).values():
            await query()
        cold = (time.perf_counter() - start) * 1000
        print(f"    {'':<22} {'raw':>9}    {'warm':>9}   {'warm / floor':>12}")
        totals = {"raw": 0.0, "warm": 0.0}
        raw_queries = _overview(sql, span, rollups=False)
        for query_name, query in _overview(sql, span, rollups=True).items():
            raw = await _best_ms(raw_queries[query_name], repeats=1)
            warm = await _best_ms(query)
            totals["raw"] += raw
            totals["warm"] += warm
            print(f"    {query_name:<22} {raw:9.1f} ms {warm:9.1f} ms {warm / floor if floor else 0:9.1f}x")
        print(
            f"    {'whole overview page':<22} {totals['raw']:9.1f} ms {totals['warm']:9.1f} ms"
            f"   (cold, rolling the range up: {cold:.1f} ms)"
        )
        for query_name, query in _events_page(sql, span).items():
            print(f"    events page: {query_name:<22} {await _best_ms(query):9.1f} ms")


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
