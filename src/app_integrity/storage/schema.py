"""The SQL schema (SQLAlchemy Core), shared by the queries and the Alembic migrations.

Timestamps are stored as UTC: ``timestamptz`` on PostgreSQL, ISO text on SQLite (which sorts correctly because
every value is UTC). They come back as aware UTC datetimes on both.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from app_integrity.errors import InputError


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive values are refused rather than guessed."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise InputError("input.invalid_argument", "stored datetimes must be timezone-aware")
        value = value.astimezone(UTC)
        # SQLite keeps no zone: store the UTC wall time so text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = sa.MetaData()

# Alembic's version table, named so it never collides with an application's own Alembic history.
VERSION_TABLE = "app_integrity_version"

# Text columns are bounded so PostgreSQL and SQLite agree on what fits; the service caps inputs well below.
keys = sa.Table(
    "keys",
    metadata,
    sa.Column("key_id", sa.LargeBinary(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("public_key", sa.LargeBinary(), nullable=False),
    sa.Column("environment", sa.String(32), nullable=True),
    sa.Column("counter", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("receipt", sa.LargeBinary(), nullable=True),
    sa.Column("subject", sa.String(512), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=True),
    sa.Column("tier", sa.String(16), nullable=True),
    sa.Column("summary", sa.JSON(), nullable=False),
    sa.Index("ix_keys_subject_created_at", "subject", "created_at"),
    sa.Index("ix_keys_created_at", "created_at"),
)

challenges = sa.Table(
    "challenges",
    metadata,
    sa.Column("value", sa.String(128), primary_key=True),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("subject", sa.String(512), nullable=True),
    sa.Column("purpose", sa.String(128), nullable=True),
    sa.Index("ix_challenges_expires_at", "expires_at"),
)

used_session_ids = sa.Table(
    "used_session_ids",
    metadata,
    sa.Column("jti", sa.String(256), primary_key=True),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index("ix_used_session_ids_expires_at", "expires_at"),
)

session_keys = sa.Table(
    "session_keys",
    metadata,
    sa.Column("kid", sa.String(128), primary_key=True),
    sa.Column("private_jwk", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("retires_at", UTCDateTime(), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("platform", sa.String(16), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("reasons", sa.JSON(), nullable=False),
    sa.Column("enforced", sa.Boolean(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("key_id", sa.LargeBinary(64), nullable=True),
    sa.Column("subject", sa.String(512), nullable=True),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("device_verdict", sa.String(32), nullable=True),
    sa.Column("play_protect", sa.String(32), nullable=True),
    sa.Index("ix_events_key_id_at", "key_id", "at"),
    sa.Index("ix_events_subject_at", "subject", "at"),
    sa.Index("ix_events_request_id", "request_id"),
    sa.Index("ix_events_at_summary", "at", "action", "outcome", "enforced", "platform", "tier"),
    sa.Index("ix_events_at_android", "at", "device_verdict", "play_protect"),
)

# Hourly rollups of `events` for the dashboard (``app_integrity.storage.rollups``). `event_rollup_hours` lists the
# hours rolled up: an hour's counts are read from the four count tables only while its row there is ready.
# SQLite keeps the keyed count tables clustered by their key (WITHOUT ROWID): a range of hours is one read.
event_rollup_hours = sa.Table(
    "event_rollup_hours",
    metadata,
    sa.Column("hour", UTCDateTime(), primary_key=True),
    sa.Column("ready", sa.Boolean(), nullable=False),
    sa.Column("token", sa.BigInteger(), nullable=False),  # the build that claimed the hour
    sa.Column("claimed_at", UTCDateTime(), nullable=False),
)

# One row (id 1). SQLite: the events with a larger id have not been checked against the rolled-up hours yet.
event_rollup_state = sa.Table(
    "event_rollup_state",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("checked_id", sa.BigInteger(), nullable=False),
)

event_rollup_decisions = sa.Table(
    "event_rollup_decisions",
    metadata,
    sa.Column("hour", UTCDateTime(), primary_key=True),
    sa.Column("action", sa.String(128), primary_key=True),
    sa.Column("outcome", sa.String(16), primary_key=True),
    sa.Column("enforced", sa.Boolean(), primary_key=True),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sqlite_with_rowid=False,
)

# No primary key: `platform` may be NULL, and a build writes each (hour, platform, tier, outcome) once.
event_rollup_split = sa.Table(
    "event_rollup_split",
    metadata,
    sa.Column("hour", UTCDateTime(), nullable=False),
    sa.Column("platform", sa.String(16), nullable=True),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sa.Index("ix_event_rollup_split_hour", "hour"),
)

# The reasons of limit and block decisions (the only ones the dashboard counts).
event_rollup_reasons = sa.Table(
    "event_rollup_reasons",
    metadata,
    sa.Column("hour", UTCDateTime(), primary_key=True),
    sa.Column("reason", sa.Text(), primary_key=True),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sqlite_with_rowid=False,
)

# Play Integrity verdicts: `signal` is the events column (device_verdict, play_protect), `value` its value.
event_rollup_signals = sa.Table(
    "event_rollup_signals",
    metadata,
    sa.Column("hour", UTCDateTime(), primary_key=True),
    sa.Column("signal", sa.String(16), primary_key=True),
    sa.Column("value", sa.String(32), primary_key=True),
    sa.Column("n", sa.BigInteger(), nullable=False),
    sqlite_with_rowid=False,
)

ROLLUP_COUNTS = (event_rollup_decisions, event_rollup_split, event_rollup_reasons, event_rollup_signals)
