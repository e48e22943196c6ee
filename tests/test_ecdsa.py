"""The ECDSA helper against every Wycheproof P-256/SHA-256 vector (DER and IEEE P1363 encodings)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity._ecdsa import load_p256_public_key, public_point, verify_p256_sha256, verify_p256_sha256_p1363
from app_integrity.errors import InputError
from tests.conftest import load_json, require_shared

pytestmark = pytest.mark.vectors


def _run(file: str, verify: Any) -> int:
    suite = load_json(require_shared(f"suites/wycheproof/{file}"))
    count = 0
    for group in suite["testGroups"]:
        point = bytes.fromhex(group["publicKey"]["uncompressed"])
        for test in group["tests"]:
            result = verify(point, bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"]))
            # "acceptable" cases are legacy encodings a strict verifier may refuse; none verify here.
            expected = test["result"] == "valid"
            assert result is expected, (test["tcId"], test["comment"], test["result"])
            count += 1
    assert count == suite["numberOfTests"]
    return count


def test_wycheproof_der() -> None:
    assert _run("ecdsa_secp256r1_sha256_test.json", verify_p256_sha256) > 400


def test_wycheproof_p1363() -> None:
    assert _run("ecdsa_secp256r1_sha256_p1363_test.json", verify_p256_sha256_p1363) > 200


def test_loaded_keys_pass_through_and_points_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    assert load_p256_public_key(public) is public
    signature = key.sign(b"message", ec.ECDSA(hashes.SHA256()))
    assert verify_p256_sha256(public_point(public), signature, b"message")
    assert not verify_p256_sha256(public_point(public), signature, b"other")


@pytest.mark.parametrize("point", [b"\x04" + b"\x00" * 64, b"\x04" * 64, b"\x02" + b"\x01" * 64])
def test_bad_points_are_malformed(point: bytes) -> None:
    with pytest.raises(InputError) as info:
        load_p256_public_key(point)
    assert info.value.code == "input.malformed"


def test_other_curves_are_refused() -> None:
    key = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(InputError):
        load_p256_public_key(key)
