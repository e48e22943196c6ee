"""Hourly rollups of events for the dashboard, and the triggers that keep them exact.

The dashboard rolls an hour up lazily, when it first reads it (``app_integrity.storage.rollups``); nothing on the
request path writes to these tables. A rolled-up hour must never go stale: when one of its events is deleted
(retention) or changed, the triggers below forget that hour (its row in ``event_rollup_hours`` and its counts) in
the same transaction, and the next read rolls it up again. Inserts (a late write, a bulk backfill):

- SQLite: no insert trigger at all. Any trigger on ``events`` makes SQLite keep a statement journal for every
  insert (measured: +30 us per event with the nine indexes this table had before v0004, the journal spilling to a
  temporary file),
  and the request path records an event per request. Instead, ``event_rollup_state.checked_id`` marks the events
  already checked: a read treats the hour of any later event as not rolled up, and a build forgets those hours and
  moves the mark (ids only grow: the delete trigger lowers the mark when the newest events are deleted, so a
  reused id is never taken for checked).
- PostgreSQL: a trigger whose ``WHEN`` compares the event's time with the server clock (a ``WHEN`` clause cannot
  read a table): an event stamped within the last 5 minutes never fires it, and builds only ever roll up hours that
  ended 10 minutes ago or more (the rollups module explains why that, with waiting for the writers in flight, is
  exact). Deletes and updates use statement triggers with transition tables, so retention deleting thousands of
  rows forgets each hour once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _hour() -> sa.Column[object]:
    return sa.Column("hour", sa.DateTime(timezone=True), primary_key=True)


def _create_tables() -> None:
    state = op.create_table(
        "event_rollup_state",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("checked_id", sa.BigInteger(), nullable=False),
    )
    # No hour is rolled up yet: every event so far is checked.
    newest = op.get_bind().execute(sa.text("SELECT coalesce(max(id), 0) FROM events")).scalar_one()
    op.bulk_insert(state, [{"id": 1, "checked_id": newest}])
    op.create_table(
        "event_rollup_hours",
        _hour(),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "event_rollup_decisions",
        _hour(),
        sa.Column("action", sa.String(128), primary_key=True),
        sa.Column("outcome", sa.String(16), primary_key=True),
        sa.Column("enforced", sa.Boolean(), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "event_rollup_split",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("platform", sa.String(16), nullable=True),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_event_rollup_split_hour", "event_rollup_split", ["hour"])
    op.create_table(
        "event_rollup_reasons",
        _hour(),
        sa.Column("reason", sa.Text(), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "event_rollup_signals",
        _hour(),
        sa.Column("signal", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(32), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sqlite_with_rowid=False,
    )


# --- SQLite: an event's hour is its stored UTC text cut to the hour, in the stored format of an hour. The event
# triggers forget the hour's row; the trigger on event_rollup_hours takes its counts with it. ---

SQLITE_TRIGGERS = {
    "event_rollup_delete": """
CREATE TRIGGER event_rollup_delete AFTER DELETE ON events
WHEN EXISTS (SELECT 1 FROM event_rollup_hours WHERE hour = substr(OLD.at, 1, 13) || ':00:00.000000')
BEGIN
    DELETE FROM event_rollup_hours WHERE hour = substr(OLD.at, 1, 13) || ':00:00.000000';
END""",
    "event_rollup_delete_newest": """
CREATE TRIGGER event_rollup_delete_newest AFTER DELETE ON events
WHEN OLD.id >= (SELECT checked_id FROM event_rollup_state)
BEGIN
    UPDATE event_rollup_state SET checked_id = (SELECT coalesce(max(id), 0) FROM events)
    WHERE checked_id > (SELECT coalesce(max(id), 0) FROM events);
END""",
    "event_rollup_update": """
CREATE TRIGGER event_rollup_update AFTER UPDATE ON events
WHEN EXISTS (
    SELECT 1 FROM event_rollup_hours
    WHERE hour IN (substr(OLD.at, 1, 13) || ':00:00.000000', substr(NEW.at, 1, 13) || ':00:00.000000')
)
BEGIN
    DELETE FROM event_rollup_hours
    WHERE hour IN (substr(OLD.at, 1, 13) || ':00:00.000000', substr(NEW.at, 1, 13) || ':00:00.000000');
END""",
    "event_rollup_hours_forget": """
CREATE TRIGGER event_rollup_hours_forget AFTER DELETE ON event_rollup_hours
BEGIN
    DELETE FROM event_rollup_decisions WHERE hour = OLD.hour;
    DELETE FROM event_rollup_split WHERE hour = OLD.hour;
    DELETE FROM event_rollup_reasons WHERE hour = OLD.hour;
    DELETE FROM event_rollup_signals WHERE hour = OLD.hour;
END""",
}

# --- PostgreSQL: an event's hour is date_trunc of its UTC wall time, back to timestamptz (whatever the session's
# TimeZone). ---

PG_FUNCTIONS = {
    "app_integrity_rollup_forget(timestamptz[])": """
CREATE FUNCTION app_integrity_rollup_forget(p_hours timestamptz[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- The hours' rows first, locked in hour order as builds lock them (no deadlock): the lock orders this
    -- transaction against a build installing one of these hours.
    PERFORM 1 FROM event_rollup_hours WHERE hour = ANY(p_hours) ORDER BY hour FOR UPDATE;
    DELETE FROM event_rollup_hours WHERE hour = ANY(p_hours);
    DELETE FROM event_rollup_decisions WHERE hour = ANY(p_hours);
    DELETE FROM event_rollup_split WHERE hour = ANY(p_hours);
    DELETE FROM event_rollup_reasons WHERE hour = ANY(p_hours);
    DELETE FROM event_rollup_signals WHERE hour = ANY(p_hours);
END
$$""",
    "app_integrity_rollup_on_insert()": """
CREATE FUNCTION app_integrity_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_hour timestamptz := date_trunc('hour', NEW.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    IF EXISTS (SELECT 1 FROM event_rollup_hours WHERE hour = v_hour) THEN
        PERFORM app_integrity_rollup_forget(ARRAY[v_hour]);
    END IF;
    RETURN NULL;
END
$$""",
    "app_integrity_rollup_on_delete()": """
CREATE FUNCTION app_integrity_rollup_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app_integrity_rollup_forget(ARRAY(
        SELECT DISTINCT date_trunc('hour', g.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM gone AS g
    ));
    RETURN NULL;
END
$$""",
    "app_integrity_rollup_on_update()": """
CREATE FUNCTION app_integrity_rollup_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app_integrity_rollup_forget(ARRAY(
        SELECT date_trunc('hour', g.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM gone AS g
        UNION
        SELECT date_trunc('hour', c.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM came AS c
    ));
    RETURN NULL;
END
$$""",
    "app_integrity_rollup_on_truncate()": """
CREATE FUNCTION app_integrity_rollup_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_rollup_hours;
    DELETE FROM event_rollup_decisions;
    DELETE FROM event_rollup_split;
    DELETE FROM event_rollup_reasons;
    DELETE FROM event_rollup_signals;
    RETURN NULL;
END
$$""",
}
PG_TRIGGERS = {
    "event_rollup_insert": "CREATE TRIGGER event_rollup_insert AFTER INSERT ON events FOR EACH ROW"
    " WHEN (NEW.at < clock_timestamp() - interval '5 minutes') EXECUTE FUNCTION app_integrity_rollup_on_insert()",
    "event_rollup_delete": "CREATE TRIGGER event_rollup_delete AFTER DELETE ON events REFERENCING OLD TABLE AS gone"
    " FOR EACH STATEMENT EXECUTE FUNCTION app_integrity_rollup_on_delete()",
    "event_rollup_update": "CREATE TRIGGER event_rollup_update AFTER UPDATE ON events"
    " REFERENCING OLD TABLE AS gone NEW TABLE AS came"
    " FOR EACH STATEMENT EXECUTE FUNCTION app_integrity_rollup_on_update()",
    "event_rollup_truncate": "CREATE TRIGGER event_rollup_truncate AFTER TRUNCATE ON events"
    " FOR EACH STATEMENT EXECUTE FUNCTION app_integrity_rollup_on_truncate()",
}
SQLITE_DROPS = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
PG_DROPS = [f"DROP TRIGGER IF EXISTS {name} ON events" for name in PG_TRIGGERS] + [
    f"DROP FUNCTION IF EXISTS {signature}" for signature in PG_FUNCTIONS
]


def upgrade() -> None:
    _create_tables()
    if op.get_bind().dialect.name == "postgresql":
        for function in PG_FUNCTIONS.values():
            op.execute(function)
        for trigger in PG_TRIGGERS.values():
            op.execute(trigger)
    else:
        for trigger in SQLITE_TRIGGERS.values():
            op.execute(trigger)


def downgrade() -> None:
    for statement in PG_DROPS if op.get_bind().dialect.name == "postgresql" else SQLITE_DROPS:
        op.execute(statement)
    op.drop_index("ix_event_rollup_split_hour", "event_rollup_split")
    for table in ("event_rollup_signals", "event_rollup_reasons", "event_rollup_split", "event_rollup_decisions"):
        op.drop_table(table)
    op.drop_table("event_rollup_hours")
    op.drop_table("event_rollup_state")
