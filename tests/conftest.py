"""Shared test helpers: locating real peers (promtool, …)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_peer(binary: str) -> str:
    """Path of a real peer binary; skip locally if missing, fail in CI (HERON_REQUIRE_PEERS=1)."""
    path = shutil.which(binary)
    if path is None:
        msg = f"real peer {binary!r} not installed"
        if os.environ.get("HERON_REQUIRE_PEERS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path
