"""The README's Apple example runs as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

from app_integrity.apple import AssertionResult, AttestedKey
from tests.conftest import REPO_ROOT


def test_readme_apple_example_runs(tmp_path: Path) -> None:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## Apple App Attest\n\n```python\n(.*?)```", text, re.DOTALL)
    assert match is not None
    example = tmp_path / "example.py"
    example.write_text(match.group(1), encoding="utf-8")
    namespace = runpy.run_path(str(example))
    assert isinstance(namespace["key"], AttestedKey)
    result = namespace["result"]
    assert isinstance(result, AssertionResult)
    assert result.counter == 1
