"""The README's key attestation example runs as written."""

from __future__ import annotations

import runpy
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _first_python_block(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


def test_quick_example_runs(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(_first_python_block("## Android hardware key attestation"), encoding="utf-8")
    namespace = runpy.run_path(str(script))
    assert namespace["result"].tier == "device"
    assert namespace["result"].revocation_checked
