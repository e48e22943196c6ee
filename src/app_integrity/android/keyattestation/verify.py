"""Verify an Android hardware key attestation: the chain, its KeyDescription, the app, the device posture.

The steps follow Google's guide (developer.android.com, "Verify hardware-backed key pairs with key attestation")
and android/keyattestation, with the tolerances real devices need. Pure: bytes, configuration and ``now`` in; a
typed result out, or a ``VerificationError`` with a stable code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

import cbor2
from cryptography import x509

from app_integrity._clock import resolve_now
from app_integrity._encoding import b64_standard, decode_base64
from app_integrity.android.app import AndroidApp
from app_integrity.android.keyattestation.chain import (
    ChainCertificate,
    check_signature,
    check_signature_cached,
    is_remotely_provisioned,
    load_certificate,
    load_shared_certificate,
)
from app_integrity.android.keyattestation.description import (
    KeyDescription,
    KeyOrigin,
    KeyPurpose,
    SecurityLevel,
    VerifiedBootState,
    parse_key_description,
)
from app_integrity.android.keyattestation.policy import KeyAttestationPolicy
from app_integrity.android.keyattestation.revocation import RevocationList
from app_integrity.android.keyattestation.roots import (
    Anchor,
    TrustAnchors,
    google_roots,
    load_trust_roots,
    software_roots,
)
from app_integrity.errors import ConfigError, InputError, KeyAttestationError

MAX_CHAIN_CERTIFICATES = 10
MAX_CERTIFICATE_BYTES = 16 * 1024

Tier = Literal["strong", "device", "basic", "none"]


@dataclass(frozen=True, slots=True)
class ProvisioningInfo:
    """The provisioning-info extension (1.3.6.1.4.1.11129.2.1.30) of a remotely provisioned certificate: a CBOR map."""

    certificates_issued: int | None
    manufacturer: str | None
    fields: Mapping[int, Any]


@dataclass(frozen=True, slots=True)
class KeyAttestationResult:
    tier: Tier
    failed: tuple[str, ...]
    """Posture codes that failed (the policy layer decides what they mean); empty when the device passed."""
    app_checked: bool
    challenge_checked: bool
    revocation_checked: bool
    description: KeyDescription
    key_id: str
    """Standard base64 of SHA-256 of the leaf's SubjectPublicKeyInfo (DER)."""
    public_key_spki: bytes
    provisioning: Literal["factory", "rkp"]
    provisioning_info: ProvisioningInfo | None
    root: str
    """Label of the anchor the chain ends at (``google_rsa_root``, ``google_ec_p384_key_attestation_ca1``...)."""
    attest_key: bool
    """The leaf was attested by an ATTEST_KEY key (one more certificate, with its own KeyDescription)."""
    tolerated: tuple[str, ...]
    """Deviations accepted under the policy (expired factory intermediates), for the record."""


def _decode_chain(chain: Sequence[str | bytes]) -> list[bytes]:
    if isinstance(chain, str | bytes) or not isinstance(chain, Sequence):
        raise InputError("input.malformed", "chain must be a list of base64 strings or DER bytes, leaf first")
    if len(chain) > MAX_CHAIN_CERTIFICATES:
        raise InputError("input.too_large", f"chain has {len(chain)} certificates, more than {MAX_CHAIN_CERTIFICATES}")
    if len(chain) < 2:
        raise KeyAttestationError("android.chain_incomplete", "chain needs at least the leaf and its issuer")
    return [decode_base64(item, field=f"chain[{i}]", max_bytes=MAX_CERTIFICATE_BYTES) for i, item in enumerate(chain)]


def _anchor(certificates: list[ChainCertificate], anchors: TrustAnchors) -> tuple[Anchor, bool]:
    """The anchor the chain ends at, and whether the chain includes the anchor's own certificate.

    Google's guide (step "verify that the root public certificate is trustworthy"): the chain must end at one of
    Google's root public keys. Matched by key, so any re-issue of the RSA root, or no root at all (the last
    certificate signed by a pinned key), anchors the chain.
    """
    last = certificates[-1]
    software = software_roots()
    if software.by_spki(last.spki) is not None or any(
        _signed_by(last, anchor) for anchor in software.by_subject(last.issuer)
    ):
        raise KeyAttestationError(
            "android.software_root", "chain ends at the AOSP software attestation root: not hardware-backed"
        )
    included = anchors.by_spki(last.spki)
    if included is not None:
        return included, True
    for anchor in anchors.by_subject(last.issuer):
        if _signed_by(last, anchor):
            return anchor, False
    raise KeyAttestationError("android.root_not_trusted", "chain does not end at a pinned attestation root key")


def _signed_by(certificate: ChainCertificate, anchor: Anchor) -> bool:
    try:
        check_signature_cached(certificate, anchor.public_key, anchor.spki, where="last certificate")
    except KeyAttestationError:
        return False
    return True


def _check_links(certificates: list[ChainCertificate]) -> None:
    """Each certificate: issuer equals the next one's subject and the next one's key signs it.

    The last certificate's link to its anchor was checked when the anchor was found. Links are checked from the
    anchor down, so every key used to verify a signature has itself been authenticated: certificates an attacker
    appends below a genuine chain cannot make the verifier spend time on keys of their choosing.
    """
    for index in reversed(range(len(certificates) - 1)):
        child, parent = certificates[index], certificates[index + 1]
        if not hmac.compare_digest(child.issuer, parent.subject):
            raise KeyAttestationError(
                "android.chain_broken", f"chain[{index}]'s issuer is not chain[{index + 1}]'s subject"
            )
        if parent.public_key is None:
            raise KeyAttestationError("android.unsupported_algorithm", f"chain[{index + 1}] has no RSA or EC key")
        where = f"chain[{index}]"
        if child.key_description is None:
            # CA certificates are shared by many devices: check once, remember.
            check_signature_cached(child, parent.public_key, parent.spki, where=where)
        else:
            check_signature(child, parent.public_key, where=where)


def _check_validity(
    certificates: list[ChainCertificate], *, top: int, now: datetime, rkp: bool, policy: KeyAttestationPolicy
) -> tuple[str, ...]:
    tolerated: list[str] = []
    for index in range(top):
        certificate = certificates[index]
        if certificate.key_description is not None:
            # Leaf (and ATTEST_KEY) dates are set by the device: 1970, 2048, 2106, even 1969. Not a signal.
            continue
        if now < certificate.not_before:
            raise KeyAttestationError("android.certificate_expired", f"chain[{index}] is not valid yet at {now}")
        if now > certificate.not_after:
            # Google's verifier skips expiry for factory-provisioned chains: batch certificates outlive their
            # dates on devices still in use. Remote provisioning issues short-lived certificates: never tolerated.
            if rkp or not policy.allow_expired_factory_intermediates:
                raise KeyAttestationError(
                    "android.certificate_expired", f"chain[{index}] expired at {certificate.not_after.isoformat()}"
                )
            tolerated.append(f"chain[{index}] (factory) expired at {certificate.not_after.isoformat()}")
    return tuple(tolerated)


def _check_revocation(
    certificates: list[ChainCertificate], revocations: RevocationList, policy: KeyAttestationPolicy
) -> None:
    # Google's guide: check the revocation status of every certificate in the chain against the status list.
    for index, certificate in enumerate(certificates):
        # A negative serial (RFC 5280 forbids it, some old certificates have one) cannot be in the hex-keyed list.
        if certificate.serial_number < 0:
            continue
        if revocations.is_revoked(certificate.serial_number, include_suspended=policy.refuse_suspended):
            entry = revocations.status(certificate.serial_number)
            status = entry.status if entry is not None else "REVOKED"
            raise KeyAttestationError(
                "android.certificate_revoked", f"chain[{index}] (serial {certificate.serial_hex}) is {status}"
            )


def _description_of(certificate: ChainCertificate) -> KeyDescription:
    assert certificate.key_description is not None
    return parse_key_description(certificate.key_description)


def _check_extension_placement(certificates: list[ChainCertificate]) -> bool:
    """Chain extension attack: anyone can sign a certificate with a genuinely attested key.

    Only the leaf may carry a KeyDescription, except a certificate whose own hardware-enforced purpose is exactly
    ATTEST_KEY (KeyMint 200+ attests app keys with such a key). Returns whether an ATTEST_KEY certificate is present.
    """
    attest_key = False
    for index, certificate in enumerate(certificates[1:], start=1):
        if certificate.key_description is None:
            continue
        purposes = _description_of(certificate).hardware_enforced.purpose
        if purposes != (KeyPurpose.ATTEST_KEY,):
            raise KeyAttestationError(
                "android.extension_misplaced",
                f"chain[{index}] carries a KeyDescription but is not an ATTEST_KEY key: the leaf was not attested",
            )
        attest_key = True
    return attest_key


def _check_app(description: KeyDescription, app: AndroidApp) -> None:
    application = description.attestation_application_id
    if application is None:
        raise KeyAttestationError("android.package_mismatch", "the KeyDescription has no attestationApplicationId")
    # Google's guide: the attestationApplicationId must name your package and your signing certificate digest.
    matching = [p for p in application.packages if p.name == app.package_name]
    if not matching:
        names = ", ".join(p.name for p in application.packages)[:200]
        raise KeyAttestationError("android.package_mismatch", f"key belongs to {names}, not {app.package_name}")
    if not any(hmac.compare_digest(d, e) for d in application.signature_digests for e in app.certificate_sha256):
        raise KeyAttestationError("android.signer_mismatch", "no signing certificate digest of the app matches")
    if app.min_version_code is not None and max(p.version for p in matching) < app.min_version_code:
        raise KeyAttestationError(
            "android.app_version_too_low", f"app version is below the minimum {app.min_version_code}"
        )


def _posture(description: KeyDescription, policy: KeyAttestationPolicy) -> tuple[Tier, tuple[str, ...]]:
    failed: list[str] = []
    level = description.attestation_security_level
    hardware = description.hardware_enforced
    if level == SecurityLevel.SOFTWARE:
        failed.append("android.software_security_level")
    elif level < policy.min_security_level:
        failed.append("android.security_level_too_low")
    if policy.require_generated_origin and hardware.origin != KeyOrigin.GENERATED:
        failed.append("android.origin_not_generated")
    boot_ok = True
    root = hardware.root_of_trust
    if root is None:
        boot_ok = False
        failed.append("android.boot_state_unverified")
    else:
        if root.verified_boot_state == VerifiedBootState.SELF_SIGNED:
            # An alternative OS signs its own images: admitted only for an allow-listed verifiedBootKey.
            if not any(hmac.compare_digest(root.verified_boot_key, k) for k in policy.allowed_boot_keys):
                boot_ok = False
                failed.append("android.boot_key_not_allowed")
        elif root.verified_boot_state != VerifiedBootState.VERIFIED:
            boot_ok = False
            failed.append("android.boot_state_unverified")
        if not root.device_locked:
            boot_ok = False
            failed.append("android.bootloader_unlocked")
    if not policy.require_verified_boot:
        boot_ok = True
        failed = [c for c in failed if c not in _BOOT_CODES]
    if policy.min_os_patch_level is not None and (hardware.os_patch_level or 0) < policy.min_os_patch_level:
        failed.append("android.patch_level_too_old")
    if description.anomalies and not policy.allow_anomalies:
        failed.append("android.key_description_anomalous")
    for code in failed:
        if code in policy.required:
            raise KeyAttestationError(code, f"the policy requires this check to pass ({code})")
    tier: Tier
    if level == SecurityLevel.SOFTWARE:
        tier = "none"
    elif boot_ok:
        tier = "strong" if level == SecurityLevel.STRONG_BOX else "device"
    else:
        tier = "basic"
    return tier, tuple(failed)


_BOOT_CODES = frozenset(
    {"android.boot_state_unverified", "android.bootloader_unlocked", "android.boot_key_not_allowed"}
)


def _provisioning_info(certificates: list[ChainCertificate]) -> ProvisioningInfo | None:
    for certificate in certificates:
        if certificate.provisioning_info is None:
            continue
        try:
            value = cbor2.loads(certificate.provisioning_info)
        except (ValueError, cbor2.CBORDecodeError, RecursionError) as exc:
            raise KeyAttestationError("android.provisioning_info_malformed", "provisioning info is not CBOR") from exc
        if not isinstance(value, dict) or not all(isinstance(k, int) for k in value):
            raise KeyAttestationError("android.provisioning_info_malformed", "provisioning info is not a CBOR map")
        issued, manufacturer = value.get(1), value.get(3)
        return ProvisioningInfo(
            certificates_issued=issued if isinstance(issued, int) and not isinstance(issued, bool) else None,
            manufacturer=manufacturer if isinstance(manufacturer, str) else None,
            fields=MappingProxyType(dict(value)),
        )
    return None


def _expected_challenge(challenge: str | bytes | None) -> bytes | None:
    if challenge is None or isinstance(challenge, bytes):
        return challenge
    if isinstance(challenge, str):
        # What the Expo module sets: the challenge string's UTF-8 bytes, hashed nowhere.
        return challenge.encode("utf-8")
    raise InputError("input.invalid_argument", "challenge must be str, bytes or None")


def resolve_trust_roots(trust_roots: Sequence[bytes | str | x509.Certificate] | TrustAnchors | None) -> TrustAnchors:
    if trust_roots is None:
        return google_roots()
    if isinstance(trust_roots, TrustAnchors):
        return trust_roots
    return load_trust_roots(trust_roots)


def verify_key_attestation(
    chain: Sequence[str | bytes],
    *,
    challenge: str | bytes | None,
    app: AndroidApp | None,
    policy: KeyAttestationPolicy | None = None,
    revocations: RevocationList | None = None,
    now: datetime | None = None,
    trust_roots: Sequence[bytes | str | x509.Certificate] | TrustAnchors | None = None,
) -> KeyAttestationResult:
    """Verify a key attestation certificate chain (leaf first) for this challenge and this app.

    ``challenge=None`` or ``app=None`` skip those checks and say so on the result (for inspecting captured
    chains; never in a service). ``trust_roots`` replaces Google's roots (staging, emulated KeyStores).
    Raises ``VerificationError`` when the chain is not a genuine, unrevoked attestation for this challenge and app;
    device posture is judged by ``policy`` into ``tier`` and ``failed``.
    """
    policy = policy if policy is not None else KeyAttestationPolicy()
    if app is not None and not app.certificate_sha256:
        raise ConfigError("config.invalid", "key attestation needs the app's signing certificate digests")
    expected = _expected_challenge(challenge)
    at = resolve_now(now)
    anchors = resolve_trust_roots(trust_roots)

    raw = _decode_chain(chain)
    certificates = [
        load_certificate(der, index=i) if i == 0 else load_shared_certificate(der, index=i) for i, der in enumerate(raw)
    ]
    anchor, root_included = _anchor(certificates, anchors)
    top = len(certificates) - 1 if root_included else len(certificates)
    if top < 1:
        raise KeyAttestationError("android.chain_incomplete", "chain holds only the root")
    _check_links(certificates)
    rkp = is_remotely_provisioned(certificates)
    tolerated = _check_validity(certificates, top=top, now=at, rkp=rkp, policy=policy)
    if revocations is not None:
        _check_revocation(certificates, revocations, policy)
    attest_key = _check_extension_placement(certificates)

    leaf = certificates[0]
    if leaf.key_description is None:
        raise KeyAttestationError("android.key_description_missing", "the leaf has no KeyDescription extension")
    description = _description_of(leaf)
    # Google's guide: the attestationChallenge must equal the challenge the server issued for this key.
    if expected is not None and not hmac.compare_digest(description.attestation_challenge, expected):
        raise KeyAttestationError("android.challenge_mismatch", "attestationChallenge is not the issued challenge")
    if app is not None:
        _check_app(description, app)
    tier, failed = _posture(description, policy)
    return KeyAttestationResult(
        tier=tier,
        failed=failed,
        app_checked=app is not None,
        challenge_checked=expected is not None,
        revocation_checked=revocations is not None,
        description=description,
        key_id=b64_standard(hashlib.sha256(leaf.spki).digest()),
        public_key_spki=leaf.spki,
        provisioning="rkp" if rkp else "factory",
        provisioning_info=_provisioning_info(certificates),
        root=anchor.label,
        attest_key=attest_key,
        tolerated=tolerated,
    )
