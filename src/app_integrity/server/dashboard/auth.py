"""Browser login for the dashboard, behind the admin token.

The login form posts the admin token once. The cookie then holds ``HMAC-SHA256(token, purpose)``: it proves the
holder knew the token without carrying it, and stops working when the token changes. It is HttpOnly (no script
reads it) and SameSite=Strict (no other site's page sends it). Forms that change state also carry a CSRF value,
another HMAC bound to the cookie. Every comparison is constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from app_integrity.config import Settings

COOKIE = "app_integrity_dashboard"
_SESSION_PURPOSE = b"app-integrity dashboard session v1"
_CSRF_PURPOSE = b"app-integrity dashboard csrf v1:"
MAX_TOKEN_CHARS = 4096


def admin_token(request: Request) -> str | None:
    settings: Settings = request.app.state.settings
    return settings.server.admin_token


def session_value(token: str) -> str:
    return hmac.new(token.encode(), _SESSION_PURPOSE, hashlib.sha256).hexdigest()


def token_matches(presented: str, token: str) -> bool:
    if len(presented) > MAX_TOKEN_CHARS:
        return False
    return hmac.compare_digest(presented.encode(), token.encode())


def signed_in(request: Request) -> bool:
    """A valid dashboard cookie, or the admin bearer token (scripts, curl)."""
    token = admin_token(request)
    if not token:
        return False
    cookie = request.cookies.get(COOKIE)
    if cookie is not None and hmac.compare_digest(cookie.encode(), session_value(token).encode()):
        return True
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token_matches(bearer.strip(), token)


def csrf_value(token: str) -> str:
    return hmac.new(token.encode(), _CSRF_PURPOSE + session_value(token).encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: Request, presented: str | None) -> bool:
    token = admin_token(request)
    if not token or presented is None or len(presented) > 128:
        return False
    return hmac.compare_digest(presented.encode(), csrf_value(token).encode())
