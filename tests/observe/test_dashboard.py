"""The dashboard over HTTP (in process): sign-in, pages filled by emulated demo traffic, filters, revoke with CSRF."""

from __future__ import annotations

import base64
import dataclasses
import re

import httpx
import pytest

from app_integrity.server.app import create_app
from app_integrity.server.dashboard.auth import COOKIE
from app_integrity.server.dashboard.routes import key_path
from app_integrity.storage import insights
from app_integrity.storage.base import KeyStatus
from app_integrity.testing.traffic import DemoDevices, DemoSummary, run_demo_traffic
from tests.service.conftest import ADMIN_TOKEN, World, WorldFactory

ENFORCE_REDEEM = '[policy.actions.redeem]\nmode = "enforce"\nallow = "strong"\n'


@pytest.fixture
async def busy(make_world: WorldFactory) -> tuple[World, DemoSummary]:
    world = await make_world(extra=ENFORCE_REDEEM)
    devices = DemoDevices(iphone=world.iphone, android=world.android)
    summary = await run_demo_traffic(world.client, devices, rounds=2)
    return world, summary


async def _sign_in(client: httpx.AsyncClient) -> None:
    response = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found is not None
    return found.group(1)


async def test_sign_in_sets_a_strict_http_only_cookie_without_the_token(world: World) -> None:
    client = world.client
    response = await client.get("/dashboard")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    wrong = await client.post("/dashboard/login", data={"token": "not-it"})
    assert wrong.status_code == 401
    assert "not the admin token" in wrong.text
    response = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN})
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/dashboard" in cookie
    assert ADMIN_TOKEN not in cookie
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "script-src" not in page.headers["content-security-policy"]
    assert "<script" not in page.text


async def test_a_forged_cookie_or_bearer_is_refused(world: World) -> None:
    client = world.client
    client.cookies.set(COOKIE, "0" * 64, domain="service.test", path="/dashboard")
    assert (await client.get("/dashboard")).status_code == 303
    client.cookies.clear()
    bearer = await client.get("/dashboard", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert bearer.status_code == 200
    assert (await client.get("/dashboard", headers={"Authorization": "Bearer nope"})).status_code == 303


async def test_without_an_admin_token_the_dashboard_is_disabled(world: World) -> None:
    server = dataclasses.replace(world.service.settings.server, admin_token=None)
    settings = dataclasses.replace(world.service.settings, server=server)
    app = create_app(settings, service=world.service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test") as client:
        for response in (await client.get("/dashboard"), await client.post("/dashboard/login", data={"token": ""})):
            assert response.status_code == 403
            assert "APP_INTEGRITY_ADMIN_TOKEN" in response.text


async def test_emulated_mode_warns_on_every_page(world: World) -> None:
    settings = dataclasses.replace(world.service.settings, emulated=True)
    app = create_app(settings, service=world.service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service.test") as client:
        assert "EMULATED MODE" in (await client.get("/dashboard/login")).text
        await _sign_in(client)
        for path in ("/dashboard", "/dashboard/events"):
            assert "EMULATED MODE" in (await client.get(path)).text
    assert "EMULATED MODE" not in (await world.client.get("/dashboard/login")).text


async def test_overview_shows_the_demo_traffic(busy: tuple[World, DemoSummary]) -> None:
    world, summary = busy
    await _sign_in(world.client)
    page = (await world.client.get("/dashboard?range=24h")).text
    total = re.search(r'<span class="n">(\d+)</span><span>decisions</span>', page)
    assert total is not None
    # Every verify call is a decision; Android key registrations are none here.
    assert int(total.group(1)) == summary.decisions
    for action in ("login", "redeem", "browse"):
        assert f'aria-label="decisions for {action}"' in page
    assert "c-would" in page  # login and browse are observed: their blocks are would-blocks
    assert 'class="c-block"' in page  # redeem is enforced
    assert "apple.signature_invalid" in page
    assert "apple.counter_not_increasing" in page
    assert "MEETS_DEVICE_INTEGRITY" in page
    assert "POSSIBLE_RISK" in page
    assert "ios production" in page
    store = insights.sql_store(world.service.store)
    span = insights.TimeRange(
        world.clock.now.replace(year=2000), world.clock.now.replace(year=2100), insights.Bucket.DAY
    )
    rows = {r.action: r for r in await insights.readiness(store, span)}
    assert f"{rows['redeem'].allow_share * 100:.1f}%" in page
    assert "badge mode-enforce" in page


async def test_events_filters(busy: tuple[World, DemoSummary]) -> None:
    world, _ = busy
    await _sign_in(world.client)
    page = (await world.client.get("/dashboard/events", params={"action": "redeem", "outcome": "block"})).text
    rows = re.findall(r"<tr>\s*<td class=\"mono\">.*?</tr>", page, re.DOTALL)
    assert rows
    for row in rows:
        assert "<td>redeem</td>" in row
        assert "o-block" in row
    page = (await world.client.get("/dashboard/events", params={"reason": "play.play_protect_off"})).text
    rows = re.findall(r"<tr>\s*<td class=\"mono\">.*?</tr>", page, re.DOTALL)
    assert len(rows) == 2  # one Play-Protect-off phone per round
    assert all("play.play_protect_off" in row for row in rows)
    page = (await world.client.get("/dashboard/events", params={"key": "not-a-key"})).text
    assert "not 32 bytes" in page
    page = (await world.client.get("/dashboard/events", params={"subject": "user-0", "platform": "ios"})).text
    rows = re.findall(r"<tr>\s*<td class=\"mono\">.*?</tr>", page, re.DOTALL)
    assert len(rows) == 6
    assert "<script" not in page


async def test_key_page_and_revoke_with_csrf(busy: tuple[World, DemoSummary]) -> None:
    world, summary = busy
    await _sign_in(world.client)
    record = await world.service.store.get_key(base64.b64decode(summary.key_ids[0]))
    assert record is not None
    path = f"/dashboard/keys/{key_path(record.key_id)}"
    page = (await world.client.get(path)).text
    assert "Revoke this key" in page
    assert summary.key_ids[0] in page
    assert "<td>redeem</td>" in page  # its history
    forged = await world.client.post(f"{path}/revoke", data={"csrf": "0" * 64})
    assert forged.status_code == 403
    assert (await world.service.store.get_key(record.key_id)) == record
    revoked = await world.client.post(f"{path}/revoke", data={"csrf": _csrf(page)})
    assert revoked.status_code == 303
    after = await world.service.store.get_key(record.key_id)
    assert after is not None
    assert after.status is KeyStatus.REVOKED
    page = (await world.client.get(revoked.headers["location"])).text
    assert "The key is revoked" in page
    assert "Revoke this key" not in page
    assert (await world.client.get("/dashboard/keys/AAAA")).status_code == 404


async def test_sign_out(world: World) -> None:
    await _sign_in(world.client)
    page = (await world.client.get("/dashboard")).text
    response = await world.client.post("/dashboard/logout", data={"csrf": _csrf(page)})
    assert response.status_code == 303
    world.client.cookies.clear()
    assert (await world.client.get("/dashboard")).status_code == 303
