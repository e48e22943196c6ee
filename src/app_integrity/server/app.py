"""The HTTP service (``app-integrity serve``): the v1 routes of DESIGN.md §3 over one ``IntegrityService``."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse

from app_integrity._encoding import b64_standard, decode_base64
from app_integrity.config import Settings
from app_integrity.errors import AppIntegrityError, InputError
from app_integrity.observe.metrics import exposition
from app_integrity.policy import Decision
from app_integrity.server.auth import require_admin, require_verify_caller
from app_integrity.server.dashboard.routes import install_dashboard
from app_integrity.server.limits import SizeLimitMiddleware
from app_integrity.server.problems import problem, problem_for
from app_integrity.server.requestid import RequestIdMiddleware
from app_integrity.server.retention import prune_forever
from app_integrity.server.schemas import (
    AndroidKeyRequest,
    AndroidKeyResponse,
    AppleKeyRequest,
    AppleKeyResponse,
    AssertionRequest,
    AssertionResponse,
    ChallengeRequest,
    ChallengeResponse,
    DecisionBody,
    KeyBody,
    KeyList,
    Problem,
    SessionResponse,
    VerifyRequest,
)
from app_integrity.service import IntegrityService, RequestFacts, open_service
from app_integrity.service.core import payload_challenge
from app_integrity.storage.base import KeyKind, KeyRecord

logger = logging.getLogger("app_integrity.server")

HEADER_NAME = "app-integrity"
MAX_KEY_ID_BYTES = 64
MAX_ATTESTATION_BYTES = 64 * 1024
MAX_CERTIFICATE_BYTES = 16 * 1024
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (400, 401, 403, 404, 409, 413, 431, 503)
}


def create_app(settings: Settings, *, service: IntegrityService | None = None) -> FastAPI:
    """The ASGI application. With ``service``, use it (tests, embedding); else open one from ``settings``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = service is None
        app.state.service = service if service is not None else await open_service(settings)
        if settings.emulated:
            logger.warning("EMULATED MODE: trusting emulated devices and the fake Google API, NOT Apple or Google")
        retention = (
            asyncio.create_task(prune_forever(app.state.service)) if settings.events.retention_days > 0 else None
        )
        try:
            yield
        finally:
            if retention is not None:
                retention.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retention
            if owned:
                await app.state.service.aclose()

    app = FastAPI(
        title="app-integrity",
        version="1",
        summary="Verify that requests come from a genuine app on a real device.",
        lifespan=lifespan,
        responses=PROBLEMS,
    )
    app.state.settings = settings
    if service is not None:
        # Available before (and without) the lifespan, for in-process clients such as httpx.ASGITransport.
        app.state.service = service
    app.add_middleware(SizeLimitMiddleware, max_body_bytes=settings.server.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)  # outermost: every answer, even a 413, carries the id
    _install_error_handlers(app)
    if settings.emulated:
        _mark_emulated(app)
    _install_routes(app)
    install_dashboard(app)
    return app


async def _service(request: Request) -> IntegrityService:
    # async: FastAPI would run a plain ``def`` dependency in a worker thread, a hop on every request.
    service: IntegrityService = request.app.state.service
    return service


ServiceDep = Annotated[IntegrityService, Depends(_service)]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppIntegrityError)
    async def on_error(request: Request, error: AppIntegrityError) -> JSONResponse:
        return problem_for(error)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        # A bug, never an answer about the proof: logged with its traceback, answered as problem+json.
        logger.exception("unexpected error", extra={"path": request.url.path})
        return problem(500, "internal.error", "the service failed unexpectedly; the error was logged")

    @app.exception_handler(RequestValidationError)
    async def on_invalid_body(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return problem(400, "input.malformed", f"{where or 'body'}: {first.get('msg', 'invalid')}")


def _mark_emulated(app: FastAPI) -> None:
    @app.middleware("http")
    async def emulated_warning(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["App-Integrity-Mode"] = "emulated; trusts emulated devices, not Apple or Google"
        return response


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _request_facts(request: Request) -> RequestFacts:
    """The request as the app signed it: method as sent, raw target (no normalisation), body as received."""
    raw_path: bytes = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    query: bytes = request.scope.get("query_string", b"")
    target = raw_path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")
    body: bytes = getattr(request.state, "raw_body", b"")
    return RequestFacts.from_body(request.scope["method"], target, body)


def integrity_header(request: Request) -> str | None:
    """Every ``App-Integrity`` field line joined (RFC 9110 §5.3), so a repeated member is seen, not dropped."""
    lines = request.headers.getlist(HEADER_NAME)
    return ", ".join(lines) if lines else None


def _key_id(value: str) -> bytes:
    return decode_base64(value, field="keyId", max_bytes=MAX_KEY_ID_BYTES)


def _decision_body(decision: Decision) -> DecisionBody:
    return DecisionBody.model_validate(decision.to_json())


def _key_body(record: KeyRecord) -> KeyBody:
    return KeyBody(
        keyId=b64_standard(record.key_id),
        platform="ios" if record.kind is KeyKind.APPLE else "android",
        environment=record.environment,
        tier=record.tier,
        subject=record.subject,
        status="revoked" if record.status.value == "revoked" else "active",
        counter=record.counter,
        createdAt=_rfc3339(record.created_at),
        lastSeenAt=_rfc3339(record.last_seen_at) if record.last_seen_at else None,
    )


def _install_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    @app.post("/v1/challenges", status_code=201, tags=["protocol"])
    async def issue_challenge(service: ServiceDep, body: ChallengeRequest | None = None) -> ChallengeResponse:
        body = body or ChallengeRequest()
        record = await service.issue_challenge(subject=body.subject, purpose=body.purpose)
        return ChallengeResponse(challenge=record.value, expiresAt=_rfc3339(record.expires_at))

    @app.post("/v1/apple/keys", status_code=201, tags=["protocol"])
    async def register_apple_key(service: ServiceDep, body: AppleKeyRequest) -> AppleKeyResponse:
        record = await service.register_apple_key(
            key_id=_key_id(body.keyId),
            attestation=decode_base64(body.attestation, field="attestation", max_bytes=MAX_ATTESTATION_BYTES),
            challenge=body.challenge,
            subject=body.subject,
        )
        return AppleKeyResponse(keyId=b64_standard(record.key_id), environment=record.environment or "production")

    @app.post("/v1/android/keys", status_code=201, tags=["protocol"])
    async def register_android_key(service: ServiceDep, body: AndroidKeyRequest) -> AndroidKeyResponse:
        chain = [decode_base64(c, field="chain[]", max_bytes=MAX_CERTIFICATE_BYTES) for c in body.chain]
        registration = await service.register_android_key(chain=chain, challenge=body.challenge, subject=body.subject)
        session = registration.session
        return AndroidKeyResponse(
            keyId=b64_standard(registration.key.key_id),
            tier=registration.key.tier or "none",
            session=session.token if session else None,
            expiresAt=_rfc3339(session.expires_at) if session else None,
        )

    @app.post("/v1/sessions", status_code=201, tags=["protocol"])
    async def exchange_session(request: Request, service: ServiceDep) -> SessionResponse:
        exchange = await service.exchange_session(request=_request_facts(request), header=integrity_header(request))
        if exchange.session is None:
            reason = exchange.decision.reasons[0] if exchange.decision.reasons else "policy.below_limit"
            raise _SessionRefusedError(reason)
        return SessionResponse(session=exchange.session.token, expiresAt=_rfc3339(exchange.session.expires_at))

    @app.post("/v1/verify", tags=["protocol"], dependencies=[Depends(require_verify_caller)])
    async def verify(service: ServiceDep, body: VerifyRequest) -> DecisionBody:
        facts = RequestFacts(body.request.method, body.request.path, body.request.bodySha256)
        decision = await service.verify(action=body.action, request=facts, header=body.header, subject=body.subject)
        return _decision_body(decision)

    @app.post("/v1/apple/assertions", tags=["protocol"])
    async def verify_payload(service: ServiceDep, body: AssertionRequest) -> AssertionResponse:
        decision = await service.verify_apple_payload(
            action=body.action,
            key_id=_key_id(body.keyId),
            assertion=decode_base64(body.assertion, field="assertion", max_bytes=MAX_ATTESTATION_BYTES),
            payload=body.payload,
            subject=body.subject,
        )
        payload: object = None
        if not decision.reasons or decision.reasons[0] != "input.malformed":
            payload_challenge(body.payload)
            payload = json.loads(body.payload)
        return AssertionResponse(decision=_decision_body(decision), payload=payload)

    @app.get("/.well-known/jwks.json", tags=["protocol"])
    async def jwks(service: ServiceDep) -> dict[str, Any]:
        return service.jwks()

    @app.get("/v1/keys", tags=["admin"], dependencies=[Depends(require_admin)])
    async def list_keys(
        service: ServiceDep, subject: Annotated[str | None, Query(min_length=1, max_length=256)] = None
    ) -> KeyList:
        return KeyList(keys=[_key_body(record) for record in await service.list_keys(subject=subject)])

    @app.delete("/v1/keys/{key_id}", status_code=204, tags=["admin"], dependencies=[Depends(require_admin)])
    async def revoke_key(service: ServiceDep, key_id: str) -> Response:
        raw = _key_id(key_id)
        if len(raw) != 32:
            raise InputError("input.malformed", "a key id is 32 bytes (base64url in paths)")
        await service.revoke_key(raw)
        return Response(status_code=204)


class _SessionRefusedError(AppIntegrityError):
    """A session request whose proof did not earn one: 403 with the first reason as code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "the proof did not earn a session under the session policy")


def key_id_in_path(key_id: bytes) -> str:
    """How a key id appears in a URL path: base64url without padding."""
    return base64.urlsafe_b64encode(key_id).rstrip(b"=").decode("ascii")
