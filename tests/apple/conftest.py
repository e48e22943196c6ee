from __future__ import annotations

import pytest

from app_integrity.apple import AppleApp
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA


@pytest.fixture(scope="session")
def apple_ca() -> EmulatedAppleCA:
    return EmulatedAppleCA.generate()


@pytest.fixture
def app() -> AppleApp:
    return AppleApp(team_id="ABCDE12345", bundle_id="com.example.app")


@pytest.fixture
def device(apple_ca: EmulatedAppleCA, app: AppleApp) -> EmulatedAppAttestService:
    return EmulatedAppAttestService(ca=apple_ca, app=app)
