"""A forger of App Attest objects: what a device (or an attacker holding a test CA's keys) could emit, field by field.

The emulator (``app_integrity.testing.apple``) makes genuine objects; this builds the same shapes with one field
changed while keeping every other check satisfied (nonce, signatures, receipt), so an attack reaches the check
it targets rather than failing earlier for an incidental reason.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app_integrity._ecdsa import public_point
from app_integrity.apple import AppleApp
from app_integrity.apple.asn1 import NonceExtension
from app_integrity.apple.attestation import AAGUID_PRODUCTION, NONCE_EXTENSION
from app_integrity.testing._certs import Extension, issue_certificate
from app_integrity.testing.apple import EmulatedAppleCA

APP = AppleApp(team_id="TEAMID1234", bundle_id="com.example.app")
OTHER_APP = AppleApp(team_id="TEAMID1234", bundle_id="com.attacker.clone")
CHALLENGE = "attack-corpus-challenge"
NOW = datetime.now(UTC)


def cose_key(point: bytes, changes: dict[int, Any] | None = None) -> bytes:
    key: dict[int, Any] = {1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:]}
    key.update(changes or {})
    return cbor2.dumps({k: v for k, v in key.items() if v is not None})


@dataclass
class Attestation:
    """The knobs of one attestation object; ``build()`` signs it with the CA's intermediate."""

    ca: EmulatedAppleCA
    app: AppleApp = APP
    challenge: str = CHALLENGE
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    rp_id_hash: bytes | None = None
    flags: int = 0x40
    counter: int = 0
    aaguid: bytes = AAGUID_PRODUCTION
    credential_id: bytes | None = None
    cose: bytes | None = None
    trailing: bytes = b""
    nonce_der: bytes | None = None
    leaf_key: ec.EllipticCurvePrivateKey | None = None
    leaf_ca: bool = False
    leaf_not_after: timedelta = timedelta(days=3)
    receipt: dict[int, bytes] = field(default_factory=dict)
    receipt_app_id: str | None = None
    fmt: str = "apple-appattest"
    extra_x5c: list[bytes] = field(default_factory=list)
    intermediate: bool = True

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(public_point(self.key.public_key())).digest()

    @property
    def key_id_b64(self) -> str:
        return base64.b64encode(self.key_id).decode()

    def auth_data(self) -> bytes:
        point = public_point(self.key.public_key())
        credential = self.credential_id if self.credential_id is not None else self.key_id
        return (
            (self.rp_id_hash if self.rp_id_hash is not None else self.app.rp_id_hash)
            + bytes([self.flags])
            + self.counter.to_bytes(4, "big")
            + self.aaguid
            + len(credential).to_bytes(2, "big")
            + credential
            + (self.cose if self.cose is not None else cose_key(point))
            + self.trailing
        )

    def build(self) -> bytes:
        client_hash = hashlib.sha256(self.challenge.encode()).digest()
        auth_data = self.auth_data()
        nonce = hashlib.sha256(auth_data + client_hash).digest()
        extension = self.nonce_der if self.nonce_der is not None else NonceExtension({"nonce": nonce}).dump()
        intermediate = self.ca.attestation_intermediate
        leaf_key = self.leaf_key if self.leaf_key is not None else self.key
        leaf = issue_certificate(
            subject=x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, self.key_id.hex()),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Emulated Apple Inc."),
                ]
            ),
            subject_key=leaf_key.public_key(),
            issuer=intermediate.certificate.subject,
            issuer_key=intermediate.key,
            not_before=NOW - timedelta(minutes=5),
            not_after=NOW + self.leaf_not_after,
            extensions=[Extension(x509.UnrecognizedExtension(NONCE_EXTENSION, extension))],
            ca=self.leaf_ca,
            hash_algorithm=hashes.SHA256(),
        )
        leaf_der = leaf.public_bytes(serialization.Encoding.DER)
        receipt = self.ca.attest_receipt(
            app_id=self.receipt_app_id or self.app.app_id,
            certificate_der=leaf_der,
            client_data_hash=client_hash,
            environment="production",
            now=NOW,
        )
        if self.receipt:
            receipt = _receipt_with(self.ca, receipt, self.receipt)
        x5c = [leaf_der]
        if self.intermediate:
            x5c.append(intermediate.certificate.public_bytes(serialization.Encoding.DER))
        x5c += self.extra_x5c
        return cbor2.dumps({"fmt": self.fmt, "attStmt": {"x5c": x5c, "receipt": receipt}, "authData": auth_data})


def _receipt_with(ca: EmulatedAppleCA, receipt: bytes, changes: dict[int, bytes]) -> bytes:
    from app_integrity.apple.receipt import parse_receipt

    fields = dict(parse_receipt(receipt).fields)
    fields.update(changes)
    return ca.sign_receipt(fields)


def assertion(
    key: ec.EllipticCurvePrivateKey,
    client_data: str,
    *,
    counter: int,
    app: AppleApp = APP,
    trailing: bytes = b"",
    flags: int = 0x40,
    auth_data: bytes | None = None,
) -> bytes:
    """An assertion as a device makes it: the key signs SHA-256(authenticatorData || SHA-256(clientData))."""
    raw = (
        auth_data if auth_data is not None else app.rp_id_hash + bytes([flags]) + counter.to_bytes(4, "big") + trailing
    )
    nonce = hashlib.sha256(raw + hashlib.sha256(client_data.encode()).digest()).digest()
    signature = key.sign(nonce, ec.ECDSA(hashes.SHA256()))
    return cbor2.dumps({"signature": signature, "authenticatorData": raw})


def with_leaf_curve(attestation: bytes, ca: EmulatedAppleCA, curve_oid: str) -> bytes:
    """The attestation with its credential certificate's key re-labelled as a point on ``curve_oid``, re-signed by
    the CA's intermediate: a certificate that parses and chains, but whose key no verifier can load."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509

    decoded = cbor2.loads(attestation)
    leaf = asn1_x509.Certificate.load(decoded["attStmt"]["x5c"][0])
    tbs = leaf["tbs_certificate"]
    tbs["subject_public_key_info"]["algorithm"]["parameters"] = asn1_keys.ECDomainParameters(
        name="named", value=curve_oid
    )
    tbs_der = tbs.untag().dump(force=True)
    signature = ca.attestation_intermediate.key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    certificate = asn1_x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": leaf["signature_algorithm"], "signature_value": signature}
    )
    decoded["attStmt"]["x5c"][0] = certificate.dump(force=True)
    return cbor2.dumps(decoded)
