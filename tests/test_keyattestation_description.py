"""KeyDescription parsing: every version, unknown tags kept, deviations reported as anomalies, bad input typed."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from asn1crypto import core, parser

from app_integrity.android.keyattestation import KeyDescription, SecurityLevel, parse_key_description
from app_integrity.android.keyattestation.chain import load_certificate
from app_integrity.errors import KeyAttestationError
from app_integrity.testing.android.keystore import encode_key_description
from tests.keyattestation_support import vector

Element = tuple[int, int, int, bytes]


def _base(**hardware: Any) -> bytes:
    values: dict[str, Any] = {
        "purpose": [2],
        "algorithm": 3,
        "origin": 0,
        "root_of_trust": {
            "verified_boot_key": b"\x01" * 32,
            "device_locked": True,
            "verified_boot_state": 0,
            "verified_boot_hash": b"\x02" * 32,
        },
        "os_patch_level": 202501,
    }
    values.update(hardware)
    return encode_key_description(
        challenge=b"challenge",
        attestation_version=300,
        security_level=SecurityLevel.TRUSTED_ENVIRONMENT,
        software={"creation_date_time": 1},
        hardware=values,
    )


def _split(contents: bytes) -> list[Element]:
    out: list[Element] = []
    while contents:
        class_, method, tag, header, inner, trailer = parser.parse(contents, strict=False)
        size = len(header) + len(inner) + len(trailer)
        out.append((class_, method, tag, contents[:size]))
        contents = contents[size:]
    return out


def _with_hardware(der: bytes, edit: Callable[[list[Element]], list[Element]]) -> bytes:
    """Re-encode a KeyDescription with its hardwareEnforced elements edited (what a quirky device sends)."""
    fields = _split(parser.parse(der)[4])
    hardware = _split(parser.parse(fields[7][3])[4])
    new_hardware = parser.emit(0, 1, 16, b"".join(e[3] for e in edit(hardware)))
    rebuilt = [f[3] for f in fields[:7]] + [new_hardware] + [f[3] for f in fields[8:]]
    return bytes(parser.emit(0, 1, 16, b"".join(rebuilt)))


def test_round_trip_of_the_emulator_encoding() -> None:
    description = parse_key_description(_base())
    assert description.attestation_version == 300
    assert description.attestation_challenge == b"challenge"
    assert description.hardware_enforced.purpose == (2,)
    assert description.root_of_trust is not None
    assert description.root_of_trust.device_locked is True
    assert description.software_enforced.creation_date_time == 1
    assert description.anomalies == ()


def test_unknown_tags_are_kept() -> None:
    unknown = bytes(core.Integer(7, explicit=999).dump())
    der = _with_hardware(_base(), lambda items: [*items, (2, 1, 999, unknown)])
    description = parse_key_description(der)
    assert description.hardware_enforced.unknown_tags == ((999, unknown),)
    assert description.anomalies == ()


def test_duplicated_tags_keep_the_first_value_and_are_reported() -> None:
    second_origin = bytes(core.Integer(2, explicit=702).dump())
    der = _with_hardware(_base(), lambda items: [*items, (2, 1, 702, second_origin)])
    description = parse_key_description(der)
    assert description.hardware_enforced.origin == 0
    assert any("duplicated tag 702" in a for a in description.anomalies)


def test_tags_out_of_order_are_reported() -> None:
    der = _with_hardware(_base(), lambda items: list(reversed(items)))
    description = parse_key_description(der)
    assert description.hardware_enforced.os_patch_level == 202501
    assert any("not in ascending order" in a for a in description.anomalies)


def test_ber_boolean_is_true_and_reported() -> None:
    der = _base()
    marker = b"\x01\x01\xff"
    assert der.count(marker) == 1
    description = parse_key_description(der.replace(marker, b"\x01\x01\x01"))
    assert description.root_of_trust is not None
    assert description.root_of_trust.device_locked is True
    assert any("non-DER BOOLEAN" in a for a in description.anomalies)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 41, 100, 200, 300, 400, 500, 600])
def test_every_attestation_version(version: int) -> None:
    der = encode_key_description(
        challenge=b"c",
        attestation_version=version,
        security_level=SecurityLevel.STRONG_BOX,
        software={},
        hardware={
            "purpose": [2],
            "root_of_trust": {"verified_boot_key": b"", "device_locked": False, "verified_boot_state": 2},
        },
    )
    description = parse_key_description(der)
    assert description.attestation_version == version
    assert description.attestation_security_level == SecurityLevel.STRONG_BOX
    assert description.root_of_trust is not None
    assert description.root_of_trust.verified_boot_hash is None


def test_future_fields_after_hardware_enforced_are_reported() -> None:
    der = _base()
    fields = _split(parser.parse(der)[4])
    extended = parser.emit(0, 1, 16, b"".join(f[3] for f in fields) + bytes(core.Integer(1).dump()))
    assert parse_key_description(bytes(extended)).anomalies == ("KeyDescription has 1 fields after hardwareEnforced",)


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x04\x00",
        b"\x30\x03\x02\x01\x01",
        b"\x30\x80\x02\x01",
        b"\x30" + bytes([0x82, 0xFF, 0xFF]),
    ],
)
def test_malformed_descriptions_are_typed(der: bytes) -> None:
    with pytest.raises(KeyAttestationError) as caught:
        parse_key_description(der)
    assert caught.value.code == "android.key_description_malformed"


def test_wrong_type_under_a_known_tag_is_malformed() -> None:
    wrong = bytes(core.OctetString(b"x", explicit=702).dump())
    der = _with_hardware(_base(), lambda items: [e if e[2] != 702 else (2, 1, 702, wrong) for e in items])
    with pytest.raises(KeyAttestationError) as caught:
        parse_key_description(der)
    assert caught.value.code == "android.key_description_malformed"


def test_oversized_description_is_refused_before_parsing() -> None:
    with pytest.raises(KeyAttestationError) as caught:
        parse_key_description(b"\x30" * 20_000)
    assert caught.value.code == "android.key_description_malformed"


def _real_description(name: str) -> KeyDescription:
    leaf = load_certificate(base64.b64decode(vector(name)["chain_b64"][0]), index=0)
    assert leaf.key_description is not None
    return parse_key_description(leaf.key_description)


@pytest.mark.vectors
def test_tag_405_usage_count_limit() -> None:
    description = _real_description("ka_pixel9a_tegu_v500_usage_count_tag405")
    limits = {description.hardware_enforced.usage_count_limit, description.software_enforced.usage_count_limit}
    assert limits - {None}
    assert not description.hardware_enforced.unknown_tags
    assert not description.software_enforced.unknown_tags


@pytest.mark.vectors
def test_tag_508_trusted_confirmation_required() -> None:
    description = _real_description("ka_pixel9a_tegu_v500_trusted_confirmation_tag508")
    assert (
        description.hardware_enforced.trusted_confirmation_required
        or description.software_enforced.trusted_confirmation_required
    )


@pytest.mark.vectors
def test_attestation_application_id_of_a_real_device() -> None:
    description = _real_description("ka_sony_xperia10iii_factory_tee_expired_intermediates")
    application = description.attestation_application_id
    assert application is not None
    assert [(p.name, p.version) for p in application.packages] == [("com.android.vending", 85162330)]
    assert [d.hex() for d in application.signature_digests] == [
        "f0fd6c5b410f25cb25c3b53346c8972fae30f8ee7411df910480ad6b2d60db83"
    ]


def test_user_secure_id_as_integer_or_set() -> None:
    as_integer = parse_key_description(_base(user_secure_id=7))
    assert as_integer.hardware_enforced.user_secure_id == (7,)
    as_set = bytes(core.SetOf(spec=core.Integer, value=[9, 8]).dump())
    wrapped = bytes(parser.emit(2, 1, 502, as_set))
    der = _with_hardware(_base(), lambda items: sorted([*items, (2, 1, 502, wrapped)], key=lambda e: e[2]))
    assert parse_key_description(der).hardware_enforced.user_secure_id == (8, 9)
