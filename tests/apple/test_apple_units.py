"""Small parts: the app identity, COSE keys, authenticator data edge cases, trust-root arguments."""

from __future__ import annotations

import hashlib
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from app_integrity.apple import AppleApp
from app_integrity.apple._inputs import client_data_hash
from app_integrity.apple.attestation import _cose_point
from app_integrity.apple.authdata import parse_assertion_auth_data, parse_attestation_auth_data
from app_integrity.apple.roots import app_attestation_root, receipt_root, resolve_roots
from app_integrity.errors import AppIntegrityError

POINT = b"\x04" + b"\x11" * 32 + b"\x22" * 32


def test_app_identity() -> None:
    app = AppleApp(team_id="ABCDE12345", bundle_id="com.example.app")
    assert app.app_id == "ABCDE12345.com.example.app"
    assert app.rp_id_hash == hashlib.sha256(b"ABCDE12345.com.example.app").digest()
    assert not app.allow_development


@pytest.mark.parametrize(("team_id", "bundle_id"), [("abc", "com.x"), ("ABCDE12345", ""), ("ABCDE12345", "a b")])
def test_bad_app_identity(team_id: str, bundle_id: str) -> None:
    with pytest.raises(AppIntegrityError) as info:
        AppleApp(team_id=team_id, bundle_id=bundle_id)
    assert info.value.code == "input.invalid_argument"


def test_cose_key_round_trip() -> None:
    assert _cose_point({1: 2, 3: -7, -1: 1, -2: POINT[1:33], -3: POINT[33:]}) == POINT


@pytest.mark.parametrize(
    "cose",
    [
        {1: 3, 3: -7, -1: 1, -2: POINT[1:33], -3: POINT[33:]},  # RSA key type
        {1: 2, 3: -35, -1: 1, -2: POINT[1:33], -3: POINT[33:]},  # ES384
        {1: 2, 3: -7, -1: 2, -2: POINT[1:33], -3: POINT[33:]},  # P-384 curve
        {1: 2, 3: -7, -1: 1, -2: POINT[1:32], -3: POINT[33:]},  # short x
        {1: 2, 3: -7, -1: 1, -2: "x", -3: POINT[33:]},  # wrong type
        {},
    ],
)
def test_bad_cose_keys(cose: dict[Any, Any]) -> None:
    with pytest.raises(AppIntegrityError) as info:
        _cose_point(cose)
    assert info.value.code == "apple.public_key_mismatch"


def _attestation_auth_data(id_length: int = 32, cose: bytes | None = None, tail: bytes = b"") -> bytes:
    cose_key = cose if cose is not None else cbor2.dumps({1: 2, 3: -7, -1: 1, -2: POINT[1:33], -3: POINT[33:]})
    return (
        b"\x00" * 32
        + b"\x40"
        + b"\x00" * 4
        + b"appattest"
        + b"\x00" * 7
        + id_length.to_bytes(2, "big")
        + b"\x01" * id_length
        + cose_key
        + tail
    )


def test_attestation_auth_data_parses_by_length() -> None:
    parsed = parse_attestation_auth_data(_attestation_auth_data())
    assert parsed.credential_id == b"\x01" * 32
    assert parsed.extensions is None
    with_map = parse_attestation_auth_data(
        _attestation_auth_data(tail=cbor2.dumps({"apple_validation_category_01": b"\x03\x00\x00\x00"}))
    )
    assert with_map.extensions is not None
    assert with_map.extensions.validation_category == 3
    assert with_map.extensions.bundle_version is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (_attestation_auth_data(id_length=0), "apple.authenticator_data_invalid"),
        (_attestation_auth_data(id_length=200), "apple.authenticator_data_invalid"),
        (_attestation_auth_data(cose=b""), "apple.authenticator_data_invalid"),
        (_attestation_auth_data(cose=b"\xa1\x01"), "apple.authenticator_data_invalid"),
        (_attestation_auth_data(cose=cbor2.dumps([1, 2])), "apple.authenticator_data_invalid"),
        (_attestation_auth_data(tail=b"\xff"), "apple.extension_invalid"),
        (_attestation_auth_data(tail=cbor2.dumps({"apple_bundle_version_01": "1"}) * 2), "apple.extension_invalid"),
        (b"\x00" * 5000, "input.too_large"),
    ],
)
def test_bad_attestation_auth_data(raw: bytes, code: str) -> None:
    with pytest.raises(AppIntegrityError) as info:
        parse_attestation_auth_data(raw)
    assert info.value.code == code


def test_assertion_auth_data_ignores_the_at_flag() -> None:
    parsed = parse_assertion_auth_data(b"\x00" * 32 + b"\x40" + (5).to_bytes(4, "big"))
    assert (parsed.flags, parsed.sign_count, parsed.extensions) == (0x40, 5, None)


def test_trust_root_arguments() -> None:
    attestation_root = app_attestation_root()
    assert resolve_roots(None, attestation_root) == (attestation_root,)
    pem = attestation_root.public_bytes(Encoding.PEM)
    der = attestation_root.public_bytes(Encoding.DER)
    assert resolve_roots([pem, der, receipt_root()], attestation_root) == (
        attestation_root,
        attestation_root,
        receipt_root(),
    )
    assert resolve_roots(pem.decode(), receipt_root()) == (attestation_root,)
    bad_arguments: list[Any] = [b"not a certificate", [], [42]]
    for bad in bad_arguments:
        with pytest.raises(AppIntegrityError) as info:
            resolve_roots(bad, attestation_root)
        assert info.value.code == "input.invalid_argument"


def test_client_data_that_is_not_utf8() -> None:
    with pytest.raises(AppIntegrityError) as info:
        client_data_hash("\ud800", None, text_name="client_data")
    assert info.value.code == "input.malformed"
