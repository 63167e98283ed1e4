"""The storage seam: what the scraper, PromQL and the server may use of the TSDB.

Like Prometheus's ``storage/interface.go``: appenders write samples in
transactions, queriers read series over a time range. A series read back is
``Series(labels, ts, vals)`` with ``ts`` an ``int64`` millisecond array and
``vals`` a ``float64`` array (stale markers kept bit-exact).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from .labels import EMPTY_LABELS, METRIC_NAME, Labels, LabelsBuilder
from .matchers import InvalidMatcherError, Matcher, MatchType, matches_labels

__all__ = [
    "Appendable",
    "Appender",
    "DuplicateSampleError",
    "EMPTY_LABELS",
    "InvalidMatcherError",
    "Labels",
    "LabelsBuilder",
    "METRIC_NAME",
    "Matcher",
    "MatchType",
    "OutOfBoundsError",
    "OutOfOrderError",
    "Querier",
    "Queryable",
    "STALE_NAN",
    "STALE_NAN_BITS",
    "SelectHints",
    "Series",
    "StorageError",
    "TooOldSampleError",
    "is_stale_nan",
    "matches_labels",
    "stale_mask",
]

# Prometheus's staleness marker: a signalling-style NaN with a fixed bit pattern.
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def is_stale_nan(v: float) -> bool:
    return math.isnan(v) and struct.unpack("<Q", struct.pack("<d", v))[0] == STALE_NAN_BITS


def stale_mask(vals: np.ndarray) -> np.ndarray:
    """Boolean mask of stale markers in a float64 array (bit-exact test)."""
    return vals.view(np.uint64) == np.uint64(STALE_NAN_BITS)


class StorageError(Exception):
    """Base class of storage errors."""


class OutOfOrderError(StorageError):
    """A sample is older than the newest sample of its series (and outside the OOO window)."""

    def __init__(self, msg: str = "out of order sample") -> None:
        super().__init__(msg)


class OutOfBoundsError(StorageError):
    """A sample is older than what the head accepts (before the head's minimum valid time)."""

    def __init__(self, msg: str = "out of bounds") -> None:
        super().__init__(msg)


class TooOldSampleError(StorageError):
    """A sample is older than the out-of-order window allows."""

    def __init__(self, msg: str = "too old sample") -> None:
        super().__init__(msg)


class DuplicateSampleError(StorageError):
    """Same timestamp as an existing sample but a different value."""

    def __init__(self, msg: str = "duplicate sample for timestamp") -> None:
        super().__init__(msg)


class Series(NamedTuple):
    labels: Labels
    ts: np.ndarray  # int64 milliseconds, strictly increasing
    vals: np.ndarray  # float64


@dataclass(frozen=True)
class SelectHints:
    """Optional hints to ``Querier.select`` (as Prometheus's ``SelectHints``)."""

    start: int | None = None
    end: int | None = None
    step: int | None = None
    func: str | None = None
    range: int | None = None
    by: bool = False
    grouping: tuple[str, ...] = ()


@runtime_checkable
class Appender(Protocol):
    """A transaction of appends; nothing is visible to queriers before ``commit``."""

    def append(self, ref: int | None, labels: Labels | None, t: int, v: float) -> int:
        """Append one sample; returns the series ref usable for later appends.

        Pass ``ref`` (from an earlier append) or ``labels``. Raises
        ``OutOfOrderError``, ``OutOfBoundsError``, ``TooOldSampleError`` or
        ``DuplicateSampleError``; the rest of the transaction is unaffected.
        """
        ...

    def append_batch(self, refs: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """Append many samples for known refs at once (the fast path for scrapes).

        Returns a boolean mask of the samples that were accepted; rejected
        samples are counted, not raised.
        """
        ...

    def ref_for(self, labels: Labels) -> int:
        """The series ref for ``labels``, creating the series if needed."""
        ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


@runtime_checkable
class Appendable(Protocol):
    def appender(self) -> Appender: ...


@runtime_checkable
class Querier(Protocol):
    """A read view of ``[mint, maxt]`` (both inclusive, milliseconds)."""

    mint: int
    maxt: int

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, sort: bool = False
    ) -> Iterator[Series]:
        """Series matching all ``matchers`` with their samples inside ``[mint, maxt]``."""
        ...

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Sorted label names of the series matching ``matchers`` (all series if none)."""
        ...

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        """Sorted values of label ``name`` among the series matching ``matchers``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Queryable(Protocol):
    def querier(self, mint: int, maxt: int) -> Querier: ...
