"""The one place that reads the clock: verifiers take ``now`` and call ``resolve_now``."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from app_integrity.errors import InputError


def resolve_now(now: datetime | None) -> datetime:
    """Return ``now`` as an aware UTC instant, or the current time when ``None``.

    A naive datetime is refused: guessing its zone would shift every validity check by hours.
    """
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise InputError("input.invalid_argument", "now must be timezone-aware (for example datetime.now(UTC))")
    return now.astimezone(UTC)


def now_millis(now: datetime | None) -> int:
    """``resolve_now(now)`` as Unix milliseconds; the current time is read as an integer, no datetime built."""
    if now is None:
        return time.time_ns() // 1_000_000
    return int(resolve_now(now).timestamp() * 1000)
