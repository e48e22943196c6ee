"""Real-device captures shipped with the package, for ``app-integrity sample`` and the benchmarks.

``veehaitch_ios14_4.json``: an App Attest attestation and an assertion made with the attested key, from an
iPhone on iOS 14.4 (development environment), published by the author of veehaitch/devicecheck-appattest in
that project's test resources (the file names the commit and path). Their certificates have expired since:
they verify at the instants recorded with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files

from app_integrity.apple.app import AppleApp

APPLE_SAMPLE = "veehaitch_ios14_4.json"


@dataclass(frozen=True, slots=True)
class AppleSample:
    description: str
    source: dict[str, str]
    app: AppleApp
    key_id: str
    attestation: str
    challenge: str
    attestation_valid_at: datetime
    assertion: str
    client_data: str
    previous_counter: int
    assertion_valid_at: datetime


def load_apple_sample() -> AppleSample:
    data = json.loads(files("app_integrity").joinpath("samples", APPLE_SAMPLE).read_text(encoding="utf-8"))
    return AppleSample(
        description=data["description"],
        source=data["source"],
        app=AppleApp(team_id=data["team_id"], bundle_id=data["bundle_id"], allow_development=True),
        key_id=data["key_id"],
        attestation=data["attestation"]["object"],
        challenge=data["attestation"]["challenge"],
        attestation_valid_at=datetime.fromisoformat(data["attestation"]["valid_at"]),
        assertion=data["assertion"]["object"],
        client_data=data["assertion"]["client_data"],
        previous_counter=data["assertion"]["previous_counter"],
        assertion_valid_at=datetime.fromisoformat(data["assertion"]["valid_at"]),
    )
