"""Sessions: exchanged for a proof bound to ``POST /v1/sessions``, verified by any JWT library against the JWKS."""

from __future__ import annotations

import base64
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet

from app_integrity.testing.protocol import android_header, ios_header, session_header
from tests.service.conftest import ADMIN_TOKEN, World, WorldFactory

SESSION_PATH = "/v1/sessions"


async def _ios_session(world: World, *, subject: str | None = "user-1") -> tuple[str, str]:
    device = world.iphone()
    key_id = await world.register_iphone(device, subject=subject)
    challenge = await world.challenge()
    body = b'{"hello":"world"}'
    header = ios_header(device, key_id, challenge=challenge, method="POST", path=SESSION_PATH, body=body)
    response = await world.client.post(SESSION_PATH, content=body, headers={"App-Integrity": header})
    assert response.status_code == 201, response.text
    token: str = response.json()["session"]
    return token, key_id


async def _use(world: World, token: str, action: str = "redeem") -> dict[str, Any]:
    return await world.verify(action=action, method="GET", path="/x", body=b"", header=session_header(token))


async def test_session_is_a_jwt_verifiable_against_the_jwks(world: World) -> None:
    token, key_id = await _ios_session(world)
    jwks = (await world.client.get("/.well-known/jwks.json")).json()
    assert all("d" not in key for key in jwks["keys"])
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    claims = decoded.claims
    assert claims["iss"] == "app-integrity"
    assert claims["sub"] == "user-1"
    assert claims["platform"] == "ios"
    assert claims["key_id"] == key_id
    assert claims["tier"] == "strong"
    assert claims["exp"] - claims["iat"] == 3600
    assert set(claims) >= {"jti", "iat", "exp"}


async def test_session_authorises_requests_until_it_expires(world: World) -> None:
    token, key_id = await _ios_session(world)
    decision = await _use(world, token)
    assert decision["outcome"] == "allow"
    assert decision["tier"] == "strong"
    assert decision["keyId"] == key_id
    world.clock.advance(seconds=3601)
    assert (await _use(world, token))["reasons"] == ["session.expired"]


async def test_single_use_sessions(make_world: WorldFactory) -> None:
    world = await make_world(extra="[sessions]\nsingle_use = true\n")
    token, _ = await _ios_session(world)
    assert (await _use(world, token))["outcome"] == "allow"
    assert (await _use(world, token))["reasons"] == ["session.used"]


async def test_session_of_a_revoked_key_is_blocked(world: World) -> None:
    token, key_id = await _ios_session(world)
    path_id = base64.urlsafe_b64encode(base64.b64decode(key_id)).rstrip(b"=").decode()
    await world.client.delete(f"/v1/keys/{path_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert (await _use(world, token))["reasons"] == ["key.revoked"]


async def test_a_session_cannot_be_exchanged_for_another(world: World) -> None:
    token, _ = await _ios_session(world)
    response = await world.client.post(SESSION_PATH, headers={"App-Integrity": session_header(token)})
    assert response.status_code == 403
    assert response.json()["code"] == "session.not_exchangeable"


async def test_tampered_or_foreign_sessions_are_blocked(world: World, make_world: WorldFactory) -> None:
    token, _ = await _ios_session(world)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert (await _use(world, forged))["reasons"] == ["session.invalid"]
    other = await make_world(folder="other")
    assert (await _use(other, token))["reasons"] == ["session.invalid"]


async def test_exchange_proof_must_be_bound_to_the_exchange_request(world: World) -> None:
    device = world.iphone()
    key_id = await world.register_iphone(device)
    challenge = await world.challenge()
    header = ios_header(device, key_id, challenge=challenge, method="POST", path="/api/other", body=b"")
    response = await world.client.post(SESSION_PATH, headers={"App-Integrity": header})
    assert response.status_code == 403
    assert response.json()["code"] == "apple.signature_invalid"


async def test_android_exchange(world: World) -> None:
    challenge = await world.challenge()
    header = android_header(world.android("strong"), challenge=challenge, method="POST", path=SESSION_PATH)
    response = await world.client.post(SESSION_PATH, headers={"App-Integrity": header})
    assert response.status_code == 201
    decision = await _use(world, response.json()["session"])
    assert decision["tier"] == "strong"
    assert decision["platform"] == "android"


async def test_exchange_is_503_while_google_is_down(world: World) -> None:
    world.google.api.fail_next(500, times=10)
    try:
        challenge = await world.challenge()
        header = android_header(world.android(), challenge=challenge, method="POST", path=SESSION_PATH)
        response = await world.client.post(SESSION_PATH, headers={"App-Integrity": header})
    finally:
        world.google.api.faults.clear()
    assert response.status_code == 503
    assert response.json()["code"] == "google.unavailable"


async def test_keys_survive_a_restart(make_world: WorldFactory) -> None:
    first = await make_world(folder="restart")
    token, _ = await _ios_session(first)
    second = await make_world(folder="restart")
    assert (await _use(second, token))["outcome"] == "allow"
