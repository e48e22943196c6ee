"""The dashboard's hourly rollups on SQLite and PostgreSQL: every aggregate, read through the rollups, equals the
same aggregate over every event (``rollups=False``, compared whole, order included) and a count made in Python
from the stored events; after backfills into rolled-up hours, retention, updates, across the current hour, with
claims left by other builds, and (PostgreSQL) with writers in flight while a build runs."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app_integrity.storage import open_store, rollups
from app_integrity.storage.base import EventRecord
from app_integrity.storage.insights import (
    Bucket,
    TimeRange,
    android_distribution,
    count_events,
    decisions_over_time,
    distinct_values,
    insert_events,
    prune_events,
    readiness,
    split_by_platform_and_tier,
    sql_store,
    top_failure_reasons,
)
from app_integrity.storage.schema import event_rollup_decisions, event_rollup_hours, event_rollup_state, events
from app_integrity.storage.sql import SQLStore
from tests.storage.conftest import PG_DSN, SQL_BACKENDS

T0 = datetime(2026, 3, 1, 6, tzinfo=UTC)
ACTIONS = ("login", "redeem", "browse")
REASONS = ("policy.below_allow", "challenge.unknown", "header.missing", "play.play_protect_off")
RAGGED = TimeRange(
    T0 + timedelta(hours=2, minutes=17, seconds=3, microseconds=250_001),
    T0 + timedelta(days=2, hours=5, minutes=41, seconds=12, microseconds=500_000),
    Bucket.HOUR,
)


def random_events(rng: random.Random, count: int, start: datetime = T0, hours: int = 72) -> list[EventRecord]:
    """Events at random microseconds over ``hours`` (one hour in the middle left empty), some exactly on an hour's
    first and last microsecond."""
    found = []
    for index in range(count):
        offset = timedelta(microseconds=rng.randrange(hours * 3600 * 10**6))
        if index % 50 == 0:
            offset = timedelta(hours=1 + rng.randrange(hours - 1)) - timedelta(microseconds=index % 100 // 50)
        at = start + offset
        if start + timedelta(hours=30) <= at < start + timedelta(hours=31):
            at += timedelta(hours=1)
        found.append(event(rng, at))
    return found


def event(rng: random.Random, at: datetime) -> EventRecord:
    platform = rng.choice(("ios", "android", None))
    reasons = tuple(rng.sample(REASONS, rng.randrange(3)))
    if rng.random() < 0.05:
        reasons = (REASONS[0], REASONS[0])  # the same reason twice counts twice
    outcome = "allow" if not reasons and rng.random() < 0.8 else rng.choice(("allow", "limit", "block"))
    android = platform == "android"
    return EventRecord(
        at=at,
        action=rng.choice(ACTIONS),
        platform=platform,
        outcome=outcome,
        tier=rng.choice(("strong", "device", "basic", "none")),
        reasons=reasons,
        enforced=rng.random() < 0.4,
        latency_ms=1.0,
        device_verdict=rng.choice(("MEETS_DEVICE_INTEGRITY", "NONE", None)) if android else None,
        play_protect=rng.choice(("NO_ISSUES", "POSSIBLE_RISK", None)) if android else None,
    )


# --- the answers three ways ---


async def answers(sql: SQLStore, span: TimeRange, *, use: bool) -> dict[str, Any]:
    return {
        "decisions": await decisions_over_time(sql, span, rollups=use),
        "split": await split_by_platform_and_tier(sql, span, rollups=use),
        "reasons": await top_failure_reasons(sql, span, limit=1000, rollups=use),
        "top3": await top_failure_reasons(sql, span, limit=3, rollups=use),
        "readiness": await readiness(sql, span, rollups=use),
        "device": await android_distribution(sql, span, "device_verdict", rollups=use),
        "protect": await android_distribution(sql, span, "play_protect", rollups=use),
        "count": await count_events(sql, span, rollups=use),
        "actions": await distinct_values(sql, span, "action", rollups=use),
        "platforms": await distinct_values(sql, span, "platform", rollups=use),
    }


def counted(found: dict[str, Any]) -> dict[str, Any]:
    """The answers as counts, comparable with ``oracle``."""
    return {
        "decisions": {(p.bucket, p.action, p.outcome, p.enforced): p.count for p in found["decisions"]},
        "split": {(r.platform, r.tier, r.outcome): r.count for r in found["split"]},
        "reasons": dict(found["reasons"]),
        "readiness": {r.action: (r.total, r.allow, r.limit, r.block, r.enforced) for r in found["readiness"]},
        "device": dict(found["device"]),
        "protect": dict(found["protect"]),
        "count": found["count"],
        "actions": found["actions"],
        "platforms": found["platforms"],
    }


def oracle(stored: list[EventRecord], span: TimeRange) -> dict[str, Any]:
    """The same counts, made in Python from the events themselves."""
    chosen = [e for e in stored if span.since <= e.at < span.until]
    key = {Bucket.HOUR: "%Y-%m-%d %H", Bucket.DAY: "%Y-%m-%d", Bucket.MINUTE: "%Y-%m-%d %H:%M"}[span.bucket]
    ready: dict[str, list[int]] = {}
    for e in chosen:
        row = ready.setdefault(e.action, [0, 0, 0, 0, 0])
        row[0] += 1
        row[1 + ("allow", "limit", "block").index(e.outcome)] += 1
        row[4] += e.enforced
    return {
        "decisions": dict(Counter((e.at.strftime(key), e.action, e.outcome, e.enforced) for e in chosen)),
        "split": dict(Counter((e.platform, e.tier, e.outcome) for e in chosen)),
        "reasons": dict(Counter(r for e in chosen if e.outcome != "allow" for r in e.reasons)),
        "readiness": {action: tuple(row) for action, row in ready.items()},
        "device": dict(Counter(e.device_verdict for e in chosen if e.device_verdict is not None)),
        "protect": dict(Counter(e.play_protect for e in chosen if e.play_protect is not None)),
        "count": len(chosen),
        "actions": sorted({e.action for e in chosen}),
        "platforms": sorted({e.platform for e in chosen if e.platform is not None}),
    }


async def assert_exact(sql: SQLStore, span: TimeRange) -> dict[str, Any]:
    rolled = await answers(sql, span, use=True)
    assert rolled == await answers(sql, span, use=False)
    assert counted(rolled) == oracle(await sql.list_events(limit=10_000), span)
    top = sorted(rolled["reasons"], key=lambda pair: (-pair[1], pair[0]))
    assert rolled["top3"] == top[:3]
    return rolled


# --- what is rolled up ---


def _hours(conn: Connection, ready: bool | None = True) -> list[datetime]:
    marks = event_rollup_hours
    query = sa.select(marks.c.hour).order_by(marks.c.hour)
    if ready is not None:
        query = query.where(marks.c.ready.is_(ready))
    return list(conn.execute(query).scalars())


async def ready_hours(sql: SQLStore) -> list[datetime]:
    return await sql.query(_hours)


def _run(conn: Connection, statement: sa.Executable) -> None:
    conn.execute(statement)
    conn.commit()


async def run(sql: SQLStore, statement: sa.Executable) -> None:
    await sql.execute_write(_run, statement)


@pytest.fixture(params=SQL_BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rollups.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
async def sql(url: str) -> AsyncIterator[SQLStore]:
    store = open_store(url)
    await store.migrate()
    try:
        yield sql_store(store)
    finally:
        await store.close()


async def seeded(sql: SQLStore, count: int = 2500, seed: int = 7) -> list[EventRecord]:
    records = random_events(random.Random(seed), count)
    assert await insert_events(sql, records) == count
    return records


# --- tests ---


async def test_ragged_ranges_equal_every_event(sql: SQLStore) -> None:
    await seeded(sql)
    assert await ready_hours(sql) == []
    spans = [
        RAGGED,
        dataclasses.replace(RAGGED, bucket=Bucket.DAY),
        TimeRange(T0, T0 + timedelta(days=3), Bucket.HOUR),  # whole hours only
        TimeRange(T0 - timedelta(days=1), T0 + timedelta(days=4), Bucket.DAY),  # wider than the events
        TimeRange(T0 + timedelta(hours=5, minutes=1), T0 + timedelta(hours=5, minutes=59), Bucket.MINUTE),
        TimeRange(T0 + timedelta(hours=29, minutes=30), T0 + timedelta(hours=32, minutes=1), Bucket.HOUR),  # the gap
        TimeRange(T0 + timedelta(hours=7), T0 + timedelta(hours=7), Bucket.HOUR),  # empty
    ]
    for span in spans:
        await assert_exact(sql, span)
    rolled = await ready_hours(sql)
    # Every whole hour between the first and last event is rolled up, the empty one included.
    assert rolled == [T0 + timedelta(hours=h) for h in range(72)]


async def test_answers_come_from_the_rollups(sql: SQLStore) -> None:
    await seeded(sql)
    span = RAGGED
    exact = await count_events(sql, span)
    assert await count_events(sql, span, rollups=False) == exact
    # A rolled-up hour's counts are what the answer reads: altering them (never done outside tests) shows.
    hour = T0 + timedelta(hours=10)
    table = event_rollup_decisions
    await run(sql, sa.update(table).where(table.c.hour == hour).values(n=table.c.n + 1000))
    altered = await count_events(sql, span)
    assert altered - exact == 1000 * len(await sql.query(_count_rows, hour))
    assert await count_events(sql, span, rollups=False) == exact


def _count_rows(conn: Connection, hour: datetime) -> list[Any]:
    table = event_rollup_decisions
    return list(conn.execute(sa.select(table.c.n).where(table.c.hour == hour)).all())


async def test_backfill_into_a_rolled_up_hour(sql: SQLStore) -> None:
    await seeded(sql)
    await assert_exact(sql, RAGGED)
    assert T0 + timedelta(hours=12) in await ready_hours(sql)
    rng = random.Random(11)
    late = [
        event(rng, T0 + timedelta(hours=12, minutes=30)),
        event(rng, T0 + timedelta(hours=12)),  # the hour's first microsecond
        event(rng, T0 + timedelta(hours=30, minutes=5)),  # the empty hour, rolled up with no events
        event(rng, T0 + timedelta(days=5)),  # outside every range
    ]
    await insert_events(sql, late[:2])
    await sql.record_event(late[2])  # the request path's insert
    await sql.record_event(late[3])
    await assert_exact(sql, RAGGED)
    await assert_exact(sql, dataclasses.replace(RAGGED, bucket=Bucket.DAY))
    # Rolled up again, with the late events.
    assert {T0 + timedelta(hours=12), T0 + timedelta(hours=30)} <= set(await ready_hours(sql))


def _ids(conn: Connection) -> tuple[int, int]:
    newest = conn.execute(sa.select(sa.func.max(events.c.id))).scalar_one()
    return newest, conn.execute(sa.select(event_rollup_state.c.checked_id)).scalar_one()


async def test_sqlite_a_read_checks_many_new_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollups, "CHECK_BATCH", 7)  # many short transactions
    store = open_store("sqlite:///rollups.db", base_dir=tmp_path)
    await store.migrate()
    sql = sql_store(store)
    try:
        await seeded(sql, count=500)
        await assert_exact(sql, RAGGED)
        newest, checked = await sql.query(_ids)
        assert checked == newest
        # New events in no rolled-up hour (no build follows): past CHECK_AFTER of them, a read checks them.
        monkeypatch.setattr(rollups, "CHECK_AFTER", 4)
        rng = random.Random(5)
        await insert_events(sql, [event(rng, T0 + timedelta(days=9, minutes=m)) for m in range(4)])
        await assert_exact(sql, RAGGED)
        assert (await sql.query(_ids))[1] == checked
        await sql.record_event(event(rng, T0 + timedelta(hours=20, minutes=1)))  # and one in a rolled-up hour
        await insert_events(sql, [event(rng, T0 + timedelta(days=9, minutes=m)) for m in range(4)])
        await count_events(sql, TimeRange(T0 + timedelta(days=8), T0 + timedelta(days=10), Bucket.DAY))
        newest, checked = await sql.query(_ids)
        assert checked == newest
        assert T0 + timedelta(hours=20) not in await ready_hours(sql)  # forgotten by the check
        await assert_exact(sql, RAGGED)
    finally:
        await store.close()


async def test_retention_forgets_rolled_up_hours(sql: SQLStore) -> None:
    await seeded(sql)
    everything = TimeRange(T0 - timedelta(days=1), T0 + timedelta(days=4), Bucket.DAY)
    await assert_exact(sql, everything)
    await prune_events(sql, before=T0 + timedelta(hours=20, minutes=31, seconds=7))
    await assert_exact(sql, everything)
    await assert_exact(sql, RAGGED)
    # Everything goes: the rolled-up hours that held events are forgotten, the empty one stays rolled up.
    await prune_events(sql, before=T0 + timedelta(days=10))
    assert (await answers(sql, everything, use=True))["count"] == 0
    # New events, one in that empty rolled-up hour: on SQLite they may reuse ids of deleted events.
    rng = random.Random(3)
    await insert_events(sql, [event(rng, T0 + timedelta(hours=30, minutes=m)) for m in range(0, 60, 7)])
    await insert_events(sql, random_events(rng, 300))
    await assert_exact(sql, everything)
    await assert_exact(sql, RAGGED)


async def test_changed_events_forget_their_hours(sql: SQLStore) -> None:
    await seeded(sql)
    await assert_exact(sql, RAGGED)
    moved = sa.select(events.c.id).where(events.c.at >= T0 + timedelta(hours=9)).order_by(events.c.at).limit(3)
    await run(
        sql,
        sa.update(events)
        .where(events.c.id.in_(moved.scalar_subquery()))
        .values(at=T0 + timedelta(hours=40, minutes=1), outcome="block", reasons=["moved.here"]),
    )
    await assert_exact(sql, RAGGED)


async def test_the_current_hour_is_read_from_events(sql: SQLStore) -> None:
    now = datetime.now(UTC)
    rng = random.Random(13)
    await insert_events(sql, [event(rng, now - timedelta(minutes=m)) for m in range(0, 200, 3)])
    span = TimeRange(now - timedelta(hours=4, minutes=1), now + timedelta(seconds=1), Bucket.HOUR)
    await assert_exact(sql, span)
    rolled = await ready_hours(sql)
    assert rolled  # the settled hours
    assert all(hour + timedelta(hours=1) <= now - rollups.SETTLE for hour in rolled)
    await sql.record_event(event(rng, datetime.now(UTC)))
    assert (await assert_exact(sql, span))["count"] == len(range(0, 200, 3)) + 1


async def test_claims_of_other_builds(sql: SQLStore) -> None:
    await seeded(sql)
    await assert_exact(sql, RAGGED)  # every event checked, every hour rolled up
    stopped, running = T0 + timedelta(hours=8), T0 + timedelta(hours=9)
    marks = event_rollup_hours
    await run(sql, sa.delete(marks).where(marks.c.hour.in_([stopped, running])))
    await run(
        sql,
        sa.insert(marks).values(
            [
                # A build that stopped long ago: its claim is taken over.
                {"hour": stopped, "ready": False, "token": 1, "claimed_at": datetime.now(UTC) - timedelta(hours=1)},
                # A build still running: its hour is read from events meanwhile, and left to it.
                {"hour": running, "ready": False, "token": 2, "claimed_at": datetime.now(UTC)},
            ]
        ),
    )
    await assert_exact(sql, RAGGED)
    assert stopped in await ready_hours(sql)
    assert await sql.query(_hours, False) == [running]


async def test_concurrent_reads_and_stores(sql: SQLStore, url: str) -> None:
    await seeded(sql)
    other = sql_store(open_store(url))  # another store on the same database: another process
    try:
        expected = await count_events(sql, RAGGED, rollups=False)
        counts = await asyncio.gather(
            count_events(sql, RAGGED), count_events(other, RAGGED), count_events(sql, RAGGED), readiness(other, RAGGED)
        )
        assert list(counts[:3]) == [expected] * 3
        assert sum(row.total for row in counts[3]) == expected
        await assert_exact(sql, RAGGED)
        await assert_exact(other, RAGGED)
    finally:
        await other.close()


async def test_a_query_over_years_rolls_up_its_latest_days(sql: SQLStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollups, "MAX_BUILD", timedelta(days=2))
    rng = random.Random(17)
    await insert_events(sql, [event(rng, T0 - timedelta(days=900)), *random_events(rng, 300)])
    span = TimeRange(T0 - timedelta(days=1000), T0 + timedelta(days=5), Bucket.DAY)
    await assert_exact(sql, span)
    rolled = await ready_hours(sql)
    assert len(rolled) == 48
    assert rolled[-1] == T0 + timedelta(hours=71)


# --- PostgreSQL: the session's time zone, writers in flight, TRUNCATE ---


def _schema(url: str) -> str:
    options = parse_qs(urlsplit(url).query)["options"][0]
    return options.removeprefix("-csearch_path=")


@pytest.mark.postgres
async def test_postgresql_hours_are_utc_whatever_the_session_time_zone(pg_schema_url: str) -> None:
    options = f"-csearch_path={_schema(pg_schema_url)} -ctimezone=Asia/Kolkata"  # UTC+05:30
    store = open_store(pg_schema_url.split("?")[0] + f"?options={quote(options, safe='')}")
    await store.migrate()
    sql = sql_store(store)
    try:
        await seeded(sql, count=800)
        await assert_exact(sql, RAGGED)
        await assert_exact(sql, dataclasses.replace(RAGGED, bucket=Bucket.DAY))
        assert (await ready_hours(sql))[0] == T0 + timedelta(hours=3)
    finally:
        await store.close()


async def _writer(pg_schema_url: str, at: datetime) -> psycopg.AsyncConnection[Any]:
    """A transaction that inserted an event and has not committed yet."""
    conn = await psycopg.AsyncConnection.connect(PG_DSN, options=f"-csearch_path={_schema(pg_schema_url)}")
    await conn.execute(
        "INSERT INTO events (at, action, platform, outcome, tier, reasons, enforced, latency_ms)"
        " VALUES (%s, 'late', 'ios', 'block', 'none', '[\"late.write\"]', false, 1.0)",
        (at,),
    )
    return conn


@pytest.mark.postgres
async def test_postgresql_build_waits_for_writers_in_flight(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url)
    await store.migrate()
    sql = sql_store(store)
    try:
        await seeded(sql, count=800)
        # Inserted before the hour is claimed (so its trigger found nothing to forget), committed after the build
        # began: the build must wait for it, or the hour would be rolled up without it.
        writer = await _writer(pg_schema_url, T0 + timedelta(hours=12, minutes=30))
        answer = asyncio.create_task(count_events(sql, RAGGED))
        try:
            await asyncio.sleep(0.5)
            assert not answer.done()
        finally:
            await writer.commit()
            await writer.close()
        expected = await count_events(sql, RAGGED, rollups=False)
        assert await answer == expected
        assert T0 + timedelta(hours=12) in await ready_hours(sql)
        assert (await assert_exact(sql, RAGGED))["count"] == expected
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgresql_build_gives_up_on_a_long_writer(pg_schema_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rollups, "WRITERS_TIMEOUT", 0.3)
    store = open_store(pg_schema_url)
    await store.migrate()
    sql = sql_store(store)
    try:
        records = await seeded(sql, count=800)
        writer = await _writer(pg_schema_url, T0 + timedelta(hours=12, minutes=30))
        try:
            assert await count_events(sql, RAGGED) == oracle(records, RAGGED)["count"]  # read from events
            assert await sql.query(_hours, None) == []  # the claims were given back
        finally:
            await writer.commit()
            await writer.close()
        assert (await assert_exact(sql, RAGGED))["count"] == oracle(records, RAGGED)["count"] + 1
        assert T0 + timedelta(hours=12) in await ready_hours(sql)
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgresql_truncate_forgets_everything(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url)
    await store.migrate()
    sql = sql_store(store)
    try:
        await seeded(sql, count=300)
        await assert_exact(sql, RAGGED)
        await run(sql, sa.text("TRUNCATE events"))
        assert await ready_hours(sql) == []
        assert (await assert_exact(sql, RAGGED))["count"] == 0
    finally:
        await store.close()
