"""The attestation path reads the leaf's TBSCertificate and issuer name as slices of its DER: they must be exactly
what ``cryptography`` reports, and a certificate the walk cannot read falls back to ``cryptography``'s view."""

from __future__ import annotations

import base64
import hashlib

import cbor2
from cryptography import x509

from app_integrity.apple.chain import _tbs_and_issuer
from app_integrity.samples import load_apple_sample
from app_integrity.testing.apple import EmulatedAppAttestService


def _chains(device: EmulatedAppAttestService) -> list[list[bytes]]:
    real = cbor2.loads(base64.b64decode(load_apple_sample().attestation))["attStmt"]["x5c"]
    key_id = device.generate_key()
    emulated = cbor2.loads(device.attest_key(key_id, hashlib.sha256(b"challenge").digest()))["attStmt"]["x5c"]
    return [real, emulated]


def test_slices_match_cryptography(device: EmulatedAppAttestService) -> None:
    for chain in _chains(device):
        for der in chain:
            certificate = x509.load_der_x509_certificate(der)
            assert _tbs_and_issuer(der) == (certificate.tbs_certificate_bytes, certificate.issuer.public_bytes())


def test_unreadable_structure_gives_none() -> None:
    assert _tbs_and_issuer(b"") is None
    assert _tbs_and_issuer(b"\x30\x03\x02\x01\x01") is None  # a SEQUENCE that holds no TBSCertificate
    assert _tbs_and_issuer(b"\x30\x84\xff\xff\xff\xff") is None  # a length past the end
