"""Every real chain in shared/vectors/android-key gives what its JSON expects at its valid_at."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app_integrity.android import KeyAttestationPolicy, RevocationList, verify_key_attestation
from app_integrity.android.keyattestation import KeyDescription, parse_key_description
from app_integrity.android.keyattestation.chain import load_certificate
from app_integrity.errors import KeyAttestationError
from tests.conftest import load_json, require_shared, vector_names
from tests.keyattestation_support import BOOT_STATES, SECURITY_LEVELS, app_of, challenge_of, valid_at, vector

pytestmark = pytest.mark.vectors

# Why each invalid vector is invalid, as the code that must refuse it.
INVALID_CODES = {
    "gak_sample_strongbox_preprod_test_root": "android.root_not_trusted",
    "ka_invalid_tags_not_in_ascending_order": "android.signature_invalid",
    "ka_pixel_xl_marlin_software_attestation": "android.software_root",
    "warden_android_emulator_rsa_software": "android.software_root",
}
ROOT_LABELS = {
    "google_rsa_root": "google_rsa_root",
    "google_ec_p384_key_attestation_ca1": "google_ec_p384_key_attestation_ca1",
}
HARDWARE_FIELDS = {
    "osVersion": "os_version",
    "osPatchLevel": "os_patch_level",
    "vendorPatchLevel": "vendor_patch_level",
    "bootPatchLevel": "boot_patch_level",
    "keySize": "key_size",
    "ecCurve": "ec_curve",
    "algorithm": "algorithm",
    "origin": "origin",
}


def _leaf_description(data: dict[str, Any]) -> KeyDescription:
    leaf = load_certificate(base64.b64decode(data["chain_b64"][0]), index=0)
    assert leaf.key_description is not None
    return parse_key_description(leaf.key_description)


def _assert_description(description: KeyDescription, expected: dict[str, Any]) -> None:
    if "attestationVersion" in expected:
        assert description.attestation_version == expected["attestationVersion"]
    if "keymasterVersion" in expected:
        assert description.keymint_version == expected["keymasterVersion"]
    if "attestationSecurityLevel" in expected:
        assert description.attestation_security_level == SECURITY_LEVELS[expected["attestationSecurityLevel"]]
    if "keymasterSecurityLevel" in expected:
        assert description.keymint_security_level == SECURITY_LEVELS[expected["keymasterSecurityLevel"]]
    hardware = expected.get("hardwareEnforced", {})
    for json_name, field in HARDWARE_FIELDS.items():
        if json_name in hardware:
            assert getattr(description.hardware_enforced, field) == hardware[json_name], json_name
    if "purpose" in hardware:
        assert description.hardware_enforced.purpose == tuple(sorted(hardware["purpose"]))
    root = expected.get("rootOfTrust")
    if root is not None:
        actual = description.root_of_trust
        assert actual is not None
        if "verifiedBootKey" in root:
            assert actual.verified_boot_key.hex() == root["verifiedBootKey"]
        if "deviceLocked" in root:
            assert actual.device_locked is root["deviceLocked"]
        if "verifiedBootState" in root:
            assert actual.verified_boot_state == BOOT_STATES[root["verifiedBootState"]]
        if "verifiedBootHash" in root:
            assert actual.verified_boot_hash is not None
            assert actual.verified_boot_hash.hex() == root["verifiedBootHash"]
    if "moduleHash" in expected:
        assert description.module_hash is not None
        assert description.module_hash.hex() == expected["moduleHash"]


@pytest.mark.parametrize("name", vector_names("android-key"))
def test_vector(name: str) -> None:
    data = vector(name)
    expected = data["expected"]
    kwargs: dict[str, Any] = {"challenge": challenge_of(data), "app": app_of(data), "now": valid_at(data)}
    if expected["chain"] == "invalid":
        with pytest.raises(KeyAttestationError) as caught:
            verify_key_attestation(data["chain_b64"], **kwargs)
        assert caught.value.code == INVALID_CODES[name]
        if expected.get("leaf_parseable", True):
            description = _leaf_description(data)
            _assert_description(description, expected.get("key_description", {}))
            for fragment in expected.get("anomalies_contain", []):
                assert any(fragment in anomaly for anomaly in description.anomalies), description.anomalies
        return
    result = verify_key_attestation(data["chain_b64"], **kwargs)
    assert result.root == ROOT_LABELS[expected["trusted_root"]]
    assert result.provisioning == {"factory": "factory", "RKP": "rkp"}[expected["provisioning"]]
    assert result.attest_key is bool(expected.get("attest_key_chain", False))
    assert result.challenge_checked is (data.get("challenge") is not None)
    assert result.app_checked is (data.get("expected_package") is not None)
    _assert_description(result.description, expected.get("key_description", {}))
    for fragment in expected.get("anomalies_contain", []):
        assert any(fragment in anomaly for anomaly in result.description.anomalies), result.description.anomalies
    leaf = x509.load_der_x509_certificate(base64.b64decode(data["chain_b64"][0]))
    assert result.public_key_spki == leaf.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("name", vector_names("android-key"))
def test_pinned_boot_keys_are_in_the_grapheneos_list(name: str) -> None:
    data = vector(name)
    pin = data["expected"].get("verified_boot_key_pin")
    if pin is None:
        assert "verified_boot_key_pin" not in data["expected"]
        return
    keys = load_json(require_shared("vectors/android-key/data/grapheneos_verified_boot_keys.json"))["keys"]
    description = _leaf_description(data)
    assert description.root_of_trust is not None
    assert keys[description.root_of_trust.verified_boot_key.hex()] == pin


def test_unlocked_pixel_8a_fails_the_default_boot_policy() -> None:
    data = vector("ka_pixel8a_akita_rkp_tee_ec_unlocked")
    result = verify_key_attestation(
        data["chain_b64"], challenge=challenge_of(data), app=app_of(data), now=valid_at(data)
    )
    assert result.tier == "basic"
    assert result.failed == ("android.boot_state_unverified", "android.bootloader_unlocked")
    strict = KeyAttestationPolicy(required=["android.bootloader_unlocked"])
    with pytest.raises(KeyAttestationError) as caught:
        verify_key_attestation(
            data["chain_b64"], challenge=challenge_of(data), app=app_of(data), now=valid_at(data), policy=strict
        )
    assert caught.value.code == "android.bootloader_unlocked"


def test_grapheneos_pixel_9_passes_only_with_the_allow_list() -> None:
    data = vector("auditor_pixel9_grapheneos_strongbox_rkp_attest_key_2025")
    kwargs: dict[str, Any] = {"challenge": None, "app": app_of(data), "now": valid_at(data)}
    default = verify_key_attestation(data["chain_b64"], **kwargs)
    assert default.tier == "basic"
    assert default.failed == ("android.boot_key_not_allowed",)
    keys = load_json(require_shared("vectors/android-key/data/grapheneos_verified_boot_keys.json"))["keys"]
    allowed = KeyAttestationPolicy(allowed_boot_keys=[k for k, label in keys.items() if "GRAPHENE" in label])
    result = verify_key_attestation(data["chain_b64"], policy=allowed, **kwargs)
    assert result.tier == "strong"
    assert result.failed == ()
    # Stock-only keys do not admit a GrapheneOS boot.
    stock = KeyAttestationPolicy(allowed_boot_keys=[k for k, label in keys.items() if "STOCK" in label])
    assert verify_key_attestation(data["chain_b64"], policy=stock, **kwargs).failed == ("android.boot_key_not_allowed",)


def test_expired_factory_intermediates_are_tolerated_by_a_switch() -> None:
    data = vector("ka_sony_xperia10iii_factory_tee_expired_intermediates")
    created = valid_at(data).replace(year=2026, month=6, day=4)  # the leaf's creationDateTime
    kwargs: dict[str, Any] = {"challenge": challenge_of(data), "app": app_of(data), "now": created}
    result = verify_key_attestation(data["chain_b64"], **kwargs)
    assert result.provisioning == "factory"
    assert len(result.tolerated) == 2
    with pytest.raises(KeyAttestationError) as caught:
        verify_key_attestation(
            data["chain_b64"], policy=KeyAttestationPolicy(allow_expired_factory_intermediates=False), **kwargs
        )
    assert caught.value.code == "android.certificate_expired"


def test_expired_rkp_certificate_is_never_tolerated() -> None:
    data = vector("ka_pixel9pro_caiman_rkp_strongbox_ec")
    later = valid_at(data) + timedelta(days=20)  # the per-device RKP certificate lives 9 days
    with pytest.raises(KeyAttestationError) as caught:
        verify_key_attestation(data["chain_b64"], challenge=challenge_of(data), app=app_of(data), now=later)
    assert caught.value.code == "android.certificate_expired"


def test_strongbox_leaf_with_null_parameters_is_decoded() -> None:
    # cryptography refuses this 2018 leaf (NULL parameters in ecdsa-with-SHA256); the fallback decodes it. The
    # archived sample is also mis-assembled: the leaf names chain[2] as its issuer, not chain[1], so even with
    # its own pre-production root trusted the chain is refused, for that reason.
    data = vector("gak_sample_strongbox_preprod_test_root")
    chain = data["chain_b64"]
    with pytest.raises(ValueError, match="parsing asn1"):
        x509.load_der_x509_certificate(base64.b64decode(chain[0]))
    description = _leaf_description(data)
    assert description.attestation_challenge == b"abc"
    assert description.attestation_security_level == SECURITY_LEVELS["StrongBox"]
    with pytest.raises(KeyAttestationError) as caught:
        verify_key_attestation(
            chain, challenge=b"abc", app=None, now=valid_at(data), trust_roots=[base64.b64decode(chain[-1])]
        )
    assert caught.value.code == "android.chain_broken"


def test_malformed_root_of_trust_boolean_is_an_anomaly_a_policy_can_refuse() -> None:
    data = vector("ka_invalid_malformed_rot_device_locked")
    kwargs: dict[str, Any] = {"challenge": None, "app": None, "now": valid_at(data)}
    assert verify_key_attestation(data["chain_b64"], **kwargs).failed == ()
    strict = KeyAttestationPolicy(allow_anomalies=False)
    assert verify_key_attestation(data["chain_b64"], policy=strict, **kwargs).failed == (
        "android.key_description_anomalous",
    )


def test_revocation_snapshot_revokes_no_vector() -> None:
    snapshot = RevocationList.from_json(
        require_shared("vectors/android-key/data/attestation_status_snapshot_vvb2060.json").read_bytes()
    )
    data = vector("warden_samsung_sm_s921b_rkp_tee_rsa")
    result = verify_key_attestation(
        data["chain_b64"], challenge=challenge_of(data), app=app_of(data), now=valid_at(data), revocations=snapshot
    )
    assert result.revocation_checked


UNLOCKED = ("android.boot_state_unverified", "android.bootloader_unlocked")
DEFAULT_VERDICTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "auditor_pixel7a_strongbox_factory_attest_key": ("strong", ()),
    "auditor_pixel7a_strongbox_rkp_attest_key_2023": ("strong", ()),
    "auditor_pixel9_grapheneos_strongbox_rkp_attest_key_2025": ("basic", ("android.boot_key_not_allowed",)),
    "gak_sample_factory_tee_ec_2018": ("basic", UNLOCKED),
    "ka_invalid_malformed_rot_device_locked": ("device", ()),
    "ka_pixel3_blueline_factory_strongbox_rsa": ("basic", UNLOCKED),
    "ka_pixel3_blueline_factory_tee_ec": ("basic", UNLOCKED),
    "ka_pixel8a_akita_rkp_tee_ec_unlocked": ("basic", UNLOCKED),
    "ka_pixel9a_tegu_rkp_tee_ec_new_ec_root": ("device", ()),
    "ka_pixel9a_tegu_v500_trusted_confirmation_tag508": ("basic", UNLOCKED),
    "ka_pixel9a_tegu_v500_usage_count_tag405": ("basic", UNLOCKED),
    "ka_pixel9pro_caiman_rkp_strongbox_ec": ("strong", ()),
    "ka_pixel9pro_caiman_rkp_tee_ec_v400": ("device", ()),
    "ka_sony_xperia10iii_factory_tee_expired_intermediates": ("device", ()),
    "swa_samsung_galaxy_s9plus_android10_factory_tee": ("device", ()),
    "warden_nokia_x10_factory_tee": ("device", ()),
    "warden_pixel6_rkp_tee_keymint200": ("device", ()),
    "warden_samsung_sm_s921b_rkp_tee_rsa": ("device", ()),
}


@pytest.mark.parametrize("name", sorted(DEFAULT_VERDICTS))
def test_default_policy_verdict(name: str) -> None:
    # Tier follows the decoded security level and root of trust: StrongBox/TEE with a locked, verified boot.
    data = vector(name)
    result = verify_key_attestation(
        data["chain_b64"], challenge=challenge_of(data), app=app_of(data), now=valid_at(data)
    )
    assert (result.tier, result.failed) == DEFAULT_VERDICTS[name]


def test_every_valid_vector_has_a_verdict() -> None:
    valid = {n for n in vector_names("android-key") if vector(n)["expected"]["chain"] == "valid"}
    assert valid == set(DEFAULT_VERDICTS)
