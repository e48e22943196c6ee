"""Events: Android device-verdict and Play Protect columns; indexes for the dashboard's aggregates.

``ix_events_at_summary`` covers every column the dashboard groups decisions by within a time range, and
``ix_events_at_android`` the Play verdict columns, so those aggregates read an index alone (no table rows).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

SUMMARY_COLUMNS = ["at", "action", "outcome", "enforced", "platform", "tier"]


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("device_verdict", sa.String(32), nullable=True))
        batch.add_column(sa.Column("play_protect", sa.String(32), nullable=True))
    op.create_index("ix_events_at_summary", "events", SUMMARY_COLUMNS)
    op.create_index("ix_events_at_android", "events", ["at", "device_verdict", "play_protect"])
    op.create_index("ix_events_request_id", "events", ["request_id"])
    op.create_index("ix_keys_created_at", "keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_keys_created_at", "keys")
    op.drop_index("ix_events_request_id", "events")
    op.drop_index("ix_events_at_android", "events")
    op.drop_index("ix_events_at_summary", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("play_protect")
        batch.drop_column("device_verdict")
