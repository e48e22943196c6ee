"""The README's examples for observing and inspecting run as written."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS = (
    "## Observing: dashboard, metrics, logs, retention",
    "## Inspecting an attestation (`app-integrity inspect`)",
)


def _blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    found: list[str] = []
    for title in SECTIONS:
        start = text.index(title + "\n")
        end = text.find("\n## ", start + len(title))
        found += re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)
    return found


@pytest.mark.parametrize("code", _blocks())
def test_python_examples_run(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    example = tmp_path / "readme_example.py"
    example.write_text(code, encoding="utf-8")
    runpy.run_path(str(example), run_name="__main__")


def test_there_are_examples() -> None:
    assert len(_blocks()) == 2
