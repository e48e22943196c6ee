"""evaluate_verdict: request binding (raises) and the graded checks (tier, failed, signals)."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app_integrity.android import AndroidApp, evaluate_verdict, parse_verdict
from app_integrity.errors import InputError, PlayIntegrityError
from app_integrity.testing.android.play import PROFILES, EmulatedApp, EmulatedPlayIntegrity, cleared

PACKAGE = "com.example.app"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NONCE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  # 32 bytes, unpadded


def _payload(play: EmulatedPlayIntegrity, profile: str = "genuine", **request: Any) -> dict[str, Any]:
    if not request:
        request = {"request_hash": "hash-1"}
    return play.payload(PACKAGE, PROFILES[profile], now=NOW, **request)


def _raises(payload: dict[str, Any], app: AndroidApp, **kwargs: Any) -> str:
    with pytest.raises(PlayIntegrityError) as caught:
        evaluate_verdict(parse_verdict(payload), app=app, now=NOW, **kwargs)
    return caught.value.code


def test_request_hash_must_match(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    app = emulated_app.android_app()
    assert _raises(_payload(play), app, request_hash="hash-2") == "play.request_hash_mismatch"
    assert evaluate_verdict(parse_verdict(_payload(play)), app=app, request_hash="hash-1", now=NOW).tier == "device"


def test_request_hash_missing_in_verdict(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    payload = _payload(play, nonce=NONCE)
    assert _raises(payload, emulated_app.android_app(), request_hash="hash-1") == "play.request_hash_mismatch"


@pytest.mark.parametrize("sent", [NONCE, NONCE + "=", NONCE + "=="])
def test_nonce_padding_insensitive(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp, sent: str) -> None:
    payload = _payload(play, nonce=NONCE + "=")
    result = evaluate_verdict(parse_verdict(payload), app=emulated_app.android_app(), nonce=sent, now=NOW)
    assert result.tier == "device"


def test_nonce_mismatch(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    payload = _payload(play, nonce=NONCE)
    assert _raises(payload, emulated_app.android_app(), nonce=NONCE[:-1] + "A") == "play.nonce_mismatch"


def test_exactly_one_of_hash_or_nonce(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    verdict = parse_verdict(_payload(play))
    with pytest.raises(InputError):
        evaluate_verdict(verdict, app=emulated_app.android_app(), now=NOW)
    with pytest.raises(InputError):
        evaluate_verdict(verdict, app=emulated_app.android_app(), request_hash="a", nonce="b", now=NOW)


def test_package_mismatch(play: EmulatedPlayIntegrity) -> None:
    app = AndroidApp("com.example.else", [b"\0" * 32])
    assert _raises(_payload(play), app, request_hash="hash-1") == "play.package_mismatch"


def test_timestamp_window(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    app = emulated_app.android_app()
    verdict = parse_verdict(_payload(play))
    ok = evaluate_verdict(verdict, app=app, request_hash="hash-1", now=NOW + timedelta(minutes=4, seconds=59))
    assert ok.tier == "device"
    with pytest.raises(PlayIntegrityError) as stale:
        evaluate_verdict(verdict, app=app, request_hash="hash-1", now=NOW + timedelta(minutes=5, seconds=1))
    assert stale.value.code == "play.timestamp_stale"
    with pytest.raises(PlayIntegrityError) as future:
        evaluate_verdict(verdict, app=app, request_hash="hash-1", now=NOW - timedelta(seconds=31))
    assert future.value.code == "play.timestamp_future"
    skewed = evaluate_verdict(verdict, app=app, request_hash="hash-1", now=NOW - timedelta(seconds=29))
    assert skewed.tier == "device"
    longer = evaluate_verdict(
        verdict, app=app, request_hash="hash-1", now=NOW + timedelta(minutes=9), max_age=timedelta(minutes=10)
    )
    assert longer.tier == "device"


def test_cleared_verdict_is_tier_none(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    result = evaluate_verdict(
        parse_verdict(cleared(_payload(play, "strong"))), app=emulated_app.android_app(), request_hash="hash-1", now=NOW
    )
    assert result.tier == "none"
    assert result.failed == (
        "play.no_device_integrity",
        "play.app_unrecognized",
        "play.app_package_mismatch",
        "play.certificate_mismatch",
        "play.unlicensed",
    )


def _evaluate(payload: dict[str, Any], app: AndroidApp) -> tuple[str, tuple[str, ...]]:
    result = evaluate_verdict(parse_verdict(payload), app=app, request_hash="hash-1", now=NOW)
    return result.tier, result.failed


def test_strong_without_sdk_version_follows_label(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    payload = _payload(play, "strong")
    del payload["deviceIntegrity"]["deviceAttributes"]
    assert _evaluate(payload, emulated_app.android_app()) == ("strong", ())


@pytest.mark.parametrize(
    ("labels", "tier"),
    [
        (["MEETS_VIRTUAL_INTEGRITY"], "none"),
        (["UNEVALUATED"], "none"),
        (["MEETS_SOMETHING_NEW"], "none"),
        (["MEETS_SOMETHING_NEW", "MEETS_BASIC_INTEGRITY"], "basic"),
    ],
)
def test_unknown_and_virtual_labels(
    play: EmulatedPlayIntegrity, emulated_app: EmulatedApp, labels: list[str], tier: str
) -> None:
    payload = _payload(play)
    payload["deviceIntegrity"]["deviceRecognitionVerdict"] = labels
    assert _evaluate(payload, emulated_app.android_app())[0] == tier


def test_unknown_enum_values_kept_never_pass(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    payload = _payload(play)
    payload["appIntegrity"]["appRecognitionVerdict"] = "SOMETHING_NEW"
    payload["accountDetails"]["appLicensingVerdict"] = "SOMETHING_NEW"
    verdict = parse_verdict(payload)
    assert verdict.app_integrity is not None
    assert verdict.app_integrity.app_recognition_verdict == "SOMETHING_NEW"
    assert _evaluate(payload, emulated_app.android_app()) == ("device", ("play.app_unrecognized", "play.unlicensed"))


def test_app_checks(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    payload = _payload(play, "sideloaded")
    lenient = emulated_app.android_app(allow_unrecognized_version=True, require_licensed=False)
    assert _evaluate(payload, lenient) == ("device", ("play.certificate_mismatch",))
    genuine = _payload(play)
    assert _evaluate(genuine, emulated_app.android_app(min_version_code=43)) == ("device", ("play.version_too_old",))
    assert _evaluate(genuine, emulated_app.android_app(min_version_code=42)) == ("device", ())
    no_digest = AndroidApp(PACKAGE)
    assert _evaluate(genuine, no_digest) == ("device", ("play.certificate_mismatch",))
    other = copy.deepcopy(genuine)
    other["appIntegrity"]["packageName"] = "com.example.repackaged"
    assert _evaluate(other, emulated_app.android_app()) == ("device", ("play.app_package_mismatch",))


def test_certificate_digest_any_order_and_spelling(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    rotated = b"\x01" * 32
    payload = _payload(play)
    payload["appIntegrity"]["certificateSha256Digest"].insert(0, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE")
    app = AndroidApp(PACKAGE, [emulated_app.certificate_sha256.hex(":"), rotated])
    assert _evaluate(payload, app) == ("device", ())
    assert _evaluate(payload, emulated_app.android_app()) == ("device", ("play.certificate_mismatch",))


def test_certificate_digest_in_standard_base64_is_normalised(
    play: EmulatedPlayIntegrity, emulated_app: EmulatedApp
) -> None:
    # Google's spelling (base64url, unpadded) matches as it is; any other spelling is normalised first.
    rotated = b"\xfb\xff" * 16  # base64 of it has '+' and '/' and padding
    spelled = base64.b64encode(rotated).decode()
    assert {"+", "/", "="} <= set(spelled)
    payload = _payload(play)
    payload["appIntegrity"]["certificateSha256Digest"].append(spelled)
    app = AndroidApp(PACKAGE, [emulated_app.certificate_sha256, rotated])
    assert _evaluate(payload, app) == ("device", ())
    assert _evaluate(payload, emulated_app.android_app()) == ("device", ("play.certificate_mismatch",))
    payload["appIntegrity"]["certificateSha256Digest"] = [spelled.replace("+", "-")]  # two alphabets mixed
    assert _evaluate(payload, app) == ("device", ())


def test_account_activity_unusual(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    payload = _payload(play)
    payload["accountDetails"]["accountActivity"] = {"activityLevel": "UNUSUAL"}
    assert _evaluate(payload, emulated_app.android_app()) == ("device", ("play.account_activity_unusual",))


def test_missing_sections_never_pass(play: EmulatedPlayIntegrity, emulated_app: EmulatedApp) -> None:
    payload = {"requestDetails": _payload(play)["requestDetails"]}
    result = evaluate_verdict(parse_verdict(payload), app=emulated_app.android_app(), request_hash="hash-1", now=NOW)
    assert result.tier == "none"
    assert not result.signals.play_protect_ok
    assert not result.signals.licensed
    assert not result.signals.app_recognized


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("requestDetails", "timestampMillis"), "12.5"),
        (("requestDetails", "timestampMillis"), True),
        (("requestDetails", "requestPackageName"), 5),
        (("appIntegrity", "versionCode"), [1]),
        (("appIntegrity", "certificateSha256Digest"), "abc"),
        (("deviceIntegrity", "deviceRecognitionVerdict"), [1]),
        (("deviceIntegrity", "deviceAttributes"), []),
        (("accountDetails", "appLicensingVerdict"), {}),
        (("testingDetails", "isTestingResponse"), "yes"),
    ],
)
def test_wrong_types_are_typed_errors(play: EmulatedPlayIntegrity, path: tuple[str, str], value: object) -> None:
    payload = _payload(play)
    payload.setdefault(path[0], {})[path[1]] = value
    with pytest.raises(PlayIntegrityError) as caught:
        parse_verdict(payload)
    assert caught.value.code == "play.payload_invalid"


def test_int64_as_string_and_recall(play: EmulatedPlayIntegrity) -> None:
    payload = _payload(play)
    payload["deviceIntegrity"]["deviceRecall"] = {
        "values": {"bitFirst": True, "bitSecond": False},
        "writeDates": {"yyyymmFirst": 202611},
    }
    verdict = parse_verdict(payload)
    assert verdict.request_details.timestamp_millis == int(NOW.timestamp() * 1000)
    assert verdict.app_integrity is not None
    assert verdict.app_integrity.version_code == 42
    assert verdict.device_integrity is not None
    assert verdict.device_integrity.device_recall is not None
    assert verdict.device_integrity.device_recall.values == (True, False, None)
    assert verdict.device_integrity.device_recall.write_dates == (202611, None, None)


def test_oversized_payload() -> None:
    with pytest.raises(InputError) as caught:
        parse_verdict(b" " * (64 * 1024 + 1))
    assert caught.value.code == "input.too_large"
