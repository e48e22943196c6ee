"""Mutations and attacks on key attestation chains: each refused with its exact code."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import algos, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app_integrity.android import AndroidApp, KeyAttestationPolicy, RevocationList, verify_key_attestation
from app_integrity.android.keyattestation import KeyOrigin, KeyPurpose, SecurityLevel
from app_integrity.errors import AppIntegrityError, InputError, KeyAttestationError
from app_integrity.testing._certs import Extension, issue_certificate, name
from app_integrity.testing.android.keystore import EmulatedKeyStore, encode_key_description
from tests.keyattestation_support import app_of, challenge_of, valid_at, vector

DIGEST = "ab" * 32
APP = AndroidApp("com.example.app", [DIGEST])
KEY_DESCRIPTION_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.1.17")


def _code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(AppIntegrityError) as caught:
        call(*args, **kwargs)
    return caught.value.code


@pytest.fixture(scope="module")
def keystore() -> EmulatedKeyStore:
    return EmulatedKeyStore()


def _emulated(keystore: EmulatedKeyStore, **overrides: Any) -> list[str]:
    options: dict[str, Any] = {"challenge": "c-1", "package_name": APP.package_name, "signing_digests": [DIGEST]}
    options.update(overrides)
    return list(keystore.generate_key(**options).chain)


def _verify_emulated(keystore: EmulatedKeyStore, chain: Sequence[str | bytes], **kwargs: Any) -> Any:
    options: dict[str, Any] = {"challenge": "c-1", "app": APP, "trust_roots": [keystore.root_certificate]}
    options.update(kwargs)
    return verify_key_attestation(chain, **options)


# --- real chains, mutated ---


def _real(name_: str = "ka_pixel9pro_caiman_rkp_tee_ec_v400") -> tuple[list[str], dict[str, Any]]:
    data = vector(name_)
    return list(data["chain_b64"]), {"challenge": challenge_of(data), "app": app_of(data), "now": valid_at(data)}


@pytest.mark.vectors
def test_wrong_challenge() -> None:
    chain, kwargs = _real()
    kwargs["challenge"] = "another challenge"
    assert _code(verify_key_attestation, chain, **kwargs) == "android.challenge_mismatch"


@pytest.mark.vectors
def test_challenge_as_text_is_its_utf8_bytes() -> None:
    chain, kwargs = _real()
    kwargs["challenge"] = kwargs["challenge"].decode("utf-8")
    assert verify_key_attestation(chain, **kwargs).challenge_checked


@pytest.mark.vectors
def test_another_package() -> None:
    chain, kwargs = _real()
    digest = kwargs["app"].certificate_sha256[0]
    kwargs["app"] = AndroidApp("com.attacker.app", [digest])
    assert _code(verify_key_attestation, chain, **kwargs) == "android.package_mismatch"


@pytest.mark.vectors
def test_another_signing_digest() -> None:
    chain, kwargs = _real()
    kwargs["app"] = AndroidApp(kwargs["app"].package_name, ["00" * 32])
    assert _code(verify_key_attestation, chain, **kwargs) == "android.signer_mismatch"


@pytest.mark.vectors
def test_app_version_below_minimum() -> None:
    chain, kwargs = _real()
    app = kwargs["app"]
    kwargs["app"] = AndroidApp(app.package_name, list(app.certificate_sha256), min_version_code=5)
    assert _code(verify_key_attestation, chain, **kwargs) == "android.app_version_too_low"


@pytest.mark.vectors
def test_app_none_skips_the_app_check_and_says_so() -> None:
    chain, kwargs = _real()
    kwargs["app"] = None
    result = verify_key_attestation(chain, **kwargs)
    assert result.app_checked is False


@pytest.mark.vectors
@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_revoked_serial_anywhere_in_the_chain(index: int) -> None:
    chain, kwargs = _real()
    serial = x509.load_der_x509_certificate(base64.b64decode(chain[index])).serial_number
    revocations = RevocationList.from_json({"entries": {format(serial, "x"): {"status": "REVOKED"}}})
    assert _code(verify_key_attestation, chain, revocations=revocations, **kwargs) == "android.certificate_revoked"


@pytest.mark.vectors
def test_suspended_serial_is_refused_unless_the_policy_allows_it() -> None:
    chain, kwargs = _real()
    serial = x509.load_der_x509_certificate(base64.b64decode(chain[2])).serial_number
    revocations = RevocationList.from_json({"entries": {format(serial, "x"): {"status": "SUSPENDED"}}})
    assert _code(verify_key_attestation, chain, revocations=revocations, **kwargs) == "android.certificate_revoked"
    lenient = KeyAttestationPolicy(refuse_suspended=False)
    assert verify_key_attestation(chain, revocations=revocations, policy=lenient, **kwargs).revocation_checked


@pytest.mark.vectors
@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_broken_signature(index: int) -> None:
    chain, kwargs = _real()
    der = bytearray(base64.b64decode(chain[index]))
    der[-5] ^= 0x01  # inside the signature value
    chain[index] = base64.b64encode(bytes(der)).decode()
    assert _code(verify_key_attestation, chain, **kwargs) == "android.signature_invalid"


@pytest.mark.vectors
def test_truncated_and_reordered_chains() -> None:
    chain, kwargs = _real()
    # The root may be omitted: the last certificate is then signed by a pinned key.
    assert verify_key_attestation(chain[:-1], **kwargs).root == "google_rsa_root"
    assert _code(verify_key_attestation, chain[:-2], **kwargs) == "android.root_not_trusted"
    assert _code(verify_key_attestation, [chain[0], *chain[2:]], **kwargs) == "android.chain_broken"
    assert _code(verify_key_attestation, [chain[0], chain[2], chain[1], *chain[3:]], **kwargs) == "android.chain_broken"
    assert _code(verify_key_attestation, list(reversed(chain)), **kwargs) == "android.root_not_trusted"
    assert _code(verify_key_attestation, chain[:1], **kwargs) == "android.chain_incomplete"
    assert _code(verify_key_attestation, chain[-1:] + chain[-1:], **kwargs) == "android.key_description_missing"


@pytest.mark.vectors
def test_malformed_inputs_are_typed() -> None:
    chain, kwargs = _real()
    assert _code(verify_key_attestation, "".join(chain), **kwargs) == "input.malformed"
    assert _code(verify_key_attestation, ["%%%", *chain[1:]], **kwargs) == "input.malformed"
    assert _code(verify_key_attestation, [b"\x30\x03\x02\x01\x01", *chain[1:]], **kwargs) == "input.malformed"
    assert _code(verify_key_attestation, chain * 3, **kwargs) == "input.too_large"
    assert _code(verify_key_attestation, ["A" * 40_000, *chain[1:]], **kwargs) == "input.too_large"
    naive = dict(kwargs, now=datetime(2025, 9, 26))
    assert _code(verify_key_attestation, chain, **naive) == "input.invalid_argument"
    wrong_type = dict(kwargs, challenge=12345)
    assert _code(verify_key_attestation, chain, **wrong_type) == "input.invalid_argument"


def test_unpinned_root(keystore: EmulatedKeyStore) -> None:
    chain = _emulated(keystore)
    assert _code(verify_key_attestation, chain, challenge="c-1", app=APP) == "android.root_not_trusted"


def test_another_emulator_root_is_not_trusted(keystore: EmulatedKeyStore) -> None:
    other = EmulatedKeyStore()
    chain = _emulated(keystore)
    assert _code(_verify_emulated, other, chain) == "android.root_not_trusted"


def test_forged_extra_certificate_carrying_a_key_description(keystore: EmulatedKeyStore) -> None:
    # Chain extension attack: the attacker owns a genuinely attested SIGN key and uses it to certify a key of
    # their own, with a KeyDescription claiming whatever they like.
    genuine = keystore.generate_key(challenge="old", package_name=APP.package_name, signing_digests=[DIGEST])
    assert isinstance(genuine.private_key, ec.EllipticCurvePrivateKey)
    genuine_leaf = x509.load_der_x509_certificate(genuine.chain_der[0])
    forged_description = encode_key_description(
        challenge=b"c-1",
        attestation_version=300,
        security_level=SecurityLevel.STRONG_BOX,
        software={},
        hardware={"purpose": [2], "origin": 0},
    )
    attacker_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)

    def forged(extensions: list[Extension]) -> bytes:
        certificate = issue_certificate(
            subject=name("Android Keystore Key"),
            subject_key=attacker_key.public_key(),
            issuer=genuine_leaf.subject,
            issuer_key=genuine.private_key,
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=1),
            extensions=extensions,
        )
        return certificate.public_bytes(serialization.Encoding.DER)

    with_description = forged([Extension(x509.UnrecognizedExtension(KEY_DESCRIPTION_OID, forged_description))])
    assert _code(_verify_emulated, keystore, [with_description, *genuine.chain]) == "android.extension_misplaced"
    without = forged([])
    assert _code(_verify_emulated, keystore, [without, *genuine.chain]) == "android.extension_misplaced"


def test_only_a_pure_attest_key_may_certify_the_leaf(keystore: EmulatedKeyStore) -> None:
    assert _verify_emulated(keystore, _emulated(keystore, attest_key=True)).attest_key
    mixed = _emulated(keystore, attest_key=True, attest_key_purposes=[KeyPurpose.ATTEST_KEY, KeyPurpose.SIGN])
    assert _code(_verify_emulated, keystore, mixed) == "android.extension_misplaced"


def test_leaf_without_key_description(keystore: EmulatedKeyStore) -> None:
    root_key = serialization.load_pem_private_key(keystore.export_pem(), password=None)
    root_der = keystore.root_certificate.public_bytes(serialization.Encoding.DER)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    now = datetime.now(UTC)
    plain = issue_certificate(
        subject=name("no description"),
        subject_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        issuer=keystore.root_certificate.subject,
        issuer_key=root_key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1),
    )
    chain: list[str | bytes] = [plain.public_bytes(serialization.Encoding.DER), root_der]
    assert _code(_verify_emulated, keystore, chain) == "android.key_description_missing"
    sha512 = issue_certificate(
        subject=name("sha512"),
        subject_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
        issuer=keystore.root_certificate.subject,
        issuer_key=root_key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1),
        hash_algorithm=hashes.SHA512(),
    )
    chain = [sha512.public_bytes(serialization.Encoding.DER), root_der]
    assert _code(_verify_emulated, keystore, chain) == "android.unsupported_algorithm"


def test_software_security_level_is_a_posture_failure_or_a_hard_error(keystore: EmulatedKeyStore) -> None:
    chain = _emulated(keystore, security_level=SecurityLevel.SOFTWARE)
    result = _verify_emulated(keystore, chain)
    assert result.tier == "none"
    assert result.failed == ("android.software_security_level",)
    hardware_only = KeyAttestationPolicy(required=["android.software_security_level"])
    assert _code(_verify_emulated, keystore, chain, policy=hardware_only) == "android.software_security_level"
    shorthand = KeyAttestationPolicy(require_hardware=True)
    assert _code(_verify_emulated, keystore, chain, policy=shorthand) == "android.software_security_level"


def test_posture_checks(keystore: EmulatedKeyStore) -> None:
    tee = _emulated(keystore)
    strongbox_only = KeyAttestationPolicy(min_security_level=SecurityLevel.STRONG_BOX)
    result = _verify_emulated(keystore, tee, policy=strongbox_only)
    assert result.failed == ("android.security_level_too_low",)
    imported = _emulated(keystore, origin=KeyOrigin.IMPORTED)
    assert _verify_emulated(keystore, imported).failed == ("android.origin_not_generated",)
    assert _verify_emulated(keystore, tee, policy=KeyAttestationPolicy(min_os_patch_level=202511)).failed == (
        "android.patch_level_too_old",
    )
    assert _verify_emulated(keystore, tee, policy=KeyAttestationPolicy(min_os_patch_level=202510)).failed == ()


def test_expired_emulated_rkp_certificate(keystore: EmulatedKeyStore) -> None:
    chain = _emulated(keystore)
    later = datetime.now(UTC) + timedelta(days=45)
    assert _code(_verify_emulated, keystore, chain, now=later) == "android.certificate_expired"
    too_early = datetime.now(UTC) - timedelta(days=10)
    assert _code(_verify_emulated, keystore, chain, now=too_early) == "android.certificate_expired"


def test_policy_configuration_is_checked() -> None:
    with pytest.raises(AppIntegrityError) as caught:
        KeyAttestationPolicy(required=["android.challenge_mismatch"])
    assert caught.value.code == "config.invalid"
    with pytest.raises(AppIntegrityError):
        KeyAttestationPolicy(min_os_patch_level=20240101)
    with pytest.raises(AppIntegrityError):
        KeyAttestationPolicy(allowed_boot_keys="ab" * 32)
    with pytest.raises(AppIntegrityError):
        verify_key_attestation(["x", "y"], challenge=None, app=None, trust_roots=[])


def test_app_without_signing_digests_is_a_configuration_error(keystore: EmulatedKeyStore) -> None:
    chain = _emulated(keystore)
    assert _code(_verify_emulated, keystore, chain, app=AndroidApp(APP.package_name)) == "config.invalid"


def test_errors_are_verification_errors(keystore: EmulatedKeyStore) -> None:
    chain = _emulated(keystore)
    with pytest.raises(KeyAttestationError):
        _verify_emulated(keystore, chain, challenge="c-2")
    with pytest.raises(InputError):
        _verify_emulated(keystore, [*chain, *chain, *chain])


def _reissued_with_null_parameters(keystore: EmulatedKeyStore, leaf_der: bytes) -> bytes:
    """The leaf re-signed by the root with ecdsa-with-SHA256 carrying NULL parameters, like a 2018 StrongBox."""
    root_key = serialization.load_pem_private_key(keystore.export_pem(), password=None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    algorithm = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa", "parameters": core.Null()})
    tbs = asn1_x509.Certificate.load(leaf_der)["tbs_certificate"]
    tbs["signature"] = algorithm
    tbs["issuer"] = asn1_x509.Certificate.load(keystore.root_certificate.public_bytes(serialization.Encoding.DER))[
        "tbs_certificate"
    ]["subject"]
    tbs_der = tbs.dump(force=True)
    signature = root_key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    certificate = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": algorithm,
            "signature_value": signature,
        }
    )
    return bytes(certificate.dump())


def test_null_parameters_leaf_is_decoded_and_its_signature_checked(keystore: EmulatedKeyStore) -> None:
    genuine = keystore.generate_key(challenge="c-1", package_name=APP.package_name, signing_digests=[DIGEST])
    leaf = _reissued_with_null_parameters(keystore, genuine.chain_der[0])
    with pytest.raises(ValueError, match="parsing asn1"):
        x509.load_der_x509_certificate(leaf)
    root = keystore.root_certificate.public_bytes(serialization.Encoding.DER)
    assert _verify_emulated(keystore, [leaf, root]).tier == "device"
    broken = bytearray(leaf)
    broken[-5] ^= 0x01
    assert _code(_verify_emulated, keystore, [bytes(broken), root]) == "android.signature_invalid"
