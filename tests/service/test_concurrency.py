"""Races: 100 simultaneous uses of one assertion, and of one challenge, on every shared backend: exactly one wins."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from app_integrity.service import RequestFacts
from app_integrity.testing.protocol import ios_header
from tests.service.conftest import World, WorldFactory
from tests.storage.conftest import REDIS_URL

ATTEMPTS = 100
PATH = "/api/redeem"
BODY = b'{"coupon":"SAVE10"}'


async def _world(make_world: WorldFactory, backend: str, request: pytest.FixtureRequest) -> World:
    if backend == "sqlite":
        return await make_world()
    if backend == "postgresql":
        return await make_world(storage_url=request.getfixturevalue("pg_schema_url"))
    request.getfixturevalue("redis_prefix")  # skips (or fails in CI) when Redis is down
    return await make_world(redis_url=REDIS_URL)


BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


async def _race(world: World, headers: list[str]) -> Counter[str]:
    async def attempt(header: str) -> str:
        decision = await world.service.verify(
            action="redeem", request=RequestFacts.from_body("POST", PATH, BODY), header=header
        )
        return decision.outcome.value if decision.outcome.value == "allow" else decision.reasons[0]

    return Counter(await asyncio.gather(*(attempt(h) for h in headers)))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_one_assertion_used_100_times_at_once(
    make_world: WorldFactory, backend: str, request: pytest.FixtureRequest
) -> None:
    world = await _world(make_world, backend, request)
    device = world.iphone()
    key_id = await world.register_iphone(device)
    header = ios_header(device, key_id, challenge=await world.challenge(), method="POST", path=PATH, body=BODY)
    results = await _race(world, [header] * ATTEMPTS)
    assert results["allow"] == 1, results
    assert sum(results.values()) == ATTEMPTS


@pytest.mark.parametrize("backend", BACKENDS)
async def test_one_challenge_used_by_100_fresh_assertions_at_once(
    make_world: WorldFactory, backend: str, request: pytest.FixtureRequest
) -> None:
    world = await _world(make_world, backend, request)
    device = world.iphone()
    key_id = await world.register_iphone(device)
    challenge = await world.challenge()
    headers = [
        ios_header(device, key_id, challenge=challenge, method="POST", path=PATH, body=BODY) for _ in range(ATTEMPTS)
    ]
    results = await _race(world, headers)
    assert results["allow"] == 1, results
    assert set(results) <= {"allow", "challenge.unknown", "apple.counter_not_increasing"}
