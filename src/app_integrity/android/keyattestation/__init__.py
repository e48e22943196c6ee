"""Android hardware key attestation: certificate chain, KeyDescription, root of trust, revocation."""

from app_integrity.android.keyattestation.description import (
    AttestationApplicationId,
    AuthorizationList,
    KeyDescription,
    KeyOrigin,
    KeyPurpose,
    PackageInfo,
    RootOfTrust,
    SecurityLevel,
    VerifiedBootState,
    parse_key_description,
)
from app_integrity.android.keyattestation.policy import POSTURE_CODES, KeyAttestationPolicy
from app_integrity.android.keyattestation.revocation import RevocationEntry, RevocationList
from app_integrity.android.keyattestation.roots import TrustAnchors, google_roots, load_trust_roots
from app_integrity.android.keyattestation.status_fetcher import (
    DEFAULT_STATUS_URL,
    AsyncRevocationListFetcher,
    RevocationListFetcher,
)
from app_integrity.android.keyattestation.verify import (
    KeyAttestationResult,
    ProvisioningInfo,
    verify_key_attestation,
)

__all__ = [
    "DEFAULT_STATUS_URL",
    "POSTURE_CODES",
    "AsyncRevocationListFetcher",
    "AttestationApplicationId",
    "AuthorizationList",
    "KeyAttestationPolicy",
    "KeyAttestationResult",
    "KeyDescription",
    "KeyOrigin",
    "KeyPurpose",
    "PackageInfo",
    "ProvisioningInfo",
    "RevocationEntry",
    "RevocationList",
    "RevocationListFetcher",
    "RootOfTrust",
    "SecurityLevel",
    "TrustAnchors",
    "VerifiedBootState",
    "google_roots",
    "load_trust_roots",
    "parse_key_description",
    "verify_key_attestation",
]
