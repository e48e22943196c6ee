"""GoogleApiDecoder against the fake Google API: OAuth service-account flow, decode, faults, retries."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from app_integrity.android import GoogleApiDecoder, evaluate_verdict
from app_integrity.errors import ConfigError, InputError, PlayIntegrityError, UnavailableError
from app_integrity.testing.android.fake_google import FakeGoogleApi, FakeGoogleServer, write_service_account_file
from app_integrity.testing.android.play import PROFILES, EmulatedApp, EmulatedPlayIntegrity

PACKAGE = "com.example.app"


def _token(play: EmulatedPlayIntegrity, request_hash: str = "hash-1", package: str = PACKAGE) -> str:
    return play.mint_standard(package, request_hash=request_hash, profile=PROFILES["strong"])


def _decoder(path: Path, server: FakeGoogleServer, **options: float) -> GoogleApiDecoder:
    options.setdefault("backoff", 0.01)
    return GoogleApiDecoder.from_service_account_file(path, endpoint=server.url, **options)


async def test_service_account_flow_end_to_end(
    play: EmulatedPlayIntegrity,
    emulated_app: EmulatedApp,
    fake_api: FakeGoogleApi,
    fake_server: FakeGoogleServer,
    service_account_file: Path,
) -> None:
    before = fake_api.token_requests
    async with _decoder(service_account_file, fake_server) as decoder:
        first = await decoder.decode(_token(play), package_name=PACKAGE)
        second = await decoder.decode(_token(play, "hash-2"), package_name=PACKAGE)
    # One signed JWT assertion exchanged for an access token, then cached.
    assert fake_api.token_requests == before + 1
    assert evaluate_verdict(first, app=emulated_app.android_app(), request_hash="hash-1").tier == "strong"
    assert evaluate_verdict(second, app=emulated_app.android_app(), request_hash="hash-2").tier == "strong"


async def test_concurrent_requests_share_one_refresh(
    play: EmulatedPlayIntegrity, fake_api: FakeGoogleApi, fake_server: FakeGoogleServer, service_account_file: Path
) -> None:
    before = fake_api.token_requests
    async with _decoder(service_account_file, fake_server) as decoder:
        tokens = [_token(play, f"hash-{i}") for i in range(20)]
        verdicts = await asyncio.gather(*(decoder.decode(t, package_name=PACKAGE) for t in tokens))
    assert [v.request_details.request_hash for v in verdicts] == [f"hash-{i}" for i in range(20)]
    assert fake_api.token_requests == before + 1


async def test_unregistered_service_account_is_unavailable(
    play: EmulatedPlayIntegrity, fake_server: FakeGoogleServer, tmp_path: Path
) -> None:
    # A key the fake never saw: the assertion's signature cannot verify, the grant is refused.
    stranger = FakeGoogleApi(EmulatedPlayIntegrity())
    path = write_service_account_file(tmp_path / "sa.json", api=stranger, token_uri=fake_server.token_uri)
    async with _decoder(path, fake_server) as decoder:
        with pytest.raises(UnavailableError) as caught:
            await decoder.decode(_token(play), package_name=PACKAGE)
    assert caught.value.code == "google.unavailable"


async def test_forged_assertion_signature_refused(
    play: EmulatedPlayIntegrity, fake_api: FakeGoogleApi, fake_server: FakeGoogleServer, tmp_path: Path
) -> None:
    # Same email as a registered account, different private key.
    registered = write_service_account_file(
        tmp_path / "real.json",
        api=fake_api,
        token_uri=fake_server.token_uri,
        email="forged@example.iam.gserviceaccount.com",
    )
    email = json.loads(registered.read_text())["client_email"]
    forged = write_service_account_file(
        tmp_path / "forged.json", api=FakeGoogleApi(play), token_uri=fake_server.token_uri, email=email
    )
    async with _decoder(forged, fake_server) as decoder:
        with pytest.raises(UnavailableError):
            await decoder.decode(_token(play), package_name=PACKAGE)


async def test_redecode_returns_cleared_verdict(
    play: EmulatedPlayIntegrity, emulated_app: EmulatedApp, fake_server: FakeGoogleServer, service_account_file: Path
) -> None:
    token = _token(play, "hash-replayed")
    async with _decoder(service_account_file, fake_server) as decoder:
        first = await decoder.decode(token, package_name=PACKAGE)
        again = await decoder.decode(token, package_name=PACKAGE)
    app = emulated_app.android_app()
    assert evaluate_verdict(first, app=app, request_hash="hash-replayed").tier == "strong"
    replayed = evaluate_verdict(again, app=app, request_hash="hash-replayed")
    assert replayed.tier == "none"
    assert "play.no_device_integrity" in replayed.failed


async def test_token_of_another_app_is_rejected(
    play: EmulatedPlayIntegrity, fake_server: FakeGoogleServer, service_account_file: Path
) -> None:
    other = _token(play, package="com.example.other")
    async with _decoder(service_account_file, fake_server) as decoder:
        with pytest.raises(PlayIntegrityError) as caught:
            await decoder.decode(other, package_name=PACKAGE)
    assert caught.value.code == "play.token_rejected"
    assert "403" in caught.value.message


async def test_garbage_token_is_rejected(fake_server: FakeGoogleServer, service_account_file: Path) -> None:
    async with _decoder(service_account_file, fake_server) as decoder:
        with pytest.raises(PlayIntegrityError) as caught:
            await decoder.decode("eyJhbGciOi.not.a.token", package_name=PACKAGE)
    assert caught.value.code == "play.token_rejected"
    assert "400" in caught.value.message


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_transient_faults_are_retried(
    play: EmulatedPlayIntegrity,
    fake_api: FakeGoogleApi,
    fake_server: FakeGoogleServer,
    service_account_file: Path,
    status: int,
) -> None:
    fake_api.fail_next(status, times=2)
    before = fake_api.decode_requests
    async with _decoder(service_account_file, fake_server) as decoder:
        verdict = await decoder.decode(_token(play, f"retry-{status}"), package_name=PACKAGE)
    assert verdict.request_details.request_hash == f"retry-{status}"
    assert fake_api.decode_requests == before + 3


async def test_persistent_faults_are_unavailable(
    play: EmulatedPlayIntegrity, fake_api: FakeGoogleApi, fake_server: FakeGoogleServer, service_account_file: Path
) -> None:
    fake_api.fail_next(500, times=3)
    before = fake_api.decode_requests
    async with _decoder(service_account_file, fake_server) as decoder:
        with pytest.raises(UnavailableError) as caught:
            await decoder.decode(_token(play), package_name=PACKAGE)
    assert caught.value.code == "google.unavailable"
    assert "HTTP 500" in caught.value.message
    assert fake_api.decode_requests == before + 3  # bounded: max_attempts


async def test_slow_google_hits_the_deadline(
    play: EmulatedPlayIntegrity, fake_api: FakeGoogleApi, fake_server: FakeGoogleServer, service_account_file: Path
) -> None:
    async with _decoder(service_account_file, fake_server, timeout=2.0) as decoder:
        await decoder.decode(_token(play, "warm-up"), package_name=PACKAGE)  # access token fetched
        fake_api.latency = 5.0
        started = asyncio.get_running_loop().time()
        with pytest.raises(UnavailableError) as caught:
            await decoder.decode(_token(play), package_name=PACKAGE)
        elapsed = asyncio.get_running_loop().time() - started
    assert caught.value.code == "google.unavailable"
    assert "timeout" in caught.value.message
    assert elapsed < 4.0


async def test_revoked_access_token_is_refreshed(
    play: EmulatedPlayIntegrity, fake_api: FakeGoogleApi, fake_server: FakeGoogleServer, service_account_file: Path
) -> None:
    async with _decoder(service_account_file, fake_server) as decoder:
        await decoder.decode(_token(play, "before"), package_name=PACKAGE)
        fake_api.revoke_access_tokens()
        before = fake_api.token_requests
        verdict = await decoder.decode(_token(play, "after"), package_name=PACKAGE)
    assert verdict.request_details.request_hash == "after"
    assert fake_api.token_requests == before + 1


async def test_google_unreachable(play: EmulatedPlayIntegrity, service_account_file: Path) -> None:
    decoder = GoogleApiDecoder.from_service_account_file(
        service_account_file, endpoint="http://127.0.0.1:9", backoff=0.01
    )
    async with decoder:
        with pytest.raises(UnavailableError) as caught:
            await decoder.decode(_token(play), package_name=PACKAGE)
    assert caught.value.code == "google.unavailable"


async def test_input_checked_before_any_call(fake_server: FakeGoogleServer, service_account_file: Path) -> None:
    async with _decoder(service_account_file, fake_server) as decoder:
        with pytest.raises(InputError) as too_large:
            await decoder.decode("x" * 40_000, package_name=PACKAGE)
        assert too_large.value.code == "input.too_large"
        with pytest.raises(InputError) as bad_package:
            await decoder.decode("abc", package_name="../admin")
        assert bad_package.value.code == "input.invalid_argument"
        with pytest.raises(PlayIntegrityError) as empty:
            await decoder.decode("", package_name=PACKAGE)
        assert empty.value.code == "play.token_malformed"


async def test_token_never_logged(
    play: EmulatedPlayIntegrity,
    fake_api: FakeGoogleApi,
    fake_server: FakeGoogleServer,
    service_account_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = _token(play, "logged?")
    caplog.set_level(logging.DEBUG)
    fake_api.fail_next(503)
    async with _decoder(service_account_file, fake_server) as decoder:
        await decoder.decode(token, package_name=PACKAGE)
        with pytest.raises(PlayIntegrityError) as caught:
            await decoder.decode(token[:-4] + "AAAA", package_name=PACKAGE)
    assert token[40:80] not in caplog.text
    assert token[40:80] not in str(caught.value)


def test_missing_service_account_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        GoogleApiDecoder.from_service_account_file(tmp_path / "absent.json")


def test_environment_credentials(
    service_account_file: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeGoogleServer
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_file))
    decoder = GoogleApiDecoder.from_environment(endpoint=fake_server.url)
    asyncio.run(decoder.aclose())
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials.json")
    with pytest.raises(ConfigError):
        GoogleApiDecoder.from_environment()


async def test_slow_refresh_outlives_a_deadline_and_is_not_repeated(
    play: EmulatedPlayIntegrity, fake_api: FakeGoogleApi, fake_server: FakeGoogleServer, service_account_file: Path
) -> None:
    fake_api.token_latency = 0.6
    before = fake_api.token_requests
    async with _decoder(service_account_file, fake_server, timeout=0.3) as decoder:
        with pytest.raises(UnavailableError) as caught:
            await decoder.decode(_token(play, "early"), package_name=PACKAGE)
        assert caught.value.code == "google.unavailable"
        await asyncio.sleep(0.6)  # the refresh started by the first call finishes meanwhile
        verdict = await decoder.decode(_token(play, "later"), package_name=PACKAGE)
    assert verdict.request_details.request_hash == "later"
    assert fake_api.token_requests == before + 1
