"""The integrations of synchronous frameworks (Flask, Django): the shared runtime behind the blocking facade, and
the service's own routes served to WSGI through it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

from app_integrity.errors import UnavailableError
from app_integrity.integrations.core import (
    AsgiResponse,
    IntegrationConfig,
    IntegrityRuntime,
    Refusal,
    call_asgi,
    refusal_for,
    refusal_for_error,
    too_large,
    wsgi_target,
)
from app_integrity.policy import Decision
from app_integrity.service.blocking import BlockingRunner

StartResponse = Callable[..., Any]


class SyncIntegrity:
    """One runtime per web app, on one background event loop shared by every request thread."""

    def __init__(self, config: IntegrationConfig) -> None:
        self.config = config
        self.runtime = IntegrityRuntime(config)
        self._runner = BlockingRunner()

    def check(
        self,
        *,
        action: str,
        method: str,
        target: str,
        body: Callable[[], bytes],
        content_length: int | None,
        header: str | None,
        subject: str | None = None,
    ) -> tuple[Decision | None, Refusal | None]:
        """Decide one request: the decision (None when none could be made) and the refusal to send, if any."""
        limit = self.config.max_body_bytes
        if content_length is not None and content_length > limit:
            return None, too_large(limit)
        data = body()
        if len(data) > limit:
            return None, too_large(limit)
        try:
            decision = self._runner.call(_decide, self.runtime, action, method, target, data, header, subject)
        except UnavailableError as error:
            return None, refusal_for_error(error)
        return decision, refusal_for(decision)

    def serve_service(self, environ: Mapping[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A WSGI app answering the service's own routes (mounted under ``config.prefix``) through the ASGI app."""
        prefix = self.config.prefix or ""
        path_info: str = environ.get("PATH_INFO", "")
        script: str = environ.get("SCRIPT_NAME", "")
        if prefix and script.endswith(prefix):
            # Mounted by a dispatcher that already moved the prefix to SCRIPT_NAME.
            script = script[: -len(prefix)]
        elif prefix and path_info.startswith(prefix):
            path_info = path_info[len(prefix) :]
        target = wsgi_target(environ)
        raw_path, _, query = target.partition("?")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.config.max_body_bytes:
            refusal = too_large(self.config.max_body_bytes)
            start_response(f"{refusal.status} Payload Too Large", [("Content-Type", refusal.content_type)])
            return [refusal.body]
        body = environ["wsgi.input"].read(length) if length else b""
        headers = [
            (key[5:].replace("_", "-").lower().encode("latin-1"), str(value).encode("latin-1"))
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        if environ.get("CONTENT_TYPE"):
            headers.append((b"content-type", str(environ["CONTENT_TYPE"]).encode("latin-1")))
        headers.append((b"content-length", str(len(body)).encode("ascii")))
        response: AsgiResponse = self._runner.call(
            _call_service,
            self.runtime,
            environ.get("REQUEST_METHOD", "GET"),
            path_info or "/",
            raw_path.encode("latin-1"),
            query.encode("latin-1"),
            headers,
            body,
        )
        start_response(
            f"{response.status} {_reason(response.status)}",
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers],
        )
        return [response.body]

    def close(self) -> None:
        try:
            self._runner.call(self.runtime.aclose)
        finally:
            self._runner.close()


async def _decide(
    runtime: IntegrityRuntime,
    action: str,
    method: str,
    target: str,
    body: bytes,
    header: str | None,
    subject: str | None,
) -> Decision:
    return await runtime.decide(action=action, method=method, target=target, body=body, header=header, subject=subject)


async def _call_service(
    runtime: IntegrityRuntime,
    method: str,
    path: str,
    raw_path: bytes,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> AsgiResponse:
    app = await runtime.service_app()
    return await call_asgi(
        app, method=method, path=path, raw_path=raw_path, query_string=query, headers=headers, body=body
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
