"""Core building blocks per request: binding, header parsing, policy decision, session issue and verify.

Floors measured in the same run: SHA-256 of the body (the binding's only real work), one ES256 sign and one
ES256 verify with ``cryptography`` (the session's only cryptographic work).
"""

from __future__ import annotations

import hashlib
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity.binding import build_binding, request_hash
from app_integrity.header import IosProof, format_header, parse_header
from app_integrity.policy import Platform, PolicySet, Signal, Tier, VerificationFacts
from app_integrity.sessions import SessionKeyring, key_lifetime, new_session_key

BODY = b"x" * 1024
CHALLENGE = "q8XUqnm4Xw0vR1lQ4mS0mR2s9dM8y2Y0rP6XZbcfJ7o"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _per_op(function: Callable[[], object], number: int) -> float:
    """Best of 5 runs, microseconds per call."""
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e6


def main() -> None:
    header = format_header(IosProof(key_id=bytes(32), challenge=CHALLENGE, assertion=b"\xa2" * 120))
    policies = PolicySet()
    facts = VerificationFacts.valid(Platform.IOS, Tier.STRONG, signals={Signal.APP}, key_id=bytes(32))
    ttl = timedelta(hours=1)
    record = new_session_key(NOW, lifetime=key_lifetime(rotate_after=timedelta(days=7), ttl=ttl))
    keyring = SessionKeyring([record], issuer="app-integrity")

    def issue() -> str:
        return keyring.issue(
            subject="user", platform=Platform.IOS, key_id=bytes(32), tier=Tier.STRONG, now=NOW, ttl=ttl
        ).token

    token = issue()
    private = ec.generate_private_key(ec.SECP256R1())
    message = token.rpartition(".")[0].encode()
    signature = private.sign(message, ec.ECDSA(hashes.SHA256()))
    public = private.public_key()

    sha_floor = _per_op(lambda: hashlib.sha256(BODY).digest(), 20000)
    sign_floor = _per_op(lambda: private.sign(message, ec.ECDSA(hashes.SHA256())), 500)
    verify_floor = _per_op(lambda: public.verify(signature, message, ec.ECDSA(hashes.SHA256())), 500)

    rows = [
        (
            "binding + request_hash (1 KiB body)",
            _per_op(lambda: request_hash(build_binding(CHALLENGE, "POST", "/v1/x?a=1", BODY)), 20000),
            sha_floor,
        ),
        ("parse_header (iOS)", _per_op(lambda: parse_header(header), 5000), None),
        ("policy decide", _per_op(lambda: policies.decide("redeem", facts), 50000), None),
        ("session issue", _per_op(issue, 500), sign_floor),
        ("session verify", _per_op(lambda: keyring.verify(token, NOW), 500), verify_floor),
    ]
    print(
        f"floors: sha256(1 KiB) {sha_floor:.2f} us, ES256 sign {sign_floor:.1f} us, ES256 verify {verify_floor:.1f} us"
    )
    for name, micros, floor in rows:
        ratio = f"{micros / floor:.2f}x floor" if floor else "no crypto"
        print(f"{name:40s} {micros:9.2f} us/op   {ratio}")
