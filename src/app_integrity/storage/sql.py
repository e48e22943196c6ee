"""The SQL backend (SQLAlchemy Core, async): SQLite through aiosqlite, PostgreSQL through psycopg.

Every operation is one statement, hence one round trip, except the combined challenge + counter step, which is
one transaction. Single statements run in autocommit (PostgreSQL ``AUTOCOMMIT``; SQLite without ``BEGIN``): a
statement is atomic on its own and skipping ``BEGIN``/``COMMIT`` saves two round trips per call.

SQLite allows one writer at a time. Writers inside this process queue on an asyncio lock instead of SQLite's
busy handler (which sleeps in steps of up to 100 ms); ``busy_timeout`` still arbitrates between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app_integrity.errors import InputError, KeyRegistryError, UnavailableError
from app_integrity.storage._checks import check_event_filters, check_limit, require_aware
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

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_SECONDS = 5
# Serialises concurrent `migrate()` calls from several workers on one PostgreSQL database.
_MIGRATION_LOCK_ID = 0x41495F4D4947  # "AI_MIG"
_BEGIN_OPTION = "app_integrity_begin"

# Statements are built once: SQLAlchemy caches their compiled form, psycopg prepares them after a few uses.
_GET_KEY = sa.select(keys).where(keys.c.key_id == sa.bindparam("b_key_id"))
_INSERT_KEY = sa.insert(keys)
_KEY_STATE = sa.select(keys.c.status).where(keys.c.key_id == sa.bindparam("b_key_id"))
_ADVANCE = (
    sa.update(keys)
    .where(
        keys.c.key_id == sa.bindparam("b_key_id"),
        keys.c.counter < sa.bindparam("b_counter", type_=sa.BigInteger()),
        keys.c.status == KeyStatus.ACTIVE.value,
    )
    .values(counter=sa.bindparam("b_counter"), last_seen_at=sa.bindparam("b_now", type_=UTCDateTime()))
)
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
_PUT_CHALLENGE = sa.insert(challenges)
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
_INSERT_EVENT = sa.insert(events)
# Single use: the first INSERT wins, later ones conflict and insert nothing.
_USE_SESSION_ID = {
    "sqlite": sqlite_insert(used_session_ids)
    .on_conflict_do_nothing(index_elements=["jti"])
    .returning(used_session_ids.c.jti),
    "postgresql": postgresql_insert(used_session_ids)
    .on_conflict_do_nothing(index_elements=["jti"])
    .returning(used_session_ids.c.jti),
}


def _key_from_row(row: Any) -> KeyRecord:
    return KeyRecord(
        key_id=bytes(row.key_id),
        kind=KeyKind(row.kind),
        public_key=bytes(row.public_key),
        created_at=row.created_at,
        environment=row.environment,
        counter=int(row.counter),
        receipt=None if row.receipt is None else bytes(row.receipt),
        subject=row.subject,
        status=KeyStatus(row.status),
        last_seen_at=row.last_seen_at,
        tier=row.tier,
        summary=dict(row.summary or {}),
    )


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
    )


def _safe_detail(error: BaseException, secret: str | None) -> str:
    """First line of a driver message, with the password (if any) blanked, so logs never carry it."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    if secret:
        text = text.replace(secret, "***")
    return f"{type(original).__name__}: {text[:200]}" if text else type(original).__name__


class SQLStore:
    """The whole ``Store`` on one SQL database. Build it with ``open_store`` or ``SQLStore(url)``."""

    def __init__(self, url: URL, *, pool_size: int = 10, max_overflow: int = 10) -> None:
        self._url = url
        self._dialect = url.get_backend_name()
        self._secret = url.password if isinstance(url.password, str) else None
        if self._dialect == "sqlite":
            self._label = f"SQLite database {url.database}"
            engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            )
            event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
            event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
            self._single = engine.execution_options(**{_BEGIN_OPTION: None})
            self._tx = engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
            self._write_lock: asyncio.Lock | None = asyncio.Lock()
        else:
            self._label = f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
            engine = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=max_overflow,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
            )
            self._single = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._tx = engine
            self._write_lock = None
        self._engine: AsyncEngine = engine

    @property
    def dialect(self) -> str:
        return self._dialect

    def _unavailable(self, error: BaseException) -> UnavailableError:
        return UnavailableError(
            "storage.unavailable", f"{self._label} did not answer ({_safe_detail(error, self._secret)})"
        )

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        """Map every backend failure to ``storage.unavailable``; integrity errors are the caller's to handle."""
        try:
            yield
        except sa_exc.IntegrityError:
            raise
        except (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.InterfaceError, OSError, TimeoutError) as error:
            raise self._unavailable(error) from None

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    async def _read(self, statement: sa.Executable, params: Mapping[str, Any] | None = None) -> list[Any]:
        async with self._guard(), self._single.connect() as conn:
            return list((await conn.execute(statement, params)).all())

    async def _write(self, statement: sa.Executable, params: Any = None) -> int:
        """Run one statement in autocommit; returns the row count."""
        async with self._guard(), self._writing(), self._single.connect() as conn:
            result = await conn.execute(statement, params)
            count = result.rowcount
            await conn.commit()
            return count

    # --- lifecycle ---

    async def migrate(self) -> None:
        # Alembic keeps the running migration in module globals: one migration at a time in this process.
        # Other processes wait on the database itself (SQLite's write lock, PostgreSQL's advisory lock).
        async with _migration_lock(), self._guard(), self._writing(), self._tx.connect() as conn:
            await conn.run_sync(self._upgrade)
            await conn.commit()

    def _upgrade(self, connection: Connection) -> None:
        if self._dialect == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async def ping(self) -> None:
        await self._read(sa.select(sa.literal(1)))

    async def close(self) -> None:
        await self._engine.dispose()

    # --- keys ---

    async def insert_key(self, record: KeyRecord) -> None:
        require_aware(record.created_at, record.last_seen_at)
        try:
            await self._write(_INSERT_KEY, _key_values(record))
        except sa_exc.IntegrityError:
            raise KeyRegistryError("key.already_registered", "a key with this id is already registered") from None

    async def get_key(self, key_id: bytes) -> KeyRecord | None:
        rows = await self._read(_GET_KEY, {"b_key_id": key_id})
        return _key_from_row(rows[0]) if rows else None

    async def list_keys(self, *, subject: str | None = None, limit: int = 1000) -> list[KeyRecord]:
        check_limit(limit)
        query = sa.select(keys).order_by(keys.c.created_at, keys.c.key_id).limit(limit)
        if subject is not None:
            query = query.where(keys.c.subject == subject)
        return [_key_from_row(row) for row in await self._read(query)]

    async def revoke_key(self, key_id: bytes, now: datetime) -> bool:
        # `now` is part of the interface for backends that timestamp revocations; this schema has no column for it.
        require_aware(now)
        return await self._write(_REVOKE, {"b_key_id": key_id}) == 1

    async def advance_counter(self, key_id: bytes, new_counter: int, now: datetime) -> CounterUpdate:
        require_aware(now)
        async with self._guard(), self._writing(), self._single.connect() as conn:
            result = await conn.execute(_ADVANCE, {"b_key_id": key_id, "b_counter": new_counter, "b_now": now})
            if result.rowcount == 1:
                await conn.commit()
                return CounterUpdate.ADVANCED
            return await _why_not_advanced(conn, key_id)

    async def consume_challenge_and_advance_counter(
        self, value: str, key_id: bytes, new_counter: int, now: datetime
    ) -> tuple[ChallengeRecord | None, CounterUpdate]:
        require_aware(now)
        async with self._guard(), self._writing(), self._tx.connect() as conn:
            row = (await conn.execute(_CONSUME_CHALLENGE, {"b_value": value})).first()
            if row is None:
                await conn.rollback()
                return None, CounterUpdate.SKIPPED
            record = ChallengeRecord(value=value, expires_at=row.expires_at, subject=row.subject, purpose=row.purpose)
            if record.expires_at <= now:
                # The expired challenge goes (it cannot be retried); the counter stays.
                await conn.commit()
                return record, CounterUpdate.SKIPPED
            result = await conn.execute(_ADVANCE, {"b_key_id": key_id, "b_counter": new_counter, "b_now": now})
            if result.rowcount == 1:
                await conn.commit()
                return record, CounterUpdate.ADVANCED
            # The counter lost: roll the challenge back too, so neither step happened.
            outcome = await _why_not_advanced(conn, key_id)
            await conn.rollback()
            return record, outcome

    async def latest_android_key(self, subject: str) -> KeyRecord | None:
        rows = await self._read(_LATEST_ANDROID, {"b_subject": subject})
        return _key_from_row(rows[0]) if rows else None

    # --- challenges and single-use session ids ---

    async def put_challenge(self, record: ChallengeRecord) -> None:
        require_aware(record.expires_at)
        values = {
            "value": record.value,
            "expires_at": record.expires_at,
            "subject": record.subject,
            "purpose": record.purpose,
        }
        try:
            await self._write(_PUT_CHALLENGE, values)
        except sa_exc.IntegrityError:
            raise InputError("input.invalid_argument", "this challenge value was already issued") from None

    async def consume_challenge(self, value: str) -> ChallengeRecord | None:
        async with self._guard(), self._writing(), self._single.connect() as conn:
            row = (await conn.execute(_CONSUME_CHALLENGE, {"b_value": value})).first()
            await conn.commit()
        if row is None:
            return None
        return ChallengeRecord(value=value, expires_at=row.expires_at, subject=row.subject, purpose=row.purpose)

    async def consume_session_id(self, jti: str, expires_at: datetime) -> bool:
        require_aware(expires_at)
        async with self._guard(), self._writing(), self._single.connect() as conn:
            row = (await conn.execute(_USE_SESSION_ID[self._dialect], {"jti": jti, "expires_at": expires_at})).first()
            await conn.commit()
        return row is not None

    async def purge_expired(self, now: datetime) -> int:
        require_aware(now)
        async with self._guard(), self._writing(), self._tx.connect() as conn:
            purged = (await conn.execute(_PURGE_CHALLENGES, {"b_now": now})).rowcount
            purged += (await conn.execute(_PURGE_SESSION_IDS, {"b_now": now})).rowcount
            await conn.commit()
            return purged

    # --- session signing keys ---

    async def session_keys(self) -> list[SessionKeyRecord]:
        return [
            SessionKeyRecord(
                kid=row.kid, private_jwk=row.private_jwk, created_at=row.created_at, retires_at=row.retires_at
            )
            for row in await self._read(_SESSION_KEYS)
        ]

    async def add_session_key(self, record: SessionKeyRecord) -> None:
        require_aware(record.created_at, record.retires_at)
        values = {
            "kid": record.kid,
            "private_jwk": record.private_jwk,
            "created_at": record.created_at,
            "retires_at": record.retires_at,
        }
        try:
            await self._write(_INSERT_SESSION_KEY, values)
        except sa_exc.IntegrityError:
            raise InputError("input.invalid_argument", "a session key with this kid already exists") from None

    async def delete_session_keys_retired_before(self, when: datetime) -> int:
        require_aware(when)
        return await self._write(_DELETE_SESSION_KEYS, {"b_when": when})

    # --- events ---

    async def record_event(self, event_record: EventRecord) -> None:
        require_aware(event_record.at)
        await self._write(_INSERT_EVENT, _event_values(event_record))

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
        return [_event_from_row(row) for row in await self._read(query)]


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
    }


_MIGRATION_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _migration_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _MIGRATION_LOCKS.get(loop)
    if lock is None:
        lock = _MIGRATION_LOCKS[loop] = asyncio.Lock()
    return lock


async def _why_not_advanced(conn: AsyncConnection, key_id: bytes) -> CounterUpdate:
    status = (await conn.execute(_KEY_STATE, {"b_key_id": key_id})).scalar_one_or_none()
    if status is None:
        return CounterUpdate.UNKNOWN_KEY
    if status == KeyStatus.REVOKED.value:
        return CounterUpdate.REVOKED
    return CounterUpdate.NOT_INCREASING


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun explicitly (see _sqlite_on_begin), never implicitly by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Single statements run without BEGIN (autocommit); transactions that write take the lock up front
    # (BEGIN IMMEDIATE), so they wait in busy_timeout instead of failing when upgrading a read lock.
    statement = conn.get_execution_options().get(_BEGIN_OPTION)
    if statement:
        conn.exec_driver_sql(statement)
