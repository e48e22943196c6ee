"""What a genuine attestation must also show about the device before it earns a tier.

Strict defaults, each switchable. A posture check that fails is reported as a code on the result (the policy
layer turns codes and tier into allow / limit / block); listing that code in ``required`` makes it a hard
failure instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app_integrity.android.app import parse_certificate_digest
from app_integrity.android.keyattestation.description import SecurityLevel
from app_integrity.errors import ConfigError

POSTURE_CODES: frozenset[str] = frozenset(
    {
        "android.software_security_level",
        "android.security_level_too_low",
        "android.origin_not_generated",
        "android.boot_state_unverified",
        "android.bootloader_unlocked",
        "android.boot_key_not_allowed",
        "android.patch_level_too_old",
        "android.key_description_anomalous",
    }
)


@dataclass(frozen=True, slots=True)
class KeyAttestationPolicy:
    """Posture rules.

    - ``min_security_level``: TEE by default; StrongBox to require a secure element.
    - ``require_generated_origin``: the key was generated inside the secure hardware, not imported.
    - ``require_verified_boot``: verifiedBootState Verified with the bootloader locked, or SelfSigned with a
      ``verifiedBootKey`` in ``allowed_boot_keys`` (how alternative OSes such as GrapheneOS are admitted; digests in
      hex, colons optional, or base64).
    - ``min_os_patch_level``: YYYYMM, compared with the hardware-enforced osPatchLevel.
    - ``allow_expired_factory_intermediates``: tolerate expired factory batch certificates, as Google's verifier
      does (remote-provisioning certificates are short-lived and never tolerated expired).
    - ``refuse_suspended``: SUSPENDED entries of the status list are refused like REVOKED ones.
    - ``allow_anomalies``: accept KeyDescriptions that deviate from DER or tag order (reported either way).
    - ``required``: posture codes that must not fail; a failure raises instead of lowering the tier.
    - ``require_hardware``: shorthand for requiring ``android.software_security_level``: a Google-rooted chain
      whose KeyDescription says Software is then a hard error rather than tier ``none``.
    """

    min_security_level: SecurityLevel
    require_generated_origin: bool
    require_verified_boot: bool
    allowed_boot_keys: frozenset[bytes]
    min_os_patch_level: int | None
    allow_expired_factory_intermediates: bool
    refuse_suspended: bool
    allow_anomalies: bool
    required: frozenset[str]

    def __init__(
        self,
        *,
        min_security_level: SecurityLevel = SecurityLevel.TRUSTED_ENVIRONMENT,
        require_generated_origin: bool = True,
        require_verified_boot: bool = True,
        allowed_boot_keys: Iterable[str | bytes] = (),
        min_os_patch_level: int | None = None,
        allow_expired_factory_intermediates: bool = True,
        refuse_suspended: bool = True,
        allow_anomalies: bool = True,
        required: Iterable[str] = (),
        require_hardware: bool = False,
    ) -> None:
        if isinstance(allowed_boot_keys, str | bytes):
            raise ConfigError("config.invalid", "allowed_boot_keys must be a list of verifiedBootKey digests")
        if isinstance(required, str):
            raise ConfigError("config.invalid", "required must be a list of posture codes")
        required_set = frozenset(required) | (
            frozenset({"android.software_security_level"}) if require_hardware else frozenset()
        )
        unknown = sorted(required_set - POSTURE_CODES)
        if unknown:
            raise ConfigError(
                "config.invalid", f"required names unknown posture codes {unknown}; known: {sorted(POSTURE_CODES)}"
            )
        if min_os_patch_level is not None and not 190001 <= min_os_patch_level <= 999912:
            raise ConfigError("config.invalid", "min_os_patch_level is YYYYMM, for example 202401")
        object.__setattr__(self, "min_security_level", SecurityLevel(min_security_level))
        object.__setattr__(self, "require_generated_origin", require_generated_origin)
        object.__setattr__(self, "require_verified_boot", require_verified_boot)
        object.__setattr__(self, "allowed_boot_keys", frozenset(parse_certificate_digest(k) for k in allowed_boot_keys))
        object.__setattr__(self, "min_os_patch_level", min_os_patch_level)
        object.__setattr__(self, "allow_expired_factory_intermediates", allow_expired_factory_intermediates)
        object.__setattr__(self, "refuse_suspended", refuse_suspended)
        object.__setattr__(self, "allow_anomalies", allow_anomalies)
        object.__setattr__(self, "required", required_set)
