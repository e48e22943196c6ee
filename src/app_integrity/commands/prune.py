"""``app-integrity prune``: delete events older than a number of days (the audit trail's retention)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from app_integrity.commands.service import ConfigOption, _load, _run, _store, console
from app_integrity.storage import insights


def prune(
    config: ConfigOption = None,
    older_than: Annotated[
        int | None,
        typer.Option("--older-than", min=1, max=36500, help="days; default: [events] retention_days"),
    ] = None,
) -> None:
    """Delete recorded decisions (events) older than --older-than days."""
    settings = _load(config)
    days = older_than if older_than is not None else settings.events.retention_days
    if days <= 0:
        console.print("[red]nothing to do[/]: pass --older-than DAYS or set [events] retention_days")
        raise typer.Exit(2)
    before = datetime.now(UTC) - timedelta(days=days)

    async def run() -> int:
        store = _store(settings)
        try:
            await store.migrate()
            return await insights.prune_events(insights.sql_store(store), before=before)
        finally:
            await store.close()

    deleted = _run(run())
    console.print(f"deleted {deleted} event{'' if deleted == 1 else 's'} recorded before {before:%Y-%m-%d %H:%M} UTC")
