"""The App-Integrity header: every proof form round-trips, every malformed value gets its exact code."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app_integrity.errors import HeaderError, InputError
from app_integrity.header import (
    MAX_HEADER_BYTES,
    AndroidProof,
    IosProof,
    SessionProof,
    format_header,
    parse_header,
)
from app_integrity.policy import Platform

KEY_ID = bytes(range(32))
KEY_B64 = base64.b64encode(KEY_ID).decode()
ASSERTION = b"\xa2isignatureX@" + b"\x01" * 64
ASSERTION_B64 = base64.b64encode(ASSERTION).decode()
CHALLENGE = "q8XUqnm4Xw0vR1lQ4mS0mR2s9dM8y2Y0rP6XZbcfJ7o"
IOS = f'v=1, platform=ios, key-id=:{KEY_B64}:, challenge="{CHALLENGE}", assertion=:{ASSERTION_B64}:'
ANDROID = f'v=1, platform=android, challenge="{CHALLENGE}", token="eyJhbGciOiJBMjU2S1cifQ.a.b.c.d"'
SESSION = 'v=1, session="eyJhbGciOiJFUzI1NiJ9.e30.sig"'


def _code(value: str | bytes | None) -> str:
    with pytest.raises(HeaderError) as info:
        parse_header(value)
    return info.value.code


def _outcome(value: str | bytes) -> str:
    try:
        parse_header(value)
    except HeaderError as error:
        return error.code
    return "parsed"


def test_ios() -> None:
    proof = parse_header(IOS)
    assert proof == IosProof(key_id=KEY_ID, challenge=CHALLENGE, assertion=ASSERTION)
    assert proof.platform is Platform.IOS


def test_android() -> None:
    proof = parse_header(ANDROID)
    assert proof == AndroidProof(challenge=CHALLENGE, token="eyJhbGciOiJBMjU2S1cifQ.a.b.c.d")
    assert proof.platform is Platform.ANDROID


def test_session() -> None:
    assert parse_header(SESSION) == SessionProof(token="eyJhbGciOiJFUzI1NiJ9.e30.sig")


def test_bytes_member_order_and_whitespace_do_not_matter() -> None:
    shuffled = f'assertion=:{ASSERTION_B64}:,challenge="{CHALLENGE}",   key-id=:{KEY_B64}:,platform=ios,v=1'
    assert parse_header(shuffled.encode()) == parse_header(IOS)
    assert parse_header("  " + IOS + "  ") == parse_header(IOS)


def test_tokens_are_not_in_repr() -> None:
    assert "eyJ" not in repr(parse_header(ANDROID))
    assert "eyJ" not in repr(parse_header(SESSION))


@pytest.mark.parametrize(
    "proof",
    [
        IosProof(key_id=KEY_ID, challenge=CHALLENGE, assertion=ASSERTION),
        AndroidProof(challenge=CHALLENGE, token="x.y.z"),
        SessionProof(token="a.b.c"),
    ],
)
def test_format_round_trips(proof: IosProof | AndroidProof | SessionProof) -> None:
    assert parse_header(format_header(proof)) == proof


def test_format_exact_text() -> None:
    assert format_header(IosProof(key_id=KEY_ID, challenge=CHALLENGE, assertion=ASSERTION)) == IOS
    assert format_header(AndroidProof(challenge=CHALLENGE, token="eyJhbGciOiJBMjU2S1cifQ.a.b.c.d")) == ANDROID


@pytest.mark.parametrize(
    ("proof", "code"),
    [
        (IosProof(key_id=KEY_ID[:31], challenge=CHALLENGE, assertion=ASSERTION), "header.wrong_type"),
        (IosProof(key_id=KEY_ID, challenge="a b", assertion=ASSERTION), "header.wrong_type"),
        (AndroidProof(challenge=CHALLENGE, token="caf\u00e9"), "header.wrong_type"),
        (SessionProof(token=""), "header.wrong_type"),
        (SessionProof(token="x" * MAX_HEADER_BYTES), "header.too_large"),
    ],
)
def test_format_refuses_what_parse_refuses(proof: IosProof | AndroidProof | SessionProof, code: str) -> None:
    with pytest.raises(HeaderError) as info:
        format_header(proof)
    assert info.value.code == code


def test_format_refuses_non_proofs() -> None:
    not_a_proof: Any = "v=1"
    with pytest.raises(InputError) as info:
        format_header(not_a_proof)
    assert info.value.code == "input.invalid_argument"


IOS_MEMBERS = f'platform=ios, key-id=:{KEY_B64}:, challenge="{CHALLENGE}", assertion=:{ASSERTION_B64}:'


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "header.missing"),
        ("", "header.missing"),
        ("   ", "header.missing"),
        (b"", "header.missing"),
        # not an RFC 8941 dictionary
        ("v=1,", "header.malformed"),
        ("v=1, platform=ios,, x=1", "header.malformed"),
        ("V=1", "header.malformed"),
        ('v=1, session="unterminated', "header.malformed"),
        ("v=1, session=:not base64!:", "header.malformed"),
        (f"v=1, platform=ios, key-id=:{KEY_B64.rstrip('=')}:", "header.malformed"),
        ("v=1; session", "header.wrong_type"),
        ('v=1, session="caf\u00e9"', "header.malformed"),
        (b'v=1, session="\xc3\xa9"', "header.malformed"),
        ('v=1\n, session="x"', "header.malformed"),
        # duplicates: RFC 8941 keeps the last one; we refuse
        ('v=1, session="a", session="b"', "header.duplicate_member"),
        ("v=1, v=1, " + IOS_MEMBERS, "header.duplicate_member"),
        (IOS + f", key-id=:{KEY_B64}:", "header.duplicate_member"),
        # version
        ('session="a"', "header.missing_member"),
        ('v=2, session="a"', "header.unsupported_version"),
        ('v=0, session="a"', "header.unsupported_version"),
        ('v=-1, session="a"', "header.unsupported_version"),
        ('v="1", session="a"', "header.wrong_type"),
        ('v=1.0, session="a"', "header.wrong_type"),
        ('v, session="a"', "header.wrong_type"),
        ('v=?1, session="a"', "header.wrong_type"),
        ('v=(1), session="a"', "header.wrong_type"),
        ('v=1;x=2, session="a"', "header.wrong_type"),
        # session form
        ("v=1, session=abc", "header.wrong_type"),
        ("v=1, session=:YWJj:", "header.wrong_type"),
        ('v=1, session=""', "header.wrong_type"),
        ('v=1, session="a";exp=5', "header.wrong_type"),
        ('v=1, session="a", platform=ios', "header.unknown_member"),
        ('v=1, session="a", challenge="c"', "header.unknown_member"),
        # platform
        ("v=1", "header.missing_member"),
        ("v=1, platform=windows", "header.unknown_platform"),
        ("v=1, platform=IOS", "header.unknown_platform"),
        ('v=1, platform="ios"', "header.wrong_type"),
        ("v=1, platform", "header.wrong_type"),
        # ios members
        (f'v=1, platform=ios, challenge="{CHALLENGE}", assertion=:{ASSERTION_B64}:', "header.missing_member"),
        (f"v=1, platform=ios, key-id=:{KEY_B64}:, assertion=:{ASSERTION_B64}:", "header.missing_member"),
        (f'v=1, platform=ios, key-id=:{KEY_B64}:, challenge="{CHALLENGE}"', "header.missing_member"),
        (IOS + ', token="t"', "header.unknown_member"),
        (IOS + ", extra=1", "header.unknown_member"),
        (IOS.replace(f":{KEY_B64}:", f'"{KEY_B64}"'), "header.wrong_type"),
        (IOS.replace(f":{KEY_B64}:", ":AAAA:"), "header.wrong_type"),
        (IOS.replace(f":{KEY_B64}:", "::"), "header.wrong_type"),
        (IOS.replace(f":{ASSERTION_B64}:", "::"), "header.wrong_type"),
        (IOS.replace(f":{ASSERTION_B64}:", f'"{ASSERTION_B64}"'), "header.wrong_type"),
        (IOS.replace(f'"{CHALLENGE}"', "abc"), "header.wrong_type"),
        (IOS.replace(f'"{CHALLENGE}"', '"a b"'), "header.wrong_type"),
        (IOS.replace(f'"{CHALLENGE}"', '""'), "header.wrong_type"),
        (IOS.replace(f'"{CHALLENGE}"', '"' + "c" * 257 + '"'), "header.wrong_type"),
        (IOS.replace(f":{KEY_B64}:", f"(:{KEY_B64}:)"), "header.wrong_type"),
        (IOS.replace(f":{KEY_B64}:", f":{KEY_B64}:;a"), "header.wrong_type"),
        # android members
        ('v=1, platform=android, token="t"', "header.missing_member"),
        (f'v=1, platform=android, challenge="{CHALLENGE}"', "header.missing_member"),
        (ANDROID + f", key-id=:{KEY_B64}:", "header.unknown_member"),
        (ANDROID.replace('token="eyJhbGciOiJBMjU2S1cifQ.a.b.c.d"', "token=abc"), "header.wrong_type"),
        (ANDROID.replace('token="eyJhbGciOiJBMjU2S1cifQ.a.b.c.d"', 'token=""'), "header.wrong_type"),
        (ANDROID.replace('token="eyJhbGciOiJBMjU2S1cifQ.a.b.c.d"', "token=:YWJj:"), "header.wrong_type"),
    ],
)
def test_malformed(value: str | bytes | None, code: str) -> None:
    assert _code(value) == code


def test_size_is_capped_before_parsing() -> None:
    at_cap = 'v=1, session="' + "a" * (MAX_HEADER_BYTES - 15) + '"'
    assert len(at_cap) == MAX_HEADER_BYTES
    assert isinstance(parse_header(at_cap), SessionProof)
    over = 'v=1, session="' + "a" * (MAX_HEADER_BYTES - 14) + '"'
    assert _code(over) == "header.too_large"
    assert _code(over.encode()) == "header.too_large"
    # Not even parsed: garbage of that size is "too large", not "malformed".
    assert _code("(" * (MAX_HEADER_BYTES + 1)) == "header.too_large"


def test_non_text_value_is_a_caller_error() -> None:
    value: Any = 1
    with pytest.raises(InputError) as info:
        parse_header(value)
    assert info.value.code == "input.invalid_argument"


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    code = _outcome(data)
    assert code == "parsed" or code.startswith("header."), code


@given(st.text(max_size=300))
def test_arbitrary_text_never_escape_as_other_errors(text: str) -> None:
    code = _outcome(text)
    assert code == "parsed" or code.startswith("header."), code


@given(
    key_id=st.binary(min_size=32, max_size=32),
    challenge=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=256),
    assertion=st.binary(min_size=1, max_size=2000),
)
def test_ios_round_trip_property(key_id: bytes, challenge: str, assertion: bytes) -> None:
    proof = IosProof(key_id=key_id, challenge=challenge, assertion=assertion)
    assert parse_header(format_header(proof)) == proof


def test_two_header_lines_combined_are_refused() -> None:
    # What an HTTP layer hands over for two App-Integrity lines (RFC 9110 §5.3: joined with ", ").
    assert _code(IOS + ", " + SESSION) == "header.duplicate_member"
    assert _code(SESSION + ", " + SESSION) == "header.duplicate_member"
