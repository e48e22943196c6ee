"""The dashboard's questions, answered by the database: GROUP BY in SQL over indexed columns, never Python loops.

Every aggregate is bounded by a time range (``at >= since AND at < until``). The whole hours of the range that are
rolled up are read from the hourly rollup tables, the rest from the events (``app_integrity.storage.rollups``):
one statement sums both, so the answer is exactly the events' own. Over events, ``ix_events_at_summary`` (at,
action, outcome, enforced, platform, tier) and ``ix_events_at_android`` are covering indexes; reasons are a JSON
array per event, unnested in SQL (SQLite ``json_each``, PostgreSQL ``json_array_elements_text``).

Time buckets are UTC text keys computed in SQL: ``YYYY-MM-DD`` (day), ``YYYY-MM-DD HH`` (hour),
``YYYY-MM-DD HH:MM`` (minute). SQLite stores UTC wall time as ISO text, so a prefix is the bucket; PostgreSQL
formats the ``timestamptz`` in UTC.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app_integrity.errors import ConfigError, InputError
from app_integrity.storage._checks import check_limit, require_aware
from app_integrity.storage._key_rows import key_from_row
from app_integrity.storage.base import EventRecord, KeyKind, KeyRecord, Store
from app_integrity.storage.rollups import SIGNALS, Coverage, Statement, ready_rows, reasons_of_events
from app_integrity.storage.rollups import read as read_with_rollups
from app_integrity.storage.schema import (
    event_rollup_decisions,
    event_rollup_reasons,
    event_rollup_signals,
    event_rollup_split,
    events,
    keys,
)
from app_integrity.storage.split import SplitStore
from app_integrity.storage.sql import SQLStore, _event_from_row, _event_values

PRUNE_BATCH = 10_000
MAX_BULK = 100_000


class Bucket(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"


_SQLITE_PREFIX = {Bucket.MINUTE: 16, Bucket.HOUR: 13, Bucket.DAY: 10}
_KEY_FORMAT = {Bucket.MINUTE: "%Y-%m-%d %H:%M", Bucket.HOUR: "%Y-%m-%d %H", Bucket.DAY: "%Y-%m-%d"}


@dataclass(frozen=True, slots=True)
class TimeRange:
    since: datetime
    until: datetime
    bucket: Bucket

    def __post_init__(self) -> None:
        require_aware(self.since, self.until)


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    bucket: str
    action: str
    outcome: str
    enforced: bool
    count: int


@dataclass(frozen=True, slots=True)
class SplitRow:
    platform: str | None
    tier: str
    outcome: str
    count: int


@dataclass(frozen=True, slots=True)
class Readiness:
    """One action's traffic in the range: what enforce mode allows, limits and blocks (observe mode included)."""

    action: str
    total: int
    allow: int
    limit: int
    block: int
    enforced: int  # decisions made in enforce mode

    @property
    def allow_share(self) -> float:
        return self.allow / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class KeyDay:
    day: str
    kind: str
    environment: str
    count: int


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The recent-events table's filters; ``None`` means any."""

    action: str | None = None
    outcome: str | None = None
    platform: str | None = None
    reason: str | None = None
    subject: str | None = None
    key_id: bytes | None = None


def sql_store(store: Store) -> SQLStore:
    """The SQL database under ``store`` (the dashboard and retention need one); ``config.invalid`` otherwise."""
    main = store.main if isinstance(store, SplitStore) else store
    if not isinstance(main, SQLStore):
        raise ConfigError("config.invalid", "the dashboard and event retention need SQL storage (sqlite or postgresql)")
    return main


def _bucket(dialect: str, bucket: Bucket, at: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """SQLite: a prefix of the stored UTC text. PostgreSQL: date_trunc in UTC (cheaper per row than formatting;
    the few resulting groups are formatted by ``_bucket_key``). ``at`` is an event's time or a rollup's hour."""
    if dialect == "sqlite":
        return sa.func.substr(at, 1, _SQLITE_PREFIX[bucket])
    return sa.func.date_trunc(bucket.value, sa.func.timezone("UTC", at))


@functools.lru_cache(maxsize=4096)  # a range has a few hundred buckets, repeated per action and outcome
def _bucket_key(value: Any, bucket: Bucket) -> str:
    if isinstance(value, datetime):
        return value.strftime(_KEY_FORMAT[bucket])
    return str(value)


def _in_range(span: TimeRange) -> sa.ColumnElement[bool]:
    return sa.and_(events.c.at >= span.since, events.c.at < span.until)


# The events table's reason filter, a whole condition per dialect (no SQL is assembled from strings).
_HAS_REASON = {
    "sqlite": "EXISTS (SELECT 1 FROM json_each(events.reasons) AS r WHERE r.value = :reason)",
    "postgresql": "EXISTS (SELECT 1 FROM json_array_elements_text(events.reasons) AS r(value) WHERE r.value = :reason)",
}


def _column(name: str, allowed: frozenset[str]) -> sa.Column[Any]:
    if name not in allowed:
        raise InputError("input.invalid_argument", f"no aggregate over column {name!r}")
    return events.c[name]


def _union(
    cover: Coverage,
    rolled: Callable[[sa.ColumnElement[bool]], sa.Select[Any]],
    raw: Callable[[sa.ColumnElement[bool]], sa.Select[Any]],
    table: sa.Table,
) -> sa.Subquery | None:
    """One row set from both sources: ``rolled`` over the rollup ``table``'s rows of the rolled-up hours,
    ``raw`` over the events of every other range. ``None`` when there is nothing to read."""
    parts = []
    if cover.rolled is not None:
        parts.append(rolled(ready_rows(table, *cover.rolled)))
    parts.extend(raw(sa.and_(events.c.at >= lo, events.c.at < hi)) for lo, hi in cover.raw)
    if not parts:
        return None
    return (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery("part")


def _decision_parts(dialect: str, cover: Coverage, bucket: Bucket | None) -> sa.Subquery | None:
    """(bucket,) action, outcome, enforced, n."""
    table = event_rollup_decisions
    columns = ("action", "outcome", "enforced")

    def rolled(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        keys: list[sa.ColumnElement[Any]] = [table.c[name] for name in columns]
        if bucket is not None:
            keys.insert(0, _bucket(dialect, bucket, table.c.hour).label("bucket"))
        return sa.select(*keys, table.c.n).where(where)

    def raw(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        keys: list[sa.ColumnElement[Any]] = [events.c[name] for name in columns]
        if bucket is not None:
            keys.insert(0, _bucket(dialect, bucket, events.c.at).label("bucket"))
        return sa.select(*keys, sa.func.count().label("n")).where(where).group_by(*keys)

    return _union(cover, rolled, raw, table)


def _n(part: sa.Subquery) -> sa.ColumnElement[Any]:
    return sa.func.sum(part.c.n)


# --- aggregates: each reads the rolled-up hours from the rollups and the rest from events (see rollups) ---


async def decisions_over_time(store: SQLStore, span: TimeRange, *, rollups: bool = True) -> list[SeriesPoint]:
    """Counts per (bucket, action, outcome, enforced), in bucket order. ``rollups=False`` (here and below): read
    every event instead, the reference the rollups answer exactly."""

    def statement(cover: Coverage) -> sa.Select[Any] | None:
        part = _decision_parts(store.dialect, cover, span.bucket)
        if part is None:
            return None
        keys = (part.c.bucket, part.c.action, part.c.outcome, part.c.enforced)
        return sa.select(*keys, _n(part).label("n")).group_by(*keys).order_by(*keys)

    # Minute buckets are finer than the rollups: those ranges (an hour) read events.
    hourly = span.bucket is not Bucket.MINUTE
    rows = await _read(store, span, statement, rollups=rollups and hourly)
    # Unpacked by position: a 7-day range at hourly buckets has thousands of rows.
    return [
        SeriesPoint(_bucket_key(bucket, span.bucket), action, outcome, bool(enforced), int(n))
        for bucket, action, outcome, enforced, n in rows
    ]


async def split_by_platform_and_tier(store: SQLStore, span: TimeRange, *, rollups: bool = True) -> list[SplitRow]:
    table = event_rollup_split
    columns = ("platform", "tier", "outcome")

    def statement(cover: Coverage) -> sa.Select[Any] | None:
        part = _union(
            cover,
            lambda where: sa.select(*(table.c[c] for c in columns), table.c.n).where(where),
            lambda where: (
                sa.select(*(events.c[c] for c in columns), sa.func.count().label("n"))
                .where(where)
                .group_by(*(events.c[c] for c in columns))
            ),
            table,
        )
        if part is None:
            return None
        keys = [part.c[c] for c in columns]
        return sa.select(*keys, _n(part).label("n")).group_by(*keys).order_by(_n(part).desc(), *keys)

    rows = await _read(store, span, statement, rollups=rollups)
    return [SplitRow(r.platform, r.tier, r.outcome, int(r.n)) for r in rows]


async def top_failure_reasons(
    store: SQLStore, span: TimeRange, *, limit: int = 10, rollups: bool = True
) -> list[tuple[str, int]]:
    """The reasons carried by limit and block decisions, most frequent first. Reasons are a JSON array per event,
    unnested in SQL (SQLite ``json_each``, PostgreSQL ``json_array_elements_text``)."""
    check_limit(limit)
    table = event_rollup_reasons

    def raw(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        reasons = reasons_of_events(store.dialect)
        return (
            sa.select(reasons.c.value.label("reason"), sa.func.count().label("n"))
            .select_from(events)
            .join(reasons, sa.true())
            .where(where, events.c.outcome != "allow")
            .group_by(reasons.c.value)
        )

    def statement(cover: Coverage) -> sa.Select[Any] | None:
        part = _union(cover, lambda where: sa.select(table.c.reason, table.c.n).where(where), raw, table)
        if part is None:
            return None
        return (
            sa.select(part.c.reason, _n(part).label("n"))
            .group_by(part.c.reason)
            .order_by(_n(part).desc(), part.c.reason)
            .limit(limit)
        )

    return [(str(r.reason), int(r.n)) for r in await _read(store, span, statement, rollups=rollups)]


async def readiness(store: SQLStore, span: TimeRange, *, rollups: bool = True) -> list[Readiness]:
    """Per action: the share of its traffic enforce mode would allow (observe mode decides as enforce would)."""

    def statement(cover: Coverage) -> sa.Select[Any] | None:
        part = _decision_parts(store.dialect, cover, None)
        if part is None:
            return None

        def total_where(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
            return sa.func.sum(sa.case((condition, part.c.n), else_=0))

        return (
            sa.select(
                part.c.action,
                _n(part).label("total"),
                total_where(part.c.outcome == "allow").label("allow"),
                total_where(part.c.outcome == "limit").label("limit"),
                total_where(part.c.outcome == "block").label("block"),
                total_where(part.c.enforced.is_(True)).label("enforced"),
            )
            .group_by(part.c.action)
            .order_by(part.c.action)
        )

    return [
        Readiness(r.action, int(r.total), int(r.allow or 0), int(r.limit or 0), int(r.block or 0), int(r.enforced or 0))
        for r in await _read(store, span, statement, rollups=rollups)
    ]


async def android_distribution(
    store: SQLStore, span: TimeRange, column: str, *, rollups: bool = True
) -> list[tuple[str, int]]:
    """Counts of ``device_verdict`` or ``play_protect`` over the Play Integrity decisions that reported one."""
    target = _column(column, frozenset(SIGNALS))
    table = event_rollup_signals

    def statement(cover: Coverage) -> sa.Select[Any] | None:
        part = _union(
            cover,
            lambda where: sa.select(table.c.value, table.c.n).where(where, table.c.signal == column),
            lambda where: (
                sa.select(target.label("value"), sa.func.count().label("n"))
                .where(where, target.is_not(None))
                .group_by(target)
            ),
            table,
        )
        if part is None:
            return None
        return (
            sa.select(part.c.value, _n(part).label("n")).group_by(part.c.value).order_by(_n(part).desc(), part.c.value)
        )

    return [(str(r.value), int(r.n)) for r in await _read(store, span, statement, rollups=rollups)]


async def keys_per_day(store: SQLStore, span: TimeRange) -> list[KeyDay]:
    """Keys registered per UTC day, platform and environment (Apple: development / production)."""
    if store.dialect == "sqlite":
        day: sa.ColumnElement[str] = sa.func.substr(keys.c.created_at, 1, 10)
    else:
        day = sa.func.to_char(sa.func.timezone("UTC", keys.c.created_at), "YYYY-MM-DD")
    label = day.label("day")
    environment = sa.func.coalesce(keys.c.environment, "").label("environment")
    query = (
        sa.select(label, keys.c.kind, environment, sa.func.count().label("n"))
        .where(keys.c.created_at >= span.since, keys.c.created_at < span.until)
        .group_by(label, keys.c.kind, environment)
        .order_by(label, keys.c.kind, environment)
    )
    return [KeyDay(str(r.day), r.kind, r.environment, int(r.n)) for r in await store.query(_rows, query)]


async def count_events(store: SQLStore, span: TimeRange, *, rollups: bool = True) -> int:
    table = event_rollup_decisions

    def statement(cover: Coverage) -> sa.Select[Any] | None:
        part = _union(
            cover,
            lambda where: sa.select(table.c.n).where(where),
            lambda where: sa.select(sa.func.count().label("n")).select_from(events).where(where),
            table,
        )
        return None if part is None else sa.select(_n(part))

    rows = await _read(store, span, statement, rollups=rollups)
    return int(rows[0][0] or 0) if rows else 0


async def _read(store: SQLStore, span: TimeRange, statement: Statement, *, rollups: bool) -> list[Any]:
    return await read_with_rollups(store, span.since, span.until, statement, use=rollups)


# --- rows ---


async def recent_events(
    store: SQLStore, span: TimeRange, filters: EventFilter, *, limit: int = 100
) -> list[tuple[int, EventRecord]]:
    """The newest events in the range matching every filter, with their ids."""
    check_limit(limit)
    query = sa.select(events).where(_in_range(span)).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
    for name in ("action", "outcome", "platform", "subject", "key_id"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(events.c[name] == value)
    if filters.reason is not None:
        query = query.where(
            sa.text(_HAS_REASON[store.dialect]).bindparams(sa.bindparam("reason", filters.reason, type_=sa.String()))
        )
    return [(int(row.id), _event_from_row(row)) for row in await store.query(_rows, query)]


async def distinct_values(store: SQLStore, span: TimeRange, column: str, *, rollups: bool = True) -> list[str]:
    """The values of ``action`` or ``platform`` seen in the range (the filter form's choices)."""
    target = _column(column, frozenset({"action", "platform"}))
    table = event_rollup_decisions if column == "action" else event_rollup_split

    def statement(cover: Coverage) -> sa.Select[Any] | None:
        part = _union(
            cover,
            lambda where: sa.select(table.c[column].label("value")).where(where, table.c[column].is_not(None)),
            lambda where: sa.select(target.label("value")).where(where, target.is_not(None)).group_by(target),
            table,
        )
        return None if part is None else sa.select(part.c.value).group_by(part.c.value).order_by(part.c.value)

    return [str(r[0]) for r in await _read(store, span, statement, rollups=rollups)]


async def key_with_history(
    store: SQLStore, key_id: bytes, *, limit: int = 200
) -> tuple[KeyRecord | None, list[EventRecord]]:
    key_query = sa.select(keys).where(keys.c.key_id == key_id)
    key_rows = await store.query(_rows, key_query)
    history_query = (
        sa.select(events).where(events.c.key_id == key_id).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
    )
    history = [_event_from_row(row) for row in await store.query(_rows, history_query)]
    return (key_from_row(key_rows[0]) if key_rows else None), history


async def recent_keys(store: SQLStore, *, limit: int = 20) -> list[KeyRecord]:
    check_limit(limit)
    query = sa.select(keys).order_by(keys.c.created_at.desc(), keys.c.key_id).limit(limit)
    return [key_from_row(row) for row in await store.query(_rows, query)]


# --- writes: retention and bulk loads ---


async def prune_events(store: SQLStore, *, before: datetime) -> int:
    """Delete events older than ``before``, in batches so a large backlog never holds the write lock for long."""
    require_aware(before)
    total = 0
    while True:
        deleted = await store.execute_write(_delete_batch, before)
        total += deleted
        if deleted < PRUNE_BATCH:
            return total


async def insert_events(store: SQLStore, records: Sequence[EventRecord]) -> int:
    """Insert many events in one statement (executemany): seeding, imports, benchmarks."""
    if len(records) > MAX_BULK:
        raise InputError("input.invalid_argument", f"insert at most {MAX_BULK} events per call")
    values = [_event_values(record) for record in records]
    for value in values:
        require_aware(value["at"])
    return await store.execute_write(_insert_many, values)


def kind_label(kind: str) -> str:
    return "ios" if kind == KeyKind.APPLE.value else "android"


def _rows(conn: Connection, statement: sa.Executable, params: Mapping[str, Any] | None = None) -> list[Any]:
    return list(conn.execute(statement, dict(params) if params else None).all())


def _delete_batch(conn: Connection, before: datetime) -> int:
    oldest = sa.select(events.c.id).where(events.c.at < before).order_by(events.c.at).limit(PRUNE_BATCH)
    deleted = conn.execute(sa.delete(events).where(events.c.id.in_(oldest.scalar_subquery()))).rowcount
    conn.commit()
    return deleted


def _insert_many(conn: Connection, values: list[dict[str, Any]]) -> int:
    if values:
        conn.execute(sa.insert(events), values)
    conn.commit()
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite" and dbapi is not None:
        # A bulk load copies its WAL into the database at once (outside any transaction, straight to the driver)
        # instead of leaving the WAL to grow by the size of every batch.
        cursor = dbapi.cursor()
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        cursor.close()
    return len(values)
