"""A FastAPI app protecting two routes, with the service's own routes under /integrity in the same process.

Run (emulated devices, state in .app-integrity/):  .venv/bin/uvicorn examples.fastapi_app:app --port 8001
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request

from app_integrity.config import Settings
from app_integrity.integrations.fastapi import AppIntegrity, IntegrityMiddleware, require_integrity
from app_integrity.policy import Decision


def build_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="coupons")
    # Without settings: APP_INTEGRITY_CONFIG, else the embedded default, trusting the emulated devices.
    AppIntegrity(app, settings=settings, emulated=settings is None, prefix="/integrity")
    # Protect by path, without touching the endpoint:
    app.add_middleware(IntegrityMiddleware, routes={"POST /api/feedback": "feedback"})

    @app.post("/api/redeem")
    async def redeem(
        body: dict[str, Any], decision: Annotated[Decision, Depends(require_integrity("redeem"))]
    ) -> dict[str, Any]:
        # A limit lets the request through with the decision attached: act on it (smaller quota, a CAPTCHA).
        quota = 1 if decision.outcome == "limit" else 10
        return {"coupon": body.get("coupon"), "quota": quota, "outcome": decision.outcome.value}

    @app.post("/api/profile")
    async def profile(
        request: Request, decision: Annotated[Decision, Depends(require_integrity("profile"))]
    ) -> dict[str, str]:
        # A form body, read after verification: the dependency left it in place.
        form = parse_qs((await request.body()).decode("utf-8"))
        return {"name": form["name"][0], "outcome": decision.outcome.value}

    @app.post("/api/feedback")
    async def feedback(request: Request) -> dict[str, Any]:
        decision: Decision = request.state.integrity
        return {"received": len(await request.body()), "outcome": decision.outcome.value}

    return app


app = build_app()
