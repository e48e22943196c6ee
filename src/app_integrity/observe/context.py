"""Per-request facts that travel beside a decision to its event and log line, without widening every signature.

The HTTP layer sets the request id; the verifiers note which of them ran and, for Play Integrity, the device and
Play Protect verdicts. ``IntegrityService._record`` takes them. Context variables are per asyncio task, so two
concurrent requests never see each other's notes.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass, replace

from app_integrity.android.play.evaluate import PlayIntegrityResult

MAX_REQUEST_ID_CHARS = 128
# Visible ASCII without quotes or separators that could forge a log field or a header.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Strongest first: the dashboard shows the best label a device earned.
_DEVICE_LABELS = (
    "MEETS_STRONG_INTEGRITY",
    "MEETS_DEVICE_INTEGRITY",
    "MEETS_BASIC_INTEGRITY",
    "MEETS_VIRTUAL_INTEGRITY",
)


@dataclass(frozen=True, slots=True)
class Notes:
    verifier: str = "none"  # app_attest | play_integrity | key_attestation | session | none
    device_verdict: str | None = None
    play_protect: str | None = None


_REQUEST_ID_VAR: ContextVar[str | None] = ContextVar("app_integrity_request_id", default=None)
_EMPTY = Notes()
_NOTES: ContextVar[Notes | None] = ContextVar("app_integrity_notes", default=None)


def accept_request_id(value: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is a sane token, else a fresh random one."""
    if value is not None and _REQUEST_ID.fullmatch(value):
        return value
    return secrets.token_hex(16)


def set_request_id(value: str | None) -> None:
    _REQUEST_ID_VAR.set(value)


def request_id() -> str | None:
    return _REQUEST_ID_VAR.get()


def begin() -> None:
    """Forget the notes of an earlier decision made in this context."""
    _NOTES.set(None)


def note_verifier(name: str) -> None:
    _NOTES.set(replace(_NOTES.get() or _EMPTY, verifier=name))


def note_play_verdict(result: PlayIntegrityResult) -> None:
    device = result.verdict.device_integrity
    labels = device.device_recognition_verdict if device is not None else ()
    strongest = next((label for label in _DEVICE_LABELS if label in labels), "NONE")
    _NOTES.set(
        replace(
            _NOTES.get() or _EMPTY, device_verdict=strongest, play_protect=result.signals.play_protect or "UNEVALUATED"
        )
    )


def take() -> Notes:
    """The notes for the decision being recorded; the context starts afresh for the next one."""
    notes = _NOTES.get() or _EMPTY
    _NOTES.set(None)
    return notes
