"""The PromQL evaluator: walks the AST once and evaluates every node for all steps at once.

Instant vectors are dense ``(series, steps)`` arrays with a presence mask
(:class:`VecVal`); scalars are ``(steps,)`` arrays. Every selector reads its
series once from the querier. See ``engine.py`` for the public API.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tsdb.interface import (
    METRIC_NAME,
    Labels,
    LabelsBuilder,
    Matcher,
    MatchType,
    Querier,
    SelectHints,
    Series,
    stale_mask,
)
from tsdb.labels import is_valid_label_name
from tsdb.matchers import re2_to_python

from . import _eval_annos as annos
from ._aggr import aggregate, count_values
from ._eval_values import Ctx, MatrixVal, ScalarVal, StringVal, Value, VecVal
from .ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    DurationExpr,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorMatching,
    VectorSelector,
    go_quote,
)
from .eval_errors import EvalError, QueryCanceledError, QueryTimeoutError, TooManySamplesError
from .functions import (
    ANCHORED_SAFE,
    DATE_FUNCTIONS,
    RANGE_FUNCTIONS,
    SIMPLE_FUNCTIONS,
    SMOOTHED_SAFE,
    SeriesBatch,
    Windows,
    bucket_fraction,
    date_function,
    range_function,
)

# Dropping the metric name drops every metadata label (Prometheus's schema.IsMetadataLabel).
METADATA_LABELS = (METRIC_NAME, "__type__", "__unit__")

ARITH = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
COMPARE = frozenset({"==", "!=", ">", "<", ">=", "<="})
SETOPS = frozenset({"and", "or", "unless"})

# Functions whose result can vary with evaluation time even for step-invariant arguments.
AT_MODIFIER_UNSAFE = frozenset(
    {
        "days_in_month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "hour",
        "minute",
        "month",
        "year",
        "predict_linear",
        "time",
        "timestamp",
        "start",
        "end",
        "step",
        "range",
    }
)


_WINDOW_BLOCK = 1 << 19  # (series x steps) windows evaluated together


@dataclass
class RangeSource:
    """Samples of a range-vector argument plus how to cut them into per-step windows."""

    batch: SeriesBatch
    end: np.ndarray  # (steps,) window end per step
    range_ms: int
    mode: str = ""
    lookback_ms: int = 0

    def windows(self, batch: SeriesBatch) -> Windows:
        return batch.windows(self.end, self.range_ms, self.mode, self.lookback_ms)


@dataclass
class EvalOptions:
    """Evaluator settings (copied from the engine for one query)."""

    lookback_ms: int = 300_000
    max_samples: int = 50_000_000
    default_subquery_step_ms: int = 60_000
    delayed_name_removal: bool = True
    deadline: float | None = None
    cancel: Callable[[], bool] | None = None


def go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero (Go semantics)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def prom_labels_str(lbls: Labels) -> str:
    """Labels as Prometheus's ``labels.Labels.String()`` prints them: ``{a="b", c="d"}``."""
    parts = []
    for k, v in lbls.pairs:
        key = k if is_valid_label_name(k) else go_quote(k)
        parts.append(f"{key}={go_quote(v)}")
    return "{" + ", ".join(parts) + "}"


def unwrap_parens(e: Expr) -> Expr:
    while isinstance(e, ParenExpr):
        e = e.expr
    return e


def parse_go_float(s: str) -> float | None:
    """``strconv.ParseFloat(s, 64)``-compatible parsing; None if invalid."""
    t = s.strip()
    if t != s or not t or "_" in t:
        return None
    low = t.lower().lstrip("+-")
    try:
        if low.startswith("0x"):
            return float.fromhex(t)
        return float(t)
    except ValueError:
        return None


class Evaluator:
    """Evaluates one query over a fixed set of steps."""

    def __init__(self, querier: Querier, opts: EvalOptions, query_text: str = "") -> None:
        self.querier = querier
        self.opts = opts
        self.annos = annos.Annotations()
        self.query_text = query_text
        self.total_samples = 0
        self.peak_samples = 0

    # ------------------------------------------------------------------ limits

    def _check(self) -> None:
        if self.opts.cancel is not None and self.opts.cancel():
            raise QueryCanceledError()
        if self.opts.deadline is not None and time.monotonic() > self.opts.deadline:
            raise QueryTimeoutError()

    def _held(self, n: int) -> None:
        if n > self.peak_samples:
            self.peak_samples = n
        if n > self.opts.max_samples:
            raise TooManySamplesError()

    # ------------------------------------------------------------------ dispatch

    def eval(self, e: Expr, ctx: Ctx) -> Value:
        self._check()
        if isinstance(e, ParenExpr):
            return self.eval(e.expr, ctx)
        if isinstance(e, NumberLiteral):
            return ScalarVal(np.full(ctx.n, e.val, dtype=np.float64))
        if isinstance(e, StringLiteral):
            return StringVal(e.val)
        if isinstance(e, DurationExpr):
            step_s = ctx.query_step / 1000.0
            range_s = (ctx.query_end - ctx.query_start) / 1000.0
            return ScalarVal(np.full(ctx.n, e.evaluate(step_s, range_s), dtype=np.float64))
        if isinstance(e, VectorSelector):
            return self._vector_selector(e, ctx)
        if isinstance(e, MatrixSelector | SubqueryExpr):
            return self._matrix_value(e, ctx)
        if isinstance(e, UnaryExpr):
            return self._unary(e, ctx)
        if isinstance(e, BinaryExpr):
            return self._binary(e, ctx)
        if isinstance(e, AggregateExpr):
            return self._aggregate(e, ctx)
        if isinstance(e, Call):
            return self._call(e, ctx)
        raise EvalError(f"unhandled expression of type {type(e).__name__}")

    def eval_vector(self, e: Expr, ctx: Ctx) -> VecVal:
        v = self.eval(e, ctx)
        if not isinstance(v, VecVal):
            raise EvalError(f"expected instant vector, got {type(v).__name__}")
        return v

    def eval_scalar(self, e: Expr, ctx: Ctx) -> np.ndarray:
        v = self.eval(e, ctx)
        if not isinstance(v, ScalarVal):
            raise EvalError(f"expected scalar, got {type(v).__name__}")
        return v.vals

    # ------------------------------------------------------------------ selectors

    def _at(self, node: VectorSelector | SubqueryExpr, ctx: Ctx) -> int | None:
        if node.timestamp is not None:
            return int(node.timestamp)
        if node.start_or_end == "start":
            return ctx.query_start
        if node.start_or_end == "end":
            return ctx.query_end
        return None

    def _select(self, vs: VectorSelector, start: int, end: int, range_ms: int = 0) -> SeriesBatch:
        hints = SelectHints(start=start, end=end, range=range_ms or None)
        select_batch = getattr(self.querier, "select_batch", None)
        if select_batch is not None:
            # Fast path (tsdb.BlockQuerier): sorted, merged and trimmed series in one flat layout.
            try:
                labels, ts, vals, offsets = select_batch(list(vs.matchers), hints)
            except EvalError:
                raise
            except Exception as exc:  # storage errors surface as execution errors
                raise EvalError(f"expanding series: {exc}") from exc
            if len(ts) and (int(ts.min()) < start or int(ts.max()) > end):
                keep = (ts >= start) & (ts <= end)
                kept = np.zeros(len(keep) + 1, dtype=np.int64)
                np.cumsum(keep, out=kept[1:])
                ts, vals, offsets = ts[keep], vals[keep], kept[offsets]
            return SeriesBatch(labels, ts, vals, offsets, np.zeros(len(labels), dtype=bool))
        try:
            series = list(self.querier.select(list(vs.matchers), hints))
        except EvalError:
            raise
        except Exception as exc:  # storage errors surface as execution errors
            raise EvalError(f"expanding series: {exc}") from exc
        series.sort(key=lambda s: s.labels)
        # Trim to the needed time range so that later work only sees relevant samples.
        trimmed: list[Series] = []
        for s in series:
            ts = s.ts
            if len(ts) and (ts[0] < start or ts[-1] > end):
                lo = int(np.searchsorted(ts, start, side="left"))
                hi = int(np.searchsorted(ts, end, side="right"))
                s = Series(s.labels, ts[lo:hi], s.vals[lo:hi])
            trimmed.append(s)
        return SeriesBatch.from_series(trimmed)

    def _vector_selector(self, vs: VectorSelector, ctx: Ctx) -> VecVal:
        at = self._at(vs, ctx)
        lookback = self.opts.lookback_ms
        if at is not None:
            eff = np.array([at - vs.offset], dtype=np.int64)
        else:
            eff = ctx.times - vs.offset
        if len(eff) == 0:
            return VecVal.empty(ctx.n)
        if vs.smoothed:
            return self._smoothed_selector(vs, eff, at is not None, ctx)
        batch = self._select(vs, int(eff.min()) - lookback + 1, int(eff.max()))
        m = batch.nseries
        if m == 0:
            return VecVal.empty(ctx.n)
        idx = batch.last_at_or_before(eff)
        valid = idx >= 0
        gi = np.where(valid, idx, 0)
        if len(batch.ts):
            t = batch.ts[gi]
            v = batch.vals[gi]
            valid &= (t > eff - lookback) & ~stale_mask(v)
        else:
            t = np.zeros_like(gi)
            v = np.zeros(gi.shape)
            valid[:] = False
        if at is not None and ctx.n != 1:
            t = np.repeat(t, ctx.n, axis=1)
            v = np.repeat(v, ctx.n, axis=1)
            valid = np.repeat(valid, ctx.n, axis=1)
        vals = np.where(valid, v, np.nan)
        npts = int(valid.sum())
        self.total_samples += npts
        self._held(npts)
        out = VecVal(batch.labels, vals, valid, np.zeros(m, dtype=bool), t)
        return out.compact()

    def _smoothed_selector(self, vs: VectorSelector, eff: np.ndarray, fixed: bool, ctx: Ctx) -> VecVal:
        """``metric smoothed``: the value at each step, interpolated between neighbouring samples."""
        lb = self.opts.lookback_ms
        batch = self._select(vs, int(eff.min()) - lb + 1, int(eff.max()) + lb).without_stale()
        m = batch.nseries
        if m == 0 or len(batch.ts) == 0:
            return VecVal.empty(ctx.n)
        lo = batch.search(eff - lb, "right")
        hi = batch.search(eff + lb, "right")
        i = np.clip(batch.search(eff, "left"), lo, hi)
        ts, vals = batch.ts, batch.vals
        top = len(ts) - 1
        e2 = np.broadcast_to(eff, lo.shape)
        ic = np.minimum(i, top)
        exact = (i < hi) & (ts[ic] == e2)
        inner = (i > lo) & (i < hi) & ~exact
        carry = (i == hi) & (i > lo)
        prev = np.maximum(i - 1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            interp = vals[prev] + (vals[ic] - vals[prev]) * (e2 - ts[prev]) / (ts[ic] - ts[prev])
        out = np.where(exact, vals[ic], np.where(inner, interp, vals[prev]))
        valid = exact | inner | carry
        if fixed and ctx.n != 1:
            out = np.repeat(out, ctx.n, axis=1)
            valid = np.repeat(valid, ctx.n, axis=1)
        return VecVal(batch.labels, np.where(valid, out, np.nan), valid, np.zeros(m, dtype=bool)).compact()

    def range_source(self, e: Expr, ctx: Ctx) -> RangeSource:
        """The samples and window parameters of a matrix selector or subquery for ``ctx``."""
        e = unwrap_parens(e)
        if isinstance(e, MatrixSelector):
            vs = e.vector_selector
            at = self._at(vs, ctx)
            if at is not None:
                end = np.full(ctx.n, at - vs.offset, dtype=np.int64)
            else:
                end = ctx.times - vs.offset
            if len(end) == 0:
                return RangeSource(SeriesBatch.empty(), end, e.range)
            mode = "anchored" if vs.anchored else "smoothed" if vs.smoothed else ""
            lb = self.opts.lookback_ms if mode else 0
            hi_ext = lb if mode == "smoothed" else 0
            batch = self._select(vs, int(end.min()) - e.range - lb + 1, int(end.max()) + hi_ext, e.range)
            return RangeSource(batch.without_stale(), end, e.range, mode, lb)
        if isinstance(e, SubqueryExpr):
            batch, end = self._subquery(e, ctx)
            return RangeSource(batch, end, e.range)
        raise EvalError(f"expected range vector, got {type(e).__name__}")

    def _subquery(self, sq: SubqueryExpr, ctx: Ctx) -> tuple[SeriesBatch, np.ndarray]:
        step = sq.step if sq.step > 0 else self.opts.default_subquery_step_ms
        at = self._at(sq, ctx)
        base = np.array([at], dtype=np.int64) if at is not None else ctx.times
        end = np.full(ctx.n, at - sq.offset, dtype=np.int64) if at is not None else ctx.times - sq.offset
        if len(base) == 0:
            return SeriesBatch.empty(), end
        first = int(base.min()) - sq.offset - sq.range
        s0 = step * go_div(first, step)
        if s0 <= first:
            s0 += step
        inner_end = int(base.max()) - sq.offset
        if inner_end < s0:
            return SeriesBatch.empty(), end
        times = np.arange(s0, inner_end + 1, step, dtype=np.int64)
        inner = Ctx(times, ctx.query_start, ctx.query_end, ctx.query_step)
        v = self.eval_vector(sq.expr, inner)
        return self._vec_to_batch(v, times), end

    def _vec_to_batch(self, v: VecVal, times: np.ndarray) -> SeriesBatch:
        rows, cols = np.nonzero(v.mask)
        counts = np.bincount(rows, minlength=v.m) if v.m else np.zeros(0, dtype=np.int64)
        offsets = np.zeros(v.m + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        labels = [
            lbls.without(*METADATA_LABELS) if d else lbls
            for lbls, d in zip(v.labels, v.drop.tolist(), strict=True)
        ]
        return SeriesBatch(labels, times[cols], v.vals[rows, cols], offsets, np.zeros(v.m, dtype=bool))

    def _matrix_value(self, e: MatrixSelector | SubqueryExpr, ctx: Ctx) -> MatrixVal:
        if ctx.n != 1:
            raise EvalError("cannot do range evaluation of matrix selector")
        src = self.range_source(e, ctx)
        w = src.windows(src.batch)
        self._held(int(w.count.sum()))
        return MatrixVal(src.batch, w.lo[:, 0], w.hi[:, 0])

    # ------------------------------------------------------------------ unary / binary

    def _unary(self, e: UnaryExpr, ctx: Ctx) -> Value:
        v = self.eval(e.expr, ctx)
        if e.op != "-":
            return v
        if isinstance(v, ScalarVal):
            return ScalarVal(-v.vals)
        if isinstance(v, VecVal):
            return self._set_drop(VecVal(v.labels, -v.vals, v.mask, np.ones(v.m, dtype=bool)))
        raise EvalError("unary minus applied to a non-numeric value")

    def _set_drop(self, v: VecVal) -> VecVal:
        """Apply name dropping immediately when delayed name removal is off."""
        if self.opts.delayed_name_removal or not v.drop.any():
            return v
        labels = [
            lbls.without(*METADATA_LABELS) if d else lbls
            for lbls, d in zip(v.labels, v.drop.tolist(), strict=True)
        ]
        return merge_same_labels(VecVal(labels, v.vals, v.mask, np.zeros(v.m, dtype=bool), v.sample_ts))

    def _binary(self, e: BinaryExpr, ctx: Ctx) -> Value:
        lhs = self.eval(e.lhs, ctx)
        rhs = self.eval(e.rhs, ctx)
        op = e.op
        if isinstance(lhs, ScalarVal) and isinstance(rhs, ScalarVal):
            if op in COMPARE:
                with np.errstate(invalid="ignore"):
                    return ScalarVal(_compare(op, lhs.vals, rhs.vals).astype(np.float64))
            return ScalarVal(_arith(op, lhs.vals, rhs.vals))
        if isinstance(lhs, VecVal) and isinstance(rhs, ScalarVal):
            return self._vec_scalar(op, lhs, rhs.vals, False, e.return_bool)
        if isinstance(lhs, ScalarVal) and isinstance(rhs, VecVal):
            return self._vec_scalar(op, rhs, lhs.vals, True, e.return_bool)
        if isinstance(lhs, VecVal) and isinstance(rhs, VecVal):
            matching = e.matching or VectorMatching(card="many-to-many" if op in SETOPS else "one-to-one")
            if op in SETOPS:
                return self._setop(op, lhs, rhs, matching)
            return self._vec_vec(op, lhs, rhs, matching, e.return_bool)
        raise EvalError(f"invalid operands for binary operator {op!r}")

    def _vec_scalar(self, op: str, v: VecVal, s: np.ndarray, swap: bool, return_bool: bool) -> VecVal:
        s2 = s[None, :]
        with np.errstate(all="ignore"):
            if op in COMPARE:
                keep = _compare(op, s2, v.vals) if swap else _compare(op, v.vals, s2)
                if return_bool:
                    vals = np.where(keep, 1.0, 0.0)
                    out = VecVal(v.labels, vals, v.mask, np.ones(v.m, dtype=bool))
                else:
                    out = VecVal(v.labels, v.vals, v.mask & keep, v.drop, v.sample_ts)
            else:
                vals = _arith(op, s2, v.vals) if swap else _arith(op, v.vals, s2)
                out = VecVal(v.labels, vals, v.mask, np.ones(v.m, dtype=bool))
        return self._set_drop(out.compact())

    def _signatures(self, labels: list[Labels], m: VectorMatching, table: dict) -> np.ndarray:
        names = frozenset(m.matching_labels)
        out = np.empty(len(labels), dtype=np.int64)
        if m.on:
            for i, lbls in enumerate(labels):
                key = tuple(p for p in lbls.pairs if p[0] in names)
                out[i] = table.setdefault(key, len(table))
        else:
            drop = names | {METRIC_NAME}
            for i, lbls in enumerate(labels):
                key = tuple(p for p in lbls.pairs if p[0] not in drop)
                out[i] = table.setdefault(key, len(table))
        return out

    def _setop(self, op: str, lhs: VecVal, rhs: VecVal, m: VectorMatching) -> VecVal:
        table: dict = {}
        sl = self._signatures(lhs.labels, m, table)
        sr = self._signatures(rhs.labels, m, table)
        ns = len(table)
        n = lhs.vals.shape[1] if lhs.m else rhs.vals.shape[1]
        if op in ("and", "unless"):
            present = np.zeros((ns, n), dtype=bool)
            if rhs.m:
                np.logical_or.at(present, sr, rhs.mask)
            hit = present[sl] if lhs.m else np.zeros((0, n), dtype=bool)
            mask = lhs.mask & hit if op == "and" else lhs.mask & ~hit
            return VecVal(lhs.labels, lhs.vals, mask, lhs.drop, lhs.sample_ts).compact()
        # or
        present = np.zeros((ns, n), dtype=bool)
        if lhs.m:
            np.logical_or.at(present, sl, lhs.mask)
        rmask = rhs.mask & ~present[sr] if rhs.m else rhs.mask
        out = VecVal(
            lhs.labels + rhs.labels,
            np.concatenate([lhs.vals, rhs.vals]),
            np.concatenate([lhs.mask, rmask]),
            np.concatenate([lhs.drop, rhs.drop]),
        )
        return merge_same_labels(out.compact())

    def _vec_vec(self, op: str, lhs: VecVal, rhs: VecVal, m: VectorMatching, return_bool: bool) -> VecVal:
        n = lhs.vals.shape[1] if lhs.m else rhs.vals.shape[1]
        card = m.card
        swapped = card == "one-to-many"
        many, one = (rhs, lhs) if swapped else (lhs, rhs)
        # After the swap the "many" side is Prometheus's lhs: fill_right fills a
        # missing "one" sample for it, fill_left a missing "many" sample.
        fill_one_missing = m.fill_right
        fill_many_missing = m.fill_left
        has_fill = fill_one_missing is not None or fill_many_missing is not None
        if (lhs.m == 0 or rhs.m == 0) and not has_fill:
            return VecVal.empty(n)
        l_any = lhs.mask.any(axis=0) if lhs.m else np.zeros(n, dtype=bool)
        r_any = rhs.mask.any(axis=0) if rhs.m else np.zeros(n, dtype=bool)
        active = (l_any | r_any) if has_fill else (l_any & r_any)
        table: dict = {}
        sig_many = self._signatures(many.labels, m, table)
        sig_one = self._signatures(one.labels, m, table)
        ns = len(table)
        # The "one" side must be unique per signature at every step.
        one_val = np.full((ns, n), np.nan)
        one_present = np.zeros((ns, n), dtype=bool)
        one_src = np.full((ns, n), -1, dtype=np.int64)
        for r in range(one.m):
            s = sig_one[r]
            pm = one.mask[r] & active
            dup = pm & one_present[s]
            if dup.any():
                t = int(np.nonzero(dup)[0][0])
                other = int(one_src[s, t])
                side = "left" if swapped else "right"
                pair = sorted([one.labels[other], one.labels[r]])
                group = _match_labels(one.labels[r], m)
                raise EvalError(
                    f"found duplicate series for the match group {prom_labels_str(group)} on the {side} "
                    f"hand-side of the operation: [{prom_labels_str(pair[0])}, {prom_labels_str(pair[1])}]"
                    ";many-to-many matching not allowed: matching labels must be unique on one side"
                )
            one_val[s] = np.where(pm, one.vals[r], one_val[s])
            one_src[s] = np.where(pm, r, one_src[s])
            one_present[s] |= pm
        many_mask = many.mask & active
        matched = many_mask & one_present[sig_many] if many.m else np.zeros((0, n), dtype=bool)
        fo = one_val[sig_many] if many.m else np.zeros((0, n))
        if fill_one_missing is not None and many.m:
            filled = many_mask & ~matched
            fo = np.where(filled, fill_one_missing, fo)
            matched = many_mask
        if card == "one-to-one" and many.m:
            cnt = np.zeros((ns, n), dtype=np.int64)
            np.add.at(cnt, sig_many, matched.astype(np.int64))
            if (cnt > 1).any():
                raise EvalError(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                )
        arith = op in ARITH
        # Candidate output rows: (labels, many-side value, one-side value, matched mask).
        cand_labels: list[Labels] = []
        parts_fm: list[np.ndarray] = []
        parts_fo: list[np.ndarray] = []
        parts_mt: list[np.ndarray] = []
        src = one_src[sig_many] if many.m else np.zeros((0, n), dtype=np.int64)
        if many.m:
            if card != "one-to-one" and m.include:
                rows, cols = np.nonzero(matched)
                srcs = np.where(src[rows, cols] >= 0, src[rows, cols], one.m)
                pairs = rows.astype(np.int64) * (one.m + 1) + srcs
                upairs, inv = np.unique(pairs, return_inverse=True)
                k = len(upairs)
                fm_c = np.full((k, n), np.nan)
                fo_c = np.full((k, n), np.nan)
                mt_c = np.zeros((k, n), dtype=bool)
                for p in upairs.tolist():
                    i, r = divmod(p, one.m + 1)
                    rhs_lbls = one.labels[r] if r < one.m else Labels(())
                    cand_labels.append(_result_labels(many.labels[i], rhs_lbls, m, arith))
                fm_c[inv, cols] = many.vals[rows, cols]
                fo_c[inv, cols] = fo[rows, cols]
                mt_c[inv, cols] = True
                parts_fm.append(fm_c)
                parts_fo.append(fo_c)
                parts_mt.append(mt_c)
            else:
                cand_labels.extend(_result_labels(lb, None, m, arith) for lb in many.labels)
                parts_fm.append(many.vals)
                parts_fo.append(fo)
                parts_mt.append(matched)
        if fill_many_missing is not None and one.m:
            # "One"-side samples whose signature no "many"-side sample matched.
            hit = np.zeros((ns, n), dtype=bool)
            if many.m:
                np.logical_or.at(hit, sig_many, many_mask)
            for r in range(one.m):
                s = sig_one[r]
                mt = one.mask[r] & active & ~hit[s]
                if not mt.any():
                    continue
                ls = _match_labels(one.labels[r], m)
                cand_labels.append(_result_labels(ls, one.labels[r], m, arith))
                parts_fm.append(np.full((1, n), fill_many_missing))
                parts_fo.append(one.vals[r][None, :])
                parts_mt.append(mt[None, :])
        if not cand_labels:
            return VecVal.empty(n)
        fm = np.concatenate(parts_fm)
        fo2 = np.concatenate(parts_fo)
        mt = np.concatenate(parts_mt)
        fl, fr = (fo2, fm) if swapped else (fm, fo2)
        with np.errstate(all="ignore"):
            if op in COMPARE:
                keep = _compare(op, fl, fr) & mt
                if return_bool:
                    vals = np.where(keep, 1.0, 0.0)
                    mask = mt
                else:
                    vals = fl
                    mask = keep
            else:
                vals = _arith(op, fl, fr)
                mask = mt
        err = (
            "multiple matches for labels: grouping labels must ensure unique matches"
            if card != "one-to-one"
            else "vector cannot contain metrics with the same labelset"
        )
        out = VecVal(cand_labels, np.where(mask, vals, np.nan), mask, np.full(len(cand_labels), return_bool))
        out = merge_same_labels(out, err, check_mask=mt)
        return self._set_drop(out.compact())

    # ------------------------------------------------------------------ aggregation

    def _aggregate(self, e: AggregateExpr, ctx: Ctx) -> VecVal:
        op = e.op
        grouping = tuple(sorted(e.grouping))
        if op == "count_values":
            param = unwrap_parens(e.param) if e.param is not None else None
            if not isinstance(param, StringLiteral):
                raise EvalError("count_values requires a string parameter")
            v = self.eval_vector(e.expr, ctx)
            return count_values(v, param.val, grouping, e.without)
        pvals: np.ndarray | None = None
        if e.param is not None:
            pvals = self.eval_scalar(e.param, ctx)
        v = self.eval_vector(e.expr, ctx)
        instant = ctx.n == 1
        if op in ("topk", "bottomk", "limitk"):
            assert pvals is not None
            if np.max(pvals) < 1 if pvals.size else True:
                return VecVal.empty(ctx.n)
            if np.isnan(pvals).any():
                raise EvalError("Parameter value is NaN")
            if pvals.min() <= -9223372036854775808.0:
                raise EvalError(f"Scalar value {annos.go_g(float(pvals.min()))} underflows int64")
            if pvals.max() >= 9223372036854774784.0:
                raise EvalError(f"Scalar value {annos.go_g(float(pvals.max()))} overflows int64")
        elif op == "limit_ratio":
            assert pvals is not None
            if pvals.size and np.max(pvals) == 0 and np.min(pvals) == 0:
                return VecVal.empty(ctx.n)
            if np.isnan(pvals).any():
                raise EvalError("Ratio value is NaN")
            pos = e.param.pos if e.param is not None else None
            if pvals.max() > 1.0:
                self.annos.add(annos.invalid_ratio(float(pvals.max()), 1.0, pos))
            if pvals.min() < -1.0:
                self.annos.add(annos.invalid_ratio(float(pvals.min()), -1.0, pos))
        elif op == "quantile":
            assert pvals is not None
            pos = e.param.pos if e.param is not None else None
            if np.isnan(pvals).any():
                self.annos.add(annos.invalid_quantile(math.nan, pos))
            if pvals.size and pvals.max() > 1:
                self.annos.add(annos.invalid_quantile(float(pvals.max()), pos))
            if pvals.size and pvals.min() < 0:
                self.annos.add(annos.invalid_quantile(float(pvals.min()), pos))
        out = aggregate(op, v, grouping, e.without, pvals, instant)
        self._held(int(out.mask.sum()))
        return out

    # ------------------------------------------------------------------ calls

    def _call(self, e: Call, ctx: Ctx) -> Value:
        name = e.func.name
        args = [unwrap_parens(a) for a in e.args]
        if name in RANGE_FUNCTIONS:
            return self._range_call(e, name, args, ctx)
        if name in SIMPLE_FUNCTIONS:
            v = self.eval_vector(args[0], ctx)
            with np.errstate(all="ignore"):
                vals = SIMPLE_FUNCTIONS[name](v.vals)
            return self._set_drop(VecVal(v.labels, vals, v.mask, np.ones(v.m, dtype=bool)))
        if name in DATE_FUNCTIONS:
            if not args:
                vals = date_function(name, ctx.times.astype(np.float64) / 1000.0)
                return VecVal([Labels(())], vals[None, :], np.ones((1, ctx.n), dtype=bool), np.zeros(1, bool))
            v = self.eval_vector(args[0], ctx)
            vals = date_function(name, v.vals)
            return self._set_drop(VecVal(v.labels, vals, v.mask, np.ones(v.m, dtype=bool)))
        handler = getattr(self, "_fn_" + name, None)
        if handler is None:
            raise EvalError(f"function {name!r} is not supported")
        return handler(e, args, ctx)

    def _range_call(self, e: Call, name: str, args: list[Expr], ctx: Ctx) -> VecVal:
        midx = next(i for i, a in enumerate(args) if isinstance(a, MatrixSelector | SubqueryExpr))
        marg = args[midx]
        if isinstance(marg, MatrixSelector):
            vsel = marg.vector_selector
            if vsel.anchored and name not in ANCHORED_SAFE:
                raise EvalError(
                    f"anchored modifier can only be used with: {', '.join(sorted(ANCHORED_SAFE))} - not with {name}"
                )
            if vsel.smoothed and name not in SMOOTHED_SAFE:
                raise EvalError(
                    f"smoothed modifier can only be used with: {', '.join(sorted(SMOOTHED_SAFE))} - not with {name}"
                )
        scalars = [self.eval_scalar(a, ctx) for i, a in enumerate(args) if i != midx]
        src = self.range_source(args[midx], ctx)
        batch = src.batch
        m, n = batch.nseries, ctx.n
        vals = np.full((m, n), np.nan)
        mask = np.zeros((m, n), dtype=bool)
        per_step = np.zeros(n, dtype=np.int64)
        # Process the series in blocks so that temporaries stay small.
        block = max(1, _WINDOW_BLOCK // max(1, n))
        for i0 in range(0, m, block):
            self._check()
            i1 = min(m, i0 + block)
            sub = batch.slice(i0, i1)
            w = src.windows(sub)
            cnt = w.count
            per_step += cnt.sum(axis=0)
            if name == "absent_over_time":
                mask[i0:i1] = cnt > 0
                continue
            try:
                bv, bm = range_function(name, w, src.range_ms, ctx.times, scalars)
            except ValueError as exc:
                raise EvalError(str(exc)) from exc
            vals[i0:i1] = np.where(bm, bv, np.nan)
            mask[i0:i1] = bm
        if n:
            self._held(int(per_step.max()))
            self.total_samples += int(per_step.sum())
        if name == "absent_over_time":
            anyp = mask.any(axis=0) if m else np.zeros(n, dtype=bool)
            if anyp.all():
                return VecVal.empty(n)
            lbls = _absent_labels(args[midx])
            return VecVal([lbls], np.ones((1, n)), ~anyp[None, :], np.ones(1, dtype=bool))
        keep_name = name in ("last_over_time", "first_over_time")
        drop = batch.drop.copy() if keep_name else np.ones(batch.nseries, dtype=bool)
        out = VecVal(batch.labels, vals, mask, drop)
        if name in ("rate", "increase"):
            pos = e.args[0].pos
            has = mask.any(axis=1)
            for i in np.nonzero(has)[0].tolist():
                mn = batch.labels[i].get(METRIC_NAME)
                if mn and not mn.endswith(("_total", "_sum", "_count", "_bucket")):
                    self.annos.add(annos.possible_non_counter(mn, pos))
        elif name == "quantile_over_time":
            q = scalars[0]
            bad = (np.isnan(q) | (q < 0) | (q > 1)) & mask.any(axis=0)
            if bad.any():
                self.annos.add(annos.invalid_quantile(float(q[np.nonzero(bad)[0][0]]), e.args[0].pos))
        return self._set_drop(out.compact())

    # -- special functions (dispatched by name) --

    def _fn_time(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        return ScalarVal(ctx.times.astype(np.float64) / 1000.0)

    def _fn_pi(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        return ScalarVal(np.full(ctx.n, math.pi))

    def _fn_start(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        return ScalarVal(np.full(ctx.n, ctx.query_start / 1000.0))

    def _fn_end(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        return ScalarVal(np.full(ctx.n, ctx.query_end / 1000.0))

    def _fn_step(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        return ScalarVal(np.full(ctx.n, ctx.query_step / 1000.0))

    def _fn_range(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        return ScalarVal(np.full(ctx.n, (ctx.query_end - ctx.query_start) / 1000.0))

    def _fn_min_of(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        a, b = self.eval_scalar(args[0], ctx), self.eval_scalar(args[1], ctx)
        return ScalarVal(np.where(np.isnan(a) | np.isnan(b), np.nan, np.minimum(a, b)))

    def _fn_max_of(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        a, b = self.eval_scalar(args[0], ctx), self.eval_scalar(args[1], ctx)
        return ScalarVal(np.where(np.isnan(a) | np.isnan(b), np.nan, np.maximum(a, b)))

    def _fn_vector(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        s = self.eval_scalar(args[0], ctx)
        return VecVal([Labels(())], s[None, :].copy(), np.ones((1, ctx.n), dtype=bool), np.zeros(1, bool))

    def _fn_scalar(self, e: Call, args: list[Expr], ctx: Ctx) -> ScalarVal:
        v = self.eval_vector(args[0], ctx)
        if v.m == 0:
            return ScalarVal(np.full(ctx.n, np.nan))
        cnt = v.mask.sum(axis=0)
        first = np.argmax(v.mask, axis=0)
        val = v.vals[first, np.arange(ctx.n)]
        return ScalarVal(np.where(cnt == 1, val, np.nan))

    def _fn_timestamp(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        a = args[0]
        v = self.eval_vector(a, ctx)
        if isinstance(a, VectorSelector) and v.sample_ts is not None:
            ts = v.sample_ts.astype(np.float64) / 1000.0
        else:
            ts = np.broadcast_to(ctx.times.astype(np.float64) / 1000.0, v.vals.shape)
        vals = np.where(v.mask, ts, np.nan)
        return self._set_drop(VecVal(v.labels, vals, v.mask, np.ones(v.m, dtype=bool)))

    def _fn_absent(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        v = self.eval_vector(args[0], ctx)
        anyp = v.mask.any(axis=0) if v.m else np.zeros(ctx.n, dtype=bool)
        if anyp.all():
            return VecVal.empty(ctx.n)
        return VecVal([_absent_labels(args[0])], np.ones((1, ctx.n)), ~anyp[None, :], np.zeros(1, bool))

    def _clamp(self, v: VecVal, lo: np.ndarray, hi: np.ndarray) -> VecVal:
        with np.errstate(invalid="ignore"):
            vals = np.maximum(lo[None, :], np.minimum(hi[None, :], v.vals))
            ok = ~(hi < lo)
        return self._set_drop(
            VecVal(v.labels, vals, v.mask & ok[None, :], np.ones(v.m, dtype=bool)).compact()
        )

    def _fn_clamp(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        v = self.eval_vector(args[0], ctx)
        return self._clamp(v, self.eval_scalar(args[1], ctx), self.eval_scalar(args[2], ctx))

    def _fn_clamp_min(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        v = self.eval_vector(args[0], ctx)
        return self._clamp(v, self.eval_scalar(args[1], ctx), np.full(ctx.n, np.inf))

    def _fn_clamp_max(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        v = self.eval_vector(args[0], ctx)
        return self._clamp(v, np.full(ctx.n, -np.inf), self.eval_scalar(args[1], ctx))

    def _fn_round(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        v = self.eval_vector(args[0], ctx)
        near = self.eval_scalar(args[1], ctx) if len(args) > 1 else np.ones(ctx.n)
        with np.errstate(all="ignore"):
            inv = 1.0 / near[None, :]
            vals = np.floor(v.vals * inv + 0.5) / inv
        return self._set_drop(VecVal(v.labels, vals, v.mask, np.ones(v.m, dtype=bool)))

    def _sort_common(self, e: Call, ctx: Ctx) -> bool:
        if ctx.query_step != 0 or ctx.n != 1:
            self.annos.add(annos.sort_in_range_query(e.pos))
            return False
        return True

    def _fn_sort(self, e: Call, args: list[Expr], ctx: Ctx, desc: bool = False) -> VecVal:
        v = self.eval_vector(args[0], ctx)
        if not self._sort_common(e, ctx) or v.m == 0:
            return v
        x = v.vals[:, 0]
        isn = np.isnan(x)
        key = np.where(isn, 0.0, -x if desc else x)
        order = np.lexsort((key, isn))
        return v.take(order)

    def _fn_sort_desc(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        return self._fn_sort(e, args, ctx, desc=True)

    def _fn_sort_by_label(self, e: Call, args: list[Expr], ctx: Ctx, desc: bool = False) -> VecVal:
        v = self.eval_vector(args[0], ctx)
        if not self._sort_common(e, ctx) or v.m == 0:
            return v
        names = [_string_arg(a) for a in args[1:]]

        def key(i: int) -> tuple:
            lb = v.labels[i]
            return (tuple(_natsort_key(lb.get(n)) for n in names), lb.pairs)

        order = sorted(range(v.m), key=key, reverse=desc)
        return v.take(order)

    def _fn_sort_by_label_desc(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        return self._fn_sort_by_label(e, args, ctx, desc=True)

    def _fn_label_replace(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        dst, repl, src, regex = (_string_arg(a) for a in args[1:5])
        try:
            rx = re.compile("(?s:" + re2_to_python(regex) + r")\Z")
        except re.error as exc:
            raise EvalError(f"invalid regular expression in label_replace(): {regex}") from exc
        if not _valid_label_name(dst):
            raise EvalError(f"invalid destination label name in label_replace(): {dst}")
        v = self.eval_vector(args[0], ctx)
        labels = list(v.labels)
        drop = v.drop.copy()
        template = _go_template(repl)
        for i, lbls in enumerate(v.labels):
            sv = lbls.get(src)
            mt = rx.match(sv)
            if mt is None:
                continue
            res = template(mt)
            labels[i] = LabelsBuilder(lbls).set(dst, res).labels()
            if dst == METRIC_NAME:
                drop[i] = False
        return merge_same_labels(VecVal(labels, v.vals, v.mask, drop, v.sample_ts))

    def _fn_label_join(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        dst = _string_arg(args[1])
        sep = _string_arg(args[2])
        srcs = [_string_arg(a) for a in args[3:]]
        for s in srcs:
            if not _valid_label_name(s):
                raise EvalError(f"invalid source label name in label_join(): {s}")
        if not _valid_label_name(dst):
            raise EvalError(f"invalid destination label name in label_join(): {dst}")
        v = self.eval_vector(args[0], ctx)
        labels = list(v.labels)
        drop = v.drop.copy()
        for i, lbls in enumerate(v.labels):
            val = sep.join(lbls.get(s) for s in srcs)
            labels[i] = LabelsBuilder(lbls).set(dst, val).labels()
            if dst == METRIC_NAME:
                drop[i] = False
        return merge_same_labels(VecVal(labels, v.vals, v.mask, drop, v.sample_ts))

    def _histogram_groups(
        self, v: VecVal, pos: tuple[int, int] | None
    ) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
        """Classic histogram buckets grouped by labels without ``le``: (output labels, rows, upper bounds)."""
        groups: dict[tuple, tuple[Labels, list[int], list[float]]] = {}
        for i, lbls in enumerate(v.labels):
            le = lbls.get("le")
            ub = parse_go_float(le)
            if ub is None:
                if v.mask[i].any():
                    name = lbls.get(METRIC_NAME) if self.opts.delayed_name_removal else ""
                    self.annos.add(annos.bad_bucket_label(name, le, pos))
                continue
            key = tuple(p for p in lbls.pairs if p[0] != "le")
            g = groups.get(key)
            if g is None:
                out = Labels(tuple(p for p in key if p[0] != METRIC_NAME))
                g = (out, [], [])
                groups[key] = g
            g[1].append(i)
            g[2].append(ub)
        return [(lb, np.array(r, dtype=np.int64), np.array(u)) for lb, r, u in groups.values()]

    def _fn_histogram_quantile(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        q = self.eval_scalar(args[0], ctx)
        v = self.eval_vector(args[1], ctx)
        bad = np.isnan(q) | (q < 0) | (q > 1)
        if bad.any():
            self.annos.add(annos.invalid_quantile(float(q[np.nonzero(bad)[0][0]]), e.args[0].pos))
        groups = self._histogram_groups(v, e.args[1].pos)
        return self._bucket_apply(groups, v, ctx, lambda ub, c, t: _bq(q, ub, c, t), e.args[1])

    def _fn_histogram_quantiles(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        v = self.eval_vector(args[0], ctx)
        label = _string_arg(args[1])
        qs = [self.eval_scalar(a, ctx) for a in args[2:]]
        for a, q in zip(e.args[2:], qs, strict=True):
            bad = np.isnan(q) | (q < 0) | (q > 1)
            if bad.any():
                self.annos.add(annos.invalid_quantile(float(q[np.nonzero(bad)[0][0]]), a.pos))
        groups = self._histogram_groups(v, e.args[0].pos)
        parts = []
        for q in qs:
            r = self._bucket_apply(groups, v, ctx, lambda ub, c, t, q=q: _bq(q, ub, c, t), e.args[0])
            qlabel = _openmetrics_float(float(q[0]))
            labels = [LabelsBuilder(lb).set(label, qlabel).labels() for lb in r.labels]
            parts.append(VecVal(labels, r.vals, r.mask, r.drop))
        if not parts:
            return VecVal.empty(ctx.n)
        out = VecVal(
            [lb for p in parts for lb in p.labels],
            np.concatenate([p.vals for p in parts]),
            np.concatenate([p.mask for p in parts]),
            np.concatenate([p.drop for p in parts]),
        )
        return merge_same_labels(out)

    def _fn_histogram_fraction(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        lower = self.eval_scalar(args[0], ctx)
        upper = self.eval_scalar(args[1], ctx)
        v = self.eval_vector(args[2], ctx)
        groups = self._histogram_groups(v, e.args[2].pos)

        def frac(ub: np.ndarray, c: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = np.array(
                [bucket_fraction(float(lower[j]), float(upper[j]), ub, c[:, k]) for k, j in enumerate(t)]
            )
            return out, np.zeros(len(t), dtype=bool)

        return self._bucket_apply(groups, v, ctx, frac, e.args[2])

    def _bucket_apply(
        self,
        groups: list[tuple[Labels, np.ndarray, np.ndarray]],
        v: VecVal,
        ctx: Ctx,
        fn: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
        vec_arg: Expr,
    ) -> VecVal:
        n = ctx.n
        labels: list[Labels] = []
        vals = np.full((len(groups), n), np.nan)
        mask = np.zeros((len(groups), n), dtype=bool)
        forced_any = False
        for gi, (lb, rows, ubs) in enumerate(groups):
            labels.append(lb)
            pm = v.mask[rows]
            anyp = pm.any(axis=0)
            if not anyp.any():
                continue
            # Process steps sharing the same set of present buckets together.
            patterns, inv = np.unique(pm[:, anyp].T, axis=0, return_inverse=True)
            steps = np.nonzero(anyp)[0]
            inv = np.asarray(inv).reshape(-1)
            for p in range(len(patterns)):
                cols = steps[inv == p]
                present = patterns[p]
                r = rows[present]
                res, forced = fn(ubs[present], v.vals[r][:, cols], cols)
                vals[gi, cols] = res
                mask[gi, cols] = True
                forced_any = forced_any or bool(np.any(forced))
        if forced_any:
            self.annos.add(annos.forced_monotonicity("", vec_arg.pos))
        out = VecVal(labels, vals, mask, np.ones(len(labels), dtype=bool))
        return merge_same_labels(out.compact())

    def _fn_info(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        """``info(v [, {data selector}])``: enrich series with data labels of info series."""
        base = self.eval_vector(args[0], ctx)
        n = ctx.n
        data_matchers: dict[str, list[Matcher]] = {}
        name_matchers: list[Matcher] = []
        if len(args) > 1:
            sel = args[1]
            if not isinstance(sel, VectorSelector):
                raise EvalError("info() expects a label selector as second argument")
            for mt in sel.matchers:
                data_matchers.setdefault(mt.name, []).append(mt)
                if mt.name == METRIC_NAME:
                    name_matchers.append(mt)
        else:
            name_matchers = [Matcher(MatchType.EQUAL, METRIC_NAME, "target_info")]
        # Effective info-metric name matchers: target_info by default, and only *_info
        # metrics when the selector has just negative __name__ matchers.
        if not name_matchers:
            name_matchers = [Matcher(MatchType.EQUAL, METRIC_NAME, "target_info")]
        elif not any(mt.type in (MatchType.EQUAL, MatchType.REGEX) for mt in name_matchers):
            name_matchers = [*name_matchers, Matcher(MatchType.REGEX, METRIC_NAME, ".+_info")]
        # Series that are info series themselves are passed through unchanged.
        ignore = np.array(
            [all(mt.matches(lb.get(METRIC_NAME)) for mt in name_matchers) for lb in base.labels], dtype=bool
        )
        id_labels = ("instance", "job")
        id_values: dict[str, set[str]] = {}
        for i, lb in enumerate(base.labels):
            if ignore[i]:
                continue
            for ln in id_labels:
                v = lb.get(ln)
                if v:
                    id_values.setdefault(ln, set()).add(v)
        info_matchers: list[Matcher] = list(name_matchers)
        if id_values:
            for ln, vals in sorted(id_values.items()):
                info_matchers.append(
                    Matcher(MatchType.REGEX, ln, "|".join(re.escape(v) for v in sorted(vals)))
                )
            for ms in data_matchers.values():
                info_matchers.extend(mt for mt in ms if mt.name != METRIC_NAME)
        data_matchers = {k: [mt for mt in v if mt.name != METRIC_NAME] for k, v in data_matchers.items()}
        data_matchers = {k: v for k, v in data_matchers.items() if v}
        # The info series are looked up at the same times as the base selector.
        eff = self._reference_times(args[0], ctx)
        info: VecVal | None = None
        if id_values and n:
            lb_ms = self.opts.lookback_ms
            probe = VectorSelector(None, tuple(info_matchers))
            batch = self._select(probe, int(eff.min()) - lb_ms + 1, int(eff.max()))
            if batch.nseries:
                idx = batch.last_at_or_before(eff)
                valid = idx >= 0
                gi = np.where(valid, idx, 0)
                t = batch.ts[gi] if len(batch.ts) else np.zeros_like(gi)
                v = batch.vals[gi] if len(batch.ts) else np.zeros(gi.shape)
                valid &= (t > eff - lb_ms) & ~stale_mask(v)
                info = VecVal(batch.labels, t.astype(np.float64), valid, np.zeros(batch.nseries, dtype=bool))
        # Per info metric name and signature, the newest info sample wins at every step.
        chosen: dict[tuple, np.ndarray] = {}
        if info is not None:
            groups: dict[tuple, list[int]] = {}
            for r, lb in enumerate(info.labels):
                sig = (lb.get(METRIC_NAME), lb.get("instance"), lb.get("job"))
                groups.setdefault(sig, []).append(r)
            for sig, rows in groups.items():
                best = np.full(n, -1, dtype=np.int64)
                best_t = np.full(n, -np.inf)
                for r in rows:
                    pm = info.mask[r]
                    tt = info.vals[r]
                    tie = pm & (best >= 0) & (tt == best_t)
                    if tie.any():
                        k = int(np.nonzero(tie)[0][0])
                        other = int(best[k])
                        raise EvalError(
                            f"found duplicate series for info metric: existing {prom_labels_str(info.labels[other])} "
                            f"@ {int(best_t[k])}, new {prom_labels_str(info.labels[r])} @ {int(tt[k])}"
                        )
                    newer = pm & (tt > best_t)
                    best = np.where(newer, r, best)
                    best_t = np.where(newer, tt, best_t)
                chosen[sig] = best
        info_names = sorted({sig[0] for sig in chosen})
        all_empty_ok = all(mt.matches("") for ms in data_matchers.values() for mt in ms)
        out_labels: list[Labels] = []
        out_rows: list[np.ndarray] = []
        out_mask: list[np.ndarray] = []
        out_drop: list[bool] = []
        for i, lb in enumerate(base.labels):
            if ignore[i] or not info_names:
                pm = base.mask[i]
                if not ignore[i] and not all_empty_ok:
                    continue
                out_labels.append(lb)
                out_rows.append(base.vals[i])
                out_mask.append(pm)
                out_drop.append(bool(base.drop[i]))
                continue
            sigs = [(nm, lb.get("instance"), lb.get("job")) for nm in info_names]
            choice = np.stack([chosen.get(sg, np.full(n, -1, dtype=np.int64)) for sg in sigs])
            pm = base.mask[i]
            cols = np.nonzero(pm)[0]
            if cols.size == 0:
                continue
            combos, inv = np.unique(choice[:, cols].T, axis=0, return_inverse=True)
            inv = np.asarray(inv).reshape(-1)
            assert info is not None
            for k, combo in enumerate(combos):
                b = LabelsBuilder()
                seen = 0
                for r in combo.tolist():
                    if r < 0:
                        continue
                    seen += 1
                    for ln, lv in info.labels[r].pairs:
                        if ln == METRIC_NAME:
                            continue
                        if data_matchers and ln not in data_matchers:
                            continue
                        cur = b.get(ln)
                        if cur and cur != lv:
                            raise EvalError(f"conflicting label: {ln}")
                        if lb.has(ln):
                            continue
                        b.set(ln, lv)
                if seen == 0 and not all_empty_ok:
                    continue
                nb = LabelsBuilder(lb)
                for ln, lv in b.labels().pairs:
                    nb.set(ln, lv)
                m2 = np.zeros(n, dtype=bool)
                m2[cols[inv == k]] = True
                out_labels.append(nb.labels())
                out_rows.append(base.vals[i])
                out_mask.append(m2)
                out_drop.append(bool(base.drop[i]))
        if not out_labels:
            return VecVal.empty(n)
        mask = np.array(out_mask, dtype=bool).reshape(len(out_labels), n)
        vals = np.where(mask, np.array(out_rows).reshape(len(out_labels), n), np.nan)
        return merge_same_labels(VecVal(out_labels, vals, mask, np.array(out_drop, dtype=bool))).compact()

    def _reference_times(self, e: Expr, ctx: Ctx) -> np.ndarray:
        """Times at which the first vector selector of ``e`` reads samples (subquery @/offsets applied)."""
        path: list[Expr] = []

        def find(x: Expr) -> VectorSelector | None:
            if isinstance(x, VectorSelector):
                return x
            path.append(x)
            from .ast import children

            for c in children(x):
                r = find(c)
                if r is not None:
                    return r
            path.pop()
            return None

        vs = find(e)
        if vs is None:
            return ctx.times
        sub_off = 0
        sub_ts: int | None = None
        for p in path:
            if isinstance(p, SubqueryExpr):
                sub_off += p.offset
                at = self._at(p, ctx)
                if at is not None:
                    sub_off, sub_ts = p.offset, at
        at = self._at(vs, ctx)
        if at is not None:
            return np.full(ctx.n, at - vs.offset, dtype=np.int64)
        if sub_ts is not None:
            return np.full(ctx.n, sub_ts - sub_off - vs.offset, dtype=np.int64)
        return ctx.times - sub_off - vs.offset

    def _no_float_output(self, e: Call, args: list[Expr], ctx: Ctx) -> VecVal:
        self.eval_vector(args[0], ctx)
        return VecVal.empty(ctx.n)

    _fn_histogram_count = _no_float_output
    _fn_histogram_sum = _no_float_output
    _fn_histogram_avg = _no_float_output
    _fn_histogram_stddev = _no_float_output
    _fn_histogram_stdvar = _no_float_output


# --------------------------------------------------------------------------- helpers


def _compare(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == ">":
            return a > b
        if op == "<":
            return a < b
        if op == ">=":
            return a >= b
        if op == "<=":
            return a <= b
    raise EvalError(f"unknown comparison operator {op!r}")


def _arith(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return np.true_divide(a, b)
        if op == "%":
            return np.fmod(a, b)
        if op == "^":
            return np.power(np.asarray(a, dtype=np.float64), b)
        if op == "atan2":
            return np.arctan2(a, b)
    raise EvalError(f"unknown arithmetic operator {op!r}")


def _match_labels(lbls: Labels, m: VectorMatching) -> Labels:
    names = frozenset(m.matching_labels)
    if m.on:
        return Labels(tuple(p for p in lbls.pairs if p[0] in names))
    drop = names | {METRIC_NAME}
    return Labels(tuple(p for p in lbls.pairs if p[0] not in drop))


def _result_labels(lhs: Labels, rhs: Labels | None, m: VectorMatching, arith: bool) -> Labels:
    b = LabelsBuilder(lhs)
    if arith:
        b.delete(METRIC_NAME, "__type__", "__unit__")
    if m.card == "one-to-one":
        if m.on:
            b.keep(*m.matching_labels)
        else:
            b.delete(*m.matching_labels)
    if rhs is not None:
        for ln in m.include:
            val = rhs.get(ln)
            if val:
                b.set(ln, val)
            else:
                b.delete(ln)
    return b.labels()


def merge_same_labels(
    v: VecVal,
    err: str = "vector cannot contain metrics with the same labelset",
    check_mask: np.ndarray | None = None,
) -> VecVal:
    """Merge rows with identical labels; it is an error if two of them have a point at the same step."""
    seen: dict[Labels, int] = {}
    dup = False
    for lb in v.labels:
        if lb in seen:
            dup = True
            break
        seen[lb] = 1
    if not dup:
        return v
    first: dict[Labels, int] = {}
    groups: list[list[int]] = []
    for i, lb in enumerate(v.labels):
        g = first.get(lb)
        if g is None:
            first[lb] = len(groups)
            groups.append([i])
        else:
            groups[g].append(i)
    cm = v.mask if check_mask is None else check_mask
    labels, vals, masks, drops, sts = [], [], [], [], []
    for rows in groups:
        if len(rows) == 1:
            r = rows[0]
            labels.append(v.labels[r])
            vals.append(v.vals[r])
            masks.append(v.mask[r])
            drops.append(bool(v.drop[r]))
            sts.append(None if v.sample_ts is None else v.sample_ts[r])
            continue
        if (cm[rows].sum(axis=0) > 1).any():
            raise EvalError(err)
        mk = v.mask[rows]
        val = np.full(v.vals.shape[1], np.nan)
        st = None if v.sample_ts is None else np.zeros(v.vals.shape[1], dtype=np.int64)
        for r, pm in zip(rows, mk, strict=True):
            val = np.where(pm, v.vals[r], val)
            if st is not None and v.sample_ts is not None:
                st = np.where(pm, v.sample_ts[r], st)
        labels.append(v.labels[rows[0]])
        vals.append(val)
        masks.append(mk.any(axis=0))
        drops.append(bool(v.drop[rows[0]]))
        sts.append(st)
    n = v.vals.shape[1]
    return VecVal(
        labels,
        np.array(vals).reshape(len(labels), n),
        np.array(masks, dtype=bool).reshape(len(labels), n),
        np.array(drops, dtype=bool),
        None if v.sample_ts is None else np.array(sts).reshape(len(labels), n),
    )


def _absent_labels(e: Expr) -> Labels:
    e = unwrap_parens(e)
    if isinstance(e, MatrixSelector):
        e = e.vector_selector
    if not isinstance(e, VectorSelector):
        return Labels(())
    b = LabelsBuilder()
    has: set[str] = set()
    for m in e.matchers:
        if m.name == METRIC_NAME:
            continue
        if m.type is MatchType.EQUAL and m.name not in has:
            b.set(m.name, m.value)
            has.add(m.name)
        else:
            b.delete(m.name)
    return b.labels()


def _string_arg(e: Expr) -> str:
    e = unwrap_parens(e)
    if not isinstance(e, StringLiteral):
        raise EvalError("expected a string literal argument")
    return e.val


def _valid_label_name(name: str) -> bool:
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_NAT_RE = re.compile(r"(\d+)|(\D+)")


def _natsort_key(s: str) -> tuple:
    """Natural sort key (digit runs compare numerically), as github.com/facette/natsort."""
    out: list[tuple[int, int | str]] = []
    for num, txt in _NAT_RE.findall(s):
        if num:
            out.append((0, int(num)))
        else:
            out.append((1, txt))
    return tuple(out)


_TEMPLATE_RE = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _go_template(repl: str) -> Callable[[re.Match[str]], str]:
    """Go's ``regexp.Expand`` template semantics (``$1``, ``${name}``, ``$$``)."""

    def expand(m: re.Match[str]) -> str:
        def sub(t: re.Match[str]) -> str:
            if t.group(0) == "$$":
                return "$"
            name = t.group(1) or t.group(2)
            if name.isdigit():
                idx = int(name)
                if idx <= (m.re.groups or 0):
                    return m.group(idx) or ""
                return ""
            try:
                return m.group(name) or ""
            except IndexError:
                return ""

        return _TEMPLATE_RE.sub(sub, repl)

    return expand


def _openmetrics_float(v: float) -> str:
    """``labels.FormatOpenMetricsFloat``: like Go's %g but always with a decimal point."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    s = annos.go_g(v)
    if "." in s or "e" in s:
        return s
    return s + ".0"


def bucket_quantile_cols(q: np.ndarray, ubs: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized Prometheus ``BucketQuantile`` over columns (steps); returns (values, forced flags)."""
    k, n = counts.shape
    order = np.argsort(ubs, kind="stable")
    ub = ubs[order]
    c = counts[order].astype(np.float64)
    res = np.full(n, np.nan)
    forced = np.zeros(n, dtype=bool)
    if k == 0 or not (math.isinf(ub[-1]) and ub[-1] > 0):
        res = np.where(np.isnan(q), np.nan, np.where(q < 0, -np.inf, np.where(q > 1, np.inf, res)))
        return res, forced
    if k > 1:
        new = np.ones(k, dtype=bool)
        new[1:] = ub[1:] != ub[:-1]
        starts = np.nonzero(new)[0]
        c = np.add.reduceat(c, starts, axis=0)
        ub = ub[starts]
        k = len(ub)
    c = c.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        prev = c[0].copy()
        for i in range(1, k):
            curr = c[i]
            delta = np.abs(curr - prev)
            small = (delta != 0) & (delta / curr <= 1e-12)
            c[i] = np.where(small, prev, curr)
            prev = np.where((delta != 0) & ~small, curr, prev)
        mx = c[0].copy()
        for i in range(1, k):
            lower = c[i] < mx
            forced |= lower
            c[i] = np.where(lower, mx, c[i])
            mx = np.maximum(mx, c[i])
        obs = c[-1]
        if k >= 2:
            rank = q * obs
            ge = c[:-1] >= rank[None, :]
            b = np.where(ge.any(axis=0), np.argmax(ge, axis=0), k - 1)
            cols = np.arange(n)
            bend = ub[np.minimum(b, k - 1)]
            cnt_b = c[np.minimum(b, k - 1), cols]
            bstart = np.where(b > 0, ub[np.maximum(b - 1, 0)], 0.0)
            prevc = np.where(b > 0, c[np.maximum(b - 1, 0), cols], 0.0)
            val = bstart + (bend - bstart) * ((rank - prevc) / (cnt_b - prevc))
            val = np.where(b == k - 1, ub[k - 2], val)
            val = np.where((b == 0) & (ub[0] <= 0), ub[0], val)
            res = np.where(obs == 0, np.nan, val)
        res = np.where(np.isnan(q), np.nan, np.where(q < 0, -np.inf, np.where(q > 1, np.inf, res)))
    forced = forced & ~np.isnan(q) & (q >= 0) & (q <= 1)
    return res, forced


def _bq(
    q: np.ndarray, ubs: np.ndarray, counts: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return bucket_quantile_cols(q[cols], ubs, counts)


__all__ = [
    "AT_MODIFIER_UNSAFE",
    "EvalOptions",
    "Evaluator",
    "merge_same_labels",
    "prom_labels_str",
    "unwrap_parens",
]
