"""Receipts refused: wrong app or key, other roots, tampering, bad times, a signer that is not Apple's."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from importlib.resources import files

import pytest

from app_integrity.apple import AppleApp, AttestedKey, verify_attestation, verify_receipt
from app_integrity.apple.receipt import MAX_CLOCK_SKEW, parse_receipt
from app_integrity.apple.roots import TrustRoots
from app_integrity.errors import AppIntegrityError
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA
from tests.apple import vectors

pytestmark = pytest.mark.vectors

RECEIPT = "veehaitch_ios14_4b2_receipt1"


def _real(
    *,
    receipt: bytes | str | None = None,
    app: AppleApp | None = None,
    public_key: bytes | None = None,
    now: datetime | None = None,
    trust_roots: TrustRoots | None = None,
) -> str:
    vector = vectors.load(RECEIPT)
    with pytest.raises(AppIntegrityError) as info:
        verify_receipt(
            vector["receipt_b64"] if receipt is None else receipt,
            app=app or vectors.app_of(vector),
            public_key=public_key or vectors.public_key(vector),
            now=now or vectors.valid_at(vector),
            trust_roots=trust_roots,
        )
    return info.value.code


def _real_bytes() -> bytes:
    return base64.b64decode(vectors.load(RECEIPT)["receipt_b64"])


def _tampered() -> bytes:
    raw = bytearray(_real_bytes())
    index = raw.index(b"i7RwVBUXwvDZ")
    raw[index] ^= 0x01
    return bytes(raw)


def test_real_receipt_for_another_app() -> None:
    assert _real(app=AppleApp(team_id="6MURL8TA57", bundle_id="de.example.other")) == "apple.app_id_mismatch"


def test_real_receipt_for_another_key() -> None:
    other = vectors.public_key(vectors.load("veehaitch_ios14_2_receipt1"))
    assert _real(public_key=other) == "apple.public_key_mismatch"


def test_real_receipt_under_another_root() -> None:
    assert _real(trust_roots=EmulatedAppleCA.generate().trust_roots) == "apple.receipt_invalid"


def test_real_receipt_under_the_app_attest_root() -> None:
    root = files("app_integrity").joinpath("roots", "apple_app_attestation_root_ca.pem").read_bytes()
    assert _real(trust_roots=root) == "apple.receipt_invalid"


def test_tampered_content() -> None:
    assert _real(receipt=_tampered()) == "apple.receipt_invalid"


def test_before_its_creation() -> None:
    created = vectors.valid_at(vectors.load(RECEIPT))
    assert _real(now=created - MAX_CLOCK_SKEW - timedelta(seconds=1)) == "apple.receipt_invalid"


def test_apple_clock_slightly_ahead_is_tolerated() -> None:
    vector = vectors.load(RECEIPT)
    receipt = verify_receipt(
        vector["receipt_b64"],
        app=vectors.app_of(vector),
        public_key=vectors.public_key(vector),
        now=vectors.valid_at(vector) - MAX_CLOCK_SKEW + timedelta(seconds=1),
    )
    assert receipt.created_at == vectors.valid_at(vector)


@pytest.mark.parametrize(
    ("receipt", "code"),
    [
        (b"\x30\x03\x02\x01\x01", "input.malformed"),
        (b"garbage", "input.malformed"),
        (b"\x30" * 40000, "input.too_large"),
        ("not base64 at all!", "input.malformed"),
    ],
)
def test_not_a_receipt(receipt: bytes | str, code: str) -> None:
    assert _real(receipt=receipt) == code


def test_trailing_bytes() -> None:
    assert _real(receipt=_real_bytes() + b"\x00\x00") == "input.malformed"


@pytest.fixture
def attested(apple_ca: EmulatedAppleCA, app: AppleApp, device: EmulatedAppAttestService) -> AttestedKey:
    key_id = device.generate_key()
    return verify_attestation(
        device.attest_key_async(key_id, "c"), key_id=key_id, app=app, challenge="c", trust_roots=apple_ca.trust_roots
    )


def test_signer_chain_must_hold_at_creation_time(
    apple_ca: EmulatedAppleCA, app: AppleApp, attested: AttestedKey
) -> None:
    fields = dict(parse_receipt(attested.receipt).fields)
    fields[12] = b"2001-01-01T00:00:00.000Z"  # before the emulated signer existed
    receipt = apple_ca.sign_receipt(fields)
    with pytest.raises(AppIntegrityError) as info:
        verify_receipt(receipt, app=app, public_key=attested.public_key, trust_roots=apple_ca.trust_roots)
    assert info.value.code == "apple.receipt_invalid"


def test_expired_receipt(apple_ca: EmulatedAppleCA, app: AppleApp, attested: AttestedKey) -> None:
    with pytest.raises(AppIntegrityError) as info:
        verify_receipt(
            attested.receipt,
            app=app,
            public_key=attested.public_key,
            trust_roots=apple_ca.trust_roots,
            now=datetime.now(UTC) + timedelta(days=91),
        )
    assert info.value.code == "apple.receipt_expired"


def test_signer_without_apples_marker(apple_ca: EmulatedAppleCA, app: AppleApp, attested: AttestedKey) -> None:
    # A certificate of the same chain that is not marked as the fraud-receipt signer.
    impostor = dataclasses.replace(apple_ca, receipt_signer=apple_ca.receipt_intermediate)
    receipt = impostor.sign_receipt(parse_receipt(attested.receipt).fields)
    with pytest.raises(AppIntegrityError) as info:
        verify_receipt(receipt, app=app, public_key=attested.public_key, trust_roots=apple_ca.trust_roots)
    assert info.value.code == "apple.receipt_invalid"


@pytest.mark.parametrize(
    ("field", "value"),
    [(6, b"OTHER"), (7, b"staging"), (12, b"yesterday"), (17, b"many"), (2, b"\xff\xfe")],
)
def test_bad_field_values(
    apple_ca: EmulatedAppleCA, app: AppleApp, attested: AttestedKey, field: int, value: bytes
) -> None:
    fields = dict(parse_receipt(attested.receipt).fields)
    fields[field] = value
    with pytest.raises(AppIntegrityError) as info:
        verify_receipt(
            apple_ca.sign_receipt(fields), app=app, public_key=attested.public_key, trust_roots=apple_ca.trust_roots
        )
    assert info.value.code == "apple.receipt_invalid"


def test_missing_field(apple_ca: EmulatedAppleCA, app: AppleApp, attested: AttestedKey) -> None:
    fields = dict(parse_receipt(attested.receipt).fields)
    del fields[21]
    with pytest.raises(AppIntegrityError) as info:
        verify_receipt(
            apple_ca.sign_receipt(fields), app=app, public_key=attested.public_key, trust_roots=apple_ca.trust_roots
        )
    assert info.value.code == "apple.receipt_invalid"
