"""Trust anchors for key attestation, pinned by public key (SubjectPublicKeyInfo), not by certificate.

Google re-issued its RSA-4096 root in 2016, 2019, 2021 and 2022 with one key, and the expired 2016 copy still ends
real chains: a chain is anchored when its last certificate carries a pinned key, or is signed by one. The shipped
Google roots are in ``app_integrity/roots/google``. The AOSP *software* attestation roots, in
``app_integrity/roots/android_software_untrusted``, are never trusted: they are recognised so that an emulator or
software-KeyMint chain is refused with its own code instead of a generic "unknown root".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app_integrity.android.keyattestation.chain import PublicKey, supported_public_key
from app_integrity.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Anchor:
    """One trusted (or recognised) public key, with the subject names it was issued under."""

    label: str
    spki: bytes
    public_key: PublicKey
    subjects: frozenset[bytes]


@dataclass(frozen=True, slots=True)
class TrustAnchors:
    """A set of anchors, indexed by SPKI DER and by subject name DER."""

    anchors: tuple[Anchor, ...]

    def by_spki(self, spki: bytes) -> Anchor | None:
        for anchor in self.anchors:
            if anchor.spki == spki:
                return anchor
        return None

    def by_subject(self, subject: bytes) -> tuple[Anchor, ...]:
        return tuple(anchor for anchor in self.anchors if subject in anchor.subjects)


def _load_certificates(data: bytes, *, source: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigError("config.invalid", f"{source} is not a PEM or DER certificate: {exc}") from exc


def anchors_from_certificates(certificates: Iterable[tuple[str, x509.Certificate]]) -> TrustAnchors:
    """Group certificates by public key: re-issues of one key become one anchor with several subjects."""
    grouped: dict[bytes, tuple[str, PublicKey, set[bytes]]] = {}
    for label, certificate in certificates:
        public_key = supported_public_key(certificate.public_key())
        if public_key is None:
            raise ConfigError("config.invalid", f"trust root {label} has a key type other than RSA or EC")
        spki = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        subject = certificate.subject.public_bytes()
        if spki in grouped:
            grouped[spki][2].add(subject)
        else:
            grouped[spki] = (label, public_key, {subject})
    return TrustAnchors(
        tuple(
            Anchor(label=label, spki=spki, public_key=key, subjects=frozenset(subjects))
            for spki, (label, key, subjects) in grouped.items()
        )
    )


def _label(filename: str) -> str:
    # google_rsa_root_2019_d50f....pem -> google_rsa_root; one label per key family.
    stem = filename.removesuffix(".pem")
    if stem.startswith("google_rsa_root"):
        return "google_rsa_root"
    if stem.startswith("google_ec_p384_key_attestation_ca1"):
        return "google_ec_p384_key_attestation_ca1"
    return stem


def _packaged(folder: str) -> TrustAnchors:
    directory = resources.files("app_integrity").joinpath("roots", folder)
    certificates: list[tuple[str, x509.Certificate]] = []
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".pem"):
            for certificate in _load_certificates(entry.read_bytes(), source=entry.name):
                certificates.append((_label(entry.name), certificate))
    return anchors_from_certificates(certificates)


@cache
def google_roots() -> TrustAnchors:
    """Google's hardware attestation roots shipped with the package: the RSA-4096 key and Key Attestation CA1."""
    return _packaged("google")


@cache
def software_roots() -> TrustAnchors:
    """The AOSP software attestation roots (EC and RSA): recognised, never trusted."""
    return _packaged("android_software_untrusted")


def google_root_spki_sha256() -> dict[str, str]:
    """Hex SHA-256 of each pinned Google key, for display and audits."""
    return {a.label: hashlib.sha256(a.spki).hexdigest() for a in google_roots().anchors}


def load_trust_roots(roots: Sequence[bytes | str | x509.Certificate]) -> TrustAnchors:
    """Anchors from PEM text, PEM or DER bytes, or certificates (staging and emulated KeyStores)."""
    certificates: list[tuple[str, x509.Certificate]] = []
    for index, root in enumerate(roots):
        label = f"trust_roots[{index}]"
        if isinstance(root, x509.Certificate):
            certificates.append((label, root))
        elif isinstance(root, str):
            certificates.extend((label, c) for c in _load_certificates(root.encode("ascii", "replace"), source=label))
        elif isinstance(root, bytes):
            certificates.extend((label, c) for c in _load_certificates(root, source=label))
        else:
            raise ConfigError("config.invalid", f"{label} must be PEM/DER bytes, PEM text or a certificate")
    if not certificates:
        raise ConfigError("config.invalid", "trust_roots is empty: give at least one root certificate")
    return anchors_from_certificates(certificates)
