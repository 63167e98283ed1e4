"""Heron alertmanager package (see ../shared/DESIGN.md)."""
