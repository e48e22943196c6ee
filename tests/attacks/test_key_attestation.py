"""Hardware key attestation attacks at the verifier: software and look-alike roots, swapped and revoked
certificates, keys of other apps, and devices whose posture no policy should allow at the device tier."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509

from app_integrity.android import (
    AndroidApp,
    KeyAttestationPolicy,
    KeyAttestationResult,
    RevocationList,
    verify_key_attestation,
)
from app_integrity.android.keyattestation import KeyOrigin, SecurityLevel, VerifiedBootState, parse_key_description
from app_integrity.testing.android.keystore import EmulatedKeyStore, encode_key_description
from tests.attacks.corpus import Attack, ids, refused
from tests.keyattestation_support import app_of, challenge_of, valid_at, vector

PLATFORM = "android-key"
PACKAGE = "com.example.app"
DIGEST = "cd" * 32
APP = AndroidApp(PACKAGE, [DIGEST], min_version_code=2)
CHALLENGE = "key-attestation-challenge"
KEYSTORE = EmulatedKeyStore()
LOOKALIKE = EmulatedKeyStore()  # another root with the very same subject name
NOW = datetime.now(UTC)


def _chain(**options: Any) -> list[str]:
    settings: dict[str, Any] = {
        "challenge": CHALLENGE,
        "package_name": PACKAGE,
        "signing_digests": [DIGEST],
        "version_code": 3,
    }
    settings.update(options)
    return list(KEYSTORE.generate_key(**settings).chain)


def _verify(chain: list[str], **options: Any) -> object:
    arguments: dict[str, Any] = {"challenge": CHALLENGE, "app": APP, "trust_roots": [KEYSTORE.root_certificate]}
    arguments.update(options)
    return verify_key_attestation(chain, **arguments)


def _serial(chain: list[str], index: int) -> str:
    certificate = x509.load_der_x509_certificate(base64.b64decode(chain[index]))
    return format(certificate.serial_number, "x")


def _revoked(index: int, status: str = "REVOKED") -> object:
    chain = _chain()
    revocations = RevocationList.from_json({"entries": {_serial(chain, index): {"status": status}}})
    return _verify(chain, revocations=revocations)


def _swapped_leaf() -> object:
    genuine, other = _chain(), _chain(challenge="another challenge")
    return _verify([other[0], *genuine[1:]])


def _leaf_from_another_device_family() -> object:
    genuine = _chain()
    foreign = list(LOOKALIKE.generate_key(challenge=CHALLENGE, package_name=PACKAGE, signing_digests=[DIGEST]).chain)
    return _verify([foreign[0], *genuine[1:]])


def _lookalike_root() -> object:
    chain = list(LOOKALIKE.generate_key(challenge=CHALLENGE, package_name=PACKAGE, signing_digests=[DIGEST]).chain)
    return _verify(chain)


def _without_pinned_roots() -> object:
    # An emulated chain against Google's pinned roots (what production uses).
    return verify_key_attestation(_chain(), challenge=CHALLENGE, app=APP)


def _posture(**options: Any) -> object:
    return _verify(_chain(**options))


def _expired_intermediate() -> object:
    # RKP intermediates are short-lived: a chain presented long after issue is refused (no tolerance for RKP).
    return _verify(_chain(), now=NOW + timedelta(days=400))


def _real(name: str, **changes: Any) -> object:
    data = vector(name)
    app = app_of(data)
    arguments: dict[str, Any] = {"challenge": challenge_of(data), "app": app, "now": valid_at(data)}
    arguments.update(changes)
    return verify_key_attestation(list(data["chain_b64"]), **arguments)


ORIGIN = "android.origin_not_generated"
STRICT = KeyAttestationPolicy(min_os_patch_level=202601, required=["android.patch_level_too_old"])

EMULATED: list[Attack] = [
    Attack(
        "key attestation for another app",
        PLATFORM,
        "android.package_mismatch",
        lambda: _posture(package_name="com.evil.clone"),
    ),
    Attack(
        "key attestation signed by another developer",
        PLATFORM,
        "android.signer_mismatch",
        lambda: _posture(signing_digests=["ef" * 32]),
    ),
    Attack(
        "key attestation of an old app version",
        PLATFORM,
        "android.app_version_too_low",
        lambda: _posture(version_code=1),
    ),
    Attack(
        "key attestation for an old challenge",
        PLATFORM,
        "android.challenge_mismatch",
        lambda: _posture(challenge="old"),
    ),
    Attack(
        "challenge that is a prefix of the issued one",
        PLATFORM,
        "android.challenge_mismatch",
        lambda: _posture(challenge=CHALLENGE[:-1]),
    ),
    Attack("chain to a look-alike root", PLATFORM, "android.root_not_trusted", _lookalike_root),
    Attack("emulated chain against Google's roots", PLATFORM, "android.root_not_trusted", _without_pinned_roots),
    Attack("leaf certificate swapped", PLATFORM, "android.challenge_mismatch", _swapped_leaf),
    Attack("leaf from another device family", PLATFORM, "android.chain_broken", _leaf_from_another_device_family),
    Attack("revoked intermediate", PLATFORM, "android.certificate_revoked", lambda: _revoked(1)),
    Attack("revoked leaf", PLATFORM, "android.certificate_revoked", lambda: _revoked(0)),
    Attack("suspended intermediate", PLATFORM, "android.certificate_revoked", lambda: _revoked(2, "SUSPENDED")),
    Attack("expired intermediate", PLATFORM, "android.certificate_expired", _expired_intermediate),
    Attack(
        "chain without its intermediates",
        PLATFORM,
        "android.chain_broken",
        lambda: _verify([_chain()[0], _chain()[-1]]),
    ),
    Attack("chain reordered", PLATFORM, "android.chain_broken", lambda: _reordered()),
    Attack(
        "intermediate of X.509 version 66",
        PLATFORM,
        "android.signature_invalid",
        lambda: _rewritten(2, b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x42"),
    ),
    Attack(
        "intermediate named with a BIT STRING",
        PLATFORM,
        "android.chain_broken",
        lambda: _rewritten(2, b"\x0c\x16app-integrity emulator", b"\x03\x16\x00pp-integrity emulator"),
    ),
    Attack(
        "application id with a trailing element of another class",
        PLATFORM,
        "android.key_description_malformed",
        lambda: _application_id_with_trailing_element(),
    ),
    Attack("leaf alone", PLATFORM, "android.chain_incomplete", lambda: _verify(_chain()[:1])),
    Attack("chain padded with copies of the root", PLATFORM, "input.too_large", lambda: _verify(_chain() * 6)),
    Attack("certificate that is not base64", PLATFORM, "input.malformed", lambda: _verify(["%%%", *_chain()[1:]])),
    Attack(
        "unlocked bootloader",
        PLATFORM,
        "android.bootloader_unlocked",
        lambda: _posture(device_locked=False),
    ),
    Attack(
        "unverified boot",
        PLATFORM,
        "android.boot_state_unverified",
        lambda: _posture(verified_boot_state=VerifiedBootState.UNVERIFIED, device_locked=False),
    ),
    Attack(
        "self-signed boot with an unknown key",
        PLATFORM,
        "android.boot_key_not_allowed",
        lambda: _posture(verified_boot_state=VerifiedBootState.SELF_SIGNED),
    ),
    Attack(
        "software-backed key",
        PLATFORM,
        "android.software_security_level",
        lambda: _posture(security_level=SecurityLevel.SOFTWARE),
    ),
    Attack(
        "imported key under a policy that requires generated keys",
        PLATFORM,
        "android.origin_not_generated",
        lambda: _verify(_chain(origin=KeyOrigin.IMPORTED), policy=KeyAttestationPolicy(required=[ORIGIN])),
    ),
    Attack(
        "old security patch under a strict policy",
        PLATFORM,
        "android.patch_level_too_old",
        lambda: _verify(_chain(os_patch_level=202401), policy=STRICT),
    ),
    Attack(
        "unlocked bootloader under a policy that requires it locked",
        PLATFORM,
        "android.bootloader_unlocked",
        lambda: _verify(
            _chain(device_locked=False), policy=KeyAttestationPolicy(required=["android.bootloader_unlocked"])
        ),
    ),
]


def _rewritten(index: int, old: bytes, new: bytes) -> object:
    chain = _chain()
    der = base64.b64decode(chain[index])
    assert old in der
    chain[index] = base64.b64encode(der.replace(old, new, 1)).decode()
    return _verify(chain)


def _application_id_with_trailing_element() -> object:
    # attestationApplicationId { packages, digests, [APPLICATION 9] ... }: one element too many, of another class.
    def tlv(tag: int, content: bytes) -> bytes:
        return bytes([tag, len(content)]) + content

    package = tlv(0x30, tlv(0x04, PACKAGE.encode()) + tlv(0x02, b"\x03"))
    application_id = tlv(0x30, tlv(0x31, package) + tlv(0x31, b"") + tlv(0x49, b"\xab" * 32))
    return parse_key_description(
        encode_key_description(
            challenge=CHALLENGE.encode(),
            attestation_version=300,
            security_level=SecurityLevel.TRUSTED_ENVIRONMENT,
            software={"creation_date_time": 1, "attestation_application_id": application_id},
            hardware={"purpose": [2], "origin": 0},
        )
    )


def _reordered() -> object:
    chain = _chain()
    return _verify([chain[0], chain[2], chain[1], *chain[3:]])


REAL: list[Attack] = [
    Attack(
        "real software attestation (AOSP software root)",
        PLATFORM,
        "android.software_root",
        lambda: _real("ka_pixel_xl_marlin_software_attestation"),
    ),
    Attack(
        "real emulator attestation (AOSP RSA software root)",
        PLATFORM,
        "android.software_root",
        lambda: _real("warden_android_emulator_rsa_software"),
    ),
    Attack(
        "real unlocked Pixel 8a",
        PLATFORM,
        "android.bootloader_unlocked",
        lambda: _real("ka_pixel8a_akita_rkp_tee_ec_unlocked"),
    ),
    Attack(
        "real chain relayed for another app",
        PLATFORM,
        "android.package_mismatch",
        lambda: _real("ka_pixel9pro_caiman_rkp_tee_ec_v400", app=AndroidApp("com.attacker.clone", [DIGEST])),
    ),
    Attack(
        "real chain replayed for a new challenge",
        PLATFORM,
        "android.challenge_mismatch",
        lambda: _real("ka_pixel9pro_caiman_rkp_tee_ec_v400", challenge=b"fresh challenge"),
    ),
    Attack(
        "real chain with its root-signed intermediate revoked",
        PLATFORM,
        "android.certificate_revoked",
        lambda: _real_revoked("ka_pixel9pro_caiman_rkp_tee_ec_v400", 2),
    ),
    Attack(
        "real leaf re-ordered after signing",
        PLATFORM,
        "android.signature_invalid",
        lambda: _real("ka_invalid_tags_not_in_ascending_order", challenge=None, app=None),
    ),
    Attack(
        "real chain presented years later",
        PLATFORM,
        "android.certificate_expired",
        lambda: _real("ka_pixel9pro_caiman_rkp_tee_ec_v400", now=datetime(2031, 1, 1, tzinfo=UTC)),
    ),
]


def _real_revoked(name: str, index: int) -> object:
    chain = list(vector(name)["chain_b64"])
    return _real(
        name, revocations=RevocationList.from_json({"entries": {_serial(chain, index): {"status": "REVOKED"}}})
    )


def test_genuine_chain_is_accepted() -> None:
    result = _verify(_chain())
    assert isinstance(result, KeyAttestationResult)
    assert result.tier == "device"


@pytest.mark.parametrize("attack", EMULATED, ids=ids(EMULATED))
def test_attack_is_refused(attack: Attack) -> None:
    refused(attack)


@pytest.mark.vectors
@pytest.mark.parametrize("attack", REAL, ids=ids(REAL))
def test_attack_on_real_chains_is_refused(attack: Attack) -> None:
    refused(attack)
