"""The service fixtures (``make_world`` and what it needs), and the tally of refused attacks per platform."""

from __future__ import annotations

import pytest

from tests.attacks.corpus import TALLY
from tests.service.conftest import apple_ca, google, keystore, make_world, play, status_list_url

__all__ = ["apple_ca", "google", "keystore", "make_world", "play", "status_list_url"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    total = sum(TALLY.values())
    lines = ", ".join(f"{platform} {count}" for platform, count in sorted(TALLY.items()))
    terminalreporter.write_line(f"attack corpus: {total} attacks refused, 0 accepted ({lines})")
