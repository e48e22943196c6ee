"""The Store contract, run on every backend (see conftest: memory, SQLite, PostgreSQL, Redis + SQLite)."""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timedelta, timezone

import pytest

from app_integrity.errors import InputError, KeyRegistryError
from app_integrity.storage.base import (
    ChallengeRecord,
    CounterUpdate,
    EventRecord,
    KeyKind,
    KeyRecord,
    KeyStatus,
    SessionKeyRecord,
    Store,
)


def apple_key(
    now: datetime, *, key_id: bytes | None = None, subject: str | None = "user-1", counter: int = 0
) -> KeyRecord:
    return KeyRecord(
        key_id=key_id or os.urandom(32),
        kind=KeyKind.APPLE,
        public_key=b"\x04" + os.urandom(64),
        created_at=now,
        environment="production",
        counter=counter,
        receipt=os.urandom(300),
        subject=subject,
    )


def android_key(now: datetime, *, subject: str = "user-1", tier: str = "strong") -> KeyRecord:
    return KeyRecord(
        key_id=os.urandom(32),
        kind=KeyKind.ANDROID,
        public_key=os.urandom(91),
        created_at=now,
        subject=subject,
        tier=tier,
        summary={"securityLevel": "StrongBox", "patchLevel": 202611, "verifiedBoot": True, "apps": ["a", "b"]},
    )


def challenge(
    now: datetime, *, ttl: int = 300, subject: str | None = None, purpose: str | None = None
) -> ChallengeRecord:
    return ChallengeRecord(
        value=os.urandom(32).hex(), expires_at=now + timedelta(seconds=ttl), subject=subject, purpose=purpose
    )


# --- keys ---


async def test_insert_and_get_apple_key(store: Store, now: datetime) -> None:
    record = apple_key(now)
    await store.insert_key(record)
    assert await store.get_key(record.key_id) == record


async def test_insert_and_get_android_key_with_summary(store: Store, now: datetime) -> None:
    record = android_key(now)
    await store.insert_key(record)
    assert await store.get_key(record.key_id) == record


async def test_get_unknown_key(store: Store) -> None:
    assert await store.get_key(os.urandom(32)) is None


@pytest.mark.parametrize("change", ["same", "other_subject", "revoked"])
async def test_duplicate_key_id_is_refused(store: Store, now: datetime, change: str) -> None:
    record = apple_key(now)
    await store.insert_key(record)
    if change == "revoked":
        await store.revoke_key(record.key_id, now)
    again = dataclasses.replace(record, subject="user-2") if change == "other_subject" else record
    with pytest.raises(KeyRegistryError) as caught:
        await store.insert_key(again)
    assert caught.value.code == "key.already_registered"
    stored = await store.get_key(record.key_id)
    assert stored is not None
    assert stored.subject == "user-1"


async def test_list_keys_by_subject_in_creation_order(store: Store, now: datetime) -> None:
    first = apple_key(now - timedelta(minutes=2), subject="alice")
    second = android_key(now - timedelta(minutes=1), subject="alice")
    other = apple_key(now, subject="bob")
    for record in (second, other, first):
        await store.insert_key(record)
    assert await store.list_keys(subject="alice") == [first, second]
    assert await store.list_keys() == [first, second, other]
    assert await store.list_keys(limit=1) == [first]
    assert await store.list_keys(subject="nobody") == []


@pytest.mark.parametrize("limit", [0, -1, 10_001])
async def test_list_keys_refuses_silly_limits(store: Store, limit: int) -> None:
    with pytest.raises(InputError) as caught:
        await store.list_keys(limit=limit)
    assert caught.value.code == "input.invalid_argument"


async def test_revoke_key(store: Store, now: datetime) -> None:
    record = apple_key(now)
    await store.insert_key(record)
    assert await store.revoke_key(record.key_id, now) is True
    assert await store.revoke_key(record.key_id, now) is True  # twice is not an error
    stored = await store.get_key(record.key_id)
    assert stored is not None
    assert stored.status is KeyStatus.REVOKED
    assert await store.revoke_key(os.urandom(32), now) is False


async def test_latest_android_key(store: Store, now: datetime) -> None:
    older = android_key(now - timedelta(hours=2), tier="device")
    newer = android_key(now - timedelta(hours=1), tier="strong")
    revoked = android_key(now)
    await store.insert_key(apple_key(now + timedelta(seconds=1)))  # same subject, but not Android
    await store.insert_key(android_key(now + timedelta(seconds=2), subject="someone-else"))
    for record in (older, newer, revoked):
        await store.insert_key(record)
    await store.revoke_key(revoked.key_id, now)
    assert await store.latest_android_key("user-1") == newer
    assert await store.latest_android_key("nobody") is None


# --- counters ---


async def test_counter_advances_only_upwards(store: Store, now: datetime) -> None:
    record = apple_key(now, counter=5)
    await store.insert_key(record)
    later = now + timedelta(seconds=1)
    assert await store.advance_counter(record.key_id, 5, later) is CounterUpdate.NOT_INCREASING  # equal
    assert await store.advance_counter(record.key_id, 4, later) is CounterUpdate.NOT_INCREASING  # lower
    assert await store.advance_counter(record.key_id, 6, later) is CounterUpdate.ADVANCED  # higher
    assert await store.advance_counter(record.key_id, 6, later) is CounterUpdate.NOT_INCREASING  # replay
    assert await store.advance_counter(record.key_id, 2**32 - 1, later) is CounterUpdate.ADVANCED
    stored = await store.get_key(record.key_id)
    assert stored is not None
    assert stored.counter == 2**32 - 1
    assert stored.last_seen_at == later


async def test_counter_of_revoked_and_unknown_keys(store: Store, now: datetime) -> None:
    record = apple_key(now)
    await store.insert_key(record)
    await store.revoke_key(record.key_id, now)
    assert await store.advance_counter(record.key_id, 1, now) is CounterUpdate.REVOKED
    assert await store.advance_counter(os.urandom(32), 1, now) is CounterUpdate.UNKNOWN_KEY
    stored = await store.get_key(record.key_id)
    assert stored is not None
    assert stored.counter == 0


# --- challenges ---


async def test_challenge_is_consumed_once(store: Store, now: datetime) -> None:
    record = challenge(now, subject="user-1", purpose="register")
    await store.put_challenge(record)
    assert await store.consume_challenge(record.value) == record
    assert await store.consume_challenge(record.value) is None
    assert await store.consume_challenge("never-issued") is None


async def test_challenge_value_cannot_be_issued_twice(store: Store, now: datetime) -> None:
    record = challenge(now)
    await store.put_challenge(record)
    with pytest.raises(InputError) as caught:
        await store.put_challenge(record)
    assert caught.value.code == "input.invalid_argument"


async def test_expired_challenge_is_still_returned_once(store: Store, now: datetime) -> None:
    # Expiry is the caller's to judge: the record comes back (so it can say "expired"), and only once.
    record = challenge(now, ttl=-1)
    await store.put_challenge(record)
    assert await store.consume_challenge(record.value) == record
    assert await store.consume_challenge(record.value) is None


async def test_purge_expired(store: Store, now: datetime, backend: str) -> None:
    old = challenge(now, ttl=-3600)
    fresh = challenge(now)
    await store.put_challenge(old)
    await store.put_challenge(fresh)
    assert await store.consume_session_id("old-jti", now - timedelta(hours=1)) is True
    assert await store.consume_session_id("fresh-jti", now + timedelta(hours=1)) is True
    purged = await store.purge_expired(now)
    assert purged == (0 if backend == "redis" else 2)  # Redis expires them itself
    assert await store.consume_challenge(old.value) is None
    assert await store.consume_challenge(fresh.value) == fresh
    assert await store.consume_session_id("fresh-jti", now + timedelta(hours=1)) is False


# --- challenge + counter in one step ---


async def test_consume_and_advance(store: Store, now: datetime) -> None:
    key = apple_key(now)
    await store.insert_key(key)
    record = challenge(now)
    await store.put_challenge(record)
    assert await store.consume_challenge_and_advance_counter(record.value, key.key_id, 1, now) == (
        record,
        CounterUpdate.ADVANCED,
    )
    # The same challenge again: nothing happens, whatever the counter.
    assert await store.consume_challenge_and_advance_counter(record.value, key.key_id, 2, now) == (
        None,
        CounterUpdate.SKIPPED,
    )
    stored = await store.get_key(key.key_id)
    assert stored is not None
    assert stored.counter == 1


@pytest.mark.parametrize(
    ("revoke", "known", "counter", "expected"),
    [
        (False, True, 3, CounterUpdate.NOT_INCREASING),
        (False, True, 2, CounterUpdate.NOT_INCREASING),
        (True, True, 9, CounterUpdate.REVOKED),
        (False, False, 9, CounterUpdate.UNKNOWN_KEY),
    ],
)
async def test_counter_loss_leaves_the_challenge_unused(
    store: Store, now: datetime, backend: str, revoke: bool, known: bool, counter: int, expected: CounterUpdate
) -> None:
    key = apple_key(now, counter=3)
    await store.insert_key(key)
    if revoke:
        await store.revoke_key(key.key_id, now)
    key_id = key.key_id if known else os.urandom(32)
    record = challenge(now)
    await store.put_challenge(record)
    assert await store.consume_challenge_and_advance_counter(record.value, key_id, counter, now) == (record, expected)
    stored = await store.get_key(key.key_id)
    assert stored is not None
    assert stored.counter == 3
    if backend == "redis":
        # Redis and SQL share no transaction: the challenge stays consumed (documented in SplitStore).
        assert await store.consume_challenge(record.value) is None
    else:
        assert await store.consume_challenge(record.value) == record


async def test_expired_challenge_does_not_advance_the_counter(store: Store, now: datetime) -> None:
    key = apple_key(now)
    await store.insert_key(key)
    record = challenge(now, ttl=-1)
    await store.put_challenge(record)
    assert await store.consume_challenge_and_advance_counter(record.value, key.key_id, 1, now) == (
        record,
        CounterUpdate.SKIPPED,
    )
    stored = await store.get_key(key.key_id)
    assert stored is not None
    assert stored.counter == 0
    assert await store.consume_challenge(record.value) is None  # gone: it cannot be retried


# --- single-use session ids ---


async def test_session_id_is_used_once(store: Store, now: datetime) -> None:
    expires = now + timedelta(hours=1)
    assert await store.consume_session_id("jti-1", expires) is True
    assert await store.consume_session_id("jti-1", expires) is False
    assert await store.consume_session_id("jti-2", expires) is True


# --- session signing keys ---


async def test_session_keys(store: Store, now: datetime) -> None:
    old = SessionKeyRecord(kid="k1", private_jwk='{"kty":"EC"}', created_at=now - timedelta(days=2), retires_at=now)
    new = SessionKeyRecord(
        kid="k2", private_jwk='{"kty":"EC","crv":"P-256"}', created_at=now, retires_at=now + timedelta(days=2)
    )
    await store.add_session_key(new)
    await store.add_session_key(old)
    assert await store.session_keys() == [old, new]
    with pytest.raises(InputError) as caught:
        await store.add_session_key(old)
    assert caught.value.code == "input.invalid_argument"
    assert await store.delete_session_keys_retired_before(now) == 0  # strictly before
    assert await store.delete_session_keys_retired_before(now + timedelta(seconds=1)) == 1
    assert await store.session_keys() == [new]


# --- events ---


def event(
    at: datetime,
    *,
    action: str = "redeem",
    platform: str | None = "ios",
    outcome: str = "allow",
    reasons: tuple[str, ...] = (),
    enforced: bool = True,
    key_id: bytes | None = b"k" * 32,
    subject: str | None = "user-1",
) -> EventRecord:
    return EventRecord(
        at=at,
        action=action,
        platform=platform,
        outcome=outcome,
        tier="strong" if outcome == "allow" else "none",
        reasons=reasons,
        enforced=enforced,
        latency_ms=1.25,
        key_id=key_id,
        subject=subject,
        request_id=os.urandom(8).hex(),
    )


async def test_events_are_listed_newest_first_and_filtered(store: Store, now: datetime) -> None:
    t = [now - timedelta(minutes=10 - i) for i in range(6)]
    allowed = event(t[0])
    blocked = event(t[1], outcome="block", reasons=("apple.signature_invalid", "challenge.unknown"))
    android = event(t[2], platform="android", key_id=None, subject="user-2", action="login")
    observed = event(t[3], outcome="block", enforced=False, reasons=("play.device_integrity",), platform="android")
    anonymous = event(t[4], platform=None, key_id=None, subject=None, outcome="block", reasons=("input.malformed",))
    other_key = event(t[5], key_id=b"o" * 32)
    for record in (allowed, blocked, android, observed, anonymous, other_key):
        await store.record_event(record)

    assert await store.list_events() == [other_key, anonymous, observed, android, blocked, allowed]
    assert await store.list_events(limit=2) == [other_key, anonymous]
    assert await store.list_events(outcome="block") == [anonymous, observed, blocked]
    assert await store.list_events(action="login") == [android]
    assert await store.list_events(platform="android") == [observed, android]
    assert await store.list_events(platform=None) == [anonymous]
    assert await store.list_events(key_id=b"k" * 32, outcome="allow") == [allowed]
    assert await store.list_events(subject="user-2") == [android]
    assert await store.list_events(enforced=False) == [observed]
    assert await store.list_events(since=t[2], until=t[4]) == [observed, android]
    assert await store.list_events(action="nothing") == []


@pytest.mark.parametrize(
    ("filters", "limit"),
    [
        ({"colour": "red"}, 10),
        ({"action": 3}, 10),
        ({"enforced": "yes"}, 10),
        ({"key_id": "not bytes"}, 10),
        ({"since": "yesterday"}, 10),
        ({"outcome": True}, 10),
        ({}, 0),
    ],
)
async def test_list_events_refuses_bad_filters(store: Store, filters: dict[str, object], limit: int) -> None:
    with pytest.raises(InputError) as caught:
        await store.list_events(limit=limit, **filters)
    assert caught.value.code == "input.invalid_argument"


# --- misc ---


async def test_naive_datetimes_are_refused(store: Store, now: datetime) -> None:
    naive = now.replace(tzinfo=None)
    calls = [
        store.insert_key(apple_key(naive)),
        store.put_challenge(challenge(naive)),
        store.advance_counter(os.urandom(32), 1, naive),
        store.consume_session_id("jti", naive),
        store.record_event(event(naive)),
        store.purge_expired(naive),
        store.list_events(since=naive),
    ]
    for call in calls:
        with pytest.raises(InputError) as caught:
            await call
        assert caught.value.code == "input.invalid_argument"


async def test_times_come_back_as_the_same_utc_instant(store: Store, now: datetime) -> None:
    paris = timezone(timedelta(hours=1))
    record = apple_key(now.astimezone(paris))
    await store.insert_key(record)
    stored = await store.get_key(record.key_id)
    assert stored is not None
    assert stored.created_at == now
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_migrate_twice_keeps_data(store: Store, now: datetime) -> None:
    record = apple_key(now)
    await store.insert_key(record)
    await store.migrate()
    await store.migrate()
    assert await store.get_key(record.key_id) == record


async def test_ping(store: Store) -> None:
    await store.ping()
