"""Android: Google Play Integrity verdicts and hardware key attestation."""

from app_integrity.android.app import AndroidApp, parse_certificate_digest

# --- Play Integrity ---

# --- key attestation ---

__all__ = [
    "AndroidApp",
    "parse_certificate_digest",
    # --- Play Integrity ---
    # --- key attestation ---
]
