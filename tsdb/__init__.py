"""Heron's time-series database: WAL + head + immutable blocks + label index."""

from .interface import *  # noqa: F401,F403
from .interface import __all__ as _iface_all

__all__ = list(_iface_all)
