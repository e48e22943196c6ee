"""Any bytes give a result or a typed error: never IndexError, KeyError, ValueError or a crash."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app_integrity.android import AndroidApp, verify_key_attestation
from app_integrity.android.keyattestation import SecurityLevel, parse_key_description
from app_integrity.errors import AppIntegrityError
from app_integrity.testing.android.keystore import EmulatedKeyStore, encode_key_description

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
def test_mutated_chain(index: int, position: int, mask: int) -> None:
    chain = list(CHAIN)
    certificate = bytearray(chain[index])
    certificate[position % len(certificate)] ^= mask
    chain[index] = bytes(certificate)
    roots = [KEYSTORE.root_certificate]
    code = _outcome(lambda: verify_key_attestation(chain, challenge="f", app=APP, trust_roots=roots))
    assert code is None or code.startswith(("android.", "input."))
