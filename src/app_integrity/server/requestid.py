"""The request id: the caller's ``X-Request-Id`` when it is a sane token, else a fresh one; returned in the
response's ``X-Request-Id`` and carried to the decision's event and log line."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app_integrity.observe.context import accept_request_id, set_request_id

HEADER = "x-request-id"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = [value for name, value in scope["headers"] if name == HEADER.encode()]
        # Exactly one well-formed value is kept; anything else gets an id of ours.
        value = accept_request_id(incoming[0].decode("latin-1") if len(incoming) == 1 else None)
        set_request_id(value)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            set_request_id(None)
