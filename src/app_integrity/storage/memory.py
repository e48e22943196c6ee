"""An in-process ``Store``: for tests and the emulated quick start. Nothing survives a restart.

One asyncio lock makes every operation atomic, with the same outcomes as the SQL backend.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from datetime import datetime
from typing import Any

from app_integrity.errors import InputError, KeyRegistryError
from app_integrity.storage._checks import check_event_filters, check_limit, require_aware, utc
from app_integrity.storage.base import (
    ChallengeRecord,
    CounterUpdate,
    EventRecord,
    KeyKind,
    KeyRecord,
    KeyStatus,
    SessionKeyRecord,
)


class MemoryStore:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._keys: dict[bytes, KeyRecord] = {}
        self._challenges: dict[str, ChallengeRecord] = {}
        self._session_ids: dict[str, datetime] = {}
        self._session_keys: dict[str, SessionKeyRecord] = {}
        self._events: list[EventRecord] = []

    # --- lifecycle ---

    async def migrate(self) -> None:
        """Nothing to migrate: the schema is the Python objects."""

    async def ping(self) -> None:
        """Always answers."""

    async def close(self) -> None:
        """Nothing to release."""

    # --- keys ---

    async def insert_key(self, record: KeyRecord) -> None:
        require_aware(record.created_at, record.last_seen_at)
        async with self._lock:
            if record.key_id in self._keys:
                raise KeyRegistryError("key.already_registered", "a key with this id is already registered")
            self._keys[record.key_id] = dataclasses.replace(
                record,
                created_at=utc(record.created_at),
                last_seen_at=None if record.last_seen_at is None else utc(record.last_seen_at),
                summary=copy.deepcopy(record.summary),
            )

    async def get_key(self, key_id: bytes) -> KeyRecord | None:
        return self._keys.get(key_id)

    async def list_keys(self, *, subject: str | None = None, limit: int = 1000) -> list[KeyRecord]:
        check_limit(limit)
        found = [k for k in self._keys.values() if subject is None or k.subject == subject]
        found.sort(key=lambda k: (k.created_at, k.key_id))
        return found[:limit]

    async def revoke_key(self, key_id: bytes, now: datetime) -> bool:
        require_aware(now)
        async with self._lock:
            record = self._keys.get(key_id)
            if record is None:
                return False
            self._keys[key_id] = dataclasses.replace(record, status=KeyStatus.REVOKED)
            return True

    def _advance(self, key_id: bytes, new_counter: int, now: datetime) -> CounterUpdate:
        record = self._keys.get(key_id)
        if record is None:
            return CounterUpdate.UNKNOWN_KEY
        if record.status is not KeyStatus.ACTIVE:
            return CounterUpdate.REVOKED
        if not record.counter < new_counter:
            return CounterUpdate.NOT_INCREASING
        self._keys[key_id] = dataclasses.replace(record, counter=new_counter, last_seen_at=utc(now))
        return CounterUpdate.ADVANCED

    async def advance_counter(self, key_id: bytes, new_counter: int, now: datetime) -> CounterUpdate:
        require_aware(now)
        async with self._lock:
            return self._advance(key_id, new_counter, now)

    async def consume_challenge_and_advance_counter(
        self, value: str, key_id: bytes, new_counter: int, now: datetime
    ) -> tuple[ChallengeRecord | None, CounterUpdate]:
        require_aware(now)
        async with self._lock:
            record = self._challenges.get(value)
            if record is None:
                return None, CounterUpdate.SKIPPED
            if record.expires_at <= now:
                del self._challenges[value]
                return record, CounterUpdate.SKIPPED
            outcome = self._advance(key_id, new_counter, now)
            if outcome is CounterUpdate.ADVANCED:
                del self._challenges[value]
            return record, outcome

    async def latest_android_key(self, subject: str) -> KeyRecord | None:
        found = [
            k
            for k in self._keys.values()
            if k.subject == subject and k.kind is KeyKind.ANDROID and k.status is KeyStatus.ACTIVE
        ]
        return max(found, key=lambda k: (k.created_at, k.key_id), default=None)

    # --- challenges and single-use session ids ---

    async def put_challenge(self, record: ChallengeRecord) -> None:
        require_aware(record.expires_at)
        async with self._lock:
            if record.value in self._challenges:
                raise InputError("input.invalid_argument", "this challenge value was already issued")
            self._challenges[record.value] = dataclasses.replace(record, expires_at=utc(record.expires_at))

    async def consume_challenge(self, value: str) -> ChallengeRecord | None:
        async with self._lock:
            return self._challenges.pop(value, None)

    async def consume_session_id(self, jti: str, expires_at: datetime) -> bool:
        require_aware(expires_at)
        async with self._lock:
            if jti in self._session_ids:
                return False
            self._session_ids[jti] = expires_at
            return True

    async def purge_expired(self, now: datetime) -> int:
        require_aware(now)
        async with self._lock:
            old_challenges = [v for v, c in self._challenges.items() if c.expires_at < now]
            old_ids = [j for j, at in self._session_ids.items() if at < now]
            for value in old_challenges:
                del self._challenges[value]
            for jti in old_ids:
                del self._session_ids[jti]
            return len(old_challenges) + len(old_ids)

    # --- session signing keys ---

    async def session_keys(self) -> list[SessionKeyRecord]:
        return sorted(self._session_keys.values(), key=lambda k: (k.created_at, k.kid))

    async def add_session_key(self, record: SessionKeyRecord) -> None:
        require_aware(record.created_at, record.retires_at)
        async with self._lock:
            if record.kid in self._session_keys:
                raise InputError("input.invalid_argument", "a session key with this kid already exists")
            self._session_keys[record.kid] = dataclasses.replace(
                record, created_at=utc(record.created_at), retires_at=utc(record.retires_at)
            )

    async def delete_session_keys_retired_before(self, when: datetime) -> int:
        require_aware(when)
        async with self._lock:
            old = [kid for kid, k in self._session_keys.items() if k.retires_at < when]
            for kid in old:
                del self._session_keys[kid]
            return len(old)

    # --- events ---

    async def record_event(self, event: EventRecord) -> None:
        require_aware(event.at)
        async with self._lock:
            self._events.append(dataclasses.replace(event, at=utc(event.at)))

    async def list_events(self, *, limit: int = 100, **filters: Any) -> list[EventRecord]:
        check_event_filters(filters, limit)
        found = [
            (index, e) for index, e in enumerate(self._events) if all(_matches(e, n, v) for n, v in filters.items())
        ]
        found.sort(key=lambda pair: (pair[1].at, pair[0]), reverse=True)
        return [e for _, e in found[:limit]]


def _matches(event: EventRecord, name: str, value: Any) -> bool:
    if name == "since":
        return bool(event.at >= value)
    if name == "until":
        return bool(event.at < value)
    return bool(getattr(event, name) == value)
