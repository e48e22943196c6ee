"""``open_store``: a storage URL (and optionally a Redis URL) to a ready ``Store``.

- ``sqlite:///relative/file.db`` (relative to ``base_dir``) or ``sqlite:////absolute/file.db``: SQLite, the default;
- ``postgresql://user@host:5432/db`` (``postgres://`` and ``postgresql+psycopg://`` too): PostgreSQL via psycopg;
  query parameters go to libpq, e.g. ``?sslmode=require`` or ``?options=-csearch_path%3Dintegrity``;
- ``memory://``: in-process, nothing persists (tests, emulated quick start).

With ``redis_url``, challenges and single-use session ids go to Redis; keys, session keys and events stay in SQL.
"""

from __future__ import annotations

from pathlib import Path

from app_integrity.errors import ConfigError
from app_integrity.storage.base import ChallengeStore, Store
from app_integrity.storage.memory import MemoryStore
from app_integrity.storage.split import SplitStore

_POSTGRES_SCHEMES = {"postgresql", "postgres"}
_POSTGRES_DRIVERS = {None, "psycopg"}
_SQLITE_DRIVERS = {None, "aiosqlite", "pysqlite"}


def open_store(
    url: str,
    *,
    redis_url: str | None = None,
    base_dir: Path | str | None = None,
    redis_prefix: str | None = None,
) -> Store:
    """Build the store for ``[storage] url`` (and ``redis_url``); call ``await store.migrate()`` before use.

    Nothing connects here: the first operation does, and a backend that is down answers ``storage.unavailable``.
    A URL that names no supported backend raises ``config.invalid`` (the message never repeats the URL, which may
    hold a password).
    """
    main = _open_main(url, base_dir=Path.cwd() if base_dir is None else Path(base_dir))
    if redis_url is None:
        return main
    return SplitStore(main, _open_redis(redis_url, prefix=redis_prefix))


_NEEDS_SERVER = "[storage] url: SQL storage needs `pip install app-integrity[server]`"


def _open_main(url: str, *, base_dir: Path) -> Store:
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryStore()
    try:
        from sqlalchemy.engine import URL, make_url
        from sqlalchemy.exc import ArgumentError

        from app_integrity.storage.sql import SQLStore
    except ImportError:
        raise ConfigError("config.invalid", _NEEDS_SERVER) from None
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("config.invalid", "[storage] url is not a database URL") from None
    backend, driver = parsed.get_backend_name(), parsed.drivername.partition("+")[2] or None
    if backend == "sqlite" and driver in _SQLITE_DRIVERS:
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file:"):
            raise ConfigError("config.invalid", "[storage] url: SQLite needs a file path (memory:// keeps nothing)")
        path = Path(database).expanduser()
        path = path if path.is_absolute() else base_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLStore(URL.create("sqlite", database=str(path)))
    if backend in _POSTGRES_SCHEMES and driver in _POSTGRES_DRIVERS:
        try:
            return SQLStore(parsed.set(drivername="postgresql+psycopg"))
        except ImportError:
            raise ConfigError("config.invalid", "[storage] url: PostgreSQL needs app-integrity[postgres]") from None
    raise ConfigError("config.invalid", "[storage] url must start with sqlite:///, postgresql:// or memory://")


def _open_redis(url: str, *, prefix: str | None) -> ChallengeStore:
    try:
        from app_integrity.storage.redis import DEFAULT_PREFIX, RedisChallengeStore
    except ImportError:
        raise ConfigError("config.invalid", "[storage] redis_url needs `pip install app-integrity[redis]`") from None
    if not url.lower().startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("config.invalid", "[storage] redis_url must start with redis://, rediss:// or unix://")
    try:
        return RedisChallengeStore(url, prefix=DEFAULT_PREFIX if prefix is None else prefix)
    except ValueError:
        raise ConfigError("config.invalid", "[storage] redis_url is not a valid Redis URL") from None
