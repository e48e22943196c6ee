"""/metrics after emulated traffic (parsed with prometheus_client's parser), request ids, and JSON log lines that
never carry a token, key material or secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app_integrity.binding import body_sha256
from app_integrity.server.logs import JsonFormatter
from app_integrity.testing.protocol import android_header, ios_header
from app_integrity.testing.traffic import DemoDevices, run_demo_traffic
from tests.service.conftest import ADMIN_TOKEN, World

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(world: World) -> Samples:
    response = await world.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def _sum(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, pairs), value in samples.items()
        if sample == name and all(dict(pairs).get(k) == v for k, v in labels.items())
    )


async def test_metrics_after_emulated_traffic(world: World) -> None:
    before = await _scrape(world)
    summary = await run_demo_traffic(world.client, DemoDevices(world.iphone, world.android), rounds=1)
    after = await _scrape(world)
    decisions = _sum(after, "app_integrity_decisions_total") - _sum(before, "app_integrity_decisions_total")
    assert decisions == summary.decisions
    # Actions outside the configured ones are one label value: callers cannot grow the series.
    assert _sum(after, "app_integrity_decisions_total", action="redeem") == _sum(
        before, "app_integrity_decisions_total", action="redeem"
    )
    redeem_allowed = _delta(
        before,
        after,
        "app_integrity_decisions_total",
        action="other",
        outcome="allow",
        platform="ios",
        tier="strong",
        enforced="false",
    )
    assert redeem_allowed == 4  # login, 2 redeem, and the first use of the proof replayed next
    assert _delta(before, after, "app_integrity_counter_rejections_total") == 1
    android = 7  # one Play Integrity request per profile
    assert _delta(before, after, "app_integrity_google_api_calls_total", result="ok") == android
    assert _delta(before, after, "app_integrity_google_api_calls_total", result="rejected") == 1  # the made-up token
    assert _delta(before, after, "app_integrity_verification_seconds_count", verifier="play_integrity") == android + 1
    assert _delta(before, after, "app_integrity_verification_seconds_count", verifier="app_attest") == 6
    assert _delta(before, after, "app_integrity_verification_seconds_count", verifier="none") == 3
    issued = _delta(before, after, "app_integrity_challenges_total", event="issued")
    assert issued == 1 + 5 + android  # registration, 5 iOS requests (one proof sent twice), Android requests
    assert _delta(before, after, "app_integrity_challenges_total", event="consumed") == 1 + 4 + android
    assert _delta(before, after, "app_integrity_challenges_total", event="expired") == 0


async def test_an_expired_challenge_is_counted(world: World) -> None:
    iphone = world.iphone()
    key_id = await world.register_iphone(iphone)
    before = await _scrape(world)
    challenge = await world.challenge()
    world.clock.advance(seconds=301)
    header = ios_header(iphone, key_id, challenge=challenge, method="POST", path="/x", body=b"")
    decision = await world.verify(action="x", method="POST", path="/x", body=b"", header=header)
    assert decision["reasons"] == ["challenge.expired"]
    after = await _scrape(world)
    assert _delta(before, after, "app_integrity_challenges_total", event="expired") == 1


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.buffer = io.StringIO()

    def emit(self, record: logging.LogRecord) -> None:
        self.buffer.write(self.format(record) + "\n")

    @property
    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]


@pytest.fixture
def log_lines() -> Iterator[_Lines]:
    handler = _Lines()
    logger = logging.getLogger("app_integrity")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


async def test_request_id_reaches_the_response_the_event_and_the_log(world: World, log_lines: _Lines) -> None:
    iphone = world.iphone()
    key_id = await world.register_iphone(iphone, subject="alice")
    challenge = await world.challenge()
    header = ios_header(iphone, key_id, challenge=challenge, method="POST", path="/pay", body=b"{}")
    response = await world.client.post(
        "/v1/verify",
        json={
            "action": "pay",
            "request": {"method": "POST", "path": "/pay", "bodySha256": body_sha256(b"{}")},
            "header": header,
        },
        headers={"X-Request-Id": "req-0123.abc"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-0123.abc"
    events = await world.service.store.list_events(limit=1)
    assert events[0].request_id == "req-0123.abc"
    decisions = [line for line in log_lines.lines if line["message"] == "decision"]
    assert decisions[-1]["request_id"] == "req-0123.abc"
    assert decisions[-1]["outcome"] == "allow"


@pytest.mark.parametrize("value", ['bad id"with quotes', "x" * 129, "", "a b"])
async def test_an_unusable_request_id_is_replaced(world: World, value: str) -> None:
    response = await world.client.get("/healthz", headers={"X-Request-Id": value})
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-request-id"] != value


async def test_every_answer_carries_a_request_id(world: World) -> None:
    response = await world.client.post("/v1/verify", content=b"x" * (2 << 20))
    assert response.status_code == 413
    assert len(response.headers["x-request-id"]) == 32


async def test_logs_never_carry_tokens_keys_or_secrets(world: World, log_lines: _Lines) -> None:
    secrets: list[str] = [ADMIN_TOKEN]
    iphone = world.iphone()
    key_id = await world.register_iphone(iphone, subject="bob")
    secrets.append(key_id)
    for _ in range(2):
        challenge = await world.challenge()
        header = ios_header(iphone, key_id, challenge=challenge, method="POST", path="/a", body=b"")
        secrets += [challenge, header.split("assertion=:")[1].rstrip(":")]
        await world.verify(action="a", method="POST", path="/a", body=b"", header=header)
    phone = world.android("play_protect_off")
    challenge = await world.challenge()
    header = android_header(phone, challenge=challenge, method="POST", path="/a", body=b"")
    token = header.split('token="')[1].rstrip('"')
    secrets += [challenge, token, token.split(".")[0]]
    await world.verify(action="a", method="POST", path="/a", body=b"", header=header)
    session_challenge = await world.challenge()
    session_header = ios_header(iphone, key_id, challenge=session_challenge, method="POST", path="/v1/sessions")
    exchanged = await world.client.post("/v1/sessions", headers={"App-Integrity": session_header})
    assert exchanged.status_code == 201
    secrets += [exchanged.json()["session"], session_challenge]
    await world.client.post("/dashboard/login", data={"token": ADMIN_TOKEN})
    await world.client.post("/dashboard/login", data={"token": "a-wrong-guess-of-the-token"})
    secrets.append("a-wrong-guess-of-the-token")
    text = log_lines.buffer.getvalue()
    assert text.count('"message": "decision"') == 4
    for secret in secrets:
        assert secret not in text
