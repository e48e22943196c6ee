"""A Flask app protecting a route, with the service's own routes under /integrity in the same process.

Run (emulated devices, state in .app-integrity/):  .venv/bin/flask --app examples.flask_app run --port 8002
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request

from app_integrity.config import Settings
from app_integrity.integrations.flask import AppIntegrity


def build_app(settings: Settings | None = None) -> Flask:
    app = Flask(__name__)
    # Without settings: APP_INTEGRITY_CONFIG, else the embedded default, trusting the emulated devices.
    integrity = AppIntegrity(app, settings=settings, emulated=settings is None, prefix="/integrity")

    @app.post("/api/redeem")
    @integrity.require("redeem")
    def redeem() -> dict[str, Any]:
        # A limit lets the request through with the decision attached: act on it (smaller quota, a CAPTCHA).
        quota = 1 if g.integrity.outcome == "limit" else 10
        return {"coupon": request.get_json()["coupon"], "quota": quota, "outcome": g.integrity.outcome.value}

    @app.post("/api/profile")
    @integrity.require("profile")
    def profile() -> dict[str, Any]:
        return {"name": request.form["name"], "outcome": g.integrity.outcome.value}

    @app.post("/api/browse")
    @integrity.require("browse")
    def browse() -> dict[str, Any]:
        return {"outcome": g.integrity.outcome.value, "enforced": g.integrity.enforced}

    return app


app = build_app()
