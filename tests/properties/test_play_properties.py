"""Play Integrity parsers and verifiers under generated input: compact JWE / JWS framing, headers of any JSON,
verdict payloads of any shape, Google's answers of any body, and genuine tokens with characters changed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from app_integrity.android import AndroidApp, LocalKeyDecoder, evaluate_verdict, parse_verdict
from app_integrity.android.play.google import GoogleApiDecoder
from app_integrity.android.play.jose import decrypt_jwe, verify_jws
from app_integrity.errors import AppIntegrityError
from app_integrity.testing.android.play import PROFILES, EmulatedPlayIntegrity
from tests.attacks.test_play import jwe, jws
from tests.properties.typed import outcome

PACKAGE = "com.example.app"
NOW = datetime.now(UTC)
PLAY = EmulatedPlayIntegrity()
OURS = PLAY.register_app(PACKAGE)
DECODER = LocalKeyDecoder(decryption_key=OURS.decryption_key, verification_key=OURS.verification_key)
APP = AndroidApp(PACKAGE, [OURS.certificate_sha256])
TOKEN = PLAY.mint_classic(PACKAGE, nonce="bm9uY2UtMDEyMzQ1Njc4OQ", profile=PROFILES["genuine"], now=NOW)
PAYLOAD = PLAY.payload(PACKAGE, PROFILES["strong"], request_hash="h" * 43, now=NOW)
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=24),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=24), children, max_size=5),
    max_leaves=20,
)


def _decode(token: str | bytes) -> object:
    return DECODER.decode_sync(token, package_name=PACKAGE)


@st.composite
def mutated_token(draw: st.DrawFn) -> str:
    text = list(TOKEN)
    position = draw(st.integers(0, len(text) - 1))
    edit = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
    character = draw(st.sampled_from(BASE64URL + ".=+/ "))
    if edit == "replace":
        text[position] = character
    elif edit == "insert":
        text.insert(position, character)
    elif edit == "delete":
        del text[position]
    else:
        del text[position:]
    return "".join(text)


@st.composite
def verdict_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """The genuine payload with some members replaced by any JSON value (wrong types, missing, nested)."""
    payload: dict[str, Any] = json.loads(json.dumps(PAYLOAD))
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(sorted(payload)))
        value = payload[section]
        if isinstance(value, dict) and value and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(value)))
            value[key] = draw(json_values)
        elif draw(st.booleans()):
            payload[section] = draw(json_values)
        else:
            del payload[section]
            if not payload:
                break
    return payload


def test_unmutated_token_decodes() -> None:
    assert outcome(lambda: _decode(TOKEN)) is None


@given(mutated_token())
def test_mutated_token(token: str) -> None:
    outcome(lambda: _decode(token))


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_arbitrary_text(token: str | bytes) -> None:
    outcome(lambda: _decode(token))
    outcome(lambda: decrypt_jwe(token, OURS.decryption_key_bytes))
    outcome(lambda: verify_jws(token, OURS.signing_key.public_key()))


@given(st.lists(st.text(alphabet=BASE64URL, max_size=60), min_size=1, max_size=7))
def test_compact_shapes(parts: list[str]) -> None:
    token = ".".join(parts)
    outcome(lambda: _decode(token))
    outcome(lambda: verify_jws(token, OURS.signing_key.public_key()))


@given(st.dictionaries(st.sampled_from(["alg", "enc", "zip", "kid", "crit", "jwk", "typ"]), json_values, max_size=4))
def test_any_jwe_header(header: dict[str, Any]) -> None:
    outcome(lambda: _decode(jwe(jws(json.dumps(PAYLOAD).encode()), header=header)))


@given(st.dictionaries(st.sampled_from(["alg", "kid", "crit", "jwk", "b64", "typ"]), json_values, max_size=4))
def test_any_jws_header(header: dict[str, Any]) -> None:
    outcome(lambda: _decode(jwe(jws(json.dumps(PAYLOAD).encode(), header=header))))


@given(json_values)
def test_any_signed_payload(value: object) -> None:
    # Genuinely encrypted and signed, so the payload parser is what is exercised.
    outcome(lambda: _decode(jwe(jws(json.dumps(value).encode()))))


@given(verdict_shaped())
def test_verdict_shaped_payloads(payload: dict[str, Any]) -> None:
    if outcome(lambda: parse_verdict(payload)) is None:
        verdict = parse_verdict(payload)
        outcome(lambda: evaluate_verdict(verdict, app=APP, request_hash="h" * 43, now=NOW))


@given(st.binary(max_size=400) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_answer_from_google(body: bytes) -> None:
    # Google's answer may be anything: a verdict, a typed refusal, or google.unavailable; never another error.
    response = httpx.Response(200, content=body)
    code = outcome(lambda: GoogleApiDecoder._verdict(response), allowed=AppIntegrityError)
    assert code is None or code == "google.unavailable" or not code.endswith(".unavailable")
