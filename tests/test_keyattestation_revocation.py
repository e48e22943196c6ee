"""The attestation status list: parsing, pure lookups, and the fetcher against a local fake of Google's endpoint."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn

from app_integrity.android import AsyncRevocationListFetcher, RevocationList, RevocationListFetcher
from app_integrity.android.keyattestation.status_fetcher import StatusListCache
from app_integrity.errors import AppIntegrityError, UnavailableError
from tests.conftest import require_shared

SNAPSHOT = "vectors/android-key/data/attestation_status_snapshot_vvb2060.json"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# --- the list ---


def test_from_json_accepts_dict_text_and_bytes() -> None:
    data = {"entries": {"2c8cdddfd5e03bfc": {"status": "REVOKED", "reason": "KEY_COMPROMISE"}}}
    for value in (data, json.dumps(data), json.dumps(data).encode()):
        revocations = RevocationList.from_json(value)
        assert revocations.is_revoked(0x2C8CDDDFD5E03BFC)
        entry = revocations.status("2c8cdddfd5e03bfc")
        assert entry is not None
        assert entry.reason == "KEY_COMPROMISE"


def test_all_digit_serials_are_hex_never_decimal() -> None:
    revocations = RevocationList.from_json({"entries": {"10182630751496984110": {"status": "REVOKED"}}})
    assert revocations.is_revoked(int("10182630751496984110", 16))
    assert not revocations.is_revoked(10182630751496984110)
    assert revocations.is_revoked("10182630751496984110")


def test_serial_spellings_are_normalised() -> None:
    revocations = RevocationList.from_json({"entries": {"00ABcd": {"status": "revoked"}}})
    assert revocations.is_revoked(0xABCD)
    assert revocations.is_revoked("abcd")
    assert revocations.is_revoked("000ABCD")
    assert not revocations.is_revoked(0xABCE)


def test_suspended_is_refused_by_default() -> None:
    revocations = RevocationList.from_json({"entries": {"1": {"status": "SUSPENDED"}, "2": {"status": "UNKNOWN"}}})
    assert revocations.is_revoked(1)
    assert not revocations.is_revoked(1, include_suspended=False)
    assert not revocations.is_revoked(2)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not json", "input.malformed"),
        ("[]", "input.malformed"),
        ({"entries": []}, "input.malformed"),
        ({"entries": {"xyz": {"status": "REVOKED"}}}, "input.malformed"),
        ({"entries": {"ab": "REVOKED"}}, "input.malformed"),
        ({"entries": {"ab": {"reason": "KEY_COMPROMISE"}}}, "input.malformed"),
        ({"entries": {"ab": {"status": "REVOKED", "reason": 3}}}, "input.malformed"),
        (b" " * (17 * 1024 * 1024), "input.too_large"),
    ],
)
def test_malformed_lists_are_typed(data: Any, code: str) -> None:
    with pytest.raises(AppIntegrityError) as caught:
        RevocationList.from_json(data)
    assert caught.value.code == code


@pytest.mark.vectors
def test_real_snapshot() -> None:
    revocations = RevocationList.from_json(require_shared(SNAPSHOT).read_bytes())
    assert len(revocations) == 467
    assert revocations.is_revoked("10182630751496984110")
    assert revocations.is_revoked(0x10182630751496984110)


# --- the fetcher, against a local fake of android.googleapis.com/attestation/status ---


@dataclass
class FakeStatusServer:
    body: bytes
    etag: str = '"v1"'
    cache_control: str = "public, max-age=3600"
    failing: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""


def _status_app(state: FakeStatusServer) -> Any:
    """A minimal ASGI app speaking what android.googleapis.com/attestation/status speaks: GET, ETag, max-age."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        state.requests.append(headers)
        status, body = 200, state.body
        if state.failing:
            status, body = 503, b""
        elif scope["method"] != "GET" or scope["path"] != "/attestation/status":
            status, body = 404, b""
        elif headers.get("if-none-match") == state.etag:
            status, body = 304, b""
        response_headers = [(b"etag", state.etag.encode()), (b"cache-control", state.cache_control.encode())]
        if status == 200:
            response_headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture
def status_server() -> Iterator[FakeStatusServer]:
    state = FakeStatusServer(body=require_shared(SNAPSHOT).read_bytes())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_status_app(state), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    state.url = f"http://127.0.0.1:{port}/attestation/status"
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.vectors
def test_fetch_cache_revalidate_and_keep_the_last_good_copy(status_server: FakeStatusServer) -> None:
    fetcher = RevocationListFetcher(url=status_server.url, fail_mode="closed")
    first = fetcher.get(now=T0)
    assert first is not None
    assert len(first) == 467
    assert len(status_server.requests) == 1
    # Fresh for max-age: no request.
    assert fetcher.get(now=T0 + timedelta(minutes=30)) is first
    assert len(status_server.requests) == 1
    # Stale: revalidated with the ETag, 304 keeps the copy.
    assert fetcher.get(now=T0 + timedelta(hours=2)) is first
    assert len(status_server.requests) == 2
    assert status_server.requests[-1]["if-none-match"] == '"v1"'
    # Outage: the last good copy is used, and the next attempt waits a little.
    status_server.failing = True
    assert fetcher.get(now=T0 + timedelta(hours=4)) is first
    assert fetcher.get(now=T0 + timedelta(hours=4, minutes=1)) is first
    assert len(status_server.requests) == 3
    # Too old to trust any more: fail closed.
    with pytest.raises(UnavailableError) as caught:
        fetcher.get(now=T0 + timedelta(days=5))
    assert caught.value.code == "android.unavailable"
    # Back: a changed list replaces the copy.
    status_server.failing = False
    status_server.etag = '"v2"'
    status_server.body = b'{"entries": {"abc": {"status": "REVOKED"}}}'
    refreshed = fetcher.get(now=T0 + timedelta(days=5, minutes=10))
    assert refreshed is not None
    assert len(refreshed) == 1
    fetcher.close()


@pytest.mark.vectors
def test_refresh_at_least_daily(status_server: FakeStatusServer) -> None:
    status_server.cache_control = "max-age=604800"
    fetcher = RevocationListFetcher(url=status_server.url, fail_mode="open")
    fetcher.get(now=T0)
    fetcher.get(now=T0 + timedelta(hours=23))
    assert len(status_server.requests) == 1
    fetcher.get(now=T0 + timedelta(hours=25))
    assert len(status_server.requests) == 2
    fetcher.close()


@pytest.mark.vectors
def test_no_copy_and_no_server(status_server: FakeStatusServer) -> None:
    status_server.failing = True
    closed = RevocationListFetcher(url=status_server.url, fail_mode="closed")
    with pytest.raises(UnavailableError) as caught:
        closed.get(now=T0)
    assert caught.value.code == "android.unavailable"
    opened = RevocationListFetcher(url=status_server.url, fail_mode="open")
    assert opened.get(now=T0) is None
    unreachable = RevocationListFetcher(url="http://127.0.0.1:9/attestation/status", fail_mode="open", timeout=2)
    assert unreachable.get(now=T0) is None
    for fetcher in (closed, opened, unreachable):
        fetcher.close()


@pytest.mark.vectors
def test_a_broken_body_is_an_outage_not_a_list(status_server: FakeStatusServer) -> None:
    status_server.body = b"<html>maintenance</html>"
    fetcher = RevocationListFetcher(url=status_server.url, fail_mode="closed")
    with pytest.raises(UnavailableError):
        fetcher.get(now=T0)
    fetcher.close()


@pytest.mark.vectors
async def test_async_fetcher(status_server: FakeStatusServer) -> None:
    async with httpx.AsyncClient() as client:
        fetcher = AsyncRevocationListFetcher(url=status_server.url, fail_mode="closed", client=client)
        revocations = await fetcher.get(now=T0)
        assert revocations is not None
        assert len(revocations) == 467
        assert await fetcher.get(now=T0 + timedelta(minutes=5)) is revocations
        assert len(status_server.requests) == 1


def test_cache_configuration_is_checked() -> None:
    unknown_mode: Any = "maybe"
    with pytest.raises(AppIntegrityError):
        StatusListCache(fail_mode=unknown_mode)
    with pytest.raises(AppIntegrityError):
        StatusListCache(fail_mode="open", max_age=timedelta(days=2))


@pytest.mark.vectors
def test_an_oversized_body_is_refused_while_reading(status_server: FakeStatusServer) -> None:
    status_server.body = b" " * (17 * 1024 * 1024)
    fetcher = RevocationListFetcher(url=status_server.url, fail_mode="open")
    assert fetcher.get(now=T0) is None
    fetcher.close()
