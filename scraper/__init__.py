"""Heron scraper package (see ../shared/DESIGN.md)."""
