"""Emulated devices and services, so the whole flow runs in CI without a phone."""
