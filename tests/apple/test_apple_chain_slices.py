"""The attestation path reads the leaf's TBSCertificate, issuer name and public key as slices of its DER: they must
be exactly what ``cryptography`` reports, and a certificate the walk cannot read falls back to ``cryptography``'s
view."""

from __future__ import annotations

import base64
import hashlib

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app_integrity.apple.chain import _CACHE_LIMIT, IssuerCache, certificate_parts
from app_integrity.errors import AppleError
from app_integrity.samples import load_apple_sample
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA


def _chains(device: EmulatedAppAttestService) -> list[list[bytes]]:
    real = cbor2.loads(base64.b64decode(load_apple_sample().attestation))["attStmt"]["x5c"]
    key_id = device.generate_key()
    emulated = cbor2.loads(device.attest_key(key_id, hashlib.sha256(b"challenge").digest()))["attStmt"]["x5c"]
    return [real, emulated]


def test_slices_match_cryptography(device: EmulatedAppAttestService) -> None:
    for chain in _chains(device):
        for der in chain:
            certificate = x509.load_der_x509_certificate(der)
            assert certificate_parts(der) == (
                certificate.tbs_certificate_bytes,
                certificate.issuer.public_bytes(),
                certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
            )


def test_unreadable_structure_gives_none() -> None:
    assert certificate_parts(b"") is None
    assert certificate_parts(b"\x30\x03\x02\x01\x01") is None  # a SEQUENCE that holds no TBSCertificate
    assert certificate_parts(b"\x30\x84\xff\xff\xff\xff") is None  # a length past the end


def test_issuer_cache_tells_root_sets_apart(apple_ca: EmulatedAppleCA) -> None:
    cache = IssuerCache()
    der = apple_ca.attestation_intermediate.certificate.public_bytes(Encoding.DER)
    own_root = (apple_ca.attestation_root.certificate,)
    other_root = (apple_ca.receipt_root.certificate,)
    for _ in range(2):  # checked, then cached: the same answers
        assert cache.resolve(der, own_root, code="apple.certificate_chain_invalid").root == own_root[0]
        assert cache.resolve(der, (own_root[0],), code="x").root == own_root[0]  # an equal tuple, not the same one
        with pytest.raises(AppleError) as info:
            cache.resolve(der, other_root, code="apple.certificate_chain_invalid")
        assert info.value.code == "apple.certificate_chain_invalid"


def test_issuer_cache_is_bounded(apple_ca: EmulatedAppleCA) -> None:
    cache = IssuerCache()
    roots = (apple_ca.attestation_root.certificate,)
    for index in range(3 * _CACHE_LIMIT):
        with pytest.raises(AppleError):
            cache.resolve(index.to_bytes(4, "big"), roots, code="apple.certificate_chain_invalid")
        assert len(cache._entries) <= _CACHE_LIMIT + 1
