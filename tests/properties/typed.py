"""The property every parser and verifier entry point keeps: any input verifies or raises a typed error."""

from __future__ import annotations

from collections.abc import Callable

from app_integrity.errors import CODES, AppIntegrityError, ConfigError, VerificationError


def outcome(call: Callable[[], object], *, allowed: type[AppIntegrityError] = VerificationError) -> str | None:
    """None when ``call`` returns; the code when it raises ``allowed`` with a catalogued code. Any other exception
    (IndexError, ValueError, a ``*.unavailable`` error from a pure function ...) propagates and fails the test."""
    code: str | None = None
    try:
        call()
    except allowed as error:
        code = error.code
    assert code is None or code in CODES, code
    return code


def config_outcome(call: Callable[[], object]) -> str | None:
    return outcome(call, allowed=ConfigError)
