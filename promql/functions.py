"""Vectorized PromQL functions.

Range-vector functions are evaluated for every (series, step) window at once.
The samples of all series live in one CSR-like :class:`SeriesBatch` (``ts``,
``vals`` concatenated, ``offsets`` per series); the per-step windows
``(t - range, t]`` are located with one ``np.searchsorted`` over composite
``(series, timestamp)`` keys, giving flat ``[lo, hi)`` index windows. Each
function then works on those windows with cumulative sums, ``ufunc.reduceat``
or, where Prometheus uses order-dependent (Kahan) arithmetic, a loop over the
position inside the window that is vectorized across all windows.

Instant-vector functions work on the dense ``(series, steps)`` value arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tsdb.interface import Labels, Series, stale_mask

__all__ = [
    "RANGE_FUNCTIONS",
    "SIMPLE_FUNCTIONS",
    "DATE_FUNCTIONS",
    "SeriesBatch",
    "Windows",
    "bucket_quantile",
    "bucket_fraction",
    "date_function",
    "kahan_inc",
    "quantile_sorted",
    "range_function",
]

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)


# --------------------------------------------------------------------------- Kahan


def kahan_inc(inc: np.ndarray, s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Neumaier-Kahan step ``(s, c) + inc`` elementwise, as Prometheus's ``kahansum.Inc``."""
    with np.errstate(invalid="ignore", over="ignore"):
        t = s + inc
        big = np.abs(s) >= np.abs(inc)
        corr = np.where(big, (s - t) + inc, (inc - t) + s)
        c2 = c + corr
    c2 = np.where(np.isinf(t), 0.0, c2)
    return t, c2


# --------------------------------------------------------------------------- batches


@dataclass
class SeriesBatch:
    """Samples of many series in one flat layout (CSR-like).

    Series ``i`` owns ``ts[offsets[i]:offsets[i+1]]`` / ``vals[...]``;
    timestamps are strictly increasing inside a series.
    """

    labels: list[Labels]
    ts: np.ndarray
    vals: np.ndarray
    offsets: np.ndarray
    drop: np.ndarray  # per-series "drop __name__ later" flag

    @classmethod
    def empty(cls) -> SeriesBatch:
        return cls([], _EMPTY_I, _EMPTY_F, np.zeros(1, dtype=np.int64), np.zeros(0, dtype=bool))

    @classmethod
    def from_series(cls, series: Sequence[Series]) -> SeriesBatch:
        labels = [s.labels for s in series]
        if not series:
            return cls.empty()
        lens = np.fromiter((len(s.ts) for s in series), dtype=np.int64, count=len(series))
        offsets = np.zeros(len(series) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        ts = np.concatenate([np.asarray(s.ts, dtype=np.int64) for s in series])
        vals = np.concatenate([np.asarray(s.vals, dtype=np.float64) for s in series])
        return cls(labels, ts, vals, offsets, np.zeros(len(series), dtype=bool))

    @property
    def nseries(self) -> int:
        return len(self.labels)

    def slice(self, a: int, b: int) -> SeriesBatch:
        """Series ``a`` to ``b`` (exclusive), sharing the sample arrays."""
        lo, hi = int(self.offsets[a]), int(self.offsets[b])
        return SeriesBatch(
            self.labels[a:b], self.ts[lo:hi], self.vals[lo:hi], self.offsets[a : b + 1] - lo, self.drop[a:b]
        )

    def series_ids(self) -> np.ndarray:
        """Series index of every sample."""
        return np.repeat(np.arange(self.nseries, dtype=np.int64), np.diff(self.offsets))

    def without_stale(self) -> SeriesBatch:
        """The batch with staleness markers removed (range windows ignore them)."""
        sm = stale_mask(self.vals)
        if not sm.any():
            return self
        keep = ~sm
        kept = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(keep, out=kept[1:])
        return SeriesBatch(self.labels, self.ts[keep], self.vals[keep], kept[self.offsets], self.drop)

    def _search(self, times: np.ndarray, side: str) -> np.ndarray:
        """Global index of the first sample of series i with ts > t (side right) or >= t (left).

        ``times`` has shape ``(m, n)`` or ``(n,)``; the result is ``(m, n)``.
        """
        m = self.nseries
        times = np.asarray(times, dtype=np.int64)
        if times.ndim == 2 and times.shape[0] > 0 and times.strides[0] == 0:
            times = times[0]
        n = times.shape[-1]
        if m == 0:
            return np.zeros((0, n), dtype=np.int64)
        if len(self.ts) == 0:
            return np.broadcast_to(self.offsets[:-1, None], (m, n)).copy()
        if times.ndim == 1 and m * 8 < n * 1000:
            # Same times for every series: one small binary search per series is fastest.
            out = np.empty((m, n), dtype=np.int64)
            offs = self.offsets.tolist()
            tsa = self.ts
            for i in range(m):
                a = offs[i]
                out[i] = np.searchsorted(tsa[a : offs[i + 1]], times, side=side)
                out[i] += a
            return out
        t2 = np.broadcast_to(times, (m, n))
        lo_t = min(int(self.ts[0]) if m else 0, int(t2.min()))
        base = min(lo_t, int(self.ts.min())) - 1
        top = max(int(self.ts.max()), int(t2.max())) + 1
        span = top - base + 1
        if span * (m + 1) < (1 << 62):
            sid = self.series_ids()
            keys = sid * span + (self.ts - base)
            q = np.arange(m, dtype=np.int64)[:, None] * span + (t2 - base)
            return np.searchsorted(keys, q.ravel(), side=side).reshape(m, n)
        out = np.empty((m, n), dtype=np.int64)
        for i in range(m):
            a, b = self.offsets[i], self.offsets[i + 1]
            out[i] = a + np.searchsorted(self.ts[a:b], t2[i], side=side)
        return out

    def last_at_or_before(self, times: np.ndarray) -> np.ndarray:
        """Global index of the last sample with ``ts <= t`` per (series, step), -1 if none."""
        idx = self._search(times, "right") - 1
        own = idx >= self.offsets[:-1, None]
        return np.where(own, idx, -1)

    def search(self, times: np.ndarray, side: str = "right") -> np.ndarray:
        """Global index of the first sample with ``ts > t`` (right) or ``>= t`` (left), per (series, step)."""
        return self._search(times, side)

    def windows(self, end: np.ndarray, range_ms: int, mode: str = "", lookback_ms: int = 0) -> Windows:
        """Left-open windows ``(end - range, end]`` per (series, step).

        ``mode`` ``anchored`` extends the window start by ``lookback_ms``;
        ``smoothed`` extends both ends by it.
        """
        end = np.asarray(end, dtype=np.int64)
        ext_hi = lookback_ms if mode == "smoothed" else 0
        ext_lo = lookback_ms if mode in ("anchored", "smoothed") else 0
        hi = self._search(end + ext_hi, "right")
        lo = self._search(end - range_ms - ext_lo, "right")
        return Windows(self, lo, hi, np.broadcast_to(end, hi.shape), mode)


@dataclass
class Windows:
    """Index windows ``[lo, hi)`` into a batch, one per (series, step).

    For ``anchored``/``smoothed`` selectors (``mode``) the windows also hold
    the samples up to ``lookback`` before (and, smoothed, after) the range.
    """

    batch: SeriesBatch
    lo: np.ndarray  # (m, n)
    hi: np.ndarray  # (m, n)
    end: np.ndarray  # (m, n) window end timestamps (eval time minus offset)
    mode: str = ""

    @property
    def count(self) -> np.ndarray:
        return self.hi - self.lo


# --------------------------------------------------------------------------- window helpers


def _reduceat(ufunc: np.ufunc, data: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``ufunc.reduce(data[lo[k]:hi[k]])`` for every k (all windows non-empty)."""
    if lo.size == 0:
        return np.zeros(0, dtype=data.dtype)
    padded = np.concatenate([data, data[:1]])
    idx = np.empty(2 * lo.size, dtype=np.int64)
    idx[0::2] = lo
    idx[1::2] = hi
    return ufunc.reduceat(padded, idx)[0::2]


def _segment_sum_int(flags: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum of an integer/bool per-sample array over ``[lo, hi)`` via cumulative sums (exact)."""
    c = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=c[1:])
    return c[hi] - c[lo]


def _exact_cumsum_ok(vals: np.ndarray) -> bool:
    """Whether cumulative sums of ``vals`` are exact (small integers only)."""
    if vals.size == 0:
        return True
    if not np.all(np.isfinite(vals)):
        return False
    if not np.all(vals == np.floor(vals)):
        return False
    with np.errstate(over="ignore"):
        return float(np.abs(vals).sum()) < 2.0**52


# --------------------------------------------------------------------------- range functions

# Each implementation takes the windows, the selection of non-empty windows and
# extra arguments, and returns (values, mask) of shape (m, n).

RangeResult = tuple[np.ndarray, np.ndarray]


def _alloc(w: Windows) -> tuple[np.ndarray, np.ndarray]:
    return np.full(w.lo.shape, np.nan), np.zeros(w.lo.shape, dtype=bool)


def _f_count(w: Windows, **_: object) -> RangeResult:
    cnt = w.count
    return cnt.astype(np.float64), cnt > 0


def _f_present(w: Windows, **_: object) -> RangeResult:
    cnt = w.count
    return np.ones(cnt.shape), cnt > 0


def _f_last(w: Windows, **_: object) -> RangeResult:
    out, mask = _alloc(w)
    sel = w.count > 0
    out[sel] = w.batch.vals[w.hi[sel] - 1]
    return out, sel


def _f_first(w: Windows, **_: object) -> RangeResult:
    out, mask = _alloc(w)
    sel = w.count > 0
    out[sel] = w.batch.vals[w.lo[sel]]
    return out, sel


def _f_ts_last(w: Windows, **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    out[sel] = w.batch.ts[w.hi[sel] - 1] / 1000.0
    return out, sel


def _f_ts_first(w: Windows, **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    out[sel] = w.batch.ts[w.lo[sel]] / 1000.0
    return out, sel


def _f_max(w: Windows, **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    out[sel] = _reduceat(np.fmax, w.batch.vals, w.lo[sel], w.hi[sel])
    return out, sel


def _f_min(w: Windows, **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    out[sel] = _reduceat(np.fmin, w.batch.vals, w.lo[sel], w.hi[sel])
    return out, sel


def _loop_windows(w: Windows, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    lo = w.lo[sel]
    cnt = (w.hi - w.lo)[sel]
    maxlen = int(cnt.max()) if cnt.size else 0
    return lo, cnt, maxlen, w.batch.vals, w.batch.ts


def _f_sum(w: Windows, **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    vals = w.batch.vals
    if _exact_cumsum_ok(vals):
        c = np.zeros(len(vals) + 1)
        np.cumsum(vals, out=c[1:])
        out[sel] = c[w.hi[sel]] - c[w.lo[sel]]
        return out, sel
    lo, cnt, maxlen, vals, _ = _loop_windows(w, sel)
    s = np.zeros(lo.size)
    c = np.zeros(lo.size)
    for j in range(maxlen):
        act = cnt > j
        if not act.all():
            a = np.nonzero(act)[0]
            s2, c2 = kahan_inc(vals[lo[a] + j], s[a], c[a])
            s[a], c[a] = s2, c2
        else:
            s, c = kahan_inc(vals[lo + j], s, c)
    with np.errstate(invalid="ignore"):
        res = np.where(np.isinf(s), s, s + c)
    out[sel] = res
    return out, sel


_KAHAN_BLOCK = 1 << 15


def _kahan_windows(vals: np.ndarray, lo: np.ndarray, cnt: np.ndarray, s: np.ndarray, c: np.ndarray) -> None:
    """Kahan-add ``vals[lo + j]`` for ``1 <= j < cnt`` into ``(s, c)`` in place (no overflow possible)."""
    maxlen = int(cnt.max()) if cnt.size else 0
    for j in range(1, maxlen):
        act = cnt > j
        if act.all():
            f = vals[lo + j]
            t = s + f
            c += np.where(np.abs(s) >= np.abs(f), (s - t) + f, (f - t) + s)
            s[:] = t
            continue
        a = np.flatnonzero(act)
        f = vals[lo[a] + j]
        sa = s[a]
        t = sa + f
        c[a] += np.where(np.abs(sa) >= np.abs(f), (sa - t) + f, (f - t) + sa)
        s[a] = t


def _f_avg(w: Windows, **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    vals = w.batch.vals
    if _exact_cumsum_ok(vals):
        c = np.zeros(len(vals) + 1)
        np.cumsum(vals, out=c[1:])
        hi, lo = w.hi[sel], w.lo[sel]
        out[sel] = (c[hi] - c[lo]) / (hi - lo)
        return out, sel
    lo, cnt, maxlen, vals, _ = _loop_windows(w, sel)
    k = lo.size
    s = vals[lo].copy() if k else np.zeros(0)
    c = np.zeros(k)
    if k and maxlen > 1 and np.isfinite(vals).all() and float(np.abs(vals).max()) * maxlen < 1e300:
        # No partial sum can overflow: the incremental-mean fallback never triggers and
        # Kahan's infinity guard is moot; this is the plain Kahan loop of the general case.
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            for b0 in range(0, k, _KAHAN_BLOCK):  # blocks of windows: temporaries stay in cache
                _kahan_windows(
                    vals,
                    lo[b0 : b0 + _KAHAN_BLOCK],
                    cnt[b0 : b0 + _KAHAN_BLOCK],
                    s[b0 : b0 + _KAHAN_BLOCK],
                    c[b0 : b0 + _KAHAN_BLOCK],
                )
            out[sel] = s / cnt + c / cnt
        return out, sel
    mean = np.zeros(k)
    incr = np.zeros(k, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for j in range(1, maxlen):
            a = np.nonzero(cnt > j)[0]
            if a.size == 0:
                break
            f = vals[lo[a] + j]
            count = float(j + 1)
            sa, ca, ma, ia = s[a], c[a], mean[a], incr[a]
            ns, nc = kahan_inc(f, sa, ca)
            ok = ~ia & ~np.isinf(ns)
            # Switch to incremental mean where the direct sum would overflow.
            switch = ~ia & ~ok
            ma = np.where(switch, sa / (count - 1), ma)
            ca = np.where(switch, ca / (count - 1), ca)
            ia = ia | switch
            q = (count - 1) / count
            im, ic = kahan_inc(f / count, q * ma, q * ca)
            s[a] = np.where(ok, ns, sa)
            c[a] = np.where(ok, nc, np.where(ia, ic, ca))
            mean[a] = np.where(ia, im, ma)
            incr[a] = ia
        res = np.where(incr, mean + c, s / cnt + c / cnt)
    out[sel] = res
    return out, sel


def _variance(w: Windows) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    lo, cnt, maxlen, vals, _ = _loop_windows(w, sel)
    k = lo.size
    mean = np.zeros(k)
    cmean = np.zeros(k)
    aux = np.zeros(k)
    caux = np.zeros(k)
    with np.errstate(invalid="ignore", over="ignore"):
        for j in range(maxlen):
            a = np.nonzero(cnt > j)[0]
            f = vals[lo[a] + j]
            count = float(j + 1)
            delta = f - (mean[a] + cmean[a])
            m2, cm2 = kahan_inc(delta / count, mean[a], cmean[a])
            mean[a], cmean[a] = m2, cm2
            x2, cx2 = kahan_inc(delta * (f - (m2 + cm2)), aux[a], caux[a])
            aux[a], caux[a] = x2, cx2
        out[sel] = (aux + caux) / cnt
    return out, sel


def _f_stdvar(w: Windows, **_: object) -> RangeResult:
    return _variance(w)


def _f_stddev(w: Windows, **_: object) -> RangeResult:
    v, m = _variance(w)
    with np.errstate(invalid="ignore"):
        return np.sqrt(v), m


def _f_changes(w: Windows, range_ms: int = 0, **_: object) -> RangeResult:
    if w.mode == "anchored":
        w = _anchored_windows(w, range_ms)
    b = w.batch
    vals = b.vals
    flag = np.zeros(len(vals), dtype=np.int64)
    if len(vals) > 1:
        prev, cur = vals[:-1], vals[1:]
        with np.errstate(invalid="ignore"):
            ch = (cur != prev) & ~(np.isnan(cur) & np.isnan(prev))
        flag[1:] = ch
    flag[b.offsets[:-1][b.offsets[:-1] < len(vals)]] = 0  # first sample of a series
    cnt = w.count
    sel = cnt > 0
    out = np.full(cnt.shape, np.nan)
    # Count flags in (lo, hi): the first sample of the window is never a change.
    out[sel] = _segment_sum_int(flag, w.lo[sel] + 1, w.hi[sel])
    return out, sel


def _f_resets(w: Windows, range_ms: int = 0, **_: object) -> RangeResult:
    if w.mode == "anchored":
        w = _anchored_windows(w, range_ms)
    b = w.batch
    vals = b.vals
    flag = np.zeros(len(vals), dtype=np.int64)
    if len(vals) > 1:
        with np.errstate(invalid="ignore"):
            flag[1:] = vals[1:] < vals[:-1]
    flag[b.offsets[:-1][b.offsets[:-1] < len(vals)]] = 0
    cnt = w.count
    sel = cnt > 0
    out = np.full(cnt.shape, np.nan)
    out[sel] = _segment_sum_int(flag, w.lo[sel] + 1, w.hi[sel])
    return out, sel


def _extrapolated(w: Windows, range_ms: int, is_counter: bool, is_rate: bool) -> RangeResult:
    """rate/increase/delta with Prometheus's extrapolation to the window boundaries."""
    b = w.batch
    vals, ts = b.vals, b.ts
    shape = w.lo.shape
    if len(vals) == 0:
        return np.full(shape, np.nan), np.zeros(shape, dtype=bool)
    lo = w.lo.ravel()
    hi = w.hi.ravel()
    sel = (hi - lo) > 1
    # Work on every window (indices clamped) and mask at the end: cheaper than gathering.
    top = len(vals) - 1
    lo_c = np.minimum(lo, top)
    last = np.clip(hi - 1, 0, top)
    first_v = vals[lo_c]
    last_v = vals[last]
    first_t = ts[lo_c]
    last_t = ts[last]
    end = np.broadcast_to(w.end, shape).ravel()
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        result = last_v - first_v
        if is_counter:
            reset = np.zeros(len(vals), dtype=np.int64)
            reset[1:] = vals[1:] < vals[:-1]
            starts = b.offsets[:-1][b.offsets[:-1] <= top]
            reset[starts] = 0
            csum = np.cumsum(reset)
            nres = np.where(sel, csum[last] - csum[lo_c], 0)
            maxres = int(nres.max()) if nres.size else 0
            if maxres:
                # Add the value before each reset in order, as Prometheus does.
                reset_idx = np.nonzero(reset)[0]
                r0 = np.searchsorted(reset_idx, lo_c + 1)
                for k in range(maxres):
                    a = np.nonzero(nres > k)[0]
                    result[a] += vals[reset_idx[r0[a] + k] - 1]
        sampled = (last_t - first_t) / 1000.0
        avg_dur = sampled / (hi - lo - 1)
        half = avg_dur / 2
        thresh = avg_dur * 1.1
        dur_start = (first_t - (end - range_ms)) / 1000.0
        np.copyto(dur_start, half, where=dur_start >= thresh)
        if is_counter:
            dur_zero = sampled * (first_v / result)
            use = (result > 0) & (first_v >= 0) & (dur_zero < dur_start)
            np.copyto(dur_start, dur_zero, where=use)
        dur_end = (end - last_t) / 1000.0
        np.copyto(dur_end, half, where=dur_end >= thresh)
        factor = (sampled + dur_start + dur_end) / sampled
        if is_rate:
            factor /= range_ms / 1000.0
        result *= factor
        result[~sel] = np.nan
    return result.reshape(shape), sel.reshape(shape)


def _anchor_first(w: Windows, range_ms: int, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the last sample at or before the range start (else the first), and validity."""
    b = w.batch
    lo, hi = w.lo[sel], w.hi[sel]
    rs = (w.end - range_ms)[sel]
    g = np.clip(b.search(_row(w.end) - range_ms, "right")[sel], lo, hi - 1)
    first = np.maximum(lo, g - 1)
    valid = b.ts[hi - 1] > rs
    return first, valid


def _row(a: np.ndarray) -> np.ndarray:
    """The shared row of an array broadcast along axis 0 (else the array itself)."""
    if a.ndim == 2 and a.shape[0] > 0 and a.strides[0] == 0:
        return a[0]
    return a


def _interp(b: SeriesBatch, i1: np.ndarray, i2: np.ndarray, t: np.ndarray, is_counter: bool) -> np.ndarray:
    y1 = b.vals[i1]
    y2 = b.vals[i2]
    if is_counter:
        y1 = np.where(y2 < y1, 0.0, y1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return y1 + (y2 - y1) * (t - b.ts[i1]) / (b.ts[i2] - b.ts[i1])


def _extended_rate(w: Windows, range_ms: int, is_counter: bool, is_rate: bool) -> RangeResult:
    """rate/increase/delta for anchored and smoothed selectors (Prometheus's ``extendedRate``)."""
    b = w.batch
    vals, ts = b.vals, b.ts
    smoothed = w.mode == "smoothed"
    out = np.full(w.lo.shape, np.nan)
    sel0 = w.count > 0
    if not sel0.any():
        return out, sel0
    lo, hi = w.lo[sel0], w.hi[sel0]
    rs = (w.end - range_ms)[sel0]
    re_ = w.end[sel0]
    first, _ = _anchor_first(w, range_ms, sel0)
    if smoothed:
        last = np.clip(b.search(_row(w.end), "left")[sel0], lo, hi - 1)
    else:
        last = hi - 1
    valid = ts[last] > rs
    if smoothed:
        valid &= ts[first] <= re_  # no data inside or before the range end
    with np.errstate(invalid="ignore", over="ignore"):
        left = vals[first]
        right = vals[last]
        if smoothed:
            li = (ts[first] < rs) & valid
            left = np.where(li, _interp(b, first, np.minimum(first + 1, hi - 1), rs, is_counter), left)
            ri = (last > lo) & (ts[last] > re_) & valid
            right = np.where(ri, _interp(b, np.maximum(last - 1, lo), last, re_, is_counter), right)
        result = right - left
        if is_counter:
            f1 = first + (ts[first] <= rs)
            l1 = last - (ts[last] >= re_)
            npts = l1 - f1 + 1
            has = npts > 0
            corr = np.zeros(len(lo))
            fv = vals[np.clip(f1, 0, len(vals) - 1)]
            corr = np.where(has & (fv < left), corr + left, corr)
            reset = np.zeros(len(vals), dtype=bool)
            if len(vals) > 1:
                reset[1:] = vals[1:] < vals[:-1]
            cnt_int = np.where(
                has, _segment_sum_int(reset, np.minimum(f1 + 1, l1 + 1), np.maximum(l1 + 1, f1 + 1)), 0
            )
            maxres = int(cnt_int.max()) if cnt_int.size else 0
            if maxres:
                reset_idx = np.nonzero(reset)[0]
                r0 = np.searchsorted(reset_idx, f1 + 1)
                for k in range(maxres):
                    a = np.nonzero(cnt_int > k)[0]
                    corr[a] = corr[a] + vals[reset_idx[r0[a] + k] - 1]
            prev = np.where(has, vals[np.clip(l1, 0, len(vals) - 1)], left)
            corr = np.where(right < prev, corr + prev, corr)
            result = result + corr
        if is_rate:
            result = result / (range_ms / 1000.0)
    sel = np.zeros(w.lo.shape, dtype=bool)
    sel[sel0] = valid
    out[sel] = result[valid]
    return out, sel


def _f_rate(w: Windows, range_ms: int = 0, **_: object) -> RangeResult:
    if w.mode:
        return _extended_rate(w, range_ms, True, True)
    return _extrapolated(w, range_ms, True, True)


def _f_increase(w: Windows, range_ms: int = 0, **_: object) -> RangeResult:
    if w.mode:
        return _extended_rate(w, range_ms, True, False)
    return _extrapolated(w, range_ms, True, False)


def _f_delta(w: Windows, range_ms: int = 0, **_: object) -> RangeResult:
    if w.mode:
        return _extended_rate(w, range_ms, False, False)
    return _extrapolated(w, range_ms, False, False)


def _anchored_windows(w: Windows, range_ms: int) -> Windows:
    """For anchored changes/resets: start each window at the last sample before the range."""
    sel = w.count > 0
    lo = w.lo.copy()
    hi = w.hi.copy()
    first, valid = _anchor_first(w, range_ms, sel)
    lo[sel] = first
    hi_sel = hi[sel]
    hi_sel[~valid] = first[~valid]  # no sample after the range start: no result
    hi[sel] = hi_sel
    return Windows(w.batch, lo, hi, w.end, "")


def _instant_value(w: Windows, is_rate: bool) -> RangeResult:
    b = w.batch
    cnt = w.count
    sel = cnt > 1
    out = np.full(cnt.shape, np.nan)
    hi = w.hi[sel]
    v1, v0 = b.vals[hi - 1], b.vals[hi - 2]
    t1, t0 = b.ts[hi - 1], b.ts[hi - 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        if is_rate:
            res = np.where(v1 < v0, v1, v1 - v0)
            res = res / ((t1 - t0) / 1000.0)
        else:
            res = v1 - v0
    out[sel] = res
    return out, sel


def _f_irate(w: Windows, **_: object) -> RangeResult:
    return _instant_value(w, True)


def _f_idelta(w: Windows, **_: object) -> RangeResult:
    return _instant_value(w, False)


def _linear_regression(w: Windows, sel: np.ndarray, intercept_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope and intercept (at ``intercept_t``) per selected window, with Kahan sums."""
    lo, cnt, maxlen, vals, ts = _loop_windows(w, sel)
    k = lo.size
    sx = np.zeros(k)
    cx = np.zeros(k)
    sy = np.zeros(k)
    cy = np.zeros(k)
    sxy = np.zeros(k)
    cxy = np.zeros(k)
    sx2 = np.zeros(k)
    cx2 = np.zeros(k)
    init_y = vals[lo] if k else np.zeros(0)
    const_y = np.ones(k, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for j in range(maxlen):
            a = np.nonzero(cnt > j)[0]
            y = vals[lo[a] + j]
            x = (ts[lo[a] + j] - intercept_t[a]) / 1e3
            if j > 0:
                const_y[a] &= y == init_y[a]
            sx[a], cx[a] = kahan_inc(x, sx[a], cx[a])
            sy[a], cy[a] = kahan_inc(y, sy[a], cy[a])
            sxy[a], cxy[a] = kahan_inc(x * y, sxy[a], cxy[a])
            sx2[a], cx2[a] = kahan_inc(x * x, sx2[a], cx2[a])
        n = cnt.astype(np.float64)
        sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
        cov = sxy - sx * sy / n
        var = sx2 - sx * sx / n
        slope = cov / var
        intercept = sy / n - slope * sx / n
        inf_y = np.isinf(init_y)
        slope = np.where(const_y, np.where(inf_y, np.nan, 0.0), slope)
        intercept = np.where(const_y, np.where(inf_y, np.nan, init_y), intercept)
    return slope, intercept


def _f_deriv(w: Windows, **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 1
    slope, _i = _linear_regression(w, sel, w.batch.ts[w.lo[sel]])
    out[sel] = slope
    return out, sel


def _f_predict_linear(
    w: Windows, step_times: np.ndarray | None = None, scalars: Sequence[np.ndarray] = (), **_: object
) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 1
    assert step_times is not None
    t = np.broadcast_to(step_times, w.lo.shape)[sel]
    slope, intercept = _linear_regression(w, sel, t)
    dur = np.broadcast_to(scalars[0], w.lo.shape)[sel]
    with np.errstate(invalid="ignore", over="ignore"):
        out[sel] = slope * dur + intercept
    return out, sel


def _f_holt_winters(w: Windows, scalars: Sequence[np.ndarray] = (), **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 1
    sf = np.broadcast_to(scalars[0], w.lo.shape)[sel]
    tf = np.broadcast_to(scalars[1], w.lo.shape)[sel]
    bad_sf = (sf <= 0) | (sf >= 1)
    bad_tf = (tf <= 0) | (tf >= 1)
    if bad_sf.any():
        raise ValueError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf[bad_sf][0]:f}")
    if bad_tf.any():
        raise ValueError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf[bad_tf][0]:f}")
    lo, cnt, maxlen, vals, _ = _loop_windows(w, sel)
    with np.errstate(invalid="ignore", over="ignore"):
        s0 = np.zeros(lo.size)
        s1 = vals[lo].copy()
        b = vals[lo + 1] - vals[lo] if lo.size else np.zeros(0)
        for i in range(1, maxlen):
            a = np.nonzero(cnt > i)[0]
            x = sf[a] * vals[lo[a] + i]
            if i - 1 == 0:
                bb = b[a]
            else:
                bb = tf[a] * (s1[a] - s0[a]) + (1 - tf[a]) * b[a]
            b[a] = bb
            y = (1 - sf[a]) * (s1[a] + bb)
            s0[a], s1[a] = s1[a], x + y
    out[sel] = s1
    return out, sel


def _sorted_windows(w: Windows, sel: np.ndarray, chunk: int = 1 << 22) -> list[tuple[np.ndarray, ...]]:
    """Sorted window contents (NaNs first) in chunks: (window positions, sorted 2-D, counts, nan counts)."""
    lo = w.lo[sel]
    cnt = (w.hi - w.lo)[sel]
    pos = np.nonzero(sel.ravel())[0]
    vals = w.batch.vals
    out = []
    if lo.size == 0:
        return out
    maxlen = int(cnt.max())
    per = max(1, chunk // max(1, maxlen))
    for s in range(0, lo.size, per):
        L = lo[s : s + per]
        C = cnt[s : s + per]
        j = np.arange(maxlen)
        idx = L[:, None] + j[None, :]
        valid = j[None, :] < C[:, None]
        g = vals[np.minimum(idx, len(vals) - 1)]
        isn = np.isnan(g) & valid
        key = np.where(valid & ~isn, g, np.inf)
        srt = np.sort(key, axis=1)
        out.append((pos[s : s + per], srt, C, isn.sum(axis=1)))
    return out


def quantile_sorted(q: np.ndarray, srt: np.ndarray, cnt: np.ndarray, nnan: np.ndarray) -> np.ndarray:
    """Prometheus's ``quantile`` on rows of sorted values (NaNs counted first, ``nnan`` of them)."""
    q = np.asarray(q, dtype=np.float64)
    n = cnt.astype(np.float64)
    with np.errstate(invalid="ignore"):
        rank = q * (n - 1)
        fl = np.floor(rank)
        lower = np.maximum(0, fl)
        upper = np.minimum(n - 1, lower + 1)
        weight = rank - fl
        li = np.nan_to_num(lower, nan=0).astype(np.int64)
        ui = np.nan_to_num(upper, nan=0).astype(np.int64)
        rows = np.arange(srt.shape[0])
        width = srt.shape[1]

        def at(i: np.ndarray) -> np.ndarray:
            p = i - nnan
            v = srt[rows, np.clip(p, 0, width - 1)]
            return np.where(p < 0, np.nan, v)

        res = at(li) * (1 - weight) + at(ui) * weight
        res = np.where(np.isnan(q), np.nan, res)
        res = np.where(q < 0, -np.inf, res)
        res = np.where(q > 1, np.inf, res)
    return res


def _f_quantile(w: Windows, scalars: Sequence[np.ndarray] = (), **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    qall = np.broadcast_to(scalars[0], w.lo.shape).ravel()
    flat = out.ravel()
    for pos, srt, cnt, nnan in _sorted_windows(w, sel):
        flat[pos] = quantile_sorted(qall[pos], srt, cnt, nnan)
    return flat.reshape(out.shape), sel


def _f_mad(w: Windows, **_: object) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    flat = out.ravel()
    # A NaN sample makes the result NaN.
    isn = np.isnan(w.batch.vals).astype(np.int64)
    has_nan = np.zeros(w.lo.shape, dtype=bool)
    has_nan[sel] = _segment_sum_int(isn, w.lo[sel], w.hi[sel]) > 0
    lo = w.lo.ravel()
    vals = w.batch.vals
    for pos, srt, cnt, nnan in _sorted_windows(w, sel):
        med = quantile_sorted(np.full(len(pos), 0.5), srt, cnt, nnan)
        maxlen = srt.shape[1]
        j = np.arange(maxlen)
        L = lo[pos]
        valid = j[None, :] < cnt[:, None]
        g = vals[np.minimum(L[:, None] + j[None, :], len(vals) - 1)]
        with np.errstate(invalid="ignore"):
            dev = np.abs(g - med[:, None])
        isn = np.isnan(dev) & valid
        key = np.where(valid & ~isn, dev, np.inf)
        flat[pos] = quantile_sorted(np.full(len(pos), 0.5), np.sort(key, axis=1), cnt, isn.sum(axis=1))
    out = flat.reshape(out.shape)
    out[has_nan] = np.nan
    return out, sel


def _ts_of_extreme(w: Windows, is_max: bool) -> RangeResult:
    out, _ = _alloc(w)
    sel = w.count > 0
    lo, cnt, maxlen, vals, ts = _loop_windows(w, sel)
    best = vals[lo].copy() if lo.size else np.zeros(0)
    best_t = ts[lo].copy() if lo.size else np.zeros(0, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        for j in range(maxlen):
            a = np.nonzero(cnt > j)[0]
            f = vals[lo[a] + j]
            cur = best[a]
            take = (f >= cur) if is_max else (f <= cur)
            take = take | np.isnan(cur)
            best[a] = np.where(take, f, cur)
            best_t[a] = np.where(take, ts[lo[a] + j], best_t[a])
    out[sel] = best_t / 1000.0
    return out, sel


def _f_ts_max(w: Windows, **_: object) -> RangeResult:
    return _ts_of_extreme(w, True)


def _f_ts_min(w: Windows, **_: object) -> RangeResult:
    return _ts_of_extreme(w, False)


RANGE_FUNCTIONS: dict[str, Callable[..., RangeResult]] = {
    "avg_over_time": _f_avg,
    "changes": _f_changes,
    "count_over_time": _f_count,
    "delta": _f_delta,
    "deriv": _f_deriv,
    "double_exponential_smoothing": _f_holt_winters,
    "first_over_time": _f_first,
    "idelta": _f_idelta,
    "increase": _f_increase,
    "irate": _f_irate,
    "last_over_time": _f_last,
    "mad_over_time": _f_mad,
    "max_over_time": _f_max,
    "min_over_time": _f_min,
    "predict_linear": _f_predict_linear,
    "present_over_time": _f_present,
    "quantile_over_time": _f_quantile,
    "rate": _f_rate,
    "resets": _f_resets,
    "stddev_over_time": _f_stddev,
    "stdvar_over_time": _f_stdvar,
    "sum_over_time": _f_sum,
    "ts_of_first_over_time": _f_ts_first,
    "ts_of_last_over_time": _f_ts_last,
    "ts_of_max_over_time": _f_ts_max,
    "ts_of_min_over_time": _f_ts_min,
    # absent_over_time is handled by the evaluator (it needs all series at once).
    "absent_over_time": _f_present,
}

ANCHORED_SAFE = ("changes", "delta", "increase", "rate", "resets")
SMOOTHED_SAFE = ("delta", "increase", "rate")


def range_function(
    name: str,
    w: Windows,
    range_ms: int,
    step_times: np.ndarray,
    scalars: Sequence[np.ndarray] = (),
) -> RangeResult:
    """Evaluate range function ``name`` over windows ``w``; returns ``(values, mask)``."""
    return RANGE_FUNCTIONS[name](w, range_ms=range_ms, step_times=step_times, scalars=scalars)


# --------------------------------------------------------------------------- instant functions


def _sgn(v: np.ndarray) -> np.ndarray:
    return np.where(v < 0, -1.0, np.where(v > 0, 1.0, v))


SIMPLE_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "rad": lambda v: v * math.pi / 180,
    "deg": lambda v: v * 180 / math.pi,
    "sgn": _sgn,
}


def _to_seconds(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Truncate float seconds to int64 (as Go's ``int64(f)``); returns (secs, valid mask)."""
    ok = np.isfinite(v) & (np.abs(v) < 9.2e18)
    secs = np.where(ok, np.trunc(np.where(ok, v, 0)), 0).astype(np.int64)
    return secs, ok


def date_function(name: str, v: np.ndarray) -> np.ndarray:
    """Calendar function ``name`` of Unix-seconds values ``v`` (UTC)."""
    secs, ok = _to_seconds(v)
    dt = secs.astype("datetime64[s]")
    days = dt.astype("datetime64[D]")
    if name == "year":
        r = dt.astype("datetime64[Y]").astype(np.int64) + 1970
    elif name == "month":
        r = dt.astype("datetime64[M]").astype(np.int64) % 12 + 1
    elif name == "day_of_month":
        r = (days - dt.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    elif name == "day_of_year":
        r = (days - dt.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64) + 1
    elif name == "day_of_week":
        r = (days.astype(np.int64) + 4) % 7
    elif name == "hour":
        r = (secs % 86400) // 3600
    elif name == "minute":
        r = (secs % 3600) // 60
    elif name == "days_in_month":
        m = dt.astype("datetime64[M]")
        r = ((m + 1).astype("datetime64[D]") - m.astype("datetime64[D]")).astype(np.int64)
    else:
        raise KeyError(name)
    return np.where(ok, r.astype(np.float64), np.nan)


DATE_FUNCTIONS = frozenset(
    {"year", "month", "day_of_month", "day_of_year", "day_of_week", "hour", "minute", "days_in_month"}
)


# --------------------------------------------------------------------------- classic histograms


def bucket_quantile(q: float, upper: np.ndarray, counts: np.ndarray) -> tuple[float, bool]:
    """Prometheus's ``BucketQuantile`` on classic buckets; returns (value, forced monotonicity)."""
    if math.isnan(q):
        return math.nan, False
    if q < 0:
        return -math.inf, False
    if q > 1:
        return math.inf, False
    order = np.argsort(upper, kind="stable")
    ub = upper[order]
    cnt = counts[order].astype(np.float64)
    if len(ub) == 0 or not (math.isinf(ub[-1]) and ub[-1] > 0):
        return math.nan, False
    # Coalesce buckets with the same upper bound.
    if len(ub) > 1:
        new = np.ones(len(ub), dtype=bool)
        new[1:] = ub[1:] != ub[:-1]
        starts = np.nonzero(new)[0]
        cnt = np.add.reduceat(cnt, starts)
        ub = ub[starts]
    cnt = cnt.copy()
    # Fix tiny float precision errors first, then force monotonicity.
    prev = cnt[0]
    for i in range(1, len(cnt)):
        curr = cnt[i]
        delta = abs(curr - prev)
        if delta == 0:
            continue
        if curr != 0 and delta / curr <= 1e-12:
            cnt[i] = prev
        else:
            prev = curr
    forced = False
    mx = cnt[0]
    for i in range(1, len(cnt)):
        if cnt[i] > mx:
            mx = cnt[i]
        elif cnt[i] < mx:
            cnt[i] = mx
            forced = True
    if len(ub) < 2:
        return math.nan, forced
    observations = cnt[-1]
    if observations == 0:
        return math.nan, forced
    rank = q * observations
    b = int(np.searchsorted(cnt[:-1], rank, side="left"))
    if b == len(ub) - 1:
        return float(ub[-2]), forced
    if b == 0 and ub[0] <= 0:
        return float(ub[0]), forced
    bucket_start = 0.0
    bucket_end = ub[b]
    count = cnt[b]
    if b > 0:
        bucket_start = ub[b - 1]
        count -= cnt[b - 1]
        rank -= cnt[b - 1]
    return float(bucket_start + (bucket_end - bucket_start) * (rank / count)), forced


def bucket_fraction(lower: float, upper: float, ubs: np.ndarray, counts: np.ndarray) -> float:
    """Fraction of the observations of classic buckets that fall in ``[lower, upper]``.

    Observations are assumed uniform inside a finite bucket (the lowest bucket
    starts at 0 if its upper bound is positive); a bucket of infinite width
    only counts when the requested range is unbounded on that side too.
    """
    order = np.argsort(ubs, kind="stable")
    ub = ubs[order]
    cnt = counts[order].astype(np.float64)
    if len(ub) == 0 or not (math.isinf(ub[-1]) and ub[-1] > 0):
        return math.nan
    if len(ub) > 1:
        new = np.ones(len(ub), dtype=bool)
        new[1:] = ub[1:] != ub[:-1]
        starts = np.nonzero(new)[0]
        cnt = np.add.reduceat(cnt, starts)
        ub = ub[starts]
    total = cnt[-1]
    if total == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0
    acc = 0.0
    prev_ub = -math.inf
    prev_cnt = 0.0
    for i in range(len(ub)):
        u = float(ub[i])
        c = float(cnt[i]) - prev_cnt
        lo_b = prev_ub
        if i == 0:
            lo_b = 0.0 if u > 0 else -math.inf
        if math.isinf(lo_b):
            if math.isinf(lower) and upper >= u:
                acc += c
        elif math.isinf(u):
            if math.isinf(upper) and upper > 0:
                acc += c
        else:
            a = max(lower, lo_b)
            b = min(upper, u)
            if b > a and u > lo_b:
                acc += c * (b - a) / (u - lo_b)
        prev_ub, prev_cnt = u, float(cnt[i])
    return acc / total
