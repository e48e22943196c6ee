"""Android: Google Play Integrity verdicts and hardware key attestation."""

from app_integrity.android.app import AndroidApp, parse_certificate_digest
from app_integrity.android.keyattestation import (
    AsyncRevocationListFetcher,
    KeyAttestationPolicy,
    KeyAttestationResult,
    KeyDescription,
    RevocationList,
    RevocationListFetcher,
    SecurityLevel,
    VerifiedBootState,
    verify_key_attestation,
)
from app_integrity.android.play import (
    GoogleApiDecoder,
    IntegrityVerdict,
    LocalKeyDecoder,
    PlayIntegrityResult,
    PlaySignals,
    evaluate_verdict,
    parse_verdict,
)

__all__ = [
    "AndroidApp",
    "AsyncRevocationListFetcher",
    "GoogleApiDecoder",
    "IntegrityVerdict",
    "KeyAttestationPolicy",
    "KeyAttestationResult",
    "KeyDescription",
    "LocalKeyDecoder",
    "PlayIntegrityResult",
    "PlaySignals",
    "RevocationList",
    "RevocationListFetcher",
    "SecurityLevel",
    "VerifiedBootState",
    "evaluate_verdict",
    "parse_certificate_digest",
    "parse_verdict",
    "verify_key_attestation",
]
