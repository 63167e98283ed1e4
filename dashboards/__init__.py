"""Heron dashboards package (see ../shared/DESIGN.md)."""
