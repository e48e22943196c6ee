"""Wycheproof vectors for Play Integrity's pinned algorithms, through the decoder's own JOSE path and primitives.

- JWE (json_web_encryption, json_web_crypto): ``decrypt_jwe`` accepts exactly the valid A256KW + A256GCM tokens and
  refuses everything else (other algorithms are refused by policy even where the vector is valid).
- JWS (json_web_signature, json_web_crypto): ``verify_jws`` with the group's P-256 key accepts exactly the valid
  ES256 signatures.
- AES key wrap (256-bit keys) through ``aes_kw_unwrap``; AES-GCM (256-bit keys) through ``aes256_gcm_decrypt``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity.android.play.jose import aes256_gcm_decrypt, aes_kw_unwrap, decrypt_jwe, verify_jws
from app_integrity.errors import InputError, PlayIntegrityError
from tests.conftest import require_shared

pytestmark = pytest.mark.vectors
REFUSED = (PlayIntegrityError, InputError)


def _suite(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(require_shared(f"suites/wycheproof/{name}").read_text(encoding="utf-8"))
    return data


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _header(token: str) -> dict[str, Any]:
    try:
        header: dict[str, Any] = json.loads(_b64url(token.split(".")[0]))
    except ValueError:
        return {}
    return header


def _jose_cases(kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    cases = []
    for name in ("json_web_encryption_test.json", "json_web_crypto_test.json", "json_web_signature_test.json"):
        for group in _suite(name)["testGroups"]:
            for test in group["tests"]:
                if kind in test:
                    cases.append((group, test))
    return cases


def test_jwe_vectors() -> None:
    cases = _jose_cases("jwe")
    accepted = refused = 0
    for group, test in cases:
        private = group.get("private", {})
        key = _b64url(private["k"]) if private.get("kty") == "oct" else b"\0" * 32
        token = test["jwe"] if isinstance(test["jwe"], str) else json.dumps(test["jwe"])
        header = _header(token)
        pinned = header.get("alg") == "A256KW" and header.get("enc") == "A256GCM" and len(key) == 32
        if test["result"] == "valid" and pinned:
            assert decrypt_jwe(token, key) == bytes.fromhex(test["pt"]), test["tcId"]
            accepted += 1
        else:
            with pytest.raises(REFUSED):
                decrypt_jwe(token, key)
            refused += 1
    assert accepted >= 1, accepted
    assert refused >= 100, refused


def _p256(jwk: dict[str, Any]) -> ec.EllipticCurvePublicKey | None:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    x, y = (int.from_bytes(_b64url(jwk[c]), "big") for c in ("x", "y"))
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


def test_jws_vectors() -> None:
    unrelated = ec.generate_private_key(ec.SECP256R1()).public_key()
    accepted = refused = 0
    for group, test in _jose_cases("jws"):
        jwk = group.get("public") or group.get("private") or {}
        key = _p256(jwk)
        token = test["jws"] if isinstance(test["jws"], str) else json.dumps(test["jws"])
        # A key marked for encryption only is refused by its metadata; the decoder has one configured
        # verification key and no metadata, so those vectors are outside what it can express.
        signing_key = key is not None and jwk.get("use", "sig") == "sig" and "encrypt" not in jwk.get("key_ops", [])
        pinned = _header(token).get("alg") == "ES256" and signing_key
        if test["result"] == "valid" and pinned:
            assert key is not None
            assert verify_jws(token, key) == _b64url(token.split(".")[1]), test["tcId"]
            accepted += 1
        else:
            with pytest.raises(REFUSED):
                verify_jws(token, key if signing_key and key is not None else unrelated)
            refused += 1
    assert accepted >= 3, accepted
    assert refused >= 50, refused


def test_aes_key_wrap_vectors() -> None:
    groups = [g for g in _suite("aes_wrap_test.json")["testGroups"] if g["keySize"] == 256]
    count = 0
    for group in groups:
        for test in group["tests"]:
            key, ct, msg = (bytes.fromhex(test[f]) for f in ("key", "ct", "msg"))
            if test["result"] == "valid":
                assert aes_kw_unwrap(key, ct) == msg, test["tcId"]
            elif test["result"] == "invalid":
                with pytest.raises(REFUSED):
                    aes_kw_unwrap(key, ct)
            count += 1
    assert count >= 60


def test_aes_gcm_vectors() -> None:
    groups = [g for g in _suite("aes_gcm_test.json")["testGroups"] if g["keySize"] == 256]
    accepted = refused = 0
    for group in groups:
        for test in group["tests"]:
            key, iv, aad, msg, ct, tag = (bytes.fromhex(test[f]) for f in ("key", "iv", "aad", "msg", "ct", "tag"))
            # A256GCM as JWE uses it: 96-bit IV, 128-bit tag. Other IV sizes are refused by the decoder.
            if test["result"] == "valid" and len(iv) == 12 and len(tag) == 16:
                assert aes256_gcm_decrypt(key, iv, ct, tag, aad) == msg, test["tcId"]
                accepted += 1
            else:
                with pytest.raises(REFUSED):
                    aes256_gcm_decrypt(key, iv, ct, tag, aad)
                refused += 1
    assert accepted >= 30, accepted
    assert refused >= 20, refused
