"""Remote mode: the integrations decide through a separate service's ``POST /v1/verify`` (a live server here);
the app registers keys and gets challenges from that service. A service that does not answer is a 503."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from flask import Flask, g

from app_integrity.errors import ConfigError
from app_integrity.integrations.fastapi import AppIntegrity as FastApiIntegrity
from app_integrity.integrations.fastapi import require_integrity
from app_integrity.integrations.flask import AppIntegrity as FlaskIntegrity
from app_integrity.policy import Decision
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.client import AsyncIntegrityClient, IntegrityClient


def fastapi_app(url: str) -> tuple[FastAPI, FastApiIntegrity]:
    app = FastAPI()
    integrity = FastApiIntegrity(app, url=url)

    @app.post("/api/redeem")
    async def redeem(decision: Annotated[Decision, Depends(require_integrity("redeem"))]) -> dict[str, object]:
        return {"outcome": decision.outcome.value, "enforced": decision.enforced}

    return app, integrity


async def test_fastapi_remote_mode(
    app_integrity_server: str,
    ios_device: EmulatedAppAttestService,
    android_devices: Callable[[str], EmulatedAndroidDevice],
) -> None:
    app, integrity = fastapi_app(app_integrity_server)
    service = httpx.AsyncClient(base_url=app_integrity_server)
    protected = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    try:
        phone = AsyncIntegrityClient(ios_device, client=service)
        body = b'{"coupon":"SPRING"}'
        header = await phone.sign("POST", "/api/redeem", body)
        allowed = await protected.post("/api/redeem", content=body, headers={"App-Integrity": header})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json() == {"outcome": "allow", "enforced": True}
        android = AsyncIntegrityClient(android_devices("emulator"), client=service)
        header = await android.sign("POST", "/api/redeem", body)
        blocked = await protected.post("/api/redeem", content=body, headers={"App-Integrity": header})
        assert blocked.status_code == 403
        assert blocked.json()["code"] == "play.no_device_integrity"
    finally:
        await integrity.aclose()
        await service.aclose()
        await protected.aclose()


async def test_fastapi_remote_service_down_is_503() -> None:
    app, integrity = fastapi_app("http://127.0.0.1:9")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        response = await client.post("/api/redeem", json={})
    await integrity.aclose()
    assert response.status_code == 503
    assert response.json()["code"] == "verify.unavailable"


def flask_app(url: str) -> tuple[Flask, FlaskIntegrity]:
    app = Flask(__name__)
    integrity = FlaskIntegrity(app, url=url)

    @app.post("/api/redeem")
    @integrity.require("redeem")
    def redeem() -> dict[str, object]:
        return {"outcome": g.integrity.outcome.value}

    return app, integrity


def test_flask_remote_mode(app_integrity_server: str, android_devices: Callable[[str], EmulatedAndroidDevice]) -> None:
    app, integrity = flask_app(app_integrity_server)
    try:
        with IntegrityClient(android_devices("rooted"), base_url=app_integrity_server) as phone:
            header = phone.sign("POST", "/api/redeem", b"{}")
        response = app.test_client().post(
            "/api/redeem", data=b"{}", content_type="application/json", headers={"App-Integrity": header}
        )
        assert response.status_code == 200, response.text
        assert response.json == {"outcome": "limit"}
    finally:
        integrity.close()


def test_flask_remote_service_down_is_503() -> None:
    app, integrity = flask_app("http://127.0.0.1:9")
    try:
        response = app.test_client().post("/api/redeem", json={})
    finally:
        integrity.close()
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["code"] == "verify.unavailable"


def test_remote_mode_has_no_routes_to_mount() -> None:
    with pytest.raises(ConfigError, match="prefix"):
        FlaskIntegrity(Flask(__name__), url="http://127.0.0.1:9", prefix="/integrity")
