"""Challenges and single-use session ids in Redis (``redis.asyncio``): one command, one round trip each.

A challenge is ``SET key value NX PXAT expiry+grace`` and is consumed with ``GETDEL`` (Redis >= 6.2), which
returns it to exactly one caller. It outlives its expiry by a short grace so that a late proof is told
``challenge.expired`` rather than ``challenge.unknown``. A session id is used with ``SET key 1 NX PXAT``: only the
first caller creates it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from redis import asyncio as redis_asyncio
from redis import exceptions as redis_exceptions

from app_integrity.errors import InputError, UnavailableError
from app_integrity.storage._checks import require_aware
from app_integrity.storage.base import ChallengeRecord

DEFAULT_PREFIX = "app-integrity:"
EXPIRED_GRACE = timedelta(seconds=60)
TIMEOUT_SECONDS = 2.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def _millis(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(milliseconds=1)


def encode_challenge(record: ChallengeRecord) -> bytes:
    """Compact JSON: expiry in epoch microseconds (exact), subject and purpose only when set."""
    body: dict[str, object] = {"e": _micros(record.expires_at)}
    if record.subject is not None:
        body["s"] = record.subject
    if record.purpose is not None:
        body["p"] = record.purpose
    return json.dumps(body, separators=(",", ":")).encode()


def decode_challenge(value: str, raw: bytes | str) -> ChallengeRecord:
    try:
        body = json.loads(raw)
        micros, subject, purpose = body["e"], body.get("s"), body.get("p")
        if not isinstance(micros, int) or not all(x is None or isinstance(x, str) for x in (subject, purpose)):
            raise TypeError("wrong field types")
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UnavailableError("storage.unavailable", "a stored challenge record is unreadable") from None
    return ChallengeRecord(
        value=value, expires_at=_EPOCH + timedelta(microseconds=micros), subject=subject, purpose=purpose
    )


class RedisChallengeStore:
    """The ``ChallengeStore`` half of the interface on Redis; keys and events stay in SQL."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = redis_asyncio.Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        kwargs = self._client.connection_pool.connection_kwargs
        self._label = f"Redis at {kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}"
        self._challenge_prefix = f"{prefix}challenge:"
        self._session_prefix = f"{prefix}jti:"

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (redis_exceptions.RedisError, OSError, TimeoutError) as error:
            # The class name only: Redis error texts can echo the AUTH arguments.
            raise UnavailableError(
                "storage.unavailable", f"{self._label} did not answer ({type(error).__name__})"
            ) from None

    async def put_challenge(self, record: ChallengeRecord) -> None:
        require_aware(record.expires_at)
        async with self._guard():
            created = await self._client.set(
                self._challenge_prefix + record.value,
                encode_challenge(record),
                nx=True,
                pxat=_millis(record.expires_at + EXPIRED_GRACE),
            )
        if not created:
            raise InputError("input.invalid_argument", "this challenge value was already issued")

    async def consume_challenge(self, value: str) -> ChallengeRecord | None:
        async with self._guard():
            raw = await self._client.getdel(self._challenge_prefix + value)
        return None if raw is None else decode_challenge(value, raw)

    async def consume_session_id(self, jti: str, expires_at: datetime) -> bool:
        require_aware(expires_at)
        async with self._guard():
            created = await self._client.set(
                self._session_prefix + jti, b"1", nx=True, pxat=_millis(expires_at + EXPIRED_GRACE)
            )
        return bool(created)

    async def purge_expired(self, now: datetime) -> int:
        """Redis expires records itself."""
        require_aware(now)
        return 0

    async def ping(self) -> None:
        async with self._guard():
            await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()
