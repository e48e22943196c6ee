"""App Attest attacks at the verifier: forged, relayed, replayed and re-targeted attestations and assertions."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Callable
from datetime import timedelta

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity._ecdsa import public_point
from app_integrity.apple import AppleApp, verify_assertion, verify_attestation, verify_receipt
from app_integrity.apple.attestation import AAGUID_DEVELOPMENT
from app_integrity.testing._certs import Extension, issue_certificate
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA
from tests.attacks.apple_forge import (
    APP,
    CHALLENGE,
    NOW,
    OTHER_APP,
    Attestation,
    assertion,
    cose_key,
    with_leaf_curve,
)
from tests.attacks.corpus import Attack, ids, refused

CA = EmulatedAppleCA.generate()
LOOKALIKE = EmulatedAppleCA.generate()  # same names, other keys: a root an attacker made to look like Apple's
ROOTS = CA.trust_roots
PLATFORM = "ios"


def _attest(forged: Attestation) -> object:
    return verify_attestation(
        forged.build(), key_id=forged.key_id_b64, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS
    )


def genuine_is_accepted() -> None:
    forged = Attestation(CA)
    assert _attest(forged) is not None


def _device(environment: str = "production", app: AppleApp = APP) -> EmulatedAppAttestService:
    return EmulatedAppAttestService(ca=CA, app=app, environment=environment)


def _relayed_with_another_key_id() -> object:
    device = _device()
    key_id, other = device.generate_key(), device.generate_key()
    attestation = device.attest_key_async(key_id, CHALLENGE)
    return verify_attestation(attestation, key_id=other, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)


def _development_into_production() -> object:
    device = _device("development")
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, CHALLENGE)
    return verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)


def _lookalike_root() -> object:
    device = EmulatedAppAttestService(ca=LOOKALIKE, app=APP)
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, CHALLENGE)
    return verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)


def _pinned_apple_root() -> object:
    # No trust_roots: Apple's pinned root. An emulated (test CA) attestation must not pass in production.
    device = _device()
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, CHALLENGE)
    return verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW)


def _swap_leaf() -> object:
    device = _device()
    first, second = device.generate_key(), device.generate_key()
    genuine = cbor2.loads(base64.b64decode(device.attest_key_async(first, CHALLENGE)))
    other = cbor2.loads(base64.b64decode(device.attest_key_async(second, "another challenge")))
    genuine["attStmt"]["x5c"][0] = other["attStmt"]["x5c"][0]
    return verify_attestation(
        cbor2.dumps(genuine), key_id=first, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS
    )


def _swap_leaf_and_key_id() -> object:
    # The swapped leaf's own key id: the certificate is consistent but the nonce is for another authData.
    device = _device()
    first, second = device.generate_key(), device.generate_key()
    genuine = cbor2.loads(base64.b64decode(device.attest_key_async(first, CHALLENGE)))
    other = cbor2.loads(base64.b64decode(device.attest_key_async(second, CHALLENGE)))
    genuine["attStmt"]["x5c"][0] = other["attStmt"]["x5c"][0]
    return verify_attestation(
        cbor2.dumps(genuine), key_id=second, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS
    )


def _expired_intermediate() -> object:
    # A CA made 11 years ago: its intermediate (10 years) has expired, the root (25) and a fresh leaf have not.
    old = EmulatedAppleCA.generate(now=NOW - timedelta(days=365 * 11))
    device = EmulatedAppAttestService(ca=old, app=APP)
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, CHALLENGE, now=NOW)
    return verify_attestation(
        attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=old.trust_roots
    )


def _expired_leaf() -> object:
    device = _device()
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, CHALLENGE, now=NOW - timedelta(days=30))
    return verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)


def _wrong_challenge() -> object:
    device = _device()
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, "an old challenge")
    return verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)


def _another_app() -> object:
    device = _device(app=OTHER_APP)
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, CHALLENGE)
    return verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)


def _another_team() -> object:
    rival = AppleApp(team_id="RIVAL99999", bundle_id=APP.bundle_id)
    device = _device(app=rival)
    key_id = device.generate_key()
    attestation = device.attest_key_async(key_id, CHALLENGE)
    return verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)


def _ios27_junk(kind: str) -> object:
    device = EmulatedAppAttestService(ca=CA, app=APP, bundle_version="1.2.3", validation_category=1)
    key_id = device.generate_key()
    decoded = cbor2.loads(base64.b64decode(device.attest_key_async(key_id, CHALLENGE)))
    decoded["authData"] += {"junk": b"\x00", "map": cbor2.dumps({"x": 1}), "break": b"\xff"}[kind]
    return verify_attestation(
        cbor2.dumps(decoded), key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS
    )


NONCE = hashlib.sha256(b"x").digest()
OCTETS = b"\x04\x20" + NONCE
TAGGED = b"\xa1\x22" + OCTETS
SEQUENCE = b"\x30\x24" + TAGGED


def _emulated(device: EmulatedAppAttestService | None = None) -> tuple[bytes, str]:
    device = device or _device()
    key_id = device.generate_key()
    return base64.b64decode(device.attest_key_async(key_id, CHALLENGE)), key_id


def _intermediate_on_unknown_curve() -> object:
    # secp384r1 is 1.3.132.0.34 (2b 81 04 00 22); one flipped bit makes it 1.2.132.0.34, which nothing can load.
    attestation, key_id = _emulated()
    decoded = cbor2.loads(attestation)
    decoded["attStmt"]["x5c"][1] = decoded["attStmt"]["x5c"][1].replace(
        b"\x2b\x81\x04\x00\x22", b"\x2a\x81\x04\x00\x22"
    )
    return verify_attestation(
        cbor2.dumps(decoded), key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS
    )


def _leaf_on_unknown_curve() -> object:
    attestation, key_id = _emulated()
    forged = with_leaf_curve(attestation, CA, "1.2.840.10045.3.1.99")
    return verify_attestation(forged, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)


MALFORMED_CONSTRAINTS = x509.UnrecognizedExtension(x509.oid.ExtensionOID.BASIC_CONSTRAINTS, b"\x30\x03\x02\x01")


def _malformed_intermediate() -> object:
    # An intermediate of the right names and key, re-issued by the root with a BasicConstraints that does not parse.
    genuine = CA.attestation_intermediate
    reissued = issue_certificate(
        subject=genuine.certificate.subject,
        subject_key=genuine.key.public_key(),
        issuer=CA.attestation_root.certificate.subject,
        issuer_key=CA.attestation_root.key,
        not_before=genuine.certificate.not_valid_before_utc,
        not_after=genuine.certificate.not_valid_after_utc,
        extensions=[Extension(MALFORMED_CONSTRAINTS, critical=True)],
    )
    attestation, key_id = _emulated()
    decoded = cbor2.loads(attestation)
    decoded["attStmt"]["x5c"][1] = reissued.public_bytes(serialization.Encoding.DER)
    return verify_attestation(
        cbor2.dumps(decoded), key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS
    )


def _malformed_leaf_extension() -> object:
    forged = Attestation(CA)
    raw = forged.build()
    decoded = cbor2.loads(raw)
    leaf = x509.load_der_x509_certificate(decoded["attStmt"]["x5c"][0])
    reissued = issue_certificate(
        subject=leaf.subject,
        subject_key=forged.key.public_key(),
        issuer=CA.attestation_intermediate.certificate.subject,
        issuer_key=CA.attestation_intermediate.key,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        extensions=[Extension(MALFORMED_CONSTRAINTS, critical=True)],
        hash_algorithm=hashes.SHA256(),
    )
    decoded["attStmt"]["x5c"][0] = reissued.public_bytes(serialization.Encoding.DER)
    return verify_attestation(
        cbor2.dumps(decoded), key_id=forged.key_id_b64, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS
    )


def _receipt_signer_with_malformed_extension() -> object:
    # The receipt's signature is the signer's own, so any certificate in the bag reaches the chain check.
    signer = CA.receipt_signer
    reissued = issue_certificate(
        subject=signer.certificate.subject,
        subject_key=signer.key.public_key(),
        issuer=CA.receipt_intermediate.certificate.subject,
        issuer_key=CA.receipt_intermediate.key,
        not_before=signer.certificate.not_valid_before_utc,
        not_after=signer.certificate.not_valid_after_utc,
        extensions=[Extension(MALFORMED_CONSTRAINTS, critical=True)],
    )
    ca = dataclasses.replace(CA, receipt_signer=type(signer)(key=signer.key, certificate=reissued))
    attestation, key_id = _emulated(EmulatedAppAttestService(ca=ca, app=APP))
    receipt = cbor2.loads(attestation)["attStmt"]["receipt"]
    attested = verify_attestation(attestation, key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS)
    return verify_receipt(receipt, app=APP, public_key=attested.public_key, now=NOW, trust_roots=ROOTS)


def with_x5c(index: int, change: Callable[[bytes], bytes]) -> object:
    attestation, key_id = _emulated()
    decoded = cbor2.loads(attestation)
    original = decoded["attStmt"]["x5c"][index]
    decoded["attStmt"]["x5c"][index] = changed = change(original)
    assert changed != original
    return verify_attestation(
        cbor2.dumps(decoded), key_id=key_id, app=APP, challenge=CHALLENGE, now=NOW, trust_roots=ROOTS
    )


def version_66(der: bytes) -> bytes:
    # [0] EXPLICIT INTEGER 2 (v3) -> 66: the certificate parses, its version does not.
    return der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x42", 1)


def bit_string_name(der: bytes) -> bytes:
    # The subject's common name re-tagged from UTF8String to BIT STRING (0 unused bits): a type only
    # x500UniqueIdentifier may have, which cryptography reports as TypeError when it decodes the name.
    name = b"Emulated App Attestation CA 1"
    return der.replace(b"\x0c" + bytes([len(name)]) + name, b"\x03" + bytes([len(name)]) + b"\x00" + name[1:], 1)


ATTESTATIONS: list[Attack] = [
    Attack(
        "intermediate of X.509 version 66", PLATFORM, "apple.certificate_chain_invalid", lambda: with_x5c(1, version_66)
    ),
    Attack("credential certificate of X.509 version 66", PLATFORM, "input.malformed", lambda: with_x5c(0, version_66)),
    Attack(
        "intermediate named with a BIT STRING",
        PLATFORM,
        "apple.certificate_chain_invalid",
        lambda: with_x5c(1, bit_string_name),
    ),
    Attack(
        "credential certificate issued by a BIT STRING name",
        PLATFORM,
        "input.malformed",
        lambda: with_x5c(0, bit_string_name),
    ),
    Attack(
        "intermediate with an extension that does not parse",
        PLATFORM,
        "apple.certificate_chain_invalid",
        _malformed_intermediate,
    ),
    Attack(
        "credential certificate with an extension that does not parse",
        PLATFORM,
        "input.malformed",
        _malformed_leaf_extension,
    ),
    Attack(
        "receipt signer with an extension that does not parse",
        PLATFORM,
        "input.malformed",
        _receipt_signer_with_malformed_extension,
    ),
    Attack(
        "intermediate whose key names an unknown curve",
        PLATFORM,
        "apple.certificate_chain_invalid",
        _intermediate_on_unknown_curve,
    ),
    Attack(
        "credential certificate whose key names an unknown curve",
        PLATFORM,
        "apple.certificate_chain_invalid",
        _leaf_on_unknown_curve,
    ),
    Attack("attestation relayed with another key id", PLATFORM, "apple.key_id_mismatch", _relayed_with_another_key_id),
    Attack(
        "development key into a production-only app", PLATFORM, "apple.wrong_environment", _development_into_production
    ),
    Attack("chain to a look-alike root", PLATFORM, "apple.certificate_chain_invalid", _lookalike_root),
    Attack("test CA against Apple's pinned root", PLATFORM, "apple.certificate_chain_invalid", _pinned_apple_root),
    Attack("leaf certificate swapped", PLATFORM, "apple.nonce_mismatch", _swap_leaf),
    Attack("leaf swapped with its own key id", PLATFORM, "apple.nonce_mismatch", _swap_leaf_and_key_id),
    Attack("expired intermediate", PLATFORM, "apple.certificate_expired", _expired_intermediate),
    Attack("expired credential certificate", PLATFORM, "apple.certificate_expired", _expired_leaf),
    Attack("attestation for an old challenge", PLATFORM, "apple.nonce_mismatch", _wrong_challenge),
    Attack("attestation from another app", PLATFORM, "apple.app_id_mismatch", _another_app),
    Attack("attestation from another team", PLATFORM, "apple.app_id_mismatch", _another_team),
    Attack("iOS 27 map followed by a junk byte", PLATFORM, "apple.extension_invalid", lambda: _ios27_junk("junk")),
    Attack("iOS 27 map followed by a second map", PLATFORM, "apple.extension_invalid", lambda: _ios27_junk("map")),
    Attack("iOS 27 map followed by a CBOR break", PLATFORM, "apple.extension_invalid", lambda: _ios27_junk("break")),
    Attack(
        "nonce extension with extra bytes after the sequence",
        PLATFORM,
        "input.malformed",
        lambda: _attest(Attestation(CA, nonce_der=SEQUENCE + b"\x00")),
    ),
    Attack(
        "nonce extension with a second octet string",
        PLATFORM,
        "input.malformed",
        lambda: _attest(Attestation(CA, nonce_der=b"\x30\x46\xa1\x44" + OCTETS + OCTETS)),
    ),
    Attack(
        "nonce extension as a bare octet string",
        PLATFORM,
        "input.malformed",
        lambda: _attest(Attestation(CA, nonce_der=OCTETS)),
    ),
    Attack(
        "nonce extension with a wrong nonce",
        PLATFORM,
        "apple.nonce_mismatch",
        lambda: _attest(Attestation(CA, nonce_der=SEQUENCE)),
    ),
    Attack(
        "credential certificate for another key than the key id",
        PLATFORM,
        "apple.key_id_mismatch",
        lambda: _attest(Attestation(CA, leaf_key=ec.generate_private_key(ec.SECP256R1()))),
    ),
    Attack(
        "attestation counter not zero", PLATFORM, "apple.counter_not_zero", lambda: _attest(Attestation(CA, counter=1))
    ),
    Attack(
        "aaguid of no environment",
        PLATFORM,
        "apple.wrong_environment",
        lambda: _attest(Attestation(CA, aaguid=b"appattestevil\x00\x00\x00")),
    ),
    Attack(
        "development aaguid forged into a production object",
        PLATFORM,
        "apple.wrong_environment",
        lambda: _attest(Attestation(CA, aaguid=AAGUID_DEVELOPMENT)),
    ),
    Attack(
        "credentialId of another key",
        PLATFORM,
        "apple.key_id_mismatch",
        lambda: _attest(Attestation(CA, credential_id=hashlib.sha256(b"other").digest())),
    ),
    Attack(
        "COSE key of another key",
        PLATFORM,
        "apple.public_key_mismatch",
        lambda: _attest(
            Attestation(CA, cose=cose_key(public_point(ec.generate_private_key(ec.SECP256R1()).public_key())))
        ),
    ),
    Attack(
        "COSE key with alg ES384",
        PLATFORM,
        "apple.public_key_mismatch",
        lambda: _attest(_with_cose({3: -35})),
    ),
    Attack("COSE key on curve P-384", PLATFORM, "apple.public_key_mismatch", lambda: _attest(_with_cose({-1: 2}))),
    Attack("COSE key without alg", PLATFORM, "apple.public_key_mismatch", lambda: _attest(_with_cose({3: None}))),
    Attack("COSE key of kty OKP", PLATFORM, "apple.public_key_mismatch", lambda: _attest(_with_cose({1: 1}))),
    Attack(
        "receipt of another app",
        PLATFORM,
        "apple.receipt_invalid",
        lambda: _attest(Attestation(CA, receipt_app_id=OTHER_APP.app_id)),
    ),
    Attack(
        "receipt for another certificate",
        PLATFORM,
        "apple.receipt_invalid",
        lambda: _attest(Attestation(CA, receipt={3: b"\x30\x03\x02\x01\x01"})),
    ),
    Attack(
        "receipt for another clientDataHash",
        PLATFORM,
        "apple.receipt_invalid",
        lambda: _attest(Attestation(CA, receipt={4: hashlib.sha256(b"other").digest()})),
    ),
    Attack(
        "refreshed RECEIPT in place of the ATTEST receipt",
        PLATFORM,
        "apple.receipt_invalid",
        lambda: _attest(Attestation(CA, receipt={6: b"RECEIPT"})),
    ),
    Attack("fmt packed", PLATFORM, "apple.unsupported_format", lambda: _attest(Attestation(CA, fmt="packed"))),
    Attack("fmt none", PLATFORM, "apple.unsupported_format", lambda: _attest(Attestation(CA, fmt="none"))),
    Attack(
        "credential certificate that is a CA",
        PLATFORM,
        "apple.certificate_chain_invalid",
        lambda: _attest(Attestation(CA, leaf_ca=True)),
    ),
    Attack(
        "x5c without the intermediate",
        PLATFORM,
        "apple.certificate_chain_invalid",
        lambda: _attest(Attestation(CA, intermediate=False)),
    ),
    Attack(
        "x5c with the root appended",
        PLATFORM,
        "apple.certificate_chain_invalid",
        lambda: _attest(
            Attestation(CA, extra_x5c=[CA.attestation_root.certificate.public_bytes(serialization.Encoding.DER)])
        ),
    ),
    Attack(
        "authData padded after the COSE key",
        PLATFORM,
        "apple.extension_invalid",
        lambda: _attest(Attestation(CA, trailing=b"\x00\x00")),
    ),
    Attack(
        "attestation object that is not CBOR",
        PLATFORM,
        "input.malformed",
        lambda: verify_attestation(b"\xff\xfe", key_id=b"\x00" * 32, app=APP, challenge=CHALLENGE, now=NOW),
    ),
    Attack(
        "oversized attestation object",
        PLATFORM,
        "input.too_large",
        lambda: verify_attestation(b"\xa0" * 2_000_000, key_id=b"\x00" * 32, app=APP, challenge=CHALLENGE, now=NOW),
    ),
]


def _with_cose(changes: dict[int, object]) -> Attestation:
    forged = Attestation(CA)
    forged.cose = cose_key(public_point(forged.key.public_key()), changes)
    return forged


# --- assertions -------------------------------------------------------------------------------------------------

KEY = ec.generate_private_key(ec.SECP256R1())
POINT = public_point(KEY.public_key())
REQUEST = "app-integrity:v1\nchallenge\nPOST\n/api/redeem\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def _assert(raw: bytes | str, *, previous: int = 0, client_data: str = REQUEST, app: AppleApp = APP) -> object:
    return verify_assertion(raw, app=app, public_key=POINT, previous_counter=previous, client_data=client_data)


def _der_signature_with_trailing() -> bytes:
    decoded = cbor2.loads(assertion(KEY, REQUEST, counter=5))
    decoded["signature"] += b"\x00"
    return cbor2.dumps(decoded)


def _raw_signature() -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    decoded = cbor2.loads(assertion(KEY, REQUEST, counter=5))
    r, s = decode_dss_signature(decoded["signature"])
    decoded["signature"] = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return cbor2.dumps(decoded)


def _high_s() -> bytes:
    # (r, n - s) also verifies under plain ECDSA; it is still the device's signature, so it must be refused
    # only by the counter: a replayed assertion with a malleated signature is still a replay.
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    decoded = cbor2.loads(assertion(KEY, REQUEST, counter=5))
    r, s = decode_dss_signature(decoded["signature"])
    decoded["signature"] = encode_dss_signature(r, n - s)
    return cbor2.dumps(decoded)


def _signed_with(key: ec.EllipticCurvePrivateKey) -> bytes:
    return assertion(key, REQUEST, counter=5)


def _extra_member() -> bytes:
    decoded = cbor2.loads(assertion(KEY, REQUEST, counter=5))
    decoded["clientDataHash"] = hashlib.sha256(REQUEST.encode()).digest()
    return cbor2.dumps(decoded)


def _prehashed_signature() -> bytes:
    # Signing the nonce pre-hashed (ECDSA over nonce as the digest) is not what a device does.
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    raw = APP.rp_id_hash + b"\x40" + (5).to_bytes(4, "big")
    nonce = hashlib.sha256(raw + hashlib.sha256(REQUEST.encode()).digest()).digest()
    signature = KEY.sign(nonce, ec.ECDSA(Prehashed(hashes.SHA256())))
    return cbor2.dumps({"signature": signature, "authenticatorData": raw})


ASSERTIONS: list[Attack] = [
    Attack(
        "replayed assertion",
        PLATFORM,
        "apple.counter_not_increasing",
        lambda: _assert(assertion(KEY, REQUEST, counter=5), previous=5),
    ),
    Attack(
        "counter rollback",
        PLATFORM,
        "apple.counter_not_increasing",
        lambda: _assert(assertion(KEY, REQUEST, counter=4), previous=9),
    ),
    Attack(
        "counter zero on the first assertion",
        PLATFORM,
        "apple.counter_not_increasing",
        lambda: _assert(assertion(KEY, REQUEST, counter=0), previous=0),
    ),
    Attack(
        "replay with a malleated (high-s) signature",
        PLATFORM,
        "apple.counter_not_increasing",
        lambda: _assert(_high_s(), previous=5),
    ),
    Attack(
        "assertion from another app",
        PLATFORM,
        "apple.app_id_mismatch",
        lambda: _assert(assertion(KEY, REQUEST, counter=5, app=OTHER_APP)),
    ),
    Attack(
        "assertion signed by another key",
        PLATFORM,
        "apple.signature_invalid",
        lambda: _assert(_signed_with(ec.generate_private_key(ec.SECP256R1()))),
    ),
    Attack(
        "assertion for another request",
        PLATFORM,
        "apple.signature_invalid",
        lambda: _assert(assertion(KEY, REQUEST, counter=5), client_data=REQUEST.replace("redeem", "refund")),
    ),
    Attack(
        "assertion with the counter raised after signing",
        PLATFORM,
        "apple.signature_invalid",
        lambda: _assert(_counter_raised()),
    ),
    Attack(
        "signature with a trailing byte",
        PLATFORM,
        "apple.signature_invalid",
        lambda: _assert(_der_signature_with_trailing()),
    ),
    Attack("signature in raw r||s form", PLATFORM, "apple.signature_invalid", lambda: _assert(_raw_signature())),
    Attack(
        "signature over the pre-hashed nonce",
        PLATFORM,
        "apple.signature_invalid",
        lambda: _assert(_prehashed_signature()),
    ),
    Attack(
        "assertion authData followed by junk",
        PLATFORM,
        "apple.extension_invalid",
        lambda: _assert(assertion(KEY, REQUEST, counter=5, trailing=b"\x01\x02")),
    ),
    Attack(
        "assertion iOS 27 map followed by junk",
        PLATFORM,
        "apple.extension_invalid",
        lambda: _assert(assertion(KEY, REQUEST, counter=5, trailing=cbor2.dumps({"bundleVersion": "1"}) + b"\x00")),
    ),
    Attack(
        "assertion authData truncated",
        PLATFORM,
        "apple.authenticator_data_invalid",
        lambda: _assert(assertion(KEY, REQUEST, counter=5, auth_data=APP.rp_id_hash + b"\x40\x00")),
    ),
    Attack(
        "assertion with an extra clientDataHash member",
        PLATFORM,
        "input.malformed",
        lambda: _assert(_extra_member()),
    ),
    Attack("assertion that is a CBOR array", PLATFORM, "input.malformed", lambda: _assert(cbor2.dumps([b"", b""]))),
    Attack("assertion that is not base64", PLATFORM, "input.malformed", lambda: _assert("bm90IGFuIGFzc2VydGlvbg==!")),
]


def _counter_raised() -> bytes:
    decoded = cbor2.loads(assertion(KEY, REQUEST, counter=5))
    raw = decoded["authenticatorData"]
    decoded["authenticatorData"] = raw[:33] + (1000).to_bytes(4, "big") + raw[37:]
    return cbor2.dumps(decoded)


def test_genuine_inputs_are_accepted() -> None:
    genuine_is_accepted()
    assert _assert(assertion(KEY, REQUEST, counter=1)) is not None


@pytest.mark.parametrize("attack", ATTESTATIONS + ASSERTIONS, ids=ids(ATTESTATIONS + ASSERTIONS))
def test_attack_is_refused(attack: Attack) -> None:
    refused(attack)
