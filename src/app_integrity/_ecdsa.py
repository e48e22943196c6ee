"""ECDSA P-256 / SHA-256 verification: the one place the verifiers check such a signature.

Keys arrive as 65-byte uncompressed points (what App Attest stores); loading a point costs about as much as a
verify, so loaded keys are cached by their bytes.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app_integrity.errors import InputError

P256_POINT_LENGTH = 65
_P1363_LENGTH = 64
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

P256Key = bytes | ec.EllipticCurvePublicKey


@lru_cache(maxsize=4096)
def _load_point(point: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise InputError("input.malformed", "the public key is not a point on P-256") from exc


def load_p256_public_key(key: P256Key) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from a 65-byte uncompressed point (cached) or an already loaded key."""
    if type(key) is bytes and len(key) == P256_POINT_LENGTH and key[0] == 0x04:
        return _load_point(key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InputError("input.malformed", f"the public key is on {key.curve.name}, not P-256")
        return key
    if not isinstance(key, bytes | bytearray):
        raise InputError("input.malformed", f"the public key must be bytes, not {type(key).__name__}")
    if len(key) != P256_POINT_LENGTH or key[0] != 0x04:
        raise InputError("input.malformed", "the public key must be a 65-byte uncompressed P-256 point")
    return _load_point(bytes(key))


def public_point(key: ec.EllipticCurvePublicKey) -> bytes:
    """The 65-byte uncompressed encoding of a P-256 key."""
    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def verify_p256_sha256(key: P256Key, der_signature: bytes, message: bytes) -> bool:
    """True when ``der_signature`` (strict DER ``ECDSA-Sig-Value``) signs SHA-256(``message``) under ``key``."""
    return verify_loaded_p256_sha256(load_p256_public_key(key), der_signature, message)


def verify_loaded_p256_sha256(public_key: ec.EllipticCurvePublicKey, der_signature: bytes, message: bytes) -> bool:
    """``verify_p256_sha256`` for a key that ``load_p256_public_key`` already returned (checked once, not twice)."""
    try:
        public_key.verify(der_signature, message, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def verify_p256_sha256_p1363(key: P256Key, signature: bytes, message: bytes) -> bool:
    """Same check for the IEEE P1363 encoding (``r || s``, 32 bytes each), as JOSE ES256 uses."""
    if len(signature) != _P1363_LENGTH:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    return verify_p256_sha256(key, encode_dss_signature(r, s), message)
