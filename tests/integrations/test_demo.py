"""``app-integrity demo`` against ``app-integrity serve --emulated`` (as ``make serve`` runs it) in a subprocess:
every scenario's decision, observed and enforced, is in its output."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app_integrity.cli import app
from tests.service.test_serve import CLI, Server

# scenario -> (outcome for the observed action, outcome and effect for the enforced one)
EXPECTED = {
    "genuine iPhone": ("allow", "allow", "passes"),
    "replayed request": ("block", "block", "refused: 403"),
    "tampered body": ("block", "block", "refused: 403 apple.signature_invalid"),
    "genuine Android phone": ("allow", "allow", "passes"),
    "rooted phone": ("limit", "limit", "passes, limited"),
    "sideloaded app": ("block", "block", "refused: 403 play.app_unrecognized"),
    "emulator": ("block", "block", "refused: 403 play.no_device_integrity"),
}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, "--emulated")
    yield server
    server.stop()


def test_demo_against_a_running_emulated_server(served: Server, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    result = subprocess.run(
        [*CLI, "demo", "--url", served.url], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [re.sub(r"\s+", " ", line) for line in result.stdout.splitlines()]
    rows = {}
    for line in lines:
        cells = [cell.strip() for cell in re.split(r"[│┃]", line) if cell.strip()]
        if len(cells) == 7 and cells[0] in EXPECTED:
            rows[(cells[0], cells[1])] = cells
    for scenario, (observed, enforced, effect) in EXPECTED.items():
        browse = rows[(scenario, "browse")]
        assert browse[2:4] == ["observe", observed], browse
        redeem = rows[(scenario, "redeem")]
        assert redeem[2:4] == ["enforce", enforced], redeem
        assert redeem[6].startswith(effect), redeem
        if observed != "allow":
            assert browse[6] == f"passes (observe mode: enforce would {observed})"
    assert rows[("tampered body", "redeem")][5] == "apple.signature_invalid"
    assert rows[("genuine iPhone", "redeem")][4] == "strong"
    assert rows[("genuine Android phone", "redeem")][4] == "device"
    assert rows[("rooted phone", "redeem")][4] == "basic"
    assert "registered it: keyId" in result.stdout


def test_demo_refuses_a_folder_without_the_servers_emulator_state(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--url", "http://127.0.0.1:9", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no emulator state" in result.output


def test_demo_starts_its_own_server_without_url() -> None:
    result = CliRunner().invoke(app, ["demo"], env={"COLUMNS": "400", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert "starting a server" in result.output
    assert "refused: 403 play.no_device_integrity" in result.output
    assert "passes (observe mode: enforce would block)" in result.output
