"""FastAPI / Starlette: ``Depends(require_integrity("redeem"))``, a middleware protecting routes by action, and the
service's own routes mounted under a prefix of the same app.

```python
integrity = AppIntegrity(app, config="app-integrity.toml", prefix="/integrity")

@app.post("/redeem")
async def redeem(decision: Decision = Depends(require_integrity("redeem"))) -> dict[str, str]: ...
```
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app_integrity.config import Settings
from app_integrity.errors import ConfigError, UnavailableError
from app_integrity.integrations.core import (
    HEADER_NAME,
    IntegrationConfig,
    IntegrityRuntime,
    Refusal,
    asgi_target,
    join_header_lines,
    refusal_for,
    refusal_for_error,
    too_large,
)
from app_integrity.policy import Decision
from app_integrity.service.core import IntegrityService

STATE_KEY = "app_integrity"
BODY_KEY = "app_integrity_body"
DECISION_KEY = "integrity"
_HEADER_BYTES = HEADER_NAME.lower().encode("ascii")


class IntegrityRefusedError(Exception):
    """Raised by the dependency to refuse a request; ``AppIntegrity`` answers it with the refusal."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.status)
        self.refusal = refusal


def _response(refusal: Refusal) -> Response:
    return Response(refusal.body, status_code=refusal.status, media_type=refusal.content_type)


class AppIntegrity:
    """The integration for one Starlette / FastAPI app.

    Give ``config`` (a TOML file; ``None`` and no ``url``: ``APP_INTEGRITY_CONFIG`` or the embedded default),
    ``settings``, an open ``service``, or ``url`` (a separate ``app-integrity serve``; ``token`` its verify token).
    ``prefix`` mounts the service's routes (challenges, key registration, sessions, JWKS) under it.
    """

    def __init__(
        self,
        app: Starlette | None = None,
        *,
        config: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        service: IntegrityService | None = None,
        url: str | None = None,
        token: str | None = None,
        prefix: str | None = None,
        emulated: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if service is not None and settings is None:
            settings = service.settings
        self.config = IntegrationConfig.build(
            config=config, settings=settings, url=url, token=token, prefix=prefix, emulated=emulated
        )
        self.runtime = IntegrityRuntime(self.config, service=service, transport=transport)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Starlette) -> None:
        app.state.app_integrity = self
        app.add_exception_handler(IntegrityRefusedError, _on_refused)
        # Keep the raw body of requests that carry a proof, so form endpoints can be bound too.
        app.add_middleware(_KeepBody, max_body_bytes=self.config.max_body_bytes)
        if self.config.prefix is not None:
            app.mount(self.config.prefix, _ServiceRoutes(self.runtime))
        original = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(inner: Any) -> AsyncIterator[Any]:
            try:
                async with original(inner) as state:
                    yield state
            finally:
                await self.runtime.aclose()

        app.router.lifespan_context = lifespan

    async def aclose(self) -> None:
        await self.runtime.aclose()

    async def decide(self, scope: Scope, body: bytes, *, action: str, subject: str | None = None) -> Decision:
        headers = [value.decode("latin-1") for name, value in scope["headers"] if name == _HEADER_BYTES]
        return await self.runtime.decide(
            action=action,
            method=scope["method"],
            target=asgi_target(scope),
            body=body,
            header=join_header_lines(headers),
            subject=subject,
        )


def _integrity_of(app: Any) -> AppIntegrity:
    integrity = getattr(app.state, STATE_KEY, None)
    if not isinstance(integrity, AppIntegrity):
        raise ConfigError("config.invalid", "app_integrity: create AppIntegrity(app, ...) before protecting routes")
    return integrity


async def _on_refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, IntegrityRefusedError)
    return _response(error.refusal)


def require_integrity(
    action: str, *, subject: Callable[[Request], str | None] | None = None
) -> Callable[[Request], Awaitable[Decision]]:
    """A dependency deciding the request for ``action``: a block in enforce mode is a 403, else the ``Decision``."""

    async def dependency(request: Request) -> Decision:
        integrity = _integrity_of(request.app)
        kept = request.scope.get("state", {}).get(BODY_KEY)
        body: bytes = kept if kept is not None else await request.body()
        try:
            decision = await integrity.decide(
                request.scope, body, action=action, subject=subject(request) if subject else None
            )
        except UnavailableError as error:
            raise IntegrityRefusedError(refusal_for_error(error)) from error
        request.state.integrity = decision
        refusal = refusal_for(decision)
        if refusal is not None:
            raise IntegrityRefusedError(refusal)
        return decision

    return dependency


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _KeepBody:
    """Reads the body of a request carrying an ``App-Integrity`` header once, keeps it, and replays it."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(name == _HEADER_BYTES for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            await _response(too_large(self.max_body_bytes))(scope, receive, send)
            return
        scope.setdefault("state", {})[BODY_KEY] = body
        await self.app(scope, _replay(body, receive), send)


class IntegrityMiddleware:
    """Protects routes by action: ``routes`` maps a path (``"/redeem"``; ``"/admin/*"`` for a prefix) to an
    action, optionally as ``"POST /redeem"``. The decision is on ``request.state.integrity``."""

    def __init__(self, app: ASGIApp, *, routes: Mapping[str, str], integrity: AppIntegrity | None = None) -> None:
        self.app = app
        self.integrity = integrity
        self.routes = [_route(pattern, action) for pattern, action in routes.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        action = self._action(scope) if scope["type"] == "http" else None
        if action is None:
            await self.app(scope, receive, send)
            return
        integrity = self.integrity or _integrity_of(scope["app"])
        body = await _read_body(receive, integrity.config.max_body_bytes)
        if body is None:
            await _response(too_large(integrity.config.max_body_bytes))(scope, receive, send)
            return
        try:
            decision = await integrity.decide(scope, body, action=action)
        except UnavailableError as error:
            await _response(refusal_for_error(error))(scope, receive, send)
            return
        scope.setdefault("state", {})[DECISION_KEY] = decision
        scope["state"][BODY_KEY] = body
        refusal = refusal_for(decision)
        if refusal is not None:
            await _response(refusal)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _action(self, scope: Scope) -> str | None:
        path: str = scope["path"]
        for method, pattern, action in self.routes:
            if method is not None and method != scope["method"]:
                continue
            if path == pattern or (pattern.endswith("*") and path.startswith(pattern[:-1])):
                return action
        return None


def _route(pattern: str, action: str) -> tuple[str | None, str, str]:
    method, _, path = pattern.strip().rpartition(" ")
    return (method.upper() or None), path, action


class _ServiceRoutes:
    """The service's own ASGI app (``create_app``), opened with the runtime on first use."""

    def __init__(self, runtime: IntegrityRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        app = await self.runtime.service_app()
        await app(scope, receive, send)


__all__ = ["AppIntegrity", "IntegrityMiddleware", "IntegrityRefusedError", "require_integrity"]
