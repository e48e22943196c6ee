"""Certificate paths under an explicit policy, for App Attest chains and the receipt signer's chain.

A WebPKI-profile verifier rejects App Attest leaves (custom extended key usage, no AKI, no SAN), so the checks
are spelled out: issuer name == issuer's subject name, the issuer's signature (``cryptography``), validity at the
given instant, basicConstraints CA on every issuer, and a pinned root at the top. Nothing else is trusted.

The intermediate-to-root check is the same for every device: its result is cached per (intermediate, roots),
so verifying one attestation costs one leaf signature check. The leaf's TBSCertificate, issuer name and public key
are read as slices of its DER (``certificate_parts``) rather than rebuilt from ``cryptography``'s objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import SignatureAlgorithmOID

from app_integrity._ecdsa import public_point
from app_integrity.apple import _der
from app_integrity.errors import AppleError, InputError

# Apple's App Attest and receipt CAs sign with ECDSA only; anything else is not theirs.
_ECDSA_HASHES: dict[x509.ObjectIdentifier, hashes.HashAlgorithm] = {
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: hashes.SHA256(),
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: hashes.SHA384(),
}
_ECDSA = {oid: ec.ECDSA(algorithm) for oid, algorithm in _ECDSA_HASHES.items()}
_CACHE_LIMIT = 64


@dataclass(frozen=True, slots=True)
class Issuer:
    """A CA certificate whose path to a pinned root has been checked (validity is checked per use)."""

    certificate: x509.Certificate
    public_key: ec.EllipticCurvePublicKey
    subject: x509.Name
    subject_der: bytes  # the DER of ``subject``, to recognise the certificates it issued without building names
    not_before: datetime
    not_after: datetime
    root: x509.Certificate
    root_not_before: datetime
    root_not_after: datetime


def public_key_of(certificate: x509.Certificate) -> CertificatePublicKeyTypes | None:
    """The certificate's key, or None when it names an algorithm or curve that cannot be loaded (a certificate
    that parses can still carry, say, an unknown curve OID: ``cryptography`` raises UnsupportedAlgorithm then)."""
    try:
        return certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None


# What ``cryptography`` raises for a certificate that does not decode: ValueError mostly, InvalidVersion for a
# version other than v1-v3, TypeError for a name attribute of a type its OID does not allow.
# DuplicateExtension: RFC 5280 §4.2 allows each extension once; cryptography raises it outside ValueError.
CERTIFICATE_ERRORS = (ValueError, TypeError, x509.InvalidVersion, x509.DuplicateExtension)


# Issuer names that ``cryptography`` has decoded without error: the subjects of intermediates that chain to a
# trusted root. Decoding a name depends on its bytes alone, so a certificate naming one of these as its issuer
# needs no second decode to prove that it decodes (bounded like the issuer caches that fill it).
_DECODED_NAMES: set[bytes] = set()


class CertificateParts(NamedTuple):
    """Exact DER slices of a certificate: what the attestation path reads without ``cryptography``'s objects."""

    tbs: bytes  # TBSCertificate: what the issuer signed
    issuer_name: bytes
    public_key_info: bytes  # SubjectPublicKeyInfo


def _decode_fields(certificate: x509.Certificate, *, issuer_known: bool = False) -> x509.Certificate:
    """Decode at once what ``cryptography`` decodes lazily (names, validity, extensions): a malformed field raises
    one of ``CERTIFICATE_ERRORS`` here, not in the middle of a later check. ``issuer_known``: the issuer Name's
    bytes are in ``_DECODED_NAMES``."""
    if not issuer_known:
        _ = certificate.issuer
    _ = (
        certificate.subject,
        certificate.not_valid_before_utc,
        certificate.not_valid_after_utc,
        certificate.extensions,
    )
    return certificate


def _decoded(der: bytes) -> x509.Certificate:
    return _decode_fields(x509.load_der_x509_certificate(der))


def _check_type(der: object, field: str) -> None:
    if not isinstance(der, bytes | bytearray):
        raise InputError("input.malformed", f"{field} must be a DER certificate (bytes), not {type(der).__name__}")


def load_certificate(der: bytes, *, field: str) -> x509.Certificate:
    _check_type(der, field)
    try:
        return _decoded(bytes(der))
    except CERTIFICATE_ERRORS as exc:
        raise InputError("input.malformed", f"{field} is not a DER X.509 certificate") from exc


def load_with_parts(der: bytes, *, field: str) -> tuple[x509.Certificate, CertificateParts | None]:
    """``load_certificate``, and the certificate's ``certificate_parts``."""
    _check_type(der, field)
    der = bytes(der)
    try:
        certificate = x509.load_der_x509_certificate(der)
        parts = certificate_parts(der)
        _decode_fields(certificate, issuer_known=parts is not None and parts.issuer_name in _DECODED_NAMES)
    except CERTIFICATE_ERRORS as exc:
        raise InputError("input.malformed", f"{field} is not a DER X.509 certificate") from exc
    return certificate, parts


def certificate_parts(der: bytes) -> CertificateParts | None:
    """The TBSCertificate, issuer Name and SubjectPublicKeyInfo inside ``der``, or None when the walk does not find
    them. Callers read only certificates ``cryptography`` has parsed: the slices are then the fields it parsed.

    ``Certificate.tbs_certificate_bytes`` re-encodes the whole TBSCertificate and ``Certificate.issuer`` builds name
    objects: per attestation, slicing the bytes the issuer signed is several times cheaper than either.
    """
    # Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, signatureAlgorithm, signatureValue }
    # TBSCertificate ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, serialNumber INTEGER, signature
    #                               AlgorithmIdentifier, issuer Name, validity, subject Name,
    #                               subjectPublicKeyInfo, ... } (RFC 5280 §4.1)
    try:
        start = _der.enter(der, 0, _der.UNIVERSAL, _der.SEQUENCE)
        tbs_end = _der.end_of(der, start)
        position = _der.enter(der, start, _der.UNIVERSAL, _der.SEQUENCE)
        if position < len(der) and der[position] == 0xA0:  # version [0]
            position = _der.end_of(der, position)
        issuer_start = _der.end_of(der, _der.end_of(der, position))  # after serialNumber and signature
        issuer_end = _der.end_of(der, issuer_start)
        key_start = _der.end_of(der, _der.end_of(der, issuer_end))  # after validity and subject
        key_end = _der.end_of(der, key_start)
    except InputError:
        return None
    if key_end > tbs_end:
        return None
    return CertificateParts(der[start:tbs_end], der[issuer_start:issuer_end], der[key_start:key_end])


# SubjectPublicKeyInfo { id-ecPublicKey, prime256v1 } BIT STRING (no unused bits) of an uncompressed point.
_P256_KEY_INFO = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004")
_P256_KEY_INFO_LENGTH = len(_P256_KEY_INFO) + 64
_P256 = ec.SECP256R1()


def p256_point(certificate: x509.Certificate, parts: CertificateParts | None) -> bytes | None:
    """The 65-byte uncompressed point of the certificate's P-256 key, or None when it holds another key or one
    that does not load. The point is read from the SubjectPublicKeyInfo when it has the usual form, and loaded
    (checked to be on the curve) either way."""
    info = parts.public_key_info if parts is not None else b""
    if len(info) == _P256_KEY_INFO_LENGTH and info.startswith(_P256_KEY_INFO):
        point = info[len(_P256_KEY_INFO) - 1 :]
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(_P256, point)
        except ValueError:
            return None
        return point
    key = public_key_of(certificate)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return public_point(key)


def issued_and_signed_by(certificate: x509.Certificate, issuer: Issuer, parts: CertificateParts | None = None) -> bool:
    """True when ``certificate`` names ``issuer``'s subject as its issuer (``x509.Name`` equality) and carries a
    valid signature by ``issuer``'s key; ``parts`` are its ``certificate_parts`` when the walk found them.

    The names are compared as bytes first (the same bytes are the same name), as names otherwise.
    """
    if parts is None:
        return certificate.issuer == issuer.subject and signature_valid(issuer.public_key, certificate)
    if parts.issuer_name != issuer.subject_der and certificate.issuer != issuer.subject:
        return False
    return signature_valid(issuer.public_key, certificate, tbs=parts.tbs)


def signature_valid(
    issuer_key: ec.EllipticCurvePublicKey, certificate: x509.Certificate, *, tbs: bytes | None = None
) -> bool:
    """True when ``certificate`` carries a valid ECDSA signature by ``issuer_key`` (over ``tbs`` when the caller
    already holds the certificate's TBSCertificate bytes)."""
    algorithm = _ECDSA.get(certificate.signature_algorithm_oid)
    if algorithm is None:
        return False
    try:
        issuer_key.verify(certificate.signature, certificate.tbs_certificate_bytes if tbs is None else tbs, algorithm)
    except InvalidSignature:
        return False
    return True


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


def _within(not_before: datetime, not_after: datetime, at: datetime) -> bool:
    return not_before <= at <= not_after


class IssuerCache:
    """Intermediate certificates already checked against a set of roots, keyed by their DER bytes."""

    def __init__(self) -> None:
        # DER -> [(roots, issuer or None)]: found by the DER's hash, then the roots by tuple equality, which is an
        # identity check for the same root objects (the pinned root is one cached object): no certificate hashing.
        self._entries: dict[bytes, list[tuple[tuple[x509.Certificate, ...], Issuer | None]]] = {}
        self._lock = Lock()

    def resolve(self, der: bytes, roots: tuple[x509.Certificate, ...], *, code: str) -> Issuer:
        """The checked issuer for ``der`` under ``roots``; raises ``code`` when it does not chain to one."""
        for known, checked in self._entries.get(der, ()):
            if known == roots:
                entry = checked
                break
        else:
            entry = _check_intermediate(der, roots)
            with self._lock:
                same_der = self._entries.setdefault(der, [])
                if len(self._entries) > _CACHE_LIMIT or len(same_der) >= _CACHE_LIMIT:
                    self._entries.clear()
                    same_der = self._entries[der] = []
                same_der.append((roots, entry))
        if entry is None:
            raise AppleError(code, "the intermediate certificate is not issued by a trusted root")
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _check_intermediate(der: bytes, roots: tuple[x509.Certificate, ...]) -> Issuer | None:
    try:
        certificate = _decoded(der)
    except CERTIFICATE_ERRORS:
        return None
    public_key = public_key_of(certificate)
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not _is_ca(certificate):
        return None
    for root in roots:
        root_key = root.public_key()
        if certificate.issuer != root.subject or not isinstance(root_key, ec.EllipticCurvePublicKey):
            continue
        if signature_valid(root_key, certificate):
            subject_der = certificate.subject.public_bytes()
            if len(_DECODED_NAMES) >= 2 * _CACHE_LIMIT:
                _DECODED_NAMES.clear()
            _DECODED_NAMES.add(subject_der)
            return Issuer(
                certificate=certificate,
                public_key=public_key,
                subject=certificate.subject,
                subject_der=subject_der,
                not_before=certificate.not_valid_before_utc,
                not_after=certificate.not_valid_after_utc,
                root=root,
                root_not_before=root.not_valid_before_utc,
                root_not_after=root.not_valid_after_utc,
            )
    return None


def check_validity(certificates: Sequence[tuple[str, datetime, datetime]], at: datetime, *, code: str) -> None:
    """Every (name, not_before, not_after) must hold ``at``."""
    for label, not_before, not_after in certificates:
        if not _within(not_before, not_after, at):
            raise AppleError(
                code, f"the {label} certificate is valid {not_before:%Y-%m-%d} to {not_after:%Y-%m-%d}, not at {at}"
            )
