"""Settings of the example Django project: one protected view, the service's routes under /integrity.

Run (emulated devices, state in .app-integrity/):
    .venv/bin/python examples/django_project/manage.py runserver 8003
"""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "examples.django_project.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["app_integrity.integrations.django.AppIntegrityMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

APP_INTEGRITY = {
    # "config": BASE_DIR / "app-integrity.toml",  # a real configuration; or "url": a separate app-integrity serve
    "emulated": True,  # the embedded default, trusting the emulated devices (state in .app-integrity/)
    "prefix": "/integrity",  # the service's own routes: challenges, key registration, sessions, JWKS
    "routes": {"POST /api/feedback": "feedback"},  # protected by path in the middleware
}
