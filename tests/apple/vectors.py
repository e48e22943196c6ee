"""Reading the real App Attest captures in ../shared/vectors/apple into verifier arguments."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from app_integrity.apple import AppleApp
from tests.conftest import load_vector, vector_names

SUBDIR = "apple"


def names(kind: str) -> list[str]:
    """Vector names of one type (attestation, assertion, receipt), read at collection time."""
    all_names = vector_names(SUBDIR)
    if all_names == ["<shared vectors absent>"]:
        return all_names
    return [name for name in all_names if kind in name]


def load(name: str) -> dict[str, Any]:
    return load_vector(SUBDIR, name)


def app_of(vector: dict[str, Any], *, allow_development: bool = True) -> AppleApp:
    return AppleApp(team_id=vector["team_id"], bundle_id=vector["bundle_id"], allow_development=allow_development)


def valid_at(vector: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(vector["valid_at"])


def client_data_hash(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["client_data_hash_b64"])


def public_key(vector: dict[str, Any]) -> bytes:
    if "public_key_pem" in vector:
        key = load_pem_public_key(vector["public_key_pem"].encode())
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return bytes.fromhex(vector["public_key_x963_hex"])


def attestation_bytes(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["attestation_object_b64"])


def assertion_bytes(vector: dict[str, Any]) -> bytes:
    return base64.b64decode(vector["assertion_b64"])
