"""Session signing keys kept in storage: loaded at start, rotated with overlap, shared by every worker.

Another worker may rotate first; a token whose kid this process has not seen yet triggers one reload (at most
once a second), so sessions signed anywhere verify everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from app_integrity.config import SessionSettings
from app_integrity.errors import SessionError
from app_integrity.policy import Platform, Signal, Tier
from app_integrity.sessions import (
    IssuedSession,
    SessionClaims,
    SessionKeyring,
    key_lifetime,
    new_session_key,
    token_kid,
)
from app_integrity.storage.base import Store

_RELOAD_INTERVAL = timedelta(seconds=1)


class SessionKeys:
    def __init__(self, store: Store, settings: SessionSettings) -> None:
        self._store = store
        self._settings = settings
        self._ttl = timedelta(seconds=settings.ttl_seconds)
        self._rotate_after = timedelta(seconds=settings.key_rotation_seconds)
        self._keyring = SessionKeyring((), issuer=settings.issuer)
        self._lock = asyncio.Lock()
        self._loaded_at: datetime | None = None

    @property
    def ttl(self) -> timedelta:
        return self._ttl

    async def load(self, now: datetime) -> None:
        """Read the keys from storage, add a new one if none can sign now, and forget retired ones."""
        async with self._lock:
            await self._reload(now)
            if self._keyring.needs_rotation(now, rotate_after=self._rotate_after, ttl=self._ttl):
                record = new_session_key(now, lifetime=key_lifetime(rotate_after=self._rotate_after, ttl=self._ttl))
                await self._store.add_session_key(record)
                self._keyring = self._keyring.with_key(record)
            await self._store.delete_session_keys_retired_before(now)

    async def _reload(self, now: datetime) -> None:
        records = await self._store.session_keys()
        self._keyring = SessionKeyring(records, issuer=self._settings.issuer)
        self._loaded_at = now

    async def issue(
        self,
        *,
        subject: str | None,
        platform: Platform,
        key_id: bytes | None,
        tier: Tier,
        signals: Iterable[Signal],
        now: datetime,
    ) -> IssuedSession:
        if self._keyring.needs_rotation(now, rotate_after=self._rotate_after, ttl=self._ttl):
            await self.load(now)
        return self._keyring.issue(
            subject=subject, platform=platform, key_id=key_id, tier=tier, now=now, ttl=self._ttl, signals=signals
        )

    async def verify(self, token: str, now: datetime) -> SessionClaims:
        kid = token_kid(token)
        if not self._keyring.has_kid(kid) and self._may_reload(now):
            async with self._lock:
                await self._reload(now)
        if not self._keyring.has_kid(kid):
            raise SessionError("session.invalid", "the session was signed by a key this service does not hold")
        return self._keyring.verify(token, now)

    def _may_reload(self, now: datetime) -> bool:
        return self._loaded_at is None or now - self._loaded_at >= _RELOAD_INTERVAL

    def jwks(self, now: datetime) -> dict[str, Any]:
        return self._keyring.jwks(now)
