"""Known values of Play Integrity's open enums, as Google documents them today.

Fields keep whatever string Google sent; these names exist so code compares against a constant, not a literal.
"""

from __future__ import annotations

from enum import StrEnum


class AppRecognition(StrEnum):
    PLAY_RECOGNIZED = "PLAY_RECOGNIZED"
    UNRECOGNIZED_VERSION = "UNRECOGNIZED_VERSION"
    UNEVALUATED = "UNEVALUATED"
    UNKNOWN = "UNKNOWN"


class DeviceRecognition(StrEnum):
    MEETS_STRONG_INTEGRITY = "MEETS_STRONG_INTEGRITY"
    MEETS_DEVICE_INTEGRITY = "MEETS_DEVICE_INTEGRITY"
    MEETS_BASIC_INTEGRITY = "MEETS_BASIC_INTEGRITY"
    MEETS_VIRTUAL_INTEGRITY = "MEETS_VIRTUAL_INTEGRITY"


class Licensing(StrEnum):
    LICENSED = "LICENSED"
    UNLICENSED = "UNLICENSED"
    UNEVALUATED = "UNEVALUATED"


class PlayProtect(StrEnum):
    NO_ISSUES = "NO_ISSUES"
    NO_DATA = "NO_DATA"
    POSSIBLE_RISK = "POSSIBLE_RISK"  # Play Protect is turned off
    MEDIUM_RISK = "MEDIUM_RISK"
    HIGH_RISK = "HIGH_RISK"
    UNEVALUATED = "UNEVALUATED"


class AppsDetected(StrEnum):
    KNOWN_INSTALLED = "KNOWN_INSTALLED"
    KNOWN_CAPTURING = "KNOWN_CAPTURING"
    KNOWN_CONTROLLING = "KNOWN_CONTROLLING"
    KNOWN_OVERLAYS = "KNOWN_OVERLAYS"
    UNKNOWN_INSTALLED = "UNKNOWN_INSTALLED"
    UNKNOWN_CAPTURING = "UNKNOWN_CAPTURING"
    UNKNOWN_CONTROLLING = "UNKNOWN_CONTROLLING"
    UNKNOWN_OVERLAYS = "UNKNOWN_OVERLAYS"


class DeviceActivity(StrEnum):
    LEVEL_1 = "LEVEL_1"
    LEVEL_2 = "LEVEL_2"
    LEVEL_3 = "LEVEL_3"
    LEVEL_4 = "LEVEL_4"
    UNEVALUATED = "UNEVALUATED"


class AccountActivity(StrEnum):
    TYPICAL_STRONG = "TYPICAL_STRONG"
    TYPICAL_BASIC = "TYPICAL_BASIC"
    UNUSUAL = "UNUSUAL"
    UNKNOWN = "UNKNOWN"
    UNEVALUATED = "UNEVALUATED"
