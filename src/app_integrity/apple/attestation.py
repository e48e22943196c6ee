"""Verify an App Attest attestation object, step by step as Apple specifies.

Apple, "Validating apps that connect to your server" > "Verify the attestation". Each numbered step is quoted
next to the code enforcing it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

from app_integrity import _cbor
from app_integrity._clock import resolve_now
from app_integrity._encoding import decode_base64
from app_integrity.apple import _der, _plain
from app_integrity.apple._inputs import client_data_hash as resolve_client_data_hash
from app_integrity.apple._inputs import key_id_bytes
from app_integrity.apple.app import AppleApp
from app_integrity.apple.authdata import AuthenticatorData, parse_attestation_auth_data
from app_integrity.apple.chain import (
    CertificateParts,
    IssuerCache,
    check_validity,
    issued_and_signed_by,
    load_with_parts,
    p256_point,
)
from app_integrity.apple.receipt import (
    ReceiptType,
    parse_receipt,
    receipt_app_id,
    receipt_certificate,
    receipt_client_hash,
    receipt_type,
)
from app_integrity.apple.roots import TrustRoots, app_attestation_root, resolve_roots
from app_integrity.errors import AppleError, InputError

MAX_ATTESTATION_BYTES = 32 * 1024
NONCE_EXTENSION = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
AAGUID_DEVELOPMENT = b"appattestdevelop"
AAGUID_PRODUCTION = b"appattest" + b"\x00" * 7
ENVIRONMENTS = {AAGUID_DEVELOPMENT: "development", AAGUID_PRODUCTION: "production"}

# COSE_Key labels (RFC 9053): kty EC2 = 2, alg ES256 = -7, crv P-256 = 1.
_COSE_KTY, _COSE_ALG, _COSE_CRV, _COSE_X, _COSE_Y = 1, 3, -1, -2, -3

# The nonce extension as devices write it: SEQUENCE { [1] { OCTET STRING (32 bytes) } }.
_NONCE_DER_HEAD = bytes.fromhex("3024a1220420")
_NONCE_DER_LENGTH = len(_NONCE_DER_HEAD) + 32

_issuers = IssuerCache()
# Receipt fields an attestation compares: app id, attested certificate, client data hash, receipt type.
_RECEIPT_FIELDS = frozenset((2, 3, 4, 6))


@dataclass(frozen=True, slots=True)
class AttestedKey:
    """What a verified attestation proves: this key lives in the Secure Enclave of a genuine device running
    this app, in this environment."""

    key_id: bytes  # 32 bytes: SHA-256 of public_key
    public_key: bytes  # 65-byte uncompressed P-256 point
    environment: str  # "development" | "production"
    counter: int  # always 0 after an attestation
    # The ATTEST receipt, to trade for fraud metrics (verify_receipt checks its signature).
    receipt: bytes = field(repr=False)
    not_before: datetime  # the leaf certificate's validity
    not_after: datetime
    bundle_version: str | None = None  # iOS 27+
    validation_category: int | None = None  # iOS 27+


def _malformed(message: str) -> InputError:
    return InputError("input.malformed", message)


def _decode_object(attestation: bytes | str) -> tuple[bytes, bytes, list[bytes], bytes]:
    raw = decode_base64(attestation, field="attestation", max_bytes=MAX_ATTESTATION_BYTES)
    plain = _plain.attestation_object(raw)
    if plain is not None:
        return *plain, raw
    decoded = _cbor.decode(raw, field="attestation", max_bytes=MAX_ATTESTATION_BYTES)
    if not isinstance(decoded, dict) or set(decoded) != {"fmt", "attStmt", "authData"}:
        raise _malformed("the attestation is not a CBOR map of fmt, attStmt and authData")
    fmt, statement, auth_data = decoded["fmt"], decoded["attStmt"], decoded["authData"]
    if fmt != "apple-appattest":
        raise AppleError("apple.unsupported_format", f"fmt is {fmt!r}, not 'apple-appattest'")
    if not isinstance(auth_data, bytes):
        raise _malformed("authData is not a byte string")
    if not isinstance(statement, dict) or set(statement) != {"x5c", "receipt"}:
        raise _malformed("attStmt is not a map of x5c and receipt")
    x5c, receipt = statement["x5c"], statement["receipt"]
    if not isinstance(x5c, list) or not all(isinstance(cert, bytes) for cert in x5c):
        raise _malformed("x5c is not an array of byte strings")
    if not isinstance(receipt, bytes):
        raise _malformed("receipt is not a byte string")
    return auth_data, receipt, x5c, raw


def _verify_chain(
    x5c: list[bytes], roots: tuple[x509.Certificate, ...], at: datetime
) -> tuple[x509.Certificate, CertificateParts | None, datetime, datetime]:
    # Step 1: "Verify that the x5c array contains the intermediate and leaf certificates for App Attest, starting
    # from the credential certificate in the first data buffer in the array (credcert). Verify the validity of
    # the certificates using Apple's App Attest root certificate."
    if len(x5c) != 2:
        raise AppleError("apple.certificate_chain_invalid", f"x5c holds {len(x5c)} certificates, not leaf and CA")
    leaf, parts = load_with_parts(x5c[0], field="x5c[0]")
    issuer = _issuers.resolve(x5c[1], roots, code="apple.certificate_chain_invalid")
    # The intermediate's key is loaded once (cached with it): only the leaf's signature is checked per call.
    if not issued_and_signed_by(leaf, issuer, parts):
        raise AppleError("apple.certificate_chain_invalid", "the credential certificate is not issued by x5c[1]")
    try:
        constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    except (ValueError, x509.DuplicateExtension) as exc:
        # RFC 5280 §4.2: an extension appears at most once.
        raise _malformed("the credential certificate's extensions do not parse") from exc
    if constraints is not None and constraints.ca:
        raise AppleError("apple.certificate_chain_invalid", "the credential certificate is a CA certificate")
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    check_validity(
        [
            ("App Attest root", issuer.root_not_before, issuer.root_not_after),
            ("App Attest intermediate", issuer.not_before, issuer.not_after),
            ("credential", not_before, not_after),
        ],
        at,
        code="apple.certificate_expired",
    )
    return leaf, parts, not_before, not_after


def _certificate_nonce(leaf: x509.Certificate) -> bytes:
    try:
        extension = leaf.extensions.get_extension_for_oid(NONCE_EXTENSION)
    except x509.ExtensionNotFound as exc:
        raise AppleError("apple.nonce_mismatch", "the credential certificate has no nonce extension") from exc
    except (ValueError, x509.DuplicateExtension) as exc:
        raise _malformed("the credential certificate's extensions do not parse") from exc
    value = extension.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise _malformed("the nonce extension is not an opaque extension")
    if len(value.value) == _NONCE_DER_LENGTH and value.value.startswith(_NONCE_DER_HEAD):
        return value.value[len(_NONCE_DER_HEAD) :]  # what the walk below reads from these bytes
    # Apple: "a DER-encoded ASN.1 sequence. Decode the sequence and extract the single octet string that it
    # contains": SEQUENCE { [1] EXPLICIT OCTET STRING }.
    try:
        sequence = _der.expect(_der.single(value.value), _der.UNIVERSAL, _der.SEQUENCE, constructed=True)
        tagged = _der.expect(_der.single(sequence), _der.CONTEXT, 1, constructed=True)
        nonce = _der.expect(_der.single(tagged), _der.UNIVERSAL, _der.OCTET_STRING, constructed=False)
    except InputError as exc:
        raise _malformed("the nonce extension is not SEQUENCE { [1] OCTET STRING }") from exc
    return nonce


def _cose_point(cose_key: dict[Any, Any]) -> bytes:
    x, y = cose_key.get(_COSE_X), cose_key.get(_COSE_Y)
    if (
        cose_key.get(_COSE_KTY) != 2
        or cose_key.get(_COSE_CRV) != 1
        or cose_key.get(_COSE_ALG) != -7
        or not isinstance(x, bytes)
        or not isinstance(y, bytes)
        or len(x) != 32
        or len(y) != 32
    ):
        raise AppleError("apple.public_key_mismatch", "the credential public key is not a P-256 ES256 COSE key")
    return b"\x04" + x + y


def _check_receipt(receipt: bytes, *, app: AppleApp, leaf_der: bytes, client_hash: bytes) -> None:
    # The receipt's signature is verify_receipt's job (the service calls it when it stores or refreshes one);
    # here it must parse and name the same app, key and client data.
    parsed = parse_receipt(receipt, only=_RECEIPT_FIELDS)
    if receipt_type(parsed) is not ReceiptType.ATTEST:
        raise AppleError("apple.receipt_invalid", "the attestation's receipt is not an ATTEST receipt")
    if receipt_app_id(parsed) != app.app_id:
        raise AppleError("apple.receipt_invalid", "the attestation's receipt names another app")
    if not hmac.compare_digest(receipt_certificate(parsed), leaf_der):
        raise AppleError("apple.receipt_invalid", "the attestation's receipt names another certificate")
    if not hmac.compare_digest(receipt_client_hash(parsed), client_hash):
        raise AppleError("apple.receipt_invalid", "the attestation's receipt names another clientDataHash")


def verify_attestation(
    attestation: bytes | str,
    *,
    key_id: bytes | str,
    app: AppleApp,
    challenge: str | bytes | None = None,
    client_data_hash: bytes | str | None = None,
    now: datetime | None = None,
    trust_roots: TrustRoots | None = None,
) -> AttestedKey:
    """Verify ``attestation`` (CBOR, bytes or base64) for ``key_id`` and ``app``; return the attested key.

    ``challenge`` is hashed (SHA-256 of its UTF-8 bytes, as ``@expo/app-integrity`` does); ``client_data_hash`` is
    used as given. ``trust_roots`` replaces Apple's pinned App Attestation Root CA (tests, the emulator).
    """
    at = resolve_now(now)
    expected_key_id = key_id_bytes(key_id)
    client_hash = resolve_client_data_hash(challenge, client_data_hash, text_name="challenge")
    roots = resolve_roots(trust_roots, app_attestation_root())
    auth_data_raw, receipt, x5c, _ = _decode_object(attestation)
    auth_data: AuthenticatorData = parse_attestation_auth_data(auth_data_raw)

    leaf, parts, not_before, not_after = _verify_chain(x5c, roots, at)

    # Steps 2-4: "Create clientDataHash ... append that hash to the end of the authenticator data", "Generate a
    # new SHA256 hash of the composite item to create nonce", "Obtain the value of the credCert extension with
    # OID 1.2.840.113635.100.8.2 ... Verify that the string equals nonce."
    nonce = hashlib.sha256(auth_data.raw + client_hash).digest()
    if not hmac.compare_digest(_certificate_nonce(leaf), nonce):
        raise AppleError("apple.nonce_mismatch", "the certificate's nonce is not SHA-256(authData || clientDataHash)")

    # Step 5: "Create the SHA256 hash of the public key in credCert, and verify that it matches the key
    # identifier from your app."
    point = p256_point(leaf, parts)
    if point is None:
        raise AppleError("apple.certificate_chain_invalid", "the credential certificate does not hold a P-256 key")
    if not hmac.compare_digest(hashlib.sha256(point).digest(), expected_key_id):
        raise AppleError("apple.key_id_mismatch", "SHA-256 of the certified public key is not the key id")

    # Step 6: "Compute the SHA256 hash of your app's App ID, and verify that it's the same as the authenticator
    # data's RP ID hash."
    if not hmac.compare_digest(auth_data.rp_id_hash, app.rp_id_hash):
        raise AppleError("apple.app_id_mismatch", f"rpIdHash is not SHA-256({app.app_id!r})")

    # Step 7: "Verify that the authenticator data's counter field equals 0."
    if auth_data.sign_count != 0:
        raise AppleError("apple.counter_not_zero", f"the attestation's counter is {auth_data.sign_count}, not 0")

    # Step 8: "Verify that the authenticator data's aaguid field is either appattestdevelop if operating in the
    # development environment, or appattest followed by seven 0x00 bytes if operating in the production
    # environment."
    environment = ENVIRONMENTS.get(auth_data.aaguid or b"")
    if environment is None:
        raise AppleError("apple.wrong_environment", "the aaguid names no App Attest environment")
    if environment == "development" and not app.allow_development:
        raise AppleError("apple.wrong_environment", "a development key, and this app accepts production keys only")

    # Step 9: "Verify that the authenticator data's credentialId field is the same as the key identifier."
    if not hmac.compare_digest(auth_data.credential_id or b"", expected_key_id):
        raise AppleError("apple.key_id_mismatch", "the credentialId is not the key id")

    # WebAuthn §7.1 step: the credential public key in authData is the certified key.
    if not hmac.compare_digest(_cose_point(auth_data.credential_public_key or {}), point):
        raise AppleError("apple.public_key_mismatch", "the COSE key in authData is not the certificate's key")

    _check_receipt(receipt, app=app, leaf_der=bytes(x5c[0]), client_hash=client_hash)

    extensions = auth_data.extensions
    return AttestedKey(
        key_id=expected_key_id,
        public_key=point,
        environment=environment,
        counter=0,
        receipt=receipt,
        not_before=not_before,
        not_after=not_after,
        bundle_version=extensions.bundle_version if extensions else None,
        validation_category=extensions.validation_category if extensions else None,
    )
