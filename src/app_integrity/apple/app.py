"""Which app an attestation must name: the team id and bundle id, and whether development keys are accepted."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from app_integrity.errors import InputError

_TEAM_ID = re.compile(r"[A-Z0-9]{10}")
_BUNDLE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\-]{0,254}")


@dataclass(frozen=True, slots=True)
class AppleApp:
    """An app as App Attest names it: ``TEAMID.bundle.id``.

    ``allow_development`` accepts keys whose aaguid says ``appattestdevelop`` (Xcode builds); production
    servers leave it off.
    """

    team_id: str
    bundle_id: str
    allow_development: bool = False
    app_id: str = field(init=False)
    rp_id_hash: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.team_id, str) or not _TEAM_ID.fullmatch(self.team_id):
            raise InputError("input.invalid_argument", "team_id must be the 10-character Apple team identifier")
        if not isinstance(self.bundle_id, str) or not _BUNDLE_ID.fullmatch(self.bundle_id):
            raise InputError("input.invalid_argument", f"bundle_id {self.bundle_id!r} is not a bundle identifier")
        app_id = f"{self.team_id}.{self.bundle_id}"
        object.__setattr__(self, "app_id", app_id)
        # Computed once: every attestation and assertion compares rpIdHash with it.
        object.__setattr__(self, "rp_id_hash", hashlib.sha256(app_id.encode("ascii")).digest())
