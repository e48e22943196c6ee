"""A row of the ``keys`` table, in its column order, as a ``KeyRecord``: one reading for every way a row arrives
(SQLAlchemy, ``sqlite3``, psycopg). Each caller first turns its driver's timestamps and JSON into Python values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app_integrity.storage.base import KeyKind, KeyRecord, KeyStatus

# The columns the statements select, in this order.
KEY_COLUMNS = (
    "key_id, kind, public_key, environment, counter, receipt, subject, status, created_at, last_seen_at, tier, summary"
)


def key_from_row(row: Sequence[Any]) -> KeyRecord:
    # Positional: cheaper than attribute lookups on the hot path.
    key_id, kind, public_key, environment, counter, receipt, subject, status, created, seen, tier, summary = row
    return KeyRecord(
        key_id=bytes(key_id),
        kind=KeyKind(kind),
        public_key=bytes(public_key),
        created_at=created,
        environment=environment,
        counter=int(counter),
        receipt=None if receipt is None else bytes(receipt),
        subject=subject,
        status=KeyStatus(status),
        last_seen_at=seen,
        tier=tier,
        summary=dict(summary or {}),
    )
