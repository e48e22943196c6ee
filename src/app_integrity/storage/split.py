"""A ``Store`` that keeps challenges and single-use session ids in one backend (Redis) and the rest in another."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app_integrity.storage._checks import require_aware
from app_integrity.storage.base import (
    ChallengeRecord,
    ChallengeStore,
    CounterUpdate,
    EventRecord,
    KeyRecord,
    SessionKeyRecord,
    Store,
)


class SplitStore:
    """Keys, session keys and events in ``main``; challenges and session ids in ``challenges``.

    The two cannot share a transaction, so ``consume_challenge_and_advance_counter`` consumes the challenge first
    and only then advances the counter: a challenge that loses never touches the counter, and one whose counter
    then loses stays consumed (the request is blocked either way, and the challenge was single use).
    """

    def __init__(self, main: Store, challenges: ChallengeStore) -> None:
        self.main = main
        self.challenges = challenges

    async def migrate(self) -> None:
        await self.main.migrate()

    async def ping(self) -> None:
        await self.main.ping()
        await self.challenges.ping()

    async def close(self) -> None:
        try:
            await self.challenges.close()
        finally:
            await self.main.close()

    async def put_challenge(self, record: ChallengeRecord) -> None:
        await self.challenges.put_challenge(record)

    async def consume_challenge(self, value: str) -> ChallengeRecord | None:
        return await self.challenges.consume_challenge(value)

    async def consume_session_id(self, jti: str, expires_at: datetime) -> bool:
        return await self.challenges.consume_session_id(jti, expires_at)

    async def purge_expired(self, now: datetime) -> int:
        return await self.challenges.purge_expired(now) + await self.main.purge_expired(now)

    async def consume_challenge_and_advance_counter(
        self, value: str, key_id: bytes, new_counter: int, now: datetime
    ) -> tuple[ChallengeRecord | None, CounterUpdate]:
        require_aware(now)
        record = await self.challenges.consume_challenge(value)
        if record is None or record.expires_at <= now:
            return record, CounterUpdate.SKIPPED
        return record, await self.main.advance_counter(key_id, new_counter, now)

    async def insert_key(self, record: KeyRecord) -> None:
        await self.main.insert_key(record)

    async def get_key(self, key_id: bytes) -> KeyRecord | None:
        return await self.main.get_key(key_id)

    async def list_keys(self, *, subject: str | None = None, limit: int = 1000) -> list[KeyRecord]:
        return await self.main.list_keys(subject=subject, limit=limit)

    async def revoke_key(self, key_id: bytes, now: datetime) -> bool:
        return await self.main.revoke_key(key_id, now)

    async def advance_counter(self, key_id: bytes, new_counter: int, now: datetime) -> CounterUpdate:
        return await self.main.advance_counter(key_id, new_counter, now)

    async def latest_android_key(self, subject: str) -> KeyRecord | None:
        return await self.main.latest_android_key(subject)

    async def session_keys(self) -> list[SessionKeyRecord]:
        return await self.main.session_keys()

    async def add_session_key(self, record: SessionKeyRecord) -> None:
        await self.main.add_session_key(record)

    async def delete_session_keys_retired_before(self, when: datetime) -> int:
        return await self.main.delete_session_keys_retired_before(when)

    async def record_event(self, event: EventRecord) -> None:
        await self.main.record_event(event)

    async def list_events(self, *, limit: int = 100, **filters: Any) -> list[EventRecord]:
        return await self.main.list_events(limit=limit, **filters)
