"""Django end to end with its test client: allow, limit, block (403 body), observe, JSON and form bodies bound,
the middleware's routes, and the service's routes served by the middleware under /integrity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from django.test.utils import override_settings
from examples.django_project import settings as example

from app_integrity.config import Settings
from app_integrity.integrations import django as integration
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.client import IntegrityClient

Device = EmulatedAppAttestService | EmulatedAndroidDevice
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def web(app_integrity_settings: Settings) -> Iterator[Client]:
    options = {**example.APP_INTEGRITY, "settings": app_integrity_settings}
    options.pop("emulated")
    with override_settings(APP_INTEGRITY=options):
        yield Client()
    integration.reset()


@pytest.fixture
def phone(web: Client) -> Iterator[Callable[[Device], IntegrityClient]]:
    made: list[IntegrityClient] = []

    def make(device: Device) -> IntegrityClient:
        # The protocol routes through the same Django app, over httpx's WSGI transport.
        made.append(IntegrityClient(device, app=WSGIHandler(), prefix="/integrity"))
        return made[-1]

    yield make
    for client in made:
        client.close()


def post(web: Client, path: str, body: bytes, header: str | None, content_type: str = JSON) -> Any:
    headers = {"App-Integrity": header} if header is not None else {}
    return web.post(path, data=body, content_type=content_type, headers=headers)


def test_genuine_iphone_is_allowed(
    web: Client, phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    body = b'{"coupon":"SPRING"}'
    response = post(web, "/api/redeem", body, phone(ios_device).sign("POST", "/api/redeem", body))
    assert response.status_code == 200, response.content
    assert response.json() == {"coupon": "SPRING", "quota": 10, "outcome": "allow"}


def test_rooted_phone_is_limited(
    web: Client, phone: Callable[[Device], IntegrityClient], android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    body = b'{"coupon":"SPRING"}'
    response = post(web, "/api/redeem", body, phone(android_devices("rooted")).sign("POST", "/api/redeem", body))
    assert response.status_code == 200, response.content
    assert response.json() == {"coupon": "SPRING", "quota": 1, "outcome": "limit"}


def test_sideloaded_app_is_blocked_with_a_problem(
    web: Client, phone: Callable[[Device], IntegrityClient], android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    body = b'{"coupon":"SPRING"}'
    response = post(web, "/api/redeem", body, phone(android_devices("sideloaded")).sign("POST", "/api/redeem", body))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "play.app_unrecognized"
    assert response.json()["status"] == 403


def test_missing_header_is_blocked(web: Client) -> None:
    response = post(web, "/api/redeem", b'{"coupon":"SPRING"}', None)
    assert response.status_code == 403
    assert response.json()["code"] == "header.missing"


def test_replay_and_tampered_body_are_blocked(
    web: Client, phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    iphone = phone(ios_device)
    body = b'{"coupon":"SPRING"}'
    header = iphone.sign("POST", "/api/redeem", body)
    assert post(web, "/api/redeem", body, header).status_code == 200
    replay = post(web, "/api/redeem", body, header)
    assert replay.status_code == 403
    assert replay.json()["code"] in ("challenge.unknown", "apple.counter_not_increasing")
    tampered = post(web, "/api/redeem", b'{"coupon":"WINTER"}', iphone.sign("POST", "/api/redeem", body))
    assert tampered.status_code == 403
    assert tampered.json()["code"] == "apple.signature_invalid"


def test_form_body_is_bound_and_still_parsed(
    web: Client, phone: Callable[[Device], IntegrityClient], android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    device = phone(android_devices("genuine"))
    body = b"name=Ada+Lovelace"
    allowed = post(web, "/api/profile", body, device.sign("POST", "/api/profile", body), FORM)
    assert allowed.status_code == 200, allowed.content
    assert allowed.json() == {"name": "Ada Lovelace", "outcome": "allow"}
    tampered = post(web, "/api/profile", b"name=Eve", device.sign("POST", "/api/profile", body), FORM)
    assert tampered.status_code == 403
    assert tampered.json()["code"] == "play.request_hash_mismatch"


def test_query_string_is_part_of_the_binding(
    web: Client, phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    iphone = phone(ios_device)
    body = b'{"coupon":"SPRING"}'
    signed = iphone.sign("POST", "/api/redeem?ref=mail", body)
    assert post(web, "/api/redeem?ref=mail", body, signed).status_code == 200
    moved = post(web, "/api/redeem?ref=other", body, iphone.sign("POST", "/api/redeem?ref=mail", body))
    assert moved.status_code == 403


def test_observe_mode_passes_and_says_what_enforce_would_do(
    web: Client, phone: Callable[[Device], IntegrityClient], android_devices: Callable[[str], EmulatedAndroidDevice]
) -> None:
    response = post(web, "/api/browse", b"{}", phone(android_devices("emulator")).sign("POST", "/api/browse", b"{}"))
    assert response.status_code == 200, response.content
    assert response.json() == {"outcome": "block", "enforced": False}


def test_middleware_protects_configured_routes(
    web: Client, phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    body = b"great app"
    allowed = post(web, "/api/feedback", body, phone(ios_device).sign("POST", "/api/feedback", body), "text/plain")
    assert allowed.status_code == 200, allowed.content
    assert allowed.json() == {"received": 9, "outcome": "allow"}
    blocked = post(web, "/api/feedback", body, None, "text/plain")
    assert blocked.status_code == 403
    assert blocked.json()["code"] == "header.missing"


def test_session_through_the_mounted_routes(
    phone: Callable[[Device], IntegrityClient], ios_device: EmulatedAppAttestService
) -> None:
    iphone = phone(ios_device)
    iphone.exchange_session()
    response = iphone.post("/api/redeem", json={"coupon": "SPRING"}, use_session=True)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "allow"
    assert iphone.http.get("/integrity/.well-known/jwks.json").json()["keys"]
