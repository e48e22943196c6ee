"""Attacks through the HTTP API: each mounted against a running service (in-process ASGI, emulated devices, the
fake Google API) and answered with a block decision or a problem+json carrying the exact code."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from app_integrity.binding import build_binding, request_hash
from app_integrity.header import AndroidProof, format_header
from app_integrity.testing.android.keystore import EmulatedKeyStore
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.protocol import android_header, ios_header, session_header
from tests.attacks.corpus import record
from tests.service.conftest import ADMIN_TOKEN, PACKAGE, World, WorldFactory

ENFORCE = """
[policy.default]
mode = "enforce"
allow = "device"
limit = "basic"
require = ["app"]
on_unavailable = "limit"

[policy.actions.session]
mode = "enforce"
allow = "device"
limit = "device"
"""
PATH = "/api/redeem?item=42"
LOST_A_RACE = "challenge.unknown or apple.counter_not_increasing"
BODY = b'{"amount":5}'


@dataclass(frozen=True, slots=True)
class ServiceAttack:
    name: str
    platform: str
    code: str
    mount: Callable[[World], Awaitable[str]]


def blocked(decision: dict[str, Any]) -> str:
    """The code of a blocked decision (its first reason); an allowed or limited one fails the attack."""
    assert decision["outcome"] == "block", decision
    assert decision["enforced"] is True, decision
    reasons: list[str] = decision["reasons"]
    return reasons[0]


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    code: str = response.json()["code"]
    return code


async def _phone(world: World, *, subject: str | None = None) -> tuple[EmulatedAppAttestService, str]:
    device = world.iphone()
    return device, await world.register_iphone(device, subject=subject)


async def _ios_decide(
    world: World, header: str, *, body: bytes = BODY, path: str = PATH, subject: str | None = None
) -> str:
    return blocked(
        await world.verify(action="redeem", method="POST", path=path, body=body, header=header, subject=subject)
    )


async def _signed(world: World, device: EmulatedAppAttestService, key_id: str, **request: Any) -> str:
    challenge = request.pop("challenge", None) or await world.challenge()
    options: dict[str, Any] = {"method": "POST", "path": PATH, "body": BODY}
    options.update(request)
    return ios_header(device, key_id, challenge=challenge, **options)


# --- iOS ---------------------------------------------------------------------------------------------------------


async def replayed_assertion(world: World) -> str:
    device, key_id = await _phone(world)
    header = await _signed(world, device, key_id)
    assert (await world.verify(action="redeem", method="POST", path=PATH, body=BODY, header=header))[
        "outcome"
    ] == "allow"
    return await _ios_decide(world, header)


async def counter_rollback(world: World) -> str:
    device, key_id = await _phone(world)
    older = await _signed(world, device, key_id)
    newer = await _signed(world, device, key_id)
    assert (await world.verify(action="redeem", method="POST", path=PATH, body=BODY, header=newer))[
        "outcome"
    ] == "allow"
    return await _ios_decide(world, older)


async def challenge_reused(world: World) -> str:
    device, key_id = await _phone(world)
    challenge = await world.challenge()
    first = await _signed(world, device, key_id, challenge=challenge)
    assert (await world.verify(action="redeem", method="POST", path=PATH, body=BODY, header=first))[
        "outcome"
    ] == "allow"
    return await _ios_decide(world, await _signed(world, device, key_id, challenge=challenge))


async def challenge_twice_in_parallel(world: World) -> str:
    # Two genuine phones race one challenge: exactly one wins, the other is blocked.
    (first, first_id), (second, second_id) = await _phone(world), await _phone(world)
    challenge = await world.challenge()
    headers = [
        await _signed(world, first, first_id, challenge=challenge),
        await _signed(world, second, second_id, challenge=challenge),
    ]
    decisions = await asyncio.gather(
        *(world.verify(action="redeem", method="POST", path=PATH, body=BODY, header=h) for h in headers)
    )
    outcomes = sorted(d["outcome"] for d in decisions)
    assert outcomes == ["allow", "block"], decisions
    return blocked(next(d for d in decisions if d["outcome"] == "block"))


async def same_assertion_in_parallel(world: World) -> str:
    device, key_id = await _phone(world)
    header = await _signed(world, device, key_id)
    decisions = await asyncio.gather(
        *(world.verify(action="redeem", method="POST", path=PATH, body=BODY, header=header) for _ in range(4))
    )
    assert [d["outcome"] for d in decisions].count("allow") == 1, decisions
    # DESIGN §3: whoever loses either race (the challenge, or the counter) is blocked with that race's code.
    codes = {blocked(d) for d in decisions if d["outcome"] == "block"}
    assert codes <= {"challenge.unknown", "apple.counter_not_increasing"}, codes
    return LOST_A_RACE


async def registration_race(world: World) -> str:
    challenge = await world.challenge()
    bodies = []
    for _ in range(2):
        device = world.iphone()
        key_id = device.generate_key()
        bodies.append(
            {"keyId": key_id, "attestation": device.attest_key_async(key_id, challenge), "challenge": challenge}
        )
    responses = await asyncio.gather(*(world.client.post("/v1/apple/keys", json=b) for b in bodies))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 403], [r.text for r in responses]
    return problem(next(r for r in responses if r.status_code == 403), 403)


async def _register(world: World, device: EmulatedAppAttestService, *, key_id: str | None = None) -> httpx.Response:
    attested = device.generate_key()
    challenge = await world.challenge()
    body = {
        "keyId": key_id or attested,
        "attestation": device.attest_key_async(attested, challenge),
        "challenge": challenge,
    }
    return await world.client.post("/v1/apple/keys", json=body)


async def relayed_with_another_key_id(world: World) -> str:
    device = world.iphone()
    return problem(await _register(world, device, key_id=device.generate_key()), 403)


async def development_key(world: World) -> str:
    return problem(await _register(world, world.iphone(environment="development")), 403)


async def another_app(world: World) -> str:
    from app_integrity.apple import AppleApp

    rival = EmulatedAppAttestService(ca=world.apple_ca, app=AppleApp(team_id="RIVAL99999", bundle_id="com.example.app"))
    return problem(await _register(world, rival), 403)


async def registered_twice(world: World) -> str:
    device, key_id = await _phone(world)
    challenge = await world.challenge()
    body = {"keyId": key_id, "attestation": device.attest_key_async(key_id, challenge), "challenge": challenge}
    return problem(await world.client.post("/v1/apple/keys", json=body), 409)


async def unregistered_key(world: World) -> str:
    device = world.iphone()
    key_id = device.generate_key()
    return await _ios_decide(world, await _signed(world, device, key_id))


async def revoked_key(world: World) -> str:
    device, key_id = await _phone(world)
    path_id = base64.urlsafe_b64encode(base64.b64decode(key_id)).rstrip(b"=").decode()
    deleted = await world.client.delete(f"/v1/keys/{path_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert deleted.status_code == 204
    return await _ios_decide(world, await _signed(world, device, key_id))


async def body_swapped(world: World) -> str:
    device, key_id = await _phone(world)
    return await _ios_decide(world, await _signed(world, device, key_id), body=b'{"amount":5000}')


async def path_swapped(world: World) -> str:
    device, key_id = await _phone(world)
    return await _ios_decide(world, await _signed(world, device, key_id), path="/api/redeem?item=43")


async def method_swapped(world: World) -> str:
    device, key_id = await _phone(world)
    return await _ios_decide(world, await _signed(world, device, key_id, method="PUT"))


async def path_normalised(world: World) -> str:
    # The app signed a percent-encoded target; a proxy that decodes it changes what was signed.
    device, key_id = await _phone(world)
    return await _ios_decide(
        world, await _signed(world, device, key_id, path="/api/redeem?note=%7Ex"), path="/api/redeem?note=~x"
    )


async def expired_challenge(world: World) -> str:
    device, key_id = await _phone(world)
    header = await _signed(world, device, key_id)
    world.clock.advance(seconds=301)
    return await _ios_decide(world, header)


async def subject_bound_challenge(world: World) -> str:
    device, key_id = await _phone(world, subject="alice")
    challenge = await world.challenge(subject="mallory")
    return await _ios_decide(world, await _signed(world, device, key_id, challenge=challenge))


async def register_challenge_for_an_action(world: World) -> str:
    device, key_id = await _phone(world)
    challenge = await world.challenge(purpose="register")
    return await _ios_decide(world, await _signed(world, device, key_id, challenge=challenge))


async def invented_challenge(world: World) -> str:
    device, key_id = await _phone(world)
    return await _ios_decide(world, await _signed(world, device, key_id, challenge="A" * 43))


async def session_for_session(world: World) -> str:
    device, key_id = await _phone(world)
    challenge = await world.challenge()
    header = ios_header(device, key_id, challenge=challenge, method="POST", path="/v1/sessions", body=b"")
    issued = await world.client.post("/v1/sessions", headers={"App-Integrity": header})
    assert issued.status_code == 201, issued.text
    again = await world.client.post("/v1/sessions", headers={"App-Integrity": session_header(issued.json()["session"])})
    return problem(again, 403)


def _forged_session(header: dict[str, Any], key: ECKey | None = None) -> str:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": "app-integrity",
        "sub": "mallory",
        "platform": "ios",
        "tier": "strong",
        "jti": "x",
        "iat": now,
        "exp": now + 600,
    }
    signing = key or ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    return jwt.encode(header, claims, signing)


async def forged_session(world: World) -> str:
    token = _forged_session({"alg": "ES256", "kid": "attacker"})
    return blocked(
        await world.verify(action="redeem", method="POST", path=PATH, body=BODY, header=session_header(token))
    )


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


async def unsigned_session(world: World) -> str:
    token = _segment({"alg": "none"}) + "." + _segment({"sub": "mallory", "tier": "strong"}) + "."
    return blocked(
        await world.verify(action="redeem", method="POST", path=PATH, body=BODY, header=session_header(token))
    )


# --- Android -----------------------------------------------------------------------------------------------------


async def _android(
    world: World, device: EmulatedAndroidDevice, *, body: bytes = BODY, signed_body: bytes = BODY
) -> str:
    challenge = await world.challenge()
    header = android_header(device, challenge=challenge, method="POST", path=PATH, body=signed_body)
    return blocked(await world.verify(action="order", method="POST", path=PATH, body=body, header=header))


async def play_token_for_another_package(world: World) -> str:
    if "com.attacker.clone" not in world.play.apps:
        world.play.register_app("com.attacker.clone")
    device = EmulatedAndroidDevice(world.play, "com.attacker.clone")
    device.prepare_integrity_token_provider("123456789")
    return await _android(world, device)


async def replay_after_google_cleared(world: World) -> str:
    # The same token sent to a second request over a new challenge: Google clears it (and the hash differs).
    challenge = await world.challenge()
    header = android_header(world.android(), challenge=challenge, method="POST", path=PATH, body=BODY)
    first = await world.verify(action="order", method="POST", path=PATH, body=BODY, header=header)
    assert first["outcome"] == "allow", first
    return blocked(await world.verify(action="order", method="POST", path=PATH, body=BODY, header=header))


async def request_hash_of_another_request(world: World) -> str:
    return await _android(world, world.android(), signed_body=b'{"sku":"cheap"}', body=b'{"sku":"expensive"}')


async def stale_token(world: World) -> str:
    challenge = await world.challenge()
    token = world.android().request_integrity_check(
        request_hash(build_binding(challenge, "POST", PATH, BODY)), now=datetime.now(UTC) - timedelta(minutes=20)
    )
    header = format_header(AndroidProof(challenge=challenge, token=token))
    return blocked(await world.verify(action="order", method="POST", path=PATH, body=BODY, header=header))


async def token_not_from_google(world: World) -> str:
    header = format_header(AndroidProof(challenge=await world.challenge(), token="eyJhbGciOiJub25lIn0.e30.x.y.z"))
    return blocked(await world.verify(action="order", method="POST", path=PATH, body=BODY, header=header))


def _profile(name: str) -> Callable[[World], Awaitable[str]]:
    async def mount(world: World) -> str:
        return await _android(world, world.android(name))

    return mount


async def _register_android(world: World, keystore: EmulatedKeyStore, **options: Any) -> httpx.Response:
    challenge = options.pop("challenge", None) or await world.challenge()
    settings: dict[str, Any] = {
        "challenge": challenge,
        "package_name": PACKAGE,
        "signing_digests": [world.play_app.certificate_sha256],
    }
    settings.update(options)
    attested = keystore.generate_key(**settings)
    return await world.client.post("/v1/android/keys", json={"chain": list(attested.chain), "challenge": challenge})


async def hardware_key_for_another_app(world: World) -> str:
    return problem(await _register_android(world, world.keystore, package_name="com.evil.clone"), 403)


async def hardware_key_from_lookalike_root(world: World) -> str:
    return problem(await _register_android(world, EmulatedKeyStore()), 403)


async def hardware_key_for_an_old_challenge(world: World) -> str:
    challenge = await world.challenge()
    attested = world.keystore.generate_key(
        challenge="old", package_name=PACKAGE, signing_digests=[world.play_app.certificate_sha256]
    )
    return problem(
        await world.client.post("/v1/android/keys", json={"chain": list(attested.chain), "challenge": challenge}), 403
    )


async def hardware_key_unlocked_bootloader(world: World) -> str:
    # Posture, not forgery: the chain is genuine, so the key is kept with the tier it earns (basic), but the
    # session policy (allow and limit at device) blocks the session it would have carried.
    response = await _register_android(world, world.keystore, device_locked=False)
    assert response.status_code == 201, response.text
    assert response.json()["tier"] == "basic"
    assert response.json()["session"] is None
    event = (await world.service.store.list_events(limit=1))[0]
    assert event.outcome == "block", event
    return "android.bootloader_unlocked" if "android.bootloader_unlocked" in event.reasons else event.reasons[0]


# --- HTTP --------------------------------------------------------------------------------------------------------


async def crlf_in_header(world: World) -> str:
    device, key_id = await _phone(world)
    header = await _signed(world, device, key_id)
    return await _ios_decide(world, header + "\r\nX-Admin: 1")


async def smuggled_second_proof(world: World) -> str:
    device, key_id = await _phone(world)
    header = await _signed(world, device, key_id)
    return await _ios_decide(world, header + ', token="eyJ.a.b.c.d"')


async def two_header_lines(world: World) -> str:
    device, key_id = await _phone(world)
    first = ios_header(device, key_id, challenge=await world.challenge(), method="POST", path="/v1/sessions")
    second = ios_header(device, key_id, challenge=await world.challenge(), method="POST", path="/v1/sessions")
    response = await world.client.post("/v1/sessions", headers=[("App-Integrity", first), ("App-Integrity", second)])
    return problem(response, 403) if response.status_code == 403 else problem(response, 400)


async def oversized_body(world: World) -> str:
    return problem(
        await world.client.post(
            "/v1/challenges",
            content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
            headers={"Content-Type": "application/json"},
        ),
        413,
    )


async def oversized_body_chunked(world: World) -> str:
    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 65536

    return problem(
        await world.client.post("/v1/verify", content=chunks(), headers={"Content-Type": "application/json"}), 413
    )


async def oversized_header_field(world: World) -> str:
    return await _ios_decide(world, 'v=1, platform=android, challenge="c", token="' + "A" * 9000 + '"')


async def oversized_headers(world: World) -> str:
    headers = {f"X-Pad-{i}": "A" * 4000 for i in range(10)}
    return problem(await world.client.post("/v1/challenges", json={}, headers=headers), 431)


async def verify_body_not_json(world: World) -> str:
    return problem(
        await world.client.post("/v1/verify", content=b"action=redeem", headers={"Content-Type": "application/json"}),
        400,
    )


async def admin_with_a_wrong_token(world: World) -> str:
    response = await world.client.get("/v1/keys", headers={"Authorization": "Bearer guess"})
    return problem(response, response.status_code if response.status_code in (401, 403) else 403)


IOS = "ios"
ANDROID = "android"
HTTP = "http"
ATTACKS: list[ServiceAttack] = [
    ServiceAttack("replayed assertion", IOS, "apple.counter_not_increasing", replayed_assertion),
    ServiceAttack("counter rollback", IOS, "apple.counter_not_increasing", counter_rollback),
    ServiceAttack("challenge reused with a fresh assertion", IOS, "challenge.unknown", challenge_reused),
    ServiceAttack("challenge used twice in parallel", IOS, "challenge.unknown", challenge_twice_in_parallel),
    ServiceAttack("one assertion sent four times in parallel", IOS, LOST_A_RACE, same_assertion_in_parallel),
    ServiceAttack("registration challenge raced by two phones", IOS, "challenge.unknown", registration_race),
    ServiceAttack("attestation relayed with another key id", IOS, "apple.key_id_mismatch", relayed_with_another_key_id),
    ServiceAttack("development key into a production-only app", IOS, "apple.wrong_environment", development_key),
    ServiceAttack("attestation from another team's app", IOS, "apple.app_id_mismatch", another_app),
    ServiceAttack("key registered twice", IOS, "key.already_registered", registered_twice),
    ServiceAttack("assertion from an unregistered key", IOS, "key.unknown", unregistered_key),
    ServiceAttack("assertion from a revoked key", IOS, "key.revoked", revoked_key),
    ServiceAttack("body swapped after signing", IOS, "apple.signature_invalid", body_swapped),
    ServiceAttack("path swapped after signing", IOS, "apple.signature_invalid", path_swapped),
    ServiceAttack("method swapped after signing", IOS, "apple.signature_invalid", method_swapped),
    ServiceAttack("percent-encoding decoded by a proxy", IOS, "apple.signature_invalid", path_normalised),
    ServiceAttack("expired challenge", IOS, "challenge.expired", expired_challenge),
    ServiceAttack("challenge bound to another subject", IOS, "challenge.subject_mismatch", subject_bound_challenge),
    ServiceAttack(
        "registration challenge used for an action", IOS, "challenge.purpose_mismatch", register_challenge_for_an_action
    ),
    ServiceAttack("challenge never issued", IOS, "challenge.unknown", invented_challenge),
    ServiceAttack("session exchanged for a session", IOS, "session.not_exchangeable", session_for_session),
    ServiceAttack("session signed by an attacker key", IOS, "session.invalid", forged_session),
    ServiceAttack("session with alg none", IOS, "session.invalid", unsigned_session),
    ServiceAttack("Play token for another package", ANDROID, "play.token_rejected", play_token_for_another_package),
    ServiceAttack("token replayed after Google cleared it", ANDROID, "challenge.unknown", replay_after_google_cleared),
    ServiceAttack(
        "requestHash from another request", ANDROID, "play.request_hash_mismatch", request_hash_of_another_request
    ),
    ServiceAttack("stale timestamp", ANDROID, "play.timestamp_stale", stale_token),
    ServiceAttack("token Google cannot decode", ANDROID, "play.token_rejected", token_not_from_google),
    ServiceAttack("testing response in production", ANDROID, "play.testing_response", _profile("testing")),
    ServiceAttack("uncertified emulator", ANDROID, "play.no_device_integrity", _profile("emulator")),
    ServiceAttack("repackaged app", ANDROID, "play.app_unrecognized", _profile("sideloaded")),
    ServiceAttack("hardware key for another app", ANDROID, "android.package_mismatch", hardware_key_for_another_app),
    ServiceAttack(
        "hardware key from a look-alike root", ANDROID, "android.root_not_trusted", hardware_key_from_lookalike_root
    ),
    ServiceAttack(
        "hardware key for an old challenge", ANDROID, "android.challenge_mismatch", hardware_key_for_an_old_challenge
    ),
    ServiceAttack(
        "hardware key from an unlocked bootloader",
        ANDROID,
        "android.bootloader_unlocked",
        hardware_key_unlocked_bootloader,
    ),
    ServiceAttack("CR LF injected into the header", HTTP, "header.malformed", crlf_in_header),
    ServiceAttack("second proof smuggled into the header", HTTP, "header.unknown_member", smuggled_second_proof),
    ServiceAttack("two App-Integrity header lines", HTTP, "header.duplicate_member", two_header_lines),
    ServiceAttack("oversized body", HTTP, "input.too_large", oversized_body),
    ServiceAttack("oversized chunked body", HTTP, "input.too_large", oversized_body_chunked),
    ServiceAttack("oversized App-Integrity value", HTTP, "header.too_large", oversized_header_field),
    ServiceAttack("oversized request headers", HTTP, "input.header_too_large", oversized_headers),
    ServiceAttack("verify body that is not JSON", HTTP, "input.malformed", verify_body_not_json),
    ServiceAttack("admin route with a guessed token", HTTP, "admin.unauthorized", admin_with_a_wrong_token),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_attack_is_refused(make_world: WorldFactory, attack: ServiceAttack) -> None:
    world = await make_world(extra=ENFORCE)
    assert await attack.mount(world) == attack.code
    record(f"service-{attack.platform}")
