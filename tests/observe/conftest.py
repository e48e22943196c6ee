"""The service suite's fixtures (a configured service with emulated devices, PostgreSQL schemas), reused here."""

from __future__ import annotations

from tests.service.conftest import (
    apple_ca,
    google,
    keystore,
    make_world,
    pg_schema_url,
    play,
    redis_prefix,
    status_list_url,
    world,
)

__all__ = [
    "apple_ca",
    "google",
    "keystore",
    "make_world",
    "pg_schema_url",
    "play",
    "redis_prefix",
    "status_list_url",
    "world",
]
