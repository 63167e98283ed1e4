"""Aggregation operators evaluated for all steps at once.

Series are assigned to groups by label signature once; values are then
combined per group as ``(groups, steps)`` arrays. Order-sensitive arithmetic
(Kahan sums, incremental means, Welford variance) iterates over the *rank* of
a series inside its group, vectorized over all groups and steps, so results
match Prometheus's sequential evaluation bit for bit.
"""

from __future__ import annotations

import numpy as np

from tsdb.interface import METRIC_NAME, Labels, LabelsBuilder
from tsdb.labels import is_valid_label_name

from ._eval_values import VecVal
from .eval_errors import EvalError
from .functions import kahan_inc, quantile_sorted

__all__ = ["aggregate", "count_values", "group_series", "format_go_float"]

_MAX_KAHAN_RANKS = 2048


def group_series(
    labels: list[Labels], grouping: tuple[str, ...], without: bool
) -> tuple[np.ndarray, list[Labels]]:
    """Group index per series and the output labels of every group."""
    gid = np.empty(len(labels), dtype=np.int64)
    keys: dict[tuple[tuple[str, str], ...], int] = {}
    out: list[Labels] = []
    gset = frozenset(grouping)
    drop = gset | {METRIC_NAME}
    for i, lbls in enumerate(labels):
        if without:
            key = tuple(p for p in lbls.pairs if p[0] not in drop)
        elif grouping:
            key = tuple(p for p in lbls.pairs if p[0] in gset)
        else:
            key = ()
        g = keys.get(key)
        if g is None:
            g = len(out)
            keys[key] = g
            out.append(Labels(key))
        gid[i] = g
    return gid, out


class _Ranks:
    """Iteration over series by their rank inside their group."""

    def __init__(self, gid: np.ndarray, ngroups: int) -> None:
        self.order = np.argsort(gid, kind="stable")
        self.counts = np.bincount(gid, minlength=ngroups)
        self.starts = np.zeros(ngroups, dtype=np.int64)
        if ngroups:
            np.cumsum(self.counts[:-1], out=self.starts[1:])
        self.max_rank = int(self.counts.max()) if ngroups else 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        for r in range(self.max_rank):
            groups = np.nonzero(self.counts > r)[0]
            yield groups, self.order[self.starts[groups] + r]


def _tame(vals: np.ndarray, mask: np.ndarray) -> bool:
    """Whether plain summation is as good as Kahan's for these values."""
    v = np.abs(vals[mask])
    if v.size == 0:
        return True
    if not np.all(np.isfinite(v)):
        return False
    nz = v[v > 0]
    if nz.size == 0:
        return True
    return float(nz.max()) / float(nz.min()) < 2.0**30


def _sum(v: VecVal, gid: np.ndarray, ng: int, ranks: _Ranks) -> np.ndarray:
    n = v.vals.shape[1]
    if ranks.max_rank > _MAX_KAHAN_RANKS and _tame(v.vals, v.mask):
        x = np.where(v.mask, v.vals, 0.0)[ranks.order]
        return np.add.reduceat(x, ranks.starts, axis=0) if ng else np.zeros((0, n))
    s = np.zeros((ng, n))
    c = np.zeros((ng, n))
    seen = np.zeros((ng, n), dtype=bool)
    for groups, rows in ranks:
        x = v.vals[rows]
        pm = v.mask[rows]
        so, co, se = s[groups], c[groups], seen[groups]
        ns, nc = kahan_inc(x, so, co)
        first = pm & ~se
        ns = np.where(first, x, ns)
        nc = np.where(first, 0.0, nc)
        s[groups] = np.where(pm, ns, so)
        c[groups] = np.where(pm, nc, co)
        seen[groups] = se | pm
    with np.errstate(invalid="ignore"):
        return s + c


def _avg(v: VecVal, gid: np.ndarray, ng: int, ranks: _Ranks, counts: np.ndarray) -> np.ndarray:
    n = v.vals.shape[1]
    if ranks.max_rank > _MAX_KAHAN_RANKS and _tame(v.vals, v.mask):
        return _sum(v, gid, ng, ranks) / np.maximum(counts, 1)
    s = np.zeros((ng, n))
    c = np.zeros((ng, n))
    mean = np.zeros((ng, n))
    cnt = np.zeros((ng, n))
    incr = np.zeros((ng, n), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for groups, rows in ranks:
            x = v.vals[rows]
            pm = v.mask[rows]
            so, co, mo, ko, io = s[groups], c[groups], mean[groups], cnt[groups], incr[groups]
            first = pm & (ko == 0)
            k = ko + 1
            ns, nc = kahan_inc(x, so, co)
            direct_ok = ~io & ~np.isinf(ns)
            switch = ~io & ~direct_ok
            mo2 = np.where(switch, so / (k - 1), mo)
            co2 = np.where(switch, co / (k - 1), co)
            io2 = io | switch
            q = (k - 1) / k
            im, ic = kahan_inc(x / k, q * mo2, q * co2)
            new_s = np.where(direct_ok, ns, so)
            new_c = np.where(direct_ok, nc, np.where(io2, ic, co2))
            new_m = np.where(io2, im, mo2)
            # First sample of a group initialises the state.
            new_s = np.where(first, x, new_s)
            new_c = np.where(first, 0.0, new_c)
            new_m = np.where(first, x, new_m)
            io2 = np.where(first, False, io2)
            s[groups] = np.where(pm, new_s, so)
            c[groups] = np.where(pm, new_c, co)
            mean[groups] = np.where(pm, new_m, mo)
            incr[groups] = np.where(pm, io2, io)
            cnt[groups] = np.where(pm, k, ko)
        return np.where(incr, mean + c, s / cnt + c / cnt)


def _variance(v: VecVal, ng: int, ranks: _Ranks) -> tuple[np.ndarray, np.ndarray]:
    n = v.vals.shape[1]
    val = np.zeros((ng, n))
    mean = np.zeros((ng, n))
    cnt = np.zeros((ng, n))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for groups, rows in ranks:
            x = v.vals[rows]
            pm = v.mask[rows]
            vo, mo, ko = val[groups], mean[groups], cnt[groups]
            first = pm & (ko == 0)
            k = ko + 1
            delta = x - mo
            m2 = mo + delta / k
            v2 = vo + delta * (x - m2)
            init_v = np.where(np.isnan(x) | np.isinf(x), np.nan, 0.0)
            v2 = np.where(first, init_v, v2)
            m2 = np.where(first, x, m2)
            val[groups] = np.where(pm, v2, vo)
            mean[groups] = np.where(pm, m2, mo)
            cnt[groups] = np.where(pm, k, ko)
    return val, cnt


def _grouped_sorted(v: VecVal, ranks: _Ranks, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values of group ``g`` sorted per step (non-NaN ascending), with counts and NaN counts."""
    rows = ranks.order[ranks.starts[g] : ranks.starts[g] + ranks.counts[g]]
    x = v.vals[rows]
    pm = v.mask[rows]
    isn = np.isnan(x) & pm
    key = np.where(pm & ~isn, x, np.inf)
    srt = np.sort(key, axis=0).T  # (n, k)
    return srt, pm.sum(axis=0), isn.sum(axis=0)


def _topk_like(
    op: str,
    v: VecVal,
    gid: np.ndarray,
    ng: int,
    ranks: _Ranks,
    param: np.ndarray,
    instant: bool,
) -> VecVal:
    n = v.vals.shape[1]
    m = v.m
    newmask = np.zeros_like(v.mask)
    if op in ("topk", "bottomk", "limitk"):
        k = np.trunc(np.nan_to_num(param, nan=0.0))
        k = np.minimum(k, float(m)).astype(np.int64)
    for g in range(ng):
        rows = ranks.order[ranks.starts[g] : ranks.starts[g] + ranks.counts[g]]
        x = v.vals[rows]
        pm = v.mask[rows]
        if op in ("topk", "bottomk"):
            kmax = int(k.max()) if k.size else 0
            if kmax <= 32:
                newmask[rows] = _select_top(x, pm, k, kmax, op == "topk")
            else:
                isn = np.isnan(x)
                vk = np.where(isn, 0.0, -x if op == "topk" else x)
                cat = np.where(pm, np.where(isn, 1, 0), 2)
                order = np.lexsort((vk, cat), axis=0)  # (k_g, n): rows by rank per step
                rank = np.empty_like(order)
                np.put_along_axis(rank, order, np.arange(len(rows))[:, None], axis=0)
                newmask[rows] = pm & (rank < k[None, :])
        elif op == "limitk":
            # The first k present series (in input order) per step.
            csum = np.cumsum(pm, axis=0)
            newmask[rows] = pm & (csum <= k[None, :])
        else:  # limit_ratio
            r = np.clip(param, -1.0, 1.0)
            offs = np.array([_ratio_offset(v.labels[i]) for i in rows.tolist()])
            with np.errstate(invalid="ignore"):
                keep = np.where(
                    r[None, :] >= 0, offs[:, None] < r[None, :], offs[:, None] >= 1.0 + r[None, :]
                )
            newmask[rows] = pm & keep
    out = VecVal(v.labels, v.vals, newmask, v.drop, None)
    if instant and n == 1 and op in ("topk", "bottomk"):
        # Instant results keep Prometheus's per-group order: by value, NaN last.
        ordered: list[int] = []
        for g in range(ng):
            rows = ranks.order[ranks.starts[g] : ranks.starts[g] + ranks.counts[g]]
            sel = rows[newmask[rows, 0]]
            x = v.vals[sel, 0]
            isn = np.isnan(x)
            key = np.where(isn, 0.0, -x if op == "topk" else x)
            o = np.lexsort((key, isn))
            ordered.extend(sel[o].tolist())
        out = out.take(ordered)
    return out.compact()


_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261
_M64 = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _M64
    return (_rotl(acc, 31) * _P1) & _M64


def xxhash64(data: bytes, seed: int = 0) -> int:
    """XXH64 of ``data`` (as Go's ``github.com/cespare/xxhash``)."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _M64
        v2 = (seed + _P2) & _M64
        v3 = seed & _M64
        v4 = (seed - _P1) & _M64
        while i + 32 <= n:
            v1 = _round(v1, int.from_bytes(data[i : i + 8], "little"))
            v2 = _round(v2, int.from_bytes(data[i + 8 : i + 16], "little"))
            v3 = _round(v3, int.from_bytes(data[i + 16 : i + 24], "little"))
            v4 = _round(v4, int.from_bytes(data[i + 24 : i + 32], "little"))
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M64
        for v in (v1, v2, v3, v4):
            h ^= _round(0, v)
            h = (h * _P1 + _P4) & _M64
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i : i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i : i + 4], "little") * _P1) & _M64
        h = (_rotl(h, 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _M64
        h = (_rotl(h, 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    h ^= h >> 32
    return h


def labels_hash(lbls: Labels) -> int:
    """Prometheus's ``labels.Labels.Hash()``: XXH64 over ``name 0xff value 0xff …``."""
    b = bytearray()
    for k, v in lbls.pairs:
        b += k.encode("utf-8", "surrogateescape")
        b.append(0xFF)
        b += v.encode("utf-8", "surrogateescape")
        b.append(0xFF)
    return xxhash64(bytes(b))


def _order_key(x: np.ndarray, pm: np.ndarray, largest: bool) -> np.ndarray:
    """uint64 keys ordering present values (largest first if ``largest``), then NaNs, then absent."""
    v = x if largest else -x
    bits = np.where(np.isnan(v), 0.0, v).view(np.uint64)
    neg = (bits >> np.uint64(63)).astype(bool)
    u = np.where(neg, ~bits, bits | np.uint64(1 << 63))
    u = np.where(np.isnan(x), np.uint64(1), u)
    return np.where(pm, u, np.uint64(0))


def _select_top(x: np.ndarray, pm: np.ndarray, k: np.ndarray, kmax: int, largest: bool) -> np.ndarray:
    """Mask of the ``k[step]`` best rows per step; ties keep the earlier row (as Prometheus's heap)."""
    key = _order_key(x, pm, largest)
    out = np.zeros(x.shape, dtype=bool)
    cols = np.arange(x.shape[1])
    for j in range(kmax):
        idx = np.argmax(key, axis=0)
        got = (key[idx, cols] > 0) & (j < k)
        if not got.any():
            break
        out[idx[got], cols[got]] = True
        key[idx[got], cols[got]] = 0
    return out


def _ratio_offset(lbls: Labels) -> float:
    # Prometheus's HashRatioSampler: labels hash / MaxUint64.
    return labels_hash(lbls) / float(_M64)


def aggregate(
    op: str,
    v: VecVal,
    grouping: tuple[str, ...],
    without: bool,
    param: np.ndarray | None,
    instant: bool,
) -> VecVal:
    """Evaluate aggregation ``op`` over ``v`` for every step."""
    n = v.vals.shape[1]
    gid, out_labels = group_series(v.labels, grouping, without)
    ng = len(out_labels)
    ranks = _Ranks(gid, ng)
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        assert param is not None
        return _topk_like(op, v, gid, ng, ranks, param, instant)

    if ng:
        counts = np.add.reduceat(v.mask[ranks.order].astype(np.int64), ranks.starts, axis=0)
    else:
        counts = np.zeros((0, n), dtype=np.int64)
    present = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if op == "sum":
            vals = _sum(v, gid, ng, ranks)
        elif op == "avg":
            vals = _avg(v, gid, ng, ranks, counts)
        elif op == "count":
            vals = counts.astype(np.float64)
        elif op == "group":
            vals = np.ones((ng, n))
        elif op in ("min", "max"):
            x = np.where(v.mask, v.vals, np.nan)[ranks.order]
            uf = np.fmax if op == "max" else np.fmin
            vals = uf.reduceat(x, ranks.starts, axis=0) if ng else np.zeros((0, n))
        elif op in ("stddev", "stdvar"):
            val, cnt = _variance(v, ng, ranks)
            vals = val / cnt
            if op == "stddev":
                vals = np.sqrt(vals)
        elif op == "quantile":
            assert param is not None
            vals = np.full((ng, n), np.nan)
            for g in range(ng):
                srt, cnt, nnan = _grouped_sorted(v, ranks, g)
                ok = cnt > 0
                if ok.any():
                    vals[g, ok] = quantile_sorted(param[ok], srt[ok], cnt[ok], nnan[ok])
        else:
            raise EvalError(f"unknown aggregation {op!r}")
    drop = np.zeros(ng, dtype=bool)
    if ng and v.drop.any():
        any_present = v.mask.any(axis=1) & v.drop
        np.logical_or.at(drop, gid, any_present)
    return VecVal(out_labels, vals, present, drop).compact()


def format_go_float(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``."""
    from .ast import format_float

    return format_float(v)


def count_values(v: VecVal, label: str, grouping: tuple[str, ...], without: bool) -> VecVal:
    """``count_values(label, v)``: count series per distinct value (per group)."""
    if not is_valid_label_name(label) and not _valid_utf8_label(label):
        raise EvalError(f"invalid label name {_go_q(label)}")
    n = v.vals.shape[1]
    rows, cols = np.nonzero(v.mask)
    if rows.size == 0:
        return VecVal.empty(n)
    x = v.vals[rows, cols]
    # Distinct values (NaN collapses to one value).
    isn = np.isnan(x)
    key = np.where(isn, np.inf, x)
    uniq, inv = np.unique(key, return_inverse=True)
    has_nan = bool(isn.any())
    strs = [format_go_float(float(u)) for u in uniq.tolist()]
    vid = inv.astype(np.int64)
    if has_nan:
        nan_id = len(strs)
        strs.append("NaN")
        vid = np.where(isn, nan_id, vid)
    nv = len(strs)
    pair = rows.astype(np.int64) * nv + vid
    upairs, pinv = np.unique(pair, return_inverse=True)
    gset = frozenset(grouping)
    drop = gset | {METRIC_NAME}
    out_ids: dict[tuple[tuple[str, str], ...], int] = {}
    out_labels: list[Labels] = []
    pair_out = np.empty(len(upairs), dtype=np.int64)
    for j, p in enumerate(upairs.tolist()):
        i, val_id = divmod(p, nv)
        lbls = LabelsBuilder(v.labels[i]).set(label, strs[val_id]).labels()
        if without:
            k = tuple(q for q in lbls.pairs if q[0] not in drop)
        else:
            keep = gset | {label}
            k = tuple(q for q in lbls.pairs if q[0] in keep)
        o = out_ids.get(k)
        if o is None:
            o = len(out_labels)
            out_ids[k] = o
            out_labels.append(Labels(k))
        pair_out[j] = o
    oid = pair_out[pinv]
    counts = np.bincount(oid * n + cols, minlength=len(out_labels) * n).reshape(len(out_labels), n)
    return VecVal(out_labels, counts.astype(np.float64), counts > 0, np.zeros(len(out_labels), dtype=bool))


def _valid_utf8_label(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(name)


def _go_q(s: str) -> str:
    """Go's %q, printing bytes of invalid UTF-8 (kept as surrogate escapes) as ``\\xNN``."""
    from .ast import go_quote

    if not any(0xDC80 <= ord(c) <= 0xDCFF for c in s):
        return go_quote(s)
    out = []
    for c in s:
        if 0xDC80 <= ord(c) <= 0xDCFF:
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        else:
            out.append(go_quote(c)[1:-1])
    return '"' + "".join(out) + '"'
