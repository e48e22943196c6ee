"""The one JOSE shape Play Integrity uses, pinned: compact JWE (A256KW + A256GCM) around a compact JWS (ES256).

Google's classic-request guide: "the integrity token is a JSON Web Encryption (JWE) ... The JWE uses A256KW for
key wrapping and A256GCM for content encryption; the nested JSON Web Signature (JWS) uses ES256."
Only that combination is accepted, so there is nothing to negotiate: no ``alg: dir``, no ``zip``, no ``crit``, no
keys from the header. The primitives are ``cryptography``'s (OpenSSL); this module only frames them, which
measured at a fraction of a general JOSE library's per-token overhead (see ``bench/bench_play.py``).
"""

from __future__ import annotations

import binascii
import functools
import json
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from app_integrity.errors import InputError, PlayIntegrityError

MAX_TOKEN_CHARS = 32 * 1024
_MAX_HEADER = 1024  # bounds the header cache's memory too
# '-' and '_' become '+' and '/'; '+', '/' and '=' become '!', which strict base64 decoding refuses.
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")  # by length modulo 4 (1 is impossible and refused first)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# Header members that would make the token choose its own keys or processing: refused outright.
_FORBIDDEN_JWE = frozenset({"zip", "crit", "jku", "jwk", "x5u", "x5c", "epk", "apu", "apv", "p2s", "p2c", "iv", "tag"})
_FORBIDDEN_JWS = frozenset({"crit", "jku", "jwk", "x5u", "x5c", "b64"})


def _b64url(segment: bytes, what: str) -> bytes:
    # RFC 7515 §2: base64url without padding. One translation maps the URL-safe alphabet onto the standard one and
    # the standard-only characters and padding onto a character outside both, so binascii's strict mode refuses
    # anything that is not base64url in the same pass that decodes it.
    if len(segment) % 4 == 1:
        raise PlayIntegrityError("play.token_malformed", f"the {what} is not base64url")
    try:
        return binascii.a2b_base64(
            segment.translate(_URLSAFE_TO_STANDARD) + _PADDING[len(segment) % 4], strict_mode=True
        )
    except (binascii.Error, ValueError) as exc:
        raise PlayIntegrityError("play.token_malformed", f"the {what} is not base64url") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _header(segment: bytes, what: str) -> dict[str, Any]:
    try:
        header = json.loads(_b64url(segment, what), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise PlayIntegrityError("play.token_malformed", f"the {what} is not a JSON object") from exc
    if not isinstance(header, dict):
        raise PlayIntegrityError("play.token_malformed", f"the {what} is not a JSON object")
    return header


@functools.lru_cache(maxsize=16)
def _check_jwe_header(segment: bytes) -> None:
    """Validate a protected JWE header; Google sends the same few bytes every time, so a pass is cached."""
    header = _header(segment, "JWE header")
    # RFC 7516 §5.2 step 3: the header determines the algorithms; we accept one pair and no extensions.
    if header.get("alg") != "A256KW" or header.get("enc") != "A256GCM":
        raise PlayIntegrityError(
            "play.algorithm_not_allowed",
            f"JWE alg/enc are {header.get('alg')!r}/{header.get('enc')!r}; only A256KW/A256GCM are accepted",
        )
    forbidden = sorted(_FORBIDDEN_JWE.intersection(header))
    if forbidden:
        raise PlayIntegrityError("play.algorithm_not_allowed", f"JWE header carries {', '.join(forbidden)}")


@functools.lru_cache(maxsize=16)
def _check_jws_header(segment: bytes) -> None:
    """Validate a protected JWS header (cached like the JWE one: failures are never cached)."""
    header = _header(segment, "JWS header")
    if header.get("alg") != "ES256":
        raise PlayIntegrityError(
            "play.algorithm_not_allowed", f"JWS alg is {header.get('alg')!r}; only ES256 is accepted"
        )
    forbidden = sorted(_FORBIDDEN_JWS.intersection(header))
    if forbidden:
        raise PlayIntegrityError("play.algorithm_not_allowed", f"JWS header carries {', '.join(forbidden)}")


def _split(token: bytes | str, parts: int, what: str) -> list[bytes]:
    # Cap before any parsing.
    if len(token) > MAX_TOKEN_CHARS:
        raise InputError("input.too_large", f"the {what} is {len(token)} characters, over {MAX_TOKEN_CHARS}")
    raw = token.encode("ascii", "replace") if isinstance(token, str) else bytes(token)
    segments = raw.split(b".")
    if len(segments) != parts:
        raise PlayIntegrityError(
            "play.token_malformed", f"the {what} has {len(segments)} parts, not {parts} (compact serialization)"
        )
    return segments


def aes_kw_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3394 key unwrap (the A256KW step); a failed integrity check is ``play.decryption_failed``."""
    try:
        return aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError) as exc:
        raise PlayIntegrityError(
            "play.decryption_failed",
            "the content key does not unwrap with the decryption key (a token or key of another app?)",
        ) from exc


def aes256_gcm_decrypt(key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    """The A256GCM step: 256-bit key, 96-bit IV, 128-bit tag (RFC 7518 §5.3), nothing else."""
    if len(key) != 32 or len(iv) != 12 or len(tag) != 16:
        raise PlayIntegrityError("play.token_malformed", "A256GCM needs a 32-byte key, 12-byte IV and 16-byte tag")
    try:
        return AESGCM(key).decrypt(iv, ciphertext + tag, aad)
    except InvalidTag as exc:
        raise PlayIntegrityError("play.decryption_failed", "the token's ciphertext or header was altered") from exc


def decrypt_jwe(token: bytes | str, decryption_key: bytes) -> bytes:
    """Decrypt a compact JWE that uses exactly ``alg: A256KW`` and ``enc: A256GCM``; return the plaintext."""
    protected, encrypted_key, iv, ciphertext, tag = _split(token, 5, "integrity token")
    if len(protected) > _MAX_HEADER:
        raise PlayIntegrityError("play.token_malformed", "the JWE header is implausibly long")
    _check_jwe_header(protected)
    wrapped = _b64url(encrypted_key, "JWE encrypted key")
    if len(wrapped) != 40:
        raise PlayIntegrityError("play.token_malformed", "the JWE encrypted key is not a wrapped 256-bit key")
    cek = aes_kw_unwrap(decryption_key, wrapped)
    # RFC 7516 §5.2 step 14: the AAD is the ASCII of the encoded protected header, exactly as sent.
    return aes256_gcm_decrypt(
        cek, _b64url(iv, "JWE IV"), _b64url(ciphertext, "JWE ciphertext"), _b64url(tag, "JWE tag"), protected
    )


def verify_jws(token: bytes | str, verification_key: ec.EllipticCurvePublicKey) -> bytes:
    """Verify a compact JWS that uses exactly ``alg: ES256`` with the one configured key; return the payload."""
    protected, payload, signature = _split(token, 3, "signed verdict")
    if len(protected) > _MAX_HEADER:
        raise PlayIntegrityError("play.token_malformed", "the JWS header is implausibly long")
    _check_jws_header(protected)
    raw_signature = _b64url(signature, "JWS signature")
    # RFC 7518 §3.4: the ES256 signature is R || S, 32 bytes each (not DER).
    if len(raw_signature) != 64:
        raise PlayIntegrityError("play.signature_invalid", "the ES256 signature is not 64 bytes (R || S)")
    r = int.from_bytes(raw_signature[:32], "big")
    s = int.from_bytes(raw_signature[32:], "big")
    try:
        verification_key.verify(encode_dss_signature(r, s), protected + b"." + payload, _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise PlayIntegrityError(
            "play.signature_invalid",
            "the verdict is not signed by the verification key (a key of another app, or an altered verdict)",
        ) from exc
    return _b64url(payload, "JWS payload")
