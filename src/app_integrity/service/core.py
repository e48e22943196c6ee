"""``IntegrityService``: challenges, the key registry, verification of protected requests, sessions, events.

The one implementation of the protocol's rules (DESIGN.md §3–§4). The HTTP routes, the framework integrations
and the CLI all call it; synchronous code reaches it through ``app_integrity.service.blocking``.

Order of checks for a protected request (DESIGN.md §3): verify the signature and the binding first; then consume
the challenge atomically; then advance the counter by compare-and-set. Whoever loses either race is blocked.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app_integrity._clock import resolve_now
from app_integrity.apple import AttestedKey, verify_assertion, verify_attestation, verify_receipt
from app_integrity.binding import binding_from_body_sha256, body_sha256, request_hash
from app_integrity.config import Settings
from app_integrity.errors import (
    AppleError,
    ChallengeError,
    ConfigError,
    HeaderError,
    InputError,
    KeyRegistryError,
    PlayIntegrityError,
    SessionError,
    UnavailableError,
    VerificationError,
)
from app_integrity.header import AndroidProof, IosProof, SessionProof, parse_header
from app_integrity.policy import Decision, Outcome, Platform, ProofStatus, Signal, Tier, VerificationFacts
from app_integrity.service.android import (
    android_key_record,
    judge_play_token,
    key_attestation_signals,
    verify_android_key,
)
from app_integrity.service.challenges import (
    PURPOSE_REGISTER,
    PURPOSE_SESSION,
    accept_challenge,
    check_subject,
    new_challenge,
)
from app_integrity.service.keyring import SessionKeys
from app_integrity.service.verifiers import AndroidVerifier, AppleVerifier
from app_integrity.sessions import IssuedSession
from app_integrity.storage.base import (
    ChallengeRecord,
    CounterUpdate,
    EventRecord,
    KeyKind,
    KeyRecord,
    KeyStatus,
    Store,
)

logger = logging.getLogger("app_integrity.service")

SESSION_ACTION = "session"
MAX_PAYLOAD_CHARS = 64 * 1024


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the app signed about its request: method, path-and-query as sent, and b64url(SHA-256(body))."""

    method: str
    path_and_query: str
    body_sha256: str

    @classmethod
    def from_body(cls, method: str, path_and_query: str, body: bytes) -> RequestFacts:
        return cls(method, path_and_query, body_sha256(body))


@dataclass(frozen=True, slots=True)
class Exchange:
    """The result of ``POST /v1/sessions``: the decision, and the session when it allowed or limited."""

    decision: Decision
    session: IssuedSession | None


@dataclass(frozen=True, slots=True)
class AndroidRegistration:
    key: KeyRecord
    session: IssuedSession | None


class IntegrityService:
    """The protocol's rules over one store and the configured verifiers. Build it with ``open_service``."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        apple: AppleVerifier | None,
        android: AndroidVerifier | None,
        session_keys: SessionKeys,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.apple = apple
        self.android = android
        self.session_keys = session_keys
        self._clock = clock or (lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return resolve_now(self._clock())

    async def aclose(self) -> None:
        if self.android is not None:
            await self.android.aclose()
        await self.store.close()

    # --- challenges ---

    async def issue_challenge(self, *, subject: str | None = None, purpose: str | None = None) -> ChallengeRecord:
        record = new_challenge(
            now=self.now(),
            ttl=timedelta(seconds=self.settings.challenges.ttl_seconds),
            subject=subject,
            purpose=purpose,
        )
        await self.store.put_challenge(record)
        return record

    # --- registration ---

    async def register_apple_key(
        self, *, key_id: bytes, attestation: bytes, challenge: str, subject: str | None = None
    ) -> KeyRecord:
        """Verify an App Attest attestation, consume its challenge, store the key. Raises on any failure."""
        apple = self._require_apple()
        check_subject(subject)
        now = self.now()
        attested, bundle_id = _verify_attestation(
            apple, key_id=key_id, attestation=attestation, challenge=challenge, now=now
        )
        # The receipt is stored for later fraud-metric refreshes: its signature and chain are checked now.
        app = apple.app_for(bundle_id)
        assert app is not None
        verify_receipt(
            attested.receipt,
            app=app,
            public_key=attested.public_key,
            now=now,
            trust_roots=apple.receipt_trust_roots,
        )
        accept_challenge(
            await self.store.consume_challenge(challenge),
            now=now,
            subjects=frozenset({subject}),
            purposes=frozenset({PURPOSE_REGISTER}),
        )
        record = KeyRecord(
            key_id=attested.key_id,
            kind=KeyKind.APPLE,
            public_key=attested.public_key,
            created_at=now,
            environment=attested.environment,
            counter=attested.counter,
            receipt=attested.receipt,
            subject=subject,
            tier=Tier.STRONG.value,
            summary={"bundleId": bundle_id},
        )
        await self.store.insert_key(record)
        return record

    async def register_android_key(
        self, *, chain: Sequence[str | bytes], challenge: str, subject: str | None = None
    ) -> AndroidRegistration:
        """Verify a hardware key attestation, consume its challenge, store the posture; a session when allowed."""
        android = self._require_android()
        check_subject(subject)
        now = self.now()
        result = await verify_android_key(android, chain, challenge=challenge, now=now)
        accept_challenge(
            await self.store.consume_challenge(challenge),
            now=now,
            subjects=frozenset({subject}),
            purposes=frozenset({PURPOSE_REGISTER}),
        )
        record = android_key_record(result, subject=subject, now=now)
        await self.store.insert_key(record)
        facts = VerificationFacts.valid(
            Platform.ANDROID,
            Tier(result.tier),
            signals=key_attestation_signals(result),
            failed=result.failed,
            key_id=record.key_id,
        )
        decision = self.settings.policy.decide(SESSION_ACTION, facts)
        await self._record(SESSION_ACTION, decision, subject=subject, started=time.perf_counter())
        session = None
        if decision.outcome in (Outcome.ALLOW, Outcome.LIMIT):
            session = await self._issue_session(facts, subject=subject, now=now)
        return AndroidRegistration(record, session)

    # --- protected requests ---

    async def verify(
        self,
        *,
        action: str,
        request: RequestFacts,
        header: str | bytes | None,
        subject: str | None = None,
    ) -> Decision:
        """Decide one protected request. Never raises for a bad proof: that is a block decision."""
        started = time.perf_counter()
        facts = await self._facts(action, request, header, subject=subject, allow_session=True)
        decision = self.settings.policy.decide(action, facts)
        await self._record(action, decision, subject=subject, started=started)
        return decision

    async def exchange_session(
        self, *, request: RequestFacts, header: str | bytes | None, subject: str | None = None
    ) -> Exchange:
        """``POST /v1/sessions``: a proof bound to this very request, judged under the ``session`` policy."""
        started = time.perf_counter()
        facts = await self._facts(SESSION_ACTION, request, header, subject=subject, allow_session=False)
        if facts.status is ProofStatus.UNAVAILABLE:
            # A session is never issued on an unchecked proof: 503, and the app retries.
            raise UnavailableError(facts.reasons[0], "the proof could not be checked now; retry")
        decision = self.settings.policy.decide(SESSION_ACTION, facts)
        await self._record(SESSION_ACTION, decision, subject=subject, started=started)
        session = None
        if decision.outcome in (Outcome.ALLOW, Outcome.LIMIT) and facts.platform is not None:
            key = await self.store.get_key(facts.key_id) if facts.key_id is not None else None
            owner = key.subject if key is not None and key.subject is not None else subject
            session = await self._issue_session(facts, subject=owner, now=self.now())
        return Exchange(decision, session)

    async def _facts(
        self,
        action: str,
        request: RequestFacts,
        header: str | bytes | None,
        *,
        subject: str | None,
        allow_session: bool,
    ) -> VerificationFacts:
        try:
            check_subject(subject)
            try:
                proof = parse_header(header)
            except HeaderError as error:
                # No proof at all is tier none, judged by the policy; a malformed one is an invalid proof.
                if error.code == "header.missing":
                    return VerificationFacts.absent()
                raise
            if isinstance(proof, IosProof):
                return await self._ios_facts(action, request, proof, subject=subject)
            if isinstance(proof, AndroidProof):
                return await self._android_facts(action, request, proof, subject=subject)
            if not allow_session:
                raise SessionError("session.not_exchangeable", "a session cannot be exchanged for another session")
            return await self._session_facts(proof)
        except VerificationError as error:
            return VerificationFacts.invalid(error.code, platform=_platform_of(header))
        except UnavailableError as error:
            return VerificationFacts.unavailable(error.code, platform=_platform_of(header))

    async def _ios_facts(
        self, action: str, request: RequestFacts, proof: IosProof, *, subject: str | None
    ) -> VerificationFacts:
        binding = binding_from_body_sha256(proof.challenge, request.method, request.path_and_query, request.body_sha256)
        return await self._assertion_facts(
            action,
            key_id=proof.key_id,
            assertion=proof.assertion,
            challenge=proof.challenge,
            client_data=binding,
            subject=subject,
        )

    async def verify_apple_payload(
        self, *, action: str, key_id: bytes, assertion: bytes, payload: str, subject: str | None = None
    ) -> Decision:
        """Payload mode (the Expo docs' example): the app signs ``payload``, a JSON text holding an issued
        ``challenge``, instead of the request binding."""
        started = time.perf_counter()
        try:
            check_subject(subject)
            challenge = payload_challenge(payload)
        except VerificationError as error:
            facts = VerificationFacts.invalid(error.code, platform=Platform.IOS, key_id=key_id)
        else:
            facts = await self._assertion_facts(
                action, key_id=key_id, assertion=assertion, challenge=challenge, client_data=payload, subject=subject
            )
        decision = self.settings.policy.decide(action, facts)
        await self._record(action, decision, subject=subject, started=started)
        return decision

    async def _assertion_facts(
        self,
        action: str,
        *,
        key_id: bytes,
        assertion: bytes,
        challenge: str,
        client_data: str,
        subject: str | None,
    ) -> VerificationFacts:
        now = self.now()
        try:
            apple = self._require_apple_for_proof()
            key = _usable_key(await self.store.get_key(key_id), kind=KeyKind.APPLE)
            app = apple.app_for(str(key.summary.get("bundleId", "")))
            if app is None:
                raise AppleError("apple.app_id_mismatch", "the key was registered for a bundle id no longer configured")
            # "allow_development = false also blocks keys registered as development" (DESIGN.md §5).
            if key.environment == "development" and not app.allow_development:
                raise AppleError("apple.wrong_environment", "the key was attested in the development environment")
            # Signature and binding first (DESIGN.md §3: order of checks).
            result = verify_assertion(
                assertion, app=app, public_key=key.public_key, previous_counter=key.counter, client_data=client_data
            )
            # Then the challenge and the counter, both single-use, in one atomic step.
            record, update = await self.store.consume_challenge_and_advance_counter(
                challenge, key.key_id, result.counter, now
            )
            accept_challenge(
                record,
                now=now,
                subjects=frozenset({key.subject, subject}),
                purposes=frozenset({PURPOSE_SESSION, action}),
            )
            _check_counter_update(update)
        except VerificationError as error:
            return VerificationFacts.invalid(error.code, platform=Platform.IOS, key_id=key_id)
        return VerificationFacts.valid(Platform.IOS, Tier.STRONG, signals={Signal.APP}, key_id=key.key_id)

    async def _android_facts(
        self, action: str, request: RequestFacts, proof: AndroidProof, *, subject: str | None
    ) -> VerificationFacts:
        android = self._require_android_for_proof()
        now = self.now()
        binding = binding_from_body_sha256(proof.challenge, request.method, request.path_and_query, request.body_sha256)
        try:
            facts = await judge_play_token(android, proof, request_hash=request_hash(binding), now=now)
            accept_challenge(
                await self.store.consume_challenge(proof.challenge),
                now=now,
                subjects=frozenset({subject}),
                purposes=frozenset({PURPOSE_SESSION, action}),
            )
        except VerificationError as error:
            return VerificationFacts.invalid(error.code, platform=Platform.ANDROID)
        except UnavailableError as error:
            return VerificationFacts.unavailable(error.code, platform=Platform.ANDROID)
        return facts

    async def _session_facts(self, proof: SessionProof) -> VerificationFacts:
        now = self.now()
        claims = await self.session_keys.verify(proof.token, now)
        if claims.key_id is not None:
            # A session whose key was revoked later is blocked (DESIGN.md §3.6).
            _usable_key(await self.store.get_key(claims.key_id), kind=None)
        if self.settings.sessions.single_use and not await self.store.consume_session_id(claims.jti, claims.expires_at):
            raise SessionError("session.used", "this single-use session has already been used")
        return VerificationFacts.valid(claims.platform, claims.tier, signals=claims.signals, key_id=claims.key_id)

    async def _issue_session(self, facts: VerificationFacts, *, subject: str | None, now: datetime) -> IssuedSession:
        assert facts.platform is not None
        return await self.session_keys.issue(
            subject=subject,
            platform=facts.platform,
            key_id=facts.key_id,
            tier=facts.tier,
            signals=facts.signals,
            now=now,
        )

    # --- the key registry ---

    async def list_keys(self, *, subject: str | None = None) -> list[KeyRecord]:
        check_subject(subject)
        return await self.store.list_keys(subject=subject)

    async def revoke_key(self, key_id: bytes) -> None:
        if not await self.store.revoke_key(key_id, self.now()):
            raise KeyRegistryError("key.unknown", "no key with this id is registered")

    def jwks(self) -> dict[str, object]:
        return self.session_keys.jwks(self.now())

    # --- events ---

    async def _record(self, action: str, decision: Decision, *, subject: str | None, started: float) -> None:
        event = EventRecord(
            at=self.now(),
            action=action,
            platform=decision.platform.value if decision.platform else None,
            outcome=decision.outcome.value,
            tier=decision.tier.value,
            reasons=decision.reasons,
            enforced=decision.enforced,
            latency_ms=(time.perf_counter() - started) * 1000,
            key_id=decision.key_id,
            subject=subject,
        )
        try:
            await self.store.record_event(event)
        except UnavailableError:
            # The decision stands (the caller acts on it); only its audit record is lost, and said so.
            logger.warning("event not recorded: storage unavailable", extra={"action": action})
        logger.info(
            "decision",
            extra={
                "action": action,
                "outcome": event.outcome,
                "tier": event.tier,
                "platform": event.platform,
                "reasons": list(event.reasons),
                "enforced": event.enforced,
            },
        )

    # --- configuration guards ---

    def _require_apple(self) -> AppleVerifier:
        if self.apple is None:
            raise ConfigError("config.invalid", "no [apple] section: this service does not accept App Attest keys")
        return self.apple

    def _require_android(self) -> AndroidVerifier:
        if self.android is None:
            raise ConfigError("config.invalid", "no [android] section: this service does not accept Android proofs")
        return self.android

    def _require_apple_for_proof(self) -> AppleVerifier:
        if self.apple is None:
            raise AppleError("apple.not_configured", "this service has no [apple] app: iOS proofs cannot verify")
        return self.apple

    def _require_android_for_proof(self) -> AndroidVerifier:
        if self.android is None:
            raise PlayIntegrityError("play.not_configured", "this service has no [android] app: tokens cannot verify")
        return self.android


def _verify_attestation(
    apple: AppleVerifier, *, key_id: bytes, attestation: bytes, challenge: str, now: datetime
) -> tuple[AttestedKey, str]:
    """Verify for the configured bundle id that owns the key (rpIdHash names exactly one)."""
    mismatch: AppleError | None = None
    for app in apple.apps:
        try:
            attested = verify_attestation(
                attestation, key_id=key_id, app=app, challenge=challenge, now=now, trust_roots=apple.trust_roots
            )
        except AppleError as error:
            if error.code != "apple.app_id_mismatch":
                raise
            mismatch = error
            continue
        return attested, app.bundle_id
    raise mismatch or AppleError("apple.app_id_mismatch", "no bundle id is configured")


def payload_challenge(payload: str) -> str:
    """The ``challenge`` member of a payload-mode JSON text."""
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_CHARS:
        raise InputError("input.malformed", f"payload must be a JSON text of at most {MAX_PAYLOAD_CHARS} characters")
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise InputError("input.malformed", "payload is not JSON") from exc
    challenge = document.get("challenge") if isinstance(document, dict) else None
    if not isinstance(challenge, str):
        raise InputError("input.malformed", "payload has no string member 'challenge'")
    return challenge


def _usable_key(key: KeyRecord | None, *, kind: KeyKind | None) -> KeyRecord:
    if key is None or (kind is not None and key.kind is not kind):
        raise KeyRegistryError("key.unknown", "no key with this id is registered")
    if key.status is KeyStatus.REVOKED:
        raise KeyRegistryError("key.revoked", "the key has been revoked")
    return key


def _check_counter_update(update: CounterUpdate) -> None:
    if update is CounterUpdate.ADVANCED:
        return
    if update is CounterUpdate.REVOKED:
        raise KeyRegistryError("key.revoked", "the key was revoked while this request was verified")
    if update is CounterUpdate.SKIPPED:
        # The challenge was not usable, so the counter was left alone (accept_challenge said why first).
        raise ChallengeError("challenge.unknown", "the challenge was never issued or has already been used")
    if update is CounterUpdate.UNKNOWN_KEY:
        raise KeyRegistryError("key.unknown", "the key was removed while this request was verified")
    raise AppleError("apple.counter_not_increasing", "another request already used this counter value")


def _platform_of(header: str | bytes | None) -> Platform | None:
    """The platform a header claims, for the event log of a proof that did not parse or verify."""
    if header is None:
        return None
    text = header.decode("latin-1") if isinstance(header, bytes) else header
    if "platform=ios" in text:
        return Platform.IOS
    if "platform=android" in text:
        return Platform.ANDROID
    return None
