"""The direct readers of the per-request paths (``_plain``, the receipt's plain-DER field reader, the nonce
extension's fixed form) against the general decoders they stand in for: on every real capture they must recognise
the bytes and return exactly what the general decoder returns, and on mutations of them they may decline (None)
but never return anything the general decoder would not."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import cbor2
import pytest
from cryptography import x509

from app_integrity import _cbor
from app_integrity.apple import _der, _plain, attestation, receipt
from app_integrity.errors import VerificationError
from tests.apple import vectors

MUTATIONS = 1500
_RECEIPT_FIELDS = frozenset((2, 3, 4, 6))


def _mutations(data: bytes, boundaries: list[int], seed: str) -> Iterator[bytes]:
    """Byte changes near the structure's boundaries (where the readers look), anywhere, and cuts."""
    rng = random.Random(seed)
    for _ in range(MUTATIONS):
        changed = bytearray(data)
        for _ in range(rng.randint(1, 2)):
            position = rng.choice(boundaries) + rng.randint(-2, 3) if rng.random() < 0.8 else rng.randrange(len(data))
            position = min(max(position, 0), len(data) - 1)
            changed[position] = rng.choice((rng.randrange(256), changed[position] ^ 1, changed[position] + 1 & 0xFF))
        if rng.random() < 0.1:
            changed = changed[: rng.randrange(len(changed))]
        yield bytes(changed)


def _outcome(decode: Callable[[], Any]) -> Any:
    try:
        return decode()
    except VerificationError as exc:
        return exc.code


def _decoded_attestation(raw: bytes) -> Any:
    return _outcome(partial(_cbor.decode, raw, field="attestation", max_bytes=attestation.MAX_ATTESTATION_BYTES))


def _as_object(parts: tuple[bytes, bytes, list[bytes]]) -> dict[str, Any]:
    auth_data, receipt_bytes, x5c = parts
    return {"fmt": "apple-appattest", "attStmt": {"x5c": x5c, "receipt": receipt_bytes}, "authData": auth_data}


def _boundaries(data: bytes, start: int) -> list[int]:
    """Offsets of the CBOR heads of consecutive byte strings from ``start`` (the readers' decision points)."""
    found = [0, start]
    position = start
    while (element := _plain._byte_string(data, position)) is not None:
        found.append(position)
        position = element[1]
        found.extend((position, position + 8, position + 9))
        if data[position : position + 1] in (b"\x67", b"\x68", b"\x71"):
            position += data[position] - 0x60 + 1
    return found


@pytest.mark.parametrize("name", vectors.names("attestation"))
def test_attestation_object(name: str) -> None:
    raw = vectors.attestation_bytes(vectors.load(name))
    parts = _plain.attestation_object(raw)
    assert parts is not None, "a real device's attestation has the direct layout"
    assert _as_object(parts) == cbor2.loads(raw)
    for changed in _mutations(raw, _boundaries(raw, len(_plain._ATTESTATION_HEAD)), name):
        parts = _plain.attestation_object(changed)
        if parts is not None:
            assert _as_object(parts) == _decoded_attestation(changed)


@pytest.mark.parametrize("name", vectors.names("assertion"))
def test_assertion_object(name: str) -> None:
    raw = vectors.assertion_bytes(vectors.load(name))
    parts = _plain.assertion_object(raw)
    assert parts is not None, "a real device's assertion has the direct layout"
    for changed in [raw, *_mutations(raw, _boundaries(raw, len(_plain._ASSERTION_HEAD)), name)]:
        parts = _plain.assertion_object(changed)
        if parts is not None:
            general = _outcome(partial(_cbor.decode, changed, field="assertion"))
            assert {"signature": parts[0], "authenticatorData": parts[1]} == general


@pytest.mark.parametrize("name", vectors.names("attestation"))
def test_cose_key(name: str) -> None:
    auth_data = cbor2.loads(vectors.attestation_bytes(vectors.load(name)))["authData"]
    offset = 37 + 16 + 2 + int.from_bytes(auth_data[53:55], "big")
    key = auth_data[offset:]
    assert _plain.cose_p256_key(key, 0) is not None
    for changed in [key, *_mutations(key, [*range(12), 42, 43, 44], name)]:
        plain = _plain.cose_p256_key(changed, 0)
        if plain is not None:
            assert (plain, _plain.COSE_KEY_LENGTH) == _outcome(partial(_cbor.decode_prefix, changed, field="key"))


def _receipts() -> list[tuple[str, bytes, bool]]:
    """(vector, receipt, whether it is an attestation's) for every real receipt."""
    found = []
    for name in vectors.names("attestation"):
        found.append((name, cbor2.loads(vectors.attestation_bytes(vectors.load(name)))["attStmt"]["receipt"], True))
    for name in vectors.names("receipt"):
        found.append((name, base64.b64decode(vectors.load(name)["receipt_b64"]), False))
    return found


def _attribute_offsets(content: bytes) -> list[int]:
    """Offsets of each ReceiptAttribute and of the heads inside it."""
    offsets = [0, 1, 2, 3]
    position = _der.enter(content, 0, _der.UNIVERSAL, _der.SET)
    while position < len(content):
        offsets.extend(position + step for step in (0, 1, 2, 4, 5, 7, 8))
        _, position = _der.read(content, position)
    return offsets


def test_receipt_content_and_fields() -> None:
    receipts = _receipts()
    assert receipts
    for name, raw, in_attestation in receipts:
        assert raw.startswith(receipt._APPLE_CONTENT_PREFIX) or not in_attestation, name
        content = receipt._encapsulated_content(raw)
        assert content == receipt._walk_to_content(raw)
        for only in (None, _RECEIPT_FIELDS):
            assert receipt._plain_fields(content, only) == receipt._fields(content, only)
        for changed in _mutations(content, _attribute_offsets(content), name):
            for only in (None, _RECEIPT_FIELDS):
                plain = receipt._plain_fields(changed, only)
                if plain is not None:
                    assert plain == _outcome(partial(receipt._fields, changed, only))


@pytest.mark.parametrize("name", vectors.names("attestation"))
def test_nonce_extension(name: str) -> None:
    x5c = cbor2.loads(vectors.attestation_bytes(vectors.load(name)))["attStmt"]["x5c"]
    value = x509.load_der_x509_certificate(x5c[0]).extensions.get_extension_for_oid(attestation.NONCE_EXTENSION).value
    assert isinstance(value, x509.UnrecognizedExtension)
    assert value.value.startswith(attestation._NONCE_DER_HEAD)
    assert len(value.value) == attestation._NONCE_DER_LENGTH
    sequence = _der.expect(_der.single(value.value), _der.UNIVERSAL, _der.SEQUENCE, constructed=True)
    tagged = _der.expect(_der.single(sequence), _der.CONTEXT, 1, constructed=True)
    walked = _der.expect(_der.single(tagged), _der.UNIVERSAL, _der.OCTET_STRING, constructed=False)
    assert value.value[len(attestation._NONCE_DER_HEAD) :] == walked
