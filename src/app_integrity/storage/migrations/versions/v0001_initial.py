"""Initial schema: keys, challenges, used session ids, session signing keys, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "keys",
        sa.Column("key_id", sa.LargeBinary(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("environment", sa.String(32), nullable=True),
        sa.Column("counter", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("receipt", sa.LargeBinary(), nullable=True),
        sa.Column("subject", sa.String(512), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        _ts("created_at"),
        _ts("last_seen_at", nullable=True),
        sa.Column("tier", sa.String(16), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
    )
    op.create_index("ix_keys_subject_created_at", "keys", ["subject", "created_at"])

    op.create_table(
        "challenges",
        sa.Column("value", sa.String(128), primary_key=True),
        _ts("expires_at"),
        sa.Column("subject", sa.String(512), nullable=True),
        sa.Column("purpose", sa.String(128), nullable=True),
    )
    op.create_index("ix_challenges_expires_at", "challenges", ["expires_at"])

    op.create_table(
        "used_session_ids",
        sa.Column("jti", sa.String(256), primary_key=True),
        _ts("expires_at"),
    )
    op.create_index("ix_used_session_ids_expires_at", "used_session_ids", ["expires_at"])

    op.create_table(
        "session_keys",
        sa.Column("kid", sa.String(128), primary_key=True),
        sa.Column("private_jwk", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("retires_at"),
    )

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        _ts("at"),
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
    )
    for column in ("action", "outcome", "platform", "key_id", "subject"):
        op.create_index(f"ix_events_{column}_at", "events", [column, "at"])
    op.create_index("ix_events_at", "events", ["at"])


def downgrade() -> None:
    for table in ("events", "session_keys", "used_session_ids", "challenges", "keys"):
        op.drop_table(table)
