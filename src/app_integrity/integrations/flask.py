"""Flask: ``AppIntegrity(app)`` and ``@integrity.require("redeem")``; the decision is on ``flask.g.integrity``.

```python
integrity = AppIntegrity(app, config="app-integrity.toml", prefix="/integrity")

@app.post("/redeem")
@integrity.require("redeem")
def redeem(): ...
```

Verification runs on the service's event loop through the blocking facade (``app_integrity.service.blocking``).
With ``prefix``, the service's own routes are served under it by the same WSGI app.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from flask import Flask, Response, g, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from app_integrity.config import Settings
from app_integrity.errors import ConfigError
from app_integrity.integrations._sync import SyncIntegrity
from app_integrity.integrations.core import HEADER_NAME, IntegrationConfig, Refusal, join_header_lines, wsgi_target

F = TypeVar("F", bound=Callable[..., Any])
EXTENSION_KEY = "app_integrity"


class AppIntegrity:
    """The extension. Options as keyword arguments, else from ``app.config["APP_INTEGRITY"]`` (a dict with
    ``config``, ``url``, ``token``, ``prefix``, ``emulated``)."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        config: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        url: str | None = None,
        token: str | None = None,
        prefix: str | None = None,
        emulated: bool = False,
    ) -> None:
        self._options: dict[str, Any] = {
            "config": config,
            "settings": settings,
            "url": url,
            "token": token,
            "prefix": prefix,
            "emulated": emulated,
        }
        self._sync: SyncIntegrity | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        options = dict(self._options)
        from_app: Mapping[str, Any] = app.config.get("APP_INTEGRITY") or {}
        if from_app and not any(value for value in options.values()):
            config = IntegrationConfig.from_mapping(from_app)
        else:
            config = IntegrationConfig.build(**options)
        self._sync = SyncIntegrity(config)
        app.extensions[EXTENSION_KEY] = self
        if config.prefix is not None:
            mounts = cast(dict[str, Any], {config.prefix: self._sync.serve_service})
            # Flask's documented way to wrap the WSGI app; an instance attribute shadows the method.
            object.__setattr__(app, "wsgi_app", DispatcherMiddleware(app.wsgi_app, mounts))

    @property
    def sync(self) -> SyncIntegrity:
        if self._sync is None:
            raise ConfigError("config.invalid", "app_integrity: call init_app(app) first")
        return self._sync

    def require(self, action: str, *, subject: Callable[[], str | None] | None = None) -> Callable[[F], F]:
        """Protect a view: a block in enforce mode is a 403 problem+json; else the view runs with ``g.integrity``."""

        def decorate(view: F) -> F:
            @functools.wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                decision, refusal = self.sync.check(
                    action=action,
                    method=request.method,
                    target=wsgi_target(request.environ),
                    body=lambda: request.get_data(cache=True),
                    content_length=request.content_length,
                    header=join_header_lines(request.headers.getlist(HEADER_NAME)),
                    subject=subject() if subject else None,
                )
                g.integrity = decision
                if refusal is not None:
                    return _flask_response(refusal)
                return view(*args, **kwargs)

            return cast(F, wrapper)

        return decorate

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()


def _flask_response(refusal: Refusal) -> Response:
    return Response(refusal.body, status=refusal.status, content_type=refusal.content_type)


__all__ = ["AppIntegrity"]
