"""Prometheus metrics (prometheus-client), exposed at ``/metrics``.

Label values are bounded: an action outside the configured ones is counted as ``other`` (callers of
``/v1/verify`` choose action names, and every distinct label value is a time series kept forever).

Several worker processes (``serve --workers N``) each count on their own: prometheus-client's multiprocess mode
aggregates them when ``PROMETHEUS_MULTIPROC_DIR`` names an empty folder before the workers start (``serve`` sets
one up under the data folder). See ``exposition``.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER_ACTION = "other"

DECISIONS = Counter(
    "app_integrity_decisions",
    "Decisions made, by action, outcome, platform, tier and whether they were enforced.",
    ["action", "outcome", "platform", "tier", "enforced"],
)
VERIFICATION_SECONDS = Histogram(
    "app_integrity_verification_seconds",
    "Time to decide a request, by the verifier that judged its proof.",
    ["verifier"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GOOGLE_CALLS = Counter("app_integrity_google_api_calls", "decodeIntegrityToken calls to Google, by result.", ["result"])
GOOGLE_FAILURES = Counter(
    "app_integrity_google_api_failures", "decodeIntegrityToken calls that got no verdict, by error code.", ["code"]
)
CHALLENGES = Counter(
    "app_integrity_challenges",
    "Challenges issued, consumed, found expired, or unknown (never issued or already used).",
    ["event"],
)
COUNTER_REJECTIONS = Counter(
    "app_integrity_counter_rejections",
    "App Attest assertions refused because their counter did not increase (replay or lost race).",
)
EVENTS_PRUNED = Counter("app_integrity_events_pruned", "Events deleted by the retention policy.")


def action_label(action: str, known: frozenset[str]) -> str:
    return action if action in known else OTHER_ACTION


def exposition() -> tuple[bytes, str]:
    """The text exposition and its content type. In multiprocess mode, every worker's samples summed."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        collector: Any = MultiProcessCollector
        collector(registry)  # registers itself; the class has no annotations
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
