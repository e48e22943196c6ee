"""The one place that reads the clock: verifiers take ``now`` and call ``resolve_now``."""

from __future__ import annotations

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
