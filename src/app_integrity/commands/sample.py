"""``app-integrity sample``: verify the shipped real-device capture and show what it proved."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import typer
from rich.console import Console
from rich.table import Table

from app_integrity.apple import AssertionResult, AttestedKey, verify_assertion, verify_attestation
from app_integrity.errors import AppIntegrityError
from app_integrity.samples import AppleSample, load_apple_sample

ATTESTATION_CHECKS = (
    "fmt is apple-appattest",
    "x5c chains to the pinned Apple App Attestation Root CA, valid at that time",
    "nonce SHA-256(authData || clientDataHash) is the certificate's extension",
    "SHA-256 of the certified key is the key id and the credentialId",
    "rpIdHash is SHA-256 of TEAMID.bundleId",
    "counter is 0",
    "aaguid names the environment",
    "COSE key in authData is the certificate's key",
    "receipt names the same app, certificate and clientDataHash",
)
ASSERTION_CHECKS = (
    "signature over SHA-256(authenticatorData || SHA-256(clientData)) verifies with the attested key",
    "rpIdHash is SHA-256 of TEAMID.bundleId",
    "counter is greater than the stored one",
)


@dataclass(frozen=True, slots=True)
class Proof:
    sample: AppleSample
    key: AttestedKey
    assertion: AssertionResult


def prove() -> Proof:
    """Verify the shipped attestation and assertion at the instants they were made."""
    sample = load_apple_sample()
    key = verify_attestation(
        sample.attestation,
        key_id=sample.key_id,
        app=sample.app,
        challenge=sample.challenge,
        now=sample.attestation_valid_at,
    )
    result = verify_assertion(
        sample.assertion,
        app=sample.app,
        public_key=key.public_key,
        previous_counter=sample.previous_counter,
        client_data=sample.client_data,
    )
    return Proof(sample=sample, key=key, assertion=result)


def _table(title: str, checks: tuple[str, ...]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("")
    table.add_column("check")
    for check in checks:
        table.add_row("[green]passed[/green]", check)
    return table


def run() -> None:
    """Verify a real iPhone's App Attest attestation and assertion (shipped with the package) and show what they
    prove."""
    console = Console()
    try:
        proof = prove()
    except AppIntegrityError as error:
        console.print(f"[red]verification failed[/red]: {error}")
        raise typer.Exit(code=1) from error
    sample, key = proof.sample, proof.key
    source = sample.source
    console.print(f"[bold]App Attest sample[/bold]: {sample.description}")
    console.print(f"source: {source['repository']} @ {source['commit'][:12]} ({source['path']})")
    summary = Table(show_header=False, title="What it proved", title_justify="left")
    summary.add_column("", style="bold")
    summary.add_column("")
    summary.add_row("app id", sample.app.app_id)
    summary.add_row("environment", key.environment)
    summary.add_row("key id", base64.b64encode(key.key_id).decode())
    summary.add_row(
        "attested at",
        f"{sample.attestation_valid_at:%Y-%m-%d %H:%M:%S %Z} (leaf valid "
        f"{key.not_before:%Y-%m-%d} to {key.not_after:%Y-%m-%d})",
    )
    summary.add_row("assertion counter", f"{sample.previous_counter} -> {proof.assertion.counter}")
    console.print(summary)
    console.print(_table("Attestation", ATTESTATION_CHECKS))
    console.print(_table("Assertion", ASSERTION_CHECKS))
    console.print(
        "[green]This key lives in the Secure Enclave of a genuine Apple device running this app, and it signed the "
        "request.[/green]"
    )
