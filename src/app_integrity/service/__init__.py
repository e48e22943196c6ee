"""The integrity service: challenges, key registry, verification of protected requests, sessions, events."""

from app_integrity.service.core import AndroidRegistration, Exchange, IntegrityService, RequestFacts
from app_integrity.service.factory import open_service

__all__ = ["AndroidRegistration", "Exchange", "IntegrityService", "RequestFacts", "open_service"]
