"""Django: a middleware and a ``@require_integrity("redeem")`` view decorator; the decision is on
``request.integrity``. Settings in ``settings.py``::

    APP_INTEGRITY = {
        "config": BASE_DIR / "app-integrity.toml",   # or "url": "http://127.0.0.1:8000" (a separate service)
        "prefix": "/integrity",                       # serve the service's own routes under it
        "routes": {"POST /api/redeem": "redeem"},     # protect by path in the middleware (optional)
    }
    MIDDLEWARE = [..., "app_integrity.integrations.django.AppIntegrityMiddleware"]

Verification runs on the service's event loop through the blocking facade (``app_integrity.service.blocking``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse

from app_integrity.integrations._sync import SyncIntegrity
from app_integrity.integrations.core import (
    HEADER_NAME,
    IntegrationConfig,
    Refusal,
    asgi_target,
    wsgi_target,
)

F = TypeVar("F", bound=Callable[..., HttpResponse])
SETTING = "APP_INTEGRITY"

_lock = threading.Lock()
_current: SyncIntegrity | None = None


def integrity() -> SyncIntegrity:
    """The process's integration, built from ``settings.APP_INTEGRITY`` on first use."""
    global _current
    with _lock:
        if _current is None:
            options = getattr(django_settings, SETTING, None) or {}
            _current = SyncIntegrity(IntegrationConfig.from_mapping(options))
        return _current


def reset() -> None:
    """Close the integration; the next request builds it again from the settings (tests, reloads)."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None:
        current.close()


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting == SETTING:
        reset()


setting_changed.connect(_on_setting_changed)


def _target(request: HttpRequest) -> str:
    scope = getattr(request, "scope", None)
    return asgi_target(scope) if isinstance(scope, dict) else wsgi_target(request.META)


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def _response(refusal: Refusal) -> HttpResponse:
    return HttpResponse(refusal.body, status=refusal.status, content_type=refusal.content_type)


def check(request: HttpRequest, action: str, *, subject: str | None = None) -> HttpResponse | None:
    """Decide ``request`` for ``action``: sets ``request.integrity``; returns the refusal to send, if any."""
    # The WSGI / ASGI server has already joined repeated field lines with ", ".
    value = request.headers.get(HEADER_NAME)
    decision, refusal = integrity().check(
        action=action,
        method=request.method or "GET",
        target=_target(request),
        body=lambda: request.body,
        content_length=_content_length(request),
        header=value,
        subject=subject,
    )
    vars(request)["integrity"] = decision
    return _response(refusal) if refusal is not None else None


def require_integrity(action: str, *, subject: Callable[[HttpRequest], str | None] | None = None) -> Callable[[F], F]:
    """Protect a view: a block in enforce mode is a 403 problem+json; else the view runs with ``request.integrity``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            refused = check(request, action, subject=subject(request) if subject else None)
            if refused is not None:
                return refused
            return view(request, *args, **kwargs)

        return cast(F, wrapper)

    return decorate


class AppIntegrityMiddleware:
    """Serves the service's routes under ``prefix``, protects the ``routes`` it is given, and sets
    ``request.integrity`` (None on unprotected routes)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        vars(request)["integrity"] = None
        options = getattr(django_settings, SETTING, None) or {}
        prefix = options.get("prefix")
        if prefix and (request.path_info == prefix or request.path_info.startswith(prefix + "/")):
            return self._serve_service(request)
        action = _route_action(options.get("routes") or {}, request)
        if action is not None:
            refused = check(request, action)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _serve_service(self, request: HttpRequest) -> HttpResponse:
        environ = dict(request.META)
        environ["wsgi.input"] = _Body(request.body)
        environ["CONTENT_LENGTH"] = str(len(request.body))
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers

        body = b"".join(integrity().serve_service(environ, start_response))
        response = HttpResponse(body, status=captured["status"])
        for name, value in captured["headers"]:
            if name.lower() != "content-length":
                response[name] = value
        return response


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, size: int = -1) -> bytes:
        data, self._data = (self._data, b"") if size < 0 else (self._data[:size], self._data[size:])
        return data


def _route_action(routes: dict[str, str], request: HttpRequest) -> str | None:
    for pattern, action in routes.items():
        method, _, path = pattern.strip().rpartition(" ")
        if method and method.upper() != request.method:
            continue
        if request.path_info == path or (path.endswith("*") and request.path_info.startswith(path[:-1])):
            return action
    return None


__all__ = ["AppIntegrityMiddleware", "check", "integrity", "require_integrity", "reset"]
