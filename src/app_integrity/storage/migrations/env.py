"""Alembic environment: runs on the connection ``Store.migrate()`` hands over; no alembic.ini involved."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from app_integrity.storage.schema import VERSION_TABLE, metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("migrations run through Store.migrate(), which supplies the connection")
_run(_connection)
