"""The ``app-integrity`` command. Each command lives in ``app_integrity.commands`` and registers itself here."""

from __future__ import annotations

import typer

from app_integrity.commands import demo, prune, sample, service
from app_integrity.commands.inspect import inspect as inspect_command

app = typer.Typer(
    name="app-integrity",
    help="Server-side verification of mobile app attestation.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def root() -> None:
    """Server-side verification of mobile app attestation (Apple App Attest, Google Play Integrity, Android key
    attestation)."""


app.command(name="sample")(sample.run)
app.command(name="demo")(demo.run)
app.command(name="prune")(prune.prune)
app.command(name="inspect")(inspect_command)
service.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
