"""Bearer tokens for the admin routes and, optionally, for ``/v1/verify``. Compared in constant time.

The checks are ``async`` although they never wait: FastAPI runs a plain ``def`` dependency in a worker thread,
a thread hop on every request (measured under load: the costliest step of ``/v1/verify`` before its handler ran).
"""

from __future__ import annotations

import hmac

from fastapi import Request

from app_integrity.config import Settings
from app_integrity.errors import AccessError


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


async def require_admin(request: Request) -> None:
    """Admin routes: 403 ``admin.disabled`` when no admin token is configured, 401 for a wrong or missing one."""
    settings: Settings = request.app.state.settings
    expected = settings.server.admin_token
    if not expected:
        raise AccessError(
            "admin.disabled", f"admin routes are disabled: set {settings.server.admin_token_env} to enable them"
        )
    if not _matches(_bearer(request), expected):
        raise AccessError("admin.unauthorized", "a valid admin bearer token is required")


async def require_verify_caller(request: Request) -> None:
    """``/v1/verify`` is open unless ``[server] verify_token_env`` names a token; then callers must present it."""
    settings: Settings = request.app.state.settings
    expected = settings.server.verify_token
    if expected and not _matches(_bearer(request), expected):
        raise AccessError("verify.unauthorized", "a valid bearer token is required to call /v1/verify")
