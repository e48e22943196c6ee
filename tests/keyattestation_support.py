"""Helpers shared by the key attestation tests: reading the real-device vectors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app_integrity.android import AndroidApp
from tests.conftest import load_vector

SUBDIR = "android-key"
SECURITY_LEVELS = {"Software": 0, "TrustedEnvironment": 1, "StrongBox": 2}
BOOT_STATES = {"Verified": 0, "SelfSigned": 1, "Unverified": 2, "Failed": 3}


def vector(name: str) -> dict[str, Any]:
    return load_vector(SUBDIR, name)


def valid_at(data: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(data["valid_at"]).replace("Z", "+00:00"))


def challenge_of(data: dict[str, Any]) -> bytes | None:
    challenge = data.get("challenge")
    return bytes.fromhex(challenge["hex"]) if challenge else None


def app_of(data: dict[str, Any]) -> AndroidApp | None:
    package = data.get("expected_package")
    if not package:
        return None
    return AndroidApp(package["name"], list(package["signature_digests_hex"]))
