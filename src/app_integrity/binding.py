"""The canonical request binding (DESIGN.md §3.5): the one string both platforms sign.

```
binding = "app-integrity:v1\\n" + challenge + "\\n" + METHOD + "\\n" + path_and_query + "\\n" + b64url(sha256(body))
```

iOS passes ``binding`` as clientData to ``generateAssertionAsync`` (the module hashes its UTF-8 bytes); Android
passes ``request_hash(binding)`` as the Play Integrity requestHash. The server rebuilds the binding from the request
it received, so a proof lifted from one request cannot authorise another. Nothing is normalised: every line is
taken exactly as sent, and any character that could forge a line break, or blur where one line ends, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from app_integrity._encoding import b64url, decode_base64
from app_integrity.errors import InputError

PREFIX = "app-integrity:v1"

MAX_CHALLENGE_CHARS = 256
MAX_METHOD_CHARS = 32
MAX_TARGET_CHARS = 8192

# The challenge is a visible-ASCII word (ours are base64url): no space, no control character, no line break.
_CHALLENGE = re.compile(r"[\x21-\x7e]+")
# RFC 9110 §9.1: a method is a token; we take it as sent, which for every client we serve is upper case.
_METHOD = re.compile(r"[A-Z][A-Z0-9_-]*")
# RFC 9112 §3.2.1 origin-form: absolute-path [ "?" query ], visible ASCII only; a fragment is never sent.
_ORIGIN_FORM = re.compile(r"/[\x21-\x22\x24-\x7e]*")
_BODY_SHA256 = re.compile(r"[A-Za-z0-9_-]{43}")


def check_challenge(challenge: str) -> str:
    """Return ``challenge`` if it can be a binding line: 1-256 visible ASCII characters."""
    if not isinstance(challenge, str):
        raise InputError("input.invalid_argument", f"challenge must be str, not {type(challenge).__name__}")
    if len(challenge) > MAX_CHALLENGE_CHARS:
        raise InputError("input.too_large", f"challenge is longer than {MAX_CHALLENGE_CHARS} characters")
    if not _CHALLENGE.fullmatch(challenge):
        raise InputError("input.malformed", "challenge must be 1 or more visible ASCII characters (no space or CR/LF)")
    return challenge


def _check_method(method: str) -> str:
    if not isinstance(method, str):
        raise InputError("input.invalid_argument", f"method must be str, not {type(method).__name__}")
    if len(method) > MAX_METHOD_CHARS:
        raise InputError("input.too_large", f"method is longer than {MAX_METHOD_CHARS} characters")
    if not _METHOD.fullmatch(method):
        raise InputError("input.malformed", f"method {method[:MAX_METHOD_CHARS]!r} is not an upper-case HTTP method")
    return method


def _check_target(path_and_query: str) -> str:
    if not isinstance(path_and_query, str):
        raise InputError("input.invalid_argument", f"path must be str, not {type(path_and_query).__name__}")
    if len(path_and_query) > MAX_TARGET_CHARS:
        raise InputError("input.too_large", f"path is longer than {MAX_TARGET_CHARS} characters")
    if not _ORIGIN_FORM.fullmatch(path_and_query):
        raise InputError(
            "input.malformed",
            "path must be the request target in origin form: '/' then visible ASCII, no space, CR/LF or '#'",
        )
    return path_and_query


def _check_body_sha256(body_sha256_b64url: str) -> str:
    if not isinstance(body_sha256_b64url, str):
        raise InputError("input.invalid_argument", "bodySha256 must be a string")
    if not _BODY_SHA256.fullmatch(body_sha256_b64url):
        raise InputError("input.malformed", "bodySha256 must be 43 base64url characters without padding")
    # Only the canonical spelling: two texts decoding to one digest would be two bindings for one body.
    digest = decode_base64(body_sha256_b64url, field="bodySha256", max_bytes=32)
    if len(digest) != 32 or not hmac.compare_digest(b64url(digest), body_sha256_b64url):
        raise InputError("input.malformed", "bodySha256 is not the canonical base64url of a SHA-256 digest")
    return body_sha256_b64url


def body_sha256(body: bytes | bytearray | memoryview) -> str:
    """``b64url(sha256(body))``: the binding's last line (and ``bodySha256`` of ``/v1/verify``)."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise InputError("input.invalid_argument", f"body must be bytes, not {type(body).__name__}")
    return b64url(hashlib.sha256(body).digest())


def binding_from_body_sha256(challenge: str, method: str, path_and_query: str, body_sha256_b64url: str) -> str:
    """The binding for a request whose body is known only by its hash (``POST /v1/verify``)."""
    lines = (
        PREFIX,
        check_challenge(challenge),
        _check_method(method),
        _check_target(path_and_query),
        _check_body_sha256(body_sha256_b64url),
    )
    return "\n".join(lines)


def build_binding(challenge: str, method: str, path_and_query: str, body: bytes | bytearray | memoryview) -> str:
    """The binding for a request as received: ``body`` after transfer coding, before content coding (none = b"")."""
    return binding_from_body_sha256(challenge, method, path_and_query, body_sha256(body))


def request_hash(binding: str) -> str:
    """``b64url(sha256(binding))``, 43 characters: what Android passes as the Play Integrity requestHash."""
    if not isinstance(binding, str):
        raise InputError("input.invalid_argument", f"binding must be str, not {type(binding).__name__}")
    return b64url(hashlib.sha256(binding.encode("utf-8")).digest())


def client_data_hash(binding: str) -> bytes:
    """``sha256(UTF-8 of binding)``: the clientDataHash iOS signs when the app passes ``binding`` as clientData."""
    if not isinstance(binding, str):
        raise InputError("input.invalid_argument", f"binding must be str, not {type(binding).__name__}")
    return hashlib.sha256(binding.encode("utf-8")).digest()
