"""``app-integrity inspect``: print what an attestation, assertion, receipt, Play Integrity token or key-attestation
chain contains; with ``--verify``, run the full verification and show every check."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from rich.console import Console
from rich.table import Table

from app_integrity._encoding import decode_base64
from app_integrity.android.app import parse_certificate_digest
from app_integrity.commands.service import _load
from app_integrity.config import Settings
from app_integrity.errors import AppIntegrityError
from app_integrity.inspection import MAX_INPUT_BYTES, Report, Status, VerifyOptions
from app_integrity.inspection import inspect as inspect_blob

_STATUS_STYLE = {
    Status.OK: "[bold green]✔ pass[/]",
    Status.FAIL: "[bold red]✘ fail[/]",
    Status.NOT_REACHED: "[dim]· not reached[/]",
    Status.SKIPPED: "[yellow]- skipped[/]",
}


def _read(source: str | None) -> bytes:
    """The argument itself, the file it names, or stdin (no argument, or ``-``); capped before parsing."""
    if source is None or source == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    elif _is_file(source):
        with Path(source).open("rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    else:
        data = source.encode("utf-8")
    return data


def _is_file(value: str) -> bool:
    """Whether an argument names a file (a long base64 value is not a path, and may be too long to ask)."""
    if len(value) > 1024 or "\n" in value:
        return False
    try:
        return Path(value).is_file()
    except OSError:
        return False


def _certificates(paths: list[Path]) -> tuple[x509.Certificate, ...] | None:
    if not paths:
        return None
    certificates: list[x509.Certificate] = []
    for path in paths:
        certificates.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return tuple(certificates)


def _options(
    settings: Settings | None,
    *,
    team_id: str | None,
    bundle_id: str | None,
    challenge: str | None,
    client_data_hash: str | None,
    challenge_hex: str | None,
    key_id: str | None,
    public_key: str | None,
    counter: int,
    package: str | None,
    certificate_sha256: list[str],
    request_hash: str | None,
    nonce: str | None,
    at: datetime | None,
    apple_roots: list[Path],
    android_roots: list[Path],
) -> VerifyOptions:
    apple = settings.apple if settings else None
    android = settings.android if settings else None
    key_bytes: bytes | None = None
    if public_key is not None:
        path = Path(public_key)
        key_bytes = path.read_bytes() if _is_file(public_key) else None
        if key_bytes is None:
            key_bytes = bytes.fromhex(public_key) if all(c in "0123456789abcdefABCDEF" for c in public_key) else None
        if key_bytes is None:
            key_bytes = decode_base64(public_key, field="--public-key", max_bytes=1024)
    digests = tuple(parse_certificate_digest(d) for d in certificate_sha256)
    return VerifyOptions(
        team_id=team_id or (apple.team_id if apple else None),
        bundle_id=bundle_id or (apple.bundle_ids[0] if apple else None),
        allow_development=apple.allow_development if apple else True,
        challenge=challenge,
        challenge_bytes=bytes.fromhex(challenge_hex) if challenge_hex else None,
        client_data_hash=decode_base64(client_data_hash, field="--client-data-hash", max_bytes=64)
        if client_data_hash
        else None,
        key_id=decode_base64(key_id, field="--key-id", max_bytes=64) if key_id else None,
        public_key=key_bytes,
        previous_counter=counter,
        package_name=package or (android.package_name if android else None),
        certificate_sha256=digests or (android.certificate_sha256 if android else ()),
        request_hash=request_hash,
        nonce=nonce,
        decryption_key=android.decryption_key if android else None,
        verification_key=android.verification_key if android else None,
        at=at,
        apple_trust_roots=_certificates(apple_roots or (list(apple.trust_roots) if apple else [])),
        android_trust_roots=_certificates(
            android_roots or (list(android.key_attestation_trust_roots) if android else [])
        ),
    )


def render(report: Report, console: Console) -> None:
    console.rule(f"[bold]{report.kind.value}[/]")
    for section in report.sections:
        table = Table(title=section.title, title_justify="left", show_header=False, expand=False)
        table.add_column(style="cyan", no_wrap=True)
        table.add_column(overflow="fold")
        for name, value in section.rows:
            table.add_row(name, value)
        console.print(table)
    if report.checks:
        table = Table("check", "result", "detail", title="verification", title_justify="left")
        for check in report.checks:
            table.add_row(check.name, _STATUS_STYLE[check.status], check.detail)
        console.print(table)
        if report.verified:
            console.print("[bold green]verified[/]")
        else:
            console.print(f"[bold red]not verified[/]{f' ({report.error})' if report.error else ''}")


def inspect(
    source: Annotated[
        str | None, typer.Argument(help="the value, a file holding it, or - (default) for stdin", show_default=False)
    ] = None,
    verify: Annotated[bool, typer.Option("--verify", help="run the full verification and show every check")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="take the app's settings from this file")
    ] = None,
    team_id: Annotated[str | None, typer.Option(help="Apple team id")] = None,
    bundle_id: Annotated[str | None, typer.Option(help="Apple bundle id")] = None,
    challenge: Annotated[
        str | None, typer.Option("--challenge", "--client-data", help="the challenge or clientData string the app used")
    ] = None,
    client_data_hash: Annotated[str | None, typer.Option(help="a ready-made clientDataHash (base64)")] = None,
    challenge_hex: Annotated[str | None, typer.Option(help="key attestation: the challenge's bytes, in hex")] = None,
    key_id: Annotated[str | None, typer.Option(help="App Attest key id (default: the attestation's own)")] = None,
    public_key: Annotated[
        str | None, typer.Option(help="assertions: the attested key (PEM file, hex point or base64)")
    ] = None,
    counter: Annotated[int, typer.Option(min=0, help="assertions: the stored counter")] = 0,
    package: Annotated[str | None, typer.Option(help="Android package name")] = None,
    certificate_sha256: Annotated[
        list[str] | None, typer.Option("--certificate-sha256", help="Android signing certificate digest (repeat)")
    ] = None,
    request_hash: Annotated[str | None, typer.Option(help="Play Integrity: the request hash the app sent")] = None,
    nonce: Annotated[str | None, typer.Option(help="Play Integrity classic requests: the nonce issued")] = None,
    at: Annotated[
        datetime | None, typer.Option(help="verify as of this time (ISO 8601, UTC), e.g. for expired captures")
    ] = None,
    apple_roots: Annotated[
        list[Path] | None, typer.Option(help="PEM roots replacing Apple's (staging, emulator)")
    ] = None,
    android_roots: Annotated[
        list[Path] | None, typer.Option(help="PEM roots replacing Google's attestation roots")
    ] = None,
) -> None:
    """Show what an App Attest attestation, assertion or receipt, a Play Integrity token, or an Android
    key-attestation chain contains. The kind is detected."""
    console = Console(stderr=True)
    out = Console()
    settings = _load(config) if config is not None else None
    try:
        options = (
            _options(
                settings,
                team_id=team_id,
                bundle_id=bundle_id,
                challenge=challenge,
                client_data_hash=client_data_hash,
                challenge_hex=challenge_hex,
                key_id=key_id,
                public_key=public_key,
                counter=counter,
                package=package,
                certificate_sha256=certificate_sha256 or [],
                request_hash=request_hash,
                nonce=nonce,
                at=(at if at.tzinfo else at.replace(tzinfo=UTC)) if at else None,
                apple_roots=apple_roots or [],
                android_roots=android_roots or [],
            )
            if verify
            else None
        )
        report = inspect_blob(_read(source), verify=options)
    except (AppIntegrityError, ValueError, OSError) as error:
        code = error.code if isinstance(error, AppIntegrityError) else "input.invalid_argument"
        message = error.message if isinstance(error, AppIntegrityError) else str(error)
        if as_json:
            out.print_json(json.dumps({"error": code, "message": message}))
        else:
            console.print(f"[red]{code}[/]: {message}")
        raise typer.Exit(2) from None
    if as_json:
        out.print_json(json.dumps(report.to_json()))
    else:
        render(report, out)
    if report.verified is False:
        raise typer.Exit(1)
