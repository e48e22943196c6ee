"""Storage backends: SQLite (default), PostgreSQL, Redis (challenges and single-use ids), in-memory."""
