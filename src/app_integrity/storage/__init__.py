"""Storage backends: SQLite (default), PostgreSQL, Redis (challenges and single-use ids), in-memory.

``open_store(url, redis_url=..., base_dir=...)`` builds the right one; the interface is in ``storage.base``.
"""

from app_integrity.storage.factory import open_store

__all__ = ["open_store"]
