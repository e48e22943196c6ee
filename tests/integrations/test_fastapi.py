"""FastAPI end to end with the emulated app client over httpx: allow, limit, block (403 body), observe, and the
binding of JSON and form bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

import httpx
import pytest
from examples.fastapi_app import build_app
from fastapi import Depends, FastAPI

from app_integrity.config import Settings
from app_integrity.integrations.fastapi import AppIntegrity, require_integrity
from app_integrity.policy import Decision
from app_integrity.service import open_service
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.client import AsyncIntegrityClient

Device = EmulatedAppAttestService | EmulatedAndroidDevice


@pytest.fixture
async def app(app_integrity_settings: Settings) -> AsyncIterator[FastAPI]:
    app = build_app(app_integrity_settings)
    yield app
    integrity: AppIntegrity = app.state.app_integrity
    await integrity.aclose()


@pytest.fixture
async def connect(app: FastAPI) -> AsyncIterator[Callable[[Device], AsyncIntegrityClient]]:
    made: list[AsyncIntegrityClient] = []

    def make(device: Device) -> AsyncIntegrityClient:
        made.append(AsyncIntegrityClient(device, app=app, prefix="/integrity"))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


async def test_genuine_iphone_is_allowed(
    connect: Callable[[Device], AsyncIntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    phone = connect(ios_device)
    response = await phone.post("/api/redeem", json={"coupon": "SPRING"})
    assert response.status_code == 200, response.text
    assert response.json() == {"coupon": "SPRING", "quota": 10, "outcome": "allow"}


async def test_rooted_phone_is_limited_and_passes_with_the_decision(
    connect: Callable[[Device], AsyncIntegrityClient], android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    phone = connect(android_devices("rooted"))
    response = await phone.post("/api/redeem", json={"coupon": "SPRING"})
    assert response.status_code == 200, response.text
    assert response.json() == {"coupon": "SPRING", "quota": 1, "outcome": "limit"}


async def test_sideloaded_app_is_blocked_with_a_problem(
    connect: Callable[[Device], AsyncIntegrityClient], android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    phone = connect(android_devices("sideloaded"))
    response = await phone.post("/api/redeem", json={"coupon": "SPRING"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 403
    assert problem["code"] == "play.app_unrecognized"


async def test_missing_header_is_blocked(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as plain:
        response = await plain.post("/api/redeem", json={"coupon": "SPRING"})
    assert response.status_code == 403
    assert response.json()["code"] == "header.missing"


async def test_replayed_request_is_blocked(
    connect: Callable[[Device], AsyncIntegrityClient], ios_device: EmulatedAppAttestService, app: FastAPI
) -> None:
    phone = connect(ios_device)
    header = await phone.sign("POST", "/api/redeem", b'{"coupon":"SPRING"}')
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as raw:
        headers = {"App-Integrity": header, "Content-Type": "application/json"}
        first = await raw.post("/api/redeem", content=b'{"coupon":"SPRING"}', headers=headers)
        again = await raw.post("/api/redeem", content=b'{"coupon":"SPRING"}', headers=headers)
    assert first.status_code == 200, first.text
    assert again.status_code == 403
    assert again.json()["code"] in ("challenge.unknown", "apple.counter_not_increasing")


async def test_tampered_json_body_is_blocked(
    connect: Callable[[Device], AsyncIntegrityClient], ios_device: EmulatedAppAttestService, app: FastAPI
) -> None:
    phone = connect(ios_device)
    header = await phone.sign("POST", "/api/redeem", b'{"coupon":"SPRING"}')
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as raw:
        response = await raw.post(
            "/api/redeem",
            content=b'{"coupon":"WINTER"}',
            headers={"App-Integrity": header, "Content-Type": "application/json"},
        )
    assert response.status_code == 403
    assert response.json()["code"] == "apple.signature_invalid"


async def test_form_body_is_bound_and_still_parsed(
    connect: Callable[[Device], AsyncIntegrityClient], android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    phone = connect(android_devices("genuine"))
    response = await phone.post("/api/profile", data={"name": "Ada Lovelace"})
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "Ada Lovelace", "outcome": "allow"}


async def test_tampered_form_body_is_blocked(
    connect: Callable[[Device], AsyncIntegrityClient],
    android_devices: Callable[[str], EmulatedAndroidDevice],
    app: FastAPI,
) -> None:
    phone = connect(android_devices("genuine"))
    header = await phone.sign("POST", "/api/profile", b"name=Ada")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as raw:
        response = await raw.post(
            "/api/profile",
            content=b"name=Eve",
            headers={"App-Integrity": header, "Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 403
    assert response.json()["code"] == "play.request_hash_mismatch"


async def test_middleware_protects_by_path(
    connect: Callable[[Device], AsyncIntegrityClient],
    ios_device: EmulatedAppAttestService,
    android_devices: Callable[[str], EmulatedAndroidDevice],
) -> None:
    allowed = await connect(ios_device).post("/api/feedback", content=b"great app")
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"received": 9, "outcome": "allow"}
    blocked = await connect(android_devices("emulator")).post("/api/feedback", content=b"great app")
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "play.no_device_integrity"


async def test_observe_mode_lets_a_block_through(
    app_integrity_settings: Settings, android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    service = await open_service(app_integrity_settings)
    app = FastAPI()
    integrity = AppIntegrity(app, service=service, prefix="/integrity")

    @app.post("/browse")
    async def browse(decision: Annotated[Decision, Depends(require_integrity("browse"))]) -> dict[str, object]:
        return {"outcome": decision.outcome.value, "enforced": decision.enforced, "reasons": list(decision.reasons)}

    async with AsyncIntegrityClient(android_devices("sideloaded"), app=app, prefix="/integrity") as phone:
        response = await phone.post("/browse", json={})
    await integrity.aclose()
    assert response.status_code == 200, response.text
    reasons = ["play.app_unrecognized", "play.certificate_mismatch", "policy.required_app", "policy.below_limit"]
    assert response.json() == {"outcome": "block", "enforced": False, "reasons": reasons}
    # Recorded all the same, with what enforce mode would have done.
    events = [event for event in await service.store.list_events() if event.action == "browse"]
    await service.aclose()
    assert [(e.outcome, e.enforced, e.platform, tuple(e.reasons)) for e in events] == [
        ("block", False, "android", tuple(reasons))
    ]


async def test_session_exchange_through_the_mounted_routes(
    connect: Callable[[Device], AsyncIntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    phone = connect(ios_device)
    session = await phone.exchange_session()
    assert session.count(".") == 2
    response = await phone.post("/api/redeem", json={"coupon": "SPRING"}, use_session=True)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "allow"
    jwks = await phone.http.get("/integrity/.well-known/jwks.json")
    assert jwks.status_code == 200
    assert jwks.json()["keys"]


async def test_oversized_body_with_a_proof_is_413(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as raw:
        response = await raw.post(
            "/api/redeem", content=b"x" * (1024 * 1024 + 1), headers={"App-Integrity": 'v=1, session="x"'}
        )
    assert response.status_code == 413
    assert response.json()["code"] == "input.too_large"


async def test_middleware_limits_and_passes_the_decision(
    connect: Callable[[Device], AsyncIntegrityClient], android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    response = await connect(android_devices("rooted")).post("/api/feedback", content=b"ok")
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 2, "outcome": "limit"}
