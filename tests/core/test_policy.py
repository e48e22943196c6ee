"""Policy decisions: DESIGN.md §4 rule by rule, each case asserting outcome, tier, reasons and enforcement."""

from __future__ import annotations

import pytest

from app_integrity.errors import ConfigError, InputError
from app_integrity.policy import (
    ActionPolicy,
    Decision,
    Mode,
    Outcome,
    Platform,
    PolicySet,
    ProofStatus,
    Signal,
    Tier,
    TierRule,
    VerificationFacts,
)

KEY = bytes(32)
ENFORCE = ActionPolicy(mode=Mode.ENFORCE)
ALL_SIGNALS = frozenset(Signal)


def valid(platform: Platform, tier: Tier, signals: frozenset[Signal] = ALL_SIGNALS, *failed: str) -> VerificationFacts:
    return VerificationFacts.valid(platform, tier, signals=signals, failed=failed, key_id=KEY)


@pytest.mark.parametrize(
    ("tier", "outcome", "reasons"),
    [
        (Tier.STRONG, Outcome.ALLOW, ()),
        (Tier.DEVICE, Outcome.ALLOW, ()),
        (Tier.BASIC, Outcome.LIMIT, ("policy.below_allow",)),
        (Tier.NONE, Outcome.BLOCK, ("policy.below_limit",)),
    ],
)
def test_default_thresholds(tier: Tier, outcome: Outcome, reasons: tuple[str, ...]) -> None:
    decision = ENFORCE.decide(valid(Platform.ANDROID, tier))
    assert decision == Decision(outcome, tier, reasons, Platform.ANDROID, KEY, True)


@pytest.mark.parametrize("mode", [Mode.OBSERVE, Mode.ENFORCE])
@pytest.mark.parametrize(
    "code", ["apple.signature_invalid", "challenge.unknown", "key.revoked", "session.invalid", "header.malformed"]
)
def test_invalid_proof_is_always_block(mode: Mode, code: str) -> None:
    lenient = ActionPolicy(
        mode=mode,
        allow=TierRule.uniform(Tier.NONE),
        limit=TierRule.uniform(Tier.NONE),
        require=frozenset(),
        on_unavailable=Outcome.ALLOW,
    )
    decision = lenient.decide(VerificationFacts.invalid(code, platform=Platform.IOS, key_id=KEY))
    assert decision.outcome is Outcome.BLOCK
    assert decision.tier is Tier.NONE
    assert decision.reasons == (code,)
    assert decision.enforced is (mode is Mode.ENFORCE)
    assert decision.blocks is (mode is Mode.ENFORCE)


def test_observe_mode_reports_what_enforce_would_do() -> None:
    facts = valid(Platform.ANDROID, Tier.NONE)
    observed = ActionPolicy(mode=Mode.OBSERVE).decide(facts)
    enforced = ENFORCE.decide(facts)
    assert observed.outcome is enforced.outcome is Outcome.BLOCK
    assert observed.reasons == enforced.reasons
    assert observed.enforced is False
    assert observed.blocks is False
    assert enforced.blocks is True


def test_absent_proof_is_tier_none() -> None:
    decision = ENFORCE.decide(VerificationFacts.absent())
    assert decision == Decision(Outcome.BLOCK, Tier.NONE, ("header.missing", "policy.below_limit"), None, None, True)
    tolerant = ActionPolicy(mode=Mode.ENFORCE, limit=TierRule.uniform(Tier.NONE))
    assert tolerant.decide(VerificationFacts.absent()).outcome is Outcome.LIMIT


def test_absent_proof_meets_the_strictest_platform_threshold() -> None:
    policy = ActionPolicy(
        mode=Mode.ENFORCE,
        allow=TierRule(ios=Tier.STRONG, android=Tier.NONE),
        limit=TierRule(ios=Tier.BASIC, android=Tier.NONE),
    )
    assert policy.decide(VerificationFacts.absent()).outcome is Outcome.BLOCK
    assert policy.decide(valid(Platform.ANDROID, Tier.NONE)).outcome is Outcome.ALLOW


@pytest.mark.parametrize("on_unavailable", list(Outcome))
def test_unavailable_uses_on_unavailable(on_unavailable: Outcome) -> None:
    policy = ActionPolicy(mode=Mode.ENFORCE, on_unavailable=on_unavailable)
    decision = policy.decide(VerificationFacts.unavailable("storage.unavailable", platform=Platform.ANDROID))
    assert decision.outcome is on_unavailable
    assert decision.tier is Tier.NONE
    assert decision.reasons == ("storage.unavailable",)


def test_failed_required_signal_makes_tier_none() -> None:
    policy = ActionPolicy(mode=Mode.ENFORCE, require=frozenset({Signal.APP, Signal.LICENSING}))
    facts = valid(Platform.ANDROID, Tier.STRONG, frozenset({Signal.APP}), "play.unlicensed")
    decision = policy.decide(facts)
    assert decision.outcome is Outcome.BLOCK
    assert decision.tier is Tier.NONE
    assert decision.reasons == ("play.unlicensed", "policy.required_licensing", "policy.below_limit")


def test_failed_check_not_required_is_a_reason_only() -> None:
    policy = ActionPolicy(mode=Mode.ENFORCE, require=frozenset({Signal.APP}))
    facts = valid(Platform.ANDROID, Tier.DEVICE, frozenset({Signal.APP}), "play.unlicensed", "play.risky_apps")
    decision = policy.decide(facts)
    assert decision.outcome is Outcome.ALLOW
    assert decision.tier is Tier.DEVICE
    assert decision.reasons == ("play.unlicensed", "play.risky_apps")


def test_unreported_applicable_signal_is_not_held() -> None:
    policy = ActionPolicy(mode=Mode.ENFORCE, require=frozenset({Signal.MIN_PATCH_LEVEL}))
    decision = policy.decide(valid(Platform.ANDROID, Tier.DEVICE, frozenset({Signal.APP})))
    assert decision.tier is Tier.NONE
    assert "policy.required_min_patch_level" in decision.reasons


def test_android_only_signals_do_not_apply_to_ios() -> None:
    policy = ActionPolicy(mode=Mode.ENFORCE, require=frozenset(Signal))
    assert policy.decide(valid(Platform.IOS, Tier.STRONG, frozenset({Signal.APP}))).outcome is Outcome.ALLOW
    without_app = policy.decide(valid(Platform.IOS, Tier.STRONG, frozenset()))
    assert without_app.tier is Tier.NONE
    assert without_app.reasons == ("policy.required_app", "policy.below_limit")


def test_per_platform_thresholds() -> None:
    policy = ActionPolicy(
        mode=Mode.ENFORCE,
        allow=TierRule(ios=Tier.STRONG, android=Tier.DEVICE),
        limit=TierRule(ios=Tier.STRONG, android=Tier.BASIC),
    )
    assert policy.decide(valid(Platform.IOS, Tier.STRONG)).outcome is Outcome.ALLOW
    assert policy.decide(valid(Platform.IOS, Tier.DEVICE)).outcome is Outcome.BLOCK
    assert policy.decide(valid(Platform.ANDROID, Tier.DEVICE)).outcome is Outcome.ALLOW
    assert policy.decide(valid(Platform.ANDROID, Tier.BASIC)).outcome is Outcome.LIMIT


def test_limit_above_allow_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        ActionPolicy(allow=TierRule(ios=Tier.BASIC, android=Tier.STRONG), limit=TierRule.uniform(Tier.DEVICE))
    assert info.value.code == "config.invalid"
    assert "ios" in info.value.message


def test_unknown_action_uses_default() -> None:
    redeem = ActionPolicy(mode=Mode.ENFORCE, allow=TierRule.uniform(Tier.STRONG))
    policies = PolicySet(default=ActionPolicy(), actions={"redeem": redeem})
    assert policies.for_action("redeem") is redeem
    assert policies.for_action("browse") is policies.default
    assert policies.for_action(None) is policies.default
    facts = valid(Platform.ANDROID, Tier.DEVICE)
    assert policies.decide("redeem", facts).outcome is Outcome.LIMIT
    assert policies.decide("redeem", facts).enforced is True
    assert policies.decide("browse", facts).outcome is Outcome.ALLOW
    assert policies.decide("browse", facts).enforced is False


def test_actions_cannot_be_changed_after_construction() -> None:
    source = {"redeem": ActionPolicy()}
    policies = PolicySet(actions=source)
    source["other"] = ActionPolicy()
    assert "other" not in policies.actions


def test_reasons_are_deduplicated_in_order() -> None:
    facts = valid(Platform.ANDROID, Tier.DEVICE, ALL_SIGNALS, "play.a", "play.b", "play.a")
    assert ENFORCE.decide(facts).reasons == ("play.a", "play.b")


def test_decision_json() -> None:
    decision = ENFORCE.decide(valid(Platform.IOS, Tier.STRONG))
    assert decision.to_json() == {
        "outcome": "allow",
        "tier": "strong",
        "reasons": [],
        "platform": "ios",
        "keyId": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "enforced": True,
    }
    assert ENFORCE.decide(VerificationFacts.absent()).to_json()["keyId"] is None


@pytest.mark.parametrize(
    "build",
    [
        lambda: VerificationFacts(ProofStatus.VALID, None, Tier.STRONG),
        lambda: VerificationFacts(ProofStatus.INVALID, Platform.IOS),
        lambda: VerificationFacts(ProofStatus.UNAVAILABLE),
        lambda: VerificationFacts(ProofStatus.ABSENT, tier=Tier.BASIC),
        lambda: VerificationFacts(ProofStatus.INVALID, Platform.IOS, Tier.STRONG, reasons=("x.y",)),
    ],
)
def test_impossible_facts_are_refused(build: object) -> None:
    assert callable(build)
    with pytest.raises(InputError) as info:
        build()
    assert info.value.code == "input.invalid_argument"


def test_tier_order() -> None:
    assert [t.rank for t in (Tier.NONE, Tier.BASIC, Tier.DEVICE, Tier.STRONG)] == [0, 1, 2, 3]
    assert Tier.STRONG.at_least(Tier.DEVICE)
    assert not Tier.BASIC.at_least(Tier.DEVICE)
