"""Heron cluster package (see ../shared/DESIGN.md)."""
