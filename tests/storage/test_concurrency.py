"""Races: 100 simultaneous attempts at one single-use thing, exactly one wins.

The attempts are split over two stores opened on the same data, as two server processes would be: the
in-process write lock of the SQLite backend then cannot be what makes the race safe, the database must.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import pytest

from app_integrity.storage.base import ChallengeRecord, CounterUpdate, KeyKind, KeyRecord, Store
from tests.storage.conftest import SHARED_BACKENDS, StoreFactory

ATTEMPTS = 100
T = TypeVar("T")

pytestmark = pytest.mark.parametrize("backend", [*SHARED_BACKENDS, "memory"], indirect=True)


@pytest.fixture
async def stores(open_backend: StoreFactory, backend: str) -> AsyncIterator[list[Store]]:
    opened = [open_backend()] if backend == "memory" else [open_backend(), open_backend()]
    await opened[0].migrate()
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


async def race(stores: list[Store], attempt: Callable[[Store], Awaitable[T]]) -> list[T]:
    start = asyncio.Event()

    async def one(index: int) -> T:
        await start.wait()
        return await attempt(stores[index % len(stores)])

    tasks = [asyncio.create_task(one(i)) for i in range(ATTEMPTS)]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


async def registered_key(store: Store, now: datetime) -> bytes:
    key_id = os.urandom(32)
    await store.insert_key(KeyRecord(key_id=key_id, kind=KeyKind.APPLE, public_key=b"\x04" + bytes(64), created_at=now))
    return key_id


async def issued_challenge(store: Store, now: datetime) -> ChallengeRecord:
    record = ChallengeRecord(value=os.urandom(32).hex(), expires_at=now + timedelta(minutes=5))
    await store.put_challenge(record)
    return record


async def test_one_challenge_is_consumed_once(stores: list[Store], now: datetime) -> None:
    record = await issued_challenge(stores[0], now)
    results = await race(stores, lambda s: s.consume_challenge(record.value))
    assert [r for r in results if r is not None] == [record]


async def test_one_counter_value_advances_once(stores: list[Store], now: datetime) -> None:
    key_id = await registered_key(stores[0], now)
    results = await race(stores, lambda s: s.advance_counter(key_id, 7, now))
    assert Counter(results) == {CounterUpdate.ADVANCED: 1, CounterUpdate.NOT_INCREASING: ATTEMPTS - 1}


async def test_one_assertion_with_one_challenge_wins_once(stores: list[Store], now: datetime) -> None:
    # The same request sent 100 times: same challenge, same counter.
    key_id = await registered_key(stores[0], now)
    record = await issued_challenge(stores[0], now)
    results = await race(stores, lambda s: s.consume_challenge_and_advance_counter(record.value, key_id, 1, now))
    assert Counter(results) == {(record, CounterUpdate.ADVANCED): 1, (None, CounterUpdate.SKIPPED): ATTEMPTS - 1}


async def test_one_counter_value_with_distinct_challenges_wins_once(stores: list[Store], now: datetime) -> None:
    # 100 requests each with its own challenge but the same counter: one advances; the others lose the counter.
    key_id = await registered_key(stores[0], now)
    records = [await issued_challenge(stores[0], now) for _ in range(ATTEMPTS)]
    pending = iter(records)
    results = await race(stores, lambda s: s.consume_challenge_and_advance_counter(next(pending).value, key_id, 1, now))
    assert Counter(outcome for _, outcome in results) == {
        CounterUpdate.ADVANCED: 1,
        CounterUpdate.NOT_INCREASING: ATTEMPTS - 1,
    }
    stored = await stores[0].get_key(key_id)
    assert stored is not None
    assert stored.counter == 1


async def test_one_session_id_is_used_once(stores: list[Store], now: datetime) -> None:
    results = await race(stores, lambda s: s.consume_session_id("jti-race", now + timedelta(hours=1)))
    assert results.count(True) == 1


async def test_losing_counters_leave_the_challenge_unused(stores: list[Store], now: datetime, backend: str) -> None:
    # 100 replays of an old assertion (counter not above the stored one) carrying one live challenge: every one
    # loses the counter, so none may use up the challenge, and none may wait forever on another's rollback.
    key_id = await registered_key(stores[0], now)
    assert await stores[0].advance_counter(key_id, 5, now) is CounterUpdate.ADVANCED
    record = await issued_challenge(stores[0], now)
    results = await race(stores, lambda s: s.consume_challenge_and_advance_counter(record.value, key_id, 5, now))
    if backend == "redis":
        # Redis and SQL share no transaction: the first consumer used the challenge up (see SplitStore).
        assert Counter(results) == {
            (record, CounterUpdate.NOT_INCREASING): 1,
            (None, CounterUpdate.SKIPPED): ATTEMPTS - 1,
        }
        assert await stores[0].consume_challenge(record.value) is None
    else:
        assert Counter(results) == {(record, CounterUpdate.NOT_INCREASING): ATTEMPTS}
        assert await stores[0].consume_challenge(record.value) == record
