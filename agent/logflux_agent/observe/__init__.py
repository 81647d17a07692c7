"""Observability: metrics, the HTTP health/metrics server, logging setup, systemd notify."""
