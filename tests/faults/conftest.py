"""The service fixtures (``make_world``), for fault injection against a configured service."""

from __future__ import annotations

from tests.service.conftest import apple_ca, google, keystore, make_world, play, status_list_url

__all__ = ["apple_ca", "google", "keystore", "make_world", "play", "status_list_url"]
