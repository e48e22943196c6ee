"""``app-integrity.toml`` (DESIGN.md §5) into typed, frozen settings.

Everything is checked at load time so a wrong file stops start-up with a message naming the key: unknown keys,
wrong types, missing required values, a ``limit`` above ``allow``, a file that does not exist. Relative paths are
relative to the config file's folder (to the working directory for the embedded default). Secrets never live in
the file: it names environment variables, read here once.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app_integrity.android.app import AndroidApp, parse_certificate_digest
from app_integrity.errors import ConfigError
from app_integrity.policy import ActionPolicy, Mode, Outcome, Platform, PolicySet, Signal, Tier, TierRule

logger = logging.getLogger(__name__)

CONFIG_ENV = "APP_INTEGRITY_CONFIG"
DEFAULT_DATA_DIR = ".app-integrity"
DEFAULT_DATABASE = "app-integrity.db"
MAX_CONFIG_BYTES = 1 << 20
GOOGLE_REVOCATION_URL = "https://android.googleapis.com/attestation/status"
DEFAULT_ADMIN_ENV = "APP_INTEGRITY_ADMIN_TOKEN"  # the name of an environment variable, not a secret

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TEAM_ID = re.compile(r"[A-Z0-9]{10}")
_BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
_PACKAGE = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+")
_ACTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PATCH_LEVEL = re.compile(r"(\d{4})-(\d{2})")


class Decoder(StrEnum):
    GOOGLE = "google"  # Standard tokens, decoded by Google's decodeIntegrityToken
    LOCAL = "local"  # classic tokens, decrypted and verified with the app's own keys


class SecurityLevel(StrEnum):
    TEE = "tee"
    STRONGBOX = "strongbox"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1 << 20
    admin_token_env: str = DEFAULT_ADMIN_ENV
    admin_token: str | None = field(default=None, repr=False)  # unset: admin routes answer 403 admin.disabled
    verify_token_env: str | None = None
    verify_token: str | None = field(default=None, repr=False)  # None: /v1/verify is open to any caller


@dataclass(frozen=True, slots=True)
class StorageSettings:
    url: str
    redis_url: str | None = None


@dataclass(frozen=True, slots=True)
class ChallengeSettings:
    ttl_seconds: int = 300


@dataclass(frozen=True, slots=True)
class AppleSettings:
    team_id: str
    bundle_ids: tuple[str, ...]
    allow_development: bool = False
    trust_roots: tuple[Path, ...] = ()  # empty: Apple's pinned App Attest and receipt roots

    @property
    def app_ids(self) -> tuple[str, ...]:
        """``TEAMID.bundleId`` for each bundle: what rpIdHash is the SHA-256 of."""
        return tuple(f"{self.team_id}.{bundle}" for bundle in self.bundle_ids)


@dataclass(frozen=True, slots=True)
class KeyAttestationSettings:
    """The posture an Android hardware-attested key must show (``[android.key_attestation]``)."""

    min_security_level: SecurityLevel = SecurityLevel.TEE
    allowed_verified_boot_keys: tuple[bytes, ...] = ()  # SelfSigned boot keys admitted (e.g. GrapheneOS)
    min_os_patch_level: int | None = None  # YYYYMM
    allow_unlocked_bootloader: bool = False
    allow_expired_factory_intermediates: bool = True
    revocation_url: str = GOOGLE_REVOCATION_URL
    revocation_fail_open: bool = False


@dataclass(frozen=True, slots=True)
class AndroidSettings:
    app: AndroidApp
    decoder: Decoder = Decoder.GOOGLE
    service_account_file: Path | None = None  # None: application default credentials
    google_endpoint: str | None = None  # None: https://playintegrity.googleapis.com
    decryption_key_env: str | None = None
    decryption_key: str | None = field(default=None, repr=False)
    verification_key_env: str | None = None
    verification_key: str | None = field(default=None, repr=False)
    max_token_age_seconds: int = 300
    key_attestation_trust_roots: tuple[Path, ...] = ()  # empty: Google's pinned roots
    key_attestation: KeyAttestationSettings = field(default_factory=KeyAttestationSettings)

    @property
    def package_name(self) -> str:
        return self.app.package_name

    @property
    def certificate_sha256(self) -> tuple[bytes, ...]:
        return self.app.certificate_sha256


@dataclass(frozen=True, slots=True)
class SessionSettings:
    ttl_seconds: int = 3600
    single_use: bool = False
    issuer: str = "app-integrity"
    key_rotation_seconds: int = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class EventSettings:
    """``[events]``: how long decisions are kept. ``retention_days = 0`` keeps them forever."""

    retention_days: int = 0
    prune_interval_seconds: int = 3600  # how often a running server deletes events past retention


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings
    storage: StorageSettings
    challenges: ChallengeSettings = field(default_factory=ChallengeSettings)
    apple: AppleSettings | None = None
    android: AndroidSettings | None = None
    sessions: SessionSettings = field(default_factory=SessionSettings)
    policy: PolicySet = field(default_factory=PolicySet)
    source: Path | None = None  # the file it came from; None for the embedded default
    emulated: bool = False
    events: EventSettings = field(default_factory=EventSettings)


# Emulated mode without a file: the embedded default (every action observed) plus one enforced action, so that
# ``app-integrity demo`` against ``make serve`` shows an enforced block next to observed decisions.
EMULATED_DEFAULT = """
[policy.actions.redeem]
mode = "enforce"
"""


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    emulated: bool = False,
) -> Settings:
    """Load ``path``, else the file named by ``APP_INTEGRITY_CONFIG``, else the embedded default.

    ``emulated=True`` (``serve --emulated``) refuses a file with ``[apple]`` or ``[android]``: emulated mode trusts
    its own devices and must never run with a real app's identity by accident.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    if path is None:
        return parse_config(EMULATED_DEFAULT if emulated else "", base_dir=Path.cwd(), environ=env, emulated=emulated)
    file = Path(path).expanduser().resolve()
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError("config.invalid", f"cannot read config file {file}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError("config.invalid", f"config file {file} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("config.invalid", f"config file {file} is not UTF-8") from exc
    return parse_config(text, base_dir=file.parent, environ=env, emulated=emulated, source=file)


def parse_config(
    text: str,
    *,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    emulated: bool = False,
    source: Path | None = None,
) -> Settings:
    """Parse config text; relative paths resolve against ``base_dir``."""
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config.invalid", f"not valid TOML: {exc}") from exc
    root = _Table(data, "", base_dir.resolve())

    if emulated:
        for section in ("apple", "android"):
            if section in data:
                raise ConfigError(
                    "config.invalid",
                    f"{section}: emulated mode uses its own app ids and test roots; "
                    f"remove [{section}] (or run without --emulated)",
                )

    server = _server(root.table("server"), env)
    storage = _storage(root.table("storage"), server.data_dir)
    challenges_table = root.table("challenges")
    challenges = ChallengeSettings(ttl_seconds=challenges_table.integer("ttl_seconds", 300, minimum=1, maximum=86400))
    challenges_table.finish()
    apple = _apple(root.table("apple")) if "apple" in data else None
    android = _android(root.table("android"), env) if "android" in data else None
    sessions = _sessions(root.table("sessions"))
    policy = _policy(root.table("policy"))
    events = _events(root.table("events"))
    root.finish()
    return Settings(
        server=server,
        storage=storage,
        challenges=challenges,
        apple=apple,
        android=android,
        sessions=sessions,
        policy=policy,
        source=source,
        emulated=emulated,
        events=events,
    )


# --- sections ---


def _server(table: _Table, env: Mapping[str, str]) -> ServerSettings:
    data_dir = table.path("data_dir", DEFAULT_DATA_DIR, must_exist=False)
    assert data_dir is not None
    admin_env = table.env_name("admin_token_env", DEFAULT_ADMIN_ENV)
    verify_env = table.env_name("verify_token_env", None)
    verify_token = None
    if verify_env is not None:
        verify_token = env.get(verify_env) or None
        if verify_token is None:
            # Asking for a token and running without one would open /v1/verify silently.
            raise ConfigError(
                "config.invalid", f"server.verify_token_env: environment variable {verify_env} is not set"
            )
    settings = ServerSettings(
        data_dir=data_dir,
        host=table.string("host", "127.0.0.1"),
        port=table.integer("port", 8000, minimum=0, maximum=65535),
        max_body_bytes=table.integer("max_body_bytes", 1 << 20, minimum=1, maximum=1 << 30),
        admin_token_env=admin_env or DEFAULT_ADMIN_ENV,
        admin_token=env.get(admin_env or DEFAULT_ADMIN_ENV) or None,
        verify_token_env=verify_env,
        verify_token=verify_token,
    )
    table.finish()
    return settings


def _events(table: _Table) -> EventSettings:
    settings = EventSettings(
        retention_days=table.integer("retention_days", 0, minimum=0, maximum=36500),
        prune_interval_seconds=table.integer("prune_interval_seconds", 3600, minimum=60, maximum=7 * 86400),
    )
    table.finish()
    return settings


def _storage(table: _Table, data_dir: Path) -> StorageSettings:
    url = table.string("url", f"sqlite:///{data_dir / DEFAULT_DATABASE}")
    scheme = urlsplit(url).scheme
    if scheme.split("+")[0] not in ("sqlite", "postgresql", "postgres", "memory"):
        raise ConfigError("config.invalid", f"storage.url: scheme {scheme!r} is not sqlite, postgresql or memory")
    if scheme.startswith("sqlite"):
        url = _absolute_sqlite_url(url, table.base_dir, "storage.url")
    redis_url = table.string("redis_url", None)
    if redis_url is not None and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("config.invalid", "storage.redis_url: must be a redis://, rediss:// or unix:// URL")
    table.finish()
    return StorageSettings(url=url, redis_url=redis_url)


def _absolute_sqlite_url(url: str, base_dir: Path, key: str) -> str:
    # SQLAlchemy: sqlite:///relative/path, sqlite:////absolute/path, sqlite:// (memory).
    prefix, sep, rest = url.partition(":///")
    if not sep:
        if url.rstrip("/").endswith(":"):
            return url  # in memory
        raise ConfigError("config.invalid", f"{key}: a sqlite URL is sqlite:///path/to/file.db")
    database, query_sep, query = rest.partition("?")
    if database in ("", ":memory:") or database.startswith("/"):
        return url
    return f"{prefix}:///{(base_dir / database).resolve()}{query_sep}{query}"


def _apple(table: _Table) -> AppleSettings:
    team_id = table.string("team_id", required=True)
    if not _TEAM_ID.fullmatch(team_id):
        raise ConfigError("config.invalid", "apple.team_id: must be 10 upper-case letters or digits")
    bundle_ids = table.string_list("bundle_ids", required=True)
    if not bundle_ids:
        raise ConfigError("config.invalid", "apple.bundle_ids: name at least one bundle id")
    for bundle in bundle_ids:
        if not _BUNDLE_ID.fullmatch(bundle):
            raise ConfigError("config.invalid", f"apple.bundle_ids: {bundle!r} is not a bundle id")
    trust_roots = table.paths("trust_roots")
    if trust_roots:
        logger.warning(
            "apple.trust_roots is set: Apple's App Attest and receipt roots are REPLACED by %s "
            "(staging and tests only; never in production)",
            ", ".join(str(p) for p in trust_roots),
        )
    settings = AppleSettings(
        team_id=team_id,
        bundle_ids=tuple(bundle_ids),
        allow_development=table.boolean("allow_development", False),
        trust_roots=trust_roots,
    )
    table.finish()
    return settings


def _android(table: _Table, env: Mapping[str, str]) -> AndroidSettings:
    package = table.string("package_name", required=True)
    if not _PACKAGE.fullmatch(package):
        raise ConfigError("config.invalid", f"android.package_name: {package!r} is not an Android package name")
    digests = table.string_list("certificate_sha256", required=True)
    if not digests:
        raise ConfigError("config.invalid", "android.certificate_sha256: name at least one signing certificate digest")
    parsed: list[bytes] = []
    for digest in digests:
        try:
            parsed.append(parse_certificate_digest(digest))
        except ConfigError as exc:
            raise ConfigError("config.invalid", f"android.certificate_sha256: {exc.message}") from exc
    min_version = table.integer("min_version_code", None, minimum=0)
    app = AndroidApp(
        package,
        tuple(parsed),
        min_version_code=min_version,
        require_licensed=table.boolean("require_licensed", True),
        allow_unrecognized_version=table.boolean("allow_unrecognized_version", False),
        allow_testing_responses=table.boolean("allow_testing_responses", False),
    )

    decoder_name = table.choice("decoder", Decoder, Decoder.GOOGLE)
    service_account = table.path("service_account_file", None)
    endpoint = table.string("google_endpoint", None)
    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("config.invalid", "android.google_endpoint: must be an http(s) URL")
        logger.warning(
            "android.google_endpoint is set: Play Integrity tokens are decoded by %s, NOT by Google "
            "(staging and tests only; never in production)",
            endpoint,
        )
    decryption_env = table.env_name("decryption_key_env", None)
    verification_env = table.env_name("verification_key_env", None)
    decryption_key = verification_key = None
    if decoder_name is Decoder.LOCAL:
        decryption_key = _secret(env, decryption_env, "android.decryption_key_env", 'decoder = "local"')
        verification_key = _secret(env, verification_env, "android.verification_key_env", 'decoder = "local"')
    trust_roots = table.paths("key_attestation_trust_roots")
    if trust_roots:
        logger.warning(
            "android.key_attestation_trust_roots is set: Google's key attestation roots are REPLACED by %s "
            "(staging and tests only; never in production)",
            ", ".join(str(p) for p in trust_roots),
        )
    settings = AndroidSettings(
        app=app,
        decoder=decoder_name,
        service_account_file=service_account,
        google_endpoint=endpoint,
        decryption_key_env=decryption_env,
        decryption_key=decryption_key,
        verification_key_env=verification_env,
        verification_key=verification_key,
        max_token_age_seconds=table.integer("max_token_age_seconds", 300, minimum=1, maximum=86400),
        key_attestation_trust_roots=trust_roots,
        key_attestation=_key_attestation(table.table("key_attestation")),
    )
    table.finish()
    return settings


def _secret(env: Mapping[str, str], name: str | None, key: str, because: str) -> str:
    if name is None:
        raise ConfigError("config.invalid", f"{key}: required with {because}")
    value = env.get(name)
    if not value:
        raise ConfigError("config.invalid", f"{key}: environment variable {name} is not set")
    return value


def _key_attestation(table: _Table) -> KeyAttestationSettings:
    boot_keys: list[bytes] = []
    for value in table.string_list("allowed_verified_boot_keys"):
        try:
            boot_keys.append(parse_certificate_digest(value))
        except ConfigError as exc:
            raise ConfigError(
                "config.invalid",
                f"{table.key('allowed_verified_boot_keys')}: {value[:16]!r}... is not a SHA-256 digest",
            ) from exc
    patch_text = table.string("min_os_patch_level", None)
    patch_level = None
    if patch_text is not None:
        match = _PATCH_LEVEL.fullmatch(patch_text)
        if not match or not 1 <= int(match[2]) <= 12:
            raise ConfigError("config.invalid", f'{table.key("min_os_patch_level")}: write it as "YYYY-MM"')
        patch_level = int(match[1]) * 100 + int(match[2])
    revocation_url = table.string("revocation_url", GOOGLE_REVOCATION_URL)
    if urlsplit(revocation_url).scheme not in ("http", "https"):
        raise ConfigError("config.invalid", f"{table.key('revocation_url')}: must be an http(s) URL")
    if revocation_url != GOOGLE_REVOCATION_URL:
        logger.warning("android.key_attestation.revocation_url is set: revocations are read from %s", revocation_url)
    settings = KeyAttestationSettings(
        min_security_level=table.choice("min_security_level", SecurityLevel, SecurityLevel.TEE),
        allowed_verified_boot_keys=tuple(boot_keys),
        min_os_patch_level=patch_level,
        allow_unlocked_bootloader=table.boolean("allow_unlocked_bootloader", False),
        allow_expired_factory_intermediates=table.boolean("allow_expired_factory_intermediates", True),
        revocation_url=revocation_url,
        revocation_fail_open=table.boolean("revocation_fail_open", False),
    )
    table.finish()
    return settings


def _sessions(table: _Table) -> SessionSettings:
    settings = SessionSettings(
        ttl_seconds=table.integer("ttl_seconds", 3600, minimum=1, maximum=31 * 24 * 3600),
        single_use=table.boolean("single_use", False),
        issuer=table.string("issuer", "app-integrity"),
        key_rotation_seconds=table.integer("key_rotation_seconds", 7 * 24 * 3600, minimum=60),
    )
    if not settings.issuer:
        raise ConfigError("config.invalid", "sessions.issuer: must not be empty")
    table.finish()
    return settings


_POLICY_KEYS = ("mode", "allow", "limit", "require", "on_unavailable")


def _policy(table: _Table) -> PolicySet:
    default = _action_policy(table.table("default"), ActionPolicy())
    actions_table = table.table("actions")
    actions: dict[str, ActionPolicy] = {}
    for name in list(actions_table.data):
        if not _ACTION.fullmatch(name):
            raise ConfigError(
                "config.invalid", f"policy.actions.{name}: an action name is 1-64 letters, digits, '.', '_' or '-'"
            )
        actions[name] = _action_policy(actions_table.table(name), default)
    actions_table.finish()
    table.finish()
    return PolicySet(default=default, actions=actions)


def _action_policy(table: _Table, parent: ActionPolicy) -> ActionPolicy:
    """Keys set in ``table`` override ``parent``'s (``[policy.default]`` for actions, built-ins for the default)."""
    changes: dict[str, Any] = {}
    if "mode" in table.data:
        changes["mode"] = table.choice("mode", Mode, parent.mode)
    if "allow" in table.data:
        changes["allow"] = table.tier_rule("allow", parent.allow)
    if "limit" in table.data:
        changes["limit"] = table.tier_rule("limit", parent.limit)
    if "require" in table.data:
        names = table.string_list("require")
        signals = set()
        for name in names:
            try:
                signals.add(Signal(name))
            except ValueError as exc:
                allowed = ", ".join(s.value for s in Signal)
                raise ConfigError(
                    "config.invalid", f"{table.key('require')}: {name!r} is not a signal ({allowed})"
                ) from exc
        changes["require"] = frozenset(signals)
    if "on_unavailable" in table.data:
        changes["on_unavailable"] = table.choice("on_unavailable", Outcome, parent.on_unavailable)
    table.finish()
    allow: TierRule = changes.get("allow", parent.allow)
    limit: TierRule = changes.get("limit", parent.limit)
    for (platform, allow_tier), (_, limit_tier) in zip(allow.items(), limit.items(), strict=True):
        if limit_tier.rank > allow_tier.rank:
            culprit = "limit" if "limit" in changes or "allow" not in changes else "allow"
            raise ConfigError(
                "config.invalid",
                f"{table.key(culprit)}: limit {limit_tier.value!r} is above allow {allow_tier.value!r} "
                f"for {platform.value} (inherited values included)",
            )
    return replace(parent, **changes)


# --- typed reading with key names ---


class _Table:
    """One TOML table: typed getters that name the full key in every error, and a check for unknown keys."""

    def __init__(self, data: Any, prefix: str, base_dir: Path) -> None:
        if not isinstance(data, dict):
            raise ConfigError("config.invalid", f"{prefix}: must be a table")
        self.data: dict[str, Any] = data
        self.prefix = prefix
        self.base_dir = base_dir
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def _get(self, name: str, required: bool) -> Any:
        self.used.add(name)
        if name not in self.data:
            if required:
                raise ConfigError("config.invalid", f"{self.key(name)}: required")
            return None
        return self.data[name]

    def table(self, name: str) -> _Table:
        value = self._get(name, False)
        return _Table({} if value is None else value, self.key(name), self.base_dir)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigError("config.invalid", f"{self.key(unknown[0])}: unknown key")

    def string(self, name: str, default: Any = None, *, required: bool = False) -> Any:
        value = self._get(name, required)
        if value is None:
            return default
        if not isinstance(value, str):
            raise ConfigError("config.invalid", f"{self.key(name)}: must be a string")
        return value

    def integer(self, name: str, default: Any, *, minimum: int | None = None, maximum: int | None = None) -> Any:
        value = self._get(name, False)
        if value is None:
            return default
        if type(value) is not int:  # TOML booleans are ints to Python
            raise ConfigError("config.invalid", f"{self.key(name)}: must be an integer")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ConfigError("config.invalid", f"{self.key(name)}: must be between {minimum} and {maximum}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError("config.invalid", f"{self.key(name)}: must be true or false")
        return value

    def string_list(self, name: str, *, required: bool = False) -> list[str]:
        value = self._get(name, required)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError("config.invalid", f"{self.key(name)}: must be a list of strings")
        return list(value)

    def choice(self, name: str, enum: Any, default: Any) -> Any:
        value = self.string(name, None)
        if value is None:
            return default
        try:
            return enum(value)
        except ValueError as exc:
            allowed = " | ".join(member.value for member in enum)
            raise ConfigError("config.invalid", f"{self.key(name)}: {value!r} is not one of {allowed}") from exc

    def env_name(self, name: str, default: str | None) -> str | None:
        value: str | None = self.string(name, default)
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ConfigError("config.invalid", f"{self.key(name)}: {value!r} is not an environment variable name")
        return value

    def path(self, name: str, default: str | None, *, must_exist: bool = True) -> Path | None:
        value = self.string(name, None)
        if value is None:
            return None if default is None else (self.base_dir / default).resolve()
        if not value:
            raise ConfigError("config.invalid", f"{self.key(name)}: must not be empty")
        return self._resolve(name, value, must_exist)

    def paths(self, name: str) -> tuple[Path, ...]:
        return tuple(self._resolve(name, value, True) for value in self.string_list(name))

    def _resolve(self, name: str, value: str, must_exist: bool) -> Path:
        try:
            path = (self.base_dir / Path(value).expanduser()).resolve()
        except (RuntimeError, ValueError, OSError) as exc:  # "~nobody" (no such user), a NUL byte, a symlink loop
            raise ConfigError("config.invalid", f"{self.key(name)}: not a usable path ({exc})") from None
        if must_exist and not path.is_file():
            raise ConfigError("config.invalid", f"{self.key(name)}: file {path} does not exist")
        return path

    def tier_rule(self, name: str, parent: TierRule) -> TierRule:
        value = self._get(name, False)
        if isinstance(value, str):
            return TierRule.uniform(self._tier(name, value))
        if isinstance(value, dict):
            tiers = {Platform.IOS: parent.ios, Platform.ANDROID: parent.android}
            for platform_name, tier_name in value.items():
                try:
                    platform = Platform(platform_name)
                except ValueError as exc:
                    raise ConfigError(
                        "config.invalid", f"{self.key(name)}.{platform_name}: unknown platform (ios | android)"
                    ) from exc
                if not isinstance(tier_name, str):
                    raise ConfigError("config.invalid", f"{self.key(name)}.{platform_name}: must be a tier name")
                tiers[platform] = self._tier(f"{name}.{platform_name}", tier_name)
            return TierRule(ios=tiers[Platform.IOS], android=tiers[Platform.ANDROID])
        raise ConfigError(
            "config.invalid",
            f'{self.key(name)}: must be a tier or a table such as {{ios = "strong", android = "device"}}',
        )

    def _tier(self, name: str, value: str) -> Tier:
        try:
            return Tier(value)
        except ValueError as exc:
            raise ConfigError(
                "config.invalid", f"{self.key(name)}: {value!r} is not a tier (strong | device | basic | none)"
            ) from exc
