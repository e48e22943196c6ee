"""The KeyDescription extension (1.3.6.1.4.1.11129.2.1.17), parsed tolerantly with asn1crypto.

Schema (source.android.com, "Key and ID attestation", attestation versions 1 to 500)::

    KeyDescription ::= SEQUENCE {
        attestationVersion INTEGER, attestationSecurityLevel SecurityLevel,
        keyMintVersion INTEGER, keyMintSecurityLevel SecurityLevel,
        attestationChallenge OCTET STRING, uniqueId OCTET STRING,
        softwareEnforced AuthorizationList, hardwareEnforced AuthorizationList }
    AuthorizationList ::= SEQUENCE { every field [tag] EXPLICIT ... OPTIONAL, in ascending tag order }
    RootOfTrust ::= SEQUENCE { verifiedBootKey OCTET STRING, deviceLocked BOOLEAN,
        verifiedBootState VerifiedBootState, verifiedBootHash OCTET STRING (version 3 and later) }

Real devices do not always follow it: tags out of order or repeated, BER booleans (0x01 for TRUE), tags added
after this code was written. The AuthorizationList is therefore walked element by element with asn1crypto's parser
rather than decoded against a fixed schema: known tags are typed, unknown tags kept raw, and every deviation is
reported in ``anomalies`` so a policy can decide. The same schema, as asn1crypto classes, encodes descriptions for
the emulated KeyStore.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from asn1crypto import core, parser

from app_integrity.errors import KeyAttestationError

KEY_DESCRIPTION_OID = "1.3.6.1.4.1.11129.2.1.17"
MAX_KEY_DESCRIPTION_BYTES = 16 * 1024


class SecurityLevel(IntEnum):
    SOFTWARE = 0
    TRUSTED_ENVIRONMENT = 1
    STRONG_BOX = 2


class VerifiedBootState(IntEnum):
    VERIFIED = 0
    SELF_SIGNED = 1
    UNVERIFIED = 2
    FAILED = 3


class KeyPurpose(IntEnum):
    ENCRYPT = 0
    DECRYPT = 1
    SIGN = 2
    VERIFY = 3
    WRAP_KEY = 5
    AGREE_KEY = 6
    ATTEST_KEY = 7


class KeyOrigin(IntEnum):
    GENERATED = 0
    DERIVED = 1
    IMPORTED = 2
    RESERVED = 3
    SECURELY_IMPORTED = 4


# --- asn1crypto schema (used to encode; parsing walks the same tags tolerantly) ---


def _schema(name: str, base: Any, **attributes: Any) -> Any:
    """An asn1crypto schema class. Built with ``type`` because asn1crypto ships no type hints."""
    return type(name, (base,), attributes)


# ENUMERATED read as a plain integer, so values added by future versions still parse.
_Enumerated = _schema("_Enumerated", core.Integer, tag=10)
_IntegerSet = _schema("_IntegerSet", core.SetOf, _child_spec=core.Integer)
_OctetStringSet = _schema("_OctetStringSet", core.SetOf, _child_spec=core.OctetString)
PackageInfoAsn1 = _schema(
    "PackageInfoAsn1", core.Sequence, _fields=[("package_name", core.OctetString), ("version", core.Integer)]
)
AttestationApplicationIdAsn1 = _schema(
    "AttestationApplicationIdAsn1",
    core.Sequence,
    _fields=[
        ("package_infos", _schema("_PackageInfoSet", core.SetOf, _child_spec=PackageInfoAsn1)),
        ("signature_digests", _OctetStringSet),
    ],
)
RootOfTrustAsn1 = _schema(
    "RootOfTrustAsn1",
    core.Sequence,
    _fields=[
        ("verified_boot_key", core.OctetString),
        ("device_locked", core.Boolean),
        ("verified_boot_state", _Enumerated),
        ("verified_boot_hash", core.OctetString, {"optional": True}),
    ],
)


# tag -> (field name, kind). Kinds: int, ints (SET OF INTEGER), null (presence flag), bytes (OCTET STRING),
# rot (RootOfTrust), appid (OCTET STRING wrapping AttestationApplicationId DER).
AUTHORIZATION_TAGS: dict[int, tuple[str, str]] = {
    1: ("purpose", "ints"),
    2: ("algorithm", "int"),
    3: ("key_size", "int"),
    4: ("block_mode", "ints"),
    5: ("digest", "ints"),
    6: ("padding", "ints"),
    7: ("caller_nonce", "null"),
    8: ("min_mac_length", "int"),
    10: ("ec_curve", "int"),
    200: ("rsa_public_exponent", "int"),
    203: ("mgf_digest", "ints"),
    303: ("rollback_resistance", "null"),
    305: ("early_boot_only", "null"),
    400: ("active_date_time", "int"),
    401: ("origination_expire_date_time", "int"),
    402: ("usage_expire_date_time", "int"),
    403: ("min_seconds_between_ops", "int"),
    404: ("max_uses_per_boot", "int"),
    405: ("usage_count_limit", "int"),
    502: ("user_secure_id", "sid"),
    503: ("no_auth_required", "null"),
    504: ("user_auth_type", "int"),
    505: ("auth_timeout", "int"),
    506: ("allow_while_on_body", "null"),
    507: ("trusted_user_presence_required", "null"),
    508: ("trusted_confirmation_required", "null"),
    509: ("unlocked_device_required", "null"),
    600: ("all_applications", "null"),
    601: ("application_id", "bytes"),
    701: ("creation_date_time", "int"),
    702: ("origin", "int"),
    703: ("rollback_resistant", "null"),
    704: ("root_of_trust", "rot"),
    705: ("os_version", "int"),
    706: ("os_patch_level", "int"),
    709: ("attestation_application_id", "appid"),
    710: ("attestation_id_brand", "bytes"),
    711: ("attestation_id_device", "bytes"),
    712: ("attestation_id_product", "bytes"),
    713: ("attestation_id_serial", "bytes"),
    714: ("attestation_id_imei", "bytes"),
    715: ("attestation_id_meid", "bytes"),
    716: ("attestation_id_manufacturer", "bytes"),
    717: ("attestation_id_model", "bytes"),
    718: ("vendor_patch_level", "int"),
    719: ("boot_patch_level", "int"),
    720: ("device_unique_attestation", "null"),
    723: ("attestation_id_second_imei", "bytes"),
    724: ("module_hash", "bytes"),
}

_KIND_SPEC: dict[str, Any] = {
    "int": core.Integer,
    "sid": core.Integer,
    "ints": _IntegerSet,
    "null": core.Null,
    "bytes": core.OctetString,
    "rot": RootOfTrustAsn1,
    "appid": core.OctetString,
}


AuthorizationListAsn1 = _schema(
    "AuthorizationListAsn1",
    core.Sequence,
    _fields=[
        (name, _KIND_SPEC[kind], {"explicit": tag, "optional": True})
        for tag, (name, kind) in sorted(AUTHORIZATION_TAGS.items())
    ],
)
KeyDescriptionAsn1 = _schema(
    "KeyDescriptionAsn1",
    core.Sequence,
    _fields=[
        ("attestation_version", core.Integer),
        ("attestation_security_level", _Enumerated),
        ("keymint_version", core.Integer),
        ("keymint_security_level", _Enumerated),
        ("attestation_challenge", core.OctetString),
        ("unique_id", core.OctetString),
        ("software_enforced", AuthorizationListAsn1),
        ("hardware_enforced", AuthorizationListAsn1),
    ],
)


# --- typed result ---


@dataclass(frozen=True, slots=True)
class RootOfTrust:
    verified_boot_key: bytes
    device_locked: bool
    verified_boot_state: int
    verified_boot_hash: bytes | None


@dataclass(frozen=True, slots=True)
class PackageInfo:
    name: str
    version: int


@dataclass(frozen=True, slots=True)
class AttestationApplicationId:
    packages: tuple[PackageInfo, ...]
    signature_digests: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AuthorizationList:
    """One of the two authorization lists; absent tags are ``None`` (sets) or ``False`` (flags)."""

    purpose: tuple[int, ...] | None = None
    algorithm: int | None = None
    key_size: int | None = None
    block_mode: tuple[int, ...] | None = None
    digest: tuple[int, ...] | None = None
    padding: tuple[int, ...] | None = None
    caller_nonce: bool = False
    min_mac_length: int | None = None
    ec_curve: int | None = None
    rsa_public_exponent: int | None = None
    mgf_digest: tuple[int, ...] | None = None
    rollback_resistance: bool = False
    early_boot_only: bool = False
    active_date_time: int | None = None
    origination_expire_date_time: int | None = None
    usage_expire_date_time: int | None = None
    min_seconds_between_ops: int | None = None
    max_uses_per_boot: int | None = None
    usage_count_limit: int | None = None
    user_secure_id: tuple[int, ...] | None = None
    """INTEGER in the current schema, SET OF INTEGER in Keymaster's: read either way."""
    no_auth_required: bool = False
    user_auth_type: int | None = None
    auth_timeout: int | None = None
    allow_while_on_body: bool = False
    trusted_user_presence_required: bool = False
    trusted_confirmation_required: bool = False
    unlocked_device_required: bool = False
    all_applications: bool = False
    application_id: bytes | None = None
    creation_date_time: int | None = None
    origin: int | None = None
    rollback_resistant: bool = False
    root_of_trust: RootOfTrust | None = None
    os_version: int | None = None
    os_patch_level: int | None = None
    attestation_application_id: AttestationApplicationId | None = None
    attestation_application_id_raw: bytes | None = None
    attestation_id_brand: bytes | None = None
    attestation_id_device: bytes | None = None
    attestation_id_product: bytes | None = None
    attestation_id_serial: bytes | None = None
    attestation_id_imei: bytes | None = None
    attestation_id_meid: bytes | None = None
    attestation_id_manufacturer: bytes | None = None
    attestation_id_model: bytes | None = None
    vendor_patch_level: int | None = None
    boot_patch_level: int | None = None
    device_unique_attestation: bool = False
    attestation_id_second_imei: bytes | None = None
    module_hash: bytes | None = None
    unknown_tags: tuple[tuple[int, bytes], ...] = ()
    """Tags this code does not know: (tag number, DER of the explicitly tagged value), kept as received."""


@dataclass(frozen=True, slots=True)
class KeyDescription:
    attestation_version: int
    attestation_security_level: int
    keymint_version: int
    keymint_security_level: int
    attestation_challenge: bytes
    unique_id: bytes
    software_enforced: AuthorizationList
    hardware_enforced: AuthorizationList
    anomalies: tuple[str, ...] = field(default=())
    """Deviations from DER and the schema that were tolerated (out-of-order or repeated tags, BER booleans...)."""

    @property
    def root_of_trust(self) -> RootOfTrust | None:
        """The hardware-enforced RootOfTrust: the only one that says anything about the device."""
        return self.hardware_enforced.root_of_trust

    @property
    def attestation_application_id(self) -> AttestationApplicationId | None:
        """Keystore puts it in softwareEnforced; some KeyMint implementations in hardwareEnforced."""
        return self.software_enforced.attestation_application_id or self.hardware_enforced.attestation_application_id

    @property
    def os_patch_level(self) -> int | None:
        return self.hardware_enforced.os_patch_level

    @property
    def vendor_patch_level(self) -> int | None:
        return self.hardware_enforced.vendor_patch_level

    @property
    def boot_patch_level(self) -> int | None:
        return self.hardware_enforced.boot_patch_level

    @property
    def module_hash(self) -> bytes | None:
        return self.software_enforced.module_hash or self.hardware_enforced.module_hash


# --- parsing ---


def _malformed(message: str) -> KeyAttestationError:
    return KeyAttestationError("android.key_description_malformed", message)


def _elements(contents: bytes, where: str) -> list[tuple[int, int, int, bytes, bytes]]:
    """Split the contents of a constructed value into (class, method, tag, full encoding, contents)."""
    out: list[tuple[int, int, int, bytes, bytes]] = []
    pointer = 0
    while pointer < len(contents):
        try:
            class_, method, tag, header, inner, trailer = parser.parse(contents[pointer:], strict=False)
        except ValueError as exc:
            raise _malformed(f"{where}: {exc}") from exc
        size = len(header) + len(inner) + len(trailer)
        out.append((class_, method, tag, contents[pointer : pointer + size], inner))
        pointer += size
    return out


# Universal tag and constructed flag each kind must carry: checked on the parser's output, so the value is decoded
# once, from its contents.
_UNIVERSAL: dict[str, tuple[int, int]] = {
    "int": (2, 0),
    "ints": (17, 1),
    "null": (5, 0),
    "bytes": (4, 0),
    "appid": (4, 0),
}
_Element = tuple[int, int, int, bytes, bytes]


def _load(spec: Any, der: bytes, where: str) -> Any:
    try:
        value = spec.load(der, strict=True)
        return value.native
    # AttributeError: asn1crypto's answer to a sequence with a trailing element of another class ([APPLICATION 9]).
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:
        raise _malformed(f"{where}: {exc}") from exc


def _native(spec: Any, contents: bytes, where: str) -> Any:
    try:
        return spec(contents=contents).native
    except (ValueError, TypeError, KeyError, OverflowError, AttributeError) as exc:
        raise _malformed(f"{where}: {exc}") from exc


def _single(der: bytes, where: str) -> _Element:
    """The one element ``der`` holds (the inside of an EXPLICIT tag); anything after it is malformed."""
    try:
        class_, method, tag, _header, contents, _trailer = parser.parse(der, strict=True)
    except ValueError as exc:
        raise _malformed(f"{where}: {exc}") from exc
    return class_, method, tag, der, contents


def _integer(element: _Element, where: str, *, enumerated: bool = False) -> int:
    expected = 10 if enumerated else 2
    if element[0] != 0 or element[1] != 0 or element[2] != expected or not element[4]:
        raise _malformed(f"{where} is not an {'ENUMERATED' if enumerated else 'INTEGER'}")
    value = _native(core.Integer, element[4], where)
    assert isinstance(value, int)
    return value


def _octets(element: _Element, where: str) -> bytes:
    if element[0] != 0 or element[1] != 0 or element[2] != 4:
        raise _malformed(f"{where} is not an OCTET STRING")
    return element[4]


def _value(kind: str, der: bytes, where: str) -> Any:
    element = _single(der, where)
    if kind == "sid":
        kind = "int" if element[2] == 2 else "ints"
        value = _value(kind, der, where)
        return (value,) if kind == "int" else value
    tag, constructed = _UNIVERSAL[kind]
    if element[0] != 0 or element[2] != tag or element[1] != constructed:
        raise _malformed(f"{where} does not have the type its tag requires")
    if kind == "int":
        return _integer(element, where)
    if kind == "null":
        if element[4]:
            raise _malformed(f"{where} is a NULL with contents")
        return True
    if kind in ("bytes", "appid"):
        return element[4]
    values = [_integer(e, where) for e in _elements(element[4], where)]
    return tuple(sorted(values))


def _boolean(element: _Element, where: str, anomalies: list[str]) -> bool:
    if element[0] != 0 or element[2] != 1 or len(element[4]) != 1:
        raise _malformed(f"{where} is not a BOOLEAN")
    # DER says TRUE is 0xFF; BER allows any non-zero octet and some devices send 0x01.
    if element[4] not in (b"\x00", b"\xff"):
        anomalies.append(f"non-DER BOOLEAN in {where} (0x{element[4].hex()})")
    return element[4] != b"\x00"


def _root_of_trust(der: bytes, anomalies: list[str], where: str) -> RootOfTrust:
    outer = _elements(der, where)
    if len(outer) != 1 or outer[0][0] != 0 or outer[0][2] != 16:
        raise _malformed(f"{where} is not a SEQUENCE")
    fields = _elements(outer[0][4], where)
    if len(fields) < 3:
        raise _malformed(f"{where} has {len(fields)} fields, fewer than 3")
    if len(fields) > 4:
        anomalies.append(f"{where} has {len(fields) - 4} extra fields")
    return RootOfTrust(
        verified_boot_key=_octets(fields[0], f"{where}.verifiedBootKey"),
        device_locked=_boolean(fields[1], f"{where}.deviceLocked", anomalies),
        verified_boot_state=_integer(fields[2], f"{where}.verifiedBootState", enumerated=True),
        verified_boot_hash=_octets(fields[3], f"{where}.verifiedBootHash") if len(fields) > 3 else None,
    )


def _application_id(der: bytes, where: str) -> AttestationApplicationId:
    native = _load(AttestationApplicationIdAsn1, der, where)
    packages = []
    for info in native["package_infos"]:
        try:
            package_name = info["package_name"].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(f"{where}: package name is not UTF-8") from exc
        packages.append(PackageInfo(name=package_name, version=info["version"]))
    return AttestationApplicationId(packages=tuple(packages), signature_digests=tuple(native["signature_digests"]))


def _authorization_list(element: _Element, where: str, anomalies: list[str]) -> Any:
    if element[0] != 0 or element[2] != 16:
        raise _malformed(f"{where} is not a SEQUENCE")
    values: dict[str, Any] = {}
    unknown: list[tuple[int, bytes]] = []
    previous = -1
    seen: set[int] = set()
    for class_, _method, tag, encoded, inner in _elements(element[4], where):
        if class_ != 2:
            raise _malformed(f"{where} holds an element that is not context-tagged")
        if tag in seen:
            # The schema allows each tag once; keep the first value, as the device listed it first.
            anomalies.append(f"{where}: duplicated tag {tag}")
            continue
        seen.add(tag)
        if tag < previous:
            anomalies.append(f"{where}: tags not in ascending order ({tag} after {previous})")
        previous = max(previous, tag)
        known = AUTHORIZATION_TAGS.get(tag)
        if known is None:
            unknown.append((tag, encoded))
            continue
        name, kind = known
        label = f"{where}.{name}"
        if kind == "rot":
            values[name] = _root_of_trust(inner, anomalies, label)
            continue
        value = _value(kind, inner, label)
        if kind == "appid":
            values["attestation_application_id_raw"] = value
            values[name] = _application_id(value, label)
        else:
            values[name] = value
    return AuthorizationList(**values, unknown_tags=tuple(unknown))


def parse_key_description(der: bytes) -> KeyDescription:
    """Decode a KeyDescription extension value; raises ``android.key_description_malformed``."""
    if len(der) > MAX_KEY_DESCRIPTION_BYTES:
        raise _malformed(f"KeyDescription is {len(der)} bytes, more than {MAX_KEY_DESCRIPTION_BYTES}")
    outer = _elements(der, "KeyDescription")
    if len(outer) != 1 or outer[0][0] != 0 or outer[0][2] != 16:
        raise _malformed("KeyDescription is not a single SEQUENCE")
    fields = _elements(outer[0][4], "KeyDescription")
    if len(fields) < 8:
        raise _malformed(f"KeyDescription has {len(fields)} fields, fewer than 8")
    anomalies: list[str] = []
    if len(fields) > 8:
        anomalies.append(f"KeyDescription has {len(fields) - 8} fields after hardwareEnforced")
    software = _authorization_list(fields[6], "softwareEnforced", anomalies)
    hardware = _authorization_list(fields[7], "hardwareEnforced", anomalies)
    return KeyDescription(
        attestation_version=_integer(fields[0], "attestationVersion"),
        attestation_security_level=_integer(fields[1], "attestationSecurityLevel", enumerated=True),
        keymint_version=_integer(fields[2], "keyMintVersion"),
        keymint_security_level=_integer(fields[3], "keyMintSecurityLevel", enumerated=True),
        attestation_challenge=_octets(fields[4], "attestationChallenge"),
        unique_id=_octets(fields[5], "uniqueId"),
        software_enforced=software,
        hardware_enforced=hardware,
        anomalies=tuple(anomalies),
    )
