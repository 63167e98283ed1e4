"""Helpers for scraper tests: an in-memory appendable and series readback."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from tsdb.labels import Labels
from tsdb.matchers import Matcher, MatchType


def read_all(db: Any, name: str | None = None) -> dict[Labels, list[tuple[int, float]]]:
    """Every series (or those of metric ``name``) with its samples."""
    q = db.querier(-(2**62), 2**62)
    try:
        ms = (
            [Matcher(MatchType.EQUAL, "__name__", name)]
            if name
            else [Matcher(MatchType.REGEX, "__name__", ".+")]
        )
        return {s.labels: list(zip(s.ts.tolist(), s.vals.tolist(), strict=True)) for s in q.select(ms)}
    finally:
        q.close()


def is_stale(v: float) -> bool:
    return struct.unpack("<Q", struct.pack("<d", v))[0] == 0x7FF0000000000002


def bits(v: float) -> int:
    return int(np.float64(v).view(np.uint64))
