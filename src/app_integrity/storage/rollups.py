"""Hourly rollups of the events table: the dashboard's aggregates over days read a few counts per hour instead of
every event, and answer exactly what the events alone would.

**Reading** a range ``[since, until)``: the hours wholly inside it that are rolled up (``event_rollup_hours.ready``)
come from the count tables; everything else (the partial hours at both edges, the current hour, any hour not rolled
up yet) from the events. Each aggregate is one statement over the union of both parts, so the database merges,
orders and limits as it would over the events alone. The list of rolled-up hours and that statement are read in
one snapshot (SQLite: a read transaction; PostgreSQL: ``REPEATABLE READ``), so an hour forgotten in between is
never counted twice or not at all.

**Rolling up** happens on a read that finds hours missing (never on the request path), in four steps:

1. *claim*: one short transaction inserts the missing hours, not ready, under a random token. Only hours that ended
   ``SETTLE`` ago by the database clock are claimed: the current hour is always read from the events.
2. *PostgreSQL only, wait for writers*: a transaction that wrote events before the claim was visible may still be
   in flight, so the build waits until every transaction then holding a write lock on ``events`` has ended
   (``pg_locks``; the request path is never blocked) and gives up after ``WRITERS_TIMEOUT``. On SQLite writers are
   serialised, so every earlier write has committed.
3. *compute* the counts from the events (plain reads, no lock held).
4. *install* them, a day of hours per short transaction, for the hours still claimed by this token.

**Staying exact** when events change in a claimed or rolled-up hour:

- deleted (retention) or changed: migration 0004's triggers forget the hour (its row and its counts) in the same
  transaction; it is then not installed, or is dropped, and the next read claims it again;
- inserted (a late write, a backfill), PostgreSQL: a trigger does the same. It only looks at events more than
  5 minutes older than the server clock; an event of a claimed hour is always older than that (hours are claimed
  ``SETTLE`` after they end) unless its writer was already in flight at the claim, which step 2 waits for;
- inserted, SQLite: no trigger (any trigger on ``events`` costs every insert a statement journal). Ids only grow,
  so the events above ``event_rollup_state.checked_id`` are those inserted since the last check: a read takes
  their hours from the events, and a check (at each claim, or by a read finding more than ``CHECK_AFTER``) forgets
  those hours and moves the mark, under the write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from app_integrity.storage.schema import (
    ROLLUP_COUNTS,
    event_rollup_decisions,
    event_rollup_hours,
    event_rollup_reasons,
    event_rollup_signals,
    event_rollup_split,
    event_rollup_state,
    events,
)
from app_integrity.storage.sql import SQLStore

HOUR = timedelta(hours=1)
SETTLE = timedelta(minutes=10)  # an hour is rolled up this long after it ends (the insert trigger looks at 5)
ABANDONED = timedelta(minutes=5)  # a claim this old belongs to a build that stopped: another may take it over
WRITERS_TIMEOUT = 3.0  # seconds a build waits for writers in flight before leaving the hours to the next read
MAX_BUILD = timedelta(days=400)  # a query over years rolls up its latest 400 days and reads older events
INSTALL_HOURS = 24  # hours installed per transaction: each holds SQLite's write lock for milliseconds
CHECK_AFTER = 5000  # SQLite: a read finding more unchecked events than this checks them (see _check)
CHECK_BATCH = 20_000  # SQLite: events checked per transaction
SIGNALS = ("device_verdict", "play_protect")
_CLAIM_BATCH = 500
_POLL_SECONDS = 0.005

# PostgreSQL: the transactions other than this one holding a write lock (anything stronger than a reader's) on
# the events table the search path names.
_EVENT_WRITERS = sa.text(
    "SELECT DISTINCT virtualtransaction FROM pg_locks WHERE locktype = 'relation'"
    " AND relation = to_regclass('events') AND mode <> 'AccessShareLock' AND pid <> pg_backend_pid()"
)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How a read answers: counts for the hours in ``rolled`` (first, end) if set, events in each ``raw`` range."""

    rolled: tuple[datetime, datetime] | None
    raw: tuple[tuple[datetime, datetime], ...]


Statement = Callable[[Coverage], sa.Select[Any] | None]


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    start = floor_hour(at)
    return start if start == at else start + HOUR


def hours(first: datetime, end: datetime) -> list[datetime]:
    found = []
    while first < end:
        found.append(first)
        first += HOUR
    return found


def hour_of(dialect: str, at: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The UTC hour of a timestamp column: SQLite's stored text cut to ``YYYY-MM-DD HH``; PostgreSQL's
    ``date_trunc`` of the UTC wall time. ``_hour_value`` reads either back as an aware datetime."""
    if dialect == "sqlite":
        return sa.func.substr(at, 1, 13)
    return sa.func.date_trunc("hour", sa.func.timezone("UTC", at))


def reasons_of_events(dialect: str) -> sa.TableValuedAlias:
    """Each event's reasons (a JSON array) as rows of a column ``value``, to join to ``events``."""
    if dialect == "sqlite":
        return sa.func.json_each(events.c.reasons).table_valued("value", name="r")
    return sa.func.json_array_elements_text(events.c.reasons).table_valued("value", name="r").render_derived(name="r")


def ready_rows(table: sa.Table, first: datetime, end: datetime) -> sa.ColumnElement[bool]:
    """The rows of a count table for the ready hours of ``[first, end)``: counts only count while their hour is
    ready (in the statement's own snapshot), whatever else happened to that table."""
    ready = sa.select(event_rollup_hours.c.hour).where(
        event_rollup_hours.c.hour >= first, event_rollup_hours.c.hour < end, event_rollup_hours.c.ready.is_(True)
    )
    return sa.and_(table.c.hour >= first, table.c.hour < end, table.c.hour.in_(ready))


@functools.lru_cache(maxsize=4096)
def _hour_value(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    return datetime.strptime(str(value), "%Y-%m-%d %H").replace(tzinfo=UTC)


def coverage(since: datetime, until: datetime, ready: Iterable[datetime]) -> Coverage:
    """Rolled-up hours where ``ready`` has them, the events everywhere else in ``[since, until)``."""
    first, end = ceil_hour(since), floor_hour(until)
    if first >= end:
        return Coverage(None, ((since, until),) if since < until else ())
    done = set(ready)
    raw: list[tuple[datetime, datetime]] = []
    start = since
    for hour in hours(first, end):
        if hour in done:
            if start < hour:
                raw.append((start, hour))
            start = hour + HOUR
    if start < until:
        raw.append((start, until))
    return Coverage((first, end) if done else None, tuple(raw))


async def read(store: SQLStore, since: datetime, until: datetime, statement: Statement, *, use: bool) -> list[Any]:
    """The rows of ``statement`` for ``[since, until)``, rolling missing hours up first (``use=False``: events
    only, the reference the rollups answer exactly)."""
    if since >= until:
        return []
    if not use or ceil_hour(since) >= floor_hour(until):
        return await store.query(_rows, statement(coverage(since, until, ())))
    answer = await _snapshot_read(store, since, until, statement, allow_missing=False)
    if answer.rows is None:
        async with _build_lock(store):
            await build(store, since, until)
        answer = await _snapshot_read(store, since, until, statement, allow_missing=True)
    elif answer.unchecked > CHECK_AFTER:
        await _check_all(store)
    assert answer.rows is not None  # allow_missing: always answers
    return answer.rows


# --- reading ---


@dataclass(frozen=True, slots=True)
class _Answer:
    rows: list[Any] | None  # None: hours that could be rolled up are missing
    unchecked: int  # SQLite: events not checked against the rolled-up hours yet


async def _snapshot_read(
    store: SQLStore, since: datetime, until: datetime, statement: Statement, *, allow_missing: bool
) -> _Answer:
    if store.dialect == "sqlite":
        return await store.query(_read, since, until, statement, allow_missing)
    return await store.transaction(_read_repeatable, since, until, statement, allow_missing)


def _read_repeatable(
    conn: Connection, since: datetime, until: datetime, statement: Statement, allow_missing: bool
) -> _Answer:
    # Before the transaction begins: psycopg then opens it with BEGIN ISOLATION LEVEL ... (no extra round trip),
    # and the pool restores the level when the connection goes back.
    conn.execution_options(isolation_level="REPEATABLE READ")
    # These statements read few rows: starting parallel workers (which the planner may pick for a union of several
    # parts) would cost more than the whole read.
    conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    return _read(conn, since, until, statement, allow_missing)


def _read(conn: Connection, since: datetime, until: datetime, statement: Statement, allow_missing: bool) -> _Answer:
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.exec_driver_sql("BEGIN")  # a read transaction: one WAL snapshot for every statement below
    try:
        (first, end), ready = _extent_and_ready(conn, since, until)
        unchecked: dict[datetime, int] = _unchecked(conn) if sqlite else {}
        ready -= unchecked.keys()
        if not allow_missing and any(h not in ready for h in hours(*_rollable(first, end, datetime.now(UTC)))):
            return _Answer(None, 0)
        built = statement(coverage(since, until, ready))
        return _Answer([] if built is None else list(conn.execute(built).all()), sum(unchecked.values()))
    finally:
        conn.rollback()  # it only read


def _extent_and_ready(
    conn: Connection, since: datetime, until: datetime
) -> tuple[tuple[datetime, datetime], set[datetime]]:
    """In one statement: the whole hours of ``[since, until)`` between its first and last event (no hour outside
    holds one), and the ready hours of the range."""
    first, end = ceil_hour(since), floor_hour(until)
    within = sa.select(events.c.at).where(events.c.at >= since, events.c.at < until).limit(1)
    # Two index seeks (min() and max() together would read the whole range on SQLite).
    oldest = within.order_by(events.c.at).scalar_subquery().label("oldest")
    newest = within.order_by(events.c.at.desc()).scalar_subquery().label("newest")
    marks = event_rollup_hours
    one = sa.select(sa.literal(1).label("one")).subquery("one")
    ready_in_range = sa.and_(marks.c.ready.is_(True), marks.c.hour >= first, marks.c.hour < end)
    query = sa.select(marks.c.hour, oldest, newest).select_from(one.outerjoin(marks, ready_in_range))
    rows = conn.execute(query).all()
    ready = {row.hour for row in rows if row.hour is not None}
    if rows[0].oldest is None or rows[0].newest is None:
        return (first, first), ready
    return (max(first, floor_hour(rows[0].oldest)), min(end, floor_hour(rows[0].newest) + HOUR)), ready


def _event_hours(conn: Connection, since: datetime, until: datetime) -> tuple[datetime, datetime]:
    return _extent_and_ready(conn, since, until)[0]


def _rollable(first: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The hours of ``[first, end)`` a build may roll up at ``now``: settled ones, the latest ``MAX_BUILD``."""
    end = min(end, floor_hour(now - SETTLE))
    return max(first, end - MAX_BUILD), end


def _unchecked(conn: Connection, upto: int | None = None) -> dict[datetime, int]:
    """SQLite: the hours of the events inserted since the last check (up to id ``upto``), and how many each (ids
    only grow, so this reads the newest rows by primary key). Until checked, those hours are read from events."""
    checked = conn.execute(sa.select(event_rollup_state.c.checked_id)).scalar_one()
    hour = hour_of("sqlite", events.c.at)
    query = sa.select(hour, sa.func.count()).where(events.c.id > checked).group_by(hour)
    if upto is not None:
        query = query.where(events.c.id <= upto)
    return {_hour_value(value): int(n) for value, n in conn.execute(query)}


def _check(conn: Connection) -> bool:
    """SQLite, with the write lock held (no event is inserted meanwhile): forget the hours where the next
    ``CHECK_BATCH`` unchecked events fall (they may be rolled up without them) and mark those events checked. The
    caller commits. True when no unchecked event is left."""
    checked = int(conn.execute(sa.select(event_rollup_state.c.checked_id)).scalar_one())
    newest = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))).scalar_one())
    upto = min(newest, checked + CHECK_BATCH)
    stale = list(_unchecked(conn, upto))
    marks = event_rollup_hours
    for start in range(0, len(stale), _CLAIM_BATCH):
        # Deleting an hour's row deletes its counts (trigger event_rollup_hours_forget).
        conn.execute(sa.delete(marks).where(marks.c.hour.in_(stale[start : start + _CLAIM_BATCH])))
    conn.execute(sa.update(event_rollup_state).values(checked_id=upto))
    return upto == newest


def _check_batch(conn: Connection) -> bool:
    done = _check(conn)
    conn.commit()
    return done


async def _check_all(store: SQLStore) -> None:
    """Check every unchecked event, a batch per short transaction (each holds the write lock for milliseconds)."""
    while not await store.transaction(_check_batch):
        pass


def _rows(conn: Connection, statement: sa.Select[Any] | None) -> list[Any]:
    return [] if statement is None else list(conn.execute(statement).all())


# --- rolling up ---

_BUILD_LOCKS: weakref.WeakKeyDictionary[SQLStore, asyncio.Lock] = weakref.WeakKeyDictionary()


def _build_lock(store: SQLStore) -> asyncio.Lock:
    """One build at a time per store in this process: a concurrent read waits for it rather than reading raw."""
    return _BUILD_LOCKS.setdefault(store, asyncio.Lock())


async def build(store: SQLStore, since: datetime, until: datetime) -> int:
    """Roll up the missing settled hours of ``[since, until)`` from its first event's to its last's; returns how
    many were installed."""
    if store.dialect == "sqlite":
        await _check_all(store)
    token = secrets.randbits(62)
    claimed: list[datetime] = await store.transaction(_claim, since, until, token)
    if not claimed:
        return 0
    installed = 0
    try:
        if store.dialect == "postgresql" and not await _writers_done(store):
            await store.transaction(_abandon, token)
            return 0
        counts = _by_hour(await store.query(_compute, _spans(claimed)))
        for start in range(0, len(claimed), INSTALL_HOURS):
            chunk = claimed[start : start + INSTALL_HOURS]
            installed += await store.transaction(_install, token, chunk, {h: counts.get(h, {}) for h in chunk})
    except BaseException:
        # Free the claims now rather than after ABANDONED (best effort: the database may be what failed).
        with contextlib.suppress(Exception):
            await asyncio.shield(store.transaction(_abandon, token))
        raise
    return installed


def _claim(conn: Connection, since: datetime, until: datetime, token: int) -> list[datetime]:
    if conn.dialect.name == "sqlite":
        _check(conn)  # the last few; from here on, an event of a claimed hour is unchecked: read, then forgotten
    now = _clock(conn)
    first, end = _rollable(*_event_hours(conn, since, until), now)
    claimed: list[datetime] = []
    if first < end:
        marks = event_rollup_hours
        in_range = sa.and_(marks.c.hour >= first, marks.c.hour < end)
        known = set(conn.execute(sa.select(marks.c.hour).where(in_range)).scalars())
        stopped = _locked(conn, sa.and_(in_range, marks.c.ready.is_(False), marks.c.claimed_at < now - ABANDONED))
        if stopped:
            retake = sa.update(marks).where(marks.c.hour.in_(stopped)).values(token=token, claimed_at=now)
            conn.execute(retake)
            claimed.extend(stopped)
        fresh = [{"hour": h, "ready": False, "token": token, "claimed_at": now} for h in hours(first, end)]
        fresh = [row for row in fresh if row["hour"] not in known]
        insert = sqlite_insert(marks) if conn.dialect.name == "sqlite" else postgresql_insert(marks)
        for start in range(0, len(fresh), _CLAIM_BATCH):
            statement = (
                insert.values(fresh[start : start + _CLAIM_BATCH])
                .on_conflict_do_nothing(index_elements=["hour"])
                .returning(marks.c.hour)
            )
            claimed.extend(conn.execute(statement).scalars())
    conn.commit()
    return sorted(claimed)


def _clock(conn: Connection) -> datetime:
    """The database's clock (the one PostgreSQL's insert trigger compares with); SQLite runs on this host's."""
    if conn.dialect.name == "sqlite":
        return datetime.now(UTC)
    value: datetime = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    return value.astimezone(UTC)


async def _writers_done(store: SQLStore) -> bool:
    """Wait until the transactions writing events now have ended; False if some are still running at the timeout."""
    waiting = set(await store.query(_scalars, _EVENT_WRITERS))
    deadline = time.monotonic() + WRITERS_TIMEOUT
    while waiting:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_SECONDS)
        waiting &= set(await store.query(_scalars, _EVENT_WRITERS))
    return True


def _scalars(conn: Connection, statement: sa.Executable) -> list[Any]:
    return list(conn.execute(statement).scalars())


def _abandon(conn: Connection, token: int) -> None:
    marks = event_rollup_hours
    held = _locked(conn, sa.and_(marks.c.token == token, marks.c.ready.is_(False)))
    for start in range(0, len(held), _CLAIM_BATCH):
        conn.execute(sa.delete(marks).where(marks.c.hour.in_(held[start : start + _CLAIM_BATCH])))
    conn.commit()


def _locked(conn: Connection, where: sa.ColumnElement[bool]) -> list[datetime]:
    """The hours of ``event_rollup_hours`` matching ``where``; on PostgreSQL locked in hour order, the order every
    writer of that table takes its row locks in (the triggers' forget function too), so none can deadlock."""
    query = sa.select(event_rollup_hours.c.hour).where(where).order_by(event_rollup_hours.c.hour)
    return list(conn.execute(query.with_for_update()).scalars())


def _spans(claimed: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours merged into ranges."""
    spans: list[tuple[datetime, datetime]] = []
    for hour in claimed:
        if spans and spans[-1][1] == hour:
            spans[-1] = (spans[-1][0], hour + HOUR)
        else:
            spans.append((hour, hour + HOUR))
    return spans


Counts = dict[str, list[dict[str, Any]]]


def _compute(conn: Connection, spans: list[tuple[datetime, datetime]]) -> Counts:
    """Per hour: decisions by (action, outcome, enforced), by (platform, tier, outcome), limit and block reasons, and
    Play Integrity verdicts, from the events of ``spans``."""
    dialect = conn.dialect.name
    hour = hour_of(dialect, events.c.at).label("hour")
    counts: Counts = {table.name: [] for table in ROLLUP_COUNTS}
    reasons = reasons_of_events(dialect)
    for lo, hi in spans:
        within = sa.and_(events.c.at >= lo, events.c.at < hi)
        for table, columns in (
            (event_rollup_decisions, (events.c.action, events.c.outcome, events.c.enforced)),
            (event_rollup_split, (events.c.platform, events.c.tier, events.c.outcome)),
        ):
            query = sa.select(hour, *columns, sa.func.count().label("n")).where(within).group_by(hour, *columns)
            counts[table.name].extend(_counted(conn, query))
        reason = reasons.c.value.label("reason")
        query = (
            sa.select(hour, reason, sa.func.count().label("n"))
            .select_from(events)
            .join(reasons, sa.true())
            .where(within, events.c.outcome != "allow")
            .group_by(hour, reasons.c.value)
        )
        counts[event_rollup_reasons.name].extend(_counted(conn, query))
        verdicts = (events.c.device_verdict, events.c.play_protect)
        query = (
            sa.select(hour, *verdicts, sa.func.count().label("n"))
            .where(within, sa.or_(*(column.is_not(None) for column in verdicts)))
            .group_by(hour, *verdicts)
        )
        signals: Counter[tuple[datetime, str, str]] = Counter()
        for row in _counted(conn, query):
            for signal in SIGNALS:
                if row[signal] is not None:
                    signals[(row["hour"], signal, row[signal])] += row["n"]
        counts[event_rollup_signals.name].extend(
            {"hour": h, "signal": s, "value": v, "n": n} for (h, s, v), n in signals.items()
        )
    return counts


def _counted(conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
    found = []
    for row in conn.execute(query).mappings():
        values = dict(row)
        values["hour"] = _hour_value(values["hour"])
        values["n"] = int(values["n"])
        found.append(values)
    return found


def _by_hour(counts: Counts) -> dict[datetime, Counts]:
    found: dict[datetime, Counts] = {}
    for name, rows in counts.items():
        for row in rows:
            found.setdefault(row["hour"], {}).setdefault(name, []).append(row)
    return found


def _install(conn: Connection, token: int, chunk: list[datetime], counts: Mapping[datetime, Counts]) -> int:
    """Install the counts of the hours of ``chunk`` still claimed by ``token`` and mark them ready."""
    marks = event_rollup_hours
    # PostgreSQL: the row locks order this against a trigger forgetting one of these hours (see v0005).
    held = set(
        _locked(
            conn,
            sa.and_(
                marks.c.token == token, marks.c.ready.is_(False), marks.c.hour >= chunk[0], marks.c.hour <= chunk[-1]
            ),
        )
    )
    if held:
        for table in ROLLUP_COUNTS:
            conn.execute(sa.delete(table).where(table.c.hour.in_(held)))
            rows = [row for hour in held for row in counts[hour].get(table.name, ())]
            if rows:
                conn.execute(sa.insert(table), rows)
        conn.execute(sa.update(marks).where(marks.c.token == token, marks.c.hour.in_(held)).values(ready=True))
    conn.commit()
    return len(held)
