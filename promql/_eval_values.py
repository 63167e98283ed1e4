"""Internal value representations used while evaluating over all steps at once."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tsdb.interface import Labels

from .functions import SeriesBatch


@dataclass
class Ctx:
    """Evaluation context: the step timestamps and query-level parameters."""

    times: np.ndarray  # int64 (n,) evaluation timestamps, ascending
    query_start: int
    query_end: int
    query_step: int  # 0 for instant queries

    @property
    def n(self) -> int:
        return len(self.times)


@dataclass
class VecVal:
    """An instant vector at every step: dense ``(series, steps)`` values plus presence mask.

    ``drop`` marks series whose ``__name__`` is to be removed at the end of the
    query (Prometheus 3's delayed name removal). ``sample_ts`` holds the
    original sample timestamps for vector selectors (used by ``timestamp()``).
    Row order is the result order for instant queries.
    """

    labels: list[Labels]
    vals: np.ndarray
    mask: np.ndarray
    drop: np.ndarray
    sample_ts: np.ndarray | None = None

    @classmethod
    def empty(cls, n: int) -> VecVal:
        return cls([], np.zeros((0, n)), np.zeros((0, n), dtype=bool), np.zeros(0, dtype=bool))

    @property
    def m(self) -> int:
        return len(self.labels)

    def take(self, rows: np.ndarray | list[int]) -> VecVal:
        rows = np.asarray(rows, dtype=np.int64)
        return VecVal(
            [self.labels[i] for i in rows.tolist()],
            self.vals[rows],
            self.mask[rows],
            self.drop[rows],
            None if self.sample_ts is None else self.sample_ts[rows],
        )

    def compact(self) -> VecVal:
        """Drop series that have no point at any step."""
        keep = self.mask.any(axis=1)
        if keep.all():
            return self
        return self.take(np.nonzero(keep)[0])


@dataclass
class ScalarVal:
    """A scalar at every step."""

    vals: np.ndarray


@dataclass
class StringVal:
    """A string value."""

    val: str


@dataclass
class MatrixVal:
    """A range vector (result of a matrix selector or subquery at top level)."""

    batch: SeriesBatch
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


Value = VecVal | ScalarVal | StringVal | MatrixVal
