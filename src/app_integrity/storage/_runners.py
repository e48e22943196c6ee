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
  Single statements use ``AUTOCOMMIT`` connections (one round trip, no ``BEGIN``/``COMMIT``) that stay checked
  out and are lent directly to operations, at most ``POOL_SIZE`` at once.

Backend failures become ``storage.unavailable`` here, with a message that names the backend but never the
password.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
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
# Errors of one statement (a constraint, a value the driver cannot bind) rather than of the database.
_STATEMENT_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


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


class _LockTakenError(Exception):
    """Another connection holds SQLite's write lock; the write was not started."""


class _Role(enum.Enum):
    READ = "read"  # point reads, on the calling (event loop) thread
    SCAN = "scan"  # long reads, on the reader thread
    WRITE = "write"  # writes, on the writer thread: waits up to busy_timeout for the lock
    TRY_WRITE = "try_write"  # writes on the calling thread when the lock is free at once (no waiting)


class SQLiteRunner(_Translating):
    """sqlite3 through SQLAlchemy Core, one connection per (thread, role), held for the store's life.

    A write first tries the calling thread with ``busy_timeout = 0``: a commit in WAL mode with
    ``synchronous = NORMAL`` takes tens of microseconds, less than a hop to another thread. Only if another
    connection holds the write lock (``BEGIN IMMEDIATE`` answers SQLITE_BUSY, before anything was done) does the
    write go to the writer thread, which waits for the lock there without blocking the event loop. The calling
    thread never checkpoints (that fsyncs); the writer thread does, every ``CHECKPOINT_EVERY`` such writes.
    """

    CHECKPOINT_EVERY = 1000

    def __init__(self, url: URL) -> None:
        self.label = f"SQLite database {url.database}"
        self._url = url.set(drivername="sqlite")
        self._engine = self.sync_engine()
        self._local = threading.local()
        self._connections: list[Connection] = []
        self._connections_lock = threading.Lock()
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="app-integrity-sqlite-writer")
        self._scanner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="app-integrity-sqlite-reader")
        self._inline_writes = 0
        self._closed = False
        self._pending: dict[asyncio.AbstractEventLoop, list[_PendingWrite]] = {}

    def _connection(self, role: _Role) -> Connection:
        if self._closed:  # even with a connection still held: the writer thread may be gone already
            raise UnavailableError("storage.unavailable", f"{self.label} is closed")
        held: dict[_Role, Connection] = self._local.__dict__.setdefault("held", {})
        conn = held.get(role)
        if conn is None or conn.closed:
            conn = self._engine.connect()
            if role is _Role.TRY_WRITE:
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                conn.rollback()
            if role in (_Role.WRITE, _Role.TRY_WRITE):
                # Writers take the write lock at BEGIN, so waiting happens there and never when a read lock is
                # upgraded mid-transaction; readers run without BEGIN (each statement its own snapshot).
                conn.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
            with self._connections_lock:
                self._connections.append(conn)
            held[role] = conn
        return conn

    def _call(self, role: _Role, operation: Operation[T], *args: Any) -> T:
        try:
            conn = self._connection(role)
            try:
                return operation(conn, *args)
            finally:
                _finish(conn)
        except sa_exc.IntegrityError:
            raise
        except _FAILURES as error:
            self._discard(role)
            raise self.unavailable(error) from None

    def _try_inline(self, operation: Operation[T], *args: Any) -> T:
        """Run the write here; ``_LockTakenError`` if another connection holds the write lock (nothing was done)."""
        began: dict[str, bool] = {}
        try:
            conn = self._connection(_Role.TRY_WRITE)
            began = conn.info
            began["began"] = False
            try:
                result = operation(conn, *args)
            finally:
                _finish(conn)
        except sa_exc.OperationalError as error:
            if not began.get("began", True) and _is_busy(error):
                raise _LockTakenError from None
            self._discard(_Role.TRY_WRITE)
            raise self.unavailable(error) from None
        except sa_exc.IntegrityError:
            raise
        except _FAILURES as error:
            self._discard(_Role.TRY_WRITE)
            raise self.unavailable(error) from None
        self._count_inline_writes(1)
        return result

    def _count_inline_writes(self, count: int) -> None:
        # Counted per write, not per transaction: a group commit copies fewer pages into the WAL than its writes
        # would one by one, so the WAL stays below what CHECKPOINT_EVERY single writes would leave.
        before = self._inline_writes
        self._inline_writes += count
        if before // self.CHECKPOINT_EVERY != self._inline_writes // self.CHECKPOINT_EVERY:
            # After a commit nothing may fail the writes it carried: a writer thread already shut down (the store
            # closing) skips this checkpoint, which the next open or SQLite's own close does instead.
            with contextlib.suppress(RuntimeError):
                self._writer.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        with contextlib.suppress(*_FAILURES, sqlite3.Error):
            conn = self._connection(_Role.WRITE)
            _finish(conn)
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None:  # outside any transaction, hence straight to the driver
                cursor = dbapi.cursor()
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.close()

    def _discard(self, *roles: _Role) -> None:
        held: dict[_Role, Connection] = self._local.__dict__.setdefault("held", {})
        for role in roles or tuple(held):
            conn = held.pop(role, None)
            if conn is not None:
                with contextlib.suppress(*_FAILURES):
                    conn.close()

    async def read(self, operation: Operation[T], *args: Any) -> T:
        return self._call(_Role.READ, operation, *args)

    # The gated request's statements (``_sqlite_driver``): the same connections and threads, the driver directly.

    def _driver(self, role: _Role) -> sqlite3.Connection:
        dbapi = self._connection(role).connection.dbapi_connection
        assert isinstance(dbapi, sqlite3.Connection)
        return dbapi

    async def read_driver(self, operation: Callable[..., T], *args: Any) -> T:
        """A point read on the calling thread, as ``read``."""
        try:
            return operation(self._driver(_Role.READ), *args)
        except (*_FAILURES, sqlite3.Error) as error:  # opening a connection fails through SQLAlchemy
            self._discard(_Role.READ)
            raise self.unavailable(error) from None

    async def write_driver(
        self, operation: Callable[..., tuple[T, bool]], *args: Any, several_statements: bool = False
    ) -> T:
        """A write, committed together with the other writes asked for in the same turn of the event loop.

        Group commit: at the end of the loop's turn one transaction runs every pending operation, then commits
        once, and only then does any caller get its answer. An operation of ``several_statements`` runs inside its
        own savepoint, so that answering ``keep = False`` or raising undoes it alone; any other operation must run
        at most one statement and raise only before it (SQLite undoes a failed statement by itself), which spares
        the savepoint's statement journal (measured: 15 µs per insert). Under load, a commit (SQLite's main cost:
        copying the changed pages into the WAL) serves many requests, and pages the writes share (the newest leaves
        of the events indexes) are copied once. Nothing is acknowledged before its commit. Inline when the
        write lock is free; on the writer thread (waiting for the lock) when another process holds it. A write
        whose caller was cancelled before its batch runs is not done.
        """
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append(_PendingWrite(operation, args, answer, several_statements))
        result: T = await answer
        return result

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop, [])
        try:
            outcomes = self._commit_batch(_Role.TRY_WRITE, batch)
        except _LockTakenError:
            try:
                waiting = loop.run_in_executor(self._writer, self._commit_batch, _Role.WRITE, batch)
            except RuntimeError:  # the writer thread is shut down: the store is closing
                outcomes = [UnavailableError("storage.unavailable", f"{self.label} is closed")] * len(batch)
            else:
                waiting.add_done_callback(lambda done: _answer(batch, done))
                return
        except Exception as error:  # storage.unavailable, or a bug: every caller hears it, none waits forever
            outcomes = [error] * len(batch)
        _answer_each(batch, outcomes)

    def _commit_batch(self, role: _Role, batch: list[_PendingWrite]) -> list[Any]:
        """Run ``batch`` in one transaction; each entry's result, or the exception it raised."""
        outcomes: list[Any] = []
        try:
            db = self._driver(role)
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                if role is _Role.TRY_WRITE and error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                    raise _LockTakenError from None  # nothing was done: the writer thread waits for the lock
                raise
            try:
                for write in batch:
                    if write.answer.cancelled():  # its caller is gone (e.g. the client hung up): not done at all
                        outcomes.append(None)
                        continue
                    outcomes.append(self._run_one(db, write))
                db.execute("COMMIT")
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")
        except (*_FAILURES, sqlite3.Error) as error:  # opening a connection fails through SQLAlchemy
            self._discard(role)
            raise self.unavailable(error) from None
        if role is _Role.TRY_WRITE:
            self._count_inline_writes(len(batch))
        return outcomes

    def _run_one(self, db: sqlite3.Connection, write: _PendingWrite) -> Any:
        """One write of a batch: its result, or the error that refuses it alone."""
        if write.several_statements:
            db.execute("SAVEPOINT app_integrity_write")
        changes = db.total_changes
        try:
            result, keep = write.operation(db, *write.args)
        except _STATEMENT_ERRORS as error:
            # The statement was refused and SQLite undid it; the transaction goes on. Only this write fails.
            if not db.in_transaction:
                raise
            result, keep = self.unavailable(error), False
        except sqlite3.Error:
            raise  # the database failed, not the operation: the whole batch is refused
        except Exception as error:  # the operation's own refusal (e.g. a typed error)
            if not write.several_statements and db.total_changes != changes:
                raise  # it wrote before raising and nothing can undo it alone: the whole batch is refused
            result, keep = error, False
        if write.several_statements:
            if not keep:
                db.execute("ROLLBACK TO app_integrity_write")
            db.execute("RELEASE app_integrity_write")
        return result

    async def scan(self, operation: Operation[T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._scanner, self._call, _Role.SCAN, operation, *args)

    async def write(self, operation: Operation[T], *args: Any) -> T:
        with contextlib.suppress(_LockTakenError):
            return self._try_inline(operation, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._call, _Role.WRITE, operation, *args)

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
        for conn in leftovers:  # connections of other threads that used this store
            if not conn.closed:
                with contextlib.suppress(*_FAILURES, sqlite3.Error):
                    conn.invalidate()
        self._engine.dispose()


@dataclass(frozen=True, slots=True)
class _PendingWrite:
    operation: Callable[..., tuple[Any, bool]]
    args: tuple[Any, ...]
    answer: asyncio.Future[Any]
    several_statements: bool


def _answer_each(batch: list[_PendingWrite], outcomes: list[Any]) -> None:
    for write, outcome in zip(batch, outcomes, strict=True):
        if write.answer.done():  # its caller was cancelled; the write itself stands
            continue
        if isinstance(outcome, BaseException):
            write.answer.set_exception(outcome)
        else:
            write.answer.set_result(outcome)


def _answer(batch: list[_PendingWrite], done: asyncio.Future[list[Any]]) -> None:
    error = done.exception()
    _answer_each(batch, [error] * len(batch) if error is not None else done.result())


def _is_busy(error: sa_exc.OperationalError) -> bool:
    code = getattr(error.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


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
        conn.info["began"] = True  # past this point a write may have happened: never retry it elsewhere


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
        self._auto = create_async_engine(url, isolation_level="AUTOCOMMIT", **options)
        self._tx = create_async_engine(url, **options)
        # Autocommit connections are kept checked out and lent directly: a pool checkout and return per
        # operation cost about as much Python as the query itself (measured: ~30% of a get_key).
        self._idle: list[AsyncConnection] = []
        self._lent = 0
        self._drivers: weakref.WeakKeyDictionary[AsyncConnection, Any] = weakref.WeakKeyDictionary()
        self._returned = asyncio.Condition()

    async def _borrow(self) -> AsyncConnection:
        while True:
            if self._idle:
                conn = self._idle.pop()
                self._lent += 1
                return conn
            if self._lent < POOL_SIZE:
                self._lent += 1
                try:
                    return await self._auto.connect()
                except BaseException:
                    self._lent -= 1
                    raise
            async with self._returned:
                await self._returned.wait_for(lambda: bool(self._idle) or self._lent < POOL_SIZE)

    async def _give_back(self, conn: AsyncConnection, *, healthy: bool) -> None:
        self._lent -= 1
        if healthy and not conn.invalidated:
            self._idle.append(conn)
        else:
            # A lost connection usually means the server restarted: the idle ones are dead too, drop them all
            # (as SQLAlchemy's pool does) rather than failing one request per stale connection.
            doomed = [conn, *self._idle] if conn.invalidated else [conn]
            if conn.invalidated:
                self._idle = []
            for each in doomed:
                with contextlib.suppress(*_FAILURES):
                    await each.close()
        async with self._returned:
            self._returned.notify()

    async def _call_autocommit(self, operation: Operation[T], *args: Any) -> T:
        try:
            conn = await self._borrow()
        except _FAILURES as error:
            raise self.unavailable(error) from None
        healthy = False
        try:
            result = await conn.run_sync(_run_and_finish, operation, *args)
            healthy = True
            return result
        except sa_exc.IntegrityError:
            healthy = True
            raise
        except _FAILURES as error:
            raise self.unavailable(error) from None
        finally:
            await self._give_back(conn, healthy=healthy)

    async def driver(self, operation: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``operation(psycopg_connection, *args)`` on a lent autocommit connection (``_postgres_driver``)."""
        import psycopg  # the postgres extra; loaded only when PostgreSQL is configured

        try:
            conn = await self._borrow()
        except _FAILURES as error:
            raise self.unavailable(error) from None
        healthy = False
        try:
            pg = self._drivers.get(conn)
            if pg is None:  # asked once per pooled connection: the lookup crosses SQLAlchemy's greenlet bridge
                pg = self._drivers[conn] = (await conn.get_raw_connection()).driver_connection
            assert pg is not None  # a checked-out connection has its driver connection
            try:
                result = await operation(pg, *args)
            except psycopg.Error as error:
                if pg.broken or pg.closed:
                    await conn.invalidate()  # the server went away: _give_back drops the idle ones too
                else:  # autocommit: after a refused statement the connection is idle and fine, unless it is not
                    healthy = pg.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                raise self.unavailable(error) from None
            healthy = pg.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            return result
        finally:
            await self._give_back(conn, healthy=healthy)

    async def _call(self, engine: AsyncEngine, operation: Operation[T], *args: Any) -> T:
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(_run_and_finish, operation, *args)
        except sa_exc.IntegrityError:
            raise
        except _FAILURES as error:
            raise self.unavailable(error) from None

    async def read(self, operation: Operation[T], *args: Any) -> T:
        return await self._call_autocommit(operation, *args)

    async def scan(self, operation: Operation[T], *args: Any) -> T:
        return await self._call_autocommit(operation, *args)

    async def write(self, operation: Operation[T], *args: Any) -> T:
        return await self._call_autocommit(operation, *args)

    async def transaction(self, operation: Operation[T], *args: Any) -> T:
        return await self._call(self._tx, operation, *args)

    def sync_engine(self) -> Engine:
        return sa.create_engine(
            self._url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        )

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(*_FAILURES):
                await conn.close()
        await self._auto.dispose()
        await self._tx.dispose()


def _run_and_finish(conn: Connection, operation: Operation[T], *args: Any) -> T:
    try:
        return operation(conn, *args)
    finally:
        _finish(conn)
