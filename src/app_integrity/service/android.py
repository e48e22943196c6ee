"""The Android half of the service: Play Integrity tokens on protected requests, hardware keys at registration.

Both verifiers are pure; this module feeds them the request's facts and turns their results into the policy's
vocabulary (tier, signals, failed checks).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from app_integrity.android import (
    GoogleApiDecoder,
    IntegrityVerdict,
    KeyAttestationResult,
    PlayIntegrityResult,
    evaluate_verdict,
    verify_key_attestation,
)
from app_integrity.errors import PlayIntegrityError, UnavailableError
from app_integrity.header import AndroidProof
from app_integrity.observe import context as observed
from app_integrity.observe import metrics
from app_integrity.policy import Platform, Signal, Tier, VerificationFacts
from app_integrity.service.verifiers import AndroidVerifier
from app_integrity.storage.base import KeyKind, KeyRecord

# Failed Play checks that mean "not the genuine app": they defeat the ``app`` signal.
_APP_CHECKS = frozenset(
    {"play.app_unrecognized", "play.app_package_mismatch", "play.certificate_mismatch", "play.version_too_old"}
)


def play_signals(result: PlayIntegrityResult) -> frozenset[Signal]:
    """The policy signals a Play verdict proves. A signal holds only on positive evidence."""
    signals: set[Signal] = set()
    if not _APP_CHECKS.intersection(result.failed):
        signals.add(Signal.APP)
    if result.signals.licensed:
        signals.add(Signal.LICENSING)
    if result.signals.play_protect_ok:
        signals.add(Signal.PLAY_PROTECT)
    if result.signals.apps_detected is not None and not result.signals.risky_apps:
        signals.add(Signal.NO_RISKY_APPS)
    return frozenset(signals)


async def judge_play_token(
    android: AndroidVerifier, proof: AndroidProof, *, request_hash: str, now: datetime
) -> VerificationFacts:
    """Decode the token (Google or local keys) and judge it for this request.

    Raises ``VerificationError`` when the token is not valid for this request and ``UnavailableError`` when Google
    did not answer; the caller turns both into decisions.
    """
    verdict = await _decode(android, proof.token)
    result = evaluate_verdict(
        verdict,
        app=android.app,
        request_hash=request_hash,
        now=now,
        max_age=timedelta(seconds=android.max_token_age_seconds),
    )
    observed.note_play_verdict(result)
    return VerificationFacts.valid(
        Platform.ANDROID, Tier(result.tier), signals=play_signals(result), failed=result.failed
    )


async def _decode(android: AndroidVerifier, token: str) -> IntegrityVerdict:
    """The decoder's verdict; calls to Google's API are counted (ok, rejected, or failed with its code)."""
    if not isinstance(android.decoder, GoogleApiDecoder):
        return await android.decoder.decode(token, package_name=android.app.package_name)
    try:
        verdict = await android.decoder.decode(token, package_name=android.app.package_name)
    except UnavailableError as error:
        metrics.GOOGLE_CALLS.labels("failed").inc()
        metrics.GOOGLE_FAILURES.labels(error.code).inc()
        raise
    except PlayIntegrityError as error:
        metrics.GOOGLE_CALLS.labels("rejected" if error.code == "play.token_rejected" else "invalid").inc()
        raise
    metrics.GOOGLE_CALLS.labels("ok").inc()
    return verdict


def key_attestation_signals(result: KeyAttestationResult) -> frozenset[Signal]:
    signals: set[Signal] = set()
    if result.app_checked:
        signals.add(Signal.APP)
    if "android.patch_level_too_old" not in result.failed:
        signals.add(Signal.MIN_PATCH_LEVEL)
    return frozenset(signals)


async def verify_android_key(
    android: AndroidVerifier, chain: Sequence[str | bytes], *, challenge: str, now: datetime
) -> KeyAttestationResult:
    """Verify a hardware key attestation chain for the issued challenge (its UTF-8 bytes, as the Expo module sets)."""
    revocations = await android.revocations(now)
    return verify_key_attestation(
        chain,
        challenge=challenge,
        app=android.app,
        policy=android.key_policy,
        revocations=revocations,
        now=now,
        trust_roots=android.key_trust_roots,
    )


def android_key_record(result: KeyAttestationResult, *, subject: str | None, now: datetime) -> KeyRecord:
    """What the registry keeps of an attested Android key: its posture, not the chain."""
    description = result.description
    summary: dict[str, Any] = {
        "failed": list(result.failed),
        "signals": sorted(s.value for s in key_attestation_signals(result)),
        "attestationVersion": description.attestation_version,
        "attestationSecurityLevel": str(description.attestation_security_level),
        "provisioning": result.provisioning,
        "root": result.root,
        "revocationChecked": result.revocation_checked,
        "tolerated": list(result.tolerated),
    }
    return KeyRecord(
        key_id=base64.b64decode(result.key_id),
        kind=KeyKind.ANDROID,
        public_key=result.public_key_spki,
        created_at=now,
        subject=subject,
        tier=str(result.tier),
        summary=summary,
    )
