"""Real captures, altered one way at a time: each alteration is refused with its own code."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from importlib.resources import files
from typing import Any

import cbor2
import pytest

from app_integrity.apple import AppleApp, verify_assertion, verify_attestation
from app_integrity.errors import AppIntegrityError
from app_integrity.testing.apple import EmulatedAppleCA
from tests.apple import vectors

pytestmark = pytest.mark.vectors

ATTESTATION = "veehaitch_ios14_4_attestation"
OTHER_ATTESTATION = "veehaitch_ios14_3_attestation"
ASSERTION = "veehaitch_ios14_4_assertion"


def _reencode(raw: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    decoded = cbor2.loads(raw)
    change(decoded)
    return cbor2.dumps(decoded)


def _set_auth_data(value: bytes) -> Callable[[dict[str, Any]], None]:
    def change(decoded: dict[str, Any]) -> None:
        decoded["authData"] = value

    return change


def attest(**overrides: Any) -> None:
    vector = vectors.load(ATTESTATION)
    arguments: dict[str, Any] = {
        "attestation": vectors.attestation_bytes(vector),
        "key_id": vector["key_id_b64"],
        "app": vectors.app_of(vector),
        "challenge": vector["challenge"]["utf8"],
        "now": vectors.valid_at(vector),
    }
    arguments.update(overrides)
    verify_attestation(arguments.pop("attestation"), **arguments)


def _attestation_with(change: Callable[[dict[str, Any]], None]) -> bytes:
    return _reencode(vectors.attestation_bytes(vectors.load(ATTESTATION)), change)


def _auth_data() -> bytes:
    auth_data: bytes = cbor2.loads(vectors.attestation_bytes(vectors.load(ATTESTATION)))["authData"]
    return auth_data


def _duplicate_key_map() -> bytes:
    raw = vectors.attestation_bytes(vectors.load(ATTESTATION))
    # a3 (map of 3) -> a4 with a second "fmt" entry: the same object with a duplicated key.
    assert raw[0] == 0xA3
    return b"\xa4" + cbor2.dumps("fmt") + cbor2.dumps("apple-appattest") + raw[1:]


def _swap_x5c(decoded: dict[str, Any]) -> None:
    decoded["attStmt"]["x5c"].reverse()


def _other_receipt(decoded: dict[str, Any]) -> None:
    other = cbor2.loads(vectors.attestation_bytes(vectors.load(OTHER_ATTESTATION)))
    decoded["attStmt"]["receipt"] = other["attStmt"]["receipt"]


def _third_certificate(decoded: dict[str, Any]) -> None:
    decoded["attStmt"]["x5c"].append(decoded["attStmt"]["x5c"][1])


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(decoded: dict[str, Any]) -> None:
        target = decoded
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


ATTESTATION_CASES: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "wrong challenge": (lambda: {"challenge": "wurzelpfropf2"}, "apple.nonce_mismatch"),
    "client data hash of another challenge": (
        lambda: {"challenge": None, "client_data_hash": b"\x00" * 32},
        "apple.nonce_mismatch",
    ),
    "wrong bundle id": (
        lambda: {"app": AppleApp(team_id="6MURL8TA57", bundle_id="de.example.other", allow_development=True)},
        "apple.app_id_mismatch",
    ),
    "wrong team id": (
        lambda: {
            "app": AppleApp(
                team_id="ABCDE12345", bundle_id="de.vincent-haupert.apple-appattest-poc", allow_development=True
            )
        },
        "apple.app_id_mismatch",
    ),
    "wrong key id": (lambda: {"key_id": base64.b64encode(b"\x01" * 32).decode()}, "apple.key_id_mismatch"),
    "development key, production app": (
        lambda: {"app": vectors.app_of(vectors.load(ATTESTATION), allow_development=False)},
        "apple.wrong_environment",
    ),
    "after the leaf expired": (
        lambda: {"now": vectors.valid_at(vectors.load(ATTESTATION)) + timedelta(days=3)},
        "apple.certificate_expired",
    ),
    "before the leaf was issued": (
        lambda: {"now": vectors.valid_at(vectors.load(ATTESTATION)) - timedelta(days=2)},
        "apple.certificate_expired",
    ),
    "swapped certificates": (lambda: {"attestation": _attestation_with(_swap_x5c)}, "apple.certificate_chain_invalid"),
    "three certificates": (
        lambda: {"attestation": _attestation_with(_third_certificate)},
        "apple.certificate_chain_invalid",
    ),
    "chain to another root": (
        lambda: {"trust_roots": EmulatedAppleCA.generate().trust_roots},
        "apple.certificate_chain_invalid",
    ),
    "a receipt root as trust root": (
        lambda: {"trust_roots": files("app_integrity").joinpath("roots", "apple_root_ca_g3.pem").read_bytes()},
        "apple.certificate_chain_invalid",
    ),
    "tampered rpIdHash": (
        lambda: {"attestation": _attestation_with(_set_auth_data(b"\x00" + _auth_data()[1:]))},
        "apple.nonce_mismatch",
    ),
    "tampered counter": (
        lambda: {"attestation": _attestation_with(_set_auth_data(_auth_data()[:36] + b"\x01" + _auth_data()[37:]))},
        "apple.nonce_mismatch",
    ),
    "truncated authData": (
        lambda: {"attestation": _attestation_with(_set_auth_data(_auth_data()[:100]))},
        "apple.authenticator_data_invalid",
    ),
    "authData shorter than its header": (
        lambda: {"attestation": _attestation_with(_set_auth_data(_auth_data()[:20]))},
        "apple.authenticator_data_invalid",
    ),
    "junk after authData": (
        lambda: {"attestation": _attestation_with(_set_auth_data(_auth_data() + b"\x00junk"))},
        "apple.extension_invalid",
    ),
    "absurd credentialIdLength": (
        lambda: {"attestation": _attestation_with(_set_auth_data(_auth_data()[:53] + b"\xff\xff" + _auth_data()[55:]))},
        "apple.authenticator_data_invalid",
    ),
    "other fmt": (lambda: {"attestation": _attestation_with(_set(("fmt",), "packed"))}, "apple.unsupported_format"),
    "authData as text": (lambda: {"attestation": _attestation_with(_set(("authData",), "text"))}, "input.malformed"),
    "x5c as bytes": (lambda: {"attestation": _attestation_with(_set(("attStmt", "x5c"), b"x"))}, "input.malformed"),
    "receipt missing": (
        lambda: {"attestation": _attestation_with(lambda d: d["attStmt"].pop("receipt"))},
        "input.malformed",
    ),
    "certificate garbage": (
        lambda: {"attestation": _attestation_with(lambda d: d["attStmt"]["x5c"].__setitem__(0, b"\x30\x03abc"))},
        "input.malformed",
    ),
    "receipt of another attestation": (
        lambda: {"attestation": _attestation_with(_other_receipt)},
        "apple.receipt_invalid",
    ),
    "receipt garbage": (
        lambda: {"attestation": _attestation_with(_set(("attStmt", "receipt"), b"\x30\x00"))},
        "input.malformed",
    ),
    "duplicate CBOR keys": (lambda: {"attestation": _duplicate_key_map()}, "input.malformed"),
    "trailing bytes after the CBOR": (
        lambda: {"attestation": vectors.attestation_bytes(vectors.load(ATTESTATION)) + b"\x00"},
        "input.malformed",
    ),
    "not CBOR": (lambda: {"attestation": b"\xff\xfe"}, "input.malformed"),
    "not base64": (lambda: {"attestation": "not base64!"}, "input.malformed"),
    "oversized": (lambda: {"attestation": b"\xa0" * 40000}, "input.too_large"),
    "key id of the wrong length": (lambda: {"key_id": base64.b64encode(b"\x01" * 31).decode()}, "input.malformed"),
    "both challenge and hash": (lambda: {"client_data_hash": b"\x00" * 32}, "input.invalid_argument"),
}


@pytest.mark.parametrize("case", sorted(ATTESTATION_CASES))
def test_attestation_mutation(case: str) -> None:
    overrides, code = ATTESTATION_CASES[case]
    with pytest.raises(AppIntegrityError) as info:
        attest(**overrides())
    assert info.value.code == code


def test_unaltered_attestation_passes() -> None:
    attest()


def assert_(**overrides: Any) -> None:
    vector = vectors.load(ASSERTION)
    arguments: dict[str, Any] = {
        "assertion": vectors.assertion_bytes(vector),
        "app": vectors.app_of(vector),
        "public_key": vectors.public_key(vector),
        "previous_counter": 0,
        "client_data": vector["client_data_utf8"],
    }
    arguments.update(overrides)
    verify_assertion(arguments.pop("assertion"), **arguments)


def _assertion_with(change: Callable[[dict[str, Any]], None]) -> bytes:
    return _reencode(vectors.assertion_bytes(vectors.load(ASSERTION)), change)


def _assertion_auth_data() -> bytes:
    auth_data: bytes = cbor2.loads(vectors.assertion_bytes(vectors.load(ASSERTION)))["authenticatorData"]
    return auth_data


def _set_assertion_auth_data(value: bytes) -> Callable[[dict[str, Any]], None]:
    return _set(("authenticatorData",), value)


ASSERTION_CASES: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "tampered clientData": (lambda: {"client_data": "wurzelpfropF"}, "apple.signature_invalid"),
    "another key": (
        lambda: {"public_key": vectors.public_key(vectors.load("veehaitch_ios14_3_assertion"))},
        "apple.signature_invalid",
    ),
    "replayed counter": (lambda: {"previous_counter": 1}, "apple.counter_not_increasing"),
    "older counter": (lambda: {"previous_counter": 7}, "apple.counter_not_increasing"),
    "wrong app id": (
        lambda: {"app": AppleApp(team_id="6MURL8TA57", bundle_id="de.example.other")},
        "apple.app_id_mismatch",
    ),
    "tampered counter": (
        lambda: {"assertion": _assertion_with(_set_assertion_auth_data(_assertion_auth_data()[:36] + b"\x02"))},
        "apple.signature_invalid",
    ),
    "tampered signature": (
        lambda: {"assertion": _assertion_with(_set(("signature",), b"\x30\x06\x02\x01\x01\x02\x01\x01"))},
        "apple.signature_invalid",
    ),
    "truncated authenticatorData": (
        lambda: {"assertion": _assertion_with(_set_assertion_auth_data(_assertion_auth_data()[:30]))},
        "apple.authenticator_data_invalid",
    ),
    "junk after authenticatorData": (
        lambda: {"assertion": _assertion_with(_set_assertion_auth_data(_assertion_auth_data() + b"\x01\x02"))},
        "apple.extension_invalid",
    ),
    "an extension map followed by junk": (
        lambda: {
            "assertion": _assertion_with(
                _set_assertion_auth_data(
                    _assertion_auth_data() + cbor2.dumps({"apple_bundle_version_01": "1"}) + b"\x00"
                )
            )
        },
        "apple.extension_invalid",
    ),
    "signature as text": (lambda: {"assertion": _assertion_with(_set(("signature",), "sig"))}, "input.malformed"),
    "extra member": (lambda: {"assertion": _assertion_with(_set(("extra",), 1))}, "input.malformed"),
    "an array, not a map": (lambda: {"assertion": cbor2.dumps([1, 2])}, "input.malformed"),
    "absurd byte-string length": (
        lambda: {"assertion": bytes.fromhex("a1697369676e61747572655bffffffffffffffff")},
        "input.malformed",
    ),
    "oversized": (lambda: {"assertion": b"\xa0" * 5000}, "input.too_large"),
    "negative previous counter": (lambda: {"previous_counter": -1}, "input.invalid_argument"),
    "neither client data nor hash": (lambda: {"client_data": None}, "input.invalid_argument"),
    "a public key that is no point": (lambda: {"public_key": b"\x04" + b"\x00" * 64}, "input.malformed"),
}


@pytest.mark.parametrize("case", sorted(ASSERTION_CASES))
def test_assertion_mutation(case: str) -> None:
    overrides, code = ASSERTION_CASES[case]
    with pytest.raises(AppIntegrityError) as info:
        assert_(**overrides())
    assert info.value.code == code


def test_unaltered_assertion_passes() -> None:
    assert_()


def test_duplicate_keys_in_an_assertion() -> None:
    raw = vectors.assertion_bytes(vectors.load(ASSERTION))
    assert raw[0] == 0xA2
    duplicated = b"\xa3" + cbor2.dumps("signature") + cbor2.dumps(b"x") + raw[1:]
    with pytest.raises(AppIntegrityError) as info:
        assert_(assertion=duplicated)
    assert info.value.code == "input.malformed"


@pytest.mark.parametrize(
    "encode",
    [
        lambda raw: raw,
        lambda raw: base64.b64encode(raw).decode(),
        lambda raw: base64.b64encode(raw).decode().rstrip("="),
        lambda raw: base64.urlsafe_b64encode(raw).decode(),
        lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ],
    ids=["bytes", "standard", "standard-unpadded", "url-safe", "url-safe-unpadded"],
)
def test_base64_variants(encode: Callable[[bytes], Any]) -> None:
    vector = vectors.load(ATTESTATION)
    attest(attestation=encode(vectors.attestation_bytes(vector)), key_id=encode(base64.b64decode(vector["key_id_b64"])))
    assert_(assertion=encode(vectors.assertion_bytes(vectors.load(ASSERTION))))
