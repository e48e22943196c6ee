"""An emulated Android KeyStore: attested keys whose chains have the shape of real devices', under a test root.

``generate_key`` is what ``generateHardwareAttestedKeyAsync(alias, challenge)`` followed by
``getAttestationCertificateChainAsync(alias)`` produce on a phone: a list of standard-base64 DER certificates,
leaf first. The leaf carries a KeyDescription encoded with the same asn1crypto schema the verifier reads; above it
come factory-shaped (batch key, factory CA) or remote-provisioning-shaped (per-device certificate with
provisioning info, "Droid CA3", "Droid CA2") intermediates and the emulator's own root. Verify with
``trust_roots=[keystore.root_certificate]``; ``export_pem`` / ``from_pem`` keep the root across restarts.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import cbor2
from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app_integrity._clock import resolve_now
from app_integrity._encoding import b64_standard
from app_integrity.android.app import parse_certificate_digest
from app_integrity.android.keyattestation.chain import PROVISIONING_INFO_OID
from app_integrity.android.keyattestation.description import (
    KEY_DESCRIPTION_OID,
    AttestationApplicationIdAsn1,
    AuthorizationListAsn1,
    KeyDescriptionAsn1,
    KeyOrigin,
    KeyPurpose,
    SecurityLevel,
    VerifiedBootState,
)
from app_integrity.errors import ConfigError
from app_integrity.testing._certs import Extension, SigningKey, issue_certificate, name

Provisioning = Literal["factory", "rkp"]
_LEAF_NOT_BEFORE = datetime(1970, 1, 1, tzinfo=UTC)
_LEAF_NOT_AFTER = datetime(2048, 1, 1, tzinfo=UTC)
_KEY_USAGE_CA = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
_KEY_USAGE_LEAF = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True, slots=True)
class AttestedKey:
    """A generated key and its attestation chain (leaf first)."""

    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    chain: tuple[str, ...]
    """Standard base64 DER, as the Expo module returns it."""
    chain_der: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class _Issuer:
    certificate: x509.Certificate
    key: SigningKey


def _ca(subject: x509.Name, issuer: _Issuer | None, key: SigningKey, start: datetime, end: datetime) -> _Issuer:
    certificate = issue_certificate(
        subject=subject,
        subject_key=key.public_key(),
        issuer=issuer.certificate.subject if issuer else subject,
        issuer_key=issuer.key if issuer else key,
        not_before=start,
        not_after=end,
        ca=True,
        extensions=[Extension(_KEY_USAGE_CA, critical=True)],
    )
    return _Issuer(certificate, key)


def _authorization_list(values: dict[str, Any]) -> Any:
    # asn1crypto treats a SEQUENCE with no field set as absent; an empty AuthorizationList is still present.
    return AuthorizationListAsn1(values) if values else AuthorizationListAsn1.load(b"\x30\x00")


def encode_key_description(
    *,
    challenge: bytes,
    attestation_version: int,
    security_level: SecurityLevel,
    software: dict[str, Any],
    hardware: dict[str, Any],
    unique_id: bytes = b"",
) -> bytes:
    """DER of a KeyDescription (values as ``AuthorizationListAsn1`` field names; absent fields omitted)."""
    return bytes(
        KeyDescriptionAsn1(
            {
                "attestation_version": attestation_version,
                "attestation_security_level": int(security_level),
                "keymint_version": attestation_version,
                "keymint_security_level": int(security_level),
                "attestation_challenge": challenge,
                "unique_id": unique_id,
                "software_enforced": _authorization_list(software),
                "hardware_enforced": _authorization_list(hardware),
            }
        ).dump()
    )


class EmulatedKeyStore:
    """One emulated device family under one test root. Thread-compatible, not thread-safe."""

    def __init__(
        self,
        *,
        root_key: ec.EllipticCurvePrivateKey | None = None,
        root_certificate: x509.Certificate | None = None,
        now: datetime | None = None,
    ) -> None:
        self._created = resolve_now(now)
        key = root_key if root_key is not None else ec.generate_private_key(ec.SECP384R1())
        if root_certificate is None:
            root = _ca(
                name("app-integrity emulated Key Attestation Root", organization="app-integrity emulator"),
                None,
                key,
                self._created - timedelta(days=1),
                self._created + timedelta(days=365 * 25),
            )
        else:
            root = _Issuer(root_certificate, key)
        self._root = root
        self._intermediates: dict[tuple[Provisioning, SecurityLevel], list[_Issuer]] = {}

    # --- the root, for trust_roots= and persistence ---

    @property
    def root_certificate(self) -> x509.Certificate:
        return self._root.certificate

    def root_pem(self) -> bytes:
        return self._root.certificate.public_bytes(serialization.Encoding.PEM)

    def export_pem(self) -> bytes:
        """Root certificate and its private key (unencrypted PEM): a test fixture, never a production secret."""
        key = self._root.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return self.root_pem() + key

    @classmethod
    def from_pem(cls, data: bytes, *, now: datetime | None = None) -> EmulatedKeyStore:
        try:
            certificate = x509.load_pem_x509_certificates(data)[0]
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError as exc:
            raise ConfigError("config.invalid", "not an emulated KeyStore export (PEM certificate and key)") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError("config.invalid", "the emulated KeyStore's root key is an EC key")
        return cls(root_key=key, root_certificate=certificate, now=now)

    # --- intermediates: shared by every key of a provisioning shape and security level, as on real devices ---

    def _chain_above_leaf(self, provisioning: Provisioning, level: SecurityLevel, at: datetime) -> list[_Issuer]:
        cached = self._intermediates.get((provisioning, level))
        if cached is not None:
            return cached
        title = "StrongBox" if level == SecurityLevel.STRONG_BOX else "TEE"
        start = at - timedelta(days=1)
        if provisioning == "factory":
            factory = _ca(
                name(f"Emulated factory CA {title}", organization="app-integrity emulator"),
                self._root,
                ec.generate_private_key(ec.SECP256R1()),
                start,
                start + timedelta(days=365 * 10),
            )
            batch = _ca(
                name(secrets.token_hex(16), organization=title),
                factory,
                ec.generate_private_key(ec.SECP256R1()),
                start,
                start + timedelta(days=365 * 10),
            )
            issuers = [batch, factory]
        else:
            ca2 = _ca(
                name("Droid CA2", organization="app-integrity emulator"),
                self._root,
                ec.generate_private_key(ec.SECP384R1()),
                start,
                start + timedelta(days=365 * 3),
            )
            ca3 = _ca(
                name("Droid CA3", organization="app-integrity emulator"),
                ca2,
                ec.generate_private_key(ec.SECP384R1()),
                start,
                start + timedelta(days=60),
            )
            device_key = ec.generate_private_key(ec.SECP256R1())
            device_subject = name(secrets.token_hex(16), organization=title)
            provisioning_info = cbor2.dumps({1: 8, 3: "app-integrity emulator"})
            device = _Issuer(
                issue_certificate(
                    subject=device_subject,
                    subject_key=device_key.public_key(),
                    issuer=ca3.certificate.subject,
                    issuer_key=ca3.key,
                    not_before=start,
                    not_after=start + timedelta(days=30),
                    ca=True,
                    extensions=[
                        Extension(_KEY_USAGE_CA, critical=True),
                        Extension(
                            x509.UnrecognizedExtension(x509.ObjectIdentifier(PROVISIONING_INFO_OID), provisioning_info)
                        ),
                    ],
                ),
                device_key,
            )
            issuers = [device, ca3, ca2]
        self._intermediates[(provisioning, level)] = issuers
        return issuers

    # --- keys ---

    def generate_key(
        self,
        *,
        challenge: str | bytes,
        package_name: str,
        signing_digests: Sequence[str | bytes],
        version_code: int = 1,
        attestation_version: int = 300,
        security_level: SecurityLevel = SecurityLevel.TRUSTED_ENVIRONMENT,
        verified_boot_state: VerifiedBootState = VerifiedBootState.VERIFIED,
        device_locked: bool = True,
        verified_boot_key: bytes = b"\x5a" * 32,
        os_patch_level: int = 202510,
        origin: KeyOrigin = KeyOrigin.GENERATED,
        purposes: Sequence[KeyPurpose] = (KeyPurpose.SIGN, KeyPurpose.VERIFY),
        algorithm: Literal["ec", "rsa"] = "ec",
        provisioning: Provisioning = "rkp",
        attest_key: bool = False,
        attest_key_purposes: Sequence[KeyPurpose] = (KeyPurpose.ATTEST_KEY,),
        include_root: bool = True,
        now: datetime | None = None,
    ) -> AttestedKey:
        """Generate a key attested for ``challenge`` (str: its UTF-8 bytes, as the Expo module sets it)."""
        at = resolve_now(now) if now is not None else self._created
        challenge_bytes = challenge.encode("utf-8") if isinstance(challenge, str) else challenge
        private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
            ec.generate_private_key(ec.SECP256R1())
            if algorithm == "ec"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        issuers = self._chain_above_leaf(provisioning, security_level, at)
        hardware: dict[str, Any] = {
            "purpose": [int(p) for p in purposes],
            "algorithm": 3 if algorithm == "ec" else 1,
            "key_size": 256 if algorithm == "ec" else 2048,
            "digest": [4],
            "no_auth_required": core.Null(),
            "origin": int(origin),
            "root_of_trust": {
                "verified_boot_key": verified_boot_key,
                "device_locked": device_locked,
                "verified_boot_state": int(verified_boot_state),
                "verified_boot_hash": b"\x11" * 32,
            },
            "os_version": 160000,
            "os_patch_level": os_patch_level,
            "vendor_patch_level": os_patch_level * 100 + 5,
            "boot_patch_level": os_patch_level * 100 + 5,
        }
        if algorithm == "ec":
            hardware["ec_curve"] = 1
        application_id = AttestationApplicationIdAsn1(
            {
                "package_infos": [{"package_name": package_name.encode("utf-8"), "version": version_code}],
                "signature_digests": [parse_certificate_digest(d) for d in signing_digests],
            }
        ).dump()
        software: dict[str, Any] = {
            "creation_date_time": int(at.timestamp() * 1000),
            "attestation_application_id": application_id,
        }
        if attestation_version >= 400:
            software["module_hash"] = b"\x22" * 32
        description = encode_key_description(
            challenge=challenge_bytes,
            attestation_version=attestation_version,
            security_level=security_level,
            software=software,
            hardware=hardware,
        )
        parent = issuers[0]
        extra: list[x509.Certificate] = []
        if attest_key:
            attest_private = ec.generate_private_key(ec.SECP256R1())
            attest_description = encode_key_description(
                challenge=b"",
                attestation_version=attestation_version,
                security_level=security_level,
                software={"creation_date_time": int(at.timestamp() * 1000)},
                hardware={**hardware, "purpose": [int(p) for p in attest_key_purposes]},
            )
            attest_certificate = self._leaf(attest_private.public_key(), parent, attest_description)
            extra.append(attest_certificate)
            parent = _Issuer(attest_certificate, attest_private)
        leaf = self._leaf(private_key.public_key(), parent, description)
        certificates = [leaf, *extra, *(i.certificate for i in issuers)]
        if include_root:
            certificates.append(self._root.certificate)
        der = tuple(c.public_bytes(serialization.Encoding.DER) for c in certificates)
        return AttestedKey(private_key=private_key, chain=tuple(b64_standard(d) for d in der), chain_der=der)

    @staticmethod
    def _leaf(
        public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey, issuer: _Issuer, description: bytes
    ) -> x509.Certificate:
        # Leaf dates are the device's, not the CA's: KeyMint writes 1970-01-01 .. 2048-01-01 by default.
        return issue_certificate(
            subject=name("Android Keystore Key"),
            subject_key=public_key,
            issuer=issuer.certificate.subject,
            issuer_key=issuer.key,
            not_before=_LEAF_NOT_BEFORE,
            not_after=_LEAF_NOT_AFTER,
            serial_number=1,
            hash_algorithm=hashes.SHA256(),
            extensions=[
                Extension(_KEY_USAGE_LEAF, critical=True),
                Extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(KEY_DESCRIPTION_OID), description)),
            ],
        )
