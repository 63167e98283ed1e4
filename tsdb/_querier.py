"""Queriers over any set of ``BlockReader``s (head and blocks), merged by labels."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ._blockapi import BlockReader, Interval
from ._postings import label_names_for_matchers, label_values_for_matchers, postings_for_matchers
from .interface import SelectHints, Series
from .labels import Labels
from .matchers import Matcher

_EMPTY_T = np.zeros(0, dtype=np.int64)
_EMPTY_V = np.zeros(0, dtype=np.float64)


def apply_tombstones(
    ts: np.ndarray, vals: np.ndarray, ivs: Sequence[Interval]
) -> tuple[np.ndarray, np.ndarray]:
    """Drop samples inside any deleted interval."""
    if not ivs or not len(ts):
        return ts, vals
    keep = np.ones(len(ts), dtype=bool)
    for iv in ivs:
        lo = np.searchsorted(ts, iv.mint, side="left")
        hi = np.searchsorted(ts, iv.maxt, side="right")
        keep[lo:hi] = False
    if keep.all():
        return ts, vals
    return ts[keep], vals[keep]


def read_series(
    block: BlockReader,
    sid: int,
    mint: int,
    maxt: int,
    tombstones: dict[int, list[Interval]] | None = None,
) -> tuple[Labels, np.ndarray, np.ndarray]:
    """All samples of series ``sid`` of ``block`` within ``[mint, maxt]``, tombstones applied."""
    labels, metas = block.index().series(sid)
    cr = block.chunks()
    parts_t: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    for m in metas:
        if m.maxt < mint or m.mint > maxt:
            continue
        t, v = cr.chunk(m.ref)
        parts_t.append(t)
        parts_v.append(v)
    if not parts_t:
        return labels, _EMPTY_T, _EMPTY_V
    if len(parts_t) == 1:
        ts, vals = parts_t[0], parts_v[0]
    else:
        ts, vals = merge_samples(parts_t, parts_v)
    lo = np.searchsorted(ts, mint, side="left")
    hi = np.searchsorted(ts, maxt, side="right")
    ts, vals = ts[lo:hi], vals[lo:hi]
    if tombstones:
        ivs = tombstones.get(sid)
        if ivs:
            ts, vals = apply_tombstones(ts, vals, ivs)
    return labels, ts, vals


def merge_samples(parts_t: list[np.ndarray], parts_v: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Merge sample runs into one sorted run; on equal timestamps the last run wins."""
    ts = np.concatenate(parts_t)
    vals = np.concatenate(parts_v)
    if len(ts) > 1 and not (np.diff(ts) > 0).all():
        order = np.argsort(ts, kind="stable")
        ts, vals = ts[order], vals[order]
        # keep the last of each run of equal timestamps (later sources win)
        keep = np.r_[ts[1:] != ts[:-1], True]
        ts, vals = ts[keep], vals[keep]
    return ts, vals


class BlockQuerier:
    """Implements ``tsdb.interface.Querier`` over blocks ordered oldest first (head last)."""

    def __init__(self, blocks: Sequence[BlockReader], mint: int, maxt: int) -> None:
        self.mint = mint
        self.maxt = maxt
        self._blocks = [b for b in blocks if _overlaps(b, mint, maxt)]

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, sort: bool = False
    ) -> Iterator[Series]:
        mint, maxt = self.mint, self.maxt
        if hints is not None:
            if hints.start is not None:
                mint = max(mint, hints.start)
            if hints.end is not None:
                maxt = min(maxt, hints.end)
        if len(self._blocks) == 1:
            yield from self._select_one(self._blocks[0], matchers, mint, maxt)
            return
        merged: dict[Labels, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for b in self._blocks:
            for s in self._select_one(b, matchers, mint, maxt):
                entry = merged.get(s.labels)
                if entry is None:
                    merged[s.labels] = ([s.ts], [s.vals])
                else:
                    entry[0].append(s.ts)
                    entry[1].append(s.vals)
        for labels in sorted(merged):
            pt, pv = merged[labels]
            if len(pt) == 1:
                yield Series(labels, pt[0], pv[0])
            else:
                ts, vals = merge_samples(pt, pv)
                yield Series(labels, ts, vals)

    def _select_one(
        self, b: BlockReader, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> Iterator[Series]:
        ix = b.index()
        ids = postings_for_matchers(ix, matchers)
        tomb = b.tombstones()
        out = []
        for sid in ids.tolist():
            try:
                labels, ts, vals = read_series(b, sid, mint, maxt, tomb)
            except KeyError:
                continue  # series removed by a concurrent head truncation
            if len(ts):
                out.append(Series(labels, ts, vals))
        out.sort(key=lambda s: s.labels)
        yield from out

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        names: set[str] = set()
        for b in self._blocks:
            names.update(label_names_for_matchers(b.index(), matchers))
        return sorted(names)

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        vals: set[str] = set()
        for b in self._blocks:
            vals.update(label_values_for_matchers(b.index(), name, matchers))
        return sorted(vals)

    def close(self) -> None:
        pass


def _overlaps(b: BlockReader, mint: int, maxt: int) -> bool:
    m = b.meta
    if m.ulid == "head":
        return True  # the head's bounds move while we read; filter per series
    return m.min_time <= maxt and m.max_time > mint
