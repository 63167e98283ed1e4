"""Heron's time-series database: WAL + head + immutable blocks + label index."""

from .interface import *  # noqa: F401,F403
from .interface import __all__ as _iface_all

__all__ = list(_iface_all)

from ._db import DB, DBLockedError, DBOptions, open_db  # noqa: E402

__all__ += ["DB", "DBLockedError", "DBOptions", "open_db"]

from ._block import Block, open_block, write_block  # noqa: E402

__all__ += ["Block", "open_block", "write_block"]
