"""The request binding, the ``App-Integrity`` header (structured members), session tokens, key attestation
status lists and the TOML configuration under generated input."""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from app_integrity.binding import binding_from_body_sha256, build_binding, check_challenge
from app_integrity.config import parse_config
from app_integrity.header import parse_header
from app_integrity.sessions import SessionKeyring, new_session_key
from tests.properties.typed import config_outcome, outcome

NOW = datetime.now(UTC)
KEYRING = SessionKeyring([new_session_key(NOW - timedelta(minutes=1), lifetime=timedelta(days=1))], issuer="test")
MEMBERS = ["v", "platform", "key-id", "challenge", "assertion", "token", "session", "x"]
printable = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=60)


@given(printable, printable, printable, st.binary(max_size=64))
def test_binding(challenge: str, method: str, path: str, body: bytes) -> None:
    outcome(lambda: build_binding(challenge, method, path, body))
    outcome(lambda: check_challenge(challenge))


@given(printable, st.text(max_size=50))
def test_binding_from_a_body_hash(path: str, body_hash: str) -> None:
    outcome(lambda: binding_from_body_sha256("c", "POST", path, body_hash))


def _item(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "decimal", "string", "token", "bytes", "bool", "list", "raw"]))
    if kind == "int":
        return str(draw(st.integers(-(10**16), 10**16)))
    if kind == "decimal":
        return f"{draw(st.integers(-999, 999))}.{draw(st.integers(0, 999))}"
    if kind == "string":
        return '"' + draw(st.text(alphabet=string.ascii_letters + string.digits + ' -_.\\"', max_size=40)) + '"'
    if kind == "token":
        return draw(st.sampled_from(["ios", "android", "web", "*x", "a:b/c"]))
    if kind == "bytes":
        return ":" + base64.b64encode(draw(st.binary(max_size=48))).decode() + ":"
    if kind == "bool":
        return draw(st.sampled_from(["?0", "?1"]))
    if kind == "list":
        return "(" + " ".join(draw(st.lists(st.sampled_from(['"a"', "1", "?1", ":AA==:"]), max_size=3))) + ")"
    return draw(st.text(alphabet=string.printable, max_size=12))


@st.composite
def dictionaries(draw: st.DrawFn) -> str:
    members = []
    for _ in range(draw(st.integers(0, 7))):
        name = draw(st.sampled_from(MEMBERS))
        params = draw(st.sampled_from(["", ";a=1", ";alg=none"]))
        members.append(name if draw(st.integers(0, 9)) == 0 else f"{name}={_item(draw)}{params}")
    return draw(st.sampled_from([", ", ",", " ,  "])).join(members)


@given(dictionaries())
def test_structured_headers(value: str) -> None:
    outcome(lambda: parse_header(value))


@given(st.lists(st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=80), min_size=1, max_size=5))
def test_session_shaped_tokens(parts: list[str]) -> None:
    outcome(lambda: KEYRING.verify(".".join(parts), NOW))


SECTIONS = {
    "server": ["data_dir", "admin_token_env", "max_body_bytes", "verify_token_env", "unknown"],
    "storage": ["url", "redis_url"],
    "challenges": ["ttl_seconds"],
    "apple": ["team_id", "bundle_ids", "allow_development", "trust_roots"],
    "android": ["package_name", "certificate_sha256", "decoder", "google_endpoint", "service_account_file"],
    "sessions": ["ttl_seconds", "single_use"],
    "policy.default": ["mode", "allow", "limit", "require", "on_unavailable"],
    "policy.actions.redeem": ["mode", "allow", "limit", "require"],
}
toml_values = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.booleans().map(lambda b: str(b).lower()),
    st.sampled_from(
        ['"observe"', '"enforce"', '"strong"', '"device"', '"basic"', '"none"', '"block"', '"limit"', '"google"']
    ),
    st.text(alphabet=string.ascii_letters + string.digits + ":/._- ", max_size=30).map(lambda t: f'"{t}"'),
    st.lists(st.sampled_from(['"app"', '"licensing"', '"x"', "1", '"com.example.app"']), max_size=3).map(
        lambda items: "[" + ", ".join(items) + "]"
    ),
    st.sampled_from(['{ios = "strong", android = "device"}', '{ios = "bogus"}', "{}"]),
)


@st.composite
def configurations(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), unique=True, max_size=5)):
        lines.append(f"[{section}]")
        for key in draw(st.lists(st.sampled_from(SECTIONS[section]), unique=True, max_size=4)):
            lines.append(f"{key} = {draw(toml_values)}")
    return "\n".join(lines)


@given(configurations())
def test_structured_configuration(text: str) -> None:
    config_outcome(lambda: parse_config(text, base_dir=Path("/nonexistent-config-dir"), environ={}))


@given(st.text(max_size=200))
def test_arbitrary_configuration_text(text: str) -> None:
    config_outcome(lambda: parse_config(text, base_dir=Path("/nonexistent-config-dir"), environ={}))
