"""PostgreSQL: consume a challenge and advance a counter in one round trip.

A server-side function does both steps of ``consume_challenge_and_advance_counter`` inside the caller's
statement: one round trip instead of four (BEGIN, DELETE, UPDATE, COMMIT). When the counter loses, raising inside
the block rolls back to its savepoint, which restores the deleted challenge (and releases its row lock to any
waiting consumer) exactly as a transaction rollback would. SQLite needs no such function: there the whole
transaction runs on the store's writer thread in one call.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION app_integrity_consume_and_advance(
    p_value varchar, p_key_id bytea, p_counter bigint, p_now timestamptz,
    OUT o_found boolean, OUT o_expires_at timestamptz, OUT o_subject varchar, OUT o_purpose varchar,
    OUT o_outcome varchar
) LANGUAGE plpgsql AS $$
DECLARE
    v_status varchar;
BEGIN
    o_found := false;
    o_outcome := 'skipped';
    BEGIN
        DELETE FROM challenges AS c WHERE c.value = p_value
            RETURNING c.expires_at, c.subject, c.purpose INTO o_expires_at, o_subject, o_purpose;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        o_found := true;
        IF o_expires_at <= p_now THEN
            RETURN;  -- expired: it stays consumed, the counter is not touched
        END IF;
        UPDATE keys AS k SET counter = p_counter, last_seen_at = p_now
            WHERE k.key_id = p_key_id AND k.counter < p_counter AND k.status = 'active';
        IF FOUND THEN
            o_outcome := 'advanced';
            RETURN;
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'AIC01';
    EXCEPTION WHEN SQLSTATE 'AIC01' THEN
        -- The counter lost: back to the savepoint, the challenge is unused again.
        SELECT k.status INTO v_status FROM keys AS k WHERE k.key_id = p_key_id;
        o_outcome := CASE
            WHEN v_status IS NULL THEN 'unknown_key'
            WHEN v_status = 'revoked' THEN 'revoked'
            ELSE 'not_increasing'
        END;
    END;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS app_integrity_consume_and_advance(varchar, bytea, bigint, timestamptz)")
