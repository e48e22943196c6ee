"""``app-integrity sample`` verifies the shipped real-device capture and says what it proved."""

from __future__ import annotations

from typer.testing import CliRunner

from app_integrity.cli import app
from app_integrity.commands.sample import prove


def test_sample_command_prints_what_it_proved() -> None:
    result = CliRunner().invoke(app, ["sample"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for expected in (
        "6MURL8TA57.de.vincent-haupert.apple-appattest-poc",
        "development",
        "YmbJO4x5nEHUvncp9zdWuVZjNBEMgJn3cdSToAXQe3M=",
        "0 -> 1",
        "veehaitch/devicecheck-appattest",
    ):
        assert expected in result.output
    assert "failed" not in result.output


def test_sample_proof() -> None:
    proof = prove()
    assert proof.key.environment == "development"
    assert proof.assertion.counter == 1
    assert proof.sample.app.allow_development


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "sample" in result.output
