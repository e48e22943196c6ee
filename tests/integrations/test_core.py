"""The shared core: the request target as sent (ASGI and WSGI), header lines joined, decisions to refusals, and
the integration options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app_integrity.errors import ConfigError
from app_integrity.integrations.core import (
    IntegrationConfig,
    asgi_target,
    decision_from_json,
    join_header_lines,
    refusal_for,
    wsgi_target,
)
from app_integrity.policy import Decision, Outcome, Platform, Tier


def test_asgi_target_is_the_raw_path_and_query() -> None:
    scope = {"path": "/a b/ü", "raw_path": b"/a%20b/%C3%BC", "query_string": b"x=1&y=%2F"}
    assert asgi_target(scope) == "/a%20b/%C3%BC?x=1&y=%2F"
    assert asgi_target({"path": "/plain", "raw_path": b"/plain", "query_string": b""}) == "/plain"


def test_asgi_target_without_raw_path_reencodes_the_path() -> None:
    assert asgi_target({"path": "/a b", "query_string": b""}) == "/a%20b"


def test_wsgi_target_prefers_the_raw_uri() -> None:
    environ = {"RAW_URI": "/a%2Fb?q=%20", "PATH_INFO": "/a/b", "QUERY_STRING": "q=%20"}
    assert wsgi_target(environ) == "/a%2Fb?q=%20"
    assert wsgi_target({"REQUEST_URI": "/x?y", "PATH_INFO": "/x"}) == "/x?y"


def test_wsgi_target_from_path_info_reencodes_canonically() -> None:
    # PEP 3333: PATH_INFO holds the decoded bytes as latin-1 characters.
    path_info = "/café".encode().decode("latin-1")
    environ = {"SCRIPT_NAME": "/app", "PATH_INFO": path_info, "QUERY_STRING": "a=1"}
    assert wsgi_target(environ) == "/app/caf%C3%A9?a=1"
    assert wsgi_target({"PATH_INFO": "", "QUERY_STRING": ""}) == "/"


def test_header_lines_are_joined() -> None:
    assert join_header_lines([]) is None
    assert join_header_lines(["v=1, platform=ios", "v=1"]) == "v=1, platform=ios, v=1"


def _decision(outcome: Outcome, *, enforced: bool, reasons: tuple[str, ...] = ()) -> Decision:
    return Decision(outcome, Tier.NONE, reasons, Platform.ANDROID, None, enforced)


def test_only_an_enforced_block_is_refused() -> None:
    refusal = refusal_for(_decision(Outcome.BLOCK, enforced=True, reasons=("play.app_unrecognized", "x.y")))
    assert refusal is not None
    assert refusal.status == 403
    assert refusal.content_type == "application/problem+json"
    body = json.loads(refusal.body)
    assert body["code"] == "play.app_unrecognized"
    assert body["type"] == "urn:app-integrity:error:play.app_unrecognized"
    assert refusal_for(_decision(Outcome.BLOCK, enforced=False)) is None
    assert refusal_for(_decision(Outcome.LIMIT, enforced=True)) is None


def test_decisions_round_trip_through_the_verify_body() -> None:
    decision = Decision(Outcome.LIMIT, Tier.BASIC, ("policy.below_allow",), Platform.IOS, b"\x01" * 32, True)
    assert decision_from_json(decision.to_json()) == decision


def test_options_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="either url"):
        IntegrationConfig.build(url="http://x", config=tmp_path / "a.toml")
    with pytest.raises(ConfigError, match="prefix"):
        IntegrationConfig.build(emulated=True, prefix="integrity")
    with pytest.raises(ConfigError, match="unknown key"):
        IntegrationConfig.from_mapping({"url": "http://x", "prefixx": "/a"})
    remote = IntegrationConfig.from_mapping({"url": "http://x", "token": "t"})
    assert (remote.url, remote.token, remote.settings) == ("http://x", "t", None)
