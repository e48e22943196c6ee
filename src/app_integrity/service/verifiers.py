"""The verifiers the service runs, built once from the settings: apps, pinned (or overridden) roots, decoders.

Everything here is configuration bound to the pure verification functions; no rule is re-implemented.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from app_integrity.android import (
    AndroidApp,
    AsyncRevocationListFetcher,
    GoogleApiDecoder,
    KeyAttestationPolicy,
    LocalKeyDecoder,
    RevocationList,
    SecurityLevel,
)
from app_integrity.android.keyattestation import TrustAnchors, load_trust_roots
from app_integrity.apple import AppleApp
from app_integrity.config import AndroidSettings, AppleSettings, Decoder
from app_integrity.config import SecurityLevel as ConfigSecurityLevel
from app_integrity.errors import ConfigError

PlayDecoder = GoogleApiDecoder | LocalKeyDecoder


def load_roots(paths: Sequence[Path], *, key: str) -> tuple[x509.Certificate, ...]:
    """Certificates from PEM (or DER) files named in the configuration."""
    roots: list[x509.Certificate] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError("config.invalid", f"{key}: cannot read {path}: {exc.strerror or exc}") from exc
        try:
            if b"-----BEGIN" in data:
                roots.extend(x509.load_pem_x509_certificates(data))
            else:
                roots.append(x509.load_der_x509_certificate(data))
        except ValueError as exc:
            raise ConfigError("config.invalid", f"{key}: {path} is not a PEM or DER certificate") from exc
    return tuple(roots)


@dataclass(frozen=True, slots=True)
class AppleVerifier:
    """The Apple apps this service accepts (one per bundle id) and the roots that anchor them."""

    apps: tuple[AppleApp, ...]
    trust_roots: tuple[x509.Certificate, ...] | None = None  # None: Apple's pinned roots
    receipt_trust_roots: tuple[x509.Certificate, ...] | None = None

    @classmethod
    def from_settings(cls, settings: AppleSettings) -> AppleVerifier:
        apps = tuple(
            AppleApp(team_id=settings.team_id, bundle_id=bundle, allow_development=settings.allow_development)
            for bundle in settings.bundle_ids
        )
        # Overridden roots were announced loudly when the configuration was loaded.
        roots = load_roots(settings.trust_roots, key="apple.trust_roots") if settings.trust_roots else None
        return cls(apps=apps, trust_roots=roots, receipt_trust_roots=roots)

    def app_for(self, bundle_id: str) -> AppleApp | None:
        return next((app for app in self.apps if app.bundle_id == bundle_id), None)

    @property
    def allow_development(self) -> bool:
        return all(app.allow_development for app in self.apps)


@dataclass(slots=True)
class AndroidVerifier:
    """The Android app, its Play Integrity decoder, and the key attestation policy, roots and revocations."""

    app: AndroidApp
    decoder: PlayDecoder
    max_token_age_seconds: int
    key_policy: KeyAttestationPolicy
    key_trust_roots: TrustAnchors | None = None  # None: Google's pinned roots
    revocation_fetcher: AsyncRevocationListFetcher | None = None
    on_close: tuple[Callable[[], None], ...] = ()

    @classmethod
    def from_settings(cls, settings: AndroidSettings, *, decoder: PlayDecoder | None = None) -> AndroidVerifier:
        return cls(
            app=settings.app,
            decoder=decoder or build_decoder(settings),
            max_token_age_seconds=settings.max_token_age_seconds,
            key_policy=key_policy(settings),
            key_trust_roots=(
                load_trust_roots(
                    load_roots(settings.key_attestation_trust_roots, key="android.key_attestation_trust_roots")
                )
                if settings.key_attestation_trust_roots
                else None
            ),
            revocation_fetcher=AsyncRevocationListFetcher(
                url=settings.key_attestation.revocation_url,
                fail_mode="open" if settings.key_attestation.revocation_fail_open else "closed",
            ),
        )

    async def revocations(self, now: datetime) -> RevocationList | None:
        """Google's status list, refreshed at least daily; ``None`` only in fail-open mode during an outage."""
        if self.revocation_fetcher is None:
            return None
        return await self.revocation_fetcher.get(now=now)

    async def aclose(self) -> None:
        await self.decoder.aclose()
        if self.revocation_fetcher is not None:
            await self.revocation_fetcher.aclose()
        for close in self.on_close:
            close()


def build_decoder(settings: AndroidSettings) -> PlayDecoder:
    if settings.decoder is Decoder.LOCAL:
        if not settings.decryption_key or not settings.verification_key:
            raise ConfigError(
                "config.invalid", "android.decoder = 'local' needs decryption_key_env and verification_key_env set"
            )
        return LocalKeyDecoder(decryption_key=settings.decryption_key, verification_key=settings.verification_key)
    options: dict[str, object] = {}
    if settings.google_endpoint:
        options["endpoint"] = settings.google_endpoint
    if settings.service_account_file is not None:
        return GoogleApiDecoder.from_service_account_file(settings.service_account_file, **options)
    return GoogleApiDecoder.from_environment(**options)


_SECURITY_LEVELS = {
    ConfigSecurityLevel.TEE: SecurityLevel.TRUSTED_ENVIRONMENT,
    ConfigSecurityLevel.STRONGBOX: SecurityLevel.STRONG_BOX,
}


def key_policy(settings: AndroidSettings) -> KeyAttestationPolicy:
    options = settings.key_attestation
    return KeyAttestationPolicy(
        min_security_level=_SECURITY_LEVELS[options.min_security_level],
        require_verified_boot=not options.allow_unlocked_bootloader,
        allowed_boot_keys=options.allowed_verified_boot_keys,
        min_os_patch_level=options.min_os_patch_level,
        allow_expired_factory_intermediates=options.allow_expired_factory_intermediates,
    )
