"""Base64 in every spelling clients use, decoded strictly and size-capped before decoding."""

from __future__ import annotations

import base64
import binascii
import re

from app_integrity.errors import InputError

_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def decode_base64(value: bytes | str, *, field: str, max_bytes: int) -> bytes:
    """Decode standard or url-safe base64, padded or not; ``bytes`` pass through as raw data.

    Raises ``input.too_large`` when the result could exceed ``max_bytes`` and ``input.malformed`` for anything
    that is not base64 (mixed alphabets are tolerated: both decode the same way and clients mix them).
    """
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        if len(raw) > max_bytes:
            raise InputError("input.too_large", f"{field} is {len(raw)} bytes, more than {max_bytes}")
        return raw
    if not isinstance(value, str):
        raise InputError("input.malformed", f"{field} must be bytes or base64 text, not {type(value).__name__}")
    if len(value) % 4 == 0 and len(value) <= (max_bytes + 2) // 3 * 4:
        # Standard alphabet, padded, nothing else: the strict decoder the general path below ends with, given the
        # text as is (anything else raises here and takes that path).
        try:
            raw = binascii.a2b_base64(value, strict_mode=True)
        except (binascii.Error, ValueError):
            pass
        else:
            if len(raw) > max_bytes:
                raise InputError("input.too_large", f"{field} is {len(raw)} bytes, more than {max_bytes}")
            return raw
    text = value.strip()
    # Cap before decoding: 4 characters carry 3 bytes.
    if len(text) > (max_bytes + 2) // 3 * 4 + 4:
        raise InputError("input.too_large", f"{field} is longer than {max_bytes} bytes allows")
    if not _BASE64_TEXT.fullmatch(text):
        raise InputError("input.malformed", f"{field} is not base64 text")
    unpadded = text.rstrip("=")
    if len(unpadded) % 4 == 1:
        raise InputError("input.malformed", f"{field} has an impossible base64 length")
    padded = unpadded + "=" * (-len(unpadded) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("input.malformed", f"{field} is not valid base64") from exc
    if len(raw) > max_bytes:
        raise InputError("input.too_large", f"{field} is {len(raw)} bytes, more than {max_bytes}")
    return raw


def b64_standard(data: bytes) -> str:
    """Standard alphabet, padded: what the Expo module returns and what responses use."""
    return base64.b64encode(data).decode("ascii")


def b64url(data: bytes) -> str:
    """URL-safe alphabet without padding: challenges, key ids in paths, the binding's body hash."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
