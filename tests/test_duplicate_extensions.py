"""RFC 5280 §4.2: a certificate carries each extension once. A repeated one (two nonces, two KeyDescriptions) is
refused as malformed input, never decoded leniently."""

from __future__ import annotations

import base64

import cbor2
import pytest
from asn1crypto import x509 as asn1_x509

from app_integrity.android import verify_key_attestation
from app_integrity.android.keyattestation import load_trust_roots
from app_integrity.apple import AppleApp, verify_attestation
from app_integrity.errors import AppIntegrityError
from app_integrity.testing.android.keystore import EmulatedKeyStore
from app_integrity.testing.apple import EmulatedAppAttestService, EmulatedAppleCA


def _repeat_extension(der: bytes, oid: str) -> bytes:
    """The certificate with its extension ``oid`` present twice (the signature no longer matters: decoding fails
    first)."""
    certificate = asn1_x509.Certificate.load(der)
    tbs = certificate["tbs_certificate"]
    extensions = list(tbs["extensions"])
    extensions.extend(e for e in list(extensions) if e["extn_id"].dotted == oid)
    tbs["extensions"] = asn1_x509.Extensions(extensions)
    certificate["tbs_certificate"] = tbs
    dumped: bytes = certificate.dump(force=True)
    return dumped


def test_app_attest_leaf_with_two_nonce_extensions() -> None:
    ca = EmulatedAppleCA.generate()
    app = AppleApp(team_id="ABCDE12345", bundle_id="com.example.app")
    device = EmulatedAppAttestService(ca=ca, app=app)
    key_id = device.generate_key()
    attestation = cbor2.loads(base64.b64decode(device.attest_key_async(key_id, "c")))
    x5c = attestation["attStmt"]["x5c"]
    x5c[0] = _repeat_extension(x5c[0], "1.2.840.113635.100.8.2")
    with pytest.raises(AppIntegrityError) as info:
        verify_attestation(cbor2.dumps(attestation), key_id=key_id, app=app, challenge="c", trust_roots=ca.trust_roots)
    assert info.value.code == "input.malformed"


def test_key_attestation_leaf_with_two_key_descriptions() -> None:
    keystore = EmulatedKeyStore()
    attested = keystore.generate_key(challenge="c", package_name="com.example.app", signing_digests=[bytes(32)])
    chain = list(attested.chain_der)
    chain[0] = _repeat_extension(chain[0], "1.3.6.1.4.1.11129.2.1.17")
    with pytest.raises(AppIntegrityError) as info:
        verify_key_attestation(
            chain, challenge="c", app=None, trust_roots=load_trust_roots([keystore.root_certificate])
        )
    assert info.value.code == "input.malformed"
