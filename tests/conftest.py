"""Shared test plumbing: where the real-device captures live, and whether they (and the servers) are mandatory.

The captures and third-party suites are read in place from ``../shared`` (or ``APP_INTEGRITY_SHARED``). On a
fresh clone without them those tests skip; ``.ci/run`` sets ``APP_INTEGRITY_REQUIRE_SHARED=1`` so they fail
instead. ``APP_INTEGRITY_REQUIRE_SERVICES=1`` does the same for PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path:
    configured = os.environ.get("APP_INTEGRITY_SHARED")
    return Path(configured) if configured else REPO_ROOT.parent / "shared"


def require_shared(relative: str) -> Path:
    """The path of a file or folder under ``shared/``; skips (or fails in CI) when it is absent."""
    path = _shared_dir() / relative
    if not path.exists():
        message = f"{path} is absent (real-device captures and suites live in ../shared)"
        if os.environ.get("APP_INTEGRITY_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def services_required() -> bool:
    """True in CI: a PostgreSQL or Redis test must fail rather than skip when its server is down."""
    return os.environ.get("APP_INTEGRITY_REQUIRE_SERVICES") == "1"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def vector_names(subdir: str, pattern: str = "*.json") -> list[str]:
    """Names of the capture files in ``shared/vectors/<subdir>``, for parametrisation at collection time.

    When ``shared/`` is absent this returns one placeholder so the test runs and skips (or fails in CI) through
    ``require_shared`` rather than silently collecting nothing.
    """
    folder = _shared_dir() / "vectors" / subdir
    names = sorted(p.stem for p in folder.glob(pattern)) if folder.is_dir() else []
    return names or ["<shared vectors absent>"]


def load_vector(subdir: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_json(require_shared(f"vectors/{subdir}/{name}.json"))
    return data


# --- property tests ---
# Hypothesis profiles: "ci" (the default) keeps the property suites cheap; ``HYPOTHESIS_PROFILE=long`` digs deeper.
# Every profile bounds the time of one example: a parser that slows down on some input fails the deadline.
settings.register_profile(
    "ci", max_examples=60, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=3000, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
