"""What every framework integration shares: request facts from a framework request, a verifier (the service in
process, or a remote ``app-integrity serve``), and the decision turned into a framework-neutral answer.

No verification logic lives here: ``IntegrityService.verify`` decides. The integrations only say which bytes the
app signed (method as sent, the raw request target, the body as received) and act on the ``Decision``.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from app_integrity.config import Settings, load_config
from app_integrity.errors import ConfigError, UnavailableError
from app_integrity.policy import Decision, Outcome, Platform, Tier
from app_integrity.server.problems import problem, problem_for
from app_integrity.service.core import IntegrityService, RequestFacts

HEADER_NAME = "App-Integrity"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# RFC 3986 §2.2-2.3: characters a path may carry unescaped; everything else was percent-encoded on the wire.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class Verifier(Protocol):
    """Anything that decides a protected request: ``IntegrityService`` or ``RemoteVerifier``."""

    async def verify(
        self, *, action: str, request: RequestFacts, header: str | bytes | None, subject: str | None = None
    ) -> Decision: ...


def join_header_lines(lines: Iterable[str]) -> str | None:
    """Every ``App-Integrity`` field line joined (RFC 9110 §5.3), so a repeated member is seen, not dropped."""
    values = list(lines)
    return ", ".join(values) if values else None


def asgi_target(scope: Mapping[str, Any]) -> str:
    """The request target as sent: ASGI ``raw_path`` (undecoded) and ``query_string``."""
    raw_path: bytes = scope.get("raw_path") or quote(scope["path"].encode("utf-8"), safe=_PATH_SAFE).encode("ascii")
    query: bytes = scope.get("query_string", b"")
    return raw_path.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")


def wsgi_target(environ: Mapping[str, Any]) -> str:
    """The request target as sent, from a WSGI environ.

    Servers that keep the raw target say so (``RAW_URI``: gunicorn, Werkzeug; ``REQUEST_URI``: uWSGI, Werkzeug).
    Otherwise PEP 3333 only has ``SCRIPT_NAME`` + ``PATH_INFO`` percent-decoded: they are re-encoded (a target the
    app percent-encoded canonically comes back identical) and ``QUERY_STRING`` is appended as sent.
    """
    for key in ("RAW_URI", "REQUEST_URI"):
        raw = environ.get(key)
        if isinstance(raw, str) and raw.startswith("/"):
            return raw
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
    # PEP 3333: native strings carry the request's bytes as latin-1.
    target = quote(path.encode("latin-1"), safe=_PATH_SAFE)
    query = environ.get("QUERY_STRING", "")
    return target + ("?" + query if query else "")


def request_facts(method: str, target: str, body: bytes) -> RequestFacts:
    return RequestFacts.from_body(method, target, body)


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP answer the integration sends instead of calling the view: a problem+json document."""

    status: int
    body: bytes
    content_type: str = "application/problem+json"


def refusal_for(decision: Decision) -> Refusal | None:
    """Enforce mode: a block is 403 problem+json naming its first reason. Limit and observe pass (None)."""
    if not decision.blocks:
        return None
    code = decision.reasons[0] if decision.reasons else "policy.below_limit"
    response = problem(403, code, f"the request was refused: {', '.join(decision.reasons) or code}")
    return Refusal(response.status_code, bytes(response.body))


def refusal_for_error(error: UnavailableError) -> Refusal:
    """The verifier could not answer at all (a remote service down): 503 with its code."""
    response = problem_for(error)
    return Refusal(response.status_code, bytes(response.body))


def too_large(limit: int) -> Refusal:
    response = problem(413, "input.too_large", f"request body exceeds {limit} bytes")
    return Refusal(response.status_code, bytes(response.body))


class RemoteVerifier:
    """Decide through a separate ``app-integrity serve``: ``POST {url}/v1/verify`` (DESIGN.md §3.7)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    async def verify(
        self, *, action: str, request: RequestFacts, header: str | bytes | None, subject: str | None = None
    ) -> Decision:
        payload: dict[str, Any] = {
            "action": action,
            "request": {"method": request.method, "path": request.path_and_query, "bodySha256": request.body_sha256},
        }
        if header is not None:
            payload["header"] = header.decode("latin-1") if isinstance(header, bytes) else header
        if subject is not None:
            payload["subject"] = subject
        try:
            response = await self._client.post("/v1/verify", json=payload)
        except httpx.HTTPError as exc:
            raise UnavailableError("verify.unavailable", f"the app-integrity service did not answer: {exc}") from exc
        if response.status_code != 200:
            raise UnavailableError("verify.unavailable", f"the app-integrity service answered {response.status_code}")
        return decision_from_json(response.json())

    async def aclose(self) -> None:
        await self._client.aclose()


def decision_from_json(document: Any) -> Decision:
    """A ``/v1/verify`` response body back into a ``Decision``."""
    try:
        key_id = document["keyId"]
        return Decision(
            outcome=Outcome(document["outcome"]),
            tier=Tier(document["tier"]),
            reasons=tuple(str(reason) for reason in document["reasons"]),
            platform=Platform(document["platform"]) if document["platform"] else None,
            key_id=base64.b64decode(key_id) if key_id else None,
            enforced=bool(document["enforced"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnavailableError("verify.unavailable", "the app-integrity service answered an unexpected body") from exc


@dataclass(frozen=True, slots=True)
class IntegrationConfig:
    """Where decisions come from: a configuration (the service in this process) or a remote service URL."""

    settings: Settings | None = None
    url: str | None = None
    token: str | None = None
    prefix: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def build(
        cls,
        *,
        config: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        url: str | None = None,
        token: str | None = None,
        prefix: str | None = None,
        emulated: bool = False,
        max_body_bytes: int | None = None,
    ) -> IntegrationConfig:
        if url is not None and (config is not None or settings is not None):
            raise ConfigError("config.invalid", "app_integrity: give either url (remote) or config/settings, not both")
        if url is not None and prefix is not None:
            raise ConfigError(
                "config.invalid", "app_integrity: prefix mounts the service's routes; remote mode has none"
            )
        if url is None and settings is None:
            settings = load_config(Path(config) if config is not None else None, emulated=emulated)
        if prefix is not None and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ConfigError("config.invalid", "app_integrity: prefix starts with '/' and does not end with one")
        limit = max_body_bytes or (settings.server.max_body_bytes if settings else DEFAULT_MAX_BODY_BYTES)
        return cls(settings=settings, url=url, token=token, prefix=prefix, max_body_bytes=limit)

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> IntegrationConfig:
        """From a settings mapping (Django's ``APP_INTEGRITY``): config (or a ``Settings`` as settings), url, token,
        prefix, emulated, max_body_bytes; routes is the Django middleware's."""
        known = {"config", "settings", "url", "token", "prefix", "emulated", "max_body_bytes", "routes"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError("config.invalid", f"APP_INTEGRITY: unknown key(s) {', '.join(unknown)}")
        return cls.build(
            config=options.get("config"),
            settings=options.get("settings"),
            url=options.get("url"),
            token=options.get("token"),
            prefix=options.get("prefix"),
            emulated=bool(options.get("emulated", False)),
            max_body_bytes=options.get("max_body_bytes"),
        )


@dataclass(frozen=True, slots=True)
class AsgiResponse:
    status: int
    headers: Sequence[tuple[bytes, bytes]]
    body: bytes


async def call_asgi(
    app: Any,
    *,
    method: str,
    path: str,
    raw_path: bytes,
    query_string: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    root_path: str = "",
) -> AsgiResponse:
    """Run one HTTP request through an ASGI app and collect its response (the WSGI bridge to the service)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "query_string": query_string,
        "root_path": root_path,
        "headers": list(headers),
        "client": None,
        "server": None,
    }
    sent = False
    status = 500
    out_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            out_headers.extend((bytes(k), bytes(v)) for k, v in message.get("headers", ()))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, send)
    return AsgiResponse(status, out_headers, b"".join(chunks))


class IntegrityRuntime:
    """An ``IntegrationConfig`` opened: the verifier, and the service's own ASGI app for mounting its routes.

    Opened lazily on first use, on the event loop that uses it (the request's loop, or the blocking facade's).
    """

    def __init__(
        self,
        config: IntegrationConfig,
        *,
        service: IntegrityService | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self._given = service
        self._transport = transport
        self._service: IntegrityService | None = None
        self._remote: RemoteVerifier | None = None
        self._asgi: Any = None
        self._lock: asyncio.Lock | None = None

    async def open(self) -> None:
        if self._service is not None or self._remote is not None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._service is not None or self._remote is not None:
                return
            if self.config.url is not None:
                self._remote = RemoteVerifier(self.config.url, token=self.config.token, transport=self._transport)
                return
            if self._given is not None:
                self._service = self._given
                return
            from app_integrity.service.factory import open_service

            assert self.config.settings is not None
            self._service = await open_service(self.config.settings)

    async def verifier(self) -> Verifier:
        await self.open()
        if self._remote is not None:
            return self._remote
        assert self._service is not None
        return self._service

    async def service_app(self) -> Any:
        """The service's own routes (``create_app``) over this runtime's service, for mounting under a prefix."""
        await self.open()
        if self._service is None or self.config.settings is None:
            raise ConfigError("config.invalid", "app_integrity: remote mode has no service routes to mount")
        if self._asgi is None:
            from app_integrity.server.app import create_app

            self._asgi = create_app(self.config.settings, service=self._service)
        return self._asgi

    async def decide(
        self, *, action: str, method: str, target: str, body: bytes, header: str | None, subject: str | None = None
    ) -> Decision:
        verifier = await self.verifier()
        return await verifier.verify(
            action=action, request=request_facts(method, target, body), header=header, subject=subject
        )

    async def aclose(self) -> None:
        remote, service = self._remote, self._service
        self._remote = self._service = None
        self._asgi = None
        if remote is not None:
            await remote.aclose()
        if service is not None and self._given is None:
            await service.aclose()


__all__ = [
    "HEADER_NAME",
    "AsgiResponse",
    "IntegrationConfig",
    "IntegrityRuntime",
    "Refusal",
    "RemoteVerifier",
    "Verifier",
    "asgi_target",
    "call_asgi",
    "decision_from_json",
    "join_header_lines",
    "refusal_for",
    "request_facts",
    "wsgi_target",
]
