"""In-memory storage implementing the ``tsdb.interface`` query seam.

``MemStorage`` is a small ``Queryable`` (and ``Appendable``) for tests and the
conformance runner: series are kept as sorted ``int64``/``float64`` arrays,
``select`` matches with ``tsdb.matchers.matches_labels`` and returns series
sorted by labels. It is deliberately simple; it is not a TSDB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from tsdb.interface import (
    DuplicateSampleError,
    Labels,
    Matcher,
    SelectHints,
    Series,
    matches_labels,
)

__all__ = ["MemStorage", "MemQuerier", "MemAppender"]


def _as_labels(labels: Labels | Mapping[str, str]) -> Labels:
    if isinstance(labels, Labels):
        return labels
    return Labels.from_dict(labels)


class MemStorage:
    """A Queryable/Appendable keeping every series in memory."""

    def __init__(self) -> None:
        self._series: dict[Labels, tuple[np.ndarray, np.ndarray]] = {}
        self._sorted: list[Labels] | None = None

    # -- writing -----------------------------------------------------------
    def add(
        self,
        labels: Labels | Mapping[str, str],
        ts: Sequence[int] | np.ndarray,
        vals: Sequence[float] | np.ndarray,
    ) -> None:
        """Add samples to a series; later samples at an existing timestamp win."""
        lbls = _as_labels(labels)
        t = np.asarray(ts, dtype=np.int64)
        v = np.asarray(vals, dtype=np.float64)
        if t.shape != v.shape or t.ndim != 1:
            raise ValueError("ts and vals must be 1-D arrays of the same length")
        old = self._series.get(lbls)
        if old is not None:
            t = np.concatenate([old[0], t])
            v = np.concatenate([old[1], v])
        if len(t) > 1 and not np.all(np.diff(t) > 0):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
            # Keep the last written sample of each timestamp.
            keep = np.ones(len(t), dtype=bool)
            keep[:-1] = t[1:] != t[:-1]
            t, v = t[keep], v[keep]
        if old is None:
            self._sorted = None
        self._series[lbls] = (t, v)

    def appender(self) -> MemAppender:
        return MemAppender(self)

    def clear(self) -> None:
        self._series.clear()
        self._sorted = None

    # -- reading -----------------------------------------------------------
    def querier(self, mint: int, maxt: int) -> MemQuerier:
        return MemQuerier(self, mint, maxt)

    def sorted_labels(self) -> list[Labels]:
        if self._sorted is None:
            self._sorted = sorted(self._series)
        return self._sorted

    def series(self, labels: Labels) -> tuple[np.ndarray, np.ndarray]:
        return self._series[labels]

    def __len__(self) -> int:
        return len(self._series)


class MemQuerier:
    """Read view of a ``MemStorage`` over ``[mint, maxt]``."""

    def __init__(self, storage: MemStorage, mint: int, maxt: int) -> None:
        self.storage = storage
        self.mint = mint
        self.maxt = maxt

    def _matching(self, matchers: Sequence[Matcher]) -> Iterator[Labels]:
        for lbls in self.storage.sorted_labels():
            if matches_labels(matchers, lbls):
                yield lbls

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, sort: bool = False
    ) -> Iterator[Series]:
        """Matching series (sorted by labels) with their samples in ``[mint, maxt]``."""
        for lbls in self._matching(matchers):
            ts, vals = self.storage.series(lbls)
            lo = int(np.searchsorted(ts, self.mint, side="left"))
            hi = int(np.searchsorted(ts, self.maxt, side="right"))
            if hi <= lo:
                continue
            yield Series(lbls, ts[lo:hi], vals[lo:hi])

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        for lbls in self._matching(matchers):
            names.update(lbls.names())
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        values: set[str] = set()
        for lbls in self._matching(matchers):
            v = lbls.get(name)
            if v:
                values.add(v)
        return sorted(values)

    def close(self) -> None:
        pass


class MemAppender:
    """A transaction on a ``MemStorage``; samples become visible on ``commit``."""

    def __init__(self, storage: MemStorage) -> None:
        self._storage = storage
        self._refs: dict[Labels, int] = {}
        self._by_ref: list[Labels] = []
        self._pending: dict[int, tuple[list[int], list[float]]] = {}

    def ref_for(self, labels: Labels) -> int:
        ref = self._refs.get(labels)
        if ref is None:
            ref = len(self._by_ref)
            self._refs[labels] = ref
            self._by_ref.append(labels)
        return ref

    def append(self, ref: int | None, labels: Labels | None, t: int, v: float) -> int:
        if ref is None:
            if labels is None:
                raise ValueError("append needs a ref or labels")
            ref = self.ref_for(labels)
        ts, vs = self._pending.setdefault(ref, ([], []))
        if ts and ts[-1] == t and vs[-1] != v:
            raise DuplicateSampleError()
        ts.append(int(t))
        vs.append(float(v))
        return ref

    def append_batch(self, refs: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> np.ndarray:
        for r, t, v in zip(refs.tolist(), ts.tolist(), vals.tolist(), strict=True):
            self.append(int(r), None, int(t), float(v))
        return np.ones(len(refs), dtype=bool)

    def commit(self) -> None:
        for ref, (ts, vs) in self._pending.items():
            self._storage.add(self._by_ref[ref], ts, vs)
        self._pending.clear()

    def rollback(self) -> None:
        self._pending.clear()


def load_series(storage: MemStorage, series: Iterable[tuple[Labels, Sequence[int], Sequence[float]]]) -> None:
    """Bulk-load ``(labels, ts, vals)`` triples."""
    for lbls, ts, vals in series:
        storage.add(lbls, ts, vals)
