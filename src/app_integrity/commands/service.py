"""``serve``, ``migrate``, ``config check`` and ``keys``: running and administering the service."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from app_integrity._encoding import b64_standard, decode_base64
from app_integrity.config import CONFIG_ENV, Settings, load_config
from app_integrity.errors import AppIntegrityError, ConfigError
from app_integrity.storage.base import Store
from app_integrity.storage.factory import open_store

console = Console(stderr=True)
T = TypeVar("T")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help=f"app-integrity.toml (default: ${CONFIG_ENV}, else the embedded default)"),
]


def _load(config: Path | None, *, emulated: bool = False) -> Settings:
    try:
        return load_config(config, emulated=emulated)
    except ConfigError as error:
        console.print(f"[bold red]configuration error[/]: {error.message}")
        raise typer.Exit(2) from error


def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="address to listen on (default: [server] host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: [server] port)")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="worker processes sharing the storage")] = 1,
    emulated: Annotated[
        bool, typer.Option(help="trust the project's emulated devices and fake Google API instead of Apple and Google")
    ] = False,
) -> None:
    """Run the HTTP service."""
    settings = _load(config, emulated=emulated)
    if emulated:
        console.print(
            "[bold yellow on red] EMULATED MODE [/] this server trusts emulated devices and a fake Google API, "
            "[bold]not Apple or Google[/]. Never expose it to real traffic."
        )
    if workers > 1:
        # Worker processes rebuild the app from the environment.
        if config is not None:
            os.environ[CONFIG_ENV] = str(config.resolve())
        os.environ["APP_INTEGRITY_EMULATED"] = "1" if emulated else "0"
        _multiprocess_metrics(settings)
    from app_integrity.server.run import run_server

    run_server(settings, host=host, port=port, workers=workers)


def _multiprocess_metrics(settings: Settings) -> None:
    """Workers count in files under one folder so /metrics sums them (prometheus-client multiprocess mode). The
    folder must start empty: samples of an earlier run would be added to this one's."""
    from app_integrity.observe.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        return
    folder = settings.server.data_dir / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder.resolve())


def migrate(config: ConfigOption = None) -> None:
    """Create or upgrade the storage schema."""
    settings = _load(config)

    async def run() -> None:
        store = _store(settings)
        try:
            await store.migrate()
        finally:
            await store.close()

    _run(run())
    console.print(f"storage is up to date ({_describe(settings)})")


config_app = typer.Typer(help="Validate configuration files.", no_args_is_help=True)


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="the app-integrity.toml to check")]) -> None:
    """Validate a configuration file: every error names its key."""
    settings = _load(path)
    platforms = [name for name, section in (("apple", settings.apple), ("android", settings.android)) if section]
    console.print(
        f"[green]ok[/]: {path} (storage {_describe(settings)}; "
        f"platforms: {', '.join(platforms) or 'none'}; actions: {', '.join(settings.policy.actions) or 'default only'})"
    )


keys_app = typer.Typer(help="List and revoke registered keys.", no_args_is_help=True)


@keys_app.command("list")
def keys_list(
    config: ConfigOption = None,
    subject: Annotated[str | None, typer.Option(help="only this subject's keys")] = None,
) -> None:
    """List registered keys."""
    settings = _load(config)

    async def run() -> None:
        store = _store(settings)
        try:
            await store.migrate()
            records = await store.list_keys(subject=subject)
        finally:
            await store.close()
        table = Table("key id", "platform", "environment", "tier", "subject", "status", "counter", "created")
        for record in records:
            table.add_row(
                b64_standard(record.key_id),
                record.kind.value,
                record.environment or "",
                record.tier or "",
                record.subject or "",
                record.status.value,
                str(record.counter),
                record.created_at.isoformat(timespec="seconds"),
            )
        Console().print(table)

    _run(run())


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key id (base64, either alphabet)")],
    config: ConfigOption = None,
) -> None:
    """Revoke a key: its assertions and sessions are blocked from now on."""
    settings = _load(config)
    raw = decode_base64(key_id, field="key id", max_bytes=64)

    async def run() -> bool:
        from app_integrity._clock import resolve_now

        store = _store(settings)
        try:
            await store.migrate()
            return await store.revoke_key(raw, resolve_now(None))
        finally:
            await store.close()

    if not _run(run()):
        console.print(f"[red]no key[/] {key_id}")
        raise typer.Exit(1)
    console.print(f"revoked {b64_standard(raw)}")


def _store(settings: Settings) -> Store:
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    return open_store(settings.storage.url, redis_url=settings.storage.redis_url, base_dir=settings.server.data_dir)


def _describe(settings: Settings) -> str:
    scheme = settings.storage.url.partition(":")[0]
    return scheme + (" + redis" if settings.storage.redis_url else "")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coroutine)
    except AppIntegrityError as error:
        console.print(f"[red]{error.code}[/]: {error.message}")
        raise typer.Exit(1) from error


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(migrate)
    app.add_typer(config_app, name="config")
    app.add_typer(keys_app, name="keys")
