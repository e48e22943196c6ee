"""App Attest receipts: CMS SignedData (BER: indefinite lengths, chunked octet strings) carrying a set of fields.

Apple, "Assessing fraud risk": the receipt is a PKCS #7 container signed by Apple, whose content is
``SET OF ReceiptAttribute ::= SEQUENCE { type INTEGER, version INTEGER, value OCTET STRING }`` with the fields
2 App ID, 3 attested certificate, 4 client hash, 5 token, 6 receipt type, 7 environment, 12 creation time,
17 risk metric, 19 not before, 21 expiration time.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity._clock import resolve_now
from app_integrity._ecdsa import P256Key, load_p256_public_key, public_point
from app_integrity._encoding import decode_base64
from app_integrity.apple import _der
from app_integrity.apple.app import AppleApp
from app_integrity.apple.chain import IssuerCache, check_validity, load_certificate, public_key_of, signature_valid
from app_integrity.apple.roots import TrustRoots, receipt_root, resolve_roots
from app_integrity.errors import AppleError, InputError

MAX_RECEIPT_BYTES = 32 * 1024
# Apple's clock and ours differ by a little: a receipt made seconds "in the future" is not forged.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Apple marks the fraud-receipt signing certificate with this extension; a G3-issued certificate without it
# (Apple Pay, push, ...) is not a receipt signer.
RECEIPT_SIGNER_MARKER = x509.ObjectIdentifier("1.2.840.113635.100.12.15")

_APP_ID, _CERTIFICATE, _CLIENT_HASH, _TOKEN, _TYPE, _ENVIRONMENT = 2, 3, 4, 5, 6, 7
_CREATED, _RISK_METRIC, _NOT_BEFORE, _EXPIRES = 12, 17, 19, 21
_REQUIRED = (_APP_ID, _CERTIFICATE, _CLIENT_HASH, _TOKEN, _TYPE, _CREATED, _EXPIRES)
_ENVIRONMENTS = {"sandbox": "development", "production": "production"}

_issuers = IssuerCache()


class ReceiptType(StrEnum):
    ATTEST = "ATTEST"  # the receipt inside an attestation
    RECEIPT = "RECEIPT"  # a receipt Apple returned from the fraud-metric endpoint


@dataclass(frozen=True, slots=True)
class Receipt:
    type: ReceiptType
    app_id: str
    public_key: bytes  # 65-byte uncompressed P-256 point of the attested key (from field 3)
    client_hash: bytes  # field 4; mangled by Apple in refreshed receipts, so never compared there
    token: str
    environment: str  # "development" (Apple: "sandbox") or "production"
    created_at: datetime
    not_before: datetime | None
    expires_at: datetime
    risk_metric: int | None
    raw: bytes = field(repr=False)


_SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
_DATA_OID = bytes.fromhex("2a864886f70d010701")  # 1.2.840.113549.1.7.1
# What attestation receipts start with, up to the eContent OCTET STRING: ContentInfo (signedData, indefinite length),
# SignedData version 1, digestAlgorithms { sha256 }, encapContentInfo (data), [0] (indefinite length).
_APPLE_CONTENT_PREFIX = b"".join(
    (
        bytes.fromhex("30800609"),
        _SIGNED_DATA_OID,
        bytes.fromhex("a0803080020101310f300d0609608648016503040201050030800609"),
        _DATA_OID,
        bytes.fromhex("a080"),
    )
)


@dataclass(frozen=True, slots=True)
class ParsedReceipt:
    """The fields of a receipt before (or without) its signature check."""

    fields: dict[int, bytes]
    content: bytes
    raw: bytes


def _invalid(message: str) -> AppleError:
    return AppleError("apple.receipt_invalid", message)


def _encapsulated_content(raw: bytes) -> bytes:
    if raw.startswith(_APPLE_CONTENT_PREFIX):
        # ``_walk_to_content`` done once on the bytes attestation receipts start with: it ends where they do.
        return _der.octet_string_at(raw, len(_APPLE_CONTENT_PREFIX))
    return _walk_to_content(raw)


def _walk_to_content(raw: bytes) -> bytes:
    # ContentInfo ::= SEQUENCE { contentType OID (signedData), content [0] EXPLICIT SignedData }
    position = _der.enter(raw, 0, _der.UNIVERSAL, _der.SEQUENCE)
    content_type, position = _der.read(raw, position)
    if _der.expect(content_type, _der.UNIVERSAL, _der.OID) != _SIGNED_DATA_OID:
        raise _invalid("the receipt is not CMS SignedData")
    position = _der.enter(raw, position, _der.CONTEXT, 0)
    # SignedData ::= SEQUENCE { version INTEGER, digestAlgorithms SET, encapContentInfo SEQUENCE, ... }
    position = _der.enter(raw, position, _der.UNIVERSAL, _der.SEQUENCE)
    version, position = _der.read(raw, position)
    _der.integer(version)
    digest_algorithms, position = _der.read(raw, position)
    _der.expect(digest_algorithms, _der.UNIVERSAL, _der.SET, constructed=True)
    # EncapsulatedContentInfo ::= SEQUENCE { eContentType OID (data), eContent [0] EXPLICIT OCTET STRING }
    position = _der.enter(raw, position, _der.UNIVERSAL, _der.SEQUENCE)
    econtent_type, position = _der.read(raw, position)
    if _der.expect(econtent_type, _der.UNIVERSAL, _der.OID) != _DATA_OID:
        raise _invalid("the receipt's content is not of type data")
    position = _der.enter(raw, position, _der.CONTEXT, 0)
    return _der.octet_string_at(raw, position)


def _fields(content: bytes, only: frozenset[int] | None) -> dict[int, bytes]:
    fields: dict[int, bytes] = {}
    # Payload ::= SET OF ReceiptAttribute; ReceiptAttribute ::= SEQUENCE { type, version INTEGER, value OCTET STRING }
    for attribute in _der.elements(_der.expect(_der.single(content), _der.UNIVERSAL, _der.SET, constructed=True)):
        body = _der.expect(attribute, _der.UNIVERSAL, _der.SEQUENCE, constructed=True)
        kind_element, position = _der.read(body, 0)
        kind = _der.integer(kind_element)
        if kind in fields:
            raise _invalid(f"field {kind} appears twice")
        if only is not None and kind not in only:
            continue
        version, position = _der.read(body, position)
        _der.expect(version, _der.UNIVERSAL, _der.INTEGER, constructed=False)
        value, position = _der.read(body, position)
        if position != len(body):
            raise _der.malformed("a receipt attribute is not (type, version, value)")
        fields[kind] = _der.octet_string(value)
    return fields


def _plain_fields(content: bytes, only: frozenset[int] | None) -> dict[int, bytes] | None:
    """What ``_fields`` returns for a payload in plain DER (definite lengths of at most 2 octets, primitive values,
    as Apple writes it), read in one pass without helper calls; None for anything else or anything wrong, which
    ``_fields`` then reads or refuses."""
    try:
        return _read_plain_fields(content, only)
    except IndexError:  # a header cut short at the very end
        return None


def _read_plain_fields(content: bytes, only: frozenset[int] | None) -> dict[int, bytes] | None:
    if len(content) < 2 or content[0] != 0x31:  # SET
        return None
    head = content[1]
    if head == 0x82:
        position, end = 4, 4 + (content[2] << 8 | content[3])
    elif head < 0x80:
        position, end = 2, 2 + head
    elif head == 0x81:
        position, end = 3, 3 + content[2]
    else:
        return None
    if end != len(content):
        return None
    fields: dict[int, bytes] = {}
    while position < end:
        # ReceiptAttribute ::= SEQUENCE { type INTEGER, version INTEGER, value OCTET STRING }
        if content[position] != 0x30:
            return None
        head = content[position + 1]
        if head < 0x80:
            start = position + 2
            position = start + head
        elif head == 0x81:
            start = position + 3
            position = start + content[position + 2]
        elif head == 0x82:
            start = position + 4
            position = start + (content[position + 2] << 8 | content[position + 3])
        else:
            return None
        if position > end or start + 2 > position or content[start] != 0x02:
            return None
        size = content[start + 1]
        version = start + 2 + size
        if not 0 < size <= 8 or version > position:
            return None
        kind = int.from_bytes(content[start + 2 : version], "big", signed=True)
        if kind in fields:
            return None
        if only is not None and kind not in only:
            continue
        if version + 4 > position or content[version] != 0x02 or content[version + 1] >= 0x80:
            return None
        value = version + 2 + content[version + 1]
        if value + 2 > position or content[value] != 0x04:
            return None
        head = content[value + 1]
        if head < 0x80:
            start = value + 2
        elif head == 0x81:
            start, head = value + 3, content[value + 2]
        elif head == 0x82:
            start, head = value + 4, content[value + 2] << 8 | content[value + 3]
        else:
            return None
        if start + head != position:
            return None
        fields[kind] = content[start:position]
    return fields


def parse_receipt(raw: bytes, *, only: frozenset[int] | None = None) -> ParsedReceipt:
    """Parse the CMS container down to its field set; no signature or trust check.

    ``only`` names the fields the caller needs (an attestation reads four); the others are stepped over.
    """
    if len(raw) > MAX_RECEIPT_BYTES:
        raise InputError("input.too_large", f"the receipt is {len(raw)} bytes, more than {MAX_RECEIPT_BYTES}")
    raw = bytes(raw)
    content = _encapsulated_content(raw)
    fields = _plain_fields(content, only)
    if fields is None:
        fields = _fields(content, only)
    missing = [field for field in _REQUIRED if field not in fields and (only is None or field in only)]
    if missing:
        raise _invalid(f"the receipt lacks fields {missing}")
    return ParsedReceipt(fields=fields, content=content, raw=raw)


def _text(fields: dict[int, bytes], field: int) -> str:
    try:
        return fields[field].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"field {field} is not UTF-8 text") from exc


def _time(fields: dict[int, bytes], field: int) -> datetime:
    text = _text(fields, field)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _invalid(f"field {field} is not an RFC 3339 time") from exc
    if value.tzinfo is None:
        raise _invalid(f"field {field} has no time zone")
    return value


def receipt_type(parsed: ParsedReceipt) -> ReceiptType:
    text = _text(parsed.fields, _TYPE)
    try:
        return ReceiptType(text)
    except ValueError as exc:
        raise _invalid(f"unknown receipt type {text!r}") from exc


def receipt_app_id(parsed: ParsedReceipt) -> str:
    return _text(parsed.fields, _APP_ID)


def receipt_certificate(parsed: ParsedReceipt) -> bytes:
    return parsed.fields[_CERTIFICATE]


def receipt_client_hash(parsed: ParsedReceipt) -> bytes:
    return parsed.fields[_CLIENT_HASH]


def _to_receipt(parsed: ParsedReceipt, raw: bytes) -> Receipt:
    fields = parsed.fields
    kind = receipt_type(parsed)
    environment_text = _text(fields, _ENVIRONMENT) if _ENVIRONMENT in fields else "production"
    environment = _ENVIRONMENTS.get(environment_text)
    if environment is None:
        raise _invalid(f"unknown receipt environment {environment_text!r}")
    risk_metric: int | None = None
    if fields.get(_RISK_METRIC):
        risk_text = _text(fields, _RISK_METRIC)
        if not risk_text.isascii() or not risk_text.isdigit() or len(risk_text) > 9:
            raise _invalid("field 17 (risk metric) is not a number")
        risk_metric = int(risk_text)
    certificate = load_certificate(fields[_CERTIFICATE], field="receipt field 3")
    key = public_key_of(certificate)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _invalid("the attested certificate in field 3 does not hold a P-256 key")
    return Receipt(
        type=kind,
        app_id=_text(fields, _APP_ID),
        public_key=public_point(key),
        client_hash=fields[_CLIENT_HASH],
        token=_text(fields, _TOKEN),
        environment=environment,
        created_at=_time(fields, _CREATED),
        not_before=_time(fields, _NOT_BEFORE) if fields.get(_NOT_BEFORE) else None,
        expires_at=_time(fields, _EXPIRES),
        risk_metric=risk_metric,
        raw=raw,
    )


def _signer(parsed: ParsedReceipt) -> tuple[Any, x509.Certificate, list[bytes]]:
    try:
        return _read_signer(parsed)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise InputError("input.malformed", f"the receipt's signer information does not parse: {exc}") from exc


def _read_signer(parsed: ParsedReceipt) -> tuple[Any, x509.Certificate, list[bytes]]:
    signed_data = cms.ContentInfo.load(parsed.raw, strict=True)["content"]
    if signed_data["encap_content_info"]["content"].native != parsed.content:
        raise _invalid("the receipt's content reads differently depending on the parser")
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise _invalid(f"the receipt has {len(signer_infos)} signers, not one")
    signer_info = signer_infos[0]
    if signer_info["digest_algorithm"]["algorithm"].native != "sha256":
        raise _invalid("the receipt's digest algorithm is not SHA-256")
    if signer_info["signature_algorithm"].signature_algo != "ecdsa":
        raise _invalid("the receipt is not signed with ECDSA")
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number":
        raise _invalid("the receipt's signer is not named by issuer and serial number")
    wanted_issuer = sid.chosen["issuer"].dump()
    wanted_serial = sid.chosen["serial_number"].native
    bag = [choice.chosen.dump() for choice in signed_data["certificates"] if choice.name == "certificate"]
    for der in bag:
        candidate = cms.Certificate.load(der)
        tbs = candidate["tbs_certificate"]
        if tbs["serial_number"].native == wanted_serial and tbs["issuer"].dump() == wanted_issuer:
            return signer_info, load_certificate(der, field="receipt signer certificate"), bag
    raise _invalid("the receipt's signer certificate is not in the receipt")


def _verify_signature(parsed: ParsedReceipt, signer_info: Any, signer: x509.Certificate) -> None:
    key = public_key_of(signer)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise _invalid("the receipt signer's key is not an EC key")
    signature = signer_info["signature"].native
    algorithm = ec.ECDSA(hashes.SHA256())
    signed_attrs = signer_info["signed_attrs"]
    if signed_attrs.native is not None:
        # RFC 5652 §5.4: with signed attributes, the signature covers their DER SET encoding and the
        # messageDigest attribute carries the content's digest.
        digests = [attr["values"][0].native for attr in signed_attrs if attr["type"].native == "message_digest"]
        set_encoding = b"\x31" + signed_attrs.dump()[1:]
        if len(digests) == 1 and hmac.compare_digest(digests[0], hashlib.sha256(parsed.content).digest()):
            try:
                key.verify(signature, set_encoding, algorithm)
            except InvalidSignature:
                pass
            else:
                return
        # Quirk: a real receipt from 2020 carries signed attributes yet its signature covers the content itself
        # (as in receipts without attributes). Accept that form; the trust path below is the same.
    try:
        key.verify(signature, parsed.content, algorithm)
    except InvalidSignature as exc:
        raise _invalid("the receipt's signature does not verify") from exc


def _verify_signer_chain(
    signer: x509.Certificate, bag: list[bytes], roots: tuple[x509.Certificate, ...], at: datetime
) -> None:
    try:
        signer.extensions.get_extension_for_oid(RECEIPT_SIGNER_MARKER)
    except x509.ExtensionNotFound as exc:
        raise _invalid("the receipt signer is not an App Attest fraud-receipt signing certificate") from exc
    for der in bag:
        candidate = load_certificate(der, field="receipt certificate")
        if candidate.subject != signer.issuer or candidate == signer:
            continue
        try:
            issuer = _issuers.resolve(der, roots, code="apple.receipt_invalid")
        except AppleError:
            continue
        if not signature_valid(issuer.public_key, signer):
            continue
        # The chain must hold when Apple signed the receipt (its creation time), not today.
        check_validity(
            [
                ("receipt root", issuer.root_not_before, issuer.root_not_after),
                ("receipt intermediate", issuer.not_before, issuer.not_after),
                ("receipt signer", signer.not_valid_before_utc, signer.not_valid_after_utc),
            ],
            at,
            code="apple.receipt_invalid",
        )
        return
    raise _invalid("the receipt signer does not chain to the pinned Apple Root CA - G3")


def verify_receipt(
    receipt: bytes | str,
    *,
    app: AppleApp,
    public_key: P256Key,
    now: datetime | None = None,
    trust_roots: TrustRoots | None = None,
) -> Receipt:
    """Verify an attestation or refreshed receipt for ``app`` and the attested ``public_key``.

    Apple's steps ("Assessing fraud risk", verify the receipt):
    1. verify the signature; 2. evaluate the signing certificate's trust up to Apple's public root (here at the
    receipt's creation time); 3. parse the ASN.1; 4. field 2 is your App ID; 5. (creation-time freshness is the
    caller's policy: the service compares it when it stores a refreshed receipt); 6. field 3 holds the attested
    public key. The receipt is refused once it has expired at ``now`` (field 21).
    """
    at = resolve_now(now)
    raw = decode_base64(receipt, field="receipt", max_bytes=MAX_RECEIPT_BYTES)
    expected_key = public_point(load_p256_public_key(public_key))
    roots = resolve_roots(trust_roots, receipt_root())
    parsed = parse_receipt(raw)
    result = _to_receipt(parsed, raw)
    signer_info, signer, bag = _signer(parsed)
    _verify_signature(parsed, signer_info, signer)
    _verify_signer_chain(signer, bag, roots, result.created_at)
    # Step 4: field 2 is the App ID (TEAMID.bundle).
    if result.app_id != app.app_id:
        raise AppleError("apple.app_id_mismatch", f"the receipt names {result.app_id!r}, not {app.app_id!r}")
    # Step 6: field 3's certificate holds the attested key. (Field 4 is not compared: Apple mangles it in
    # refreshed receipts.)
    if not hmac.compare_digest(result.public_key, expected_key):
        raise AppleError("apple.public_key_mismatch", "the receipt names another attested key")
    if result.created_at > at + MAX_CLOCK_SKEW:
        raise _invalid(f"the receipt was created at {result.created_at}, after {at}")
    if at > result.expires_at:
        raise AppleError("apple.receipt_expired", f"the receipt expired at {result.expires_at}")
    return result
