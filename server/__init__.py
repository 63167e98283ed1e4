"""Heron server package (see ../shared/DESIGN.md)."""
