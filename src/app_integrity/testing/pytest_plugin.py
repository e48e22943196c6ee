"""pytest fixtures for testing routes protected by app-integrity without a phone (entry point ``pytest11``).

- ``app_integrity_emulator``: the emulated world (App Attest CA, KeyStore, Play Integrity), once per session;
- ``ios_device``: an emulated iPhone running the app; ``android_device``: an emulated Android phone (profile
  ``genuine``; parametrize it indirectly with any of ``PROFILES``: ``rooted``, ``sideloaded``, ``emulator`` ...);
  ``android_devices``: a factory by profile;
- ``fake_google``: the fake Google Play Integrity API (a real HTTP server) over the same emulated Play;
- ``app_integrity_policy``: TOML policy tables for the test service (override it in your conftest);
- ``app_integrity_settings``: a configured test service (emulated mode, SQLite in the test's folder), to give to
  ``AppIntegrity(app, settings=...)``; ``app_integrity_server``: that service over HTTP (its base URL);
- ``integrity_client``: a factory of emulated app clients (``IntegrityClient``) for a device and an app or URL.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from app_integrity.config import Settings, parse_config
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.client import CLOUD_PROJECT_NUMBER, IntegrityClient
from app_integrity.testing.emulator import EMULATED_PACKAGE_NAME, STATE_FOLDER, EmulatorState

if TYPE_CHECKING:
    from app_integrity.testing.android.fake_google import FakeGoogleServer

# The plugin loads in every pytest run of an environment with the package installed: the HTTP pieces (the
# ``server`` extra) are imported only by the fixtures that need them.


@pytest.fixture(scope="session")
def app_integrity_emulator(tmp_path_factory: pytest.TempPathFactory) -> EmulatorState:
    return EmulatorState.load_or_create(tmp_path_factory.mktemp("app-integrity-emulator"))


@pytest.fixture(scope="session")
def fake_google(app_integrity_emulator: EmulatorState) -> Iterator[FakeGoogleServer]:
    from app_integrity.testing.android.fake_google import FakeGoogleApi, FakeGoogleServer

    with FakeGoogleServer(FakeGoogleApi(play=app_integrity_emulator.play)) as server:
        yield server


@pytest.fixture
def ios_device(app_integrity_emulator: EmulatorState) -> EmulatedAppAttestService:
    return EmulatedAppAttestService(ca=app_integrity_emulator.apple_ca, app=app_integrity_emulator.apple_app())


@pytest.fixture
def android_devices(app_integrity_emulator: EmulatorState) -> Callable[[str], EmulatedAndroidDevice]:
    def make(profile: str = "genuine") -> EmulatedAndroidDevice:
        device = EmulatedAndroidDevice(app_integrity_emulator.play, EMULATED_PACKAGE_NAME, profile=profile)
        device.prepare_integrity_token_provider(CLOUD_PROJECT_NUMBER)
        return device

    return make


@pytest.fixture
def android_device(
    request: pytest.FixtureRequest, android_devices: Callable[[str], EmulatedAndroidDevice]
) -> EmulatedAndroidDevice:
    profile: str = getattr(request, "param", "genuine")
    return android_devices(profile)


@pytest.fixture
def app_integrity_policy() -> str:
    """Policy tables (TOML) of the test service; empty: the default policy (observe)."""
    return ""


@pytest.fixture
def app_integrity_settings(
    tmp_path: Path, app_integrity_emulator: EmulatorState, app_integrity_policy: str
) -> Settings:
    data_dir = tmp_path / "app-integrity"
    shutil.copytree(app_integrity_emulator.folder, data_dir / STATE_FOLDER)
    text = f'[server]\ndata_dir = "{data_dir.as_posix()}"\n\n{app_integrity_policy}'
    return parse_config(text, base_dir=tmp_path, emulated=True, environ={})


@pytest.fixture
def app_integrity_server(app_integrity_settings: Settings) -> Iterator[str]:
    from app_integrity.testing.live import LiveServer

    with LiveServer(app_integrity_settings) as server:
        yield server.url


@pytest.fixture
def integrity_client() -> Iterator[Callable[..., IntegrityClient]]:
    made: list[IntegrityClient] = []

    def make(device: Any, **options: Any) -> IntegrityClient:
        client = IntegrityClient(device, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
