"""Sessions (DESIGN.md §3.6): short-lived ES256 JWTs, signed by a keyring that rotates with overlap.

Pure: the keyring is built from ``SessionKeyRecord`` values the service loaded from storage, and hands back new
records for the service to save. Each key signs for ``rotate_after`` and keeps verifying for one session TTL more
(its ``retires_at``), so a rotation never cuts a live session short. Verification is pinned to ES256 and to the
keyring's own kids; other services verify sessions with any JWT library against ``jwks()``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from app_integrity._clock import resolve_now
from app_integrity._encoding import b64_standard, decode_base64
from app_integrity.errors import InputError, SessionError
from app_integrity.policy import Platform, Signal, Tier
from app_integrity.storage.base import SessionKeyRecord

ALGORITHM = "ES256"
MAX_TOKEN_CHARS = 4096
MAX_CLOCK_SKEW = timedelta(seconds=60)
_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})


class IssuedSession(NamedTuple):
    token: str
    expires_at: datetime
    jti: str


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """A verified session's claims. ``key_id`` is the raw 32-byte App Attest / Android key id, when there is one."""

    issuer: str
    subject: str | None
    platform: Platform
    key_id: bytes | None
    tier: Tier
    signals: frozenset[Signal]
    jti: str
    issued_at: datetime
    expires_at: datetime
    kid: str


@dataclass(frozen=True, slots=True)
class _Key:
    record: SessionKeyRecord
    jwk: ECKey


def new_session_key(now: datetime, *, lifetime: timedelta) -> SessionKeyRecord:
    """A fresh P-256 signing key. ``lifetime`` = how long it signs + one session TTL (see ``key_lifetime``)."""
    now = resolve_now(now)
    if lifetime <= timedelta(0):
        raise InputError("input.invalid_argument", "a session key's lifetime must be positive")
    key = ECKey.generate_key("P-256", parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    kid = key.thumbprint()  # RFC 7638: stable, derived from the public key, nothing to keep in sync
    private = dict(key.as_dict(private=True))
    private["kid"] = kid
    return SessionKeyRecord(kid=kid, private_jwk=json.dumps(private), created_at=now, retires_at=now + lifetime)


def key_lifetime(*, rotate_after: timedelta, ttl: timedelta) -> timedelta:
    """Sign for ``rotate_after``, then keep verifying for the longest session signed at the last moment."""
    return rotate_after + ttl


class SessionKeyring:
    """The session signing keys in force. Immutable: ``with_key`` returns a new keyring."""

    __slots__ = ("_issuer", "_keys")

    def __init__(self, records: Iterable[SessionKeyRecord], *, issuer: str) -> None:
        if not issuer:
            raise InputError("input.invalid_argument", "the session issuer must not be empty")
        keys: dict[str, _Key] = {}
        for record in records:
            if record.kid in keys:
                raise InputError("input.invalid_argument", f"session key {record.kid} appears twice")
            keys[record.kid] = _Key(record, _load_private(record))
        self._issuer = issuer
        self._keys = keys

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def records(self) -> tuple[SessionKeyRecord, ...]:
        return tuple(key.record for key in self._keys.values())

    def has_kid(self, kid: str) -> bool:
        return kid in self._keys

    def with_key(self, record: SessionKeyRecord) -> SessionKeyring:
        return SessionKeyring([*self.records, record], issuer=self._issuer)

    def _signer(self, now: datetime, ttl: timedelta) -> _Key | None:
        # The newest key that exists now and still verifies when a session signed now expires.
        usable = [k for k in self._keys.values() if k.record.created_at <= now and now + ttl <= k.record.retires_at]
        return max(usable, key=lambda k: k.record.created_at, default=None)

    def needs_rotation(self, now: datetime, *, rotate_after: timedelta, ttl: timedelta) -> bool:
        """True when no key can sign a session of ``ttl`` now, or the signing key is older than ``rotate_after``."""
        now = resolve_now(now)
        signer = self._signer(now, ttl)
        return signer is None or now - signer.record.created_at >= rotate_after

    def issue(
        self,
        *,
        subject: str | None,
        platform: Platform,
        key_id: bytes | None,
        tier: Tier,
        now: datetime,
        ttl: timedelta,
        signals: Iterable[Signal] = (),
    ) -> IssuedSession:
        """Sign a session: claims ``iss``, ``sub`` (when there is a subject), ``platform``, ``key_id`` (standard
        base64, or null), ``tier``, ``signals`` (those that held when it was issued), ``jti``, ``iat``, ``exp``."""
        now = resolve_now(now)
        seconds = int(ttl.total_seconds())
        if seconds < 1:
            raise InputError("input.invalid_argument", "a session's ttl must be at least one second")
        if subject is not None and (not isinstance(subject, str) or not subject):
            raise InputError("input.invalid_argument", "a session's subject must be a non-empty string or None")
        if key_id is not None and len(key_id) != 32:
            raise InputError("input.invalid_argument", "a session's key_id is the raw 32-byte key id")
        signer = self._signer(now, timedelta(seconds=seconds))
        if signer is None:
            raise SessionError(
                "session.no_signing_key", "no session key can sign a session this long now: rotate the keyring"
            )
        issued_at = int(now.timestamp())
        expires = issued_at + seconds
        jti = secrets.token_urlsafe(18)
        claims: dict[str, Any] = {"iss": self._issuer}
        if subject is not None:
            claims["sub"] = subject
        claims.update(
            {
                "platform": Platform(platform).value,
                "key_id": b64_standard(key_id) if key_id is not None else None,
                "tier": Tier(tier).value,
                "signals": sorted(Signal(s).value for s in signals),
                "jti": jti,
                "iat": issued_at,
                "exp": expires,
            }
        )
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": signer.record.kid}
        payload = json.dumps(claims, separators=(",", ":"))
        token = jws.serialize_compact(header, payload, signer.jwk, algorithms=[ALGORITHM])
        return IssuedSession(token, datetime.fromtimestamp(expires, UTC), jti)

    def verify(self, token: str, now: datetime) -> SessionClaims:
        """Verify a session token: ``session.invalid`` for anything but a genuine, current session of this
        keyring, ``session.expired`` once ``exp`` has passed."""
        now = resolve_now(now)
        kid, obj = _extract(token)
        key = self._keys.get(kid)
        if key is None:
            raise SessionError("session.invalid", "the session was signed by a key this service does not hold")
        if key.record.retires_at <= now:
            raise SessionError("session.invalid", "the session was signed by a retired key")
        try:
            # Pinned: ES256 only, with the key its kid names, never a key carried in the token.
            valid = jws.validate_compact(obj, key.jwk, algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError) as exc:
            raise SessionError("session.invalid", "the session's signature cannot be checked") from exc
        if not valid:
            raise SessionError("session.invalid", "the session's signature does not verify")
        return self._claims(obj.payload, kid, now)

    def _claims(self, payload: bytes, kid: str, now: datetime) -> SessionClaims:
        try:
            claims = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SessionError("session.invalid", "the session's claims are not JSON") from exc
        if not isinstance(claims, dict):
            raise SessionError("session.invalid", "the session's claims are not a JSON object")
        if claims.get("iss") != self._issuer:
            raise SessionError("session.invalid", "the session was issued by someone else")
        issued_at = _timestamp(claims, "iat")
        expires_at = _timestamp(claims, "exp")
        if expires_at <= issued_at:
            raise SessionError("session.invalid", "the session expires before it was issued")
        if issued_at > now + MAX_CLOCK_SKEW:
            raise SessionError("session.invalid", "the session was issued in the future")
        # RFC 7519 §4.1.4: the JWT "MUST NOT be accepted for processing" on or after its exp.
        if now >= expires_at:
            raise SessionError("session.expired", "the session has expired")
        subject = claims.get("sub")
        if subject is not None and (not isinstance(subject, str) or not subject):
            raise SessionError("session.invalid", "the session's sub is not a string")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise SessionError("session.invalid", "the session has no jti")
        raw_key_id = claims.get("key_id")
        key_id = None
        if raw_key_id is not None:
            if not isinstance(raw_key_id, str):
                raise SessionError("session.invalid", "the session's key_id is not a string")
            try:
                key_id = decode_base64(raw_key_id, field="key_id", max_bytes=32)
            except InputError as exc:
                raise SessionError("session.invalid", "the session's key_id is not base64") from exc
        signals = claims.get("signals", [])
        if not isinstance(signals, list) or not all(isinstance(s, str) for s in signals):
            raise SessionError("session.invalid", "the session's signals are not a list of names")
        try:
            platform = Platform(str(claims.get("platform")))
            tier = Tier(str(claims.get("tier")))
            held = frozenset(Signal(s) for s in signals)
        except ValueError as exc:
            raise SessionError("session.invalid", "the session names an unknown platform, tier or signal") from exc
        return SessionClaims(
            issuer=self._issuer,
            subject=subject,
            platform=platform,
            key_id=key_id,
            tier=tier,
            signals=held,
            jti=jti,
            issued_at=issued_at,
            expires_at=expires_at,
            kid=kid,
        )

    def jwks(self, now: datetime | None = None) -> dict[str, Any]:
        """The public keys (``/.well-known/jwks.json``), newest first; with ``now``, only keys not yet retired."""
        keys = sorted(self._keys.values(), key=lambda k: k.record.created_at, reverse=True)
        when = resolve_now(now) if now is not None else None
        public = []
        for key in keys:
            if when is not None and key.record.retires_at <= when:
                continue
            entry = dict(key.jwk.as_dict(private=False))
            entry.update({"kid": key.record.kid, "alg": ALGORITHM, "use": "sig"})
            public.append(entry)
        return {"keys": public}


def token_kid(token: str) -> str:
    """The kid a session token names, unverified: tells the service to reload the keyring on an unknown kid."""
    kid, _ = _extract(token)
    return kid


def _extract(token: str) -> tuple[str, jws.CompactSignature]:
    if not isinstance(token, str):
        raise SessionError("session.invalid", "a session token is text")
    if len(token) > MAX_TOKEN_CHARS:
        raise SessionError("session.invalid", f"the session token is longer than {MAX_TOKEN_CHARS} characters")
    try:
        obj = jws.extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SessionError("session.invalid", "the session token is not a compact JWS") from exc
    header = obj.headers()
    # RFC 8725 §3.1: "libraries MUST enable the caller to specify a supported set of algorithms and MUST NOT use
    # any other algorithms when performing cryptographic operations". One: ES256. "none", HS256 keyed with the
    # public key, or a key embedded in the header (jwk, jku, x5c) never reach a verifier.
    if header.get("alg") != ALGORITHM:
        raise SessionError("session.invalid", f"the session's alg is not {ALGORITHM}")
    if header.get("typ") != "JWT" or set(header) - _HEADER_MEMBERS:
        raise SessionError("session.invalid", "the session's header is not one this service writes")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SessionError("session.invalid", "the session's header names no kid")
    return kid, obj


def _timestamp(claims: dict[str, Any], name: str) -> datetime:
    value = claims.get(name)
    if type(value) is not int or not 0 <= value < 1 << 40:
        raise SessionError("session.invalid", f"the session's {name} is not a NumericDate")
    return datetime.fromtimestamp(value, UTC)


def _load_private(record: SessionKeyRecord) -> ECKey:
    try:
        data = json.loads(record.private_jwk)
        key = ECKey.import_key(data)
    except (JoseError, ValueError, TypeError) as exc:
        raise InputError("input.malformed", f"session key {record.kid} is not a JWK") from exc
    if data.get("crv") != "P-256" or not key.is_private:
        raise InputError("input.malformed", f"session key {record.kid} is not a private P-256 key")
    if key.thumbprint() != record.kid:
        raise InputError("input.malformed", f"session key {record.kid}'s kid is not its RFC 7638 thumbprint")
    resolve_now(record.created_at)
    resolve_now(record.retires_at)
    return key
