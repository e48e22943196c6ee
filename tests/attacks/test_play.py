"""Play Integrity attacks at the verifier: JOSE downgrades, other apps' tokens, and verdicts for other requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app_integrity.android import AndroidApp, LocalKeyDecoder, evaluate_verdict, parse_verdict
from app_integrity.binding import build_binding, request_hash
from app_integrity.testing.android.play import PROFILES, EmulatedPlayIntegrity, cleared
from tests.attacks.corpus import Attack, ids, refused

PACKAGE = "com.example.app"
PLATFORM = "android-play"
NONCE = "bm9uY2Utb2YtdGhpcy1yZXF1ZXN0LTAxMjM0NTY3"
NOW = datetime.now(UTC)
PLAY = EmulatedPlayIntegrity()
OURS = PLAY.register_app(PACKAGE)
THEIRS = PLAY.register_app("com.attacker.clone")
DECODER = LocalKeyDecoder(decryption_key=OURS.decryption_key, verification_key=OURS.verification_key)
APP = AndroidApp(PACKAGE, [OURS.certificate_sha256])
HASH = request_hash(build_binding("challenge-1", "POST", "/api/orders", b'{"sku":"coins-100"}'))
OTHER_HASH = request_hash(build_binding("challenge-1", "POST", "/api/orders", b'{"sku":"coins-999"}'))


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _payload(**request: Any) -> dict[str, Any]:
    payload = PLAY.payload(PACKAGE, PROFILES["genuine"], nonce=NONCE, now=NOW)
    payload["requestDetails"].update(request)
    return payload


def _es256(header: bytes, payload: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    r, s = decode_dss_signature(key.sign(header + b"." + payload, ec.ECDSA(hashes.SHA256())))
    return _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def jws(payload: bytes, *, header: dict[str, Any] | bytes | None = None, signature: bytes | None = None) -> bytes:
    protected = _b64(header if isinstance(header, bytes) else _json(header or {"alg": "ES256"}))
    body = _b64(payload)
    sig = signature if signature is not None else _es256(protected, body, OURS.signing_key)
    return protected + b"." + body + b"." + sig


def jwe(plaintext: bytes, *, header: dict[str, Any] | bytes | None = None, kek: bytes | None = None) -> str:
    """A compact JWE built by hand, so that any header (even a forbidden one) can be sent."""
    protected = _b64(header if isinstance(header, bytes) else _json(header or {"alg": "A256KW", "enc": "A256GCM"}))
    kek = kek if kek is not None else OURS.decryption_key_bytes
    cek = secrets.token_bytes(32)
    iv = secrets.token_bytes(12)
    sealed = AESGCM(cek).encrypt(iv, plaintext, protected)
    parts = [protected, _b64(aes_key_wrap(kek, cek)), _b64(iv), _b64(sealed[:-16]), _b64(sealed[-16:])]
    return b".".join(parts).decode()


def _dir(plaintext: bytes) -> str:
    # alg "dir": the decryption key itself as the content key, no wrapped key.
    protected = _b64(_json({"alg": "dir", "enc": "A256GCM"}))
    iv = secrets.token_bytes(12)
    sealed = AESGCM(OURS.decryption_key_bytes).encrypt(iv, plaintext, protected)
    return b".".join([protected, b"", _b64(iv), _b64(sealed[:-16]), _b64(sealed[-16:])]).decode()


def _hs256_with_public_key() -> str:
    # The classic algorithm-confusion attack: HMAC keyed with the (public) verification key's bytes.
    header = _b64(_json({"alg": "HS256"}))
    body = _b64(_json(_payload()))
    der = OURS.signing_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    mac = hmac.new(der, header + b"." + body, hashlib.sha256).digest()
    return jwe(header + b"." + body + b"." + _b64(mac))


def decode(token: str) -> object:
    return DECODER.decode_sync(token, package_name=PACKAGE)


def genuine(payload: dict[str, Any] | None = None) -> str:
    return jwe(jws(_json(payload if payload is not None else _payload())))


def _evaluate(payload: dict[str, Any], *, request_hash_: str | None = None, nonce: str | None = NONCE) -> object:
    verdict = parse_verdict(payload)
    if request_hash_ is not None:
        return evaluate_verdict(verdict, app=APP, request_hash=request_hash_, now=NOW)
    return evaluate_verdict(verdict, app=APP, nonce=nonce, now=NOW)


def _standard(**request: Any) -> dict[str, Any]:
    payload = PLAY.payload(PACKAGE, PROFILES["genuine"], request_hash=HASH, now=NOW)
    payload["requestDetails"].update(request)
    return payload


def _millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _profile(name: str) -> dict[str, Any]:
    return PLAY.payload(PACKAGE, PROFILES[name], request_hash=HASH, now=NOW)


PAYLOAD = _json(_payload())

JOSE: list[Attack] = [
    Attack(
        "JWS alg none",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD, header={"alg": "none"}, signature=b""))),
    ),
    Attack(
        "JWS alg None",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD, header={"alg": "None"}, signature=b""))),
    ),
    Attack(
        "JWS HS256 keyed with the public key",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(_hs256_with_public_key()),
    ),
    Attack(
        "JWS ES384", PLATFORM, "play.algorithm_not_allowed", lambda: decode(jwe(jws(PAYLOAD, header={"alg": "ES384"})))
    ),
    Attack(
        "JWS RS256", PLATFORM, "play.algorithm_not_allowed", lambda: decode(jwe(jws(PAYLOAD, header={"alg": "RS256"})))
    ),
    Attack(
        "JWS with an embedded attacker jwk",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD, header={"alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256"}}))),
    ),
    Attack(
        "JWS with a jku URL",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD, header={"alg": "ES256", "jku": "https://attacker.example/jwks"}))),
    ),
    Attack(
        "JWS with crit",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD, header={"alg": "ES256", "crit": ["exp"], "exp": 1}))),
    ),
    Attack(
        "JWS with b64 false",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD, header={"alg": "ES256", "b64": False}))),
    ),
    Attack(
        "JWS header with a duplicated alg",
        PLATFORM,
        "play.token_malformed",
        lambda: decode(jwe(jws(PAYLOAD, header=b'{"alg":"none","alg":"ES256"}'))),
    ),
    Attack("JWE alg dir", PLATFORM, "play.algorithm_not_allowed", lambda: decode(_dir(jws(PAYLOAD)))),
    Attack(
        "JWE alg A128KW",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD), header={"alg": "A128KW", "enc": "A256GCM"})),
    ),
    Attack(
        "JWE alg RSA-OAEP",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD), header={"alg": "RSA-OAEP", "enc": "A256GCM"})),
    ),
    Attack(
        "JWE enc A128CBC-HS256",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD), header={"alg": "A256KW", "enc": "A128CBC-HS256"})),
    ),
    Attack(
        "JWE zip DEF",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD), header={"alg": "A256KW", "enc": "A256GCM", "zip": "DEF"})),
    ),
    Attack(
        "JWE with crit",
        PLATFORM,
        "play.algorithm_not_allowed",
        lambda: decode(jwe(jws(PAYLOAD), header={"alg": "A256KW", "enc": "A256GCM", "crit": ["x"], "x": 1})),
    ),
    Attack(
        "JWE header with a duplicated enc",
        PLATFORM,
        "play.token_malformed",
        lambda: decode(jwe(jws(PAYLOAD), header=b'{"alg":"A256KW","enc":"A128GCM","enc":"A256GCM"}')),
    ),
    Attack("oversized token", PLATFORM, "input.too_large", lambda: decode("A" * 40_000)),
    Attack("token with four parts", PLATFORM, "play.token_malformed", lambda: decode(genuine().rsplit(".", 1)[0])),
    Attack("token in standard base64", PLATFORM, "play.token_malformed", lambda: decode(genuine().replace("-", "+"))),
    Attack(
        "token of another app",
        PLATFORM,
        "play.decryption_failed",
        lambda: decode(jwe(jws(PAYLOAD), kek=THEIRS.decryption_key_bytes)),
    ),
    Attack(
        "verdict signed by another app's key",
        PLATFORM,
        "play.signature_invalid",
        lambda: decode(
            jwe(jws(PAYLOAD, signature=_es256(_b64(b'{"alg":"ES256"}'), _b64(PAYLOAD), THEIRS.signing_key)))
        ),
    ),
    Attack(
        "verdict altered after signing",
        PLATFORM,
        "play.signature_invalid",
        lambda: decode(jwe(_resigned_payload(_json(_payload(nonce="c3dhcHBlZA"))))),
    ),
    Attack("signature in DER form", PLATFORM, "play.signature_invalid", lambda: decode(jwe(_der_signed()))),
    Attack("ciphertext bit flipped", PLATFORM, "play.decryption_failed", lambda: decode(_flip_ciphertext())),
    Attack("JWE header swapped after encryption", PLATFORM, "play.decryption_failed", lambda: decode(_swap_header())),
    Attack("JWE plaintext that is not a JWS", PLATFORM, "play.token_malformed", lambda: decode(jwe(PAYLOAD))),
    Attack("verdict that is not JSON", PLATFORM, "play.payload_invalid", lambda: decode(jwe(jws(b"\xff not json")))),
    Attack(  # found by fuzzing: json's C scanner answers StopIteration, not a decode error, for a missing value
        "verdict JSON with a member's value missing",
        PLATFORM,
        "play.payload_invalid",
        lambda: decode(jwe(jws(b'{"requestDetails": GI"]'))),
    ),
    Attack(
        "verdict without requestDetails",
        PLATFORM,
        "play.payload_invalid",
        lambda: decode(genuine({"appIntegrity": {}})),
    ),
    Attack(
        "verdict with a fractional timestamp",
        PLATFORM,
        "play.payload_invalid",
        lambda: decode(genuine(_payload(timestampMillis=1.5))),
    ),
    Attack(
        "Play token for another package",
        PLATFORM,
        "play.package_mismatch",
        lambda: decode(genuine(_payload(requestPackageName="com.attacker.clone"))),
    ),
]


def _resigned_payload(payload: bytes) -> bytes:
    # A genuine JWS whose payload segment is replaced by another (the signature is over the original).
    original = jws(PAYLOAD)
    header, _, signature = original.split(b".")
    return header + b"." + _b64(payload) + b"." + signature


def _der_signed() -> bytes:
    header, body = _b64(b'{"alg":"ES256"}'), _b64(PAYLOAD)
    return header + b"." + body + b"." + _b64(OURS.signing_key.sign(header + b"." + body, ec.ECDSA(hashes.SHA256())))


def _flip_ciphertext() -> str:
    parts = genuine().split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4)))
    raw[0] ^= 1
    parts[3] = _b64(bytes(raw)).decode()
    return ".".join(parts)


def _swap_header() -> str:
    parts = genuine().split(".")
    parts[0] = _b64(b'{"enc":"A256GCM","alg":"A256KW"}').decode()
    return ".".join(parts)


VERDICTS: list[Attack] = [
    Attack(
        "requestHash from another request",
        PLATFORM,
        "play.request_hash_mismatch",
        lambda: _evaluate(_standard(), request_hash_=OTHER_HASH),
    ),
    Attack(
        "classic token (no requestHash) for a Standard request",
        PLATFORM,
        "play.request_hash_mismatch",
        lambda: _evaluate(_payload(), request_hash_=HASH),
    ),
    Attack(
        "requestHash differing only in case",
        PLATFORM,
        "play.request_hash_mismatch",
        lambda: _evaluate(_standard(requestHash=HASH.swapcase()), request_hash_=HASH),
    ),
    Attack(
        "nonce of another request",
        PLATFORM,
        "play.nonce_mismatch",
        lambda: _evaluate(_payload(nonce="b3RoZXItbm9uY2U")),
    ),
    Attack(
        "stale timestamp",
        PLATFORM,
        "play.timestamp_stale",
        lambda: _evaluate(_standard(timestampMillis=_millis(NOW - timedelta(minutes=30))), request_hash_=HASH),
    ),
    Attack(
        "timestamp from the future",
        PLATFORM,
        "play.timestamp_future",
        lambda: _evaluate(_standard(timestampMillis=_millis(NOW + timedelta(hours=1))), request_hash_=HASH),
    ),
    Attack(
        "testing response in production",
        PLATFORM,
        "play.testing_response",
        lambda: _evaluate(_profile("testing"), request_hash_=HASH),
    ),
    Attack(
        "verdict for another package",
        PLATFORM,
        "play.package_mismatch",
        lambda: _evaluate(_standard(requestPackageName="com.attacker.clone"), request_hash_=HASH),
    ),
    Attack(
        "token replayed after Google cleared it",
        PLATFORM,
        "play.no_device_integrity",
        lambda: _evaluate(cleared(_standard()), request_hash_=HASH),
    ),
    Attack(
        "emulator without certification",
        PLATFORM,
        "play.no_device_integrity",
        lambda: _evaluate(_profile("emulator"), request_hash_=HASH),
    ),
]


def test_genuine_token_is_accepted() -> None:
    assert decode(genuine()) is not None
    assert _evaluate(_standard(), request_hash_=HASH) is not None


@pytest.mark.parametrize("attack", JOSE + VERDICTS, ids=ids(JOSE + VERDICTS))
def test_attack_is_refused(attack: Attack) -> None:
    refused(attack)
