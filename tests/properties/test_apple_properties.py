"""App Attest parsers and verifiers under generated input: authenticator data, the iOS 27 extension map, receipts,
and genuine attestations / assertions / receipts with bytes flipped, cut or spliced."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from app_integrity._ecdsa import public_point
from app_integrity.apple import AppleApp, verify_assertion, verify_attestation, verify_receipt
from app_integrity.apple.authdata import parse_assertion_auth_data, parse_attestation_auth_data, parse_extensions
from app_integrity.apple.receipt import parse_receipt
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA
from tests.properties.typed import outcome

NOW = datetime.now(UTC)
CA = EmulatedAppleCA.generate()
APP = AppleApp(team_id="TEAMID1234", bundle_id="com.example.app")
DEVICE = EmulatedAppAttestService(ca=CA, app=APP, bundle_version="2.0", validation_category=3)
KEY_ID = DEVICE.generate_key()
ATTESTATION = base64.b64decode(DEVICE.attest_key_async(KEY_ID, "challenge", now=NOW))
DECODED = cbor2.loads(ATTESTATION)
RECEIPT: bytes = DECODED["attStmt"]["receipt"]
AUTH_DATA: bytes = DECODED["authData"]
ATTESTED = verify_attestation(
    ATTESTATION, key_id=KEY_ID, app=APP, challenge="challenge", now=NOW, trust_roots=CA.trust_roots
)
ASSERTION = base64.b64decode(DEVICE.generate_assertion_async(KEY_ID, "client data"))

cbor_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=40) | st.text(max_size=16) | st.floats(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=16) | st.integers(), children, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with one edit: a bit flipped, a byte inserted or removed, cut short, or a slice repeated."""
    data = bytearray(original)
    position = draw(st.integers(0, len(data) - 1))
    edit = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
    if edit == "flip":
        data[position] ^= 1 << draw(st.integers(0, 7))
    elif edit == "insert":
        data.insert(position, draw(st.integers(0, 255)))
    elif edit == "delete":
        del data[position]
    elif edit == "truncate":
        del data[position:]
    else:
        end = min(len(data), position + draw(st.integers(1, 64)))
        data[position:position] = data[position:end]
    return bytes(data)


def _attest(data: bytes) -> object:
    return verify_attestation(data, key_id=KEY_ID, app=APP, challenge="challenge", now=NOW, trust_roots=CA.trust_roots)


def _assert(data: bytes) -> object:
    return verify_assertion(
        data, app=APP, public_key=ATTESTED.public_key, previous_counter=0, client_data="client data"
    )


def _receipt(data: bytes) -> object:
    return verify_receipt(data, app=APP, public_key=ATTESTED.public_key, now=NOW, trust_roots=CA.trust_roots)


def test_unmutated_inputs_verify() -> None:
    assert outcome(lambda: _attest(ATTESTATION)) is None
    assert outcome(lambda: _assert(ASSERTION)) is None
    assert outcome(lambda: _receipt(RECEIPT)) is None


@given(mutated(ATTESTATION))
def test_mutated_attestation(data: bytes) -> None:
    outcome(lambda: _attest(data))


@given(mutated(ASSERTION))
def test_mutated_assertion(data: bytes) -> None:
    outcome(lambda: _assert(data))


@given(mutated(RECEIPT))
def test_mutated_receipt(data: bytes) -> None:
    outcome(lambda: _receipt(data))
    outcome(lambda: parse_receipt(data))


@given(mutated(AUTH_DATA))
def test_mutated_auth_data_in_an_attestation(auth_data: bytes) -> None:
    # Re-encoded around the mutated authData, so the mutation reaches the authData parser and the checks after it.
    decoded = dict(DECODED)
    decoded["authData"] = auth_data
    outcome(lambda: _attest(cbor2.dumps(decoded)))


@given(st.binary(max_size=400))
def test_auth_data_parsers(data: bytes) -> None:
    outcome(lambda: parse_attestation_auth_data(data))
    outcome(lambda: parse_assertion_auth_data(data))


@given(st.binary(min_size=37, max_size=37), st.binary(max_size=80) | cbor_values.map(cbor2.dumps))
def test_auth_data_with_generated_tails(header: bytes, tail: bytes) -> None:
    outcome(lambda: parse_assertion_auth_data(header + tail))
    outcome(lambda: parse_attestation_auth_data(header + tail))


@given(cbor_values)
def test_extension_maps(value: object) -> None:
    outcome(lambda: parse_extensions(cbor2.dumps(value)))


@given(
    st.dictionaries(
        st.sampled_from(["fmt", "attStmt", "authData", "x5c", "receipt"]) | st.text(max_size=8), cbor_values, max_size=5
    )
)
def test_attestation_shaped_maps(value: dict[str, object]) -> None:
    outcome(lambda: _attest(cbor2.dumps(value)))


@given(st.integers(0, 2**32 - 1), st.binary(max_size=72), st.sampled_from([0, 1, 2**31]))
def test_assertion_counters_and_signatures(counter: int, signature: bytes, previous: int) -> None:
    auth_data = APP.rp_id_hash + b"\x40" + counter.to_bytes(4, "big")
    data = cbor2.dumps({"signature": signature, "authenticatorData": auth_data})
    outcome(
        lambda: verify_assertion(
            data, app=APP, public_key=ATTESTED.public_key, previous_counter=previous, client_data="client data"
        )
    )


@given(st.binary(min_size=1, max_size=64))
def test_any_key_id_and_challenge(client_data: bytes) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other_id = base64.b64encode(hashlib.sha256(public_point(key.public_key())).digest()).decode()
    outcome(
        lambda: verify_attestation(
            ATTESTATION, key_id=other_id, app=APP, client_data_hash=client_data, now=NOW, trust_roots=CA.trust_roots
        )
    )
