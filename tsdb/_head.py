"""The head: recent data in memory, columnar, appended in vectorized batches.

Per-series state lives in numpy arrays indexed by the series ref (a dense
int): the last timestamp/value, and an open chunk buffer of ``CHUNK_SAMPLES``
slots holding int32 timestamp offsets from the chunk's base time and float64
values. A full buffer is cut into an encoded chunk (``_chunkenc``). The head
implements ``BlockReader`` so queriers and the compactor treat it like a block.

Samples become visible on ``commit``; the commit writes one WAL call (new
series + samples) before applying. Out-of-order samples inside
``ooo_window_ms`` go to a small per-series side store merged at read time.
"""

from __future__ import annotations

import bisect
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _chunkenc
from ._blockapi import BlockMeta, BlockStats, ChunkMeta, Interval
from .interface import (
    DuplicateSampleError,
    OutOfBoundsError,
    OutOfOrderError,
    TooOldSampleError,
)
from .labels import Labels

CHUNK_SAMPLES = 120
_INT32_MAX = 2**31 - 1
_MIN_T = -(2**63)
_MAX_T = 2**63 - 1
# A chunk ref packs the series id (high bits) and a per-series chunk id.
_CHUNK_ID_BITS = 24
_CHUNK_ID_MASK = (1 << _CHUNK_ID_BITS) - 1
# Chunk id of the open buffer (read-only view of the samples not yet cut).
_OPEN_CHUNK = _CHUNK_ID_MASK
# Chunk id of the out-of-order side store of a series.
_OOO_CHUNK = _CHUNK_ID_MASK - 1

_HDR = struct.Struct("<qq")


@dataclass
class HeadStats:
    """Counters the server exports as ``prometheus_tsdb_head_*`` metrics."""

    samples_appended: int = 0
    out_of_order_samples: int = 0
    out_of_bounds_samples: int = 0
    too_old_samples: int = 0
    duplicate_samples: int = 0
    ooo_samples_appended: int = 0
    series_created: int = 0
    series_removed: int = 0
    chunks_created: int = 0
    chunks_removed: int = 0


class _Postings:
    """In-memory inverted index: ``(name, value) -> sorted ids``."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, list[int]]] = {}

    def add(self, sid: int, labels: Labels) -> None:
        by_name = self.by_name
        for k, v in labels.pairs:
            vals = by_name.get(k)
            if vals is None:
                vals = by_name[k] = {}
            lst = vals.get(v)
            if lst is None:
                vals[v] = [sid]
            elif lst[-1] < sid:
                lst.append(sid)
            else:
                bisect.insort(lst, sid)

    def remove(self, dead: set[int], labels_of: dict[int, Labels]) -> None:
        for sid in dead:
            for k, v in labels_of[sid].pairs:
                vals = self.by_name.get(k)
                if vals is None:
                    continue
                lst = vals.get(v)
                if lst is None:
                    continue
                i = bisect.bisect_left(lst, sid)
                if i < len(lst) and lst[i] == sid:
                    del lst[i]
                if not lst:
                    del vals[v]
                    if not vals:
                        del self.by_name[k]


class Head:
    """In-memory head block. Thread-safe: appends commit under a lock, reads copy."""

    def __init__(
        self,
        *,
        wal: Any | None = None,
        chunk_range_ms: int = 2 * 3600 * 1000,
        ooo_window_ms: int = 0,
    ) -> None:
        self.wal = wal
        self.chunk_range_ms = chunk_range_ms
        self.ooo_window_ms = ooo_window_ms
        self.lock = threading.RLock()
        self.stats = HeadStats()
        self.min_time = _MAX_T  # inclusive; _MAX_T while empty
        self.max_time = _MIN_T
        # Samples older than this are out of bounds (set after head truncation).
        self.min_valid_time = _MIN_T
        self._next_ref = 1
        self._refs: dict[Labels, int] = {}
        self._labels: dict[int, Labels] = {}
        self._postings = _Postings()
        cap = 1024
        self._last_t = np.full(cap, _MIN_T, dtype=np.int64)
        self._last_v = np.zeros(cap, dtype=np.uint64)  # bit pattern of the last value
        self._base = np.zeros(cap, dtype=np.int64)
        self._n = np.zeros(cap, dtype=np.int32)
        self._buf_t = np.zeros((cap, CHUNK_SAMPLES), dtype=np.int32)
        self._buf_v = np.zeros((cap, CHUNK_SAMPLES), dtype=np.float64)
        # Cut chunks per series: bytes = header(mint, maxt) + encoded chunk.
        self._chunks: dict[int, list[bytes]] = {}
        self._first_chunk_id: dict[int, int] = {}
        self._ooo: dict[int, tuple[list[int], list[float]]] = {}
        self._tombstones: dict[int, list[Interval]] = {}

    # ---- series -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def num_series(self) -> int:
        return len(self._labels)

    def _grow(self, need: int) -> None:
        cap = len(self._last_t)
        if need < cap:
            return
        new = max(need + 1, cap + cap // 2)

        def g(a: np.ndarray, fill: Any) -> np.ndarray:
            # np.zeros maps fresh pages lazily: spare capacity costs no resident memory.
            out = np.zeros((new, *a.shape[1:]), dtype=a.dtype)
            out[:cap] = a
            if fill != 0:
                out[cap:] = fill
            return out

        self._last_t = g(self._last_t, _MIN_T)
        self._last_v = g(self._last_v, 0)
        self._base = g(self._base, 0)
        self._n = g(self._n, 0)
        self._buf_t = g(self._buf_t, 0)
        self._buf_v = g(self._buf_v, 0.0)

    def get_or_create(self, labels: Labels) -> tuple[int, bool]:
        """Series ref for ``labels``; ``True`` when it was created now."""
        ref = self._refs.get(labels)
        if ref is not None:
            return ref, False
        with self.lock:
            ref = self._refs.get(labels)
            if ref is not None:
                return ref, False
            ref = self._next_ref
            self._next_ref += 1
            self._create(ref, labels)
            return ref, True

    def _create(self, ref: int, labels: Labels) -> None:
        self._grow(ref)
        self._refs[labels] = ref
        self._labels[ref] = labels
        self._postings.add(ref, labels)
        self.stats.series_created += 1

    def restore_series(self, refs: np.ndarray, labels: Sequence[Labels]) -> None:
        """Recreate series with their original refs (WAL replay)."""
        with self.lock:
            for ref, ls in zip(refs.tolist(), labels, strict=True):
                old = self._refs.get(ls)
                if old is not None:
                    continue
                self._create(ref, ls)
                if ref >= self._next_ref:
                    self._next_ref = ref + 1

    def labels_of(self, ref: int) -> Labels | None:
        return self._labels.get(ref)

    def ref_of(self, labels: Labels) -> int | None:
        return self._refs.get(labels)

    # ---- appending ----------------------------------------------------------------

    def appender(self) -> HeadAppender:
        return HeadAppender(self)

    def appendable_min_time(self) -> int:
        """Oldest timestamp an in-order append may have (as Prometheus: half a chunk range)."""
        if self.max_time == _MIN_T:
            return self.min_valid_time
        return max(self.min_valid_time, self.max_time - self.chunk_range_ms // 2)

    def check(self, ref: int, t: int, v: float) -> None:
        """Raise the storage error ``(ref, t, v)`` would get against committed data."""
        last = int(self._last_t[ref])
        if t > last:
            if t < self.appendable_min_time() and last == _MIN_T:
                raise OutOfBoundsError()
            return
        if t == last:
            bits = struct.unpack("<Q", struct.pack("<d", v))[0]
            if bits != int(self._last_v[ref]):
                raise DuplicateSampleError()
            return
        if self.ooo_window_ms > 0:
            if t >= self.max_time - self.ooo_window_ms and t >= self.min_valid_time:
                return
            raise TooOldSampleError()
        if t < self.min_valid_time:
            raise OutOfBoundsError()
        raise OutOfOrderError()

    def apply(self, refs: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """Apply committed samples in order; returns the mask of samples stored.

        Samples are applied in "layers" so each layer holds each ref at most
        once; layers keep the input order per series.
        """
        n = len(refs)
        if n == 0:
            return np.zeros(0, dtype=bool)
        refs = refs.astype(np.int64, copy=False)
        ts = ts.astype(np.int64, copy=False)
        vals = vals.astype(np.float64, copy=False)
        accepted = np.zeros(n, dtype=bool)
        with self.lock:
            order = np.argsort(refs, kind="stable")
            sr = refs[order]
            starts = np.r_[True, sr[1:] != sr[:-1]]
            if starts.all():
                self._apply_layer(refs, ts, vals, accepted, np.arange(n))
            else:
                # rank of each sample among the samples of its series
                grp_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
                rank = np.empty(n, dtype=np.int64)
                rank[order] = np.arange(n) - grp_start
                for k in range(int(rank.max()) + 1):
                    idx = np.flatnonzero(rank == k)
                    self._apply_layer(refs[idx], ts[idx], vals[idx], accepted, idx)
        return accepted

    def _apply_layer(
        self, refs: np.ndarray, ts: np.ndarray, vals: np.ndarray, accepted: np.ndarray, pos: np.ndarray
    ) -> None:
        last = self._last_t[refs]
        vbits = vals.view(np.uint64)
        in_order = ts > last
        min_ok = self.appendable_min_time()
        fresh = last == _MIN_T
        oob = in_order & fresh & (ts < min_ok)
        if oob.any():
            self.stats.out_of_bounds_samples += int(oob.sum())
            in_order &= ~oob
        same = (ts == last) & ~in_order
        if same.any():
            dup = same & (vbits != self._last_v[refs])
            self.stats.duplicate_samples += int(dup.sum())
        older = ts < last
        if older.any():
            self._apply_ooo(refs[older], ts[older], vals[older], accepted, pos[older])
        if not in_order.any():
            return
        if not in_order.all():
            refs, ts, vals, pos = refs[in_order], ts[in_order], vals[in_order], pos[in_order]
        slot = self._n[refs]
        full = (slot >= CHUNK_SAMPLES) | ((slot > 0) & (ts - self._base[refs] > _INT32_MAX))
        if full.any():
            self._cut_many(refs[full])
            slot = self._n[refs]
        first = slot == 0
        if first.any():
            self._base[refs[first]] = ts[first]
        self._buf_t[refs, slot] = (ts - self._base[refs]).astype(np.int32)
        self._buf_v[refs, slot] = vals
        self._n[refs] = slot + 1
        self._last_t[refs] = ts
        self._last_v[refs] = vals.view(np.uint64)
        accepted[pos] = True
        self.stats.samples_appended += len(refs)
        tmin, tmax = int(ts.min()), int(ts.max())
        if tmin < self.min_time:
            self.min_time = tmin
        if tmax > self.max_time:
            self.max_time = tmax

    def _apply_ooo(
        self, refs: np.ndarray, ts: np.ndarray, vals: np.ndarray, accepted: np.ndarray, pos: np.ndarray
    ) -> None:
        if self.ooo_window_ms <= 0:
            self.stats.out_of_order_samples += len(refs)
            return
        lo = max(self.max_time - self.ooo_window_ms, self.min_valid_time)
        for r, t, v, p in zip(refs.tolist(), ts.tolist(), vals.tolist(), pos.tolist(), strict=True):
            if t < lo:
                self.stats.too_old_samples += 1
                continue
            store = self._ooo.get(r)
            if store is None:
                store = self._ooo[r] = ([], [])
            tl, vl = store
            i = bisect.bisect_left(tl, t)
            if i < len(tl) and tl[i] == t:
                continue  # duplicate OOO timestamp: first write wins
            if self._in_chunks(r, t):
                self.stats.duplicate_samples += 1
                continue
            tl.insert(i, t)
            vl.insert(i, v)
            accepted[p] = True
            self.stats.ooo_samples_appended += 1
            if t < self.min_time:
                self.min_time = t

    def _in_chunks(self, r: int, t: int) -> bool:
        ts, _ = self._series_in_order(r)
        i = int(np.searchsorted(ts, t))
        return i < len(ts) and int(ts[i]) == t

    def _cut_many(self, refs: np.ndarray) -> None:
        """Cut the open buffers of ``refs``; full buffers are encoded together (2-D)."""
        n = self._n[refs]
        full = refs[n == CHUNK_SAMPLES]
        for r in refs[n != CHUNK_SAMPLES].tolist():
            self._cut(r)
        if not len(full):
            return
        ts = self._buf_t[full].astype(np.int64) + self._base[full][:, None]
        blobs = _chunkenc.encode_batch(ts, self._buf_v[full])
        firsts, lasts = ts[:, 0].tolist(), ts[:, -1].tolist()
        chunks, first_ids = self._chunks, self._first_chunk_id
        for i, r in enumerate(full.tolist()):
            blob = _HDR.pack(firsts[i], lasts[i]) + blobs[i]
            lst = chunks.get(r)
            if lst is None:
                chunks[r] = [blob]
                first_ids.setdefault(r, 0)
            else:
                lst.append(blob)
        self._n[full] = 0
        self.stats.chunks_created += len(full)

    def _cut(self, r: int) -> None:
        n = int(self._n[r])
        if n == 0:
            return
        base = int(self._base[r])
        ts = self._buf_t[r, :n].astype(np.int64) + base
        vs = self._buf_v[r, :n].copy()
        blob = _HDR.pack(int(ts[0]), int(ts[-1])) + _chunkenc.encode(ts, vs)
        lst = self._chunks.get(r)
        if lst is None:
            self._chunks[r] = [blob]
            self._first_chunk_id.setdefault(r, 0)
        else:
            lst.append(blob)
        self._n[r] = 0
        self.stats.chunks_created += 1

    # ---- reading --------------------------------------------------------------------

    def _series_in_order(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        parts_t: list[np.ndarray] = []
        parts_v: list[np.ndarray] = []
        for blob in self._chunks.get(r, ()):
            t, v = _chunkenc.decode(memoryview(blob)[_HDR.size :])
            parts_t.append(t)
            parts_v.append(v)
        n = int(self._n[r])
        if n:
            parts_t.append(self._buf_t[r, :n].astype(np.int64) + int(self._base[r]))
            parts_v.append(self._buf_v[r, :n].copy())
        if not parts_t:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        if len(parts_t) == 1:
            return parts_t[0], parts_v[0]
        return np.concatenate(parts_t), np.concatenate(parts_v)

    def chunk_metas(self, r: int) -> list[ChunkMeta]:
        with self.lock:
            metas = []
            first = self._first_chunk_id.get(r, 0)
            for i, blob in enumerate(self._chunks.get(r, ())):
                mint, maxt = _HDR.unpack_from(blob)
                metas.append(ChunkMeta((r << _CHUNK_ID_BITS) | (first + i), mint, maxt))
            n = int(self._n[r])
            if n:
                base = int(self._base[r])
                metas.append(
                    ChunkMeta(
                        (r << _CHUNK_ID_BITS) | _OPEN_CHUNK,
                        base + int(self._buf_t[r, 0]),
                        base + int(self._buf_t[r, n - 1]),
                    )
                )
            ooo = self._ooo.get(r)
            if ooo and ooo[0]:
                metas.append(ChunkMeta((r << _CHUNK_ID_BITS) | _OOO_CHUNK, ooo[0][0], ooo[0][-1]))
            metas.sort(key=lambda m: m.mint)
            return metas

    def read_chunk(self, ref: int) -> tuple[np.ndarray, np.ndarray]:
        r, cid = ref >> _CHUNK_ID_BITS, ref & _CHUNK_ID_MASK
        with self.lock:
            if cid == _OPEN_CHUNK:
                n = int(self._n[r])
                return (
                    self._buf_t[r, :n].astype(np.int64) + int(self._base[r]),
                    self._buf_v[r, :n].copy(),
                )
            if cid == _OOO_CHUNK:
                tl, vl = self._ooo.get(r, ([], []))
                return np.array(tl, dtype=np.int64), np.array(vl, dtype=np.float64)
            lst = self._chunks.get(r)
            i = cid - self._first_chunk_id.get(r, 0)
            if lst is None or not 0 <= i < len(lst):
                raise KeyError(f"head chunk {ref:#x} not found (truncated?)")
            blob = lst[i]
        return _chunkenc.decode(memoryview(blob)[_HDR.size :])

    @property
    def meta(self) -> BlockMeta:
        mint = self.min_time if self.min_time != _MAX_T else 0
        maxt = self.max_time + 1 if self.max_time != _MIN_T else 0
        return BlockMeta(
            ulid="head",
            min_time=mint,
            max_time=maxt,
            stats=BlockStats(num_series=len(self._labels), num_samples=self.stats.samples_appended),
        )

    def index(self) -> HeadIndexReader:
        return HeadIndexReader(self)

    def chunks(self) -> Head:
        return self

    def chunk(self, ref: int) -> tuple[np.ndarray, np.ndarray]:
        return self.read_chunk(ref)

    def tombstones(self) -> dict[int, list[Interval]]:
        with self.lock:
            return {k: list(v) for k, v in self._tombstones.items()}

    def add_tombstones(self, refs: Sequence[int], mint: int, maxt: int) -> None:
        with self.lock:
            for r in refs:
                self._tombstones.setdefault(int(r), []).append(Interval(mint, maxt))

    # ---- truncation -----------------------------------------------------------------

    def truncate(self, mint: int) -> set[int]:
        """Drop data older than ``mint`` and series left empty; returns removed refs.

        Called after the data below ``mint`` was persisted to a block.
        """
        with self.lock:
            self.min_valid_time = max(self.min_valid_time, mint)
            dead: set[int] = set()
            for r in list(self._labels):
                lst = self._chunks.get(r)
                if lst:
                    keep_from = 0
                    for i, blob in enumerate(lst):
                        _, cmaxt = _HDR.unpack_from(blob)
                        if cmaxt >= mint:
                            break
                        keep_from = i + 1
                    if keep_from:
                        del lst[:keep_from]
                        self._first_chunk_id[r] = self._first_chunk_id.get(r, 0) + keep_from
                        self.stats.chunks_removed += keep_from
                    if not lst:
                        del self._chunks[r]
                ooo = self._ooo.get(r)
                if ooo is not None:
                    tl, vl = ooo
                    i = bisect.bisect_left(tl, mint)
                    del tl[:i], vl[:i]
                    if not tl:
                        del self._ooo[r]
                n = int(self._n[r])
                if n and int(self._base[r]) + int(self._buf_t[r, n - 1]) < mint:
                    self._n[r] = 0
                    n = 0
                if not n and r not in self._chunks and r not in self._ooo:
                    dead.add(r)
            # Keep partially-covered open buffers (their old samples are filtered at
            # read time by the head's min_time).
            if dead:
                self._postings.remove(dead, self._labels)
                for r in dead:
                    ls = self._labels.pop(r)
                    self._refs.pop(ls, None)
                    self._first_chunk_id.pop(r, None)
                    self._tombstones.pop(r, None)
                    self._last_t[r] = _MIN_T
                self.stats.series_removed += len(dead)
            for r, ivs in list(self._tombstones.items()):
                ivs[:] = [iv for iv in ivs if iv.maxt >= mint]
                if not ivs:
                    del self._tombstones[r]
            self.min_time = max(self.min_time, mint) if self._labels else _MAX_T
            if not self._labels:
                self.max_time = max(self.max_time, _MIN_T)
            return dead

    def series_refs(self) -> list[int]:
        with self.lock:
            return sorted(self._labels)


class HeadIndexReader:
    """``IndexReader`` over the head's in-memory postings."""

    def __init__(self, head: Head) -> None:
        self._h = head

    def label_names(self) -> list[str]:
        with self._h.lock:
            return sorted(self._h._postings.by_name)

    def label_values(self, name: str) -> list[str]:
        with self._h.lock:
            return sorted(self._h._postings.by_name.get(name, ()))

    def postings(self, name: str, values: Sequence[str]) -> np.ndarray:
        with self._h.lock:
            vals = self._h._postings.by_name.get(name)
            if not vals:
                return np.zeros(0, dtype=np.int64)
            lists = [vals[v] for v in values if v in vals]
            if not lists:
                return np.zeros(0, dtype=np.int64)
            if len(lists) == 1:
                return np.array(lists[0], dtype=np.int64)
            return np.unique(np.concatenate([np.array(x, dtype=np.int64) for x in lists]))

    def all_postings(self) -> np.ndarray:
        with self._h.lock:
            return np.array(sorted(self._h._labels), dtype=np.int64)

    def series(self, sid: int) -> tuple[Labels, list[ChunkMeta]]:
        ls = self._h._labels.get(sid)
        if ls is None:
            raise KeyError(f"head series {sid} not found")
        return ls, self._h.chunk_metas(sid)


class HeadAppender:
    """A transaction against the head; implements ``tsdb.interface.Appender``."""

    def __init__(self, head: Head) -> None:
        self._h = head
        self._new_refs: list[int] = []
        self._new_labels: list[Labels] = []
        self._refs: list[np.ndarray] = []
        self._ts: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._sr: list[int] = []
        self._st: list[int] = []
        self._sv: list[float] = []
        self._pending_last: dict[int, int] = {}

    def ref_for(self, labels: Labels) -> int:
        ref, created = self._h.get_or_create(labels)
        if created:
            self._new_refs.append(ref)
            self._new_labels.append(labels)
        return ref

    def append(self, ref: int | None, labels: Labels | None, t: int, v: float) -> int:
        h = self._h
        if ref is None or ref not in h._labels:
            if labels is None:
                raise ValueError("append needs a known ref or labels")
            ref = self.ref_for(labels)
        pend = self._pending_last.get(ref)
        if pend is not None and t <= pend:
            if t == pend:
                return ref  # same-transaction duplicate: resolved at commit
            if h.ooo_window_ms <= 0:
                raise OutOfOrderError()
        h.check(ref, t, v)
        self._sr.append(ref)
        self._st.append(t)
        self._sv.append(v)
        if pend is None or t > pend:
            self._pending_last[ref] = t
        return ref

    def append_batch(self, refs: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> np.ndarray:
        refs = np.asarray(refs, dtype=np.int64)
        ts = np.asarray(ts, dtype=np.int64)
        vals = np.asarray(vals, dtype=np.float64)
        if not (len(refs) == len(ts) == len(vals)):
            raise ValueError("append_batch: refs, ts and vals must have the same length")
        h = self._h
        ok = np.ones(len(refs), dtype=bool)
        if len(refs):
            if refs.min() <= 0 or refs.max() >= len(h._last_t):
                raise ValueError("append_batch: unknown series ref")
            # Early rejection against committed data; the rest is decided at commit.
            last = h._last_t[refs]
            ok = ts > last
            if h.ooo_window_ms > 0:
                ok |= (ts < last) & (ts >= h.max_time - h.ooo_window_ms)
            ok |= (ts == last) & (vals.view(np.uint64) == h._last_v[refs])
        self._refs.append(refs[ok])
        self._ts.append(ts[ok])
        self._vals.append(vals[ok])
        return ok

    def commit(self) -> None:
        h = self._h
        if self._sr:
            self._refs.append(np.array(self._sr, dtype=np.int64))
            self._ts.append(np.array(self._st, dtype=np.int64))
            self._vals.append(np.array(self._sv, dtype=np.float64))
        refs = np.concatenate(self._refs) if self._refs else np.zeros(0, np.int64)
        ts = np.concatenate(self._ts) if self._ts else np.zeros(0, np.int64)
        vals = np.concatenate(self._vals) if self._vals else np.zeros(0, np.float64)
        if h.wal is not None and (len(refs) or self._new_refs):
            from ._wal import encode_samples, encode_series

            recs = []
            if self._new_refs:
                recs.append(encode_series(np.array(self._new_refs, dtype=np.uint64), self._new_labels))
            if len(refs):
                recs.append(encode_samples(refs.astype(np.uint64), ts, vals))
            h.wal.log(*recs)
        h.apply(refs, ts, vals)
        self._reset()

    def rollback(self) -> None:
        # Series created in the transaction stay (Prometheus keeps them too, and GC
        # removes them at the next truncation if they never got samples); log them so
        # refs stay consistent across restarts.
        h = self._h
        if h.wal is not None and self._new_refs:
            from ._wal import encode_series

            h.wal.log(encode_series(np.array(self._new_refs, dtype=np.uint64), self._new_labels))
        self._reset()

    def _reset(self) -> None:
        self._new_refs, self._new_labels = [], []
        self._refs, self._ts, self._vals = [], [], []
        self._sr, self._st, self._sv = [], [], []
        self._pending_last = {}
