"""Observation: what each decision learned on its way (for its event and log line), and Prometheus metrics."""
