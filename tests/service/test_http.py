"""The HTTP surface: status codes, problem+json, size limits, admin and verify tokens, OpenAPI."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from app_integrity.config import parse_config
from app_integrity.server.app import create_app
from app_integrity.service import open_service
from tests.service.conftest import ADMIN_TOKEN, World

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_healthz_and_openapi(world: World) -> None:
    assert (await world.client.get("/healthz")).json() == {"status": "ok"}
    spec = (await world.client.get("/openapi.json")).json()
    for path in (
        "/v1/challenges",
        "/v1/apple/keys",
        "/v1/android/keys",
        "/v1/sessions",
        "/v1/verify",
        "/v1/apple/assertions",
        "/.well-known/jwks.json",
        "/v1/keys",
        "/v1/keys/{key_id}",
    ):
        assert path in spec["paths"], path
    assert (await world.client.get("/docs")).status_code == 200


async def test_challenge_shape(world: World) -> None:
    response = await world.client.post("/v1/challenges", json={"subject": "u1", "purpose": "register"})
    assert response.status_code == 201
    body = response.json()
    assert len(base64.urlsafe_b64decode(body["challenge"] + "=")) == 32
    assert body["expiresAt"].endswith("Z")
    bad = await world.client.post("/v1/challenges", json={"purpose": "Not A Purpose!"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "input.malformed"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/verify", b"not json"),
        ("/v1/verify", b'{"action": "x"}'),
        ("/v1/verify", b'{"action": 5, "request": {}}'),
        ("/v1/apple/keys", b'{"keyId": "@@@", "attestation": "AAAA", "challenge": "c"}'),
        ("/v1/apple/keys", b'{"keyId": "AAAA", "attestation": "AAAA", "challenge": "c", "extra": 1}'),
        ("/v1/android/keys", b'{"chain": [], "challenge": "c"}'),
        ("/v1/challenges", b"[1, 2]"),
    ],
)
async def test_malformed_bodies_are_400_problems(world: World, path: str, body: bytes) -> None:
    response = await world.client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"].startswith("input.")
    assert problem["status"] == 400
    assert problem["type"] == f"urn:app-integrity:error:{problem['code']}"


async def test_garbage_attestation_is_a_typed_error(world: World) -> None:
    challenge = await world.challenge()
    response = await world.client.post(
        "/v1/apple/keys",
        json={"keyId": base64.b64encode(bytes(32)).decode(), "attestation": "AAAA", "challenge": challenge},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "input.malformed"


async def test_size_limits(world: World) -> None:
    big = b"x" * (1024 * 1024 + 1)
    response = await world.client.post("/v1/verify", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["code"] == "input.too_large"
    headers = {f"X-Filler-{i}": "y" * 1000 for i in range(40)}
    response = await world.client.get("/healthz", headers=headers)
    assert response.status_code == 431
    assert response.json()["code"] == "input.header_too_large"


async def test_admin_routes(world: World) -> None:
    device = world.iphone()
    key_id = await world.register_iphone(device, subject="alice")
    assert (await world.client.get("/v1/keys")).status_code == 401
    wrong = await world.client.get("/v1/keys", headers={"Authorization": "Bearer nope"})
    assert wrong.json()["code"] == "admin.unauthorized"
    listed = (await world.client.get("/v1/keys", params={"subject": "alice"}, headers=ADMIN)).json()["keys"]
    assert [k["keyId"] for k in listed] == [key_id]
    assert listed[0]["platform"] == "ios"
    assert listed[0]["status"] == "active"
    assert (await world.client.get("/v1/keys", params={"subject": "bob"}, headers=ADMIN)).json() == {"keys": []}
    path_id = base64.urlsafe_b64encode(base64.b64decode(key_id)).rstrip(b"=").decode()
    assert (await world.client.delete(f"/v1/keys/{path_id}", headers=ADMIN)).status_code == 204
    listed = (await world.client.get("/v1/keys", headers=ADMIN)).json()["keys"]
    assert listed[0]["status"] == "revoked"
    missing = await world.client.delete(f"/v1/keys/{'A' * 43}", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["code"] == "key.unknown"


async def test_admin_disabled_without_token(tmp_path: Path) -> None:
    settings = parse_config('[storage]\nurl = "memory://"\n', base_dir=tmp_path, environ={})
    service = await open_service(settings)
    app = create_app(settings, service=service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/v1/keys")
    await service.aclose()
    assert response.status_code == 403
    assert response.json()["code"] == "admin.disabled"


async def test_verify_token(tmp_path: Path) -> None:
    text = '[server]\nverify_token_env = "VERIFY_TOKEN"\n[storage]\nurl = "memory://"\n'
    settings = parse_config(text, base_dir=tmp_path, environ={"VERIFY_TOKEN": "caller-secret"})
    service = await open_service(settings)
    app = create_app(settings, service=service)
    body = {"action": "a", "request": {"method": "GET", "path": "/", "bodySha256": "A" * 43}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        refused = await client.post("/v1/verify", json=body)
        accepted = await client.post("/v1/verify", json=body, headers={"Authorization": "Bearer caller-secret"})
    await service.aclose()
    assert refused.status_code == 401
    assert refused.json()["code"] == "verify.unauthorized"
    assert accepted.status_code == 200
    assert accepted.json()["outcome"] == "block"


async def test_a_bug_is_a_500_problem_not_a_stack_trace(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(**_: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(world.service, "issue_challenge", broken)
    transport = httpx.ASGITransport(
        app=create_app(world.service.settings, service=world.service), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/v1/challenges", json={})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal.error"
    assert "simulated" not in response.text
