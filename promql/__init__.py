"""Heron promql package (see ../shared/DESIGN.md)."""
