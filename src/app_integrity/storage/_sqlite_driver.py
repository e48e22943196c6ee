"""The gated request's statements on SQLite, straight to the ``sqlite3`` driver.

A protected request reads its key, consumes its challenge, advances the key's counter and records its event. The
statements themselves cost SQLite 10-20 µs each; through SQLAlchemy's execution pipeline (compiled-cache lookup,
parameter processing, result wrapping, events) the same statements cost 5-10 times more, which made storage most
of a gated request's CPU. These operations write exactly what the SQLAlchemy schema (``schema.py``) writes, so both
paths read each other's rows (tests check the round trip): UTC wall time as ``YYYY-MM-DD HH:MM:SS.ffffff`` text,
JSON as ``json.dumps`` text, booleans as 0/1.

Each write is a function of a ``sqlite3.Connection`` already inside a transaction, answering ``(result, keep)``:
``keep`` false undoes its statements (the runner rolls back to a savepoint taken before it, for the one operation
of several statements, ``consume_and_advance``; the others write one statement or nothing) and the result still
stands. The runner commits several callers' writes at once (``SQLiteRunner.write_driver``: group commit).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any, TypeVar

from app_integrity.errors import InputError
from app_integrity.storage._key_rows import KEY_COLUMNS, key_from_row
from app_integrity.storage.base import ChallengeRecord, CounterUpdate, EventRecord, KeyRecord, KeyStatus

T = TypeVar("T")
Written = tuple[T, bool]  # (the answer, whether the operation's statements are kept)

# Explicit column lists: the statements never depend on the table's column order.
GET_KEY = f"SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?"  # noqa: S608 - constant column names
_PUT_CHALLENGE = "INSERT INTO challenges (value, expires_at, subject, purpose) VALUES (?, ?, ?, ?)"
_CONSUME_CHALLENGE = "DELETE FROM challenges WHERE value = ? RETURNING expires_at, subject, purpose"
_ADVANCE = "UPDATE keys SET counter = ?, last_seen_at = ? WHERE key_id = ? AND counter < ? AND status = 'active'"
_KEY_STATUS = "SELECT status FROM keys WHERE key_id = ?"
_INSERT_EVENT = (
    "INSERT INTO events (at, action, platform, outcome, tier, reasons, enforced, latency_ms, key_id, subject,"
    " request_id, device_verdict, play_protect) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def utc_text(value: datetime) -> str:
    """What ``UTCDateTime`` stores on SQLite: the UTC wall time, microseconds always present (text order is time
    order)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError("input.invalid_argument", "stored datetimes must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def utc_datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _key_from_row(row: tuple[Any, ...]) -> KeyRecord:
    created, seen, summary = row[8], row[9], row[11]
    return key_from_row((*row[:8], utc_datetime(created), utc_datetime(seen), row[10], json.loads(summary)))


def get_key(db: sqlite3.Connection, key_id: bytes) -> KeyRecord | None:
    row = db.execute(GET_KEY, (key_id,)).fetchone()
    return None if row is None else _key_from_row(row)


def put_challenge(db: sqlite3.Connection, record: ChallengeRecord) -> Written[bool]:
    """``False`` when the value was already issued (nothing written)."""
    try:
        db.execute(_PUT_CHALLENGE, (record.value, utc_text(record.expires_at), record.subject, record.purpose))
    except sqlite3.IntegrityError:
        return False, False
    return True, True


def _consume(db: sqlite3.Connection, value: str) -> ChallengeRecord | None:
    row = db.execute(_CONSUME_CHALLENGE, (value,)).fetchone()
    if row is None:
        return None
    expires_at = utc_datetime(row[0])
    assert expires_at is not None  # NOT NULL column
    return ChallengeRecord(value=value, expires_at=expires_at, subject=row[1], purpose=row[2])


def consume_and_advance(
    db: sqlite3.Connection, value: str, key_id: bytes, new_counter: int, now: datetime
) -> Written[tuple[ChallengeRecord | None, CounterUpdate]]:
    """Both single-use steps or neither: the challenge goes only if the counter advances (or it has expired)."""
    record = _consume(db, value)
    if record is None:
        return (None, CounterUpdate.SKIPPED), False
    if record.expires_at <= now:
        return (record, CounterUpdate.SKIPPED), True  # the expired challenge goes, the counter stays
    # The compare-and-set: only a strictly greater counter on an active key is written.
    if db.execute(_ADVANCE, (new_counter, utc_text(now), key_id, new_counter)).rowcount == 1:
        return (record, CounterUpdate.ADVANCED), True
    # The counter lost: the challenge comes back (not kept), so neither step happened.
    return (record, _why_not_advanced(db, key_id)), False


def insert_event(db: sqlite3.Connection, event: EventRecord) -> Written[None]:
    db.execute(
        _INSERT_EVENT,
        (
            utc_text(event.at),
            event.action,
            event.platform,
            event.outcome,
            event.tier,
            json.dumps(list(event.reasons)),
            1 if event.enforced else 0,
            float(event.latency_ms),
            event.key_id,
            event.subject,
            event.request_id,
            event.device_verdict,
            event.play_protect,
        ),
    )
    return None, True


def advance(db: sqlite3.Connection, key_id: bytes, new_counter: int, now: datetime) -> Written[CounterUpdate]:
    """The compare-and-set alone (challenges kept elsewhere)."""
    if db.execute(_ADVANCE, (new_counter, utc_text(now), key_id, new_counter)).rowcount == 1:
        return CounterUpdate.ADVANCED, True
    return _why_not_advanced(db, key_id), False


def _why_not_advanced(db: sqlite3.Connection, key_id: bytes) -> CounterUpdate:
    status = db.execute(_KEY_STATUS, (key_id,)).fetchone()
    if status is None:
        return CounterUpdate.UNKNOWN_KEY
    return CounterUpdate.REVOKED if status[0] == KeyStatus.REVOKED.value else CounterUpdate.NOT_INCREASING
