"""``app-integrity demo``: emulated phones through the whole protocol against a server, step by step.

Without ``--url`` the demo starts its own server (emulated mode, a temporary folder). With ``--url`` it drives a
running one, typically ``make serve`` (``app-integrity serve --emulated``): the phones are made from the emulator
state that server trusts (``--data-dir``, default ``.app-integrity`` as ``make serve`` uses).

Every scenario runs twice: for an observed action (the default policy: decide, record, let through) and for an
enforced one (emulated mode's embedded default enforces ``redeem``). Requests are decided through
``POST /v1/verify``, exactly as a protected route or a non-Python backend asks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from app_integrity.binding import body_sha256
from app_integrity.config import DEFAULT_DATA_DIR, EMULATED_DEFAULT, parse_config
from app_integrity.integrations.core import decision_from_json
from app_integrity.policy import Decision, Outcome
from app_integrity.testing.android.play import EmulatedAndroidDevice
from app_integrity.testing.apple import EmulatedAppAttestService
from app_integrity.testing.client import CLOUD_PROJECT_NUMBER, IntegrityClient, ProtocolStepError
from app_integrity.testing.emulator import EMULATED_PACKAGE_NAME, STATE_FOLDER, EmulatorState

PATH = "/api/redeem"
BODY = b'{"coupon":"SPRING"}'


@dataclass(frozen=True, slots=True)
class Step:
    scenario: str
    action: str
    decision: Decision
    note: str


class _Demo:
    def __init__(self, url: str, state: EmulatorState, console: Console) -> None:
        self.url = url
        self.state = state
        self.console = console
        self.http = httpx.Client(base_url=url, timeout=30)

    def close(self) -> None:
        self.http.close()

    def iphone(self) -> IntegrityClient:
        device = EmulatedAppAttestService(ca=self.state.apple_ca, app=self.state.apple_app())
        return IntegrityClient(device, client=self.http)

    def android(self, profile: str) -> IntegrityClient:
        device = EmulatedAndroidDevice(self.state.play, EMULATED_PACKAGE_NAME, profile=profile)
        device.prepare_integrity_token_provider(CLOUD_PROJECT_NUMBER)
        return IntegrityClient(device, client=self.http)

    def verify(self, action: str, header: str, body: bytes) -> Decision:
        response = self.http.post(
            "/v1/verify",
            json={
                "action": action,
                "header": header,
                "request": {"method": "POST", "path": PATH, "bodySha256": body_sha256(body)},
            },
        )
        response.raise_for_status()
        return decision_from_json(response.json())

    def say(self, text: str) -> None:
        self.console.print(f"  [dim]·[/] {text}")

    # --- scenarios: each returns the decision for one action ---

    def genuine_iphone(self, action: str) -> Decision:
        phone = self.iphone()
        key_id = phone.register()
        self.say(f"iPhone generated a Secure Enclave key, attested it, registered it: keyId {key_id[:12]}…")
        header = phone.sign("POST", PATH, BODY)
        self.say(f"signed POST {PATH} {BODY.decode()} with an assertion over a fresh challenge")
        return self.verify(action, header, BODY)

    def replayed_request(self, action: str) -> Decision:
        phone = self.iphone()
        phone.register()
        header = phone.sign("POST", PATH, BODY)
        first = self.verify(action, header, BODY)
        self.say(f"the genuine request went through first: {first.outcome.value}")
        self.say("an attacker captured it and sends the very same request again")
        return self.verify(action, header, BODY)

    def tampered_body(self, action: str) -> Decision:
        phone = self.iphone()
        phone.register()
        header = phone.sign("POST", PATH, BODY)
        tampered = b'{"coupon":"SPRING","amount":1000}'
        self.say(f"the iPhone signed {BODY.decode()}; a proxy rewrote the body to {tampered.decode()}")
        return self.verify(action, header, tampered)

    def android_profile(self, profile: str, story: str) -> Callable[[str], Decision]:
        def scenario(action: str) -> Decision:
            phone = self.android(profile)
            self.say(story)
            header = phone.sign("POST", PATH, BODY)
            self.say("Play Integrity Standard token requested with requestHash = b64url(sha256(binding))")
            return self.verify(action, header, BODY)

        return scenario


def _scenarios(demo: _Demo) -> list[tuple[str, Callable[[str], Decision]]]:
    return [
        ("genuine iPhone", demo.genuine_iphone),
        ("replayed request", demo.replayed_request),
        ("tampered body", demo.tampered_body),
        ("genuine Android phone", demo.android_profile("genuine", "a Play-certified phone running the Play build")),
        ("rooted phone", demo.android_profile("rooted", "a rooted phone: Google vouches for basic integrity only")),
        ("sideloaded app", demo.android_profile("sideloaded", "a repackaged APK, re-signed by someone else")),
        ("emulator", demo.android_profile("emulator", "an Android emulator without Play certification")),
    ]


def _effect(decision: Decision) -> str:
    if decision.blocks:
        return f"[bold red]refused: 403 {decision.reasons[0] if decision.reasons else ''}[/]"
    if not decision.enforced and decision.outcome is not Outcome.ALLOW:
        return f"[yellow]passes (observe mode: enforce would {decision.outcome.value})[/]"
    if decision.outcome is Outcome.LIMIT:
        return "[yellow]passes, limited: the app acts on it[/]"
    return "[green]passes[/]"


_STYLE = {Outcome.ALLOW: "green", Outcome.LIMIT: "yellow", Outcome.BLOCK: "red"}


@contextmanager
def _own_server() -> Iterator[tuple[str, Path]]:
    from app_integrity.testing.live import LiveServer

    with tempfile.TemporaryDirectory(prefix="app-integrity-demo-") as folder:
        data_dir = Path(folder) / DEFAULT_DATA_DIR
        text = f'[server]\ndata_dir = "{data_dir.as_posix()}"\n{EMULATED_DEFAULT}'
        settings = parse_config(text, base_dir=Path(folder), emulated=True, environ={})
        with LiveServer(settings) as server:
            yield server.url, data_dir


def run(
    url: Annotated[
        str | None, typer.Option(help="a running server (e.g. make serve: http://127.0.0.1:8000); default: start one")
    ] = None,
    data_dir: Annotated[
        Path, typer.Option(help="the data directory of that server, whose emulator state it trusts")
    ] = Path(DEFAULT_DATA_DIR),
    observe_action: Annotated[str, typer.Option(help="an action the server's policy observes")] = "browse",
    enforce_action: Annotated[str, typer.Option(help="an action the server's policy enforces")] = "redeem",
) -> None:
    """Drive emulated iPhones and Android phones through the protocol and show each decision."""
    console = Console()
    if url is None:
        console.print("[bold]starting a server[/] (emulated mode, temporary folder) …")
        with _own_server() as (own_url, own_data):
            _drive(own_url, own_data, console, observe_action, enforce_action)
        return
    if not (data_dir / STATE_FOLDER).is_dir():
        console.print(
            f"[bold red]no emulator state in {data_dir / STATE_FOLDER}[/]: run the demo from the folder where "
            "the server runs (make serve keeps it in .app-integrity/), or pass --data-dir"
        )
        raise typer.Exit(2)
    _drive(url.rstrip("/"), data_dir, console, observe_action, enforce_action)


def _drive(url: str, data_dir: Path, console: Console, observe_action: str, enforce_action: str) -> None:
    demo = _Demo(url, EmulatorState.load_or_create(data_dir), console)
    console.print(
        Panel.fit(
            f"server [bold]{url}[/] (emulated mode: it trusts the emulated phones in {data_dir / STATE_FOLDER})\n"
            f"observed action [bold]{observe_action}[/], enforced action [bold]{enforce_action}[/]; each request "
            f"is POST {PATH}, decided through POST /v1/verify",
            title="app-integrity demo",
        )
    )
    steps: list[Step] = []
    try:
        for name, scenario in _scenarios(demo):
            for action in (observe_action, enforce_action):
                console.print(f"\n[bold]{name}[/] — action [bold]{action}[/]")
                decision = scenario(action)
                steps.append(Step(name, action, decision, _effect(decision)))
                style = _STYLE[decision.outcome]
                mode = "enforce" if decision.enforced else "observe"
                console.print(
                    f"  → [bold {style}]{decision.outcome.value}[/] tier {decision.tier.value}, {mode} mode, "
                    f"reasons {', '.join(decision.reasons) or '-'}: {_effect(decision)}"
                )
    except (httpx.HTTPError, ProtocolStepError) as error:
        console.print(f"[bold red]the server did not answer as expected[/]: {error}")
        raise typer.Exit(1) from error
    finally:
        demo.close()
    _summary(console, steps, enforce_action)


def _summary(console: Console, steps: list[Step], enforce_action: str) -> None:
    table = Table("scenario", "action", "mode", "outcome", "tier", "reasons", "the request", title="summary")
    for step in steps:
        table.add_row(
            step.scenario,
            step.action,
            "enforce" if step.decision.enforced else "observe",
            f"[{_STYLE[step.decision.outcome]}]{step.decision.outcome.value}[/]",
            step.decision.tier.value,
            ", ".join(step.decision.reasons) or "-",
            step.note,
        )
    console.print(table)
    if not any(step.decision.enforced for step in steps):
        console.print(
            f"[yellow]note[/]: the server's policy does not enforce {enforce_action!r}; nothing was refused. "
            'Set [policy.actions.NAME] mode = "enforce" in its configuration, or pass --enforce-action.'
        )
