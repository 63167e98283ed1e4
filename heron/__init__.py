"""Heron: the CLI and the wiring of every component."""

__version__ = "0.1.0"
