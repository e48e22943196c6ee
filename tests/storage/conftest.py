"""Backends for the shared storage suite: every test taking ``store`` runs on each of them.

- ``memory``: the in-process store;
- ``sqlite``: a database file in the test's tmp folder;
- ``postgresql``: database ``test`` on 127.0.0.1, in a schema of its own per test (dropped afterwards), so
  parallel runs never meet;
- ``redis``: challenges and session ids in Redis under a per-test key prefix, the rest in SQLite.

PostgreSQL and Redis tests skip when the server is down, and fail instead under APP_INTEGRITY_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import psycopg
import pytest
import redis
from psycopg import sql

from app_integrity.storage import open_store
from app_integrity.storage.base import Store
from tests.conftest import services_required

PG_HOST = os.environ.get("APP_INTEGRITY_TEST_PG_HOST", "127.0.0.1")
PG_DSN = f"host={PG_HOST} port=5432 dbname=test user=postgres connect_timeout=3"
PG_URL = f"postgresql://postgres@{PG_HOST}:5432/test"
REDIS_URL = os.environ.get("APP_INTEGRITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

SQL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
ALL_BACKENDS = [
    "memory",
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]
SHARED_BACKENDS = [  # the ones several processes can share
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


def _unreachable(name: str, error: Exception) -> NoReturn:
    message = f"{name} is not reachable ({type(error).__name__}: {error})"
    if services_required():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        admin = psycopg.connect(PG_DSN, autocommit=True)
    except psycopg.OperationalError as error:
        _unreachable("PostgreSQL", error)
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield f"{PG_URL}?options={quote(f'-csearch_path={schema}', safe='')}"
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A per-test key prefix; its keys are deleted afterwards."""
    prefix = f"app-integrity-test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        _unreachable("Redis", error)
    with client:
        yield prefix
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


StoreFactory = Callable[[], Store]


@pytest.fixture
def open_backend(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    """Opens a new store on the test's backend; every store it opens shares the same data (except memory)."""
    if backend == "memory":
        return lambda: open_store("memory://")
    if backend == "sqlite":
        return lambda: open_store("sqlite:///integrity.db", base_dir=tmp_path)
    if backend == "postgresql":
        url: str = request.getfixturevalue("pg_schema_url")
        return lambda: open_store(url)
    prefix: str = request.getfixturevalue("redis_prefix")
    return lambda: open_store("sqlite:///integrity.db", base_dir=tmp_path, redis_url=REDIS_URL, redis_prefix=prefix)


@pytest.fixture
async def store(open_backend: StoreFactory) -> AsyncIterator[Store]:
    opened = open_backend()
    await opened.migrate()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def now() -> datetime:
    """The wall clock: Redis expires keys on its own clock, so the suite's times must agree with it."""
    return datetime.now(UTC)
