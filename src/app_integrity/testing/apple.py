"""An emulated ``DCAppAttestService``, backed by its own certificate authorities of Apple's shapes.

- ``EmulatedAppleCA``: an App Attest chain (P-384 root, P-384 intermediate, P-256 leaves with the nonce
  extension) and a receipt chain (P-384 root, P-384 intermediate, P-256 signer marked as Apple's fraud-receipt
  signer). ``generate()`` makes one; ``save(path)`` / ``load(path)`` keep it (keys included) across restarts;
  ``roots_pem()`` / ``trust_roots`` give what a verifier trusts instead of Apple's roots.
- ``EmulatedAppAttestService``: ``generate_key``, ``attest_key``, ``generate_assertion`` as the native API (raw
  bytes, explicit clientDataHash), and ``attest_key_async`` / ``generate_assertion_async`` as
  ``@expo/app-integrity`` (base64 strings, hashing the challenge / clientData string).

Everything it emits verifies with ``trust_roots=ca.trust_roots`` through the same code path as real captures.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app_integrity._ecdsa import public_point
from app_integrity.apple.app import AppleApp
from app_integrity.apple.asn1 import NonceExtension, ReceiptAttribute
from app_integrity.apple.attestation import AAGUID_DEVELOPMENT, AAGUID_PRODUCTION, NONCE_EXTENSION
from app_integrity.apple.authdata import BUNDLE_VERSION_KEY, VALIDATION_CATEGORY_KEY
from app_integrity.apple.receipt import RECEIPT_SIGNER_MARKER, parse_receipt
from app_integrity.testing._certs import Extension, issue_certificate

_ROLES = (
    "attestation_root",
    "attestation_intermediate",
    "receipt_root",
    "receipt_intermediate",
    "receipt_signer",
)
_RECEIPT_LIFETIME = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class _Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _ca(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: _Authority | None,
    start: datetime,
    years: int,
    *,
    unit: str | None = None,
    leaf_marker: x509.ObjectIdentifier | None = None,
) -> _Authority:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if unit is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attributes += [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Emulated Apple Inc."),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
    ]
    subject = x509.Name(attributes)
    extensions = [Extension(x509.KeyUsage(*(False,) * 5, True, True, False, False), critical=True)]
    if leaf_marker is not None:
        usage = x509.KeyUsage(True, *(False,) * 8)
        extensions = [Extension(usage, critical=True), Extension(x509.UnrecognizedExtension(leaf_marker, b"\x05\x00"))]
    certificate = issue_certificate(
        subject=subject,
        subject_key=key.public_key(),
        issuer=issuer.certificate.subject if issuer else subject,
        issuer_key=issuer.key if issuer else key,
        not_before=start,
        not_after=start + timedelta(days=365 * years),
        extensions=extensions,
        ca=leaf_marker is None,
    )
    return _Authority(key=key, certificate=certificate)


@dataclass(frozen=True, slots=True)
class EmulatedAppleCA:
    """The emulator's own App Attest and receipt authorities (test roots: never Apple's)."""

    attestation_root: _Authority
    attestation_intermediate: _Authority
    receipt_root: _Authority
    receipt_intermediate: _Authority
    receipt_signer: _Authority

    @classmethod
    def generate(cls, *, now: datetime | None = None) -> EmulatedAppleCA:
        # Back-dated so that captures made "in the past" (tests pin ``now``) still fall inside the validity.
        start = _now(now) - timedelta(days=365)
        p384, p256 = ec.SECP384R1(), ec.SECP256R1()
        att_root = _ca("Emulated App Attestation Root CA", ec.generate_private_key(p384), None, start, 25)
        att_ca = _ca("Emulated App Attestation CA 1", ec.generate_private_key(p384), att_root, start, 10)
        rcpt_root = _ca(
            "Emulated Apple Root CA - G3", ec.generate_private_key(p384), None, start, 25, unit="Certification"
        )
        rcpt_ca = _ca(
            "Emulated Apple Application Integration CA 5 - G1",
            ec.generate_private_key(p384),
            rcpt_root,
            start,
            20,
            unit="Certification",
        )
        signer = _ca(
            "Emulated Application Attestation Fraud Receipt Signing",
            ec.generate_private_key(p256),
            rcpt_ca,
            start,
            5,
            leaf_marker=RECEIPT_SIGNER_MARKER,
        )
        return cls(att_root, att_ca, rcpt_root, rcpt_ca, signer)

    @property
    def trust_roots(self) -> list[x509.Certificate]:
        """The two roots, for ``trust_roots=`` (they replace Apple's App Attest and receipt roots)."""
        return [self.attestation_root.certificate, self.receipt_root.certificate]

    def roots_pem(self) -> bytes:
        """The two root certificates (public only): what a server configuration lists as ``trust_roots``."""
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in self.trust_roots)

    def to_pem(self) -> bytes:
        """Keys and certificates of every authority, in a fixed order, so the emulator can resume issuing."""
        parts: list[bytes] = []
        for role in _ROLES:
            authority: _Authority = getattr(self, role)
            parts.append(
                authority.key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
            parts.append(authority.certificate.public_bytes(serialization.Encoding.PEM))
        return b"".join(parts)

    @classmethod
    def from_pem(cls, data: bytes) -> EmulatedAppleCA:
        certificates = x509.load_pem_x509_certificates(data)
        marker = b"-----BEGIN PRIVATE KEY-----"
        blocks = [
            marker + chunk.split(b"-----END PRIVATE KEY-----")[0] + b"-----END PRIVATE KEY-----\n"
            for chunk in data.split(marker)[1:]
        ]
        if len(certificates) != len(_ROLES) or len(blocks) != len(_ROLES):
            raise ValueError("not an emulated Apple CA bundle: expected five keys and five certificates")
        authorities = []
        for block, certificate in zip(blocks, certificates, strict=True):
            key = serialization.load_pem_private_key(block, password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError("an emulated Apple CA key is not an EC key")
            authorities.append(_Authority(key=key, certificate=certificate))
        return cls(*authorities)

    def save(self, path: str | os.PathLike[str]) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.to_pem())
        target.chmod(0o600)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EmulatedAppleCA:
        return cls.from_pem(Path(path).read_bytes())

    @classmethod
    def load_or_generate(cls, path: str | os.PathLike[str]) -> EmulatedAppleCA:
        """The CA saved at ``path``, or a new one saved there: a restarted server keeps trusting its devices."""
        if Path(path).exists():
            return cls.load(path)
        ca = cls.generate()
        ca.save(path)
        return ca

    # --- receipts -------------------------------------------------------------------------------------------

    def sign_receipt(
        self, fields: dict[int, bytes], *, signed_attributes: bool = False, sign_attributes: bool = False
    ) -> bytes:
        """A CMS SignedData receipt over ``fields``, signed by the emulated fraud-receipt signer.

        Like Apple's, the signature covers the content directly. ``signed_attributes=True`` adds a signed
        attribute set while still signing the content, as a real 2020 receipt does; ``sign_attributes=True``
        then signs the attribute set instead, as RFC 5652 describes.
        """
        payload = core.SetOf(
            [ReceiptAttribute({"type": kind, "version": 1, "value": value}) for kind, value in sorted(fields.items())],
            spec=ReceiptAttribute,
        ).dump()
        signer = self.receipt_signer
        signature = signer.key.sign(payload, ec.ECDSA(hashes.SHA256()))
        signer_cert = asn1_x509.Certificate.load(signer.certificate.public_bytes(serialization.Encoding.DER))
        signer_info: dict[str, object] = {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": signer_cert.issuer, "serial_number": signer_cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        }
        if signed_attributes or sign_attributes:
            attributes = cms.CMSAttributes(
                [
                    cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
                    cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(payload).digest()]}),
                ]
            )
            signer_info["signed_attrs"] = attributes
            if sign_attributes:
                signer_info["signature"] = signer.key.sign(attributes.dump(), ec.ECDSA(hashes.SHA256()))
        bag = [
            asn1_x509.Certificate.load(authority.certificate.public_bytes(serialization.Encoding.DER))
            for authority in (self.receipt_signer, self.receipt_intermediate, self.receipt_root)
        ]
        signed_data = cms.SignedData(
            {
                "version": "v1",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {"content_type": "data", "content": payload},
                "certificates": bag,
                "signer_infos": [cms.SignerInfo(signer_info)],
            }
        )
        encoded: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
        return encoded

    def attest_receipt(
        self, *, app_id: str, certificate_der: bytes, client_data_hash: bytes, environment: str, now: datetime
    ) -> bytes:
        created = _now(now)
        return self.sign_receipt(
            {
                2: app_id.encode(),
                3: certificate_der,
                4: client_data_hash,
                5: base64.b64encode(secrets.token_bytes(30)),
                6: b"ATTEST",
                7: b"sandbox" if environment == "development" else b"production",
                12: _timestamp(created),
                21: _timestamp(created + _RECEIPT_LIFETIME),
            }
        )

    def refresh_receipt(self, receipt: bytes, *, now: datetime | None = None, risk_metric: int = 1) -> bytes:
        """What Apple's fraud-metric endpoint returns for ``receipt``: a RECEIPT with a risk metric.

        Apple's server returns field 4 mangled (its bytes read as UTF-8 with replacement characters); so does
        this one.
        """
        fields = dict(parse_receipt(receipt).fields)
        created = _now(now)
        fields.update(
            {
                4: fields[4].decode("utf-8", errors="replace").encode("utf-8"),
                6: b"RECEIPT",
                12: _timestamp(created),
                17: str(risk_metric).encode(),
                19: _timestamp(created + timedelta(days=1)),
                21: _timestamp(created + _RECEIPT_LIFETIME),
            }
        )
        return self.sign_receipt(fields)


def _timestamp(moment: datetime) -> bytes:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()


@dataclass
class _DeviceKey:
    private_key: ec.EllipticCurvePrivateKey
    counter: int = 0
    attested: bool = False


@dataclass
class EmulatedAppAttestService:
    """One app on one emulated device: ``DCAppAttestService.shared`` for ``app``.

    ``environment`` picks the aaguid (``development`` is what Xcode builds get). ``bundle_version`` /
    ``validation_category`` set, the device behaves like iOS 27+: it appends them as a CBOR map to the
    authenticator data of attestations and assertions, without setting the ED flag.
    """

    ca: EmulatedAppleCA
    app: AppleApp
    environment: str = "production"
    bundle_version: str | None = None
    validation_category: int | None = None
    leaf_lifetime: timedelta = timedelta(days=3)
    _keys: dict[bytes, _DeviceKey] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.environment not in ("development", "production"):
            raise ValueError("environment is 'development' or 'production'")

    # --- native API ---------------------------------------------------------------------------------------

    def generate_key(self) -> str:
        """A new Secure Enclave key; returns its key id as standard base64 (SHA-256 of the public point)."""
        private_key = ec.generate_private_key(ec.SECP256R1())
        key_id = hashlib.sha256(public_point(private_key.public_key())).digest()
        self._keys[key_id] = _DeviceKey(private_key)
        return base64.b64encode(key_id).decode()

    def attest_key(self, key_id: str, client_data_hash: bytes, *, now: datetime | None = None) -> bytes:
        """The CBOR attestation object for ``key_id`` over ``client_data_hash`` (used as given)."""
        raw_id, key = self._key(key_id)
        moment = _now(now)
        point = public_point(key.private_key.public_key())
        aaguid = AAGUID_DEVELOPMENT if self.environment == "development" else AAGUID_PRODUCTION
        cose_key = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: point[1:33], -3: point[33:]})
        auth_data = (
            self.app.rp_id_hash
            + b"\x40"
            + (0).to_bytes(4, "big")
            + aaguid
            + len(raw_id).to_bytes(2, "big")
            + raw_id
            + cose_key
            + self._extensions()
        )
        nonce = hashlib.sha256(auth_data + client_data_hash).digest()
        leaf = self._leaf(raw_id, key.private_key.public_key(), nonce, moment)
        leaf_der = leaf.public_bytes(serialization.Encoding.DER)
        receipt = self.ca.attest_receipt(
            app_id=self.app.app_id,
            certificate_der=leaf_der,
            client_data_hash=client_data_hash,
            environment=self.environment,
            now=moment,
        )
        intermediate = self.ca.attestation_intermediate.certificate.public_bytes(serialization.Encoding.DER)
        key.attested = True
        return cbor2.dumps(
            {
                "fmt": "apple-appattest",
                "attStmt": {"x5c": [leaf_der, intermediate], "receipt": receipt},
                "authData": auth_data,
            }
        )

    def generate_assertion(self, key_id: str, client_data_hash: bytes) -> bytes:
        """The CBOR assertion: the key signs SHA-256(authenticatorData || clientDataHash) as its message."""
        _, key = self._key(key_id)
        key.counter += 1
        # Real devices set AT (0x40) on assertions although no attested credential data follows.
        auth_data = self.app.rp_id_hash + b"\x40" + key.counter.to_bytes(4, "big") + self._extensions()
        nonce = hashlib.sha256(auth_data + client_data_hash).digest()
        signature = key.private_key.sign(nonce, ec.ECDSA(hashes.SHA256()))
        return cbor2.dumps({"signature": signature, "authenticatorData": auth_data})

    # --- what @expo/app-integrity returns --------------------------------------------------------------------

    def attest_key_async(self, key_id: str, challenge: str, *, now: datetime | None = None) -> str:
        """``attestKeyAsync``: hashes the challenge string, returns standard base64."""
        digest = hashlib.sha256(challenge.encode("utf-8")).digest()
        return base64.b64encode(self.attest_key(key_id, digest, now=now)).decode()

    def generate_assertion_async(self, key_id: str, client_data: str) -> str:
        """``generateAssertionAsync``: hashes the clientData string, returns standard base64."""
        digest = hashlib.sha256(client_data.encode("utf-8")).digest()
        return base64.b64encode(self.generate_assertion(key_id, digest)).decode()

    # --- internals --------------------------------------------------------------------------------------------

    def _key(self, key_id: str) -> tuple[bytes, _DeviceKey]:
        raw_id = base64.b64decode(key_id)
        key = self._keys.get(raw_id)
        if key is None:
            raise KeyError(f"no key {key_id} on this emulated device")
        return raw_id, key

    def _extensions(self) -> bytes:
        values: dict[str, object] = {}
        if self.bundle_version is not None:
            values[BUNDLE_VERSION_KEY] = self.bundle_version
        if self.validation_category is not None:
            values[VALIDATION_CATEGORY_KEY] = self.validation_category.to_bytes(4, "little")
        return cbor2.dumps(values) if values else b""

    def _leaf(
        self, key_id: bytes, public_key: ec.EllipticCurvePublicKey, nonce: bytes, now: datetime
    ) -> x509.Certificate:
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, key_id.hex()),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "AAA Certification"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Emulated Apple Inc."),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "California"),
            ]
        )
        intermediate = self.ca.attestation_intermediate
        return issue_certificate(
            subject=subject,
            subject_key=public_key,
            issuer=intermediate.certificate.subject,
            issuer_key=intermediate.key,
            not_before=now - timedelta(minutes=5),
            not_after=now + self.leaf_lifetime,
            extensions=[
                Extension(x509.KeyUsage(True, *(False,) * 8), critical=True),
                Extension(x509.UnrecognizedExtension(NONCE_EXTENSION, NonceExtension({"nonce": nonce}).dump())),
            ],
            ca=False,
            # Apple's P-384 intermediate signs App Attest leaves with ecdsa-with-SHA256.
            hash_algorithm=hashes.SHA256(),
        )


__all__ = ["EmulatedAppAttestService", "EmulatedAppleCA"]
