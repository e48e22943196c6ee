"""Attacks on the ``App-Integrity`` header and the binding: injection, smuggling a second proof, duplicates."""

from __future__ import annotations

import base64

import pytest

from app_integrity.binding import binding_from_body_sha256, build_binding
from app_integrity.header import parse_header
from tests.attacks.corpus import Attack, ids, refused

PLATFORM = "header"
KEY = ":" + base64.b64encode(b"\x01" * 32).decode() + ":"
ASSERTION = ":" + base64.b64encode(b"\xa2assertion").decode() + ":"
IOS = f'v=1, platform=ios, key-id={KEY}, challenge="c-123", assertion={ASSERTION}'
ANDROID = 'v=1, platform=android, challenge="c-123", token="eyJhbGciOiJBMjU2S1cifQ.a.b.c.d"'


def parse(value: str | bytes) -> object:
    return parse_header(value)


HEADERS: list[Attack] = [
    Attack("CR LF injecting a second header line", PLATFORM, "header.malformed", lambda: parse(IOS + "\r\nX-Admin: 1")),
    Attack("LF injecting a second header line", PLATFORM, "header.malformed", lambda: parse(IOS + "\nX-Admin: 1")),
    Attack("NUL byte after the proof", PLATFORM, "header.malformed", lambda: parse(IOS + "\x00")),
    Attack("CR LF inside the challenge", PLATFORM, "header.malformed", lambda: parse(IOS.replace("c-123", "c\r\n123"))),
    Attack(
        "binding line break smuggled in an escaped challenge",
        PLATFORM,
        "header.malformed",
        lambda: parse(IOS.replace("c-123", "c\\nPOST")),
    ),
    Attack("non-ASCII challenge", PLATFORM, "header.malformed", lambda: parse(IOS.replace("c-123", "c-\u0131"))),
    Attack(
        "second header line combined: duplicate challenge",
        PLATFORM,
        "header.duplicate_member",
        lambda: parse(IOS + ', challenge="attacker-challenge"'),
    ),
    Attack("duplicate v", PLATFORM, "header.duplicate_member", lambda: parse(IOS + ", v=1")),
    Attack(
        "iOS proof smuggling an Android token",
        PLATFORM,
        "header.unknown_member",
        lambda: parse(IOS + ', token="eyJ.a.b.c.d"'),
    ),
    Attack(
        "Android proof smuggling an assertion",
        PLATFORM,
        "header.unknown_member",
        lambda: parse(ANDROID + f", assertion={ASSERTION}"),
    ),
    Attack(
        "session smuggled beside a platform proof",
        PLATFORM,
        "header.unknown_member",
        lambda: parse(ANDROID + ', session="eyJ.a.b"'),
    ),
    Attack(
        "a second dictionary after a semicolon",
        PLATFORM,
        "header.duplicate_member",
        lambda: parse(IOS + "; " + ANDROID),
    ),
    Attack(
        "proofs as an inner list",
        PLATFORM,
        "header.wrong_type",
        lambda: parse(f'v=1, platform=ios, key-id={KEY}, challenge=("a" "b"), assertion={ASSERTION}'),
    ),
    Attack("parameters on the assertion", PLATFORM, "header.wrong_type", lambda: parse(IOS + ";alg=none")),
    Attack("key id that is not 32 bytes", PLATFORM, "header.wrong_type", lambda: parse(IOS.replace(KEY, ":AAAA:"))),
    Attack("key id as a string", PLATFORM, "header.wrong_type", lambda: parse(IOS.replace(KEY, '"' + KEY[1:-1] + '"'))),
    Attack("assertion as a token", PLATFORM, "header.wrong_type", lambda: parse(IOS.replace(ASSERTION, "abc"))),
    Attack(
        "platform as a string",
        PLATFORM,
        "header.wrong_type",
        lambda: parse(IOS.replace("platform=ios", 'platform="ios"')),
    ),
    Attack(
        "unknown platform",
        PLATFORM,
        "header.unknown_platform",
        lambda: parse(IOS.replace("platform=ios", "platform=web")),
    ),
    Attack("version 2", PLATFORM, "header.unsupported_version", lambda: parse(IOS.replace("v=1", "v=2"))),
    Attack("version as a decimal", PLATFORM, "header.wrong_type", lambda: parse(IOS.replace("v=1", "v=1.0"))),
    Attack("no platform", PLATFORM, "header.missing_member", lambda: parse('v=1, challenge="c"')),
    Attack(
        "empty token",
        PLATFORM,
        "header.wrong_type",
        lambda: parse(ANDROID.replace('token="eyJhbGciOiJBMjU2S1cifQ.a.b.c.d"', 'token=""')),
    ),
    Attack("oversized header", PLATFORM, "header.too_large", lambda: parse(ANDROID.replace("a.b.c.d", "a" * 9000))),
    Attack("oversized header as bytes", PLATFORM, "header.too_large", lambda: parse(IOS.encode() + b" " * 9000)),
    Attack("whitespace only", PLATFORM, "header.missing", lambda: parse(" \t ")),
]

BINDINGS: list[Attack] = [
    Attack(
        "challenge carrying a binding line",
        "binding",
        "input.malformed",
        lambda: build_binding("c\nGET", "POST", "/api", b""),
    ),
    Attack(
        "method with a line break", "binding", "input.malformed", lambda: build_binding("c", "POST\n/x", "/api", b"")
    ),
    Attack("path with a line break", "binding", "input.malformed", lambda: build_binding("c", "POST", "/api\n", b"")),
    Attack(
        "body hash of the wrong length",
        "binding",
        "input.malformed",
        lambda: binding_from_body_sha256("c", "POST", "/api", "AAAA"),
    ),
]


@pytest.mark.parametrize("attack", HEADERS + BINDINGS, ids=ids(HEADERS + BINDINGS))
def test_attack_is_refused(attack: Attack) -> None:
    refused(attack)


def test_well_formed_headers_parse() -> None:
    assert parse(IOS) is not None
    assert parse(ANDROID) is not None
