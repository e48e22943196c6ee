"""Argument checks every backend applies the same way, so they answer the same on bad input."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app_integrity.errors import InputError

MAX_LIST_LIMIT = 10_000

# The filters `list_events` understands, and the Python type each must have.
EVENT_FILTERS: dict[str, type] = {
    "action": str,
    "outcome": str,
    "platform": str,
    "tier": str,
    "subject": str,
    "request_id": str,
    "key_id": bytes,
    "enforced": bool,
    "since": datetime,
    "until": datetime,
}


def require_aware(*values: datetime | None) -> None:
    """Refuse naive datetimes: stored times are UTC instants, and guessing a zone shifts every expiry."""
    for value in values:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise InputError("input.invalid_argument", "stored datetimes must be timezone-aware")


def check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InputError("input.invalid_argument", f"limit must be an integer from 1 to {MAX_LIST_LIMIT}")


def check_event_filters(filters: Mapping[str, Any], limit: int) -> None:
    """Refuse unknown filters and wrongly typed values before any query is built."""
    check_limit(limit)
    for name, value in filters.items():
        expected = EVENT_FILTERS.get(name)
        if expected is None:
            known = ", ".join(sorted(EVENT_FILTERS))
            raise InputError("input.invalid_argument", f"unknown event filter {name!r}; known: {known}")
        if value is None:
            if expected in (bool, datetime):
                raise InputError("input.invalid_argument", f"event filter {name!r} cannot be None")
            continue
        wrong_bool = isinstance(value, bool) and expected is not bool
        if wrong_bool or not isinstance(value, expected):
            raise InputError("input.invalid_argument", f"event filter {name!r} must be {expected.__name__}")
        if isinstance(value, datetime):
            require_aware(value)


def utc(value: datetime) -> datetime:
    """The same instant in UTC: what every backend hands back, whatever zone it was given in."""
    return value.astimezone(UTC)
