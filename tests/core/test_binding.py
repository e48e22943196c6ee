"""The canonical request binding: exact strings, and every way a line could be forged or blurred."""

from __future__ import annotations

from typing import Any

import pytest

from app_integrity.binding import (
    binding_from_body_sha256,
    body_sha256,
    build_binding,
    check_challenge,
    client_data_hash,
    request_hash,
)
from app_integrity.errors import InputError

CHALLENGE = "q8XUqnm4Xw0vR1lQ4mS0mR2s9dM8y2Y0rP6XZbcfJ7o"
BODY = b'{"sku":"A1","qty":2}'
# Computed independently with `openssl dgst -sha256 -binary | basenc --base64url`.
BODY_SHA256 = "ERL47_EOLw6RtheS54OgHs_od-QhRqhIwql2BA-1A9Q"
EMPTY_SHA256 = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
EXPECTED = f"app-integrity:v1\n{CHALLENGE}\nPOST\n/v1/orders?coupon=SPRING%2025\n{BODY_SHA256}"
EXPECTED_HASH = "hFYbB14gMYfrmke-qki5NosSFBj2OgWYD29lE1nxHK0"


def test_worked_example_is_byte_exact() -> None:
    binding = build_binding(CHALLENGE, "POST", "/v1/orders?coupon=SPRING%2025", BODY)
    assert binding == EXPECTED
    assert request_hash(binding) == EXPECTED_HASH
    assert len(request_hash(binding)) == 43


def test_from_body_sha256_matches_body_form() -> None:
    assert body_sha256(BODY) == BODY_SHA256
    assert binding_from_body_sha256(CHALLENGE, "POST", "/v1/orders?coupon=SPRING%2025", BODY_SHA256) == EXPECTED


def test_empty_body_and_no_query() -> None:
    binding = build_binding(CHALLENGE, "GET", "/v1/me", b"")
    assert binding == f"app-integrity:v1\n{CHALLENGE}\nGET\n/v1/me\n{EMPTY_SHA256}"


def test_client_data_hash_is_sha256_of_utf8() -> None:
    assert client_data_hash(EXPECTED).hex() == "84561b075e203187eb9a47beaa48b9368b121418f63a05980f6f651359f11cad"


def test_memoryview_and_bytearray_bodies() -> None:
    assert build_binding(CHALLENGE, "PUT", "/x", bytearray(BODY)) == build_binding(
        CHALLENGE, "PUT", "/x", memoryview(BODY)
    )


@pytest.mark.parametrize(
    ("path", "other"),
    [
        ("/a%2Fb", "/a/b"),  # raw percent-encoding, never decoded
        ("/a?x=1&y=2", "/a?y=2&x=1"),  # query order kept
        ("/a?", "/a"),  # an empty query is part of the target as sent
        ("/A", "/a"),
    ],
)
def test_no_normalisation(path: str, other: str) -> None:
    assert build_binding(CHALLENGE, "GET", path, b"") != build_binding(CHALLENGE, "GET", other, b"")


@pytest.mark.parametrize(
    "challenge",
    ["", "a b", "a\nb", "a\rb", "a\tb", "caf\u00e9", "\x00", "x" * 257],
)
def test_bad_challenge(challenge: str) -> None:
    code = "input.too_large" if len(challenge) > 256 else "input.malformed"
    with pytest.raises(InputError) as info:
        build_binding(challenge, "GET", "/", b"")
    assert info.value.code == code


@pytest.mark.parametrize("method", ["", "get", "Post", "GET ", "GE\nT", "G\u00c9T", "1GET", "M" * 33])
def test_bad_method(method: str) -> None:
    code = "input.too_large" if len(method) > 32 else "input.malformed"
    with pytest.raises(InputError) as info:
        build_binding(CHALLENGE, method, "/", b"")
    assert info.value.code == code


def test_extension_methods_accepted() -> None:
    assert "\nM-SEARCH\n" in build_binding(CHALLENGE, "M-SEARCH", "/", b"")


@pytest.mark.parametrize(
    "path",
    [
        "",
        "v1/orders",
        "https://example.com/v1",
        "*",
        "/a b",
        "/a\nPOST",
        "/a\r\n",
        "/a#frag",
        "/caf\u00e9",
        "/\x7f",
    ],
)
def test_bad_target(path: str) -> None:
    with pytest.raises(InputError) as info:
        build_binding(CHALLENGE, "GET", path, b"")
    assert info.value.code == "input.malformed"


def test_target_too_long() -> None:
    with pytest.raises(InputError) as info:
        build_binding(CHALLENGE, "GET", "/" + "a" * 8192, b"")
    assert info.value.code == "input.too_large"


@pytest.mark.parametrize(
    "digest",
    [
        BODY_SHA256 + "=",  # padded
        BODY_SHA256[:-1],  # short
        BODY_SHA256.replace("_", "/"),  # standard alphabet
        EMPTY_SHA256[:-1] + "V",  # non-canonical trailing bits: decodes to the same digest
        "",
        "x" * 44,
    ],
)
def test_bad_body_sha256(digest: str) -> None:
    with pytest.raises(InputError) as info:
        binding_from_body_sha256(CHALLENGE, "POST", "/", digest)
    assert info.value.code == "input.malformed"


def test_wrong_python_types() -> None:
    cases: list[tuple[Any, Any, Any, Any]] = [
        (b"challenge", "GET", "/", b""),
        (CHALLENGE, b"GET", "/", b""),
        (CHALLENGE, "GET", b"/", b""),
        (CHALLENGE, "GET", "/", "body"),
    ]
    for challenge, method, path, body in cases:
        with pytest.raises(InputError) as info:
            build_binding(challenge, method, path, body)
        assert info.value.code == "input.invalid_argument"


def test_check_challenge_returns_value() -> None:
    assert check_challenge(CHALLENGE) == CHALLENGE
