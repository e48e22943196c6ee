"""Every error code raised anywhere is catalogued, carries its family's prefix, and is in the README."""

from __future__ import annotations

import re
from pathlib import Path

from app_integrity import errors

SRC = Path(errors.__file__).resolve().parent
README = SRC.parent.parent / "README.md"
_RAISED_CODE = re.compile(r"""Error\(\s*["']([a-z_]+\.[a-z_]+)["']""")


def _raised_codes() -> set[str]:
    codes: set[str] = set()
    for path in SRC.rglob("*.py"):
        codes.update(_RAISED_CODE.findall(path.read_text(encoding="utf-8")))
    return codes


def test_every_raised_code_is_catalogued() -> None:
    missing = _raised_codes() - set(errors.CODES)
    assert not missing, f"codes raised but not in errors.CODES: {sorted(missing)}"


def test_codes_have_family_prefixes() -> None:
    families = {
        "input",
        "apple",
        "play",
        "android",
        "challenge",
        "key",
        "session",
        "storage",
        "google",
        "config",
        "header",
        "policy",
        "admin",
        "verify",
        "internal",
    }
    for code in errors.CODES:
        family, _, name = code.partition(".")
        assert family in families, code
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), code


def test_readme_lists_every_code() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [code for code in errors.CODES if f"`{code}`" not in text]
    assert not missing, f"README does not list: {missing}"


def test_error_carries_code_and_message() -> None:
    error = errors.AppleError("apple.nonce_mismatch", "nonce differs")
    assert error.code == "apple.nonce_mismatch"
    assert str(error) == "apple.nonce_mismatch: nonce differs"
    assert isinstance(error, errors.VerificationError)
