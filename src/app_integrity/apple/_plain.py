"""Direct readers for the exact CBOR layouts App Attest devices write, for the per-request paths.

Each returns what ``_cbor`` (cbor2) decodes from the same bytes, or None for any other layout, which the general
decoder then reads or refuses: these readers only ever recognise, they never accept what it would not. Every real
device capture has these layouts (definite lengths, members in this order).
"""

from __future__ import annotations

from typing import Any

# {"fmt": "apple-appattest", "attStmt": {"x5c": [ (two byte strings follow)
_ATTESTATION_HEAD = b"\xa3\x63fmt\x6fapple-appattest\x67attStmt\xa2\x63x5c\x82"
_RECEIPT_KEY = b"\x67receipt"
_AUTH_DATA_KEY = b"\x68authData"
# {"signature": (byte string), "authenticatorData": (byte string)}
_ASSERTION_HEAD = b"\xa2\x69signature"
_AUTHENTICATOR_DATA_KEY = b"\x71authenticatorData"
# COSE_Key {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x (32 bytes), -3: y (32 bytes)}
_COSE_HEAD = b"\xa5\x01\x02\x03\x26\x20\x01\x21\x58\x20"
_COSE_Y = b"\x22\x58\x20"
COSE_KEY_LENGTH = len(_COSE_HEAD) + 32 + len(_COSE_Y) + 32


def _byte_string(data: bytes, position: int) -> tuple[bytes, int] | None:
    """The CBOR byte string (definite length) at ``position`` and the position after it."""
    if position >= len(data):
        return None
    head = data[position]
    if 0x40 <= head <= 0x57:
        start, length = position + 1, head - 0x40
    elif head == 0x58 and position + 2 <= len(data):
        start, length = position + 2, data[position + 1]
    elif head == 0x59 and position + 3 <= len(data):
        start, length = position + 3, int.from_bytes(data[position + 1 : position + 3], "big")
    else:
        return None
    end = start + length
    if end > len(data):
        return None
    return data[start:end], end


def attestation_object(raw: bytes) -> tuple[bytes, bytes, list[bytes]] | None:
    """(authData, receipt, x5c) of an attestation object that is exactly a device's layout with two certificates."""
    if not raw.startswith(_ATTESTATION_HEAD):
        return None
    leaf = _byte_string(raw, len(_ATTESTATION_HEAD))
    if leaf is None:
        return None
    intermediate = _byte_string(raw, leaf[1])
    if intermediate is None or not raw.startswith(_RECEIPT_KEY, intermediate[1]):
        return None
    receipt = _byte_string(raw, intermediate[1] + len(_RECEIPT_KEY))
    if receipt is None or not raw.startswith(_AUTH_DATA_KEY, receipt[1]):
        return None
    auth_data = _byte_string(raw, receipt[1] + len(_AUTH_DATA_KEY))
    if auth_data is None or auth_data[1] != len(raw):
        return None
    return auth_data[0], receipt[0], [leaf[0], intermediate[0]]


def assertion_object(raw: bytes) -> tuple[bytes, bytes] | None:
    """(signature, authenticatorData) of an assertion that is exactly a device's layout."""
    if not raw.startswith(_ASSERTION_HEAD):
        return None
    signature = _byte_string(raw, len(_ASSERTION_HEAD))
    if signature is None or not raw.startswith(_AUTHENTICATOR_DATA_KEY, signature[1]):
        return None
    auth_data = _byte_string(raw, signature[1] + len(_AUTHENTICATOR_DATA_KEY))
    if auth_data is None or auth_data[1] != len(raw):
        return None
    return signature[0], auth_data[0]


def cose_p256_key(data: bytes, position: int) -> dict[Any, Any] | None:
    """The COSE_Key map at ``position`` when it is the EC2 / ES256 / P-256 key a device writes (it then takes
    ``COSE_KEY_LENGTH`` bytes)."""
    x = position + len(_COSE_HEAD)
    y = x + 32 + len(_COSE_Y)
    end = y + 32
    if end > len(data) or not data.startswith(_COSE_HEAD, position) or not data.startswith(_COSE_Y, x + 32):
        return None
    return {1: 2, 3: -7, -1: 1, -2: data[x : x + 32], -3: data[y:end]}
