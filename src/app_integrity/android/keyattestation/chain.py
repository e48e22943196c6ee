"""Certificates of an attestation chain: decoding, and signature checks of one certificate by its parent.

The path checks are done here rather than by a WebPKI verifier, which rejects real devices (Sony's batch
certificate has cA=FALSE, ATTEST_KEY certificates have no basicConstraints). Signatures are checked with
``cryptography``: RSA PKCS#1 v1.5 and ECDSA, with SHA-256 or SHA-384, in any mix along the chain.

Certificates shared by many devices (roots, factory intermediates, remote-provisioning CAs) are decoded and their
signatures checked once, then remembered by their exact bytes, so the per-request cost approaches the leaf's own
signature check.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from cryptography.x509.oid import NameOID

from app_integrity.android.keyattestation.description import KEY_DESCRIPTION_OID
from app_integrity.errors import InputError, KeyAttestationError

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

PROVISIONING_INFO_OID = "1.3.6.1.4.1.11129.2.1.30"
# Google's root is RSA-4096; larger keys only make verification slow.
MAX_RSA_BITS = 8192

# Pinned signature algorithms: RSA PKCS#1 v1.5 and ECDSA, SHA-256 or SHA-384. Nothing else signs real chains.
_SIGNATURE_ALGORITHMS: dict[str, tuple[str, type[hashes.SHA256] | type[hashes.SHA384]]] = {
    "1.2.840.113549.1.1.11": ("rsa", hashes.SHA256),
    "1.2.840.113549.1.1.12": ("rsa", hashes.SHA384),
    "1.2.840.10045.4.3.2": ("ecdsa", hashes.SHA256),
    "1.2.840.10045.4.3.3": ("ecdsa", hashes.SHA384),
}


def supported_public_key(key: object) -> PublicKey | None:
    return key if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) else None


@dataclass(frozen=True, slots=True)
class ChainCertificate:
    """What the verifier needs from one certificate, whichever library decoded it."""

    der: bytes
    tbs: bytes
    signature: bytes
    signature_oid: str
    issuer: bytes
    subject: bytes
    subject_common_name: str | None
    serial_number: int
    not_before: datetime
    not_after: datetime
    spki: bytes
    public_key: PublicKey | None
    key_description: bytes | None
    provisioning_info: bytes | None

    @property
    def serial_hex(self) -> str:
        """The serial as Google's status list spells it: lowercase hex, no leading zeros."""
        return format(self.serial_number, "x")


def _from_cryptography(der: bytes) -> ChainCertificate:
    certificate = x509.load_der_x509_certificate(der)
    extensions: dict[str, bytes] = {}
    for extension in certificate.extensions:
        oid = extension.oid.dotted_string
        if oid in (KEY_DESCRIPTION_OID, PROVISIONING_INFO_OID) and isinstance(
            extension.value, x509.UnrecognizedExtension
        ):
            extensions[oid] = extension.value.value
    try:
        public_key = supported_public_key(certificate.public_key())
    except (ValueError, UnsupportedAlgorithm):
        public_key = None
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = common_names[0].value if common_names else None
    return ChainCertificate(
        der=der,
        tbs=certificate.tbs_certificate_bytes,
        signature=certificate.signature,
        signature_oid=certificate.signature_algorithm_oid.dotted_string,
        issuer=certificate.issuer.public_bytes(),
        subject=certificate.subject.public_bytes(),
        subject_common_name=common_name if isinstance(common_name, str) else None,
        serial_number=certificate.serial_number,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        spki=public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo) if public_key else b"",
        public_key=public_key,
        key_description=extensions.get(KEY_DESCRIPTION_OID),
        provisioning_info=extensions.get(PROVISIONING_INFO_OID),
    )


def _from_asn1crypto(der: bytes) -> ChainCertificate:
    """Fallback for certificates ``cryptography`` refuses to load.

    One real 2018 StrongBox leaf encodes ecdsa-with-SHA256 with NULL parameters (RFC 5758 says absent); Java
    accepts it and so must we. Its signature is still checked over the exact tbsCertificate bytes.
    """
    certificate = asn1_x509.Certificate.load(der, strict=True)
    tbs = certificate["tbs_certificate"]
    extensions: dict[str, bytes] = {}
    for extension in tbs["extensions"]:
        oid = extension["extn_id"].dotted
        if oid in (KEY_DESCRIPTION_OID, PROVISIONING_INFO_OID):
            extensions[oid] = bytes(extension["extn_value"].contents)
    spki = tbs["subject_public_key_info"].dump()
    try:
        public_key = supported_public_key(load_der_public_key(spki))
    except (ValueError, UnsupportedAlgorithm):
        public_key = None
    common_name = tbs["subject"].native.get("common_name")
    return ChainCertificate(
        der=der,
        tbs=tbs.dump(),
        signature=bytes(certificate["signature_value"].native),
        signature_oid=certificate["signature_algorithm"]["algorithm"].dotted,
        issuer=tbs["issuer"].dump(),
        subject=tbs["subject"].dump(),
        subject_common_name=common_name if isinstance(common_name, str) else None,
        serial_number=int(tbs["serial_number"].native),
        not_before=tbs["validity"]["not_before"].native,
        not_after=tbs["validity"]["not_after"].native,
        spki=spki if public_key is not None else b"",
        public_key=public_key,
        key_description=extensions.get(KEY_DESCRIPTION_OID),
        provisioning_info=extensions.get(PROVISIONING_INFO_OID),
    )


def load_certificate(der: bytes, *, index: int) -> ChainCertificate:
    """Decode one DER certificate; ``input.malformed`` when neither decoder accepts it."""
    try:
        return _from_cryptography(der)
    except x509.DuplicateExtension as exc:
        # RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a particular extension." Two
        # KeyDescriptions would leave open which one is judged: refused, never handed to the lenient decoder.
        raise InputError("input.malformed", f"chain[{index}] repeats an extension") from exc
    except (ValueError, TypeError, x509.InvalidVersion):
        # TypeError: a name attribute of a type its OID does not allow (cryptography decodes names lazily).
        pass
    try:
        return _from_asn1crypto(der)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise InputError("input.malformed", f"chain[{index}] is not a DER X.509 certificate") from exc


@lru_cache(maxsize=1024)
def _load_shared_certificate(der: bytes) -> ChainCertificate:
    return load_certificate(der, index=-1)


def load_shared_certificate(der: bytes, *, index: int) -> ChainCertificate:
    """Like ``load_certificate``, remembered by bytes: for the CA certificates many devices send."""
    try:
        return _load_shared_certificate(der)
    except InputError as exc:
        raise InputError("input.malformed", f"chain[{index}] is not a DER X.509 certificate") from exc


def check_signature(child: ChainCertificate, public_key: PublicKey, *, where: str) -> None:
    """Verify ``child``'s signature with its issuer's key, with the algorithm the child names."""
    algorithm = _SIGNATURE_ALGORITHMS.get(child.signature_oid)
    if algorithm is None:
        raise KeyAttestationError(
            "android.unsupported_algorithm", f"{where} is signed with {child.signature_oid}, which is not pinned"
        )
    kind, hash_type = algorithm
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size > MAX_RSA_BITS:
        raise KeyAttestationError(
            "android.unsupported_algorithm", f"{where}'s issuer has an RSA key over {MAX_RSA_BITS} bits"
        )
    try:
        if kind == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(child.signature, child.tbs, padding.PKCS1v15(), hash_type())
            return
        if kind == "ecdsa" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(child.signature, child.tbs, ec.ECDSA(hash_type()))
            return
    except InvalidSignature:
        pass
    raise KeyAttestationError("android.signature_invalid", f"{where}'s signature does not verify with its issuer's key")


class _VerifiedLinks:
    """Signature checks already passed, keyed by a digest of (child certificate, issuer key). Bounded LRU."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(child: ChainCertificate, issuer_spki: bytes) -> bytes:
        return hashlib.sha256(len(child.der).to_bytes(4, "big") + child.der + issuer_spki).digest()

    def __contains__(self, key: bytes) -> bool:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True
            return False

    def add(self, key: bytes) -> None:
        with self._lock:
            self._entries[key] = None
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_VERIFIED = _VerifiedLinks(capacity=4096)


def check_signature_cached(child: ChainCertificate, issuer_key: PublicKey, issuer_spki: bytes, *, where: str) -> None:
    """``check_signature`` for certificates shared by many devices: a passed check is remembered."""
    key = _VerifiedLinks.key(child, issuer_spki)
    if key in _VERIFIED:
        return
    check_signature(child, issuer_key, where=where)
    _VERIFIED.add(key)


def clear_caches() -> None:
    """Forget decoded certificates and passed signature checks (benchmarks and tests measure cold paths)."""
    _VERIFIED.clear()
    _load_shared_certificate.cache_clear()


def is_remotely_provisioned(certificates: list[ChainCertificate]) -> bool:
    """Remote key provisioning (RKP) chains carry the provisioning-info extension or pass through a Droid CA.

    Their intermediates live for days or weeks: an expired one is never tolerated, unlike factory batch keys.
    """
    for certificate in certificates:
        if certificate.provisioning_info is not None:
            return True
        name = certificate.subject_common_name or ""
        if name.startswith("Droid CA"):
            return True
    return False
