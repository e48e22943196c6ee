"""The emulated Android KeyStore: its chains verify under its root, in every shape, and the root persists."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from app_integrity.android import AndroidApp, KeyAttestationPolicy, verify_key_attestation
from app_integrity.android.keyattestation import SecurityLevel, VerifiedBootState
from app_integrity.errors import ConfigError, KeyAttestationError
from app_integrity.testing.android.keystore import EmulatedKeyStore

DIGEST = "cd" * 32
APP = AndroidApp("com.example.emulated", [DIGEST])


@pytest.fixture(scope="module")
def keystore() -> EmulatedKeyStore:
    return EmulatedKeyStore()


def _generate(keystore: EmulatedKeyStore, **overrides: Any) -> list[str]:
    options: dict[str, Any] = {"challenge": "nonce", "package_name": APP.package_name, "signing_digests": [DIGEST]}
    options.update(overrides)
    return list(keystore.generate_key(**options).chain)


@pytest.mark.parametrize("provisioning", ["factory", "rkp"])
@pytest.mark.parametrize("level", [SecurityLevel.TRUSTED_ENVIRONMENT, SecurityLevel.STRONG_BOX])
@pytest.mark.parametrize("attest_key", [False, True])
def test_round_trip(keystore: EmulatedKeyStore, provisioning: str, level: SecurityLevel, attest_key: bool) -> None:
    chain = _generate(keystore, provisioning=provisioning, security_level=level, attest_key=attest_key)
    result = verify_key_attestation(chain, challenge="nonce", app=APP, trust_roots=[keystore.root_certificate])
    assert result.provisioning == provisioning
    assert result.attest_key is attest_key
    assert result.tier == ("strong" if level == SecurityLevel.STRONG_BOX else "device")
    assert result.failed == ()
    assert len(chain) == (4 if provisioning == "factory" else 5) + int(attest_key)
    if provisioning == "rkp":
        assert result.provisioning_info is not None
        assert result.provisioning_info.certificates_issued == 8


@pytest.mark.parametrize("version", [3, 100, 200, 300, 400, 500])
def test_versions_and_rsa_keys(keystore: EmulatedKeyStore, version: int) -> None:
    chain = _generate(keystore, attestation_version=version, algorithm="rsa" if version == 200 else "ec")
    result = verify_key_attestation(chain, challenge=b"nonce", app=APP, trust_roots=[keystore.root_pem()])
    assert result.description.attestation_version == version
    assert (result.description.module_hash is not None) is (version >= 400)


def test_root_omitted_from_the_chain(keystore: EmulatedKeyStore) -> None:
    chain = _generate(keystore, include_root=False)
    result = verify_key_attestation(chain, challenge="nonce", app=APP, trust_roots=[keystore.root_certificate])
    assert result.tier == "device"


def test_root_survives_a_restart(keystore: EmulatedKeyStore) -> None:
    saved_root = keystore.root_pem()
    restarted = EmulatedKeyStore.from_pem(keystore.export_pem())
    chain = _generate(restarted)
    result = verify_key_attestation(chain, challenge="nonce", app=APP, trust_roots=[saved_root.decode("ascii")])
    assert result.tier == "device"


def test_boot_states(keystore: EmulatedKeyStore) -> None:
    boot_key = bytes(range(32))
    self_signed = _generate(keystore, verified_boot_state=VerifiedBootState.SELF_SIGNED, verified_boot_key=boot_key)
    kwargs: dict[str, Any] = {"challenge": "nonce", "app": APP, "trust_roots": [keystore.root_certificate]}
    assert verify_key_attestation(self_signed, **kwargs).failed == ("android.boot_key_not_allowed",)
    allowed = KeyAttestationPolicy(allowed_boot_keys=[boot_key.hex()])
    assert verify_key_attestation(self_signed, policy=allowed, **kwargs).tier == "device"
    unlocked = _generate(keystore, verified_boot_state=VerifiedBootState.UNVERIFIED, device_locked=False)
    result = verify_key_attestation(unlocked, **kwargs)
    assert result.tier == "basic"
    assert result.failed == ("android.boot_state_unverified", "android.bootloader_unlocked")
    lenient = KeyAttestationPolicy(require_verified_boot=False)
    assert verify_key_attestation(unlocked, policy=lenient, **kwargs).failed == ()


def test_expired_factory_intermediates_are_tolerated_but_rkp_are_not() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    keystore = EmulatedKeyStore(now=created)
    kwargs: dict[str, Any] = {"challenge": "nonce", "app": APP, "trust_roots": [keystore.root_certificate]}
    factory = _generate(keystore, provisioning="factory")
    eleven_years = created + timedelta(days=365 * 11)
    assert verify_key_attestation(factory, now=eleven_years, **kwargs).tolerated
    strict = KeyAttestationPolicy(allow_expired_factory_intermediates=False)
    with pytest.raises(KeyAttestationError) as caught:
        verify_key_attestation(factory, now=eleven_years, policy=strict, **kwargs)
    assert caught.value.code == "android.certificate_expired"
    rkp = _generate(keystore, provisioning="rkp")
    assert verify_key_attestation(rkp, now=created + timedelta(days=10), **kwargs).tolerated == ()
    with pytest.raises(KeyAttestationError) as caught:
        verify_key_attestation(rkp, now=created + timedelta(days=40), **kwargs)
    assert caught.value.code == "android.certificate_expired"


def test_key_id_is_the_hash_of_the_leaf_public_key(keystore: EmulatedKeyStore) -> None:
    key = keystore.generate_key(challenge="nonce", package_name=APP.package_name, signing_digests=[DIGEST])
    result = verify_key_attestation(key.chain, challenge="nonce", app=APP, trust_roots=[keystore.root_certificate])
    spki = key.private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert result.key_id == base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_a_bad_export_is_a_configuration_error(keystore: EmulatedKeyStore) -> None:
    with pytest.raises(ConfigError):
        EmulatedKeyStore.from_pem(keystore.root_pem())
