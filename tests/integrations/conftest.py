"""The integrations' tests: the pytest plugin's fixtures (emulated devices, a configured test service) and a
policy with an enforced, an observed and a limiting action."""

from __future__ import annotations

import os

import django
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


# The example Django project's settings, for the Django tests (configured once per process, before their import).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_project.settings")
django.setup()
