"""iOS through the HTTP API: registration, gated requests and every way a proof can fail."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.protocol import ios_header
from tests.service.conftest import ADMIN_TOKEN, World, WorldFactory

ENFORCE_REDEEM = """
[policy.actions.redeem]
mode = "enforce"
allow = "strong"
"""
PATH = "/api/redeem?item=42&note=a%20b"
BODY = b'{"amount":5}'


@dataclass
class Phone:
    world: World
    device: EmulatedAppAttestService
    key_id: str

    async def header(self, *, body: bytes = BODY, path: str = PATH, challenge: str | None = None) -> str:
        challenge = challenge if challenge is not None else await self.world.challenge()
        return ios_header(self.device, self.key_id, challenge=challenge, method="POST", path=path, body=body)

    async def decide(
        self, header: str, *, body: bytes = BODY, path: str = PATH, action: str = "redeem"
    ) -> dict[str, Any]:
        return await self.world.verify(action=action, method="POST", path=path, body=body, header=header)


async def _phone(world: World, *, subject: str | None = None, environment: str = "production") -> Phone:
    device = world.iphone(environment=environment)
    return Phone(world, device, await world.register_iphone(device, subject=subject))


async def test_register_then_allowed(make_world: WorldFactory) -> None:
    world = await make_world(extra=ENFORCE_REDEEM)
    phone = await _phone(world, subject="user-1")
    decision = await phone.decide(await phone.header())
    assert decision == {
        "outcome": "allow",
        "tier": "strong",
        "reasons": [],
        "platform": "ios",
        "keyId": phone.key_id,
        "enforced": True,
    }


async def test_registration_answers_key_id_and_environment(world: World) -> None:
    device = world.iphone()
    key_id = device.generate_key()
    challenge = await world.challenge()
    response = await world.client.post(
        "/v1/apple/keys",
        json={"keyId": key_id, "attestation": device.attest_key_async(key_id, challenge), "challenge": challenge},
    )
    assert response.status_code == 201
    assert response.json() == {"keyId": key_id, "environment": "production"}
    again = await world.client.post(
        "/v1/apple/keys",
        json={"keyId": key_id, "attestation": device.attest_key_async(key_id, challenge), "challenge": challenge},
    )
    # The challenge was consumed by the first registration.
    assert again.status_code == 403
    assert again.json()["code"] == "challenge.unknown"


async def test_key_registered_twice_is_refused(world: World) -> None:
    device = world.iphone()
    key_id = device.generate_key()
    for expected in (201, 409):
        challenge = await world.challenge()
        response = await world.client.post(
            "/v1/apple/keys",
            json={"keyId": key_id, "attestation": device.attest_key_async(key_id, challenge), "challenge": challenge},
        )
        assert response.status_code == expected
    assert response.json()["code"] == "key.already_registered"
    assert response.headers["content-type"] == "application/problem+json"


async def test_replayed_request_is_blocked(make_world: WorldFactory) -> None:
    world = await make_world(extra=ENFORCE_REDEEM)
    phone = await _phone(world)
    header = await phone.header()
    assert (await phone.decide(header))["outcome"] == "allow"
    replay = await phone.decide(header)
    assert replay["outcome"] == "block"
    # The assertion's counter is no longer above the stored one: caught before the challenge is looked at.
    assert replay["reasons"] == ["apple.counter_not_increasing"]


async def test_reused_challenge_is_blocked(world: World) -> None:
    phone = await _phone(world)
    challenge = await world.challenge()
    assert (await phone.decide(await phone.header(challenge=challenge)))["outcome"] == "allow"
    # A fresh assertion (higher counter) over the same challenge: the challenge is single use.
    decision = await phone.decide(await phone.header(challenge=challenge))
    assert decision["reasons"] == ["challenge.unknown"]


async def test_body_changed_after_signing_is_blocked(world: World) -> None:
    phone = await _phone(world)
    decision = await phone.decide(await phone.header(body=b'{"amount":5}'), body=b'{"amount":500}')
    assert decision["outcome"] == "block"
    assert decision["reasons"] == ["apple.signature_invalid"]


async def test_path_changed_is_blocked(world: World) -> None:
    phone = await _phone(world)
    decision = await phone.decide(await phone.header(path="/api/redeem?item=42"), path="/api/redeem?item=43")
    assert decision["reasons"] == ["apple.signature_invalid"]


async def test_unissued_challenge_is_blocked(world: World) -> None:
    phone = await _phone(world)
    decision = await phone.decide(await phone.header(challenge="made-up-by-the-client"))
    assert decision["outcome"] == "block"
    assert decision["reasons"] == ["challenge.unknown"]


async def test_expired_challenge_is_blocked(world: World) -> None:
    phone = await _phone(world)
    header = await phone.header()
    world.clock.advance(seconds=301)
    decision = await phone.decide(header)
    assert decision["reasons"] == ["challenge.expired"]


async def test_revoked_key_is_blocked(world: World) -> None:
    phone = await _phone(world)
    path_id = base64.urlsafe_b64encode(base64.b64decode(phone.key_id)).rstrip(b"=").decode()
    response = await world.client.delete(f"/v1/keys/{path_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 204
    decision = await phone.decide(await phone.header())
    assert decision["reasons"] == ["key.revoked"]


async def test_unknown_key_is_blocked(world: World) -> None:
    phone = await _phone(world)
    stranger = Phone(world, world.iphone(), "")
    stranger.key_id = stranger.device.generate_key()
    decision = await phone.decide(await stranger.header())
    assert decision["reasons"] == ["key.unknown"]


async def test_development_key_refused_by_production_only_app(world: World) -> None:
    device = world.iphone(environment="development")
    key_id = device.generate_key()
    challenge = await world.challenge()
    response = await world.client.post(
        "/v1/apple/keys",
        json={"keyId": key_id, "attestation": device.attest_key_async(key_id, challenge), "challenge": challenge},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "apple.wrong_environment"


async def test_development_key_registered_earlier_is_blocked_once_development_is_off(
    make_world: WorldFactory,
) -> None:
    lenient = await make_world(allow_development=True, folder="shared")
    phone = await _phone(lenient, environment="development")
    assert (await phone.decide(await phone.header()))["outcome"] == "allow"
    strict = await make_world(allow_development=False, folder="shared")
    phone.world = strict
    decision = await phone.decide(await phone.header())
    assert decision["reasons"] == ["apple.wrong_environment"]


async def test_challenge_bound_to_subject(world: World) -> None:
    phone = await _phone(world, subject="alice")
    for_bob = await world.challenge(subject="bob")
    decision = await phone.decide(await phone.header(challenge=for_bob))
    assert decision["reasons"] == ["challenge.subject_mismatch"]
    for_alice = await world.challenge(subject="alice")
    assert (await phone.decide(await phone.header(challenge=for_alice)))["outcome"] == "allow"


async def test_challenge_bound_to_purpose(world: World) -> None:
    phone = await _phone(world)
    for_login = await world.challenge(purpose="login")
    decision = await phone.decide(await phone.header(challenge=for_login), action="redeem")
    assert decision["reasons"] == ["challenge.purpose_mismatch"]
    for_redeem = await world.challenge(purpose="redeem")
    assert (await phone.decide(await phone.header(challenge=for_redeem)))["outcome"] == "allow"


async def test_observe_mode_records_but_does_not_enforce(world: World) -> None:
    phone = await _phone(world)
    decision = await phone.decide(await phone.header(), body=b"tampered")
    assert decision["outcome"] == "block"
    assert decision["enforced"] is False
    events = await world.service.store.list_events(limit=10)
    assert events[0].outcome == "block"
    assert events[0].reasons == ("apple.signature_invalid",)
    assert events[0].enforced is False


async def test_missing_and_malformed_headers_get_a_decision(world: World) -> None:
    missing = await world.verify(action="redeem", method="GET", path="/", body=b"", header=None)
    assert missing["outcome"] == "block"
    assert missing["tier"] == "none"
    assert "header.missing" in missing["reasons"]
    malformed = await world.verify(action="redeem", method="GET", path="/", body=b"", header="v=1, platform=ios")
    assert malformed["outcome"] == "block"
    assert malformed["reasons"] == ["header.missing_member"]
    oversized = await world.verify(action="redeem", method="GET", path="/", body=b"", header="v=1" + " " * 9000)
    assert oversized["reasons"] == ["header.too_large"]


async def test_payload_mode(world: World) -> None:
    phone = await _phone(world)
    challenge = await world.challenge()
    payload = f'{{"challenge":"{challenge}","order":7}}'
    assertion = phone.device.generate_assertion_async(phone.key_id, payload)
    body = {"keyId": phone.key_id, "assertion": assertion, "payload": payload, "action": "redeem"}
    response = await world.client.post("/v1/apple/assertions", json=body)
    assert response.status_code == 200
    assert response.json()["decision"]["outcome"] == "allow"
    assert response.json()["payload"] == {"challenge": challenge, "order": 7}
    replay = await world.client.post("/v1/apple/assertions", json=body)
    assert replay.json()["decision"]["reasons"] == ["apple.counter_not_increasing"]
    body["assertion"] = phone.device.generate_assertion_async(phone.key_id, payload)
    reused = await world.client.post("/v1/apple/assertions", json=body)
    assert reused.json()["decision"]["reasons"] == ["challenge.unknown"]
