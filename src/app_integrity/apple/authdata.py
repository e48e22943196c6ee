"""Authenticator data as App Attest writes it, parsed by length rather than by flags.

Layout (WebAuthn §6.1): rpIdHash (32) | flags (1) | signCount (4, big-endian) | attested credential data
[aaguid (16) | credentialIdLength (2) | credentialId | COSE key (CBOR)] | extensions (CBOR map).

What real devices do, and why parsing goes by length:
- assertions set the AT flag (0x40) although they carry no attested credential data, so an assertion's
  authenticator data is exactly 37 bytes;
- from iOS 27, Apple appends one CBOR map (``apple_bundle_version_01``, ``apple_validation_category_01``) after
  the attested credential data of attestations and after the 37 bytes of assertions, without setting ED (0x80).
Exactly one such bounded map is accepted; any other trailing byte is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from app_integrity import _cbor
from app_integrity.apple import _plain
from app_integrity.errors import AppleError, InputError

HEADER_LENGTH = 37
_AAGUID_LENGTH = 16
MAX_AUTH_DATA_BYTES = 4096
MAX_EXTENSION_BYTES = 512
_MAX_CREDENTIAL_ID = 64
_MAX_BUNDLE_VERSION = 256

BUNDLE_VERSION_KEY = "apple_bundle_version_01"
VALIDATION_CATEGORY_KEY = "apple_validation_category_01"


@dataclass(frozen=True, slots=True)
class AppleExtensions:
    """The iOS 27 values: the app's bundle version and its launch validation category."""

    bundle_version: str | None
    validation_category: int | None


class AuthenticatorData(NamedTuple):
    """Parsed authenticator data (a named tuple: built on every assertion, it must cost next to nothing)."""

    raw: bytes
    rp_id_hash: bytes
    flags: int
    sign_count: int
    aaguid: bytes | None = None
    credential_id: bytes | None = None
    credential_public_key: dict[Any, Any] | None = None
    extensions: AppleExtensions | None = None


def _invalid(message: str) -> AppleError:
    return AppleError("apple.authenticator_data_invalid", message)


def _header(raw: bytes) -> tuple[bytes, int, int]:
    if type(raw) is not bytes:
        raise InputError("input.malformed", f"authenticator data must be bytes, not {type(raw).__name__}")
    if len(raw) > MAX_AUTH_DATA_BYTES:
        raise InputError("input.too_large", f"authenticator data is {len(raw)} bytes, more than {MAX_AUTH_DATA_BYTES}")
    if len(raw) < HEADER_LENGTH:
        raise _invalid(f"authenticator data is {len(raw)} bytes, shorter than its 37-byte header")
    return raw[:32], raw[32], int.from_bytes(raw[33:37], "big")


def _category(value: object) -> int:
    # A captured iOS 27 device sends h'03000000': a 32-bit little-endian value.
    if isinstance(value, bytes) and len(value) == 4:
        return int.from_bytes(value, "little")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32:
        return value
    raise AppleError("apple.extension_invalid", f"{VALIDATION_CATEGORY_KEY} is not a 4-byte value")


def parse_extensions(trailing: bytes) -> AppleExtensions:
    """The one CBOR map allowed after the fixed part; anything else raises ``apple.extension_invalid``."""
    if len(trailing) > MAX_EXTENSION_BYTES:
        raise AppleError("apple.extension_invalid", f"{len(trailing)} trailing bytes exceed {MAX_EXTENSION_BYTES}")
    try:
        value = _cbor.decode(trailing, field="authenticator data extensions", max_bytes=MAX_EXTENSION_BYTES)
    except InputError as exc:
        raise AppleError("apple.extension_invalid", f"the trailing bytes are not one CBOR map: {exc.message}") from exc
    if not isinstance(value, dict) or not value:
        raise AppleError("apple.extension_invalid", "the trailing bytes are not a non-empty CBOR map")
    unknown = [key for key in value if key not in (BUNDLE_VERSION_KEY, VALIDATION_CATEGORY_KEY)]
    if unknown:
        raise AppleError("apple.extension_invalid", f"unknown extension keys: {unknown!r}")
    bundle_version = value.get(BUNDLE_VERSION_KEY)
    if bundle_version is not None and (
        not isinstance(bundle_version, str) or not 0 < len(bundle_version) <= _MAX_BUNDLE_VERSION
    ):
        raise AppleError("apple.extension_invalid", f"{BUNDLE_VERSION_KEY} is not a short text string")
    category = value.get(VALIDATION_CATEGORY_KEY)
    return AppleExtensions(
        bundle_version=bundle_version,
        validation_category=None if category is None else _category(category),
    )


def parse_assertion_auth_data(raw: bytes) -> AuthenticatorData:
    """37 bytes, optionally followed by the iOS 27 map. The AT flag is ignored: devices set it regardless."""
    if type(raw) is bytes and len(raw) == HEADER_LENGTH:
        # The common case (no iOS 27 map), once per request: the same fields as below, positionally.
        return AuthenticatorData(raw, raw[:32], raw[32], int.from_bytes(raw[33:37], "big"))
    rp_id_hash, flags, sign_count = _header(raw)
    trailing = bytes(raw[HEADER_LENGTH:])
    extensions = parse_extensions(trailing) if trailing else None
    return AuthenticatorData(raw=raw, rp_id_hash=rp_id_hash, flags=flags, sign_count=sign_count, extensions=extensions)


def parse_attestation_auth_data(raw: bytes) -> AuthenticatorData:
    """Header, attested credential data (always present in an attestation), then at most the iOS 27 map."""
    rp_id_hash, flags, sign_count = _header(raw)
    offset = HEADER_LENGTH
    if len(raw) < offset + _AAGUID_LENGTH + 2:
        raise _invalid("authenticator data ends before the attested credential data")
    aaguid = bytes(raw[offset : offset + _AAGUID_LENGTH])
    offset += _AAGUID_LENGTH
    id_length = int.from_bytes(raw[offset : offset + 2], "big")
    offset += 2
    if id_length == 0 or id_length > _MAX_CREDENTIAL_ID:
        raise _invalid(f"credentialIdLength {id_length} is not a plausible App Attest key id length")
    if len(raw) < offset + id_length + 1:
        raise _invalid("authenticator data ends inside the credential id")
    credential_id = bytes(raw[offset : offset + id_length])
    offset += id_length
    cose_key: Any = _plain.cose_p256_key(raw, offset)
    used = _plain.COSE_KEY_LENGTH
    if cose_key is None:
        try:
            cose_key, used = _cbor.decode_prefix(
                raw[offset:], field="credentialPublicKey", max_bytes=MAX_AUTH_DATA_BYTES
            )
        except InputError as exc:
            raise _invalid(f"the credential public key is not CBOR: {exc.message}") from exc
    if not isinstance(cose_key, dict):
        raise _invalid("the credential public key is not a COSE_Key map")
    offset += used
    trailing = bytes(raw[offset:])
    extensions = parse_extensions(trailing) if trailing else None
    return AuthenticatorData(
        raw=raw,
        rp_id_hash=rp_id_hash,
        flags=flags,
        sign_count=sign_count,
        aaguid=aaguid,
        credential_id=credential_id,
        credential_public_key=cose_key,
        extensions=extensions,
    )
