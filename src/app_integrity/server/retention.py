"""Event retention: delete decisions older than ``[events] retention_days``, once at start-up and then every
``prune_interval_seconds`` while the server runs (``app-integrity prune`` does the same on demand)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from app_integrity.errors import AppIntegrityError
from app_integrity.observe import metrics
from app_integrity.service import IntegrityService
from app_integrity.storage import insights

logger = logging.getLogger("app_integrity.server")


async def prune_once(service: IntegrityService, *, older_than_days: int) -> int:
    """Delete events older than ``older_than_days`` days before the service's clock; returns how many."""
    store = insights.sql_store(service.store)
    deleted = await insights.prune_events(store, before=service.now() - timedelta(days=older_than_days))
    metrics.EVENTS_PRUNED.inc(deleted)
    return deleted


async def prune_forever(service: IntegrityService) -> None:
    settings = service.settings.events
    while True:
        try:
            deleted = await prune_once(service, older_than_days=settings.retention_days)
        except AppIntegrityError as error:
            # Retention is housekeeping: a failed round is logged and retried, never fatal to the service.
            logger.warning("event retention failed", extra={"code": error.code})
        else:
            if deleted:
                logger.info("events pruned", extra={"deleted": deleted, "retention_days": settings.retention_days})
        await asyncio.sleep(settings.prune_interval_seconds)
