"""Every device profile, through both decoders and evaluate_verdict, with its expected tier and failed checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from app_integrity.android import GoogleApiDecoder, LocalKeyDecoder, evaluate_verdict
from app_integrity.errors import PlayIntegrityError
from app_integrity.testing.android.fake_google import FakeGoogleServer
from app_integrity.testing.android.play import PROFILES, EmulatedAndroidDevice, EmulatedApp, EmulatedPlayIntegrity

EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "genuine": ("device", ()),
    "strong": ("strong", ()),
    "strong_android12": ("device", ()),
    "emulator": (
        "none",
        (
            "play.no_device_integrity",
            "play.app_unrecognized",
            "play.app_package_mismatch",
            "play.certificate_mismatch",
            "play.unlicensed",
        ),
    ),
    "rooted": ("basic", ()),
    "sideloaded": ("device", ("play.app_unrecognized", "play.certificate_mismatch")),
    "unlicensed": ("device", ("play.unlicensed",)),
    "play_protect_off": ("device", ("play.play_protect_off",)),
    "play_protect_high_risk": ("device", ("play.play_protect_risk",)),
    "risky_apps": ("device", ("play.risky_apps_detected",)),
    "token_farm": ("device", ("play.device_activity_high",)),
    "testing": ("device", ()),
}
NONCE = "R2VuZXJhdGVkIG5vbmNlIGZvciB0aGlzIHJlcXVlc3Q"
PACKAGE = "com.example.app"
REQUEST_HASH = "3q2-7wVMaCPeR8t3G4Tb4ZbfJ1T9Pde1SDg7Ri1iNGE"


def test_every_profile_has_an_expectation() -> None:
    assert set(EXPECTED) == set(PROFILES)


@pytest.mark.parametrize("name", sorted(PROFILES))
async def test_profile_through_local_decoder(name: str, play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    device = EmulatedAndroidDevice(play, PACKAGE, profile=name)
    token = device.request_classic_integrity_token(NONCE)
    decoder = LocalKeyDecoder(
        decryption_key=emulated_app.decryption_key, verification_key=emulated_app.verification_key
    )
    verdict = await decoder.decode(token, package_name=PACKAGE)
    app = emulated_app.android_app(allow_testing_responses=name == "testing")
    result = evaluate_verdict(verdict, app=app, nonce=NONCE)
    assert (result.tier, result.failed) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(PROFILES))
async def test_profile_through_google(
    name: str,
    play: EmulatedPlayIntegrity,
    emulated_app: EmulatedApp,
    fake_server: FakeGoogleServer,
    service_account_file: Path,
) -> None:
    device = EmulatedAndroidDevice(play, PACKAGE, profile=name)
    device.prepare_integrity_token_provider("123456789012")
    token = device.request_integrity_check(REQUEST_HASH)
    async with GoogleApiDecoder.from_service_account_file(service_account_file, endpoint=fake_server.url) as decoder:
        verdict = await decoder.decode(token, package_name=PACKAGE)
    app = emulated_app.android_app(allow_testing_responses=name == "testing")
    result = evaluate_verdict(verdict, app=app, request_hash=REQUEST_HASH)
    assert (result.tier, result.failed) == EXPECTED[name]


async def test_testing_response_refused_by_default(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    token = EmulatedAndroidDevice(play, PACKAGE, profile="testing").request_classic_integrity_token(NONCE)
    decoder = LocalKeyDecoder(
        decryption_key=emulated_app.decryption_key, verification_key=emulated_app.verification_key
    )
    verdict = await decoder.decode(token, package_name=PACKAGE)
    with pytest.raises(PlayIntegrityError) as caught:
        evaluate_verdict(verdict, app=emulated_app.android_app(), nonce=NONCE)
    assert caught.value.code == "play.testing_response"


def test_signals_of_strong_profile(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    token = EmulatedAndroidDevice(play, PACKAGE, profile="strong").request_classic_integrity_token(NONCE)
    decoder = LocalKeyDecoder(
        decryption_key=emulated_app.decryption_key, verification_key=emulated_app.verification_key
    )
    result = evaluate_verdict(
        decoder.decode_sync(token, package_name=PACKAGE), app=emulated_app.android_app(), nonce=NONCE
    )
    signals = result.signals
    assert signals.app_recognized
    assert signals.licensed
    assert signals.play_protect_ok
    assert signals.device_recall == (False, False, False)
    assert signals.sdk_version == 34
    assert signals.version_code == 42
    assert signals.apps_detected == ("KNOWN_INSTALLED",)
    assert not signals.risky_apps
    assert not signals.testing
