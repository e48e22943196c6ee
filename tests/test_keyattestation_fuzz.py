"""Any bytes give a result or a typed error: never IndexError, KeyError, ValueError or a crash."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app_integrity.android import AndroidApp, RevocationList, verify_key_attestation
from app_integrity.android.keyattestation import SecurityLevel, parse_key_description
from app_integrity.errors import AppIntegrityError
from app_integrity.testing.android.keystore import EmulatedKeyStore, encode_key_description
from tests.keyattestation_support import app_of, challenge_of, valid_at, vector

SAMPLE = encode_key_description(
    challenge=b"challenge",
    attestation_version=300,
    security_level=SecurityLevel.STRONG_BOX,
    software={"creation_date_time": 1, "attestation_application_id": b"\x30\x00"},
    hardware={
        "purpose": [2, 3],
        "origin": 0,
        "root_of_trust": {"verified_boot_key": b"k", "device_locked": True, "verified_boot_state": 0},
    },
)
KEYSTORE = EmulatedKeyStore()
APP = AndroidApp("com.example.fuzz", ["ef" * 32])
CHAIN = KEYSTORE.generate_key(challenge="f", package_name=APP.package_name, signing_digests=["ef" * 32]).chain_der


def _outcome(call: Callable[[], object]) -> str | None:
    """None when the call returns, the error's code when it raises one of ours (anything else fails the test)."""
    try:
        call()
    except AppIntegrityError as error:
        return error.code
    return None


@given(st.binary(max_size=600))
@settings(max_examples=300, deadline=None)
def test_random_bytes(data: bytes) -> None:
    assert _outcome(lambda: parse_key_description(data)) in (None, "android.key_description_malformed")


@given(st.integers(min_value=0, max_value=len(SAMPLE) - 1), st.integers(min_value=1, max_value=255))
@settings(max_examples=300, deadline=None)
def test_mutated_description(position: int, mask: int) -> None:
    mutated = bytearray(SAMPLE)
    mutated[position] ^= mask
    assert _outcome(lambda: parse_key_description(bytes(mutated))) in (None, "android.key_description_malformed")


@given(
    st.integers(min_value=0, max_value=len(CHAIN) - 1),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=255),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.filterwarnings("ignore:Parsed a serial number")
def test_mutated_chain(index: int, position: int, mask: int) -> None:
    chain = list(CHAIN)
    certificate = bytearray(chain[index])
    certificate[position % len(certificate)] ^= mask
    chain[index] = bytes(certificate)
    roots = [KEYSTORE.root_certificate]
    code = _outcome(lambda: verify_key_attestation(chain, challenge="f", app=APP, trust_roots=roots))
    assert code is None or code.startswith(("android.", "input."))


@functools.cache
def _real_chain() -> tuple[list[bytes], dict[str, Any]]:
    data = vector("ka_pixel9pro_caiman_rkp_tee_ec_v400")
    chain = [base64.b64decode(c) for c in data["chain_b64"]]
    return chain, {"challenge": challenge_of(data), "app": app_of(data), "now": valid_at(data)}


@pytest.mark.vectors
@given(
    st.integers(min_value=0, max_value=4),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=1, max_value=255),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@pytest.mark.filterwarnings("ignore:Parsed a serial number")
def test_mutated_real_chain(index: int, position: int, mask: int) -> None:
    genuine, kwargs = _real_chain()
    chain = list(genuine)
    certificate = bytearray(chain[index])
    certificate[position % len(certificate)] ^= mask
    chain[index] = bytes(certificate)
    revocations = RevocationList.from_json({"entries": {"ffff": {"status": "SUSPENDED", "reason": "KEY_COMPROMISE"}}})
    code = _outcome(lambda: verify_key_attestation(chain, revocations=revocations, **kwargs))
    assert code is None or code.startswith(("android.", "input."))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["entries", "other"]), JSON, max_size=2))
@settings(max_examples=200, deadline=None)
def test_random_status_lists(data: dict[str, Any]) -> None:
    code = _outcome(lambda: RevocationList.from_json(data))
    assert code is None or code.startswith("input.")
    code = _outcome(lambda: RevocationList.from_json(json.dumps(data)))
    assert code is None or code.startswith("input.")
