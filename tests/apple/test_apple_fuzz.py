"""Arbitrary bytes never escape as anything but a typed error with a stable code."""

from __future__ import annotations

import base64
from collections.abc import Callable

import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from app_integrity.apple import AppleApp, verify_assertion, verify_attestation, verify_receipt
from app_integrity.errors import CODES, AppIntegrityError

APP = AppleApp(team_id="ABCDE12345", bundle_id="com.example.app", allow_development=True)
KEY_ID = base64.b64encode(b"\x01" * 32).decode()
POINT = bytes.fromhex(
    "0437c404fa2bbf8fbcf4ee7080573d5fa80c4f6cc3a22f7db43af92c394e7cd1c8"
    "80c95ab422972625e8e673af1bda2b096654e9b602895601f925bb5941c53082"
)

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=64) | st.text(max_size=16),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _only_typed_errors(call: Callable[[], object]) -> None:
    code = "accepted"
    try:
        call()
    except AppIntegrityError as error:
        code = error.code
    assert code in CODES or code == "accepted"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _only_typed_errors(lambda: verify_attestation(data, key_id=KEY_ID, app=APP, challenge="c"))
    _only_typed_errors(lambda: verify_assertion(data, app=APP, public_key=POINT, previous_counter=0, client_data="c"))
    _only_typed_errors(lambda: verify_receipt(data, app=APP, public_key=POINT))


@settings(max_examples=150, deadline=None)
@given(cbor_values)
def test_random_cbor_structures(value: object) -> None:
    data = cbor2.dumps(value)
    _only_typed_errors(lambda: verify_attestation(data, key_id=KEY_ID, app=APP, challenge="c"))
    _only_typed_errors(lambda: verify_assertion(data, app=APP, public_key=POINT, previous_counter=0, client_data="c"))


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {"signature": st.binary(max_size=80), "authenticatorData": st.binary(min_size=30, max_size=120)}
    )
)
def test_random_assertion_members(value: dict[str, bytes]) -> None:
    data = cbor2.dumps(value)
    _only_typed_errors(lambda: verify_assertion(data, app=APP, public_key=POINT, previous_counter=0, client_data="c"))
