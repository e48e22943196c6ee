"""Building blocks for the emulators' own certificate authorities.

Each emulator (App Attest, Android KeyStore) builds chains of the same shape as the platform's, with its own
roots. This module only issues certificates; what goes into them is the emulator's business.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
CertificateHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512


@dataclass(frozen=True, slots=True)
class Extension:
    """One extension to put in a certificate."""

    value: x509.ExtensionType
    critical: bool = False


def name(common_name: str, *, organization: str | None = None, state: str | None = None) -> x509.Name:
    """A distinguished name with a CN and, like Apple's and Google's, optional O and ST."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if state is not None:
        attributes.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, state))
    return x509.Name(attributes)


def default_hash(issuer_key: SigningKey) -> CertificateHash:
    """SHA-384 for P-384 issuers (as Apple's App Attest CAs sign), SHA-256 otherwise."""
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey) and issuer_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def issue_certificate(
    *,
    subject: x509.Name,
    subject_key: PublicKey,
    issuer: x509.Name,
    issuer_key: SigningKey,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[Extension] = (),
    serial_number: int | None = None,
    ca: bool | None = None,
    hash_algorithm: CertificateHash | None = None,
) -> x509.Certificate:
    """Issue one certificate. ``ca=None`` leaves basicConstraints out, as some real device certificates do."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(subject_key)
        .serial_number(serial_number if serial_number is not None else secrets.randbits(63) + 1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    for extension in extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.sign(issuer_key, hash_algorithm or default_hash(issuer_key))
