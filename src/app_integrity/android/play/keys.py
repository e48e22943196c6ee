"""The two keys of a classic Play Integrity setup, read with messages that name the usual mistakes.

Play Console (App integrity > Classic requests > Manage response encryption) shows a *decryption key* (base64 of
a 32-byte AES key) and a *verification key* (base64 of a DER SubjectPublicKeyInfo, EC P-256).
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from app_integrity._encoding import decode_base64
from app_integrity.errors import ConfigError, InputError

_MAX_KEY_BYTES = 4096
_WHITESPACE = re.compile(r"\s+")


def _key_bytes(value: str | bytes, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    text = _WHITESPACE.sub("", value)  # keys are often pasted wrapped over several lines
    try:
        # Standard base64 is what Play Console shows; base64url of the same bytes is unambiguous, so it is
        # accepted too rather than failing on a '-' or '_'.
        return decode_base64(text, field=name, max_bytes=_MAX_KEY_BYTES)
    except InputError as exc:
        raise ConfigError(
            "config.invalid",
            f"{name} is not base64: paste the key exactly as Play Console shows it "
            "(App integrity > Classic requests > Manage response encryption)",
        ) from exc


def _looks_like_spki(raw: bytes) -> bool:
    try:
        load_der_public_key(raw)
    except (ValueError, TypeError):
        return False
    return True


def parse_decryption_key(value: str | bytes) -> bytes:
    raw = _key_bytes(value, "decryption_key")
    if len(raw) == 32:
        return raw
    if _looks_like_spki(raw):
        raise ConfigError(
            "config.invalid",
            "decryption_key is a public key (DER SubjectPublicKeyInfo): it looks like the verification key. "
            "Were decryption_key and verification_key swapped?",
        )
    raise ConfigError(
        "config.invalid", f"decryption_key decodes to {len(raw)} bytes; the AES-256 key Play Console shows is 32"
    )


def parse_verification_key(value: str | bytes) -> ec.EllipticCurvePublicKey:
    if isinstance(value, str) and value.lstrip().startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(value.encode("ascii", "replace"))
        except (ValueError, TypeError) as exc:
            raise ConfigError("config.invalid", "verification_key is PEM but not a public key") from exc
    else:
        raw = _key_bytes(value, "verification_key")
        if len(raw) == 32:
            raise ConfigError(
                "config.invalid",
                "verification_key is 32 bytes: it looks like the AES decryption key. "
                "Were decryption_key and verification_key swapped?",
            )
        try:
            key = load_der_public_key(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "config.invalid", "verification_key is not a DER SubjectPublicKeyInfo (base64) public key"
            ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError("config.invalid", "verification_key must be an EC P-256 key (Play signs verdicts with ES256)")
    return key
