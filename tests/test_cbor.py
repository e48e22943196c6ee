"""The CBOR entry point against RFC 8949's examples and its not-well-formed cases, plus our own strictness."""

from __future__ import annotations

import base64
import math
from typing import Any

import cbor2
import pytest

from app_integrity import _cbor
from app_integrity.errors import InputError
from tests.conftest import load_json, require_shared

pytestmark = pytest.mark.vectors


def _not_well_formed() -> list[str]:
    data = load_json(require_shared("suites/cbor/rfc8949_appendix_f1_not_well_formed.json"))
    return [case for group in data["groups"] for case in group["hex"]]


def _appendix_a() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = load_json(require_shared("suites/cbor/appendix_a.json"))
    return cases


def test_every_not_well_formed_case_is_rejected() -> None:
    cases = _not_well_formed()
    assert len(cases) == 94
    for case in cases:
        with pytest.raises(InputError) as info:
            _cbor.decode(bytes.fromhex(case), field="case")
        assert info.value.code == "input.malformed", case


def _same(decoded: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(decoded, float):
        return decoded == expected or (math.isnan(decoded) and math.isnan(expected))
    if isinstance(expected, list):
        return isinstance(decoded, list) and len(decoded) == len(expected) and all(map(_same, decoded, expected))
    if isinstance(expected, dict):
        return isinstance(decoded, dict) and {str(k): v for k, v in decoded.items()} == expected
    return bool(decoded == expected)


def test_appendix_a_decodes() -> None:
    cases = _appendix_a()
    decoded_count = 0
    for case in cases:
        raw = base64.b64decode(case["cbor"])
        if case["hex"] == "f818":
            # Well-formed under RFC 7049, not under RFC 8949 (Appendix F.1): the strict decoder refuses it.
            with pytest.raises(InputError):
                _cbor.decode(raw, field="case")
            continue
        value = _cbor.decode(raw, field="case")
        if "decoded" in case:
            assert _same(value, case["decoded"]), case["hex"]
            decoded_count += 1
    assert decoded_count == sum(1 for case in cases if "decoded" in case)


def test_trailing_bytes_are_rejected() -> None:
    with pytest.raises(InputError) as info:
        _cbor.decode(b"\x00\x00", field="x")
    assert info.value.code == "input.malformed"


def test_decode_prefix_reports_consumed_length() -> None:
    item = cbor2.dumps({1: 2, -1: b"x" * 40})
    value, used = _cbor.decode_prefix(item + b"\xa0junk", field="x")
    assert value == {1: 2, -1: b"x" * 40}
    assert used == len(item)


def test_duplicate_map_keys_are_rejected() -> None:
    with pytest.raises(InputError) as info:
        _cbor.decode(bytes.fromhex("a201000100"), field="x")
    assert info.value.code == "input.malformed"


def test_size_is_capped_before_parsing() -> None:
    with pytest.raises(InputError) as info:
        _cbor.decode(b"\x40" * 100, field="x", max_bytes=10)
    assert info.value.code == "input.too_large"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("5bffffffffffffffff00"),  # absurd byte-string length
        bytes.fromhex("9bffffffffffffffff"),  # absurd array length
        b"\x81" * 500 + b"\x00",  # nesting far beyond any App Attest structure
    ],
)
def test_hostile_inputs_are_malformed(data: bytes) -> None:
    with pytest.raises(InputError) as info:
        _cbor.decode(data, field="x")
    assert info.value.code == "input.malformed"


def test_non_bytes_input_is_malformed() -> None:
    value: Any = "text"
    with pytest.raises(InputError) as info:
        _cbor.decode(value, field="x")
    assert info.value.code == "input.malformed"
