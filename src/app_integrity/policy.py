"""Per-action policy (DESIGN.md §4): verification facts in, a ``Decision`` out. Pure: no I/O, no clock.

The service verifies a proof and states what it learned as ``VerificationFacts``; ``PolicySet.decide`` turns that
into allow / limit / block for one action:

- an invalid proof is always ``block``, whatever the policy;
- no proof at all is tier ``none``;
- a proof that could not be checked (Google or storage did not answer) gets the policy's ``on_unavailable``;
- a valid proof keeps its tier unless a required signal did not hold (then tier ``none``); other failed checks
  are reasons only; the tier then meets the ``allow`` and ``limit`` thresholds for its platform;
- in observe mode ``outcome`` is what enforce mode would decide, and ``enforced`` is false.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from app_integrity.errors import ConfigError, InputError


class Outcome(StrEnum):
    ALLOW = "allow"
    LIMIT = "limit"
    BLOCK = "block"


class Tier(StrEnum):
    STRONG = "strong"
    DEVICE = "device"
    BASIC = "basic"
    NONE = "none"

    @property
    def rank(self) -> int:
        return _TIER_RANK[self]

    def at_least(self, other: Tier) -> bool:
        return self.rank >= other.rank


_TIER_RANK = {Tier.NONE: 0, Tier.BASIC: 1, Tier.DEVICE: 2, Tier.STRONG: 3}


class Platform(StrEnum):
    IOS = "ios"
    ANDROID = "android"


class Mode(StrEnum):
    OBSERVE = "observe"
    ENFORCE = "enforce"


class Signal(StrEnum):
    """Facts a policy can require. A signal holds only on positive evidence: unreported is not held."""

    APP = "app"  # the genuine app: App Attest's app id, Play's PLAY_RECOGNIZED + package + signing digest
    LICENSING = "licensing"  # Play: appLicensingVerdict LICENSED
    PLAY_PROTECT = "play_protect"  # Play: playProtectVerdict NO_ISSUES
    NO_RISKY_APPS = "no_risky_apps"  # Play: appAccessRiskVerdict without capturing / controlling apps
    MIN_PATCH_LEVEL = "min_patch_level"  # key attestation: OS patch level at or above the configured minimum


# Which signals can exist on each platform. A required signal that does not apply (Play Protect on an iPhone)
# does not count against the proof; one that applies but was not reported counts as failed.
APPLICABLE_SIGNALS: Mapping[Platform, frozenset[Signal]] = MappingProxyType(
    {
        Platform.IOS: frozenset({Signal.APP}),
        Platform.ANDROID: frozenset(Signal),
    }
)


class ProofStatus(StrEnum):
    VALID = "valid"  # the proof verified: tier and signals as reported
    ABSENT = "absent"  # the request carried no proof at all
    INVALID = "invalid"  # bad signature, replay, binding mismatch, unknown challenge or key, bad session ...
    UNAVAILABLE = "unavailable"  # well-formed, but Google or storage did not answer


@dataclass(frozen=True, slots=True)
class VerificationFacts:
    """What verification established about one request's proof. Build it with the class methods."""

    status: ProofStatus
    platform: Platform | None = None
    tier: Tier = Tier.NONE
    signals: frozenset[Signal] = frozenset()
    reasons: tuple[str, ...] = ()
    key_id: bytes | None = None

    def __post_init__(self) -> None:
        if self.status is ProofStatus.VALID and self.platform is None:
            raise InputError("input.invalid_argument", "a valid proof has a platform")
        if self.status in (ProofStatus.INVALID, ProofStatus.UNAVAILABLE) and not self.reasons:
            raise InputError("input.invalid_argument", f"an {self.status.value} proof needs its error code as reason")
        if self.status is not ProofStatus.VALID and self.tier is not Tier.NONE:
            raise InputError("input.invalid_argument", f"an {self.status.value} proof earns no tier")

    @classmethod
    def valid(
        cls,
        platform: Platform,
        tier: Tier,
        *,
        signals: Iterable[Signal] = (),
        failed: Iterable[str] = (),
        key_id: bytes | None = None,
    ) -> VerificationFacts:
        """A verified proof: the tier the verifier earned, the signals that held, the checks that failed (codes)."""
        return cls(ProofStatus.VALID, platform, tier, frozenset(signals), tuple(failed), key_id)

    @classmethod
    def absent(cls) -> VerificationFacts:
        return cls(ProofStatus.ABSENT, reasons=("header.missing",))

    @classmethod
    def invalid(cls, code: str, *, platform: Platform | None = None, key_id: bytes | None = None) -> VerificationFacts:
        return cls(ProofStatus.INVALID, platform, reasons=(code,), key_id=key_id)

    @classmethod
    def unavailable(
        cls, code: str, *, platform: Platform | None = None, key_id: bytes | None = None
    ) -> VerificationFacts:
        return cls(ProofStatus.UNAVAILABLE, platform, reasons=(code,), key_id=key_id)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request. ``enforced`` false means observe mode: let it through, whatever ``outcome``."""

    outcome: Outcome
    tier: Tier
    reasons: tuple[str, ...]
    platform: Platform | None
    key_id: bytes | None
    enforced: bool

    @property
    def blocks(self) -> bool:
        """True when the caller must refuse the request (block, in enforce mode)."""
        return self.enforced and self.outcome is Outcome.BLOCK

    def to_json(self) -> dict[str, Any]:
        """The ``/v1/verify`` response body (key id in standard base64)."""
        return {
            "outcome": self.outcome.value,
            "tier": self.tier.value,
            "reasons": list(self.reasons),
            "platform": self.platform.value if self.platform else None,
            "keyId": base64.b64encode(self.key_id).decode("ascii") if self.key_id is not None else None,
            "enforced": self.enforced,
        }


@dataclass(frozen=True, slots=True)
class TierRule:
    """The lowest tier for an outcome, per platform (one tier for both, or a table)."""

    ios: Tier
    android: Tier

    @classmethod
    def uniform(cls, tier: Tier) -> TierRule:
        return cls(ios=tier, android=tier)

    def for_platform(self, platform: Platform | None) -> Tier:
        if platform is Platform.IOS:
            return self.ios
        if platform is Platform.ANDROID:
            return self.android
        # No platform (no proof): the strictest threshold, so a missing header never slips under a lenient one.
        return self.ios if self.ios.rank >= self.android.rank else self.android

    def items(self) -> tuple[tuple[Platform, Tier], ...]:
        return ((Platform.IOS, self.ios), (Platform.ANDROID, self.android))


@dataclass(frozen=True, slots=True)
class ActionPolicy:
    """One action's policy. The defaults are DESIGN.md §5's ``[policy.default]``."""

    mode: Mode = Mode.OBSERVE
    allow: TierRule = field(default_factory=lambda: TierRule.uniform(Tier.DEVICE))
    limit: TierRule = field(default_factory=lambda: TierRule.uniform(Tier.BASIC))
    require: frozenset[Signal] = frozenset({Signal.APP})
    on_unavailable: Outcome = Outcome.LIMIT

    def __post_init__(self) -> None:
        for (platform, allow), (_, limit) in zip(self.allow.items(), self.limit.items(), strict=True):
            if limit.rank > allow.rank:
                raise ConfigError(
                    "config.invalid", f"limit {limit.value!r} is above allow {allow.value!r} for {platform.value}"
                )

    def decide(self, facts: VerificationFacts) -> Decision:
        enforced = self.mode is Mode.ENFORCE

        def decision(outcome: Outcome, tier: Tier, reasons: Iterable[str]) -> Decision:
            unique = tuple(dict.fromkeys(reasons))
            return Decision(outcome, tier, unique, facts.platform, facts.key_id, enforced)

        if facts.status is ProofStatus.INVALID:
            return decision(Outcome.BLOCK, Tier.NONE, facts.reasons)
        if facts.status is ProofStatus.UNAVAILABLE:
            return decision(self.on_unavailable, Tier.NONE, facts.reasons)

        tier = facts.tier
        reasons = list(facts.reasons)
        if facts.status is ProofStatus.VALID and facts.platform is not None:
            applicable = APPLICABLE_SIGNALS[facts.platform]
            missing = sorted(s for s in self.require if s in applicable and s not in facts.signals)
            if missing:
                tier = Tier.NONE
                reasons.extend(f"policy.required_{signal.value}" for signal in missing)

        if tier.at_least(self.allow.for_platform(facts.platform)):
            return decision(Outcome.ALLOW, tier, reasons)
        if tier.at_least(self.limit.for_platform(facts.platform)):
            return decision(Outcome.LIMIT, tier, [*reasons, "policy.below_allow"])
        return decision(Outcome.BLOCK, tier, [*reasons, "policy.below_limit"])


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The default policy and the per-action ones (already resolved: inherited keys filled in)."""

    default: ActionPolicy = field(default_factory=ActionPolicy)
    actions: Mapping[str, ActionPolicy] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", MappingProxyType(dict(self.actions)))

    def for_action(self, action: str | None) -> ActionPolicy:
        """The action's policy; an unknown (or no) action uses the default."""
        if action is None:
            return self.default
        return self.actions.get(action, self.default)

    def decide(self, action: str | None, facts: VerificationFacts) -> Decision:
        return self.for_action(action).decide(facts)
