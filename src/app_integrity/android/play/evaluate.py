"""Judge a decoded verdict for one request and one app: raise when it is not about this request, else grade it.

Google's guidance (developer.android.com/google/play/integrity/verdicts): "You must first check that the values
in the requestDetails field match those of the original request before checking each integrity verdict."
That first step raises; everything after it is a graded result (tier, failed checks, signals) for the policy.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from app_integrity._clock import resolve_now
from app_integrity._encoding import b64url
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
from app_integrity.android.play.verdict import IntegrityVerdict
from app_integrity.errors import InputError, PlayIntegrityError

Tier = Literal["strong", "device", "basic", "none"]

# Android 13 (API 33): from here on MEETS_STRONG_INTEGRITY also requires a security update in the last year.
STRONG_MIN_SDK = 33
DEFAULT_MAX_AGE = timedelta(minutes=5)
DEFAULT_MAX_SKEW = timedelta(seconds=30)
_RISKY_APPS = frozenset(
    {
        AppsDetected.UNKNOWN_CAPTURING,
        AppsDetected.UNKNOWN_CONTROLLING,
        AppsDetected.UNKNOWN_OVERLAYS,
    }
)
_PLAY_PROTECT_RISK = frozenset({PlayProtect.MEDIUM_RISK, PlayProtect.HIGH_RISK})


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


def _same_nonce(expected: str, received: str) -> bool:
    # Classic nonces are base64 (url-safe, no wrap is Google's advice); compare without padding, constant-time.
    return hmac.compare_digest(expected.rstrip("=").encode(), received.rstrip("=").encode())


def _check_request(
    verdict: IntegrityVerdict,
    *,
    app: AndroidApp,
    request_hash: str | None,
    nonce: str | None,
    now: datetime,
    max_age: timedelta,
    max_skew: timedelta,
) -> None:
    details = verdict.request_details
    # "verify the requestDetails part ... by making sure that the requestPackageName and requestHash match
    # what was sent in the original request"
    if not hmac.compare_digest(details.request_package_name.encode(), app.package_name.encode()):
        raise PlayIntegrityError(
            "play.package_mismatch",
            f"the token was requested for {details.request_package_name!r}, not {app.package_name!r}",
        )
    if request_hash is not None:
        if details.request_hash is None or not hmac.compare_digest(
            details.request_hash.encode(), request_hash.encode()
        ):
            raise PlayIntegrityError("play.request_hash_mismatch", "requestHash differs from this request's hash")
    elif nonce is not None and (details.nonce is None or not _same_nonce(nonce, details.nonce)):
        raise PlayIntegrityError("play.nonce_mismatch", "nonce differs from the nonce issued for this request")
    # "the timestampMillis ... check that the token was recently requested": older than max_age is a replay.
    issued = details.timestamp_millis
    now_ms = int(now.timestamp() * 1000)
    if now_ms - issued > max_age.total_seconds() * 1000:
        raise PlayIntegrityError(
            "play.timestamp_stale", f"the token was requested {(now_ms - issued) // 1000} s ago, over {max_age}"
        )
    if issued - now_ms > max_skew.total_seconds() * 1000:
        raise PlayIntegrityError("play.timestamp_future", "the token's timestampMillis is in the future")
    # testingDetails: responses from license testers or internal test tracks are not real verdicts.
    if verdict.is_testing_response and not app.allow_testing_responses:
        raise PlayIntegrityError("play.testing_response", "this is a testing response, and testing is not allowed")


def _tier(verdict: IntegrityVerdict) -> Tier:
    device = verdict.device_integrity
    if device is None:
        return "none"
    labels = device.device_recognition_verdict  # a few labels: a tuple scan beats building a set
    # Google's tiered guidance: STRONG > DEVICE > BASIC. On Android 13+ STRONG means a recent security patch
    # too, so with sdkVersion present STRONG counts as strong only from API 33 on, else as device.
    if DeviceRecognition.MEETS_STRONG_INTEGRITY in labels:
        if device.sdk_version is None or device.sdk_version >= STRONG_MIN_SDK:
            return "strong"
        return "device"
    if DeviceRecognition.MEETS_DEVICE_INTEGRITY in labels:
        return "device"
    if DeviceRecognition.MEETS_BASIC_INTEGRITY in labels:
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
    _check_request(
        verdict,
        app=app,
        request_hash=request_hash,
        nonce=nonce,
        now=resolve_now(now),
        max_age=max_age,
        max_skew=max_skew,
    )
    failed: list[str] = []
    tier = _tier(verdict)
    if tier == "none":
        failed.append("play.no_device_integrity")

    app_part = verdict.app_integrity
    recognition = app_part.app_recognition_verdict if app_part else None
    app_recognized = recognition == AppRecognition.PLAY_RECOGNIZED or (
        app.allow_unrecognized_version and recognition == AppRecognition.UNRECOGNIZED_VERSION
    )
    if not app_recognized:
        failed.append("play.app_unrecognized")
    # appIntegrity.packageName / certificateSha256Digest / versionCode: only present when Play recognises the
    # binary; absent means the check is not passed.
    if app_part is None or app_part.package_name != app.package_name:
        failed.append("play.app_package_mismatch")
    digests = [_normalised_digest(d) for d in app_part.certificate_sha256_digest] if app_part else []
    allowed = _allowed_digests(app.certificate_sha256)
    if not digests or any(d not in allowed for d in digests):
        failed.append("play.certificate_mismatch")
    version_code = app_part.version_code if app_part else None
    if app.min_version_code is not None and (version_code is None or version_code < app.min_version_code):
        failed.append("play.version_too_old")

    account = verdict.account_details
    licensed = account is not None and account.app_licensing_verdict == Licensing.LICENSED
    if app.require_licensed and not licensed:
        failed.append("play.unlicensed")
    account_activity = account.account_activity_level if account else None
    if account_activity == AccountActivity.UNUSUAL:
        failed.append("play.account_activity_unusual")

    environment = verdict.environment_details
    play_protect = environment.play_protect_verdict if environment else None
    if play_protect == PlayProtect.POSSIBLE_RISK:
        failed.append("play.play_protect_off")
    elif play_protect in _PLAY_PROTECT_RISK:
        failed.append("play.play_protect_risk")
    apps_detected = environment.apps_detected if environment else None
    risky_apps = bool(apps_detected and _RISKY_APPS.intersection(apps_detected))
    if risky_apps:
        failed.append("play.risky_apps_detected")

    device = verdict.device_integrity
    activity = device.device_activity_level if device else None
    if activity == DeviceActivity.LEVEL_4:
        failed.append("play.device_activity_high")
    recall = device.device_recall if device and device.device_recall else None

    signals = PlaySignals(
        app_recognized=app_recognized and "play.app_package_mismatch" not in failed,
        licensed=licensed,
        play_protect=play_protect,
        play_protect_ok=play_protect == PlayProtect.NO_ISSUES,
        apps_detected=apps_detected,
        risky_apps=risky_apps,
        device_activity_level=activity,
        account_activity_level=account_activity,
        device_recall=recall.values if recall else (None, None, None),
        sdk_version=device.sdk_version if device else None,
        version_code=version_code,
        testing=verdict.is_testing_response,
    )
    return PlayIntegrityResult(tier=tier, failed=tuple(failed), signals=signals, verdict=verdict)
