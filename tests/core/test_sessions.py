"""Session JWTs: issue and verify, rotation with overlap, JWKS for other services, and forged tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet

from app_integrity.errors import InputError, SessionError
from app_integrity.policy import Platform, Signal, Tier
from app_integrity.sessions import (
    IssuedSession,
    SessionKeyring,
    key_lifetime,
    new_session_key,
    token_kid,
)
from app_integrity.storage.base import SessionKeyRecord

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(hours=1)
ROTATE = timedelta(days=7)
KEY_ID = bytes(range(32))
ISSUER = "https://api.example.com"

_RECORD = new_session_key(T0, lifetime=key_lifetime(rotate_after=ROTATE, ttl=TTL))


def _keyring(*records: SessionKeyRecord) -> SessionKeyring:
    return SessionKeyring(records or (_RECORD,), issuer=ISSUER)


def _issue(keyring: SessionKeyring, now: datetime = T0, **overrides: Any) -> IssuedSession:
    options: dict[str, Any] = {
        "subject": "user-42",
        "platform": Platform.IOS,
        "key_id": KEY_ID,
        "tier": Tier.STRONG,
        "now": now,
        "ttl": TTL,
        "signals": [Signal.APP],
    }
    options.update(overrides)
    return keyring.issue(**options)


def _code(keyring: SessionKeyring, token: str, now: datetime = T0) -> str:
    with pytest.raises(SessionError) as info:
        keyring.verify(token, now)
    return info.value.code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(payload)), signature


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_issue_and_verify() -> None:
    keyring = _keyring()
    token, expires_at, jti = _issue(keyring)
    assert expires_at == T0 + TTL
    claims = keyring.verify(token, T0 + timedelta(minutes=59))
    assert claims.issuer == ISSUER
    assert claims.subject == "user-42"
    assert claims.platform is Platform.IOS
    assert claims.key_id == KEY_ID
    assert claims.tier is Tier.STRONG
    assert claims.signals == frozenset({Signal.APP})
    assert claims.jti == jti
    assert claims.issued_at == T0
    assert claims.expires_at == expires_at
    assert claims.kid == _RECORD.kid
    header, payload, _ = _segments(token)
    assert header == {"alg": "ES256", "typ": "JWT", "kid": _RECORD.kid}
    assert set(payload) == {"iss", "sub", "platform", "key_id", "tier", "signals", "jti", "iat", "exp"}
    assert payload["key_id"] == base64.b64encode(KEY_ID).decode()


def test_session_without_subject_or_key() -> None:
    keyring = _keyring()
    token, _, _ = _issue(keyring, subject=None, key_id=None, platform=Platform.ANDROID, tier=Tier.DEVICE)
    claims = keyring.verify(token, T0)
    assert (claims.subject, claims.key_id, claims.platform, claims.tier) == (None, None, Platform.ANDROID, Tier.DEVICE)
    assert "sub" not in _segments(token)[1]


def test_jti_is_unique() -> None:
    keyring = _keyring()
    assert len({_issue(keyring).jti for _ in range(20)}) == 20


def test_expiry() -> None:
    keyring = _keyring()
    token = _issue(keyring).token
    assert keyring.verify(token, T0 + TTL - timedelta(seconds=1)).jti
    assert _code(keyring, token, T0 + TTL) == "session.expired"


def test_issued_in_the_future_is_invalid() -> None:
    keyring = _keyring()
    token = _issue(keyring, now=T0 + timedelta(minutes=5)).token
    assert keyring.verify(token, T0 + timedelta(minutes=4)).jti  # within skew
    assert _code(keyring, token, T0) == "session.invalid"


def test_rotation_with_overlap() -> None:
    keyring = _keyring()
    assert not keyring.needs_rotation(T0, rotate_after=ROTATE, ttl=TTL)
    old_token = _issue(keyring, now=T0 + ROTATE - timedelta(seconds=1)).token

    rotation_time = T0 + ROTATE
    assert keyring.needs_rotation(rotation_time, rotate_after=ROTATE, ttl=TTL)
    new_record = new_session_key(rotation_time, lifetime=key_lifetime(rotate_after=ROTATE, ttl=TTL))
    rotated = keyring.with_key(new_record)
    assert not rotated.needs_rotation(rotation_time, rotate_after=ROTATE, ttl=TTL)

    new_token = _issue(rotated, now=rotation_time).token
    assert token_kid(new_token) == new_record.kid != _RECORD.kid
    # The old key still verifies what it signed, up to that session's end ...
    assert rotated.verify(old_token, rotation_time + timedelta(minutes=30)).kid == _RECORD.kid
    assert rotated.verify(new_token, rotation_time + timedelta(minutes=30)).kid == new_record.kid
    # ... and is out of the JWKS once retired.
    retired = _RECORD.retires_at
    assert [k["kid"] for k in rotated.jwks()["keys"]] == [new_record.kid, _RECORD.kid]
    assert [k["kid"] for k in rotated.jwks(retired)["keys"]] == [new_record.kid]
    assert _code(rotated, old_token, retired) == "session.invalid"
    # The original keyring never learnt the new key.
    assert _code(keyring, new_token, rotation_time) == "session.invalid"
    assert not keyring.has_kid(new_record.kid)
    assert rotated.has_kid(new_record.kid)


def test_a_key_never_signs_past_its_retirement() -> None:
    keyring = _keyring()
    late = _RECORD.retires_at - TTL + timedelta(seconds=1)
    with pytest.raises(SessionError) as info:
        _issue(keyring, now=late)
    assert info.value.code == "session.no_signing_key"
    assert keyring.needs_rotation(late, rotate_after=ROTATE * 10, ttl=TTL)


def test_empty_keyring_needs_rotation() -> None:
    empty = SessionKeyring([], issuer=ISSUER)
    assert empty.needs_rotation(T0, rotate_after=ROTATE, ttl=TTL)
    with pytest.raises(SessionError) as info:
        _issue(empty)
    assert info.value.code == "session.no_signing_key"
    assert empty.jwks() == {"keys": []}


def test_future_key_does_not_sign_yet() -> None:
    future = new_session_key(T0 + timedelta(days=1), lifetime=ROTATE)
    keyring = _keyring(_RECORD, future)
    assert token_kid(_issue(keyring).token) == _RECORD.kid


def test_jwks_is_public_and_verifies_with_a_plain_jwt_library() -> None:
    keyring = _keyring()
    token = _issue(keyring).token
    document = json.dumps(keyring.jwks(T0))
    for entry in json.loads(document)["keys"]:
        assert "d" not in entry
        assert entry["alg"] == "ES256"
        assert entry["use"] == "sig"
        assert entry["crv"] == "P-256"
    decoded = jwt.decode(token, KeySet.import_key_set(json.loads(document)), algorithms=["ES256"])
    assert decoded.claims["sub"] == "user-42"
    assert decoded.claims["tier"] == "strong"


def test_jwks_verifies_with_raw_cryptography() -> None:
    keyring = _keyring()
    token = _issue(keyring).token
    entry = keyring.jwks()["keys"][0]
    x = int.from_bytes(base64.urlsafe_b64decode(entry["x"] + "=="), "big")
    y = int.from_bytes(base64.urlsafe_b64decode(entry["y"] + "=="), "big")
    public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public.verify(der, signing_input.encode() + b"x", ec.ECDSA(hashes.SHA256()))


def _resign_hs256(token: str, secret: bytes, **header_changes: Any) -> str:
    header, payload, _ = _segments(token)
    header.update(header_changes)
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _with(token: str, *, header: dict[str, Any] | None = None, payload: dict[str, Any] | None = None) -> str:
    """Change header or claims, keep the original signature."""
    h, p, signature = _segments(token)
    h.update(header or {})
    p.update(payload or {})
    return f"{_b64(json.dumps(h).encode())}.{_b64(json.dumps(p).encode())}.{signature}"


def _flip(signature: str) -> str:
    raw = bytearray(_unb64(signature))
    raw[10] ^= 1
    return _b64(bytes(raw))


def test_forged_tokens() -> None:
    keyring = _keyring()
    token = _issue(keyring).token
    public_json = json.dumps(keyring.jwks()["keys"][0]).encode()
    header_b64, payload_b64, signature = token.split(".")
    cases = {
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': _RECORD.kid}).encode())}.{payload_b64}.",
        "HS256 keyed with the public JWK": _resign_hs256(token, public_json, alg="HS256"),
        "ES384 label": _with(token, header={"alg": "ES384"}),
        "tier raised": _with(token, payload={"tier": "strong", "sub": "admin"}),
        "exp extended": _with(token, payload={"exp": 2**33}),
        "embedded jwk": _with(token, header={"jwk": keyring.jwks()["keys"][0]}),
        "crit": _with(token, header={"crit": ["exp"]}),
        "no typ": f"{_b64(json.dumps({'alg': 'ES256', 'kid': _RECORD.kid}).encode())}.{payload_b64}.{signature}",
        "unknown kid": _with(token, header={"kid": "someone-else"}),
        "kid not a string": _with(token, header={"kid": 7}),
        "signature flipped": f"{header_b64}.{payload_b64}.{_flip(signature)}",
        "signature truncated": f"{header_b64}.{payload_b64}.{signature[:40]}",
        "no signature": f"{header_b64}.{payload_b64}.",
        "two parts": f"{header_b64}.{payload_b64}",
        "JWE shape": f"{header_b64}.a.b.c.d",
        "empty": "",
        "garbage": "not a token",
        "non-ascii": token + "\u00e9",
        "oversized": token + "A" * 4096,
    }
    for name, forged in cases.items():
        assert _code(keyring, forged) == "session.invalid", name


def test_other_issuer_with_same_key_is_refused() -> None:
    token = _issue(SessionKeyring([_RECORD], issuer="https://other.example.com")).token
    assert _code(_keyring(), token) == "session.invalid"


def _sign_claims(claims: dict[str, Any]) -> str:
    """A correctly signed token with arbitrary claims, to test claim validation behind the signature."""
    key = ECKey.import_key(json.loads(_RECORD.private_jwk))
    header = {"alg": "ES256", "typ": "JWT", "kid": _RECORD.kid}
    return jws.serialize_compact(header, json.dumps(claims), key, algorithms=["ES256"])


GOOD_CLAIMS: dict[str, Any] = {
    "iss": ISSUER,
    "sub": "user-42",
    "platform": "ios",
    "key_id": base64.b64encode(KEY_ID).decode(),
    "tier": "strong",
    "signals": ["app"],
    "jti": "abc",
    "iat": int(T0.timestamp()),
    "exp": int(T0.timestamp()) + 600,
}


def test_signed_claims_control() -> None:
    assert _keyring().verify(_sign_claims(GOOD_CLAIMS), T0).jti == "abc"


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": None},
        {"platform": "windows"},
        {"platform": None},
        {"tier": "gold"},
        {"signals": ["root"]},
        {"signals": "app"},
        {"jti": ""},
        {"jti": 5},
        {"sub": 5},
        {"sub": ""},
        {"key_id": 5},
        {"key_id": "***"},
        {"iat": "0"},
        {"iat": True},
        {"exp": 1.5},
        {"exp": None},
        {"exp": int(T0.timestamp()) - 10, "iat": int(T0.timestamp())},
        {"exp": -1},
    ],
)
def test_signed_but_wrong_claims(changes: dict[str, Any]) -> None:
    claims = {**GOOD_CLAIMS, **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    assert _code(_keyring(), _sign_claims(claims)) == "session.invalid"


def test_signed_non_object_payload() -> None:
    key = ECKey.import_key(json.loads(_RECORD.private_jwk))
    for payload in ("[1, 2]", "not json", '"text"'):
        token = jws.serialize_compact({"alg": "ES256", "typ": "JWT", "kid": _RECORD.kid}, payload, key)
        assert _code(_keyring(), token) == "session.invalid"


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_arbitrary_text_is_session_invalid(text: str) -> None:
    keyring = _keyring()
    with pytest.raises(SessionError) as info:
        keyring.verify(text, T0)
    assert info.value.code == "session.invalid"


def test_bad_records_are_refused() -> None:
    good = _RECORD
    other = new_session_key(T0, lifetime=ROTATE)
    cases = [
        SessionKeyRecord("k", "not json", T0, T0 + ROTATE),
        SessionKeyRecord(good.kid, json.dumps({"kty": "oct", "k": "AAAA"}), T0, T0 + ROTATE),
        SessionKeyRecord(other.kid, good.private_jwk, T0, T0 + ROTATE),  # kid of another key
        SessionKeyRecord(good.kid, json.dumps(_public_only(good)), T0, T0 + ROTATE),
        SessionKeyRecord(good.kid, good.private_jwk, datetime(2026, 1, 1), T0 + ROTATE),  # naive time
    ]
    for record in cases:
        with pytest.raises(InputError) as info:
            SessionKeyring([record], issuer=ISSUER)
        assert info.value.code in ("input.malformed", "input.invalid_argument")
    with pytest.raises(InputError) as info:
        SessionKeyring([good, good], issuer=ISSUER)
    assert info.value.code == "input.invalid_argument"


def _public_only(record: SessionKeyRecord) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record.private_jwk)
    data.pop("d")
    return data


def test_issue_argument_checks() -> None:
    keyring = _keyring()
    for overrides in ({"ttl": timedelta(0)}, {"key_id": b"short"}, {"subject": ""}, {"now": datetime(2026, 11, 1)}):
        with pytest.raises(InputError) as info:
            _issue(keyring, **overrides)
        assert info.value.code == "input.invalid_argument"
    with pytest.raises(InputError):
        new_session_key(T0, lifetime=timedelta(0))
    with pytest.raises(InputError):
        SessionKeyring([], issuer="")


def test_private_key_is_not_in_the_keyring_repr() -> None:
    assert json.loads(_RECORD.private_jwk)["d"] not in repr(_keyring())
