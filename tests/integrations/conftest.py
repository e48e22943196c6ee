"""The integrations' tests: the pytest plugin's fixtures (emulated devices, a configured test service) and a
policy with an enforced, an observed and a limiting action."""

from __future__ import annotations

import pytest

POLICY = """
[policy.actions.redeem]
mode = "enforce"

[policy.actions.profile]
mode = "enforce"

[policy.actions.feedback]
mode = "enforce"

[policy.actions.browse]
mode = "observe"
"""


@pytest.fixture
def app_integrity_policy() -> str:
    return POLICY
