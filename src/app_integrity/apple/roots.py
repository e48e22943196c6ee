"""Pinned roots: Apple's App Attestation Root CA and Apple Root CA - G3, shipped as package data.

``trust_roots`` arguments (tests, staging, the emulator) replace the pinned roots; they accept a certificate,
PEM or DER bytes, PEM text, or a list of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib.resources import files

from cryptography import x509

from app_integrity.errors import InputError

TrustRoot = x509.Certificate | bytes | str
TrustRoots = TrustRoot | Iterable[TrustRoot]

APP_ATTESTATION_ROOT_FILE = "apple_app_attestation_root_ca.pem"
RECEIPT_ROOT_FILE = "apple_root_ca_g3.pem"


def _load_packaged(name: str) -> x509.Certificate:
    pem = files("app_integrity").joinpath("roots", name).read_bytes()
    return x509.load_pem_x509_certificate(pem)


@cache
def app_attestation_root() -> x509.Certificate:
    """Apple App Attestation Root CA (P-384): the only root of App Attest certificate chains."""
    return _load_packaged(APP_ATTESTATION_ROOT_FILE)


@cache
def receipt_root() -> x509.Certificate:
    """Apple Root CA - G3: the root of the fraud-receipt signer's chain."""
    return _load_packaged(RECEIPT_ROOT_FILE)


def _load_one(root: TrustRoot) -> list[x509.Certificate]:
    if isinstance(root, x509.Certificate):
        return [root]
    if isinstance(root, str):
        root = root.encode("ascii", errors="replace")
    if not isinstance(root, bytes | bytearray):
        raise InputError("input.invalid_argument", f"a trust root must be a certificate, PEM or DER, not {root!r}")
    data = bytes(root)
    try:
        if b"-----BEGIN" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InputError("input.invalid_argument", "a trust root is not a PEM or DER certificate") from exc


def _as_list(trust_roots: TrustRoots) -> list[TrustRoot]:
    if isinstance(trust_roots, x509.Certificate | bytes | str):
        return [trust_roots]
    return list(trust_roots)


def resolve_roots(trust_roots: TrustRoots | None, default: x509.Certificate) -> tuple[x509.Certificate, ...]:
    """The roots to trust: ``trust_roots`` when given (replacing the pinned one), else ``default``."""
    if trust_roots is None:
        return (default,)
    roots = tuple(cert for item in _as_list(trust_roots) for cert in _load_one(item))
    if not roots:
        raise InputError("input.invalid_argument", "trust_roots is empty")
    return roots
