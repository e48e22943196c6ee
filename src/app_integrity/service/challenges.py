"""Challenges: issued as 32 random bytes in base64url, single use, optionally bound to a subject and a purpose."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from app_integrity._encoding import b64url
from app_integrity.errors import ChallengeError, InputError
from app_integrity.observe import metrics
from app_integrity.storage.base import ChallengeRecord

CHALLENGE_BYTES = 32
MAX_SUBJECT_CHARS = 256
_PURPOSE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")

PURPOSE_REGISTER = "register"
PURPOSE_SESSION = "session"


def new_challenge(*, now: datetime, ttl: timedelta, subject: str | None, purpose: str | None) -> ChallengeRecord:
    """A fresh challenge record; the caller stores it."""
    check_subject(subject)
    if purpose is not None and (not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose)):
        raise InputError(
            "input.malformed", "purpose must be 'register', 'session' or an action name (lower-case, 1-64 chars)"
        )
    value = b64url(secrets.token_bytes(CHALLENGE_BYTES))
    return ChallengeRecord(value=value, expires_at=now + ttl, subject=subject, purpose=purpose)


def check_subject(subject: str | None) -> None:
    if subject is None:
        return
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_CHARS:
        raise InputError("input.malformed", f"subject must be a string of 1 to {MAX_SUBJECT_CHARS} characters")


def accept_challenge(
    record: ChallengeRecord | None,
    *,
    now: datetime,
    subjects: frozenset[str | None],
    purposes: frozenset[str],
) -> ChallengeRecord:
    """Judge a consumed challenge: it existed, had not expired, and its bindings hold for this use.

    ``subjects`` are the subjects the proof speaks for: the key's, and the one a verify call names ("a challenge
    bound to a subject is accepted only for a key registered to that subject, or a verify call naming the same
    subject"). ``purposes`` are the purposes this use satisfies (``register``, ``session``, or the action).
    """
    if record is None:
        metrics.CHALLENGES.labels("unknown").inc()
        raise ChallengeError("challenge.unknown", "the challenge was never issued or has already been used")
    # A consumed record is gone from storage whatever follows: count it as consumed, or as found expired.
    if record.expires_at <= now:
        metrics.CHALLENGES.labels("expired").inc()
        raise ChallengeError("challenge.expired", "the challenge's time to live has passed")
    if record.subject is not None and record.subject not in subjects:
        raise ChallengeError("challenge.subject_mismatch", "the challenge was issued for another subject")
    if record.purpose is not None and record.purpose not in purposes:
        raise ChallengeError(
            "challenge.purpose_mismatch", f"the challenge was issued for {record.purpose!r}, not this use"
        )
    metrics.CHALLENGES.labels("consumed").inc()
    return record
