"""What is particular to each backend: URLs, SQLite settings, migrations, and answering when a server is down."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app_integrity.errors import ConfigError, InputError, UnavailableError
from app_integrity.storage import open_store
from app_integrity.storage._runners import SQLiteRunner, _Role
from app_integrity.storage.base import ChallengeRecord, CounterUpdate, EventRecord
from app_integrity.storage.insights import insert_events
from app_integrity.storage.memory import MemoryStore
from app_integrity.storage.redis import RedisChallengeStore, decode_challenge, encode_challenge
from app_integrity.storage.schema import VERSION_TABLE, challenges, metadata
from app_integrity.storage.split import SplitStore
from app_integrity.storage.sql import MIGRATIONS, SQLStore
from tests.storage.conftest import PG_DSN, SQL_BACKENDS, StoreFactory

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


# --- URLs ---


async def test_sqlite_relative_path_is_under_base_dir(tmp_path: Path) -> None:
    store = open_store("sqlite:///data/integrity.db", base_dir=tmp_path)
    assert isinstance(store, SQLStore)
    await store.migrate()
    await store.close()
    assert (tmp_path / "data" / "integrity.db").is_file()


async def test_sqlite_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "abs.db"
    store = open_store(f"sqlite:///{target}", base_dir=tmp_path / "elsewhere")
    await store.migrate()
    await store.close()
    assert target.is_file()


def test_postgres_urls_map_to_psycopg() -> None:
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        store = open_store(url)
        assert isinstance(store, SQLStore)
        assert store.dialect == "postgresql"


def test_memory_url() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)


def test_redis_url_splits_the_store(tmp_path: Path) -> None:
    store = open_store("sqlite:///x.db", base_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0")
    assert isinstance(store, SplitStore)
    assert isinstance(store.main, SQLStore)
    assert isinstance(store.challenges, RedisChallengeStore)


@pytest.mark.parametrize(
    ("url", "redis_url"),
    [
        ("mysql://user:hunter2@host/db", None),
        ("postgresql+asyncpg://user:hunter2@host/db", None),
        ("sqlite:///:memory:", None),
        ("sqlite://", None),
        ("not a url hunter2", None),
        ("sqlite:///x.db", "http://user:hunter2@host/0"),
    ],
)
def test_unsupported_urls_are_config_errors(tmp_path: Path, url: str, redis_url: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        open_store(url, redis_url=redis_url, base_dir=tmp_path)
    assert caught.value.code == "config.invalid"
    assert "hunter2" not in str(caught.value)


# --- storage down ---


async def test_postgresql_down_is_unavailable_without_the_password() -> None:
    store = open_store("postgresql://admin:hunter2@127.0.0.1:1/test")
    try:
        for call in (store.get_key(b"k" * 32), store.ping(), store.migrate()):
            with pytest.raises(UnavailableError) as caught:
                await call
            assert caught.value.code == "storage.unavailable"
            assert "hunter2" not in str(caught.value)
            assert "127.0.0.1:1" in str(caught.value)
    finally:
        await store.close()


async def test_redis_down_is_unavailable_without_the_password(tmp_path: Path) -> None:
    store = open_store("sqlite:///x.db", base_dir=tmp_path, redis_url="redis://:hunter2@127.0.0.1:1/0")
    await store.migrate()
    record = ChallengeRecord(value="c", expires_at=NOW)
    try:
        for call in (
            store.put_challenge(record),
            store.consume_challenge("c"),
            store.consume_challenge_and_advance_counter("c", b"k" * 32, 1, NOW),
            store.consume_session_id("j", NOW),
            store.ping(),
        ):
            with pytest.raises(UnavailableError) as caught:
                await call
            assert caught.value.code == "storage.unavailable"
            assert "hunter2" not in str(caught.value)
    finally:
        await store.close()


async def test_sqlite_not_migrated_is_unavailable(tmp_path: Path) -> None:
    store = open_store("sqlite:///fresh.db", base_dir=tmp_path)
    try:
        with pytest.raises(UnavailableError) as caught:
            await store.get_key(b"k" * 32)
        assert caught.value.code == "storage.unavailable"
    finally:
        await store.close()


async def test_sqlite_unwritable_location_is_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "db.d"
    folder.mkdir()
    store = open_store("sqlite:///db.d", base_dir=tmp_path)  # a directory, not a database file
    try:
        with pytest.raises(UnavailableError) as caught:
            await store.migrate()
        assert caught.value.code == "storage.unavailable"
        # The gated request's statements open their connections too: the same typed answer, never a raw error.
        for operation in (
            store.get_key(b"k" * 32),
            store.put_challenge(ChallengeRecord("c", NOW)),
            store.record_event(_event(1)),
            store.consume_challenge_and_advance_counter("c", b"k" * 32, 1, NOW),
        ):
            with pytest.raises(UnavailableError) as caught:
                await operation
            assert caught.value.code == "storage.unavailable"
    finally:
        await store.close()


# --- SQLite settings ---


async def test_sqlite_runs_in_wal_with_busy_timeout(tmp_path: Path) -> None:
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    assert isinstance(store, SQLStore)
    await store.migrate()
    names = ("journal_mode", "busy_timeout", "synchronous")
    try:
        read = await store._run.read(lambda conn: {n: conn.exec_driver_sql(f"PRAGMA {n}").scalar() for n in names})
        # A write first tries the calling thread without waiting for the lock (see the next test).
        write = await store._run.write(lambda conn: {n: conn.exec_driver_sql(f"PRAGMA {n}").scalar() for n in names})
    finally:
        await store.close()
    assert read == {"journal_mode": "wal", "busy_timeout": 5000, "synchronous": 1}  # 1 = NORMAL
    assert write == {"journal_mode": "wal", "busy_timeout": 0, "synchronous": 1}


async def test_sqlite_write_waits_for_another_process_off_the_event_loop(tmp_path: Path) -> None:
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    await store.migrate()
    other = sqlite3.connect(tmp_path / "integrity.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        write = asyncio.create_task(store.consume_session_id("jti", NOW))
        ticks = 0
        while ticks < 20:  # the event loop keeps running while the write waits
            await asyncio.sleep(0.005)
            ticks += 1
        assert not write.done()
        other.execute("COMMIT")
        assert await write is True
        assert await store.consume_session_id("jti", NOW) is False
    finally:
        other.close()
        await store.close()


# --- migrations ---


def test_migrations_form_one_line() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_migrations_build_exactly_the_schema(open_backend: StoreFactory) -> None:
    store = open_backend()
    assert isinstance(store, SQLStore)
    try:
        await store.migrate()
        await store.migrate()  # idempotent
        differences = await store._run.scan(
            lambda conn: compare_metadata(
                MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata
            )
        )
        version = await store._run.scan(
            lambda conn: conn.execute(sa.text("SELECT version_num FROM app_integrity_version")).scalars().all()
        )
    finally:
        await store.close()
    assert differences == []
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert version == [ScriptDirectory.from_config(config).get_current_head()]


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_two_processes_migrating_at_once(open_backend: StoreFactory) -> None:
    import asyncio

    first, second = open_backend(), open_backend()
    try:
        await asyncio.gather(first.migrate(), second.migrate())
        await first.record_event(
            EventRecord(
                at=NOW,
                action="a",
                platform=None,
                outcome="block",
                tier="none",
                reasons=(),
                enforced=False,
                latency_ms=0.0,
            )
        )
        assert len(await second.list_events()) == 1
    finally:
        await first.close()
        await second.close()


# --- Redis encoding ---


def test_challenge_encoding_round_trips() -> None:
    record = ChallengeRecord(
        value="v", expires_at=NOW + timedelta(microseconds=123456), subject="user-é", purpose="register"
    )
    assert decode_challenge("v", encode_challenge(record)) == record
    bare = ChallengeRecord(value="w", expires_at=NOW)
    assert encode_challenge(bare) == b'{"e":%d}' % ((NOW - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6)
    assert decode_challenge("w", encode_challenge(bare)) == bare


@pytest.mark.parametrize("raw", [b"", b"[]", b'{"s":"x"}', b'{"e":"soon"}', b'{"e":1,"s":3}', b"\xff"])
def test_unreadable_challenge_record_is_unavailable(raw: bytes) -> None:
    with pytest.raises(UnavailableError) as caught:
        decode_challenge("v", raw)
    assert caught.value.code == "storage.unavailable"


def test_sqlite_file_is_a_real_sqlite_database(tmp_path: Path) -> None:
    # The default store is an ordinary SQLite file: operators can inspect it with the sqlite3 shell.
    import asyncio

    async def build() -> None:
        store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
        await store.migrate()
        await store.close()

    asyncio.run(build())
    with sqlite3.connect(tmp_path / "integrity.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"keys", "challenges", "used_session_ids", "session_keys", "events", "app_integrity_version"} <= tables
    assert os.path.getsize(tmp_path / "integrity.db") > 0


@pytest.mark.parametrize("backend", SQL_BACKENDS, indirect=True)
async def test_migrations_go_down_and_up_again(open_backend: StoreFactory) -> None:
    store = open_backend()
    assert isinstance(store, SQLStore)

    def downgrade_to_base() -> list[str]:
        engine = store._run.sync_engine()
        try:
            with engine.connect() as connection:
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = connection
                command.downgrade(config, "base")
                connection.commit()
                return sorted(sa.inspect(connection).get_table_names())
        finally:
            engine.dispose()

    try:
        await store.migrate()
        assert await asyncio.to_thread(downgrade_to_base) == [VERSION_TABLE]
        await store.migrate()
        key = os.urandom(32)
        await store.put_challenge(ChallengeRecord(value="c", expires_at=NOW + timedelta(days=3650)))
        assert await store.consume_challenge_and_advance_counter("c", key, 1, NOW) == (
            ChallengeRecord(value="c", expires_at=NOW + timedelta(days=3650)),
            CounterUpdate.UNKNOWN_KEY,
        )
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgresql_restart_costs_one_answer_then_recovers(pg_schema_url: str) -> None:
    name = f"app-integrity-test-{os.urandom(6).hex()}"
    store = open_store(f"{pg_schema_url}&application_name={name}")
    await store.migrate()
    try:
        await asyncio.gather(*(store.get_key(os.urandom(32)) for _ in range(5)))  # several connections idle
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s", (name,)
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1
        with pytest.raises(UnavailableError) as caught:
            await store.get_key(os.urandom(32))
        assert caught.value.code == "storage.unavailable"
        assert await store.get_key(os.urandom(32)) is None  # the dead connections are gone, a new one answers
    finally:
        await store.close()


# --- the driver-level statements write what the SQLAlchemy schema writes ---

WRITTEN_AT = datetime(2026, 11, 28, 13, 4, 5, 60, tzinfo=timezone(timedelta(hours=2)))  # a zone, and microseconds
EVERY_FIELD = EventRecord(
    at=WRITTEN_AT,
    action="purchase",
    platform="ios",
    outcome="block",
    tier="none",
    reasons=("apple.counter_not_increasing", "x\u00e9"),
    enforced=True,
    latency_ms=1.25,
    key_id=b"\x00\xff" * 16,
    subject="user-1",
    request_id="r-1",
    device_verdict="MEETS_DEVICE_INTEGRITY",
    play_protect="NO_ISSUES",
)


async def _write_each_way(store: SQLStore, event: EventRecord) -> None:
    """``event`` and a challenge, each once through the driver path and once through SQLAlchemy."""
    await store.record_event(event)  # the driver path
    await insert_events(store, [event])  # SQLAlchemy's bulk insert
    await store.put_challenge(ChallengeRecord("driver", WRITTEN_AT, "s", "p"))
    row = {"value": "core", "expires_at": WRITTEN_AT, "subject": "s", "purpose": "p"}
    await store.execute_write(lambda conn: (conn.execute(challenges.insert(), [row]), conn.commit()))


async def test_sqlite_driver_statements_write_what_sqlalchemy_writes(tmp_path: Path) -> None:
    """The gated request's statements bypass SQLAlchemy on SQLite (``_sqlite_driver``): the rows they write must be
    byte for byte what the schema's types write, or the dashboard and the admin pages would misread them."""
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    assert isinstance(store, SQLStore)
    await store.migrate()
    at = WRITTEN_AT
    event = EVERY_FIELD
    try:
        await _write_each_way(store, event)
        listed = await store.list_events(limit=10)
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "integrity.db") as db:
        rows = db.execute("SELECT * FROM events ORDER BY id").fetchall()
        stored = dict(db.execute("SELECT value, expires_at FROM challenges").fetchall())
    assert len(rows) == 2
    assert rows[0][1:] == rows[1][1:]
    assert rows[0][1] == "2026-11-28 11:04:05.000060"
    assert stored == {"driver": "2026-11-28 11:04:05.000060", "core": "2026-11-28 11:04:05.000060"}
    assert listed[0] == listed[1] == dataclasses.replace(event, at=at.astimezone(UTC))


# --- SQLite: group commit ---


def _event(n: int) -> EventRecord:
    return EventRecord(
        at=NOW, action=f"a{n}", platform="ios", outcome="allow", tier="strong", reasons=(), enforced=True, latency_ms=1
    )


def _statements_of(store: SQLStore) -> list[str]:
    """Every statement the store's inline writer connection runs from now on."""
    runner = store._run
    assert isinstance(runner, SQLiteRunner)
    statements: list[str] = []
    runner._driver(_Role.TRY_WRITE).set_trace_callback(statements.append)
    return statements


async def test_sqlite_writes_of_one_loop_turn_share_one_commit(tmp_path: Path) -> None:
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    assert isinstance(store, SQLStore)
    await store.migrate()
    try:
        statements = _statements_of(store)
        await asyncio.gather(*(store.record_event(_event(n)) for n in range(20)))
        listed = await store.list_events(limit=100)
    finally:
        await store.close()
    assert statements.count("BEGIN IMMEDIATE") == statements.count("COMMIT") == 1
    assert sum(statement.startswith("INSERT INTO events") for statement in statements) == 20
    assert sorted(event.action for event in listed) == sorted(f"a{n}" for n in range(20))


async def test_sqlite_a_refused_write_does_not_undo_its_neighbours(tmp_path: Path) -> None:
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    await store.migrate()
    await store.put_challenge(ChallengeRecord("taken", NOW))
    try:
        results = await asyncio.gather(
            store.put_challenge(ChallengeRecord("first", NOW)),
            store.put_challenge(ChallengeRecord("taken", NOW)),  # refused in the middle of the batch
            store.consume_challenge_and_advance_counter("missing", b"k" * 32, 1, NOW),  # undone in the batch
            store.put_challenge(ChallengeRecord("last", NOW)),
            return_exceptions=True,
        )
        assert results[0] is None
        assert results[3] is None
        assert isinstance(results[1], InputError)
        assert results[1].code == "input.invalid_argument"
        assert results[2] == (None, CounterUpdate.SKIPPED)
        assert [await store.consume_challenge(v) is not None for v in ("first", "taken", "last")] == [True] * 3
    finally:
        await store.close()


async def test_sqlite_a_failed_commit_answers_every_write_unavailable(tmp_path: Path) -> None:
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    await store.migrate()
    with sqlite3.connect(tmp_path / "integrity.db") as db:  # a write that cannot be kept: the table is gone
        db.execute("ALTER TABLE events RENAME TO events_elsewhere")
    try:
        results = await asyncio.gather(
            store.put_challenge(ChallengeRecord("kept?", NOW)),
            store.record_event(_event(1)),
            return_exceptions=True,
        )
    finally:
        await store.close()
    assert all(isinstance(result, UnavailableError) for result in results)
    with sqlite3.connect(tmp_path / "integrity.db") as db:  # all or nothing: the challenge was not kept either
        assert db.execute("SELECT count(*) FROM challenges").fetchone() == (0,)


async def test_sqlite_group_commit_waits_for_another_process_off_the_event_loop(tmp_path: Path) -> None:
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    await store.migrate()
    other = sqlite3.connect(tmp_path / "integrity.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        writes = asyncio.gather(*(store.record_event(_event(n)) for n in range(5)))
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert not writes.done()
        other.execute("COMMIT")
        await writes
        assert len(await store.list_events(limit=10)) == 5
    finally:
        other.close()
        await store.close()


async def test_postgresql_driver_statements_write_what_sqlalchemy_writes(pg_schema_url: str) -> None:
    """On PostgreSQL the gated request's statements go to psycopg (``_postgres_driver``): same rows as SQLAlchemy's."""
    store = open_store(pg_schema_url)
    assert isinstance(store, SQLStore)
    await store.migrate()
    at = WRITTEN_AT
    event = dataclasses.replace(
        EVERY_FIELD,
        platform="android",
        outcome="limit",
        tier="basic",
        reasons=("play.unlicensed", "x\u00e9"),
        enforced=False,
        device_verdict="MEETS_BASIC_INTEGRITY",
        play_protect="NO_DATA",
    )
    try:
        await _write_each_way(store, event)
        listed = await store.list_events(limit=10)
        driver = await store.consume_challenge("driver")
        core = await store.consume_challenge("core")
    finally:
        await store.close()
    engine = sa.create_engine(pg_schema_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM events ORDER BY id")).all()
    engine.dispose()
    assert len(rows) == 2
    assert rows[0][1:] == rows[1][1:]
    assert listed[0] == listed[1] == dataclasses.replace(event, at=at.astimezone(UTC))
    assert driver is not None
    assert core is not None
    assert dataclasses.replace(driver, value="core") == core


async def test_sqlite_writes_while_the_store_closes_are_answered(tmp_path: Path) -> None:
    """A write asked for once closing has begun (the writer thread may be gone) is refused, never left waiting."""
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    await store.migrate()
    await store.record_event(_event(0))  # the loop thread holds its write connection
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0)
    with pytest.raises(UnavailableError) as caught:
        await asyncio.wait_for(store.record_event(_event(1)), 10)
    assert caught.value.code == "storage.unavailable"
    await closing


async def test_sqlite_a_statement_the_driver_refuses_fails_only_its_own_write(tmp_path: Path) -> None:
    store = open_store("sqlite:///integrity.db", base_dir=tmp_path)
    await store.migrate()
    unbindable = dataclasses.replace(_event(1), subject=object())  # type: ignore[arg-type]
    try:
        results = await asyncio.gather(
            store.record_event(_event(0)),
            store.record_event(unbindable),
            store.record_event(_event(2)),
            return_exceptions=True,
        )
        assert results[0] is None
        assert isinstance(results[1], UnavailableError)
        assert results[2] is None
        assert sorted(event.action for event in await store.list_events()) == ["a0", "a2"]
    finally:
        await store.close()
