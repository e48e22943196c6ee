"""The ``App-Integrity`` request header (DESIGN.md §3.4): an RFC 8941 dictionary carrying one proof.

```
App-Integrity: v=1, platform=ios, key-id=:<b64>:, challenge="<c>", assertion=:<b64>:
App-Integrity: v=1, platform=android, challenge="<c>", token="<play token>"
App-Integrity: v=1, session="<jwt>"
```

Parsing is strict: the value is capped at 8 KiB before it is parsed, every member has exactly one type, a member
given twice is refused (RFC 8941 would keep the last one silently, letting a proxy and the server disagree on which
proof was sent), members v1 does not define are refused, and no member may carry parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from http_sfv.dictionary import Dictionary
from http_sfv.item import AllItemType, InnerList, Item
from http_sfv.types import Token

from app_integrity.binding import check_challenge
from app_integrity.errors import HeaderError, InputError
from app_integrity.policy import Platform

HEADER_NAME = "App-Integrity"
MAX_HEADER_BYTES = 8192
VERSION = 1
KEY_ID_BYTES = 32  # SHA-256 of the App Attest public key

_IOS_MEMBERS = frozenset({"v", "platform", "key-id", "challenge", "assertion"})
_ANDROID_MEMBERS = frozenset({"v", "platform", "challenge", "token"})
_SESSION_MEMBERS = frozenset({"v", "session"})


@dataclass(frozen=True, slots=True)
class IosProof:
    """An App Attest assertion over the request's binding, by the registered key ``key_id`` (raw 32 bytes)."""

    platform: ClassVar[Platform] = Platform.IOS
    key_id: bytes
    challenge: str
    assertion: bytes


@dataclass(frozen=True, slots=True)
class AndroidProof:
    """A Play Integrity token whose requestHash is ``request_hash(binding)``."""

    platform: ClassVar[Platform] = Platform.ANDROID
    challenge: str
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SessionProof:
    """A session JWT issued by ``POST /v1/sessions``."""

    platform: ClassVar[None] = None
    token: str = field(repr=False)


Proof = IosProof | AndroidProof | SessionProof


class _StrictDictionary(Dictionary):
    """http-sfv's Dictionary, remembering keys it saw twice.

    RFC 8941 §4.2.2: "If dictionary already contains a key this_key (comparing character for character), overwrite
    its value." A proxy that reads the first and a server that reads the last would judge different proofs, so a
    duplicate is refused instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.duplicates: list[str] = []

    def __setitem__(self, key: str, value: AllItemType) -> None:
        if key in self.data:
            self.duplicates.append(key)
        super().__setitem__(key, value)


def parse_header(value: str | bytes | None) -> Proof:
    """Parse an ``App-Integrity`` header value into a typed proof, or raise ``HeaderError`` with a ``header.*`` code.

    ``None`` or an empty value (RFC 8941: an empty dictionary is an absent field) raises ``header.missing``: the
    caller decides that as "no proof" (tier none), not as an invalid proof.
    """
    raw = _bytes_of(value)
    members = _parse_dictionary(raw)
    version = _member(members, "v", required=True)
    if type(version) is not int:
        raise HeaderError("header.wrong_type", "v must be an integer")
    if version != VERSION:
        raise HeaderError("header.unsupported_version", f"v={version} is not supported (only v=1)")

    if "session" in members:
        _only(members, _SESSION_MEMBERS, "a session header")
        return SessionProof(token=_string(members, "session"))

    platform = _member(members, "platform", required=True, hint="platform (or session)")
    if not isinstance(platform, Token):
        raise HeaderError("header.wrong_type", "platform must be a token (platform=ios or platform=android)")
    name = str(platform)
    if name == Platform.IOS.value:
        _only(members, _IOS_MEMBERS, "platform=ios")
        key_id = _bytes(members, "key-id")
        if len(key_id) != KEY_ID_BYTES:
            raise HeaderError("header.wrong_type", f"key-id is {len(key_id)} bytes, not {KEY_ID_BYTES} (SHA-256)")
        assertion = _bytes(members, "assertion")
        return IosProof(key_id=key_id, challenge=_challenge(members), assertion=assertion)
    if name == Platform.ANDROID.value:
        _only(members, _ANDROID_MEMBERS, "platform=android")
        return AndroidProof(challenge=_challenge(members), token=_string(members, "token"))
    raise HeaderError("header.unknown_platform", f"platform={name[:32]} is neither ios nor android")


def format_header(proof: Proof) -> str:
    """Serialise a proof as the header value an app sends (the inverse of ``parse_header``)."""
    members = Dictionary()
    members["v"] = VERSION
    if isinstance(proof, SessionProof):
        members["session"] = proof.token
    elif isinstance(proof, IosProof):
        members["platform"] = Token(Platform.IOS.value)
        members["key-id"] = proof.key_id
        members["challenge"] = proof.challenge
        members["assertion"] = proof.assertion
    elif isinstance(proof, AndroidProof):
        members["platform"] = Token(Platform.ANDROID.value)
        members["challenge"] = proof.challenge
        members["token"] = proof.token
    else:
        raise InputError("input.invalid_argument", f"not a proof: {type(proof).__name__}")
    try:
        text = str(members)
    except ValueError as exc:
        raise HeaderError("header.wrong_type", "a member cannot be written as an RFC 8941 value") from exc
    # What we write must be what we accept: the same checks, the same caps.
    parse_header(text)
    return text


def _bytes_of(value: str | bytes | None) -> bytes:
    # RFC 8941 §4.2: "parsers MUST combine all field lines in the same section (header or trailer) that
    # case-insensitively match the field name into one comma-separated field value" (the HTTP layer does, so a
    # second header line shows up here as duplicate members); §3.2: "an empty Dictionary is represented by
    # omitting the entire field", so empty means absent.
    if value is None:
        raise HeaderError("header.missing", "the request has no App-Integrity header")
    if isinstance(value, str):
        if len(value) > MAX_HEADER_BYTES:
            raise HeaderError("header.too_large", f"App-Integrity is longer than {MAX_HEADER_BYTES} bytes")
        try:
            raw = value.encode("ascii")
        except UnicodeEncodeError as exc:
            raise HeaderError("header.malformed", "App-Integrity contains non-ASCII characters") from exc
    elif isinstance(value, bytes | bytearray):
        raw = bytes(value)
    else:
        raise InputError("input.invalid_argument", f"header value must be str or bytes, not {type(value).__name__}")
    if len(raw) > MAX_HEADER_BYTES:
        raise HeaderError("header.too_large", f"App-Integrity is longer than {MAX_HEADER_BYTES} bytes")
    if not raw.strip(b" \t"):
        raise HeaderError("header.missing", "the App-Integrity header is empty")
    return raw


def _parse_dictionary(raw: bytes) -> _StrictDictionary:
    members = _StrictDictionary()
    try:
        members.parse(raw)
    except ValueError as exc:
        raise HeaderError("header.malformed", "App-Integrity is not an RFC 8941 dictionary") from exc
    if members.duplicates:
        raise HeaderError("header.duplicate_member", f"{members.duplicates[0]} appears more than once")
    return members


def _only(members: _StrictDictionary, allowed: frozenset[str], form: str) -> None:
    unknown = sorted(set(members) - allowed)
    if unknown:
        raise HeaderError("header.unknown_member", f"{unknown[0][:32]} is not a member of {form} in v1")


def _member(members: _StrictDictionary, name: str, *, required: bool, hint: str | None = None) -> object:
    entry = members.get(name)
    if entry is None:
        if required:
            raise HeaderError("header.missing_member", f"App-Integrity has no {hint or name}")
        return None
    if isinstance(entry, InnerList) or not isinstance(entry, Item):
        raise HeaderError("header.wrong_type", f"{name} must be a single item, not an inner list")
    if entry.params:
        raise HeaderError("header.wrong_type", f"{name} carries parameters; v1 members have none")
    value: object = entry.value
    return value


def _string(members: _StrictDictionary, name: str) -> str:
    value = _member(members, name, required=True)
    # Token subclasses str in http-sfv: only a quoted string is a string here.
    if type(value) is not str:
        raise HeaderError("header.wrong_type", f'{name} must be a string ({name}="...")')
    if not value:
        raise HeaderError("header.wrong_type", f"{name} is empty")
    return value


def _bytes(members: _StrictDictionary, name: str) -> bytes:
    value = _member(members, name, required=True)
    if not isinstance(value, bytes):
        raise HeaderError("header.wrong_type", f"{name} must be a byte sequence ({name}=:<base64>:)")
    if not value:
        raise HeaderError("header.wrong_type", f"{name} is empty")
    return value


def _challenge(members: _StrictDictionary) -> str:
    challenge = _string(members, "challenge")
    try:
        return check_challenge(challenge)
    except InputError as exc:
        raise HeaderError("header.wrong_type", f"challenge cannot be a binding line: {exc.message}") from exc
