"""The README's examples for configuration, binding, header, policies and sessions run as written."""

from __future__ import annotations

import re
import runpy
import tomllib
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SECTIONS = (
    "## Configuration (`app-integrity.toml`)",
    "## The request binding and the `App-Integrity` header",
    "## Decisions and policies",
    "## Sessions",
)


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(title + "\n")
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else len(text)]


def _blocks(language: str) -> list[tuple[str, str]]:
    found = []
    for title in SECTIONS:
        for block in re.findall(rf"```{language}\n(.*?)```", _section(title), flags=re.DOTALL):
            found.append((title, block))
    return found


@pytest.mark.parametrize(("title", "code"), _blocks("python"))
def test_python_examples_run(title: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    example = tmp_path / "readme_example.py"
    example.write_text(code, encoding="utf-8")
    runpy.run_path(str(example), run_name=f"README {title}")


@pytest.mark.parametrize(("title", "text"), _blocks("toml"))
def test_toml_examples_load(title: str, text: str, tmp_path: Path) -> None:
    from app_integrity.config import parse_config

    assert tomllib.loads(text)
    parse_config(text, base_dir=tmp_path, environ={})


def test_every_config_key_is_documented() -> None:
    section = _section(SECTIONS[0])
    documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", section, flags=re.MULTILINE))
    source = (README.parent / "src" / "app_integrity" / "config.py").read_text(encoding="utf-8")
    read = set(
        re.findall(
            r"""\.(?:string|integer|boolean|string_list|choice|env_name|path|paths|tier_rule)\(\s*["']([a-z_0-9]+)["']""",
            source,
        )
    )
    read |= {"mode", "allow", "limit", "require", "on_unavailable"}
    assert read - documented == set()
