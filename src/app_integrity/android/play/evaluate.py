"""Judge a decoded verdict for one request and one app: raise when it is not about this request, else grade it.

Google's guidance (developer.android.com/google/play/integrity/verdicts): "You must first check that the values
in the requestDetails field match those of the original request before checking each integrity verdict."
That first step raises; everything after it is a graded result (tier, failed checks, signals) for the policy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from hmac import compare_digest
from typing import Literal

from app_integrity._clock import now_millis
from app_integrity._encoding import b64url
from app_integrity._frozen import builder
from app_integrity.android.app import AndroidApp
from app_integrity.android.play.values import (
    AccountActivity,
    AppRecognition,
    AppsDetected,
    DeviceActivity,
    DeviceRecognition,
    Licensing,
    PlayProtect,
)
from app_integrity.android.play.verdict import DeviceIntegrity, IntegrityVerdict
from app_integrity.errors import InputError, PlayIntegrityError

Tier = Literal["strong", "device", "basic", "none"]

# Android 13 (API 33): from here on MEETS_STRONG_INTEGRITY also requires a security update in the last year.
STRONG_MIN_SDK = 33
DEFAULT_MAX_AGE = timedelta(minutes=5)
DEFAULT_MAX_SKEW = timedelta(seconds=30)
# The known values as plain strings: reading a member off a StrEnum class goes through the enum machinery each
# time (about 0.15 µs on CPython 3.11), and the comparisons are the same string comparisons either way.
_STRONG = DeviceRecognition.MEETS_STRONG_INTEGRITY.value
_DEVICE = DeviceRecognition.MEETS_DEVICE_INTEGRITY.value
_BASIC = DeviceRecognition.MEETS_BASIC_INTEGRITY.value
_PLAY_RECOGNIZED = AppRecognition.PLAY_RECOGNIZED.value
_UNRECOGNIZED_VERSION = AppRecognition.UNRECOGNIZED_VERSION.value
_LICENSED = Licensing.LICENSED.value
_ACCOUNT_UNUSUAL = AccountActivity.UNUSUAL.value
_PLAY_PROTECT_OFF = PlayProtect.POSSIBLE_RISK.value
_PLAY_PROTECT_OK = PlayProtect.NO_ISSUES.value
_PLAY_PROTECT_RISK = frozenset({PlayProtect.MEDIUM_RISK.value, PlayProtect.HIGH_RISK.value})
_DEVICE_ACTIVITY_HIGH = DeviceActivity.LEVEL_4.value
_RISKY_APPS = frozenset(
    {
        AppsDetected.UNKNOWN_CAPTURING.value,
        AppsDetected.UNKNOWN_CONTROLLING.value,
        AppsDetected.UNKNOWN_OVERLAYS.value,
    }
)
_NO_RECALL: tuple[None, None, None] = (None, None, None)


@dataclass(frozen=True, slots=True)
class PlaySignals:
    """What the verdict says beyond the tier, for policies (``require = [...]``) and dashboards."""

    app_recognized: bool
    licensed: bool
    play_protect: str | None
    play_protect_ok: bool
    apps_detected: tuple[str, ...] | None
    risky_apps: bool
    device_activity_level: str | None
    account_activity_level: str | None
    device_recall: tuple[bool | None, bool | None, bool | None]
    sdk_version: int | None
    version_code: int | None
    testing: bool


@dataclass(frozen=True, slots=True)
class PlayIntegrityResult:
    tier: Tier
    failed: tuple[str, ...]
    signals: PlaySignals
    verdict: IntegrityVerdict


# Positional constructors for evaluate_verdict, which builds one of each per request (see _frozen).
_play_signals = builder(PlaySignals)
_play_integrity_result = builder(PlayIntegrityResult)


def _same_nonce(expected: str, received: str) -> bool:
    # Classic nonces are base64 (url-safe, no wrap is Google's advice); compare without padding, constant-time.
    return compare_digest(expected.rstrip("=").encode(), received.rstrip("=").encode())


def _check_request(
    verdict: IntegrityVerdict,
    app: AndroidApp,
    request_hash: str | None,
    nonce: str | None,
    now_ms: int,
    max_age: timedelta,
    max_skew: timedelta,
) -> None:
    details = verdict.request_details
    # "verify the requestDetails part ... by making sure that the requestPackageName and requestHash match
    # what was sent in the original request"
    if not compare_digest(details.request_package_name.encode(), app.package_name.encode()):
        raise PlayIntegrityError(
            "play.package_mismatch",
            f"the token was requested for {details.request_package_name!r}, not {app.package_name!r}",
        )
    if request_hash is not None:
        if details.request_hash is None or not compare_digest(details.request_hash.encode(), request_hash.encode()):
            raise PlayIntegrityError("play.request_hash_mismatch", "requestHash differs from this request's hash")
    elif nonce is not None and (details.nonce is None or not _same_nonce(nonce, details.nonce)):
        raise PlayIntegrityError("play.nonce_mismatch", "nonce differs from the nonce issued for this request")
    # "the timestampMillis ... check that the token was recently requested": older than max_age is a replay.
    issued = details.timestamp_millis
    if now_ms - issued > max_age.total_seconds() * 1000:
        raise PlayIntegrityError(
            "play.timestamp_stale", f"the token was requested {(now_ms - issued) // 1000} s ago, over {max_age}"
        )
    if issued - now_ms > max_skew.total_seconds() * 1000:
        raise PlayIntegrityError("play.timestamp_future", "the token's timestampMillis is in the future")
    # testingDetails: responses from license testers or internal test tracks are not real verdicts.
    if verdict.is_testing_response and not app.allow_testing_responses:
        raise PlayIntegrityError("play.testing_response", "this is a testing response, and testing is not allowed")


def _tier(device: DeviceIntegrity | None) -> Tier:
    if device is None:
        return "none"
    labels = device.device_recognition_verdict  # a few labels: a tuple scan beats building a set
    # Google's tiered guidance: STRONG > DEVICE > BASIC. On Android 13+ STRONG means a recent security patch
    # too, so with sdkVersion present STRONG counts as strong only from API 33 on, else as device.
    if _STRONG in labels:
        if device.sdk_version is None or device.sdk_version >= STRONG_MIN_SDK:
            return "strong"
        return "device"
    if _DEVICE in labels:
        return "device"
    if _BASIC in labels:
        return "basic"
    # Empty, UNEVALUATED, MEETS_VIRTUAL_INTEGRITY or an unknown label: never a pass.
    return "none"


@functools.lru_cache(maxsize=64)
def _allowed_digests(digests: tuple[bytes, ...]) -> frozenset[str]:
    # Google sends certificateSha256Digest as unpadded base64url; compare in that spelling.
    return frozenset(b64url(d) for d in digests)


def _normalised_digest(value: str) -> str:
    # Two replaces, not str.translate: translating through a dict looks every character up and pays a caught
    # LookupError for each one the table leaves alone, some tens of microseconds for a 43-character digest.
    return value.rstrip("=").replace("+", "-").replace("/", "_")


def _certificates_allowed(digests: tuple[str, ...], allowed: frozenset[str]) -> bool:
    """Every digest in the verdict is one of the app's, in any base64 spelling (and there is at least one)."""
    # Google's own spelling is already the normalised one (normalising it changes nothing), so the common case
    # is settled by the set test alone; any other spelling is normalised and tested again.
    return bool(digests) and (allowed.issuperset(digests) or allowed.issuperset(map(_normalised_digest, digests)))


def evaluate_verdict(
    verdict: IntegrityVerdict,
    *,
    app: AndroidApp,
    request_hash: str | None = None,
    nonce: str | None = None,
    now: datetime | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> PlayIntegrityResult:
    """Check the verdict belongs to this request (else raise ``PlayIntegrityError``), then grade it.

    Pass ``request_hash`` for Standard requests or ``nonce`` for classic ones (exactly one).
    """
    if (request_hash is None) == (nonce is None):
        raise InputError("input.invalid_argument", "pass exactly one of request_hash (standard) or nonce (classic)")
    _check_request(verdict, app, request_hash, nonce, now_millis(now), max_age, max_skew)
    failed: list[str] = []
    device = verdict.device_integrity
    tier = _tier(device)
    if tier == "none":
        failed.append("play.no_device_integrity")

    app_part = verdict.app_integrity
    if app_part is None:
        recognition = package_name = version_code = None
        certificates: tuple[str, ...] = ()
    else:
        recognition = app_part.app_recognition_verdict
        package_name = app_part.package_name
        certificates = app_part.certificate_sha256_digest
        version_code = app_part.version_code
    app_recognized = recognition == _PLAY_RECOGNIZED or (
        app.allow_unrecognized_version and recognition == _UNRECOGNIZED_VERSION
    )
    if not app_recognized:
        failed.append("play.app_unrecognized")
    # appIntegrity.packageName / certificateSha256Digest / versionCode: only present when Play recognises the
    # binary; absent means the check is not passed.
    package_matches = package_name == app.package_name
    if not package_matches:
        failed.append("play.app_package_mismatch")
    if not _certificates_allowed(certificates, _allowed_digests(app.certificate_sha256)):
        failed.append("play.certificate_mismatch")
    if app.min_version_code is not None and (version_code is None or version_code < app.min_version_code):
        failed.append("play.version_too_old")

    account = verdict.account_details
    if account is None:
        licensed = False
        account_activity = None
    else:
        licensed = account.app_licensing_verdict == _LICENSED
        account_activity = account.account_activity_level
    if app.require_licensed and not licensed:
        failed.append("play.unlicensed")
    if account_activity == _ACCOUNT_UNUSUAL:
        failed.append("play.account_activity_unusual")

    environment = verdict.environment_details
    if environment is None:
        play_protect = apps_detected = None
    else:
        play_protect = environment.play_protect_verdict
        apps_detected = environment.apps_detected
    if play_protect == _PLAY_PROTECT_OFF:
        failed.append("play.play_protect_off")
    elif play_protect in _PLAY_PROTECT_RISK:
        failed.append("play.play_protect_risk")
    risky_apps = apps_detected is not None and not _RISKY_APPS.isdisjoint(apps_detected)
    if risky_apps:
        failed.append("play.risky_apps_detected")

    if device is None:
        activity = sdk_version = recall = None
    else:
        activity = device.device_activity_level
        sdk_version = device.sdk_version
        recall = device.device_recall
    if activity == _DEVICE_ACTIVITY_HIGH:
        failed.append("play.device_activity_high")

    signals = _play_signals(
        app_recognized and package_matches,
        licensed,
        play_protect,
        play_protect == _PLAY_PROTECT_OK,
        apps_detected,
        risky_apps,
        activity,
        account_activity,
        _NO_RECALL if recall is None else recall.values,
        sdk_version,
        version_code,
        verdict.is_testing_response,
    )
    return _play_integrity_result(tier, tuple(failed), signals, verdict)
