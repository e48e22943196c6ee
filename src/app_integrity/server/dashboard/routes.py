"""``/dashboard``: the overview, the events table and a key's page. Aggregates come from
``app_integrity.storage.insights`` (SQL); this module only arranges them into pages."""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from app_integrity._encoding import b64_standard
from app_integrity.config import Settings
from app_integrity.errors import ConfigError
from app_integrity.policy import Mode
from app_integrity.server.dashboard import charts
from app_integrity.server.dashboard.auth import (
    COOKIE,
    admin_token,
    csrf_ok,
    csrf_value,
    session_value,
    signed_in,
    token_matches,
)
from app_integrity.service import IntegrityService
from app_integrity.storage import insights
from app_integrity.storage.insights import Bucket, EventFilter, TimeRange
from app_integrity.storage.sql import SQLStore

RANGES: dict[str, tuple[timedelta, Bucket]] = {
    "1h": (timedelta(hours=1), Bucket.MINUTE),
    "24h": (timedelta(hours=24), Bucket.HOUR),
    "7d": (timedelta(days=7), Bucket.HOUR),
    "30d": (timedelta(days=30), Bucket.DAY),
    "90d": (timedelta(days=90), Bucket.DAY),
}
DEFAULT_RANGE = "24h"
OUTCOMES = ("allow", "limit", "block")
READY_SHARE = 0.99  # the share of allowed traffic at which an action is marked ready to enforce
MAX_FILTER_CHARS = 256
MAX_FORM_BYTES = 8192

_environment = jinja2.Environment(
    loader=jinja2.PackageLoader("app_integrity.server.dashboard", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
)


def key_path(key_id: bytes) -> str:
    return base64.urlsafe_b64encode(key_id).rstrip(b"=").decode("ascii")


def _key_from_path(value: str) -> bytes | None:
    if len(value) > 88:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


_environment.filters["key_path"] = key_path
_environment.filters["b64"] = b64_standard
_environment.filters["pct"] = lambda value: f"{value * 100:.1f}%"
_environment.filters["when"] = lambda at: at.strftime("%Y-%m-%d %H:%M:%S")


def _render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    token = admin_token(request)
    page = _environment.get_template(name).render(
        emulated=settings.emulated,
        csrf=csrf_value(token) if token else "",
        request_path=request.url.path,
        **context,
    )
    response = HTMLResponse(page, status_code=status)
    # The pages hold operational data: never cached, never framed, no script at all.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _span(service: IntegrityService, choice: str | None) -> tuple[str, TimeRange]:
    name = choice if choice in RANGES else DEFAULT_RANGE
    length, bucket = RANGES[name]
    until = service.now() + timedelta(seconds=1)
    return name, TimeRange(since=until - length, until=until, bucket=bucket)


def _filter_value(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:MAX_FILTER_CHARS] or None


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
    return {name: values[0] for name, values in fields.items() if values}


def _open_page(request: Request) -> tuple[IntegrityService, SQLStore] | Response:
    """The service and its SQL store for a data page, or the page to show instead (sign-in, or no SQL storage)."""
    if (blocked := _gate(request)) is not None:
        return blocked
    service: IntegrityService = request.app.state.service
    try:
        return service, insights.sql_store(service.store)
    except ConfigError as error:
        return _render(request, "error.html", status=501, message=error.message)


def _gate(request: Request) -> Response | None:
    """``None`` when the visitor may see the page; otherwise the page to show instead."""
    if not admin_token(request):
        settings: Settings = request.app.state.settings
        return _render(request, "disabled.html", status=403, token_env=settings.server.admin_token_env)
    if not signed_in(request):
        return RedirectResponse("/dashboard/login", status_code=303)
    return None


def install_dashboard(app: FastAPI) -> None:
    app.mount(
        "/dashboard/static",
        StaticFiles(packages=[("app_integrity.server.dashboard", "static")]),
        name="dashboard-static",
    )

    @app.get("/dashboard/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        if not admin_token(request):
            return _gate(request) or Response(status_code=403)
        return _render(request, "login.html", error=None)

    @app.post("/dashboard/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        token = admin_token(request)
        if not token:
            return _gate(request) or Response(status_code=403)
        presented = (await _form(request)).get("token", "")
        if not token_matches(presented, token):
            return _render(request, "login.html", status=401, error="That is not the admin token.")
        response = RedirectResponse("/dashboard", status_code=303)
        response.set_cookie(
            COOKIE,
            session_value(token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/dashboard",
            max_age=12 * 3600,
        )
        return response

    @app.post("/dashboard/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        if (blocked := _gate(request)) is not None:
            return blocked
        if not csrf_ok(request, (await _form(request)).get("csrf")):
            return _render(request, "error.html", status=403, message="The form expired: reload the page.")
        response = RedirectResponse("/dashboard/login", status_code=303)
        response.delete_cookie(COOKIE, path="/dashboard")
        return response

    @app.get("/dashboard", include_in_schema=False)
    async def overview(request: Request) -> Response:
        opened = _open_page(request)
        if isinstance(opened, Response):
            return opened
        service, store = opened
        range_name, span = _span(service, request.query_params.get("range"))
        return _render(
            request,
            "overview.html",
            range_name=range_name,
            ranges=list(RANGES),
            **await _overview(service, store, span),
        )

    @app.get("/dashboard/events", include_in_schema=False)
    async def events_page(request: Request) -> Response:
        opened = _open_page(request)
        if isinstance(opened, Response):
            return opened
        service, store = opened
        range_name, span = _span(service, request.query_params.get("range"))
        key_text = _filter_value(request, "key")
        key_id = _key_from_path(key_text.replace("+", "-").replace("/", "_").rstrip("=")) if key_text else None
        chosen = {name: _filter_value(request, name) for name in ("action", "outcome", "platform", "reason", "subject")}
        filters = EventFilter(
            action=chosen["action"],
            outcome=chosen["outcome"],
            platform=chosen["platform"],
            reason=chosen["reason"],
            subject=chosen["subject"],
            key_id=key_id,
        )
        invalid_key = key_text is not None and key_id is None
        rows = [] if invalid_key else await insights.recent_events(store, span, filters, limit=200)
        return _render(
            request,
            "events.html",
            range_name=range_name,
            ranges=list(RANGES),
            rows=rows,
            chosen=chosen,
            key_text=key_text or "",
            invalid_key=invalid_key,
            actions=await insights.distinct_values(store, span, "action"),
            platforms=await insights.distinct_values(store, span, "platform"),
            outcomes=OUTCOMES,
        )

    @app.get("/dashboard/keys/{key}", include_in_schema=False)
    async def key_page(request: Request, key: str) -> Response:
        opened = _open_page(request)
        if isinstance(opened, Response):
            return opened
        _, store = opened
        key_id = _key_from_path(key)
        record, history = (None, []) if key_id is None else await insights.key_with_history(store, key_id)
        if record is None:
            return _render(request, "error.html", status=404, message="No key with this id is registered.")
        return _render(
            request,
            "key.html",
            key=record,
            platform=insights.kind_label(record.kind.value),
            history=history,
            revoked=request.query_params.get("revoked") == "1",
        )

    @app.post("/dashboard/keys/{key}/revoke", include_in_schema=False)
    async def revoke(request: Request, key: str) -> Response:
        if (blocked := _gate(request)) is not None:
            return blocked
        if not csrf_ok(request, (await _form(request)).get("csrf")):
            return _render(request, "error.html", status=403, message="The form expired: reload the page.")
        key_id = _key_from_path(key)
        service: IntegrityService = request.app.state.service
        if key_id is None or not await service.store.revoke_key(key_id, service.now()):
            return _render(request, "error.html", status=404, message="No key with this id is registered.")
        return RedirectResponse(f"/dashboard/keys/{key_path(key_id)}?revoked=1", status_code=303)


async def _overview(service: IntegrityService, store: SQLStore, span: TimeRange) -> dict[str, Any]:
    series = await insights.decisions_over_time(store, span)
    keys = charts.bucket_keys(span.since, span.until, span.bucket)
    per_action: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for point in series:
        category = "would_block" if point.outcome == "block" and not point.enforced else point.outcome
        per_action[point.action][(point.bucket, category)] += point.count
    action_charts = [
        (action, charts.stacked_bars(keys, values, bucket=span.bucket, title=f"decisions for {action}"))
        for action, values in sorted(per_action.items())
    ]
    readiness = await insights.readiness(store, span)
    policy = service.settings.policy
    modes = {row.action: policy.for_action(row.action).mode.value for row in readiness}
    split = await insights.split_by_platform_and_tier(store, span)
    platform_rows: dict[str, int] = defaultdict(int)
    tier_rows: dict[str, int] = defaultdict(int)
    for row in split:
        platform_rows[row.platform or "none"] += row.count
        tier_rows[row.tier] += row.count
    reasons = await insights.top_failure_reasons(store, span, limit=12)
    key_days = await insights.keys_per_day(store, span)
    key_values: dict[tuple[str, str], int] = defaultdict(int)
    key_categories: dict[str, charts.Category] = {}
    for day in key_days:
        name = f"{insights.kind_label(day.kind)} {day.environment}".strip()
        css = {"ios production": "c-ios", "ios development": "c-iosdev"}.get(name, "c-android")
        key_categories.setdefault(name, charts.Category(name, name, css))
        key_values[(day.day, name)] += day.count
    day_keys = charts.bucket_keys(span.since, span.until, Bucket.DAY)
    device = await insights.android_distribution(store, span, "device_verdict")
    protect = await insights.android_distribution(store, span, "play_protect")
    total = sum(row.total for row in readiness)
    would_block = sum(p.count for p in series if p.outcome == "block" and not p.enforced)
    blocked = sum(p.count for p in series if p.outcome == "block" and p.enforced)
    categories = sorted(key_categories.values(), key=lambda c: c.key)
    return {
        "total": total,
        "would_block": would_block,
        "blocked": blocked,
        "legend": charts.OUTCOME_CATEGORIES,
        "action_charts": action_charts,
        "readiness": readiness,
        "modes": modes,
        "ready_share": READY_SHARE,
        "enforce": Mode.ENFORCE.value,
        "platform_chart": charts.horizontal_bars(
            sorted(platform_rows.items(), key=lambda item: -item[1]), title="decisions by platform", compact=True
        ),
        "tier_chart": charts.horizontal_bars(
            [(tier, tier_rows[tier]) for tier in ("strong", "device", "basic", "none") if tier in tier_rows],
            title="decisions by tier",
            compact=True,
        ),
        "split": split,
        "reasons": reasons,
        "reason_links": {reason: urlencode({"reason": reason}) for reason, _ in reasons},
        "reasons_chart": charts.horizontal_bars(reasons, title="top failure reasons", css="c-block"),
        "keys_chart": charts.stacked_bars(
            day_keys, key_values, bucket=Bucket.DAY, categories=categories, title="keys registered per day"
        )
        if key_days
        else None,
        "keys_legend": categories,
        "key_days": key_days,
        "device_chart": charts.horizontal_bars(device, title="Android device verdicts", css="c-android", compact=True),
        "protect_chart": charts.horizontal_bars(protect, title="Play Protect verdicts", css="c-android", compact=True),
        "recent_keys": await insights.recent_keys(store, limit=10),
    }
