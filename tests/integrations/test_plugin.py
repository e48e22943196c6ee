"""The pytest plugin, as a user meets it: installed by the package's ``pytest11`` entry point, its fixtures used
from test files that import nothing of ours (run in a fresh pytest with ``pytester``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

FIXTURES_ONLY = """
import httpx
import pytest

EMPTY_OBJECT_SHA256 = "RBNvo1WzZ4oRRq0W9-hknpT7T8If536DEMBg9hyq_4o"  # b64url(sha256(b"{}"))

def test_iphone_registers_and_gets_a_session(app_integrity_server, ios_device, integrity_client):
    phone = integrity_client(ios_device, base_url=app_integrity_server)
    key_id = phone.register()
    assert len(key_id) == 44
    session = phone.exchange_session()
    assert session.count(".") == 2
    keys = httpx.get(app_integrity_server + "/.well-known/jwks.json").json()["keys"]
    assert keys


@pytest.mark.parametrize(
    ("android_device", "outcome"),
    [("genuine", "allow"), ("rooted", "limit"), ("sideloaded", "block"), ("emulator", "block")],
    indirect=["android_device"],
)
def test_android_profiles(app_integrity_server, android_device, integrity_client, outcome):
    phone = integrity_client(android_device, base_url=app_integrity_server)
    header = phone.sign("POST", "/redeem", b"{}")
    decision = phone.http.post(
        "/v1/verify",
        json={
            "action": "redeem",
            "header": header,
            "request": {"method": "POST", "path": "/redeem", "bodySha256": EMPTY_OBJECT_SHA256},
        },
    ).json()
    assert decision["outcome"] == outcome
    assert decision["enforced"] is False  # the default policy observes


def test_fake_google_decodes_standard_tokens(fake_google, android_devices):
    token = android_devices("genuine").request_integrity_check("x" * 43)
    assert token.count(".") == 4
    assert fake_google.url.startswith("http://127.0.0.1:")
"""


def test_fixtures_from_a_file_that_imports_nothing_of_ours(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=FIXTURES_ONLY)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_the_readme_example_runs(pytester: pytest.Pytester) -> None:
    text = README.read_text(encoding="utf-8")
    blocks = dict(re.findall(r"```python\n# (conftest\.py|test_redeem\.py)\n(.*?)```", text, flags=re.DOTALL))
    assert set(blocks) == {"conftest.py", "test_redeem.py"}
    pytester.makeconftest(blocks["conftest.py"])
    pytester.makepyfile(test_redeem=blocks["test_redeem.py"])
    assert "app_integrity" not in blocks["test_redeem.py"]
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
