"""Build an ``IntegrityService`` from settings: open and migrate the store, load session keys, bind verifiers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from app_integrity._clock import resolve_now
from app_integrity.config import Settings
from app_integrity.service.core import IntegrityService
from app_integrity.service.emulation import emulated_verifiers
from app_integrity.service.keyring import SessionKeys
from app_integrity.service.verifiers import AndroidVerifier, AppleVerifier
from app_integrity.storage.factory import open_store

logger = logging.getLogger("app_integrity.service")


async def open_service(settings: Settings, *, clock: Callable[[], datetime] | None = None) -> IntegrityService:
    """Open the configured storage (migrating it), load or create session keys, and build the verifiers.

    ``clock`` replaces the wall clock (tests of expiry); it must return aware datetimes.
    """
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.storage.url, redis_url=settings.storage.redis_url, base_dir=settings.server.data_dir)
    try:
        await store.migrate()
        apple: AppleVerifier | None
        android: AndroidVerifier | None
        if settings.emulated:
            apple, android = emulated_verifiers(settings)
        else:
            apple = AppleVerifier.from_settings(settings.apple) if settings.apple else None
            android = AndroidVerifier.from_settings(settings.android) if settings.android else None
        session_keys = SessionKeys(store, settings.sessions)
        await session_keys.load(resolve_now(clock() if clock else None))
    except BaseException:
        await store.close()
        raise
    return IntegrityService(
        settings=settings, store=store, apple=apple, android=android, session_keys=session_keys, clock=clock
    )
