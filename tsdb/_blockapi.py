"""The internal read protocol shared by the head and persisted blocks.

The head "reads like a block": queriers, compaction and snapshots only use
``BlockReader`` and never care where the data lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from .labels import Labels


class ChunkMeta(NamedTuple):
    """Where one chunk of a series lives and which time range it covers (inclusive)."""

    ref: int
    mint: int
    maxt: int


class Interval(NamedTuple):
    """A deleted time range ``[mint, maxt]`` (inclusive) of a tombstone."""

    mint: int
    maxt: int


@dataclass
class BlockStats:
    num_samples: int = 0
    num_series: int = 0
    num_chunks: int = 0
    num_tombstones: int = 0


@dataclass
class BlockMeta:
    """``meta.json`` of a block; ``max_time`` is exclusive, as in Prometheus."""

    ulid: str
    min_time: int
    max_time: int
    stats: BlockStats = field(default_factory=BlockStats)
    level: int = 1
    sources: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    version: int = 1


class IndexReader(Protocol):
    """Label index of a block or of the head. Series ids are int64, postings sorted."""

    def label_names(self) -> list[str]:
        """All label names, sorted."""
        ...

    def label_values(self, name: str) -> list[str]:
        """All values of ``name``, sorted."""
        ...

    def postings(self, name: str, values: Sequence[str]) -> np.ndarray:
        """Sorted unique int64 ids of series having ``name`` equal to any of ``values``."""
        ...

    def all_postings(self) -> np.ndarray:
        """Sorted int64 ids of every series."""
        ...

    def series(self, sid: int) -> tuple[Labels, list[ChunkMeta]]:
        """Labels and chunk metas (sorted by mint) of series ``sid``."""
        ...


class ChunkReader(Protocol):
    def chunk(self, ref: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded ``(ts int64, vals float64)`` of the chunk at ``ref``."""
        ...


class BlockReader(Protocol):
    """What a querier or the compactor reads from the head or a persisted block."""

    @property
    def meta(self) -> BlockMeta: ...

    def index(self) -> IndexReader: ...

    def chunks(self) -> ChunkReader: ...

    def tombstones(self) -> dict[int, list[Interval]]:
        """Deleted intervals per series id."""
        ...
