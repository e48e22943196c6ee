"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright with its executable path):
sign in, data from emulated demo traffic, filters, revoke, no console errors, screenshots in ``artifacts/``.

Skips when Chromium is not installed, and fails instead under ``APP_INTEGRITY_REQUIRE_BROWSER=1`` (``.ci/run``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.emulator import EMULATED_PACKAGE_NAME, EmulatorState
from app_integrity.testing.traffic import DemoDevices, DemoSummary, run_demo_traffic
from tests.conftest import REPO_ROOT
from tests.service.test_serve import Server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / "artifacts"
ADMIN = "admin"  # the token tests.service.test_serve.Server starts the server with


def _require_chromium() -> str:
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("APP_INTEGRITY_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Server, DemoSummary]]:
    _require_chromium()
    config = tmp_path / "app-integrity.toml"
    config.write_text('[policy.actions.redeem]\nmode = "enforce"\nallow = "strong"\n')
    server = Server(tmp_path, "--emulated", "--config", str(config))
    try:
        state = EmulatorState.load_or_create(tmp_path / ".app-integrity")
        devices = DemoDevices(
            iphone=lambda: EmulatedAppAttestService(ca=state.apple_ca, app=state.apple_app()),
            android=lambda profile: EmulatedAndroidDevice(state.play, EMULATED_PACKAGE_NAME, profile=profile),
        )

        async def traffic() -> DemoSummary:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                return await run_demo_traffic(client, devices, rounds=2)

        yield server, asyncio.run(traffic())
    finally:
        server.stop()


def _rows(page: Page) -> list[str]:
    return [row.inner_text() for row in page.locator("table.events tbody tr").all()]


def test_dashboard_in_chromium(served: tuple[Server, DemoSummary]) -> None:
    server, summary = served
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_require_chromium(), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", on_console)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
            page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 500 else None)

            page.goto(f"{server.url}/dashboard")
            assert page.url.endswith("/dashboard/login")
            assert page.locator(".emulated").is_visible()
            page.fill("#token", "wrong")
            page.click("button[type=submit]")
            assert "not the admin token" in page.inner_text(".error")
            # The refused sign-in answers 401, which Chromium reports on the console: that one is expected.
            assert len(problems) == 1
            assert "401" in problems.pop()
            page.fill("#token", ADMIN)
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/dashboard")

            # The overview: totals from the demo traffic, charts drawn, styles applied.
            assert page.locator(".emulated").is_visible()
            assert page.locator(".stat .n").first.inner_text() == str(summary.decisions)
            assert page.locator("svg.chart").count() >= 6
            assert page.locator("svg.chart rect.c-would").count() > 0
            assert page.locator("svg.chart rect.c-block").count() > 0
            header_background = page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
            assert header_background == "rgb(20, 26, 38)"
            readiness = page.inner_text("table")
            assert "redeem\tenforce" in readiness
            assert "not yet" in readiness  # observed actions with blocked traffic are not ready
            page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

            # A reason links to its events.
            page.click("ul.reason-links a:has-text('apple.signature_invalid')")
            rows = _rows(page)
            assert len(rows) == 2
            assert all("apple.signature_invalid" in row for row in rows)

            # Filters.
            page.goto(f"{server.url}/dashboard/events")
            page.select_option("select[name=action]", "redeem")
            page.select_option("select[name=outcome]", "block")
            page.click("form.filters button[type=submit]")
            rows = _rows(page)
            assert len(rows) == 4  # per round: a replayed proof and a lifted one
            assert all("redeem" in row and "block" in row for row in rows)
            page.fill("input[name=subject]", "user-1")
            page.click("form.filters button[type=submit]")
            assert len(_rows(page)) == 2
            page.screenshot(path=str(ARTIFACTS / "dashboard-events.png"), full_page=True)

            # A key's page, and revoking it.
            page.locator("table.events tbody tr a.mono").first.click()
            assert page.inner_text("#key-status") == "active"
            page.click("button.danger")
            page.wait_for_selector(".notice")
            assert page.inner_text("#key-status") == "revoked"
            assert page.locator("button.danger").count() == 0
            page.screenshot(path=str(ARTIFACTS / "dashboard-key.png"), full_page=True)
        finally:
            browser.close()

    assert problems == []
    keys = httpx.get(f"{server.url}/v1/keys", headers={"Authorization": f"Bearer {ADMIN}"}).json()["keys"]
    assert sorted(key["status"] for key in keys) == ["active", "revoked"]
