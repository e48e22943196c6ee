"""``app-integrity inspect`` on every real capture in ../shared/vectors (read in place), with and without --verify."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from app_integrity.cli import app
from app_integrity.testing.android.play import EmulatedAndroidDevice, EmulatedPlayIntegrity
from tests.apple.vectors import names as apple_names
from tests.conftest import load_vector, vector_names

pytestmark = pytest.mark.vectors
runner = CliRunner()

APPLE_KINDS = {"attestation": "apple-attestation", "assertion": "apple-assertion", "receipt": "apple-receipt"}
ANDROID_INVALID = {
    "gak_sample_strongbox_preprod_test_root": "android.root_not_trusted",
    "ka_invalid_tags_not_in_ascending_order": "android.signature_invalid",
    "ka_pixel_xl_marlin_software_attestation": "android.software_root",
    "warden_android_emulator_rsa_software": "android.software_root",
}


def _run(*args: str, stdin: str | None = None) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["inspect", *args, "--json"], input=stdin)
    return result.exit_code, json.loads(result.stdout)


def _apple_blob(vector: dict[str, Any]) -> str:
    for field in ("attestation_object_b64", "assertion_b64", "receipt_b64"):
        if field in vector:
            value: str = vector[field]
            return value
    raise AssertionError("vector without an object")


def _apple_verify_args(vector: dict[str, Any]) -> list[str]:
    args = ["--verify", "--team-id", vector["team_id"], "--bundle-id", vector["bundle_id"], "--at", vector["valid_at"]]
    if vector["type"] in ("attestation", "assertion"):
        args += ["--client-data-hash", vector["client_data_hash_b64"]]
    if vector["type"] == "assertion":
        key = vector.get("public_key_x963_hex")
        args += (
            ["--public-key", key]
            if key
            else ["--public-key", base64.b64encode(vector["public_key_pem"].encode()).decode()]
        )
        args += ["--counter", str(vector["previous_counter"])]
    return args


@pytest.mark.parametrize("name", apple_names(""))
def test_apple_vector_is_detected_and_decoded(name: str) -> None:
    vector = load_vector("apple", name)
    code, report = _run(stdin=_apple_blob(vector))
    assert code == 0, report
    assert report["kind"] == APPLE_KINDS[vector["type"]]
    if vector["type"] == "attestation":
        authenticator = report["sections"]["authenticator data"]
        assert authenticator["counter"] == "0"
        assert authenticator["environment"] == vector["environment"]
        if "key_id_b64" in vector:
            assert authenticator["credentialId (key id)"] == vector["key_id_b64"]
        assert report["sections"]["credential certificate"]["public key"] == "EC secp256r1"
        assert report["sections"]["receipt"]["6 type"] == "ATTEST"
    elif vector["type"] == "assertion":
        assert int(report["sections"]["authenticator data"]["counter"]) == vector["expected_counter"]
    else:
        assert report["sections"]["receipt"]["2 app id"] == vector["app_id"]


@pytest.mark.parametrize("name", apple_names(""))
def test_apple_vector_verifies_as_expected(name: str) -> None:
    vector = load_vector("apple", name)
    code, report = _run(_apple_blob(vector), *_apple_verify_args(vector))
    statuses = [check["status"] for check in report["checks"]]
    if vector["expected"]["result"] == "valid":
        assert code == 0, report
        assert report["verified"] is True
        assert set(statuses) == {"pass"}
    else:
        assert code == 1
        assert report["verified"] is False
        assert report["error"] == "apple.nonce_mismatch"
        failed = [check for check in report["checks"] if check["status"] == "fail"]
        assert [check["name"] for check in failed] == ["2-4. nonce = SHA-256(authData || clientDataHash)"]
        assert statuses[:2] == ["pass", "pass"]
        assert set(statuses[3:]) == {"not reached"}


@pytest.mark.parametrize("name", vector_names("android-key"))
def test_android_chain_is_detected_in_every_form(name: str) -> None:
    vector = load_vector("android-key", name)
    chain: list[str] = vector["chain_b64"]
    as_json = json.dumps(chain)
    as_lines = "\n".join(chain)
    as_pem = "".join(f"-----BEGIN CERTIFICATE-----\n{c}\n-----END CERTIFICATE-----\n" for c in chain)
    reports = [_run(stdin=text) for text in (as_json, as_lines, as_pem)]
    for code, report in reports:
        assert code == 0, report
        assert report["kind"] == "android-key-attestation"
        assert report == reports[0][1]
    sections = reports[0][1]["sections"]
    assert len([title for title in sections if title == "leaf" or title.startswith("certificate ")]) == len(chain)
    description = sections["KeyDescription"]
    if vector["expected"].get("leaf_parseable", True):
        expected = vector["expected"].get("key_description", {})
        if "attestationVersion" in expected:
            assert description["attestation version"] == str(expected["attestationVersion"])


@pytest.mark.parametrize("name", vector_names("android-key"))
def test_android_chain_verifies_as_expected(name: str) -> None:
    vector = load_vector("android-key", name)
    args = ["--verify", "--at", vector["valid_at"].replace("Z", "+00:00")]
    if vector.get("challenge"):
        args += ["--challenge-hex", vector["challenge"]["hex"]]
    package = vector.get("expected_package")
    if package:
        args += ["--package", package["name"]]
        for digest in package["signature_digests_hex"]:
            args += ["--certificate-sha256", digest]
    code, report = _run(json.dumps(vector["chain_b64"]), *args)
    checks = {check["name"]: check["status"] for check in report["checks"]}
    if vector["expected"]["chain"] == "invalid":
        assert report["error"] == ANDROID_INVALID[name]
        assert code == 1
        assert "fail" in checks.values()
        return
    assert report["error"] is None, report
    assert report["sections"]["verification"]["root"] == vector["expected"]["trusted_root"]
    assert checks["chain ends at a pinned attestation root"] == "pass"
    assert checks["attestationChallenge = the issued challenge"] == ("pass" if vector.get("challenge") else "skipped")
    assert checks["attested app = this package and signer"] == ("pass" if package else "skipped")


def test_input_from_a_file_and_from_an_argument(tmp_path: Any) -> None:
    vector = load_vector("apple", "veehaitch_ios14_2_attestation")
    path = tmp_path / "attestation.b64"
    path.write_text(vector["attestation_object_b64"])
    from_file = _run(str(path))
    from_argument = _run(vector["attestation_object_b64"])
    raw = tmp_path / "attestation.cbor"
    raw.write_bytes(base64.b64decode(vector["attestation_object_b64"]))
    from_binary = _run(str(raw))
    assert from_file == from_argument == from_binary
    assert from_file[0] == 0


@pytest.mark.parametrize(
    ("blob", "code"),
    [
        ("not base64 at all!", "input.malformed"),
        (base64.b64encode(b"\xa1\x61a\x01").decode(), "input.malformed"),
        ("[1, 2]", "input.malformed"),
        ("eyJhbGciOiJub25lIn0.e30.", None),
    ],
)
def test_malformed_input_gets_a_code(blob: str, code: str | None) -> None:
    exit_code, report = _run(stdin=blob)
    if code is None:
        assert exit_code == 0
        assert report["kind"] == "play-integrity-token"
        assert report["sections"]["token"]["header alg"] == '"none"'
    else:
        assert exit_code == 2
        assert report["error"] == code


def test_a_wrong_key_id_fails_step_five() -> None:
    vector = load_vector("apple", "veehaitch_ios14_2_attestation")
    args = [*_apple_verify_args(vector), "--key-id", base64.b64encode(bytes(32)).decode()]
    code, report = _run(vector["attestation_object_b64"], *args)
    assert code == 1
    assert report["error"] == "apple.key_id_mismatch"
    failed = [check["name"] for check in report["checks"] if check["status"] == "fail"]
    assert failed == ["5. SHA-256(public key) = key id"]


def test_verify_without_the_app_says_what_is_missing() -> None:
    vector = load_vector("apple", "veehaitch_ios14_2_attestation")
    code, report = _run(vector["attestation_object_b64"], "--verify")
    assert code == 1
    assert report["error"] == "input.invalid_argument"
    assert report["checks"][0]["name"] == "decode"
    assert "--team-id" in report["checks"][0]["detail"]


def test_a_classic_play_token_is_decoded_with_the_configured_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    play = EmulatedPlayIntegrity()
    emulated = play.register_app("com.example.app")
    phone = EmulatedAndroidDevice(play, "com.example.app", profile="play_protect_off")
    token = phone.request_classic_integrity_token("bm9uY2Utb2YtdGhlLXJlcXVlc3Q")
    config = tmp_path / "app-integrity.toml"
    digest = emulated.certificate_sha256.hex()
    config.write_text(
        f'[android]\npackage_name = "com.example.app"\ncertificate_sha256 = ["{digest}"]\ndecoder = "local"\n'
        'decryption_key_env = "PLAY_DECRYPTION"\nverification_key_env = "PLAY_VERIFICATION"\n'
    )
    monkeypatch.setenv("PLAY_DECRYPTION", emulated.decryption_key)
    monkeypatch.setenv("PLAY_VERIFICATION", emulated.verification_key)
    headers_only = _run(token)[1]
    assert headers_only["kind"] == "play-integrity-token"
    assert headers_only["sections"]["token"]["header alg"] == '"A256KW"'
    assert "not decoded" in headers_only["sections"]["verdict"]
    code, report = _run(token, "--verify", "--config", str(config))
    assert code == 0, report
    verdict = report["sections"]["verdict"]
    assert verdict["package"] == "com.example.app"
    assert verdict["nonce"] == "bm9uY2Utb2YtdGhlLXJlcXVlc3Q"
    assert verdict["play protect"] == "POSSIBLE_RISK"
    assert [c["status"] for c in report["checks"]] == ["pass", "skipped"]
    code, report = _run(token, "--verify", "--config", str(config), "--nonce", "bm9uY2Utb2YtdGhlLXJlcXVlc3Q")
    assert code == 1, report  # a verdict about this request, but Play Protect is off
    checks = {c["name"]: c["status"] for c in report["checks"]}
    assert checks["request details match this request"] == "pass"
    assert checks["device tier: device"] == "pass"
    assert checks["play.play_protect_off"] == "fail"
    code, report = _run(token, "--verify", "--config", str(config), "--nonce", "another-nonce")
    assert report["error"] == "play.nonce_mismatch"
    other = EmulatedPlayIntegrity().register_app("com.example.app")
    monkeypatch.setenv("PLAY_DECRYPTION", other.decryption_key)
    code, report = _run(token, "--verify", "--config", str(config))
    assert code == 1
    assert report["error"] == "play.decryption_failed"
