"""The fraud-metric client against a local server that speaks Apple's protocol."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity.apple import AppleApp, AttestedKey, ReceiptType, verify_attestation, verify_receipt
from app_integrity.apple.fraud_metric import (
    DEVELOPMENT_ENDPOINT,
    PRODUCTION_ENDPOINT,
    DeviceCheckKey,
    FraudMetricClient,
)
from app_integrity.errors import AppIntegrityError, AppleError, InputError, UnavailableError
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA
from app_integrity.testing.apple_fraud_metric import FakeFraudMetricServer

TEAM_ID = "ABCDE12345"
KEY_ID = "KEY1234567"


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def devicecheck_key(signing_key: ec.EllipticCurvePrivateKey) -> DeviceCheckKey:
    pem = signing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return DeviceCheckKey.from_p8(pem, team_id=TEAM_ID, key_id=KEY_ID)


@pytest.fixture
def server(apple_ca: EmulatedAppleCA, signing_key: ec.EllipticCurvePrivateKey) -> Iterator[FakeFraudMetricServer]:
    with FakeFraudMetricServer(
        ca=apple_ca, team_id=TEAM_ID, key_id=KEY_ID, public_key=signing_key.public_key(), risk_metric=7
    ) as running:
        yield running


@pytest.fixture
def attested(apple_ca: EmulatedAppleCA, app: AppleApp, device: EmulatedAppAttestService) -> AttestedKey:
    key_id = device.generate_key()
    return verify_attestation(
        device.attest_key_async(key_id, "c"), key_id=key_id, app=app, challenge="c", trust_roots=apple_ca.trust_roots
    )


async def test_refresh_returns_a_receipt_with_a_risk_metric(
    server: FakeFraudMetricServer,
    devicecheck_key: DeviceCheckKey,
    attested: AttestedKey,
    app: AppleApp,
    apple_ca: EmulatedAppleCA,
) -> None:
    async with FraudMetricClient(key=devicecheck_key, endpoint=server.endpoint) as client:
        fresh = await client.refresh(attested.receipt)
        assert fresh is not None
        receipt = verify_receipt(fresh, app=app, public_key=attested.public_key, trust_roots=apple_ca.trust_roots)
        assert receipt.type is ReceiptType.RECEIPT
        assert receipt.risk_metric == 7
        # Trading the new receipt before its "not before" time: Apple answers 304, keep the current one.
        assert await client.refresh(fresh) is None
    assert server.requests == 2


async def test_wrong_credentials_are_rejected(server: FakeFraudMetricServer, attested: AttestedKey) -> None:
    stranger = DeviceCheckKey(team_id=TEAM_ID, key_id=KEY_ID, private_key=ec.generate_private_key(ec.SECP256R1()))
    async with FraudMetricClient(key=stranger, endpoint=server.endpoint) as client:
        with pytest.raises(AppleError) as info:
            await client.refresh(attested.receipt)
    assert info.value.code == "apple.rejected"


async def test_a_receipt_apple_did_not_sign_is_rejected(
    server: FakeFraudMetricServer, devicecheck_key: DeviceCheckKey
) -> None:
    async with FraudMetricClient(key=devicecheck_key, endpoint=server.endpoint) as client:
        with pytest.raises(AppleError) as info:
            await client.refresh(b"\x30\x03\x02\x01\x01")
    assert info.value.code == "apple.rejected"


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_server_errors_are_unavailable(
    server: FakeFraudMetricServer, devicecheck_key: DeviceCheckKey, attested: AttestedKey, status: int
) -> None:
    server.force_status = status
    async with FraudMetricClient(key=devicecheck_key, endpoint=server.endpoint) as client:
        with pytest.raises(UnavailableError) as info:
            await client.refresh(attested.receipt)
    assert info.value.code == "apple.unavailable"


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_rejections(
    server: FakeFraudMetricServer, devicecheck_key: DeviceCheckKey, attested: AttestedKey, status: int
) -> None:
    server.force_status = status
    async with FraudMetricClient(key=devicecheck_key, endpoint=server.endpoint) as client:
        with pytest.raises(AppleError) as info:
            await client.refresh(attested.receipt)
    assert info.value.code == "apple.rejected"


async def test_timeout_is_unavailable(
    server: FakeFraudMetricServer, devicecheck_key: DeviceCheckKey, attested: AttestedKey
) -> None:
    server.delay = 1.0
    async with FraudMetricClient(key=devicecheck_key, endpoint=server.endpoint, timeout=0.2) as client:
        with pytest.raises(UnavailableError) as info:
            await client.refresh(attested.receipt)
    assert info.value.code == "apple.unavailable"


async def test_connection_refused_is_unavailable(devicecheck_key: DeviceCheckKey, attested: AttestedKey) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}/v1/attestationData"
    async with FraudMetricClient(key=devicecheck_key, endpoint=endpoint, timeout=2) as client:
        with pytest.raises(UnavailableError) as info:
            await client.refresh(attested.receipt)
    assert info.value.code == "apple.unavailable"


def test_default_hosts(devicecheck_key: DeviceCheckKey) -> None:
    assert FraudMetricClient(key=devicecheck_key).endpoint == PRODUCTION_ENDPOINT
    assert FraudMetricClient(key=devicecheck_key, environment="development").endpoint == DEVELOPMENT_ENDPOINT
    assert PRODUCTION_ENDPOINT == "https://data.appattest.apple.com/v1/attestationData"
    assert DEVELOPMENT_ENDPOINT == "https://data-development.appattest.apple.com/v1/attestationData"
    with pytest.raises(InputError):
        FraudMetricClient(key=devicecheck_key, environment="staging")


def test_key_must_be_p256() -> None:
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(AppIntegrityError) as info:
        DeviceCheckKey.from_p8(pem, team_id=TEAM_ID, key_id=KEY_ID)
    assert info.value.code == "input.invalid_argument"
