"""Dashboards shipped with Heron (Grafana JSON), provisioned by default."""
