"""Google's Play Integrity API misbehaving while the service runs: every fault is ``google.unavailable`` and the
action's ``on_unavailable`` decision, never a verdict on the proof; the next request after it recovers is judged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app_integrity.testing.android.fake_google import FakeGoogleServer
from app_integrity.testing.protocol import android_header
from tests.service.conftest import World, WorldFactory

POLICIES = """
[policy.default]
mode = "enforce"
allow = "device"
limit = "basic"
on_unavailable = "limit"

[policy.actions.payout]
on_unavailable = "block"

[policy.actions.browse]
on_unavailable = "allow"
"""
PATH = "/api/orders"
BODY = b'{"sku":"coins-100"}'


@pytest.fixture
def clean_google(google: FakeGoogleServer) -> Iterator[FakeGoogleServer]:
    yield google
    google.api.faults.clear()
    google.api.garbage = 0
    google.api.latency = 0.0


async def _decide(world: World, action: str) -> dict[str, Any]:
    challenge = await world.challenge()
    header = android_header(world.android(), challenge=challenge, method="POST", path=PATH, body=BODY)
    return await world.verify(action=action, method="POST", path=PATH, body=BODY, header=header)


def _inject(google: FakeGoogleServer, fault: str) -> None:
    if fault == "timeout":
        google.api.latency = 6.0  # past the decoder's 5 s deadline
    elif fault == "garbage":
        google.api.answer_garbage_next(10)
    else:
        google.api.fail_next(int(fault), times=10)


ACTIONS = [("order", "limit"), ("payout", "block"), ("browse", "allow")]
# Every fault under every on_unavailable choice; the timeout (5 s each) under one of them only.
CASES = [(fault, *action) for fault in ("429", "500", "503", "garbage") for action in ACTIONS] + [
    ("timeout", "order", "limit")
]


@pytest.mark.parametrize(("fault", "action", "outcome"), CASES)
async def test_google_fault_gives_the_on_unavailable_decision(
    make_world: WorldFactory, clean_google: FakeGoogleServer, fault: str, action: str, outcome: str
) -> None:
    world = await make_world(extra=POLICIES)
    _inject(clean_google, fault)
    decision = await _decide(world, action)
    assert decision["outcome"] == outcome
    assert decision["tier"] == "none"
    assert decision["reasons"] == ["google.unavailable"]
    events = await world.service.store.list_events(limit=1)
    assert list(events[0].reasons) == ["google.unavailable"]
    # Recovery: the fault is gone, the next proof is judged on its merits.
    clean_google.api.faults.clear()
    clean_google.api.garbage = 0
    clean_google.api.latency = 0.0
    recovered = await _decide(world, action)
    assert recovered["outcome"] == "allow"
    assert recovered["tier"] == "device"
