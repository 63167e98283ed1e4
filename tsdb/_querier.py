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
        labels, ts, vals, offsets = self.select_batch(matchers, hints)
        offs = offsets.tolist()
        for i, lb in enumerate(labels):
            a, b = offs[i], offs[i + 1]
            yield Series(lb, ts[a:b], vals[a:b])

    def select_batch(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None
    ) -> tuple[list[Labels], np.ndarray, np.ndarray, np.ndarray]:
        """The selected series in one flat layout: ``(labels, ts, vals, offsets)``.

        Series ``i`` (sorted by labels, none empty) owns ``ts[offsets[i]:offsets[i+1]]``;
        samples are merged across blocks and trimmed to the querier's (and hints') range.
        """
        mint, maxt = self.mint, self.maxt
        if hints is not None:
            if hints.start is not None:
                mint = max(mint, hints.start)
            if hints.end is not None:
                maxt = min(maxt, hints.end)
        per_block = [_collect(b, matchers, mint, maxt) for b in self._blocks]
        per_block = [pb for pb in per_block if pb[0]]
        if not per_block:
            return [], _EMPTY_T, _EMPTY_V, np.zeros(1, dtype=np.int64)
        if len(per_block) == 1 or all(pb[0] == per_block[0][0] for pb in per_block[1:]):
            # Same series in every block (the common case): concatenate block by block.
            labels = per_block[0][0]
            if len(per_block) == 1 and not per_block[0][3]:
                order = None
            else:
                order = sorted(range(len(labels)), key=lambda i: labels[i].pairs)
                if order == list(range(len(labels))):
                    order = None
            parts_t: list[np.ndarray] = []
            parts_v: list[np.ndarray] = []
            lens = np.zeros(len(labels), dtype=np.int64)
            for k in order if order is not None else range(len(labels)):
                for pb in per_block:
                    pt, pv = pb[1][k], pb[2][k]
                    parts_t.extend(pt)
                    parts_v.extend(pv)
            for pb in per_block:
                lens += pb[4]
            if order is not None:
                labels = [labels[i] for i in order]
                lens = lens[order]
        else:
            merged: dict[Labels, tuple[list[np.ndarray], list[np.ndarray]]] = {}
            for pb in per_block:
                for lb, pt, pv in zip(pb[0], pb[1], pb[2], strict=True):
                    entry = merged.get(lb)
                    if entry is None:
                        merged[lb] = (list(pt), list(pv))
                    else:
                        entry[0].extend(pt)
                        entry[1].extend(pv)
            labels = sorted(merged, key=lambda lb: lb.pairs)
            parts_t, parts_v = [], []
            lens = np.empty(len(labels), dtype=np.int64)
            for i, lb in enumerate(labels):
                pt, pv = merged[lb]
                parts_t.extend(pt)
                parts_v.extend(pv)
                lens[i] = sum(len(x) for x in pt)
        ts = np.concatenate(parts_t) if parts_t else _EMPTY_T
        vals = np.concatenate(parts_v) if parts_v else _EMPTY_V
        offsets = np.zeros(len(labels) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        if len(ts) > 1 and len(parts_t) > len(labels):
            # Blocks (or chunks) may overlap: merge series whose timestamps are not strictly increasing.
            bad = ts[1:] <= ts[:-1]
            bad[offsets[1:-1] - 1] = False
            if bad.any():
                sids = np.unique(np.searchsorted(offsets, np.flatnonzero(bad) + 1, side="right") - 1)
                ts, vals, offsets = _remerge(ts, vals, offsets, sids.tolist())
        return labels, ts, vals, offsets

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


def _collect(
    b: BlockReader, matchers: Sequence[Matcher], mint: int, maxt: int
) -> tuple[list[Labels], list[list[np.ndarray]], list[list[np.ndarray]], bool, np.ndarray]:
    """Non-empty series of one block: labels, per-series sample parts, whether the
    labels may be unsorted, and the sample count per series."""
    ix = b.index()
    ids = postings_for_matchers(ix, matchers)
    tomb = b.tombstones()
    cr = b.chunks()
    many = getattr(cr, "chunk_many", None)
    labels: list[Labels] = []
    parts_t: list[list[np.ndarray]] = []
    parts_v: list[list[np.ndarray]] = []
    if many is None:
        for sid in ids.tolist():
            try:
                lb, t, v = read_series(b, sid, mint, maxt, tomb)
            except KeyError:
                continue  # series removed by a concurrent head truncation
            if len(t):
                labels.append(lb)
                parts_t.append([t])
                parts_v.append([v])
        lens = np.fromiter((len(p[0]) for p in parts_t), dtype=np.int64, count=len(parts_t))
        return labels, parts_t, parts_v, True, lens
    # Persisted block: series ids are in label order; decode every chunk in one batch.
    series = ix.series
    refs: list[int] = []
    trim: list[int] = []  # positions in refs of chunks crossing [mint, maxt]
    cand: list[tuple[Labels, int, int, int]] = []
    for sid in ids.tolist():
        lb, metas = series(sid)
        a = len(refs)
        for m in metas:
            if m.maxt < mint or m.mint > maxt:
                continue
            if m.mint < mint or m.maxt > maxt:
                trim.append(len(refs))
            refs.append(m.ref)
        if len(refs) > a:
            cand.append((lb, sid, a, len(refs)))
    if not refs:
        return [], [], [], False, np.zeros(0, dtype=np.int64)
    dec = many(refs)
    dt = [d[0] for d in dec]
    dv = [d[1] for d in dec]
    for i in trim:
        t = dt[i]
        lo = np.searchsorted(t, mint, side="left")
        hi = np.searchsorted(t, maxt, side="right")
        dt[i], dv[i] = t[lo:hi], dv[i][lo:hi]
    lens_all = np.fromiter((len(t) for t in dt), dtype=np.int64, count=len(dt))
    csum = np.zeros(len(dt) + 1, dtype=np.int64)
    np.cumsum(lens_all, out=csum[1:])
    lens_l: list[int] = []
    for lb, sid, a, e in cand:
        pt, pv = dt[a:e], dv[a:e]
        n = int(csum[e] - csum[a])
        if tomb:
            ivs = tomb.get(sid)
            if ivs and n:
                t, v = apply_tombstones(*_join(pt, pv), ivs)
                pt, pv, n = [t], [v], len(t)
        if n:
            labels.append(lb)
            parts_t.append(pt)
            parts_v.append(pv)
            lens_l.append(n)
    return labels, parts_t, parts_v, False, np.array(lens_l, dtype=np.int64)


def _join(pt: list[np.ndarray], pv: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if len(pt) == 1:
        return pt[0], pv[0]
    return merge_samples(pt, pv)


def _remerge(
    ts: np.ndarray, vals: np.ndarray, offsets: np.ndarray, sids: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort and de-duplicate the samples of series ``sids`` (later blocks win on equal timestamps)."""
    offs = offsets.tolist()
    bad = set(sids)
    pt: list[np.ndarray] = []
    pv: list[np.ndarray] = []
    lens = np.diff(offsets)
    for i in range(len(offs) - 1):
        a, b = offs[i], offs[i + 1]
        t, v = ts[a:b], vals[a:b]
        if i in bad:
            t, v = merge_samples([t], [v])
            lens[i] = len(t)
        pt.append(t)
        pv.append(v)
    out = np.zeros(len(offsets), dtype=np.int64)
    np.cumsum(lens, out=out[1:])
    return np.concatenate(pt), np.concatenate(pv), out


def _overlaps(b: BlockReader, mint: int, maxt: int) -> bool:
    m = b.meta
    if m.ulid == "head":
        return True  # the head's bounds move while we read; filter per series
    return m.min_time <= maxt and m.max_time > mint
