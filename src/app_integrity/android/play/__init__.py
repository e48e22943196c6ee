"""Google Play Integrity: decode tokens (through Google's API or locally) and judge the verdict."""

from app_integrity.android.play.evaluate import PlayIntegrityResult, PlaySignals, Tier, evaluate_verdict
from app_integrity.android.play.google import GoogleApiDecoder
from app_integrity.android.play.local import LocalKeyDecoder
from app_integrity.android.play.verdict import (
    AccountDetails,
    AppIntegrity,
    DeviceIntegrity,
    DeviceRecall,
    EnvironmentDetails,
    IntegrityVerdict,
    RequestDetails,
    parse_verdict,
)

__all__ = [
    "AccountDetails",
    "AppIntegrity",
    "DeviceIntegrity",
    "DeviceRecall",
    "EnvironmentDetails",
    "GoogleApiDecoder",
    "IntegrityVerdict",
    "LocalKeyDecoder",
    "PlayIntegrityResult",
    "PlaySignals",
    "RequestDetails",
    "Tier",
    "evaluate_verdict",
    "parse_verdict",
]
