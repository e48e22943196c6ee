"""Print how many attacks of the corpus were refused, per platform."""

from __future__ import annotations

import pytest

from tests.attacks.corpus import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    total = sum(TALLY.values())
    lines = ", ".join(f"{platform} {count}" for platform, count in sorted(TALLY.items()))
    terminalreporter.write_line(f"attack corpus: {total} attacks refused, 0 accepted ({lines})")
