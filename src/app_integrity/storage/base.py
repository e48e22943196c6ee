"""What the service keeps, and the one interface every backend implements.

Keys, Android postures, session signing keys and events live in SQL (SQLite by default, PostgreSQL). Challenges
and single-use session ids can live in Redis instead. Every operation that must be atomic is atomic on every
backend; the shared test suite in ``tests/storage`` runs against each.

Backend failures (connection refused, timeouts, a restarted server) surface as
``UnavailableError("storage.unavailable", ...)`` so the HTTP layer answers 503, never 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class KeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class KeyKind(StrEnum):
    APPLE = "apple"  # an App Attest key: assertions are checked against public_key and counter
    ANDROID = "android"  # an Android hardware-attested key: its posture is stored for the subject


@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    """An issued challenge. ``value`` is the base64url text handed to the app."""

    value: str
    expires_at: datetime
    subject: str | None = None
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A registered key. ``key_id`` is the raw 32 bytes (SHA-256 of the public key)."""

    key_id: bytes
    kind: KeyKind
    public_key: bytes  # Apple: 65-byte uncompressed P-256 point; Android: leaf SPKI DER
    created_at: datetime
    environment: str | None = None  # Apple: "development" | "production"
    counter: int = 0
    receipt: bytes | None = None
    subject: str | None = None
    status: KeyStatus = KeyStatus.ACTIVE
    last_seen_at: datetime | None = None
    tier: str | None = None  # Android: the tier the attestation earned
    summary: dict[str, Any] = field(default_factory=dict)  # Android: parsed attestation summary (JSON-safe)


@dataclass(frozen=True, slots=True)
class SessionKeyRecord:
    """A session signing key: a private JWK (JSON text), its kid, and when it was made and retires."""

    kid: str
    private_jwk: str
    created_at: datetime
    retires_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One decision, for the dashboard and the audit trail. Never a token, key material or secret."""

    at: datetime
    action: str
    platform: str | None
    outcome: str
    tier: str
    reasons: tuple[str, ...]
    enforced: bool
    latency_ms: float
    key_id: bytes | None = None
    subject: str | None = None
    request_id: str | None = None


class CounterUpdate(StrEnum):
    ADVANCED = "advanced"
    NOT_INCREASING = "not_increasing"  # another request advanced it first, or a replay
    UNKNOWN_KEY = "unknown_key"
    REVOKED = "revoked"
    # consume_challenge_and_advance_counter only: the challenge was unknown, already used or expired, so the
    # counter was not touched.
    SKIPPED = "skipped"


class ChallengeStore(Protocol):
    """Single-use challenges and session ids. SQL and Redis both implement it."""

    async def put_challenge(self, record: ChallengeRecord) -> None: ...

    async def consume_challenge(self, value: str) -> ChallengeRecord | None:
        """Remove and return the challenge in one atomic step (SQL ``DELETE ... RETURNING``, Redis ``GETDEL``).

        Returns ``None`` when it was never issued or was already consumed; expiry is the caller's to judge
        (an expired record is still removed, so it cannot be retried).
        """
        ...

    async def consume_session_id(self, jti: str, expires_at: datetime) -> bool:
        """Mark a single-use session id used; ``True`` only for the first caller. Remembered until expiry."""
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Forget challenges and session ids that expired before ``now``; returns how many (Redis: 0, it expires
        them itself)."""
        ...

    async def ping(self) -> None:
        """Raise ``storage.unavailable`` if the backend cannot answer."""
        ...

    async def close(self) -> None: ...


class Store(ChallengeStore, Protocol):
    """Everything the service keeps. SQL backends implement all of it."""

    async def migrate(self) -> None:
        """Bring the schema to the latest version (Alembic)."""
        ...

    async def insert_key(self, record: KeyRecord) -> None:
        """Register a key; ``key.already_registered`` if the id exists (whatever its subject or status)."""
        ...

    async def get_key(self, key_id: bytes) -> KeyRecord | None: ...

    async def list_keys(self, *, subject: str | None = None, limit: int = 1000) -> list[KeyRecord]:
        """Keys (revoked ones too), oldest first; ``limit`` from 1 to 10000 (else ``input.invalid_argument``)."""
        ...

    async def revoke_key(self, key_id: bytes, now: datetime) -> bool:
        """``True`` if the key existed (revoking twice is not an error)."""
        ...

    async def advance_counter(self, key_id: bytes, new_counter: int, now: datetime) -> CounterUpdate:
        """Compare-and-set: ``UPDATE keys SET counter = :new WHERE key_id = :id AND counter < :new``."""
        ...

    async def consume_challenge_and_advance_counter(
        self, value: str, key_id: bytes, new_counter: int, now: datetime
    ) -> tuple[ChallengeRecord | None, CounterUpdate]:
        """Both single-use steps in one transaction: if either loses, neither happens.

        - challenge unknown or already used: ``(None, SKIPPED)``, nothing changes;
        - challenge expired (``expires_at <= now``): ``(record, SKIPPED)``; the challenge is removed (it cannot be
          retried), the counter is not touched;
        - counter not advanced: ``(record, NOT_INCREASING | UNKNOWN_KEY | REVOKED)``; the challenge stays unused;
        - otherwise ``(record, ADVANCED)``: the challenge is consumed and the counter advanced.

        With Redis holding the challenges the two steps cannot share a transaction: the challenge is consumed first
        and stays consumed when the counter then loses (the request is blocked either way).
        """
        ...

    async def latest_android_key(self, subject: str) -> KeyRecord | None:
        """The most recent active Android key registered for a subject (its stored posture)."""
        ...

    async def session_keys(self) -> list[SessionKeyRecord]: ...

    async def add_session_key(self, record: SessionKeyRecord) -> None: ...

    async def delete_session_keys_retired_before(self, when: datetime) -> int: ...

    async def record_event(self, event: EventRecord) -> None: ...

    async def list_events(self, *, limit: int = 100, **filters: Any) -> list[EventRecord]:
        """Events, newest first. Filters (all optional, combined with AND): ``action``, ``outcome``,
        ``platform``, ``tier``, ``subject``, ``request_id`` (str, or None for "not set"), ``key_id`` (bytes or
        None), ``enforced`` (bool), ``since`` (at >=) and ``until`` (at <) (aware datetimes). An unknown filter,
        a wrongly typed value or a limit outside 1..10000 raises ``input.invalid_argument``."""
        ...
