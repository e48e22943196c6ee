"""Alembic migrations of the SQL schema, applied by ``Store.migrate()`` (``app-integrity migrate``)."""
