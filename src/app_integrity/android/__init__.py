"""Android: Google Play Integrity verdicts and hardware key attestation."""

from app_integrity.android.app import AndroidApp, parse_certificate_digest

# --- Play Integrity ---
from app_integrity.android.play import (
    GoogleApiDecoder as GoogleApiDecoder,
)
from app_integrity.android.play import (
    IntegrityVerdict as IntegrityVerdict,
)
from app_integrity.android.play import (
    LocalKeyDecoder as LocalKeyDecoder,
)
from app_integrity.android.play import (
    PlayIntegrityResult as PlayIntegrityResult,
)
from app_integrity.android.play import (
    PlaySignals as PlaySignals,
)
from app_integrity.android.play import (
    evaluate_verdict as evaluate_verdict,
)
from app_integrity.android.play import (
    parse_verdict as parse_verdict,
)

_PLAY_INTEGRITY = [
    "GoogleApiDecoder",
    "IntegrityVerdict",
    "LocalKeyDecoder",
    "PlayIntegrityResult",
    "PlaySignals",
    "evaluate_verdict",
    "parse_verdict",
]

# --- key attestation ---

__all__ = [
    "AndroidApp",
    "parse_certificate_digest",
    # --- Play Integrity ---
    *_PLAY_INTEGRITY,
    # --- key attestation ---
]
