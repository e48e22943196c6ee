"""Argument handling shared by the verifiers: client data hashes and key ids."""

from __future__ import annotations

import hashlib

from app_integrity._encoding import decode_base64
from app_integrity.errors import InputError

MAX_CLIENT_DATA_BYTES = 64 * 1024
MAX_CLIENT_DATA_HASH_BYTES = 1024
KEY_ID_LENGTH = 32


def _utf8(text: str, name: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates have no UTF-8 form
        raise InputError("input.malformed", f"{name} is not encodable as UTF-8") from exc


def client_data_hash(text: str | bytes | None, given_hash: bytes | str | None, *, text_name: str) -> bytes:
    """SHA-256 of the UTF-8 string (what ``@expo/app-integrity`` passes), or the hash exactly as the client gave it.

    Exactly one of the two. A given hash is used as is, whatever its length: Apple's own sample app passes raw
    challenge bytes as "clientDataHash".
    """
    if type(text) is str and given_hash is None and len(text) <= MAX_CLIENT_DATA_BYTES // 4:
        # The common case, short-cut: a short string (at most 4 UTF-8 bytes a character fits the cap).
        return hashlib.sha256(_utf8(text, text_name)).digest()
    if (text is None) == (given_hash is None):
        raise InputError("input.invalid_argument", f"pass exactly one of {text_name} and client_data_hash")
    if text is not None:
        if isinstance(text, str):
            data = _utf8(text, text_name)
        elif isinstance(text, bytes | bytearray):
            data = bytes(text)
        else:
            raise InputError("input.invalid_argument", f"{text_name} must be a string, not {type(text).__name__}")
        if len(data) > MAX_CLIENT_DATA_BYTES:
            raise InputError("input.too_large", f"{text_name} is longer than {MAX_CLIENT_DATA_BYTES} bytes")
        return hashlib.sha256(data).digest()
    value = decode_base64(given_hash or b"", field="client_data_hash", max_bytes=MAX_CLIENT_DATA_HASH_BYTES)
    if not value:
        raise InputError("input.invalid_argument", "client_data_hash is empty")
    return value


def key_id_bytes(key_id: bytes | str) -> bytes:
    """The 32-byte key id, from bytes or base64 text (standard or url-safe, padded or not)."""
    raw = decode_base64(key_id, field="key_id", max_bytes=64)
    if len(raw) != KEY_ID_LENGTH:
        raise InputError("input.malformed", f"key_id must be 32 bytes (SHA-256 of the public key), not {len(raw)}")
    return raw
