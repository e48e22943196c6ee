"""Every real App Attest capture verifies at its valid_at with the pinned roots (the _NEGATIVE one must not)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

import pytest

from app_integrity.apple import ReceiptType, verify_assertion, verify_attestation, verify_receipt
from app_integrity.apple.receipt import parse_receipt
from app_integrity.errors import AppleError
from tests.apple import vectors

pytestmark = pytest.mark.vectors


def created_at(receipt: bytes) -> datetime:
    return datetime.fromisoformat(parse_receipt(receipt).fields[12].decode())


@pytest.mark.parametrize("name", vectors.names("attestation"))
def test_attestation_vector(name: str) -> None:
    vector = vectors.load(name)
    app = vectors.app_of(vector)
    if vector["expected"]["result"] == "invalid":
        with pytest.raises(AppleError) as info:
            verify_attestation(
                vector["attestation_object_b64"],
                key_id=vector["key_id_b64"],
                app=app,
                client_data_hash=vectors.client_data_hash(vector),
                now=vectors.valid_at(vector),
            )
        assert info.value.code == "apple.nonce_mismatch"
        return
    key = verify_attestation(
        vector["attestation_object_b64"],
        key_id=vector["key_id_b64"],
        app=app,
        client_data_hash=vectors.client_data_hash(vector),
        now=vectors.valid_at(vector),
    )
    assert key.environment == vector["environment"]
    assert key.key_id == base64.b64decode(vector["key_id_b64"])
    assert key.counter == 0
    assert key.not_before <= vectors.valid_at(vector) <= key.not_after
    assert key.bundle_version is None
    assert key.validation_category is None
    if "public_key_pem" in vector or "public_key_x963_hex" in vector:
        assert key.public_key == vectors.public_key(vector)
    # The ATTEST receipt inside is signed by Apple's fraud-receipt signer: verify it at its creation time.
    receipt = verify_receipt(key.receipt, app=app, public_key=key.public_key, now=created_at(key.receipt))
    assert receipt.type is ReceiptType.ATTEST
    assert receipt.risk_metric is None
    assert receipt.not_before is None
    assert receipt.environment == vector["environment"]
    assert receipt.app_id == vector["app_id"]
    assert receipt.client_hash == vectors.client_data_hash(vector)


@pytest.mark.parametrize("name", vectors.names("attestation"))
def test_attestation_vector_with_the_challenge_string(name: str) -> None:
    """Passing the challenge string hashes it: right exactly when the capture's app hashed that string."""
    vector = vectors.load(name)
    challenge = vector["challenge"].get("utf8") or vector["challenge"]["uuid"]
    hashed_string = hashlib.sha256(challenge.encode()).digest() == vectors.client_data_hash(vector)
    if hashed_string and vector["expected"]["result"] == "valid":
        key = verify_attestation(
            vector["attestation_object_b64"],
            key_id=vector["key_id_b64"],
            app=vectors.app_of(vector),
            challenge=challenge,
            now=vectors.valid_at(vector),
        )
        assert key.environment == vector["environment"]
        return
    with pytest.raises(AppleError) as info:
        verify_attestation(
            vector["attestation_object_b64"],
            key_id=vector["key_id_b64"],
            app=vectors.app_of(vector),
            challenge=challenge,
            now=vectors.valid_at(vector),
        )
    assert info.value.code == "apple.nonce_mismatch"


@pytest.mark.parametrize("name", vectors.names("assertion"))
def test_assertion_vector(name: str) -> None:
    vector = vectors.load(name)
    result = verify_assertion(
        vector["assertion_b64"],
        app=vectors.app_of(vector),
        public_key=vectors.public_key(vector),
        previous_counter=vector["previous_counter"],
        client_data=vector["client_data_utf8"],
    )
    assert result.counter == vector["expected_counter"]
    assert result.bundle_version is None
    # The same with the hash given explicitly.
    again = verify_assertion(
        vector["assertion_b64"],
        app=vectors.app_of(vector),
        public_key=vectors.public_key(vector),
        previous_counter=vector["previous_counter"],
        client_data_hash=vectors.client_data_hash(vector),
    )
    assert again == result


@pytest.mark.parametrize("name", vectors.names("receipt"))
def test_receipt_vector(name: str) -> None:
    vector = vectors.load(name)
    receipt = verify_receipt(
        vector["receipt_b64"],
        app=vectors.app_of(vector),
        public_key=vectors.public_key(vector),
        now=vectors.valid_at(vector),
    )
    expected = vector["expected_properties"]
    assert receipt.type.value == expected["type"]
    assert receipt.risk_metric == expected["riskMetric"]
    assert receipt.token == expected["token"]
    assert receipt.created_at == datetime.fromisoformat(expected["creationTime"])
    assert receipt.not_before == datetime.fromisoformat(expected["notBefore"])
    assert receipt.expires_at == datetime.fromisoformat(expected["expirationTime"])
    assert base64.b64encode(receipt.client_hash).decode() == expected["clientHashBase64"]
    assert {"sandbox": "development"}.get(expected["environment"], expected["environment"]) == receipt.environment
    assert receipt.app_id == vector["app_id"]


@pytest.mark.parametrize("name", vectors.names("receipt"))
def test_receipt_vector_refused_once_expired(name: str) -> None:
    vector = vectors.load(name)
    expires = datetime.fromisoformat(vector["expected_properties"]["expirationTime"])
    with pytest.raises(AppleError) as info:
        verify_receipt(
            vector["receipt_b64"],
            app=vectors.app_of(vector),
            public_key=vectors.public_key(vector),
            now=expires + timedelta(seconds=1),
        )
    assert info.value.code == "apple.receipt_expired"
