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
from binascii import a2b_base64
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

from app_integrity.errors import InputError, PlayIntegrityError

MAX_TOKEN_CHARS = 32 * 1024
_MAX_HEADER = 1024  # bounds the header cache's memory too
# '-' and '_' become '+' and '/'; '+', '/' and '=' become '!', which strict base64 decoding refuses.
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING = (b"", b"", b"==", b"=")  # by length modulo 4 (1 is impossible: binascii refuses it)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_UNWRAP_FAILED = "the content key does not unwrap with the decryption key (a token or key of another app?)"
_GCM_SIZES = "A256GCM needs a 32-byte key, 12-byte IV and 16-byte tag"
_GCM_ALTERED = "the token's ciphertext or header was altered"
# Header members that would make the token choose its own keys or processing: refused outright.
_FORBIDDEN_JWE = frozenset({"zip", "crit", "jku", "jwk", "x5u", "x5c", "epk", "apu", "apv", "p2s", "p2c", "iv", "tag"})
_FORBIDDEN_JWS = frozenset({"crit", "jku", "jwk", "x5u", "x5c", "b64"})


def _b64url(segment: bytes, what: str) -> bytes:
    # RFC 7515 §2: base64url without padding. One translation maps the URL-safe alphabet onto the standard one and
    # the standard-only characters and padding onto a character outside both, so binascii's strict mode refuses
    # anything that is not base64url in the same pass that decodes it; a length of 4n + 1, which no padding
    # completes, is refused by it too.
    try:
        return a2b_base64(segment.translate(_URLSAFE_TO_STANDARD) + _PADDING[len(segment) % 4], strict_mode=True)
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


def aes_kw_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """RFC 3394 key unwrap (the A256KW step); a failed integrity check is ``play.decryption_failed``."""
    try:
        return aes_key_unwrap(kek, wrapped)
    except (InvalidUnwrap, ValueError) as exc:
        raise PlayIntegrityError("play.decryption_failed", _UNWRAP_FAILED) from exc


def aes256_gcm_decrypt(key: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    """The A256GCM step: 256-bit key, 96-bit IV, 128-bit tag (RFC 7518 §5.3), nothing else."""
    if len(key) != 32 or len(iv) != 12 or len(tag) != 16:
        raise PlayIntegrityError("play.token_malformed", _GCM_SIZES)
    try:
        return AESGCM(key).decrypt(iv, ciphertext + tag, aad)
    except InvalidTag as exc:
        raise PlayIntegrityError("play.decryption_failed", _GCM_ALTERED) from exc


def decrypt_jwe(token: bytes | str, decryption_key: bytes) -> bytes:
    """Decrypt a compact JWE that uses exactly ``alg: A256KW`` and ``enc: A256GCM``; return the plaintext.

    Every step is written out in this one function (and each base64url segment decoded as ``_b64url`` does)
    rather than spread over helpers: a Python call per step measured at a sixth of what the framing costs
    around the primitives. ``aes_kw_unwrap`` and ``aes256_gcm_decrypt`` are the same two steps on their own.
    """
    # Cap before any parsing.
    if len(token) > MAX_TOKEN_CHARS:
        raise InputError("input.too_large", f"the integrity token is {len(token)} characters, over {MAX_TOKEN_CHARS}")
    raw = token.encode("ascii", "replace") if isinstance(token, str) else bytes(token)
    segments = raw.split(b".")
    if len(segments) != 5:
        raise PlayIntegrityError(
            "play.token_malformed", f"the integrity token has {len(segments)} parts, not 5 (compact serialization)"
        )
    protected, encrypted_key, iv, ciphertext, tag = segments
    if len(protected) > _MAX_HEADER:
        raise PlayIntegrityError("play.token_malformed", "the JWE header is implausibly long")
    _check_jwe_header(protected)
    # Base64url as in _b64url: translated to the standard alphabet (what is not base64url becomes '!'), padded,
    # decoded strictly.
    what = "JWE encrypted key"
    try:
        wrapped = a2b_base64(
            encrypted_key.translate(_URLSAFE_TO_STANDARD) + _PADDING[len(encrypted_key) % 4], strict_mode=True
        )
        if len(wrapped) != 40:
            raise PlayIntegrityError("play.token_malformed", "the JWE encrypted key is not a wrapped 256-bit key")
        try:
            cek = aes_key_unwrap(decryption_key, wrapped)  # 40 bytes unwrap to 32: the A256GCM key size
        except (InvalidUnwrap, ValueError) as exc:
            raise PlayIntegrityError("play.decryption_failed", _UNWRAP_FAILED) from exc
        what = "JWE IV"
        iv_raw = a2b_base64(iv.translate(_URLSAFE_TO_STANDARD) + _PADDING[len(iv) % 4], strict_mode=True)
        what = "JWE ciphertext"
        ciphertext_raw = a2b_base64(
            ciphertext.translate(_URLSAFE_TO_STANDARD) + _PADDING[len(ciphertext) % 4], strict_mode=True
        )
        what = "JWE tag"
        tag_raw = a2b_base64(tag.translate(_URLSAFE_TO_STANDARD) + _PADDING[len(tag) % 4], strict_mode=True)
    except binascii.Error as exc:  # a ValueError; PlayIntegrityError is not one
        raise PlayIntegrityError("play.token_malformed", f"the {what} is not base64url") from exc
    # RFC 7518 §5.3: the A256GCM key (32 bytes, unwrapped above), IV and tag sizes.
    if len(iv_raw) != 12 or len(tag_raw) != 16:
        raise PlayIntegrityError("play.token_malformed", _GCM_SIZES)
    try:
        # RFC 7516 §5.2 step 14: the AAD is the ASCII of the encoded protected header, exactly as sent.
        return AESGCM(cek).decrypt(iv_raw, ciphertext_raw + tag_raw, protected)
    except InvalidTag as exc:
        raise PlayIntegrityError("play.decryption_failed", _GCM_ALTERED) from exc


def _der_parts(r_high: int, s_high: int) -> tuple[bytes, bytes]:
    r_length, s_length = 32 + r_high, 32 + s_high
    before_r = bytes((0x30, 4 + r_length + s_length, 0x02, r_length)) + b"\0" * r_high
    return before_r, bytes((0x02, s_length)) + b"\0" * s_high


# What goes before R and before S when neither starts with a zero byte (all but about 1 signature in 128), by the
# high bits of their first bytes: 32-byte INTEGERs, or 33 with the 0x00 that keeps a set high bit from reading as
# a negative number.
_DER_PARTS = ((_der_parts(0, 0), _der_parts(0, 1)), (_der_parts(1, 0), _der_parts(1, 1)))


def _der_signature(raw: bytes) -> bytes:
    """RFC 7518 §3.4's R || S (32 bytes each) as the DER ``ECDSA-Sig-Value`` OpenSSL verifies.

    The same bytes as ``encode_dss_signature(int(R), int(S))``, built from the two halves directly: each is a
    minimal big-endian INTEGER (leading zero bytes dropped, one 0x00 put back when the high bit is set, zero as
    one 0x00 byte). That costs a fraction of the conversion to Python integers and back.
    """
    r_first, s_first = raw[0], raw[32]
    if r_first and s_first:
        before_r, before_s = _DER_PARTS[r_first >> 7][s_first >> 7]
        return before_r + raw[:32] + before_s + raw[32:]
    r = raw[:32].lstrip(b"\0")
    s = raw[32:].lstrip(b"\0")
    if not r or r[0] & 0x80:
        r = b"\0" + r
    if not s or s[0] & 0x80:
        s = b"\0" + s
    return b"\x30%c\x02%c%b\x02%c%b" % (len(r) + len(s) + 4, len(r), r, len(s), s)


def verify_jws(token: bytes | str, verification_key: ec.EllipticCurvePublicKey) -> bytes:
    """Verify a compact JWS that uses exactly ``alg: ES256`` with the one configured key; return the payload.

    Written out in one function like ``decrypt_jwe``, for the same reason.
    """
    if len(token) > MAX_TOKEN_CHARS:
        raise InputError("input.too_large", f"the signed verdict is {len(token)} characters, over {MAX_TOKEN_CHARS}")
    raw = token.encode("ascii", "replace") if isinstance(token, str) else bytes(token)
    segments = raw.split(b".")
    if len(segments) != 3:
        raise PlayIntegrityError(
            "play.token_malformed", f"the signed verdict has {len(segments)} parts, not 3 (compact serialization)"
        )
    protected, payload, signature = segments
    if len(protected) > _MAX_HEADER:
        raise PlayIntegrityError("play.token_malformed", "the JWS header is implausibly long")
    _check_jws_header(protected)
    try:
        raw_signature = a2b_base64(
            signature.translate(_URLSAFE_TO_STANDARD) + _PADDING[len(signature) % 4], strict_mode=True
        )
    except binascii.Error as exc:
        raise PlayIntegrityError("play.token_malformed", "the JWS signature is not base64url") from exc
    # RFC 7518 §3.4: the ES256 signature is R || S, 32 bytes each (not DER).
    if len(raw_signature) != 64:
        raise PlayIntegrityError("play.signature_invalid", "the ES256 signature is not 64 bytes (R || S)")
    try:
        # The signing input is the token up to its last '.', sliced rather than joined again from its parts.
        verification_key.verify(_der_signature(raw_signature), raw[: len(protected) + 1 + len(payload)], _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise PlayIntegrityError(
            "play.signature_invalid",
            "the verdict is not signed by the verification key (a key of another app, or an altered verdict)",
        ) from exc
    try:
        return a2b_base64(payload.translate(_URLSAFE_TO_STANDARD) + _PADDING[len(payload) % 4], strict_mode=True)
    except binascii.Error as exc:
        raise PlayIntegrityError("play.token_malformed", "the JWS payload is not base64url") from exc
