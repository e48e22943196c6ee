"""Demo traffic: emulated iPhones and Android phones calling a running service the way real apps do, with the
mistakes and attacks an operator should see on the dashboard (replays, lifted proofs, unknown challenges, rooted
devices, Play Protect off, requests with no proof at all).

Every request goes through the public HTTP API (``/v1/challenges``, ``/v1/apple/keys``, ``/v1/verify``), so the
events, metrics and logs it leaves are exactly those of production traffic.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from app_integrity._encoding import b64url
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.protocol import android_header, ios_header

ANDROID_PROFILES = ("genuine", "strong", "genuine", "rooted", "emulator", "play_protect_off", "sideloaded")


@dataclass(frozen=True, slots=True)
class DemoDevices:
    """How to make devices the service trusts: an iPhone, and an Android phone with a Play profile."""

    iphone: Callable[[], EmulatedAppAttestService]
    android: Callable[[str], EmulatedAndroidDevice]


@dataclass
class DemoSummary:
    """What the traffic did: the outcomes the service answered, and the keys it registered."""

    outcomes: Counter[str] = field(default_factory=Counter)
    key_ids: list[str] = field(default_factory=list)

    @property
    def decisions(self) -> int:
        return sum(self.outcomes.values())


class DemoTraffic:
    def __init__(self, client: httpx.AsyncClient, devices: DemoDevices, *, verify_token: str | None = None) -> None:
        self.client = client
        self.devices = devices
        self.headers = {"Authorization": f"Bearer {verify_token}"} if verify_token else {}
        self.summary = DemoSummary()

    async def challenge(self) -> str:
        response = await self.client.post("/v1/challenges", json={})
        response.raise_for_status()
        value: str = response.json()["challenge"]
        return value

    async def register_iphone(self, subject: str) -> tuple[EmulatedAppAttestService, str]:
        device = self.devices.iphone()
        key_id = device.generate_key()
        challenge = await self.challenge()
        response = await self.client.post(
            "/v1/apple/keys",
            json={
                "keyId": key_id,
                "attestation": device.attest_key_async(key_id, challenge),
                "challenge": challenge,
                "subject": subject,
            },
        )
        response.raise_for_status()
        self.summary.key_ids.append(key_id)
        return device, key_id

    async def verify(self, action: str, path: str, body: bytes, header: str | None, subject: str | None = None) -> str:
        payload: dict[str, Any] = {
            "action": action,
            "request": {"method": "POST", "path": path, "bodySha256": b64url(hashlib.sha256(body).digest())},
        }
        if header is not None:
            payload["header"] = header
        if subject is not None:
            payload["subject"] = subject
        response = await self.client.post("/v1/verify", json=payload, headers=self.headers)
        response.raise_for_status()
        outcome: str = response.json()["outcome"]
        self.summary.outcomes[outcome] += 1
        return outcome

    async def ios_round(self, index: int) -> None:
        subject = f"user-{index}"
        device, key_id = await self.register_iphone(subject)
        for action, path in (("login", "/login"), ("redeem", "/redeem"), ("redeem", "/redeem")):
            body = f'{{"n":{index}}}'.encode()
            challenge = await self.challenge()
            header = ios_header(device, key_id, challenge=challenge, method="POST", path=path, body=body)
            await self.verify(action, path, body, header, subject)
        # A replayed proof (same counter, same challenge): apple.counter_not_increasing.
        body = b'{"replay":true}'
        challenge = await self.challenge()
        header = ios_header(device, key_id, challenge=challenge, method="POST", path="/redeem", body=body)
        await self.verify("redeem", "/redeem", body, header, subject)
        await self.verify("redeem", "/redeem", body, header, subject)
        # A proof lifted onto another request: the binding does not match, apple.signature_invalid.
        challenge = await self.challenge()
        header = ios_header(device, key_id, challenge=challenge, method="POST", path="/login", body=b"{}")
        await self.verify("redeem", "/redeem", b'{"amount":1000}', header, subject)

    async def android_round(self, index: int) -> None:
        for number, profile in enumerate(ANDROID_PROFILES):
            phone = self.devices.android(profile)
            phone.prepare_integrity_token_provider(str(1000 + index * 10 + number))
            body = f'{{"android":{number}}}'.encode()
            challenge = await self.challenge()
            header = android_header(phone, challenge=challenge, method="POST", path="/login", body=body)
            await self.verify("login", "/login", body, header, f"android-{index}-{number}")

    async def anonymous_round(self, index: int) -> None:
        # No proof at all (an old app version, a script): tier none.
        await self.verify("browse", "/catalog", b"", None)
        await self.verify("browse", "/catalog", b"", None)
        # A header missing its members, and a made-up token Google refuses.
        await self.verify("login", "/login", b"", "v=1, platform=ios")
        await self.verify("login", "/login", b"", f'v=1, platform=android, challenge="made-up-{index}", token="x.y.z"')

    async def run(self, *, rounds: int = 3) -> DemoSummary:
        for index in range(rounds):
            await self.ios_round(index)
            await self.android_round(index)
            await self.anonymous_round(index)
        return self.summary


async def run_demo_traffic(
    client: httpx.AsyncClient, devices: DemoDevices, *, rounds: int = 3, verify_token: str | None = None
) -> DemoSummary:
    """Send ``rounds`` rounds of mixed traffic to the service behind ``client``; returns what it answered."""
    return await DemoTraffic(client, devices, verify_token=verify_token).run(rounds=rounds)
