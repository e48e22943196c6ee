"""The gated request's statements on PostgreSQL, straight to psycopg's async connection.

Through SQLAlchemy's async engine every statement crosses a greenlet into a synchronous execution pipeline and
back; for the one-row statements of a gated request that machinery cost more CPU than psycopg and the server
together. These operations send the same statements as the SQLAlchemy queries of ``sql.py`` (same tables, same
server-side function of migration 0002) on the same pooled connections (autocommit), so either path reads what the
other wrote: ``timestamptz`` columns take and give aware datetimes, JSON columns ``psycopg.types.json.Json``.
psycopg prepares each statement on a connection after a few uses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app_integrity.storage._key_rows import KEY_COLUMNS, key_from_row
from app_integrity.storage.base import ChallengeRecord, CounterUpdate, EventRecord, KeyRecord, KeyStatus

_GET_KEY = f"SELECT {KEY_COLUMNS} FROM keys WHERE key_id = %s"  # noqa: S608 - constant column names
_PUT_CHALLENGE = "INSERT INTO challenges (value, expires_at, subject, purpose) VALUES (%s, %s, %s, %s)"
_CONSUME_AND_ADVANCE = (
    "SELECT o_found, o_expires_at, o_subject, o_purpose, o_outcome"
    " FROM app_integrity_consume_and_advance(%s::varchar, %s::bytea, %s::bigint, %s::timestamptz)"
)
_ADVANCE = "UPDATE keys SET counter = %s, last_seen_at = %s WHERE key_id = %s AND counter < %s AND status = 'active'"
_KEY_STATUS = "SELECT status FROM keys WHERE key_id = %s"
_INSERT_EVENT = (
    "INSERT INTO events (at, action, platform, outcome, tier, reasons, enforced, latency_ms, key_id, subject,"
    " request_id, device_verdict, play_protect) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

if TYPE_CHECKING:  # psycopg comes with the postgres extra: imported when a statement runs, not with this module
    from psycopg import AsyncConnection

    Connection = AsyncConnection[Any]


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


async def get_key(pg: Connection, key_id: bytes) -> KeyRecord | None:
    cursor = await pg.execute(_GET_KEY, (key_id,))
    row = await cursor.fetchone()
    if row is None:
        return None
    return key_from_row((*row[:8], row[8].astimezone(UTC), _utc(row[9]), *row[10:]))


async def put_challenge(pg: Connection, record: ChallengeRecord) -> bool:
    """``False`` when the value was already issued."""
    from psycopg import errors

    try:
        await pg.execute(_PUT_CHALLENGE, (record.value, record.expires_at, record.subject, record.purpose))
    except errors.UniqueViolation:
        return False
    return True


async def consume_and_advance(
    pg: Connection, value: str, key_id: bytes, new_counter: int, now: datetime
) -> tuple[ChallengeRecord | None, CounterUpdate]:
    """One round trip: the server-side function does both single-use steps or neither (migration 0002)."""
    cursor = await pg.execute(_CONSUME_AND_ADVANCE, (value, key_id, new_counter, now))
    row = await cursor.fetchone()
    assert row is not None  # a function call answers one row
    found, expires_at, subject, purpose, outcome = row
    record = ChallengeRecord(value, expires_at.astimezone(UTC), subject, purpose) if found else None
    return record, CounterUpdate(outcome)


async def advance(pg: Connection, key_id: bytes, new_counter: int, now: datetime) -> CounterUpdate:
    """The compare-and-set alone (challenges kept elsewhere): only a strictly greater counter on an active key."""
    cursor = await pg.execute(_ADVANCE, (new_counter, now, key_id, new_counter))
    if cursor.rowcount == 1:
        return CounterUpdate.ADVANCED
    cursor = await pg.execute(_KEY_STATUS, (key_id,))
    status = await cursor.fetchone()
    if status is None:
        return CounterUpdate.UNKNOWN_KEY
    return CounterUpdate.REVOKED if status[0] == KeyStatus.REVOKED.value else CounterUpdate.NOT_INCREASING


async def insert_event(pg: Connection, event: EventRecord) -> None:
    from psycopg.types.json import Json

    await pg.execute(
        _INSERT_EVENT,
        (
            event.at,
            event.action,
            event.platform,
            event.outcome,
            event.tier,
            Json(list(event.reasons)),
            event.enforced,
            float(event.latency_ms),
            event.key_id,
            event.subject,
            event.request_id,
            event.device_verdict,
            event.play_protect,
        ),
    )
