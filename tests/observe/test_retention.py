"""Retention: the ``[events]`` settings, ``app-integrity prune``, and the server's periodic pruning."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app_integrity.cli import app
from app_integrity.config import parse_config
from app_integrity.errors import ConfigError
from app_integrity.server.app import create_app
from app_integrity.server.retention import prune_once
from app_integrity.storage import open_store
from app_integrity.storage.base import EventRecord
from app_integrity.storage.insights import Bucket, TimeRange, count_events, insert_events, sql_store
from tests.service.conftest import World

runner = CliRunner()


def _event(at: datetime) -> EventRecord:
    return EventRecord(
        at=at,
        action="a",
        platform=None,
        outcome="block",
        tier="none",
        reasons=("header.missing",),
        enforced=False,
        latency_ms=0.1,
    )


def test_events_settings() -> None:
    settings = parse_config("[events]\nretention_days = 30\n", base_dir=Path("."), environ={})
    assert settings.events.retention_days == 30
    assert settings.events.prune_interval_seconds == 3600
    assert parse_config("", base_dir=Path("."), environ={}).events.retention_days == 0
    for text, key in (
        ("[events]\nretention_days = -1\n", "events.retention_days"),
        ('[events]\nretention_days = "30"\n', "events.retention_days"),
        ("[events]\nprune_interval_seconds = 5\n", "events.prune_interval_seconds"),
        ("[events]\nkeep = 1\n", "events.keep"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_config(text, base_dir=Path("."), environ={})
        assert caught.value.message.startswith(key), caught.value.message


def test_prune_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APP_INTEGRITY_CONFIG", raising=False)
    now = datetime.now(UTC)

    async def seed() -> None:
        store = open_store("sqlite:///.app-integrity/app-integrity.db", base_dir=tmp_path)
        await store.migrate()
        await insert_events(sql_store(store), [_event(now - timedelta(days=d)) for d in (1, 2, 40, 41, 400)])
        await store.close()

    async def remaining() -> int:
        store = open_store("sqlite:///.app-integrity/app-integrity.db", base_dir=tmp_path)
        try:
            span = TimeRange(now - timedelta(days=1000), now + timedelta(days=1), Bucket.DAY)
            return await count_events(sql_store(store), span)
        finally:
            await store.close()

    asyncio.run(seed())
    nothing = runner.invoke(app, ["prune"])
    assert nothing.exit_code == 2
    assert "--older-than" in nothing.output
    result = runner.invoke(app, ["prune", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert "deleted 3 events" in result.output
    assert asyncio.run(remaining()) == 2
    config = tmp_path / "app-integrity.toml"
    config.write_text("[events]\nretention_days = 1\n")
    result = runner.invoke(app, ["prune", "--config", str(config)])
    assert "deleted 2 events" in result.output
    assert asyncio.run(remaining()) == 0


async def test_the_server_prunes_with_its_clock(world: World) -> None:
    store = sql_store(world.service.store)
    now = world.clock.now
    await insert_events(store, [_event(now - timedelta(days=10)), _event(now - timedelta(hours=1))])
    assert await prune_once(world.service, older_than_days=7) == 1
    span = TimeRange(now - timedelta(days=30), now + timedelta(days=1), Bucket.DAY)
    assert await count_events(store, span) == 1


async def test_a_running_server_applies_retention(world: World) -> None:
    store = sql_store(world.service.store)
    now = world.clock.now
    await insert_events(store, [_event(now - timedelta(days=3)), _event(now)])
    events = dataclasses.replace(world.service.settings.events, retention_days=2)
    application = create_app(dataclasses.replace(world.service.settings, events=events), service=world.service)
    span = TimeRange(now - timedelta(days=30), now + timedelta(days=1), Bucket.DAY)
    async with application.router.lifespan_context(application):
        for _ in range(100):
            if await count_events(store, span) == 1:
                break
            await asyncio.sleep(0.05)
    assert await count_events(store, span) == 1
