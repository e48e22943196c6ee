"""The dashboard's SQL aggregates on SQLite and PostgreSQL, against counts known from the seeded events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app_integrity.errors import ConfigError, InputError
from app_integrity.storage import open_store
from app_integrity.storage.base import EventRecord, KeyKind, KeyRecord
from app_integrity.storage.insights import (
    Bucket,
    EventFilter,
    TimeRange,
    android_distribution,
    count_events,
    decisions_over_time,
    distinct_values,
    insert_events,
    key_with_history,
    keys_per_day,
    prune_events,
    readiness,
    recent_events,
    split_by_platform_and_tier,
    sql_store,
    top_failure_reasons,
)
from app_integrity.storage.sql import SQLStore
from tests.storage.conftest import SQL_BACKENDS

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))


def event(
    minutes: int,
    action: str,
    outcome: str,
    *,
    enforced: bool = False,
    platform: str | None = "ios",
    tier: str = "strong",
    reasons: tuple[str, ...] = (),
    key_id: bytes | None = None,
    subject: str | None = None,
    device: str | None = None,
    protect: str | None = None,
) -> EventRecord:
    return EventRecord(
        at=T0 + timedelta(minutes=minutes),
        action=action,
        platform=platform,
        outcome=outcome,
        tier=tier,
        reasons=reasons,
        enforced=enforced,
        latency_ms=1.5,
        key_id=key_id,
        subject=subject,
        request_id=f"req-{minutes}",
        device_verdict=device,
        play_protect=protect,
    )


SEED = [
    # Day 1, 10:00-10:59: redeem (enforce) and login (observe).
    event(0, "redeem", "allow", enforced=True, key_id=KEY_A, subject="alice"),
    event(5, "redeem", "allow", enforced=True, key_id=KEY_A, subject="alice"),
    event(10, "redeem", "block", enforced=True, reasons=("challenge.unknown",), key_id=KEY_A, subject="alice"),
    event(
        20, "login", "allow", platform="android", tier="device", device="MEETS_DEVICE_INTEGRITY", protect="NO_ISSUES"
    ),
    event(
        25,
        "login",
        "limit",
        platform="android",
        tier="basic",
        reasons=("policy.below_allow", "play.play_protect_off"),
        device="MEETS_BASIC_INTEGRITY",
        protect="POSSIBLE_RISK",
    ),
    event(30, "login", "block", platform=None, tier="none", reasons=("policy.below_limit", "header.missing")),
    # 11:xx
    event(
        70,
        "login",
        "block",
        platform="android",
        tier="none",
        reasons=("policy.below_limit",),
        device="NONE",
        protect="UNEVALUATED",
    ),
    event(75, "redeem", "block", enforced=True, reasons=("apple.signature_invalid",), key_id=KEY_B, subject="bob"),
    # Next day: outside a one-day range starting at T0.
    event(
        24 * 60 + 30,
        "login",
        "allow",
        platform="android",
        tier="device",
        device="MEETS_DEVICE_INTEGRITY",
        protect="NO_ISSUES",
    ),
]
DAY1 = TimeRange(since=T0, until=T0 + timedelta(hours=24), bucket=Bucket.HOUR)


@pytest.fixture(params=SQL_BACKENDS)
async def sql(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SQLStore]:
    if request.param == "sqlite":
        store = open_store("sqlite:///insights.db", base_dir=tmp_path)
    else:
        store = open_store(request.getfixturevalue("pg_schema_url"))
    await store.migrate()
    database = sql_store(store)
    assert await insert_events(database, SEED) == len(SEED)
    for key_id, minutes, environment, kind in (
        (KEY_A, 0, "production", KeyKind.APPLE),
        (KEY_B, 60, "development", KeyKind.APPLE),
        (bytes(range(2, 34)), 24 * 60 + 5, None, KeyKind.ANDROID),
    ):
        await store.insert_key(
            KeyRecord(
                key_id=key_id,
                kind=kind,
                public_key=b"\x04" + bytes(64),
                created_at=T0 + timedelta(minutes=minutes),
                environment=environment,
            )
        )
    try:
        yield database
    finally:
        await store.close()


async def test_decisions_over_time(sql: SQLStore) -> None:
    points = await decisions_over_time(sql, DAY1)
    got = {(p.bucket, p.action, p.outcome, p.enforced): p.count for p in points}
    assert got == {
        ("2026-03-01 10", "redeem", "allow", True): 2,
        ("2026-03-01 10", "redeem", "block", True): 1,
        ("2026-03-01 10", "login", "allow", False): 1,
        ("2026-03-01 10", "login", "limit", False): 1,
        ("2026-03-01 10", "login", "block", False): 1,
        ("2026-03-01 11", "login", "block", False): 1,
        ("2026-03-01 11", "redeem", "block", True): 1,
    }
    daily = await decisions_over_time(sql, TimeRange(T0, T0 + timedelta(days=2), Bucket.DAY))
    assert sum(p.count for p in daily if p.bucket == "2026-03-02") == 1
    minutes = await decisions_over_time(sql, TimeRange(T0, T0 + timedelta(hours=1), Bucket.MINUTE))
    assert {p.bucket for p in minutes} == {f"2026-03-01 10:{m:02d}" for m in (0, 5, 10, 20, 25, 30)}


async def test_split_and_readiness(sql: SQLStore) -> None:
    split = {(r.platform, r.tier, r.outcome): r.count for r in await split_by_platform_and_tier(sql, DAY1)}
    assert split == {
        ("ios", "strong", "allow"): 2,
        ("ios", "strong", "block"): 2,
        ("android", "device", "allow"): 1,
        ("android", "basic", "limit"): 1,
        ("android", "none", "block"): 1,
        (None, "none", "block"): 1,
    }
    rows = {r.action: r for r in await readiness(sql, DAY1)}
    assert (rows["login"].total, rows["login"].allow, rows["login"].limit, rows["login"].block) == (4, 1, 1, 2)
    assert rows["login"].enforced == 0
    assert rows["login"].allow_share == 0.25
    assert (rows["redeem"].total, rows["redeem"].allow, rows["redeem"].enforced) == (4, 2, 4)


async def test_top_failure_reasons_unnest_the_json_array(sql: SQLStore) -> None:
    reasons = await top_failure_reasons(sql, DAY1, limit=10)
    assert reasons[0] == ("policy.below_limit", 2)
    assert dict(reasons) == {
        "policy.below_limit": 2,
        "challenge.unknown": 1,
        "policy.below_allow": 1,
        "play.play_protect_off": 1,
        "header.missing": 1,
        "apple.signature_invalid": 1,
    }
    assert len(await top_failure_reasons(sql, DAY1, limit=2)) == 2


async def test_android_distributions(sql: SQLStore) -> None:
    assert dict(await android_distribution(sql, DAY1, "device_verdict")) == {
        "MEETS_DEVICE_INTEGRITY": 1,
        "MEETS_BASIC_INTEGRITY": 1,
        "NONE": 1,
    }
    assert dict(await android_distribution(sql, DAY1, "play_protect")) == {
        "NO_ISSUES": 1,
        "POSSIBLE_RISK": 1,
        "UNEVALUATED": 1,
    }
    with pytest.raises(InputError):
        await android_distribution(sql, DAY1, "subject")


async def test_keys_per_day(sql: SQLStore) -> None:
    days = await keys_per_day(sql, TimeRange(T0, T0 + timedelta(days=2), Bucket.DAY))
    assert [(d.day, d.kind, d.environment, d.count) for d in days] == [
        ("2026-03-01", "apple", "development", 1),
        ("2026-03-01", "apple", "production", 1),
        ("2026-03-02", "android", "", 1),
    ]


async def test_recent_events_filters(sql: SQLStore) -> None:
    async def matching(filters: EventFilter) -> list[str]:
        rows = await recent_events(sql, DAY1, filters)
        return [e.request_id or "" for _, e in rows]

    assert await matching(EventFilter()) == [f"req-{m}" for m in (75, 70, 30, 25, 20, 10, 5, 0)]
    assert await matching(EventFilter(action="redeem", outcome="block")) == ["req-75", "req-10"]
    assert await matching(EventFilter(platform="android")) == ["req-70", "req-25", "req-20"]
    assert await matching(EventFilter(reason="policy.below_limit")) == ["req-70", "req-30"]
    assert await matching(EventFilter(reason="play.play_protect_off", action="login")) == ["req-25"]
    assert await matching(EventFilter(subject="bob")) == ["req-75"]
    assert await matching(EventFilter(key_id=KEY_A)) == ["req-10", "req-5", "req-0"]
    assert await matching(EventFilter(reason="no.such_reason")) == []
    assert await distinct_values(sql, DAY1, "action") == ["login", "redeem"]
    assert await distinct_values(sql, DAY1, "platform") == ["android", "ios"]


async def test_key_with_history(sql: SQLStore) -> None:
    key, history = await key_with_history(sql, KEY_A)
    assert key is not None
    assert key.environment == "production"
    assert [e.request_id for e in history] == ["req-10", "req-5", "req-0"]
    missing, nothing = await key_with_history(sql, bytes(32))
    assert missing is None
    assert nothing == []


async def test_prune_deletes_only_older_events(sql: SQLStore) -> None:
    everything = TimeRange(T0 - timedelta(days=1), T0 + timedelta(days=3), Bucket.DAY)
    assert await count_events(sql, everything) == len(SEED)
    assert await prune_events(sql, before=T0 + timedelta(minutes=70)) == 6
    assert await count_events(sql, everything) == 3
    assert await prune_events(sql, before=T0) == 0


async def test_memory_storage_has_no_dashboard() -> None:
    store = open_store("memory://")
    with pytest.raises(ConfigError):
        sql_store(store)
