"""The server SIGKILLed in the middle of key registrations and of counter updates (``serve --emulated`` over real
HTTP, SQLite), then restarted on the same data: every acknowledged registration is there and works, nothing is
half-registered, no counter went backwards, and no acknowledged decision lost its event."""

from __future__ import annotations

import asyncio
import base64
import signal
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from app_integrity.binding import body_sha256
from app_integrity.storage import open_store
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.emulator import EmulatorState
from app_integrity.testing.protocol import ios_header
from tests.service.test_serve import Server

ADMIN = {"Authorization": "Bearer admin"}
BODY = b'{"item":1}'


def _register(url: str, device: EmulatedAppAttestService) -> tuple[str, int]:
    key_id = device.generate_key()
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            challenge = client.post("/v1/challenges", json={}).json()["challenge"]
            attestation = device.attest_key_async(key_id, challenge)
            response = client.post(
                "/v1/apple/keys", json={"keyId": key_id, "attestation": attestation, "challenge": challenge}
            )
            return key_id, response.status_code
    except (httpx.HTTPError, ValueError):
        return key_id, 0  # the server died under this request: not acknowledged


def _verify(url: str, header: str) -> dict[str, object] | None:
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            response = client.post(
                "/v1/verify",
                json={
                    "action": "redeem",
                    "request": {"method": "POST", "path": "/shop", "bodySha256": body_sha256(BODY)},
                    "header": header,
                },
            )
            if response.status_code != 200:
                return None
            decision: dict[str, object] = response.json()
            return decision
    except (httpx.HTTPError, ValueError):
        return None


def _challenge(url: str) -> str:
    with httpx.Client(base_url=url, timeout=10) as client:
        value: str = client.post("/v1/challenges", json={}).json()["challenge"]
        return value


def _kill_after(server: Server, acknowledged: threading.Event) -> None:
    acknowledged.wait(30)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()


def _keys(url: str) -> dict[str, int]:
    with httpx.Client(base_url=url, timeout=10, headers=ADMIN) as client:
        response = client.get("/v1/keys")
        assert response.status_code == 200, response.text
        return {key["keyId"]: key["counter"] for key in response.json()["keys"]}


def test_sigkill_during_registrations_and_counter_updates(tmp_path: Path) -> None:
    server = Server(tmp_path, "--emulated")
    state = EmulatorState.load_or_create(tmp_path / ".app-integrity")
    devices = [EmulatedAppAttestService(ca=state.apple_ca, app=state.apple_app()) for _ in range(40)]

    # --- registrations, killed in flight ---
    registered: list[tuple[EmulatedAppAttestService, str]] = []
    some_done = threading.Event()
    killer = threading.Thread(target=_kill_after, args=(server, some_done))
    killer.start()
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [(device, pool.submit(_register, server.url, device)) for device in devices]
        for device, future in futures:
            key_id, status = future.result()
            if status == 201:
                registered.append((device, key_id))
                if len(registered) >= 8:
                    some_done.set()
    some_done.set()
    killer.join()
    assert 8 <= len(registered) < len(devices)  # the kill landed in the middle of the registrations

    acknowledged: dict[str, int] = defaultdict(int)  # the highest counter acknowledged as allowed
    allows: dict[str, int] = defaultdict(int)  # how many decisions were acknowledged as allowed
    server = Server(tmp_path, "--emulated")
    try:
        stored = _keys(server.url)
        # Every acknowledged registration survived; every stored key is whole: counter 0 and a working key.
        assert {key_id for _, key_id in registered} <= set(stored)
        assert all(counter == 0 for counter in stored.values())
        for device, key_id in registered:
            header = ios_header(
                device, key_id, challenge=_challenge(server.url), method="POST", path="/shop", body=BODY
            )
            decision = _verify(server.url, header)
            assert decision is not None
            assert decision["outcome"] == "allow", decision
            acknowledged[key_id] = 1
            allows[key_id] += 1

        # --- counter updates, killed in flight ---
        allowed_total = threading.Event()
        lock = threading.Lock()
        count = [0]
        killer = threading.Thread(target=_kill_after, args=(server, allowed_total))
        killer.start()

        def burst(device: EmulatedAppAttestService, key_id: str) -> list[tuple[str, int]]:
            allowed: list[tuple[str, int]] = []
            for round_ in range(2, 12):  # counter 1 was used above
                try:
                    challenge = _challenge(server.url)
                except (httpx.HTTPError, ValueError):
                    break
                header = ios_header(device, key_id, challenge=challenge, method="POST", path="/shop", body=BODY)
                decision = _verify(server.url, header)
                if decision is None:
                    break
                if decision["outcome"] == "allow":
                    allowed.append((key_id, round_))
                    with lock:
                        count[0] += 1
                        if count[0] >= 20:
                            allowed_total.set()
            return allowed

        with ThreadPoolExecutor(max_workers=6) as pool:
            for allowed in pool.map(lambda pair: burst(*pair), registered):
                for key_id, counter in allowed:
                    acknowledged[key_id] = max(acknowledged[key_id], counter)
                    allows[key_id] += 1
        allowed_total.set()
        killer.join()
        assert len(registered) < sum(allows.values()) < 11 * len(registered)  # killed mid-way
    finally:
        server.stop()

    server = Server(tmp_path, "--emulated")
    try:
        stored = _keys(server.url)
        # No counter went backwards: each stored counter is at least the last one acknowledged as allowed.
        for key_id, counter in acknowledged.items():
            assert stored[key_id] >= counter, (key_id, stored[key_id], counter)
        # And the keys still work past the crash: a new assertion is allowed.
        # (The device's counter may trail the stored one if a request died after the store advanced: the device
        # keeps counting, so within a few assertions it is past it again.)
        device, key_id = registered[0]
        outcomes = []
        for _ in range(12):
            header = ios_header(
                device, key_id, challenge=_challenge(server.url), method="POST", path="/shop", body=BODY
            )
            after = _verify(server.url, header)
            assert after is not None
            outcomes.append(after["outcome"])
            if after["outcome"] == "allow":
                break
        assert outcomes[-1] == "allow", outcomes
    finally:
        server.stop()

    # No acknowledged decision lost its event: per key, at least as many allow events as acknowledged allows.
    async def allow_events() -> dict[str, int]:
        store = open_store("sqlite:///.app-integrity/app-integrity.db", base_dir=tmp_path)
        try:
            events = await store.list_events(limit=10000, outcome="allow")
        finally:
            await store.close()
        counts: dict[str, int] = defaultdict(int)
        for event in events:
            if event.key_id is not None:
                counts[base64.b64encode(event.key_id).decode()] += 1
        return counts

    recorded = asyncio.run(allow_events())
    for key_id, acknowledged_allows in allows.items():
        assert recorded[key_id] >= acknowledged_allows, (key_id, recorded[key_id], acknowledged_allows)
