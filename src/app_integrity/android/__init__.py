"""Android: Google Play Integrity verdicts and hardware key attestation."""

from app_integrity.android.app import AndroidApp, parse_certificate_digest

# --- Play Integrity ---
# --- key attestation ---
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

__all__ = [
    "AndroidApp",
    # --- Play Integrity ---
    # --- key attestation ---
    "AsyncRevocationListFetcher",
    "KeyAttestationPolicy",
    "KeyAttestationResult",
    "KeyDescription",
    "RevocationList",
    "RevocationListFetcher",
    "SecurityLevel",
    "VerifiedBootState",
    "parse_certificate_digest",
    "verify_key_attestation",
]
