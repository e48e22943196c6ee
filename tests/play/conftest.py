"""Fixtures for Play Integrity: an emulated Play service with one app, and the fake Google API on a local port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app_integrity.testing.android.fake_google import FakeGoogleApi, FakeGoogleServer, write_service_account_file
from app_integrity.testing.android.play import EmulatedApp, EmulatedPlayIntegrity

PACKAGE = "com.example.app"
OTHER_PACKAGE = "com.example.other"


@pytest.fixture(scope="session")
def play() -> EmulatedPlayIntegrity:
    service = EmulatedPlayIntegrity()
    service.register_app(PACKAGE, version_code=42)
    service.register_app(OTHER_PACKAGE, version_code=1)
    return service


@pytest.fixture(scope="session")
def emulated_app(play: EmulatedPlayIntegrity) -> EmulatedApp:
    return play.apps[PACKAGE]


@pytest.fixture(scope="session")
def other_app(play: EmulatedPlayIntegrity) -> EmulatedApp:
    return play.apps[OTHER_PACKAGE]


@pytest.fixture(scope="session")
def fake_api(play: EmulatedPlayIntegrity) -> FakeGoogleApi:
    return FakeGoogleApi(play)


@pytest.fixture(scope="session")
def fake_server(fake_api: FakeGoogleApi) -> Iterator[FakeGoogleServer]:
    with FakeGoogleServer(fake_api) as server:
        yield server


@pytest.fixture(scope="session")
def service_account_file(
    tmp_path_factory: pytest.TempPathFactory, fake_api: FakeGoogleApi, fake_server: FakeGoogleServer
) -> Path:
    return write_service_account_file(
        tmp_path_factory.mktemp("google") / "service-account.json", api=fake_api, token_uri=fake_server.token_uri
    )


@pytest.fixture(autouse=True)
def _no_leftover_faults(fake_api: FakeGoogleApi) -> Iterator[None]:
    yield
    fake_api.faults.clear()
    fake_api.latency = 0.0
    fake_api.token_latency = 0.0
