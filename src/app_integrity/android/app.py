"""The Android app we verify for: its package name and the digests of its signing certificates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app_integrity._encoding import decode_base64
from app_integrity.errors import ConfigError, InputError

_HEX_DIGEST = re.compile(r"(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{64}")


def parse_certificate_digest(value: str | bytes) -> bytes:
    """A SHA-256 signing-certificate digest from any spelling the consoles and tools print.

    Play Console shows ``AB:CD:...`` hex, ``apksigner`` plain hex, Play Integrity verdicts base64url; raw
    32 bytes are taken as they are.
    """
    if isinstance(value, bytes):
        if len(value) != 32:
            raise ConfigError("config.invalid", "a certificate digest given as bytes must be 32 bytes")
        return value
    text = value.strip()
    if _HEX_DIGEST.fullmatch(text):
        return bytes.fromhex(text.replace(":", ""))
    try:
        raw = decode_base64(text, field="certificate digest", max_bytes=32)
    except InputError as exc:
        raise ConfigError(
            "config.invalid",
            f"certificate digest {text[:16]!r}... is neither 64 hex digits (colons optional) nor base64 of 32 bytes",
        ) from exc
    if len(raw) != 32:
        raise ConfigError("config.invalid", f"certificate digest decodes to {len(raw)} bytes, not 32 (SHA-256)")
    return raw


@dataclass(frozen=True, slots=True)
class AndroidApp:
    """What a genuine copy of the app looks like to Google.

    ``certificate_sha256`` accepts hex (colons optional), base64 or base64url digests; they are stored as bytes.
    """

    package_name: str
    certificate_sha256: tuple[bytes, ...] = field(default=())
    min_version_code: int | None = None
    require_licensed: bool = True
    allow_unrecognized_version: bool = False
    allow_testing_responses: bool = False

    def __init__(
        self,
        package_name: str,
        certificate_sha256: list[str | bytes] | tuple[str | bytes, ...] = (),
        *,
        min_version_code: int | None = None,
        require_licensed: bool = True,
        allow_unrecognized_version: bool = False,
        allow_testing_responses: bool = False,
    ) -> None:
        if not package_name or not isinstance(package_name, str):
            raise ConfigError("config.invalid", "android package_name must be a non-empty string")
        if isinstance(certificate_sha256, str | bytes):
            raise ConfigError("config.invalid", "certificate_sha256 must be a list of digests")
        object.__setattr__(self, "package_name", package_name)
        object.__setattr__(self, "certificate_sha256", tuple(parse_certificate_digest(d) for d in certificate_sha256))
        object.__setattr__(self, "min_version_code", min_version_code)
        object.__setattr__(self, "require_licensed", require_licensed)
        object.__setattr__(self, "allow_unrecognized_version", allow_unrecognized_version)
        object.__setattr__(self, "allow_testing_responses", allow_testing_responses)
