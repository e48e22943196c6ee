"""Android through the HTTP API: Standard tokens via the fake Google API, each device profile to its decision,
Google down to ``on_unavailable``, and hardware key registration."""

from __future__ import annotations

from typing import Any

import pytest

from app_integrity.testing.protocol import android_header
from tests.service.conftest import PACKAGE, World, WorldFactory

ENFORCE = """
[policy.default]
mode = "enforce"
allow = "device"
limit = "basic"
require = ["app"]
on_unavailable = "limit"

[policy.actions.purchase]
require = ["app", "licensing"]
"""
PATH = "/api/orders"
BODY = b'{"sku":"coins-100"}'


async def _decide(world: World, profile: str, *, action: str = "order") -> dict[str, Any]:
    challenge = await world.challenge()
    header = android_header(world.android(profile), challenge=challenge, method="POST", path=PATH, body=BODY)
    return await world.verify(action=action, method="POST", path=PATH, body=BODY, header=header)


@pytest.mark.parametrize(
    ("profile", "outcome", "tier", "reasons"),
    [
        ("genuine", "allow", "device", []),
        ("strong", "allow", "strong", []),
        ("strong_android12", "allow", "device", []),
        ("rooted", "limit", "basic", ["policy.below_allow"]),
        (
            "emulator",
            "block",
            "none",
            [
                "play.no_device_integrity",
                "play.app_unrecognized",
                "play.app_package_mismatch",
                "play.certificate_mismatch",
                "play.unlicensed",
                "policy.required_app",
                "policy.below_limit",
            ],
        ),
        (
            "sideloaded",
            "block",
            "none",
            ["play.app_unrecognized", "play.certificate_mismatch", "policy.required_app", "policy.below_limit"],
        ),
        ("unlicensed", "allow", "device", ["play.unlicensed"]),
        ("play_protect_off", "allow", "device", ["play.play_protect_off"]),
        ("play_protect_high_risk", "allow", "device", ["play.play_protect_risk"]),
        ("risky_apps", "allow", "device", ["play.risky_apps_detected"]),
        ("token_farm", "allow", "device", ["play.device_activity_high"]),
        ("testing", "block", "none", ["play.testing_response"]),
    ],
)
async def test_each_profile_gets_its_decision(
    make_world: WorldFactory, profile: str, outcome: str, tier: str, reasons: list[str]
) -> None:
    world = await make_world(extra=ENFORCE)
    decision = await _decide(world, profile)
    assert decision == {
        "outcome": outcome,
        "tier": tier,
        "reasons": reasons,
        "platform": "android",
        "keyId": None,
        "enforced": True,
    }


async def test_required_licensing_turns_a_failed_check_into_a_block(make_world: WorldFactory) -> None:
    world = await make_world(extra=ENFORCE)
    decision = await _decide(world, "unlicensed", action="purchase")
    assert decision["outcome"] == "block"
    assert decision["reasons"] == ["play.unlicensed", "policy.required_licensing", "policy.below_limit"]
    assert (await _decide(world, "genuine", action="purchase"))["outcome"] == "allow"


async def test_token_for_another_request_is_blocked(world: World) -> None:
    challenge = await world.challenge()
    header = android_header(world.android(), challenge=challenge, method="POST", path=PATH, body=BODY)
    decision = await world.verify(action="order", method="POST", path=PATH, body=b'{"sku":"coins-999"}', header=header)
    assert decision["outcome"] == "block"
    assert decision["reasons"] == ["play.request_hash_mismatch"]


async def test_token_decoded_twice_is_cleared_by_google(world: World) -> None:
    challenge = await world.challenge()
    header = android_header(world.android(), challenge=challenge, method="POST", path=PATH, body=BODY)
    first = await world.verify(action="order", method="POST", path=PATH, body=BODY, header=header)
    assert first["tier"] == "device"
    again = await world.verify(action="order", method="POST", path=PATH, body=BODY, header=header)
    # Google's replay protection clears the verdict; the challenge is gone too.
    assert again["outcome"] == "block"
    assert again["tier"] == "none"


async def test_google_down_uses_on_unavailable(make_world: WorldFactory) -> None:
    world = await make_world(extra=ENFORCE)
    world.google.api.fail_next(500, times=10)
    try:
        decision = await _decide(world, "genuine")
    finally:
        world.google.api.faults.clear()
    assert decision["outcome"] == "limit"
    assert decision["tier"] == "none"
    assert decision["reasons"] == ["google.unavailable"]
    assert (await _decide(world, "genuine"))["outcome"] == "allow"


async def test_hardware_key_registration_returns_a_session(world: World) -> None:
    challenge = await world.challenge()
    attested = world.keystore.generate_key(
        challenge=challenge, package_name=PACKAGE, signing_digests=[world.play_app.certificate_sha256]
    )
    response = await world.client.post(
        "/v1/android/keys", json={"chain": list(attested.chain), "challenge": challenge, "subject": "user-7"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["tier"] == "device"
    assert body["session"]
    keys = await world.service.store.list_keys(subject="user-7")
    assert [k.kind.value for k in keys] == ["android"]


async def test_hardware_key_for_another_app_is_refused(world: World) -> None:
    challenge = await world.challenge()
    attested = world.keystore.generate_key(
        challenge=challenge, package_name="com.evil.clone", signing_digests=[world.play_app.certificate_sha256]
    )
    response = await world.client.post("/v1/android/keys", json={"chain": list(attested.chain), "challenge": challenge})
    assert response.status_code == 403
    assert response.json()["code"] == "android.package_mismatch"


async def test_hardware_key_with_unlocked_bootloader_earns_basic(make_world: WorldFactory) -> None:
    world = await make_world(extra=ENFORCE)
    challenge = await world.challenge()
    attested = world.keystore.generate_key(
        challenge=challenge,
        package_name=PACKAGE,
        signing_digests=[world.play_app.certificate_sha256],
        device_locked=False,
    )
    response = await world.client.post("/v1/android/keys", json={"chain": list(attested.chain), "challenge": challenge})
    assert response.status_code == 201
    # Basic is at the session policy's limit: a session comes back, carrying the lower tier for later actions.
    assert response.json()["tier"] == "basic"
    assert response.json()["session"]
    events = await world.service.store.list_events(limit=1)
    assert events[0].outcome == "limit"
    assert "android.bootloader_unlocked" in events[0].reasons
