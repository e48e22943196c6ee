"""Google's attestation certificate status list, parsed; pure lookups.

The list (https://android.googleapis.com/attestation/status) is JSON ``{"entries": {serial: {"status", "reason"}}}``
where each serial is the certificate serial number in lowercase hex without leading zeros. Some serials consist of
digits only: they are hex all the same, never decimal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from app_integrity.errors import InputError

MAX_STATUS_LIST_BYTES = 16 * 1024 * 1024
_HEX = re.compile(r"[0-9a-fA-F]{1,128}")
REFUSED_STATUSES = frozenset({"REVOKED", "SUSPENDED"})


@dataclass(frozen=True, slots=True)
class RevocationEntry:
    status: str
    reason: str | None
    expires: str | None = None
    comment: str | None = None


def normalize_serial(serial: int | str) -> str:
    """A serial as the list spells it. ``int`` is the certificate's number; ``str`` is read as hex."""
    if isinstance(serial, bool) or not isinstance(serial, int | str):
        raise InputError("input.invalid_argument", "a serial is an int or a hex string")
    if isinstance(serial, int):
        if serial < 0:
            raise InputError("input.invalid_argument", "a certificate serial is not negative")
        return format(serial, "x")
    text = serial.strip()
    if not _HEX.fullmatch(text):
        raise InputError("input.malformed", f"serial {text[:40]!r} is not hexadecimal")
    return text.lower().lstrip("0") or "0"


@dataclass(frozen=True, slots=True)
class RevocationList:
    entries: Mapping[str, RevocationEntry]

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | bytes) -> RevocationList:
        """Build the list from the status JSON (already decoded, text or bytes)."""
        if isinstance(data, str | bytes):
            if len(data) > MAX_STATUS_LIST_BYTES:
                raise InputError("input.too_large", f"status list is larger than {MAX_STATUS_LIST_BYTES} bytes")
            try:
                data = json.loads(data)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError("input.malformed", "status list is not JSON") from exc
        if not isinstance(data, Mapping):
            raise InputError("input.malformed", "status list is not a JSON object")
        raw_entries = data.get("entries")
        if not isinstance(raw_entries, Mapping):
            raise InputError("input.malformed", "status list has no 'entries' object")
        entries: dict[str, RevocationEntry] = {}
        for serial, raw in raw_entries.items():
            if not isinstance(serial, str) or not isinstance(raw, Mapping):
                raise InputError("input.malformed", "status list entries map serials to objects")
            status = raw.get("status")
            if not isinstance(status, str):
                raise InputError("input.malformed", f"status list entry {serial[:40]!r} has no status")
            optional = {k: raw.get(k) for k in ("reason", "expires", "comment")}
            if any(v is not None and not isinstance(v, str) for v in optional.values()):
                raise InputError("input.malformed", f"status list entry {serial[:40]!r} has a non-text field")
            entries[normalize_serial(serial)] = RevocationEntry(
                status=status.upper(),
                reason=optional["reason"],
                expires=optional["expires"],
                comment=optional["comment"],
            )
        return cls(entries=MappingProxyType(entries))

    def __len__(self) -> int:
        return len(self.entries)

    def status(self, serial: int | str) -> RevocationEntry | None:
        return self.entries.get(normalize_serial(serial))

    def is_revoked(self, serial: int | str, *, include_suspended: bool = True) -> bool:
        """True when the serial is REVOKED (or SUSPENDED, unless ``include_suspended`` is false)."""
        entry = self.status(serial)
        if entry is None:
            return False
        if entry.status == "SUSPENDED":
            return include_suspended
        return entry.status in REFUSED_STATUSES
