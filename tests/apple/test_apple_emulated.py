"""The emulated DCAppAttestService: what it emits verifies through the same code path as real captures."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest

from app_integrity.apple import AppleApp, ReceiptType, verify_assertion, verify_attestation, verify_receipt
from app_integrity.apple.receipt import parse_receipt
from app_integrity.errors import AppIntegrityError
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA


def test_round_trip_as_expo_sends_it(
    device: EmulatedAppAttestService, app: AppleApp, apple_ca: EmulatedAppleCA
) -> None:
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, "server-challenge")
    key = verify_attestation(
        attestation, key_id=key_id, app=app, challenge="server-challenge", trust_roots=apple_ca.trust_roots
    )
    assert key.environment == "production"
    assert key.key_id == base64.b64decode(key_id)
    assert hashlib.sha256(key.public_key).digest() == key.key_id
    counter = key.counter
    for expected in (1, 2, 3):
        assertion = device.generate_assertion_async(key_id, f"request {expected}")
        result = verify_assertion(
            assertion, app=app, public_key=key.public_key, previous_counter=counter, client_data=f"request {expected}"
        )
        assert result.counter == expected
        counter = result.counter
    receipt = verify_receipt(key.receipt, app=app, public_key=key.public_key, trust_roots=apple_ca.trust_roots)
    assert receipt.type is ReceiptType.ATTEST
    assert receipt.client_hash == hashlib.sha256(b"server-challenge").digest()


def test_native_api_with_explicit_hash(
    device: EmulatedAppAttestService, app: AppleApp, apple_ca: EmulatedAppleCA
) -> None:
    key_id = device.generate_key()
    raw_hash = b"raw challenge bytes, not hashed"
    attestation = device.attest_key(key_id, raw_hash)
    key = verify_attestation(
        attestation, key_id=key_id, app=app, client_data_hash=raw_hash, trust_roots=apple_ca.trust_roots
    )
    assertion = device.generate_assertion(key_id, b"\x07" * 32)
    assert (
        verify_assertion(
            assertion, app=app, public_key=key.public_key, previous_counter=0, client_data_hash=b"\x07" * 32
        ).counter
        == 1
    )


def test_emulated_output_is_refused_under_apples_roots(device: EmulatedAppAttestService, app: AppleApp) -> None:
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, "c")
    with pytest.raises(AppIntegrityError) as info:
        verify_attestation(attestation, key_id=key_id, app=app, challenge="c")
    assert info.value.code == "apple.certificate_chain_invalid"
    receipt = cbor2.loads(base64.b64decode(attestation))["attStmt"]["receipt"]
    with pytest.raises(AppIntegrityError) as receipt_info:
        verify_receipt(receipt, app=app, public_key=_point(device, key_id))
    assert receipt_info.value.code == "apple.receipt_invalid"


def _point(device: EmulatedAppAttestService, key_id: str) -> bytes:
    key = verify_attestation(
        device.attest_key_async(key_id, "x"),
        key_id=key_id,
        app=device.app,
        challenge="x",
        trust_roots=device.ca.trust_roots,
    )
    return key.public_key


def test_development_environment(apple_ca: EmulatedAppleCA) -> None:
    production_only = AppleApp(team_id="ABCDE12345", bundle_id="com.example.app")
    development = AppleApp(team_id="ABCDE12345", bundle_id="com.example.app", allow_development=True)
    device = EmulatedAppAttestService(ca=apple_ca, app=development, environment="development")
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, "c")
    key = verify_attestation(
        attestation, key_id=key_id, app=development, challenge="c", trust_roots=apple_ca.trust_roots
    )
    assert key.environment == "development"
    receipt = verify_receipt(key.receipt, app=development, public_key=key.public_key, trust_roots=apple_ca.trust_roots)
    assert receipt.environment == "development"
    with pytest.raises(AppIntegrityError) as info:
        verify_attestation(
            attestation, key_id=key_id, app=production_only, challenge="c", trust_roots=apple_ca.trust_roots
        )
    assert info.value.code == "apple.wrong_environment"


def test_ios27_extension_map(apple_ca: EmulatedAppleCA, app: AppleApp) -> None:
    device = EmulatedAppAttestService(ca=apple_ca, app=app, bundle_version="42.1", validation_category=3)
    key_id = device.generate_key()
    key = verify_attestation(
        device.attest_key_async(key_id, "c"), key_id=key_id, app=app, challenge="c", trust_roots=apple_ca.trust_roots
    )
    assert (key.bundle_version, key.validation_category) == ("42.1", 3)
    result = verify_assertion(
        device.generate_assertion_async(key_id, "d"),
        app=app,
        public_key=key.public_key,
        previous_counter=0,
        client_data="d",
    )
    assert (result.counter, result.bundle_version, result.validation_category) == (1, "42.1", 3)
    # The flags byte is 0x40 (AT) on both: ED is not set although extensions follow.
    auth_data = cbor2.loads(base64.b64decode(device.generate_assertion_async(key_id, "e")))["authenticatorData"]
    assert auth_data[32] == 0x40
    assert len(auth_data) > 37


def test_ios27_unknown_key_and_junk_are_refused(apple_ca: EmulatedAppleCA, app: AppleApp) -> None:
    device = EmulatedAppAttestService(ca=apple_ca, app=app, bundle_version="1")
    key_id = device.generate_key()
    key = verify_attestation(
        device.attest_key_async(key_id, "c"), key_id=key_id, app=app, challenge="c", trust_roots=apple_ca.trust_roots
    )
    good = cbor2.loads(device.generate_assertion(key_id, b"h" * 32))
    for trailing in (
        cbor2.dumps({"apple_bundle_version_01": "1"}) + b"\x00",
        cbor2.dumps({"apple_bundle_version_01": "1", "other": 1}),
        cbor2.dumps({"apple_bundle_version_01": 7}),
        cbor2.dumps({"apple_validation_category_01": b"\x01"}),
        cbor2.dumps({}),
        cbor2.dumps([1]),
        cbor2.dumps({"apple_bundle_version_01": "x" * 600}),
    ):
        altered = cbor2.dumps(
            {"signature": good["signature"], "authenticatorData": good["authenticatorData"][:37] + trailing}
        )
        with pytest.raises(AppIntegrityError) as info:
            verify_assertion(
                altered, app=app, public_key=key.public_key, previous_counter=0, client_data_hash=b"h" * 32
            )
        assert info.value.code == "apple.extension_invalid", trailing


def test_attestation_with_wrong_challenge_and_expired_leaf(
    device: EmulatedAppAttestService, app: AppleApp, apple_ca: EmulatedAppleCA
) -> None:
    key_id = device.generate_key()
    issued = datetime.now(UTC)
    attestation = device.attest_key_async(key_id, "c", now=issued)
    with pytest.raises(AppIntegrityError) as info:
        verify_attestation(attestation, key_id=key_id, app=app, challenge="other", trust_roots=apple_ca.trust_roots)
    assert info.value.code == "apple.nonce_mismatch"
    with pytest.raises(AppIntegrityError) as expired:
        verify_attestation(
            attestation,
            key_id=key_id,
            app=app,
            challenge="c",
            trust_roots=apple_ca.trust_roots,
            now=issued + timedelta(days=4),
        )
    assert expired.value.code == "apple.certificate_expired"


def test_ca_persists_across_restarts(tmp_path: Path, app: AppleApp) -> None:
    path = tmp_path / "state" / "apple-ca.pem"
    first = EmulatedAppleCA.load_or_generate(path)
    device = EmulatedAppAttestService(ca=first, app=app)
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, "c")
    # A restarted server loads the same CA and keeps trusting what it issued; only the public roots are needed.
    second = EmulatedAppleCA.load_or_generate(path)
    assert second.roots_pem() == first.roots_pem()
    key = verify_attestation(attestation, key_id=key_id, app=app, challenge="c", trust_roots=second.roots_pem())
    # And a device on the reloaded CA verifies under the original roots.
    later = EmulatedAppAttestService(ca=second, app=app)
    later_id = later.generate_key()
    verify_attestation(
        later.attest_key_async(later_id, "c"),
        key_id=later_id,
        app=app,
        challenge="c",
        trust_roots=first.roots_pem().decode(),
    )
    assert key.environment == "production"
    assert path.stat().st_mode & 0o777 == 0o600


def test_receipt_refresh_and_signed_attribute_forms(
    device: EmulatedAppAttestService, app: AppleApp, apple_ca: EmulatedAppleCA
) -> None:
    key_id = device.generate_key()
    key = verify_attestation(
        device.attest_key_async(key_id, "c"), key_id=key_id, app=app, challenge="c", trust_roots=apple_ca.trust_roots
    )
    refreshed = apple_ca.refresh_receipt(key.receipt, risk_metric=5)
    receipt = verify_receipt(refreshed, app=app, public_key=key.public_key, trust_roots=apple_ca.trust_roots)
    assert (receipt.type, receipt.risk_metric) == (ReceiptType.RECEIPT, 5)
    assert receipt.not_before is not None
    assert receipt.client_hash != hashlib.sha256(b"c").digest()  # mangled, as Apple does
    fields = parse_receipt(key.receipt).fields
    for form in ({"signed_attributes": True}, {"sign_attributes": True}):
        signed = apple_ca.sign_receipt(fields, **form)
        assert (
            verify_receipt(signed, app=app, public_key=key.public_key, trust_roots=apple_ca.trust_roots).type
            is ReceiptType.ATTEST
        )
