"""The project's one CBOR decoding entry point: strict, size-capped, and typed errors only.

cbor2 does the parsing; this module adds what a verifier needs on top: a size cap checked before parsing, a
shallow nesting limit, duplicate map keys refused, trailing bytes refused (``decode``) or reported
(``decode_prefix``), and every failure turned into ``input.malformed`` / ``input.too_large``. (``apple._plain``
recognises the exact layouts App Attest devices write, with results equal to this module's, and leaves
everything else to it.)
"""

from __future__ import annotations

import io
from typing import Any

import cbor2

from app_integrity.errors import InputError

# Attestation objects are about 5 KiB; nothing the verifiers decode is legitimately near this.
DEFAULT_MAX_BYTES = 64 * 1024
# App Attest structures nest at most three levels (map -> map -> array); leave room, refuse pathological depth.
MAX_DEPTH = 16

_BYTES_TYPES = (bytes, bytearray, memoryview)
_DECODE_ERRORS = (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError, EOFError, MemoryError)


def _check_size(data: bytes, *, field: str, max_bytes: int) -> None:
    if not isinstance(data, _BYTES_TYPES):
        raise InputError("input.malformed", f"{field} must be bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise InputError("input.too_large", f"{field} is {len(data)} bytes, more than {max_bytes}")
    if len(data) == 0:
        raise InputError("input.malformed", f"{field} is empty")


def decode_prefix(data: bytes, *, field: str, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Any, int]:
    """Decode the one data item at the start of ``data``; return it and the number of bytes it used.

    For formats that put CBOR inside a binary layout (the COSE key in authenticator data is followed by more
    bytes): the caller decides what may follow.
    """
    _check_size(data, field=field, max_bytes=max_bytes)
    # Fast path: when the decoded item's encoding is a prefix of ``data``, that prefix is the item (CBOR items
    # are self-delimiting). Otherwise the stream decoder below finds where the item ends.
    try:
        value = cbor2.loads(data, max_depth=MAX_DEPTH, allow_duplicate_keys=False)
        encoded = cbor2.dumps(value)
        if data[: len(encoded)] == encoded:
            return value, len(encoded)
    except (*_DECODE_ERRORS, cbor2.CBOREncodeError):
        pass
    stream = io.BytesIO(bytes(data))
    try:
        decoder = cbor2.CBORDecoder(stream, max_depth=MAX_DEPTH, allow_duplicate_keys=False)
        value = decoder.decode()
    except _DECODE_ERRORS as exc:
        raise InputError("input.malformed", f"{field} is not well-formed CBOR: {exc}") from exc
    return value, stream.tell()


def decode(data: bytes, *, field: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Decode exactly one CBOR data item that fills ``data``; trailing bytes are an error."""
    _check_size(data, field=field, max_bytes=max_bytes)
    # Fast path (verifiers run per request): when re-encoding the decoded item gives back exactly ``data``, it is
    # one well-formed item with nothing after it. Anything else (trailing bytes, non-shortest encodings, errors)
    # takes the stream decoder below, which locates the item's end.
    try:
        value = cbor2.loads(data, max_depth=MAX_DEPTH, allow_duplicate_keys=False)
        if cbor2.dumps(value) == data:
            return value
    except (*_DECODE_ERRORS, cbor2.CBOREncodeError):
        pass
    value, used = decode_prefix(data, field=field, max_bytes=max_bytes)
    if used != len(data):
        raise InputError("input.malformed", f"{field} has {len(data) - used} bytes after its CBOR item")
    return value
