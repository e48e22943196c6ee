"""``app-integrity serve`` in a subprocess, over real HTTP: emulated mode end to end, restarts, and the CLI's
``config check``, ``migrate`` and ``keys`` commands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app_integrity.binding import body_sha256
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.emulator import EMULATED_PACKAGE_NAME, EmulatorState
from app_integrity.testing.protocol import android_header, ios_header

CLI = [sys.executable, "-m", "app_integrity.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    def __init__(self, folder: Path, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "APP_INTEGRITY_ADMIN_TOKEN": "admin"}
        self.process = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port), *args],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.stop()
                raise AssertionError(f"server did not start:\n{output}")
            time.sleep(0.1)

    def stop(self) -> str:
        self.process.terminate()
        try:
            output, _ = self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return output.decode(errors="replace")


@pytest.fixture
def emulated(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path, "--emulated")
    yield server
    server.stop()


def _verify(client: httpx.Client, header: str, *, path: str, body: bytes) -> dict[str, object]:
    response = client.post(
        "/v1/verify",
        json={
            "action": "redeem",
            "request": {"method": "POST", "path": path, "bodySha256": body_sha256(body)},
            "header": header,
        },
    )
    assert response.status_code == 200, response.text
    decision: dict[str, object] = response.json()
    return decision


def test_emulated_mode_end_to_end(emulated: Server, tmp_path: Path) -> None:
    state = EmulatorState.load_or_create(tmp_path / ".app-integrity")
    with httpx.Client(base_url=emulated.url) as client:
        assert client.get("/healthz").headers["app-integrity-mode"].startswith("emulated")
        iphone = EmulatedAppAttestService(ca=state.apple_ca, app=state.apple_app())
        key_id = iphone.generate_key()
        challenge = client.post("/v1/challenges", json={}).json()["challenge"]
        registered = client.post(
            "/v1/apple/keys",
            json={"keyId": key_id, "attestation": iphone.attest_key_async(key_id, challenge), "challenge": challenge},
        )
        assert registered.status_code == 201, registered.text

        body = b'{"item":1}'
        challenge = client.post("/v1/challenges", json={}).json()["challenge"]
        header = ios_header(iphone, key_id, challenge=challenge, method="POST", path="/shop", body=body)
        assert _verify(client, header, path="/shop", body=body)["tier"] == "strong"
        assert _verify(client, header, path="/shop", body=body)["outcome"] == "block"

        phone = EmulatedAndroidDevice(state.play, EMULATED_PACKAGE_NAME, profile="genuine")
        phone.prepare_integrity_token_provider("1")
        challenge = client.post("/v1/challenges", json={}).json()["challenge"]
        header = android_header(phone, challenge=challenge, method="POST", path="/shop", body=body)
        decision = _verify(client, header, path="/shop", body=body)
        assert decision["tier"] == "device", decision
        assert decision["platform"] == "android"


def test_emulated_roots_survive_a_restart(tmp_path: Path) -> None:
    first = Server(tmp_path, "--emulated")
    first.stop()
    root = (tmp_path / ".app-integrity" / "emulator" / "apple-ca.pem").read_bytes()
    second = Server(tmp_path, "--emulated")
    second.stop()
    assert (tmp_path / ".app-integrity" / "emulator" / "apple-ca.pem").read_bytes() == root


def test_emulated_mode_refuses_a_real_app_configuration(tmp_path: Path) -> None:
    config = tmp_path / "app-integrity.toml"
    config.write_text('[apple]\nteam_id = "ABCDE12345"\nbundle_ids = ["com.example.app"]\n')
    result = subprocess.run(
        [*CLI, "serve", "--emulated", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "emulated mode" in result.stderr


def test_config_check(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[policy.actions.redeem]\nmode = "enforce"\nallow = "strong"\n')
    result = subprocess.run([*CLI, "config", "check", str(good)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy.actions.redeem]\nallow = "basic"\nlimit = "strong"\n')
    result = subprocess.run([*CLI, "config", "check", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "policy.actions.redeem" in result.stderr


def test_migrate_and_keys_commands(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60)

    assert run("migrate").returncode == 0
    assert (tmp_path / ".app-integrity" / "app-integrity.db").exists()
    listed = run("keys", "list")
    assert listed.returncode == 0
    assert "key id" in listed.stdout
    missing = run("keys", "revoke", "A" * 43)
    assert missing.returncode == 1
