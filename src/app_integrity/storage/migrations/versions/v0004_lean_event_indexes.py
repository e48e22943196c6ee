"""Events: drop the indexes that ``ix_events_at_summary`` already serves.

Every index is written on every decision, and on SQLite each one is a page copied into the WAL at commit: nine
indexes made the event insert most of a gated request's storage time. ``ix_events_at_summary`` (at, action,
outcome, enforced, platform, tier) leads with ``at`` and holds the action, outcome and platform, so the time-range
scans and the recent-events filters on those columns read it instead (newest first, filtered inside the index).
The key, subject and request-id indexes stay: their values are too many to filter inside another index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

SERVED_BY_SUMMARY = {
    "ix_events_at": ["at"],
    "ix_events_action_at": ["action", "at"],
    "ix_events_outcome_at": ["outcome", "at"],
    "ix_events_platform_at": ["platform", "at"],
}


def upgrade() -> None:
    for name in SERVED_BY_SUMMARY:
        op.drop_index(name, "events")


def downgrade() -> None:
    for name, columns in SERVED_BY_SUMMARY.items():
        op.create_index(name, "events", columns)
