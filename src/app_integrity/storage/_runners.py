"""How SQL operations reach the database: one call per operation, whatever the backend.

An operation is a plain function of a SQLAlchemy ``Connection`` (it commits itself when it writes). Runners
execute it:

- **SQLite**: the sqlite3 driver directly, no async adapter. Measured on this project's gated request, aiosqlite
  costs 3-6x more per operation than this: it hops to its thread for every cursor call (cursor, execute, fetch,
  commit, reset), while here a write is one hop to the store's writer thread for the whole operation, and a
  point read by primary key (tens of microseconds, and WAL readers never wait for locks) runs on the calling
  thread with no hop at all. The single writer thread matches SQLite's single writer: no in-process contention
  for the lock, and ``busy_timeout`` (waiting for another process) never blocks the event loop.
- **PostgreSQL**: SQLAlchemy's async engine on psycopg, the operation run with ``AsyncConnection.run_sync``.
  Single statements use an ``AUTOCOMMIT`` engine: one round trip, no ``BEGIN``/``COMMIT``.

Backend failures become ``storage.unavailable`` here, with a message that names the backend but never the
password.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app_integrity.errors import UnavailableError

T = TypeVar("T")
Operation = Callable[..., T]

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_SECONDS = 5
POOL_SIZE = 10
MAX_OVERFLOW = 20
_BEGIN_OPTION = "app_integrity_begin"
_FAILURES = (sa_exc.DBAPIError, sa_exc.TimeoutError, sa_exc.InterfaceError, OSError, TimeoutError)


class Runner(Protocol):
    label: str

    async def read(self, operation: Operation[T], *args: Any) -> T:
        """A short read (a lookup by key)."""
        ...

    async def scan(self, operation: Operation[T], *args: Any) -> T:
        """A read that may return many rows."""
        ...

    async def write(self, operation: Operation[T], *args: Any) -> T:
        """A one-statement write (it commits itself; anything left open is rolled back)."""
        ...

    async def transaction(self, operation: Operation[T], *args: Any) -> T:
        """A write of several statements that must all happen or none (it commits or rolls back itself)."""
        ...

    def sync_engine(self) -> Engine:
        """A fresh synchronous engine (migrations); the caller disposes of it."""
        ...

    def unavailable(self, error: BaseException) -> UnavailableError: ...

    async def close(self) -> None: ...


def _safe_detail(error: BaseException, secret: str | None) -> str:
    """The driver's first line, password blanked: logs and problem bodies must never carry it."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    text = lines[0] if lines else ""
    if secret:
        text = text.replace(secret, "***")
    return f"{type(original).__name__}: {text[:200]}" if text else type(original).__name__


class _Translating:
    label: str
    _secret: str | None = None

    def unavailable(self, error: BaseException) -> UnavailableError:
        detail = _safe_detail(error, self._secret)
        return UnavailableError("storage.unavailable", f"{self.label} did not answer ({detail})")


def _finish(conn: Connection) -> None:
    if conn.in_transaction():
        conn.rollback()


class SQLiteRunner(_Translating):
    def __init__(self, url: URL) -> None:
        self.label = f"SQLite database {url.database}"
        self._url = url.set(drivername="sqlite")
        # Connections are held for the store's life, one per thread (sqlite3 objects stay in their thread).
        self._engine = sa.create_engine(
            self._url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        _configure_sqlite(self._engine)
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._connections_lock = threading.Lock()
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="app-integrity-sqlite-writer")
        self._scanner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="app-integrity-sqlite-reader")
        self._closed = False

    def _connection(self, *, writer: bool) -> Connection:
        conn: Connection | None = getattr(self._local, "connection", None)
        if conn is None or conn.closed:
            if self._closed:
                raise UnavailableError("storage.unavailable", f"{self.label} is closed")
            conn = self._engine.connect()
            # Each thread has one role. The writer takes the write lock at BEGIN, so waiting happens there and
            # never when a read lock is upgraded mid-transaction; readers run without BEGIN (autocommit).
            conn.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE" if writer else None})
            with self._connections_lock:
                self._connections.append(conn)
            self._local.connection = conn
        return conn

    def _call(self, writer: bool, operation: Operation[T], *args: Any) -> T:
        try:
            conn = self._connection(writer=writer)
            try:
                return operation(conn, *args)
            finally:
                _finish(conn)
        except sa_exc.IntegrityError:
            raise
        except _FAILURES as error:
            self._discard()
            raise self.unavailable(error) from None

    def _discard(self) -> None:
        conn: Connection | None = getattr(self._local, "connection", None)
        if conn is not None:
            self._local.connection = None
            with contextlib.suppress(*_FAILURES):
                conn.close()

    async def read(self, operation: Operation[T], *args: Any) -> T:
        return self._call(False, operation, *args)

    async def scan(self, operation: Operation[T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._scanner, self._call, False, operation, *args)

    async def write(self, operation: Operation[T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, self._call, True, operation, *args)

    async def transaction(self, operation: Operation[T], *args: Any) -> T:
        return await self.write(operation, *args)

    def sync_engine(self) -> Engine:
        engine = sa.create_engine(
            self._url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        _configure_sqlite(engine)
        return engine

    async def close(self) -> None:
        self._closed = True
        loop = asyncio.get_running_loop()
        for executor in (self._writer, self._scanner):
            await loop.run_in_executor(executor, self._discard)
            executor.shutdown(wait=True)
        self._discard()
        with self._connections_lock:
            leftovers, self._connections = self._connections, []
        for conn in leftovers:  # other threads' connections (sqlite3 allows closing from elsewhere once idle)
            if not conn.closed:
                conn.invalidate()
        self._engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Transactions are begun explicitly (see _sqlite_on_begin), never implicitly by the driver.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of the process
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Reads run without BEGIN (each statement is its own snapshot); writers begin IMMEDIATE.
    statement = conn.get_execution_options().get(_BEGIN_OPTION)
    if statement:
        conn.exec_driver_sql(statement)


class PostgresRunner(_Translating):
    def __init__(self, url: URL) -> None:
        self.label = f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        self._secret = url.password if isinstance(url.password, str) else None
        self._url = url
        options: dict[str, Any] = {
            "pool_size": POOL_SIZE,
            "max_overflow": MAX_OVERFLOW,
            "connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        }
        # Nothing to reset on an autocommit connection going back to the pool.
        self._auto = create_async_engine(url, isolation_level="AUTOCOMMIT", pool_reset_on_return=None, **options)
        self._tx = create_async_engine(url, **options)

    async def _call(self, engine: AsyncEngine, operation: Operation[T], *args: Any) -> T:
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_run_and_finish, operation, *args)
        except sa_exc.IntegrityError:
            raise
        except _FAILURES as error:
            raise self.unavailable(error) from None

    async def read(self, operation: Operation[T], *args: Any) -> T:
        return await self._call(self._auto, operation, *args)

    async def scan(self, operation: Operation[T], *args: Any) -> T:
        return await self._call(self._auto, operation, *args)

    async def write(self, operation: Operation[T], *args: Any) -> T:
        return await self._call(self._auto, operation, *args)

    async def transaction(self, operation: Operation[T], *args: Any) -> T:
        return await self._call(self._tx, operation, *args)

    def sync_engine(self) -> Engine:
        return sa.create_engine(
            self._url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        )

    async def close(self) -> None:
        await self._auto.dispose()
        await self._tx.dispose()


def _run_and_finish(conn: Connection, operation: Operation[T], *args: Any) -> T:
    try:
        return operation(conn, *args)
    finally:
        _finish(conn)
