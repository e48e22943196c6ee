from __future__ import annotations

from typing import Any, cast

import pytest

from app_integrity._encoding import b64_standard, b64url, decode_base64
from app_integrity.errors import InputError

DATA = bytes(range(256))


@pytest.mark.parametrize(
    "text",
    [b64_standard(DATA), b64url(DATA), b64_standard(DATA).rstrip("="), b64url(DATA) + "=="],
)
def test_every_alphabet_and_padding_decodes(text: str) -> None:
    assert decode_base64(text, field="x", max_bytes=1024) == DATA


def test_bytes_pass_through() -> None:
    assert decode_base64(DATA, field="x", max_bytes=1024) == DATA


@pytest.mark.parametrize("text", ["a", "abc$", "ab cd", "====", "ab=c"])
def test_malformed_text_is_refused(text: str) -> None:
    with pytest.raises(InputError) as info:
        decode_base64(text, field="x", max_bytes=1024)
    assert info.value.code == "input.malformed"


def test_size_is_capped_before_decoding() -> None:
    with pytest.raises(InputError) as info:
        decode_base64("A" * 10_000, field="x", max_bytes=100)
    assert info.value.code == "input.too_large"
    with pytest.raises(InputError):
        decode_base64(b"\x00" * 101, field="x", max_bytes=100)


def test_non_text_is_refused() -> None:
    with pytest.raises(InputError):
        decode_base64(cast(Any, 12), field="x", max_bytes=10)
