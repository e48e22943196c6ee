"""The SQL backend (SQLAlchemy Core): SQLite (the default) and PostgreSQL.

Every operation is one statement, hence one round trip on PostgreSQL. The combined challenge + counter step is one
transaction: on PostgreSQL a call of the function migration 0002 installs (still one round trip), on SQLite one
call that runs the whole transaction. How each operation reaches the database (threads, async driver) is
``_runners``' business.

The statements of a gated request (read the key, issue and consume challenges, advance the counter, record the
event) skip SQLAlchemy's execution pipeline and go to the driver: ``_sqlite_driver`` (with group commit) and
``_postgres_driver``. Everything else (registration, the admin pages, the dashboard, retention) stays on
SQLAlchemy Core.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection

from app_integrity.errors import InputError, KeyRegistryError
from app_integrity.storage import _postgres_driver, _sqlite_driver
from app_integrity.storage._checks import check_event_filters, check_limit, require_aware
from app_integrity.storage._key_rows import key_from_row
from app_integrity.storage._runners import PostgresRunner, Runner, SQLiteRunner
from app_integrity.storage.base import (
    ChallengeRecord,
    CounterUpdate,
    EventRecord,
    KeyKind,
    KeyRecord,
    KeyStatus,
    SessionKeyRecord,
)
from app_integrity.storage.schema import UTCDateTime, challenges, events, keys, session_keys, used_session_ids

T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Serialises concurrent `migrate()` calls from several processes on one PostgreSQL database.
_MIGRATION_LOCK_ID = 0x41495F4D4947  # "AI_MIG"
# Alembic keeps the running migration in module globals: one migration at a time in this process.
_MIGRATION_THREAD_LOCK = threading.Lock()

# Statements are built once: SQLAlchemy caches their compiled form, psycopg prepares them after a few uses.
_INSERT_KEY = sa.insert(keys)
# Revoking keeps the record (the admin list shows it) and stops every later counter update.
_REVOKE = sa.update(keys).where(keys.c.key_id == sa.bindparam("b_key_id")).values(status=KeyStatus.REVOKED.value)
_LATEST_ANDROID = (
    sa.select(keys)
    .where(
        keys.c.subject == sa.bindparam("b_subject"),
        keys.c.kind == KeyKind.ANDROID.value,
        keys.c.status == KeyStatus.ACTIVE.value,
    )
    .order_by(keys.c.created_at.desc(), keys.c.key_id.desc())
    .limit(1)
)
_CONSUME_CHALLENGE = (
    sa.delete(challenges)
    .where(challenges.c.value == sa.bindparam("b_value"))
    .returning(challenges.c.expires_at, challenges.c.subject, challenges.c.purpose)
)
_PURGE_CHALLENGES = sa.delete(challenges).where(challenges.c.expires_at < sa.bindparam("b_now", type_=UTCDateTime()))
_PURGE_SESSION_IDS = sa.delete(used_session_ids).where(
    used_session_ids.c.expires_at < sa.bindparam("b_now", type_=UTCDateTime())
)
_SESSION_KEYS = sa.select(session_keys).order_by(session_keys.c.created_at, session_keys.c.kid)
_INSERT_SESSION_KEY = sa.insert(session_keys)
_DELETE_SESSION_KEYS = sa.delete(session_keys).where(
    session_keys.c.retires_at < sa.bindparam("b_when", type_=UTCDateTime())
)
# Single use: the first INSERT wins, later ones conflict and insert nothing.
_USE_SESSION_ID = {
    "sqlite": sqlite_insert(used_session_ids)
    .on_conflict_do_nothing(index_elements=["jti"])
    .returning(used_session_ids.c.jti),
    "postgresql": postgresql_insert(used_session_ids)
    .on_conflict_do_nothing(index_elements=["jti"])
    .returning(used_session_ids.c.jti),
}


def _key_values(record: KeyRecord) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "kind": record.kind.value,
        "public_key": record.public_key,
        "environment": record.environment,
        "counter": record.counter,
        "receipt": record.receipt,
        "subject": record.subject,
        "status": record.status.value,
        "created_at": record.created_at,
        "last_seen_at": record.last_seen_at,
        "tier": record.tier,
        "summary": record.summary,
    }


def _event_from_row(row: Any) -> EventRecord:
    return EventRecord(
        at=row.at,
        action=row.action,
        platform=row.platform,
        outcome=row.outcome,
        tier=row.tier,
        reasons=tuple(row.reasons or ()),
        enforced=bool(row.enforced),
        latency_ms=float(row.latency_ms),
        key_id=None if row.key_id is None else bytes(row.key_id),
        subject=row.subject,
        request_id=row.request_id,
        device_verdict=row.device_verdict,
        play_protect=row.play_protect,
    )


class SQLStore:
    """The whole ``Store`` on one SQL database. Build it with ``open_store``."""

    def __init__(self, url: URL) -> None:
        self._dialect = url.get_backend_name()
        # On SQLite the gated request's statements go to the driver directly (see ``_sqlite_driver``).
        # On PostgreSQL they go to psycopg directly (``_postgres_driver``).
        self._sqlite: SQLiteRunner | None = None
        self._postgres: PostgresRunner | None = None
        self._run: Runner
        if self._dialect == "sqlite":
            self._run = self._sqlite = SQLiteRunner(url)
        else:
            self._run = self._postgres = PostgresRunner(url)

    @property
    def dialect(self) -> str:
        return self._dialect

    # --- lifecycle ---

    async def migrate(self) -> None:
        try:
            await asyncio.to_thread(self._migrate_sync)
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError) as error:
            raise self._run.unavailable(error) from None

    def _migrate_sync(self) -> None:
        engine = self._run.sync_engine()
        try:
            with _MIGRATION_THREAD_LOCK, engine.connect() as connection:
                if self._dialect == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")  # other processes wait for the write lock
                else:
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
        finally:
            engine.dispose()

    async def ping(self) -> None:
        await self._run.read(_ping)

    async def close(self) -> None:
        await self._run.close()

    async def _postgres_call(self, operation: Callable[..., Awaitable[T]], *args: Any) -> T:
        assert self._postgres is not None  # not SQLite, hence PostgreSQL
        return await self._postgres.driver(operation, *args)

    # --- keys ---

    async def insert_key(self, record: KeyRecord) -> None:
        require_aware(record.created_at, record.last_seen_at)
        if not await self._run.write(_insert_unique, _INSERT_KEY, _key_values(record)):
            raise KeyRegistryError("key.already_registered", "a key with this id is already registered")

    async def get_key(self, key_id: bytes) -> KeyRecord | None:
        if self._sqlite is not None:
            return await self._sqlite.read_driver(_sqlite_driver.get_key, key_id)
        return await self._postgres_call(_postgres_driver.get_key, key_id)

    async def list_keys(self, *, subject: str | None = None, limit: int = 1000) -> list[KeyRecord]:
        check_limit(limit)
        query = sa.select(keys).order_by(keys.c.created_at, keys.c.key_id).limit(limit)
        if subject is not None:
            query = query.where(keys.c.subject == subject)
        return [key_from_row(row) for row in await self._run.scan(_all, query, None)]

    async def revoke_key(self, key_id: bytes, now: datetime) -> bool:
        # `now` is part of the interface for backends that timestamp revocations; this schema has no column for it.
        require_aware(now)
        return await self._run.write(_count, _REVOKE, {"b_key_id": key_id}) == 1

    async def advance_counter(self, key_id: bytes, new_counter: int, now: datetime) -> CounterUpdate:
        require_aware(now)
        if self._sqlite is not None:
            return await self._sqlite.write_driver(_sqlite_driver.advance, key_id, new_counter, now)
        return await self._postgres_call(_postgres_driver.advance, key_id, new_counter, now)

    async def consume_challenge_and_advance_counter(
        self, value: str, key_id: bytes, new_counter: int, now: datetime
    ) -> tuple[ChallengeRecord | None, CounterUpdate]:
        require_aware(now)
        if self._sqlite is not None:
            return await self._sqlite.write_driver(
                _sqlite_driver.consume_and_advance, value, key_id, new_counter, now, several_statements=True
            )
        # One statement calling the migration's server-side function: one round trip (see v0002).
        return await self._postgres_call(_postgres_driver.consume_and_advance, value, key_id, new_counter, now)

    async def latest_android_key(self, subject: str) -> KeyRecord | None:
        row = await self._run.read(_first, _LATEST_ANDROID, {"b_subject": subject})
        return None if row is None else key_from_row(row)

    # --- challenges and single-use session ids ---

    async def put_challenge(self, record: ChallengeRecord) -> None:
        require_aware(record.expires_at)
        if self._sqlite is not None:
            issued = await self._sqlite.write_driver(_sqlite_driver.put_challenge, record)
        else:
            issued = await self._postgres_call(_postgres_driver.put_challenge, record)
        if not issued:
            raise InputError("input.invalid_argument", "this challenge value was already issued")

    async def consume_challenge(self, value: str) -> ChallengeRecord | None:
        row = await self._run.write(_first_committed, _CONSUME_CHALLENGE, {"b_value": value})
        return None if row is None else _challenge_from_row(value, row)

    async def consume_session_id(self, jti: str, expires_at: datetime) -> bool:
        require_aware(expires_at)
        params = {"jti": jti, "expires_at": expires_at}
        return await self._run.write(_first_committed, _USE_SESSION_ID[self._dialect], params) is not None

    async def purge_expired(self, now: datetime) -> int:
        require_aware(now)
        return await self._run.transaction(_purge, now)

    # --- session signing keys ---

    async def session_keys(self) -> list[SessionKeyRecord]:
        return [
            SessionKeyRecord(
                kid=row.kid, private_jwk=row.private_jwk, created_at=row.created_at, retires_at=row.retires_at
            )
            for row in await self._run.scan(_all, _SESSION_KEYS, None)
        ]

    async def add_session_key(self, record: SessionKeyRecord) -> None:
        require_aware(record.created_at, record.retires_at)
        values = {
            "kid": record.kid,
            "private_jwk": record.private_jwk,
            "created_at": record.created_at,
            "retires_at": record.retires_at,
        }
        if not await self._run.write(_insert_unique, _INSERT_SESSION_KEY, values):
            raise InputError("input.invalid_argument", "a session key with this kid already exists")

    async def delete_session_keys_retired_before(self, when: datetime) -> int:
        require_aware(when)
        return await self._run.write(_count, _DELETE_SESSION_KEYS, {"b_when": when})

    # --- events ---

    async def record_event(self, event: EventRecord) -> None:
        require_aware(event.at)
        if self._sqlite is not None:
            await self._sqlite.write_driver(_sqlite_driver.insert_event, event)
        else:
            await self._postgres_call(_postgres_driver.insert_event, event)

    async def query(self, operation: Callable[..., T], *args: Any) -> T:
        """Run a read-only operation (a function of a ``Connection``) that may scan many rows: the dashboard's
        aggregates (``app_integrity.storage.insights``)."""
        return await self._run.scan(operation, *args)

    async def execute_write(self, operation: Callable[..., T], *args: Any) -> T:
        """Run a writing operation that commits itself (bulk inserts, retention deletes)."""
        return await self._run.write(operation, *args)

    async def transaction(self, operation: Callable[..., T], *args: Any) -> T:
        """Run an operation of several statements that commit or roll back together (it ends the transaction
        itself): the dashboard's rollups (``app_integrity.storage.rollups``)."""
        return await self._run.transaction(operation, *args)

    async def list_events(self, *, limit: int = 100, **filters: Any) -> list[EventRecord]:
        check_event_filters(filters, limit)
        query = sa.select(events).order_by(events.c.at.desc(), events.c.id.desc()).limit(limit)
        for name, value in filters.items():
            if name == "since":
                query = query.where(events.c.at >= value)
            elif name == "until":
                query = query.where(events.c.at < value)
            elif value is None:
                query = query.where(events.c[name].is_(None))
            else:
                query = query.where(events.c[name] == value)
        return [_event_from_row(row) for row in await self._run.scan(_all, query, None)]


# --- operations: plain functions of a connection, run by the runner (see _runners) ---


def _ping(conn: Connection) -> None:
    conn.execute(sa.select(sa.literal(1))).all()


def _first(conn: Connection, statement: sa.Executable, params: dict[str, Any]) -> Any:
    return conn.execute(statement, params).first()


def _all(conn: Connection, statement: sa.Executable, params: dict[str, Any] | None) -> list[Any]:
    return list(conn.execute(statement, params).all())


def _first_committed(conn: Connection, statement: sa.Executable, params: dict[str, Any]) -> Any:
    row = conn.execute(statement, params).first()
    conn.commit()
    return row


def _count(conn: Connection, statement: sa.Executable, params: dict[str, Any]) -> int:
    count = conn.execute(statement, params).rowcount
    conn.commit()
    return count


def _insert_unique(conn: Connection, statement: sa.Executable, params: dict[str, Any]) -> bool:
    """``False`` when the primary key already exists."""
    try:
        conn.execute(statement, params)
    except sa_exc.IntegrityError:
        conn.rollback()
        return False
    conn.commit()
    return True


def _purge(conn: Connection, now: datetime) -> int:
    purged = conn.execute(_PURGE_CHALLENGES, {"b_now": now}).rowcount
    purged += conn.execute(_PURGE_SESSION_IDS, {"b_now": now}).rowcount
    conn.commit()
    return purged


def _challenge_from_row(value: str, row: Any) -> ChallengeRecord:
    return ChallengeRecord(value=value, expires_at=row.expires_at, subject=row.subject, purpose=row.purpose)


def _event_values(record: EventRecord) -> dict[str, Any]:
    return {
        "at": record.at,
        "action": record.action,
        "platform": record.platform,
        "outcome": record.outcome,
        "tier": record.tier,
        "reasons": list(record.reasons),
        "enforced": record.enforced,
        "latency_ms": record.latency_ms,
        "key_id": record.key_id,
        "subject": record.subject,
        "request_id": record.request_id,
        "device_verdict": record.device_verdict,
        "play_protect": record.play_protect,
    }
