"""A configured service with emulated devices: an emulated App Attest CA, an emulated KeyStore, a fake Google API
(a real HTTP server on a local port, reached through the service-account flow) and a fake revocation list.

``make_world(...)`` builds a service for a given storage URL and extra configuration; ``world`` is the SQLite one.
The service is reached in-process through ``httpx.ASGITransport`` (the real-HTTP test starts uvicorn itself).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from app_integrity.apple import AppleApp
from app_integrity.config import parse_config
from app_integrity.server.app import create_app
from app_integrity.service import IntegrityService, open_service
from app_integrity.testing.android.fake_google import FakeGoogleApi, FakeGoogleServer, write_service_account_file
from app_integrity.testing.android.keystore import EmulatedKeyStore
from app_integrity.testing.android.play import EmulatedAndroidDevice, EmulatedApp, EmulatedPlayIntegrity
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA
from tests.storage.conftest import pg_schema_url, redis_prefix

__all__ = ["pg_schema_url", "redis_prefix"]  # the storage suite's PostgreSQL and Redis fixtures, reused here

TEAM_ID = "TEAMID1234"
BUNDLE_ID = "com.example.app"
PACKAGE = "com.example.app"
ADMIN_TOKEN = "admin-secret-token"


class Clock:
    """A settable clock for expiry tests; starts at the real time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def apple_ca() -> EmulatedAppleCA:
    return EmulatedAppleCA.generate()


@pytest.fixture(scope="session")
def keystore() -> EmulatedKeyStore:
    return EmulatedKeyStore()


@pytest.fixture(scope="session")
def play() -> EmulatedPlayIntegrity:
    play = EmulatedPlayIntegrity()
    play.register_app(PACKAGE)
    return play


@pytest.fixture(scope="session")
def google(play: EmulatedPlayIntegrity) -> Iterator[FakeGoogleServer]:
    with FakeGoogleServer(FakeGoogleApi(play=play)) as server:
        yield server


class _StatusList(BaseHTTPRequestHandler):
    body = json.dumps({"entries": {}}).encode()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="session")
def status_list_url() -> Iterator[str]:
    """A local stand-in for Google's attestation status list (no revoked serials)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusList)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/attestation/status"
    server.shutdown()
    server.server_close()


@dataclass
class World:
    """A running service and the devices that talk to it."""

    service: IntegrityService
    client: httpx.AsyncClient
    clock: Clock
    apple_ca: EmulatedAppleCA
    keystore: EmulatedKeyStore
    play: EmulatedPlayIntegrity
    google: FakeGoogleServer
    extra: dict[str, object] = field(default_factory=dict)

    def iphone(self, *, environment: str = "production") -> EmulatedAppAttestService:
        app = AppleApp(team_id=TEAM_ID, bundle_id=BUNDLE_ID)
        return EmulatedAppAttestService(ca=self.apple_ca, app=app, environment=environment)

    def android(self, profile: str = "genuine") -> EmulatedAndroidDevice:
        device = EmulatedAndroidDevice(self.play, PACKAGE, profile=profile)
        device.prepare_integrity_token_provider("123456789")
        return device

    @property
    def play_app(self) -> EmulatedApp:
        return self.play.apps[PACKAGE]

    async def challenge(self, **body: str) -> str:
        response = await self.client.post("/v1/challenges", json=body)
        assert response.status_code == 201, response.text
        value: str = response.json()["challenge"]
        return value

    async def register_iphone(self, device: EmulatedAppAttestService, *, subject: str | None = None) -> str:
        key_id = device.generate_key()
        challenge = await self.challenge()
        body: dict[str, str] = {
            "keyId": key_id,
            "attestation": device.attest_key_async(key_id, challenge),
            "challenge": challenge,
        }
        if subject is not None:
            body["subject"] = subject
        response = await self.client.post("/v1/apple/keys", json=body)
        assert response.status_code == 201, response.text
        return key_id

    async def verify(
        self, *, action: str, method: str, path: str, body: bytes, header: str | None, subject: str | None = None
    ) -> dict[str, Any]:
        payload: dict[str, object] = {
            "action": action,
            "request": {"method": method, "path": path, "bodySha256": _sha256_b64url(body)},
        }
        if header is not None:
            payload["header"] = header
        if subject is not None:
            payload["subject"] = subject
        response = await self.client.post("/v1/verify", json=payload)
        assert response.status_code == 200, response.text
        decision: dict[str, Any] = response.json()
        return decision


def _sha256_b64url(body: bytes) -> str:
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


WorldFactory = Callable[..., Awaitable[World]]


def service_config(
    tmp: Path,
    *,
    apple_ca: EmulatedAppleCA,
    keystore: EmulatedKeyStore,
    play_app: EmulatedApp,
    google: FakeGoogleServer,
    status_list_url: str,
    storage_url: str | None = None,
    redis_url: str | None = None,
    extra: str = "",
    allow_development: bool = False,
) -> str:
    """The TOML of a service trusting the emulated roots, with Google and the status list on local fakes."""
    (tmp / "apple-roots.pem").write_bytes(apple_ca.roots_pem())
    (tmp / "keystore-root.pem").write_bytes(keystore.root_pem())
    account = tmp / "service-account.json"
    if not account.exists():
        write_service_account_file(account, api=google.api, token_uri=google.token_uri)
    digest = base64.b64encode(play_app.certificate_sha256).decode()
    storage = f'url = "{storage_url}"' if storage_url else ""
    if redis_url:
        storage += f'\nredis_url = "{redis_url}"'
    return f"""
[server]
data_dir = "data"

[storage]
{storage}

[apple]
team_id = "{TEAM_ID}"
bundle_ids = ["{BUNDLE_ID}", "com.example.other"]
allow_development = {str(allow_development).lower()}
trust_roots = ["apple-roots.pem"]

[android]
package_name = "{PACKAGE}"
certificate_sha256 = ["{digest}"]
service_account_file = "service-account.json"
google_endpoint = "{google.url}"
key_attestation_trust_roots = ["keystore-root.pem"]

[android.key_attestation]
revocation_url = "{status_list_url}"

{extra}
"""


@pytest.fixture
async def make_world(
    tmp_path: Path,
    apple_ca: EmulatedAppleCA,
    keystore: EmulatedKeyStore,
    play: EmulatedPlayIntegrity,
    google: FakeGoogleServer,
    status_list_url: str,
) -> AsyncIterator[WorldFactory]:
    opened: list[World] = []

    async def build(
        *,
        storage_url: str | None = None,
        redis_url: str | None = None,
        extra: str = "",
        allow_development: bool = False,
        folder: str = "world",
    ) -> World:
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        text = service_config(
            root,
            apple_ca=apple_ca,
            keystore=keystore,
            play_app=play.apps[PACKAGE],
            google=google,
            status_list_url=status_list_url,
            storage_url=storage_url,
            redis_url=redis_url,
            extra=extra,
            allow_development=allow_development,
        )
        settings = parse_config(text, base_dir=root, environ={"APP_INTEGRITY_ADMIN_TOKEN": ADMIN_TOKEN})
        clock = Clock()
        service = await open_service(settings, clock=clock)
        app = create_app(settings, service=service)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test")
        world = World(service, client, clock, apple_ca, keystore, play, google)
        opened.append(world)
        return world

    yield build
    for world in opened:
        await world.client.aclose()
        await world.service.aclose()


@pytest.fixture
async def world(make_world: WorldFactory) -> World:
    return await make_world()
