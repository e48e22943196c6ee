"""The app factory each worker process calls (``uvicorn --workers``): configuration from the environment."""

from __future__ import annotations

import os

from fastapi import FastAPI

from app_integrity.config import load_config
from app_integrity.server.app import create_app

EMULATED_ENV = "APP_INTEGRITY_EMULATED"


def app() -> FastAPI:
    return create_app(load_config(emulated=os.environ.get(EMULATED_ENV) == "1"))
