"""Flask end to end with its test client: allow, limit, block (403 body), observe, JSON and form bodies bound;
the service's routes served by the same WSGI app under /integrity (reached by the emulated client over httpx)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from examples.flask_app import build_app
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app_integrity.config import Settings
from app_integrity.integrations.flask import AppIntegrity
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.client import IntegrityClient

Device = EmulatedAppAttestService | EmulatedAndroidDevice


@pytest.fixture
def app(app_integrity_settings: Settings) -> Iterator[Flask]:
    app = build_app(app_integrity_settings)
    yield app
    extension: AppIntegrity = app.extensions["app_integrity"]
    extension.close()


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def phone(app: Flask) -> Iterator[Callable[[Device], IntegrityClient]]:
    made: list[IntegrityClient] = []

    def make(device: Device) -> IntegrityClient:
        made.append(IntegrityClient(device, app=app, prefix="/integrity"))
        return made[-1]

    yield make
    for client in made:
        client.close()


def post(web: FlaskClient, path: str, body: bytes, header: str, content_type: str = "application/json") -> TestResponse:
    return web.post(path, data=body, content_type=content_type, headers={"App-Integrity": header})


def test_genuine_iphone_is_allowed(
    web: FlaskClient, phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    body = b'{"coupon":"SPRING"}'
    response = post(web, "/api/redeem", body, phone(ios_device).sign("POST", "/api/redeem", body))
    assert response.status_code == 200, response.text
    assert response.json == {"coupon": "SPRING", "quota": 10, "outcome": "allow"}


def test_rooted_phone_is_limited(
    web: FlaskClient,
    phone: Callable[[Device], IntegrityClient],
    android_devices: Callable[[str], EmulatedAndroidDevice],
) -> None:
    body = b'{"coupon":"SPRING"}'
    response = post(web, "/api/redeem", body, phone(android_devices("rooted")).sign("POST", "/api/redeem", body))
    assert response.status_code == 200, response.text
    assert response.json == {"coupon": "SPRING", "quota": 1, "outcome": "limit"}


def test_emulator_is_blocked_with_a_problem(
    web: FlaskClient,
    phone: Callable[[Device], IntegrityClient],
    android_devices: Callable[[str], EmulatedAndroidDevice],
) -> None:
    body = b'{"coupon":"SPRING"}'
    response = post(web, "/api/redeem", body, phone(android_devices("emulator")).sign("POST", "/api/redeem", body))
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    assert response.json is not None
    assert response.json["code"] == "play.no_device_integrity"
    assert response.json["status"] == 403


def test_missing_header_is_blocked(web: FlaskClient) -> None:
    response = web.post("/api/redeem", json={"coupon": "SPRING"})
    assert response.status_code == 403
    assert response.json is not None
    assert response.json["code"] == "header.missing"


def test_replay_is_blocked(
    web: FlaskClient, phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    body = b'{"coupon":"SPRING"}'
    header = phone(ios_device).sign("POST", "/api/redeem", body)
    assert post(web, "/api/redeem", body, header).status_code == 200
    replay = post(web, "/api/redeem", body, header)
    assert replay.status_code == 403
    assert replay.json is not None
    assert replay.json["code"] in ("challenge.unknown", "apple.counter_not_increasing")


def test_tampered_json_body_is_blocked(
    web: FlaskClient, phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    header = phone(ios_device).sign("POST", "/api/redeem", b'{"coupon":"SPRING"}')
    response = post(web, "/api/redeem", b'{"coupon":"WINTER"}', header)
    assert response.status_code == 403
    assert response.json is not None
    assert response.json["code"] == "apple.signature_invalid"


def test_form_body_is_bound_and_still_parsed(
    web: FlaskClient,
    phone: Callable[[Device], IntegrityClient],
    android_devices: Callable[[str], EmulatedAndroidDevice],
) -> None:
    device = phone(android_devices("genuine"))
    form = "application/x-www-form-urlencoded"
    body = b"name=Ada+Lovelace"
    allowed = post(web, "/api/profile", body, device.sign("POST", "/api/profile", body), form)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json == {"name": "Ada Lovelace", "outcome": "allow"}
    tampered = post(web, "/api/profile", b"name=Eve", device.sign("POST", "/api/profile", body), form)
    assert tampered.status_code == 403
    assert tampered.json is not None
    assert tampered.json["code"] == "play.request_hash_mismatch"


def test_observe_mode_passes_and_says_what_enforce_would_do(
    web: FlaskClient,
    phone: Callable[[Device], IntegrityClient],
    android_devices: Callable[[str], EmulatedAndroidDevice],
) -> None:
    body = b"{}"
    header = phone(android_devices("sideloaded")).sign("POST", "/api/browse", body)
    response = post(web, "/api/browse", body, header)
    assert response.status_code == 200, response.text
    assert response.json == {"outcome": "block", "enforced": False}


def test_client_request_and_session_through_the_mounted_routes(
    phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    iphone = phone(ios_device)
    response = iphone.post("/api/redeem", json={"coupon": "SPRING"}, params={"ref": "a b"})
    assert response.status_code == 200, response.text
    iphone.exchange_session()
    with_session = iphone.post("/api/redeem", json={"coupon": "SPRING"}, use_session=True)
    assert with_session.status_code == 200, with_session.text
    assert with_session.json()["outcome"] == "allow"
    assert iphone.http.get("/integrity/healthz").json() == {"status": "ok"}
