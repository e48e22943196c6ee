"""app-integrity.toml: every key read, typed and defaulted; every mistake named by its key."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from app_integrity.config import (
    CONFIG_ENV,
    GOOGLE_REVOCATION_URL,
    Decoder,
    SecurityLevel,
    Settings,
    load_config,
    parse_config,
)
from app_integrity.errors import ConfigError
from app_integrity.policy import Mode, Outcome, Signal, Tier, TierRule

DIGEST_HEX = "AB:" * 31 + "CD"
DIGEST = bytes.fromhex(DIGEST_HEX.replace(":", ""))
BOOT_KEY = "0508de44ee00bfb49ece32c418af1896391abde0f05b64f41bc9a2dfb589445b"

FULL = f"""
[server]
data_dir = "state"
host = "192.0.2.10"
port = 9000
admin_token_env = "MY_ADMIN"
verify_token_env = "MY_VERIFY"
max_body_bytes = 2048

[storage]
url = "sqlite:///db/app.db"
redis_url = "redis://127.0.0.1:6379/0"

[challenges]
ttl_seconds = 120

[apple]
team_id = "ABCDE12345"
bundle_ids = ["com.example.app", "com.example.app.beta"]
allow_development = true
trust_roots = ["roots/apple.pem"]

[android]
package_name = "com.example.app"
certificate_sha256 = ["{DIGEST_HEX}"]
decoder = "local"
decryption_key_env = "PI_DECRYPT"
verification_key_env = "PI_VERIFY"
service_account_file = "sa.json"
google_endpoint = "http://127.0.0.1:9999"
key_attestation_trust_roots = ["roots/android.pem"]
min_version_code = 42
require_licensed = false
allow_unrecognized_version = true
allow_testing_responses = true
max_token_age_seconds = 60

[android.key_attestation]
min_security_level = "strongbox"
allowed_verified_boot_keys = ["{BOOT_KEY}"]
min_os_patch_level = "2025-03"
allow_unlocked_bootloader = true
allow_expired_factory_intermediates = false
revocation_url = "http://127.0.0.1:9998/status"
revocation_fail_open = true

[sessions]
ttl_seconds = 600
single_use = true
issuer = "https://api.example.com"
key_rotation_seconds = 86400

[policy.default]
mode = "observe"
allow = "device"
limit = "basic"
require = ["app", "licensing"]
on_unavailable = "block"

[policy.actions.redeem]
mode = "enforce"
allow = "strong"

[policy.actions.browse]
allow = {{ios = "strong", android = "basic"}}
limit = "none"
require = []
"""

ENV = {"MY_ADMIN": "admin-secret", "MY_VERIFY": "verify-secret", "PI_DECRYPT": "dec-key", "PI_VERIFY": "ver-key"}


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "roots").mkdir()
    (tmp_path / "roots" / "apple.pem").write_text("apple root")
    (tmp_path / "roots" / "android.pem").write_text("android root")
    (tmp_path / "sa.json").write_text("{}")
    (tmp_path / "app-integrity.toml").write_text(FULL)
    return tmp_path


def _error(text: str, base: Path, **env: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), base_dir=base, environ=env)
    assert info.value.code == "config.invalid"
    return info.value.message


def test_full_file(config_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app_integrity.config"):
        settings = load_config(config_dir / "app-integrity.toml", environ=ENV)
    base = config_dir.resolve()
    assert settings.source == base / "app-integrity.toml"
    assert settings.server.data_dir == base / "state"
    assert (settings.server.host, settings.server.port, settings.server.max_body_bytes) == ("192.0.2.10", 9000, 2048)
    assert settings.server.admin_token == "admin-secret"
    assert settings.server.verify_token == "verify-secret"
    assert settings.storage.url == f"sqlite:///{base}/db/app.db"
    assert settings.storage.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.challenges.ttl_seconds == 120

    apple = settings.apple
    assert apple is not None
    assert apple.app_ids == ("ABCDE12345.com.example.app", "ABCDE12345.com.example.app.beta")
    assert apple.allow_development is True
    assert apple.trust_roots == (base / "roots" / "apple.pem",)

    android = settings.android
    assert android is not None
    assert android.package_name == "com.example.app"
    assert android.certificate_sha256 == (DIGEST,)
    assert android.app.min_version_code == 42
    assert android.app.require_licensed is False
    assert android.app.allow_unrecognized_version is True
    assert android.app.allow_testing_responses is True
    assert android.decoder is Decoder.LOCAL
    assert (android.decryption_key, android.verification_key) == ("dec-key", "ver-key")
    assert android.service_account_file == base / "sa.json"
    assert android.google_endpoint == "http://127.0.0.1:9999"
    assert android.key_attestation_trust_roots == (base / "roots" / "android.pem",)
    assert android.max_token_age_seconds == 60
    ka = android.key_attestation
    assert ka.min_security_level is SecurityLevel.STRONGBOX
    assert ka.allowed_verified_boot_keys == (bytes.fromhex(BOOT_KEY),)
    assert ka.min_os_patch_level == 202503
    assert ka.allow_unlocked_bootloader is True
    assert ka.allow_expired_factory_intermediates is False
    assert ka.revocation_url == "http://127.0.0.1:9998/status"
    assert ka.revocation_fail_open is True

    assert (settings.sessions.ttl_seconds, settings.sessions.single_use) == (600, True)
    assert settings.sessions.issuer == "https://api.example.com"
    assert settings.sessions.key_rotation_seconds == 86400

    policy = settings.policy
    assert policy.default.mode is Mode.OBSERVE
    assert policy.default.require == frozenset({Signal.APP, Signal.LICENSING})
    assert policy.default.on_unavailable is Outcome.BLOCK
    redeem = policy.for_action("redeem")
    assert redeem.mode is Mode.ENFORCE
    assert redeem.allow == TierRule.uniform(Tier.STRONG)
    assert redeem.limit == TierRule.uniform(Tier.BASIC)  # inherited
    assert redeem.require == policy.default.require  # inherited
    assert redeem.on_unavailable is Outcome.BLOCK  # inherited
    browse = policy.for_action("browse")
    assert browse.mode is Mode.OBSERVE
    assert browse.allow == TierRule(ios=Tier.STRONG, android=Tier.BASIC)
    assert browse.limit == TierRule.uniform(Tier.NONE)
    assert browse.require == frozenset()
    assert policy.for_action("unknown") is policy.default

    warnings = " ".join(record.getMessage() for record in caplog.records if record.levelno == logging.WARNING)
    assert "apple.trust_roots" in warnings
    assert "android.google_endpoint" in warnings
    assert "android.key_attestation_trust_roots" in warnings
    assert "revocation_url" in warnings


def test_secrets_are_not_in_repr(config_dir: Path) -> None:
    settings = load_config(config_dir / "app-integrity.toml", environ=ENV)
    text = repr(settings)
    for secret in ENV.values():
        assert secret not in text


def test_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_config(environ={})
    base = tmp_path.resolve()
    assert settings == Settings(server=settings.server, storage=settings.storage)
    assert settings.source is None
    assert settings.server.data_dir == base / ".app-integrity"
    assert settings.storage.url == f"sqlite:///{base}/.app-integrity/app-integrity.db"
    assert settings.storage.redis_url is None
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.server.max_body_bytes == 1048576
    assert settings.server.admin_token_env == "APP_INTEGRITY_ADMIN_TOKEN"
    assert settings.server.admin_token is None
    assert settings.server.verify_token is None
    assert settings.challenges.ttl_seconds == 300
    assert settings.apple is None
    assert settings.android is None
    assert (settings.sessions.ttl_seconds, settings.sessions.single_use) == (3600, False)
    default = settings.policy.default
    assert default.mode is Mode.OBSERVE
    assert default.allow == TierRule.uniform(Tier.DEVICE)
    assert default.limit == TierRule.uniform(Tier.BASIC)
    assert default.require == frozenset({Signal.APP})
    assert default.on_unavailable is Outcome.LIMIT


def test_config_env_names_the_file(config_dir: Path) -> None:
    settings = load_config(environ={**ENV, CONFIG_ENV: str(config_dir / "app-integrity.toml")})
    assert settings.source == (config_dir / "app-integrity.toml").resolve()


def test_admin_token_from_default_env(tmp_path: Path) -> None:
    settings = parse_config("", base_dir=tmp_path, environ={"APP_INTEGRITY_ADMIN_TOKEN": "t0ken"})
    assert settings.server.admin_token == "t0ken"


def test_postgres_url_is_kept(tmp_path: Path) -> None:
    settings = parse_config('[storage]\nurl = "postgresql://root@127.0.0.1/test"', base_dir=tmp_path, environ={})
    assert settings.storage.url == "postgresql://root@127.0.0.1/test"


def test_absolute_and_memory_sqlite_urls_are_kept(tmp_path: Path) -> None:
    for url in ("sqlite:////var/lib/x.db", "sqlite://", "sqlite+aiosqlite:////tmp/x.db?mode=rw"):
        settings = parse_config(f'[storage]\nurl = "{url}"', base_dir=tmp_path, environ={})
        assert settings.storage.url == url
    settings = parse_config('[storage]\nurl = "sqlite+aiosqlite:///x.db?mode=rw"', base_dir=tmp_path, environ={})
    assert settings.storage.url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/x.db?mode=rw"


def test_google_decoder_needs_no_keys(tmp_path: Path) -> None:
    text = f'[android]\npackage_name = "com.example.app"\ncertificate_sha256 = ["{DIGEST_HEX}"]'
    settings = parse_config(text, base_dir=tmp_path, environ={})
    assert settings.android is not None
    assert settings.android.decoder is Decoder.GOOGLE
    assert settings.android.service_account_file is None
    assert settings.android.key_attestation.revocation_url == GOOGLE_REVOCATION_URL


def test_emulated_refuses_real_apps(config_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(config_dir / "app-integrity.toml", environ=ENV, emulated=True)
    assert info.value.message.startswith("apple:")
    android_only = f'[android]\npackage_name = "com.example.app"\ncertificate_sha256 = ["{DIGEST_HEX}"]'
    with pytest.raises(ConfigError) as info:
        parse_config(android_only, base_dir=config_dir, environ={}, emulated=True)
    assert info.value.message.startswith("android:")
    assert parse_config("[sessions]\nttl_seconds = 60", base_dir=config_dir, emulated=True, environ={}).emulated


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", environ={})
    assert "nope.toml" in info.value.message


def test_not_toml(tmp_path: Path) -> None:
    assert "not valid TOML" in _error("[server\n", tmp_path)


@pytest.mark.parametrize(
    "value",
    [
        "~d",  # a user without a home directory: pathlib raises RuntimeError (found by fuzzing the config parser)
        "~no-such-user-anywhere/data",
        "state\\u0000x",  # a NUL byte: ValueError from the operating system's path functions
    ],
)
def test_unusable_paths_are_config_errors(tmp_path: Path, value: str) -> None:
    message = _error(f'[server]\ndata_dir = "{value}"\n', tmp_path)
    assert "server.data_dir: not a usable path" in message


APPLE = '[apple]\nteam_id = "ABCDE12345"\nbundle_ids = ["com.example.app"]\n'
ANDROID = f'[android]\npackage_name = "com.example.app"\ncertificate_sha256 = ["{DIGEST_HEX}"]\n'
KA = ANDROID + "[android.key_attestation]\n"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[serve]\nport = 1", "serve"),
        ("[server]\nprot = 1", "server.prot"),
        ("[server]\nport = '80'", "server.port"),
        ("[server]\nport = true", "server.port"),
        ("[server]\nport = 70000", "server.port"),
        ("[server]\nmax_body_bytes = 0", "server.max_body_bytes"),
        ("[server]\ndata_dir = 5", "server.data_dir"),
        ("[server]\nadmin_token_env = 'not a name'", "server.admin_token_env"),
        ("[server]\nverify_token_env = 'UNSET_VERIFY'", "server.verify_token_env"),
        ("server = 5", "server"),
        ("[storage]\nurl = 'mysql://x/y'", "storage.url"),
        ("[storage]\nurl = 'sqlite:x.db'", "storage.url"),
        ("[storage]\nredis_url = 'http://x'", "storage.redis_url"),
        ("[storage]\ncolour = 'x'", "storage.colour"),
        ("[challenges]\nttl_seconds = 0", "challenges.ttl_seconds"),
        ("[challenges]\nttl = 5", "challenges.ttl"),
        ("[apple]\nbundle_ids = ['com.example.app']", "apple.team_id"),
        ("[apple]\nteam_id = 'ABCDE12345'", "apple.bundle_ids"),
        ("[apple]\nteam_id = 'abcde12345'\nbundle_ids = ['a']", "apple.team_id"),
        ("[apple]\nteam_id = 'ABCDE12345'\nbundle_ids = []", "apple.bundle_ids"),
        ("[apple]\nteam_id = 'ABCDE12345'\nbundle_ids = 'com.example.app'", "apple.bundle_ids"),
        ("[apple]\nteam_id = 'ABCDE12345'\nbundle_ids = ['bad id']", "apple.bundle_ids"),
        (APPLE + "allow_development = 'yes'", "apple.allow_development"),
        (APPLE + "trust_roots = ['missing.pem']", "apple.trust_roots"),
        (APPLE + "environment = 'production'", "apple.environment"),
        ("[android]\ncertificate_sha256 = []", "android.package_name"),
        ("[android]\npackage_name = 'com.example.app'", "android.certificate_sha256"),
        ("[android]\npackage_name = 'com.example.app'\ncertificate_sha256 = []", "android.certificate_sha256"),
        ("[android]\npackage_name = 'com.example.app'\ncertificate_sha256 = ['abc']", "android.certificate_sha256"),
        ("[android]\npackage_name = 'example'\ncertificate_sha256 = []", "android.package_name"),
        (ANDROID + "decoder = 'remote'", "android.decoder"),
        (ANDROID + "decoder = 'local'", "android.decryption_key_env"),
        (
            ANDROID + "decoder = 'local'\ndecryption_key_env = 'D'\nverification_key_env = 'V'",
            "android.decryption_key_env",
        ),
        (ANDROID + "google_endpoint = 'ftp://x'", "android.google_endpoint"),
        (ANDROID + "service_account_file = 'missing.json'", "android.service_account_file"),
        (ANDROID + "min_version_code = -1", "android.min_version_code"),
        (ANDROID + "key_attestation_trust_roots = 'x.pem'", "android.key_attestation_trust_roots"),
        (
            KA + "min_security_level = 'software'",
            "android.key_attestation.min_security_level",
        ),
        (
            KA + "min_os_patch_level = '2025-13'",
            "android.key_attestation.min_os_patch_level",
        ),
        (
            KA + "min_os_patch_level = 202503",
            "android.key_attestation.min_os_patch_level",
        ),
        (
            KA + "allowed_verified_boot_keys = ['zz']",
            "android.key_attestation.allowed_verified_boot_keys",
        ),
        (KA + "revocation_url = 'file:///x'", "android.key_attestation.revocation_url"),
        (KA + "allow_rooted = true", "android.key_attestation.allow_rooted"),
        ("[sessions]\nttl_seconds = 0", "sessions.ttl_seconds"),
        ("[sessions]\nsingle_use = 1", "sessions.single_use"),
        ("[sessions]\nissuer = ''", "sessions.issuer"),
        ("[sessions]\nkey_rotation_seconds = 1", "sessions.key_rotation_seconds"),
        ("[policy]\nmode = 'enforce'", "policy.mode"),
        ("[policy.default]\nmode = 'strict'", "policy.default.mode"),
        ("[policy.default]\nallow = 'gold'", "policy.default.allow"),
        ("[policy.default]\nallow = 3", "policy.default.allow"),
        ("[policy.default]\nallow = {windows = 'strong'}", "policy.default.allow.windows"),
        ("[policy.default]\nallow = {ios = 3}", "policy.default.allow.ios"),
        ("[policy.default]\nallow = {ios = 'gold'}", "policy.default.allow.ios"),
        ("[policy.default]\nrequire = ['jailbreak']", "policy.default.require"),
        ("[policy.default]\nrequire = 'app'", "policy.default.require"),
        ("[policy.default]\non_unavailable = 'retry'", "policy.default.on_unavailable"),
        ("[policy.default]\nallow = 'basic'\nlimit = 'device'", "policy.default.limit"),
        ("[policy.actions.redeem]\nlimit = 'strong'", "policy.actions.redeem.limit"),
        ("[policy.actions.redeem]\nallow = 'none'", "policy.actions.redeem.allow"),
        ("[policy.actions.redeem]\nallow = {android = 'none'}", "policy.actions.redeem.allow"),
        ("[policy.actions.redeem]\nalow = 'strong'", "policy.actions.redeem.alow"),
        ("[policy.actions]\nredeem = 'strong'", "policy.actions.redeem"),
        ("[policy.actions.'bad name']\nallow = 'strong'", "policy.actions.bad name"),
    ],
)
def test_mistakes_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    message = _error(text, tmp_path)
    assert message.startswith(f"{key}:"), message


def test_limit_above_inherited_allow_names_the_action(tmp_path: Path) -> None:
    message = _error(
        "[policy.default]\nallow = 'strong'\nlimit = 'device'\n[policy.actions.x]\nallow = 'basic'", tmp_path
    )
    assert message.startswith("policy.actions.x.allow:")
    assert "'device' is above allow 'basic'" in message


def test_partial_platform_table_inherits_the_rest(tmp_path: Path) -> None:
    text = "[policy.default]\nallow = {ios = 'strong', android = 'device'}\n"
    text += "[policy.actions.x]\nallow = {android = 'basic'}"
    policy = parse_config(text, base_dir=tmp_path, environ={}).policy
    assert policy.for_action("x").allow == TierRule(ios=Tier.STRONG, android=Tier.BASIC)


def test_oversized_file(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * (1 << 20))
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "larger than" in info.value.message
