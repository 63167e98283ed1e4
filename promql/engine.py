"""The PromQL query engine: instant and range queries over the ``tsdb.interface`` seam.

Usage::

    engine = Engine()
    res = engine.range_query(storage, 'sum by (job) (rate(x[5m]))', start_ms, end_ms, step_ms)
    res.value      # Matrix of MatrixSeries(labels, ts, vals)
    res.warnings   # Prometheus-style annotation strings
    res.infos

A range query is evaluated for all steps at once: each selector reads its
series once, lookback and range windows are located with ``np.searchsorted``
and every operator works on ``(series, steps)`` arrays. Semantics follow
Prometheus 3.x.

``enable_delayed_name_removal`` (default True) selects Prometheus's
``promql-delayed-name-removal`` semantics, which its PromQL test suite uses:
``__name__`` (and ``__type__``/``__unit__``) are removed at the end of the
query, so e.g. ``label_replace`` can still see them. Set it to False to match
a Prometheus server running with default feature flags.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from tsdb.interface import Labels, Queryable

from ._eval import AT_MODIFIER_UNSAFE, METADATA_LABELS, EvalOptions, Evaluator, merge_same_labels
from ._eval_annos import INFO, WARNING
from ._eval_values import Ctx, MatrixVal, ScalarVal, StringVal, VecVal
from .ast import (
    EXPERIMENTAL_AGGREGATORS,
    AggregateExpr,
    Call,
    Expr,
    MatrixSelector,
    SubqueryExpr,
    ValueType,
    VectorSelector,
    resolve_durations,
    walk,
)
from .eval_errors import (
    EvalError,
    QueryCanceledError,
    QueryTimeoutError,
    StorageReadError,
    TooManySamplesError,
)

__all__ = [
    "AT_MODIFIER_UNSAFE",
    "Engine",
    "EvalError",
    "FeatureDisabledError",
    "Matrix",
    "MatrixSeries",
    "QueryCanceledError",
    "QueryStats",
    "QueryTimeoutError",
    "Result",
    "Sample",
    "Scalar",
    "StorageReadError",
    "String",
    "TooManySamplesError",
    "Vector",
    "find_min_max_time",
]


class FeatureDisabledError(EvalError):
    """The query uses a feature the engine was configured without (a ``bad_data`` error)."""

    error_type = "bad_data"


# --------------------------------------------------------------------------- result values


@dataclass(frozen=True)
class Scalar:
    """A scalar result at time ``t`` (ms)."""

    t: int
    v: float


@dataclass(frozen=True)
class String:
    """A string result at time ``t`` (ms)."""

    t: int
    v: str


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: Labels
    t: int
    v: float


class Vector(list[Sample]):
    """An instant vector result (a list of samples, in evaluation order)."""


@dataclass(frozen=True, eq=False)
class MatrixSeries:
    """One series of a matrix result: labels plus ``int64`` ms timestamps and ``float64`` values."""

    labels: Labels
    ts: np.ndarray
    vals: np.ndarray

    def points(self) -> Iterator[tuple[int, float]]:
        return zip(self.ts.tolist(), self.vals.tolist(), strict=True)


class Matrix(list[MatrixSeries]):
    """A range-vector result, sorted by labels."""


@dataclass
class QueryStats:
    """Sample statistics of one query."""

    total_samples: int = 0
    peak_samples: int = 0
    eval_seconds: float = 0.0


@dataclass
class Result:
    """The outcome of a query: value plus Prometheus-style annotations and stats."""

    value: Scalar | String | Vector | Matrix
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    stats: QueryStats = field(default_factory=QueryStats)


# --------------------------------------------------------------------------- time ranges


def _at_of(node: VectorSelector | SubqueryExpr, start: int, end: int) -> int | None:
    if node.timestamp is not None:
        return int(node.timestamp)
    if node.start_or_end == "start":
        return start
    if node.start_or_end == "end":
        return end
    return None


def find_min_max_time(expr: Expr, start: int, end: int, lookback_ms: int) -> tuple[int, int]:
    """Earliest and latest sample time the query may read (Prometheus's ``FindMinMaxTime``)."""
    lo, hi = math.inf, -math.inf

    def visit(node: Expr, path: list[Expr], eval_range: int) -> None:
        nonlocal lo, hi
        if isinstance(node, MatrixSelector):
            visit(node.vector_selector, [*path, node], node.range)
            return
        if isinstance(node, VectorSelector):
            s, e = start, end
            sub_off = sub_rng = 0
            sub_ts: int | None = None
            for p in path:
                if isinstance(p, SubqueryExpr):
                    sub_off += p.offset
                    sub_rng += p.range
                    at = _at_of(p, start, end)
                    if at is not None:
                        sub_off, sub_rng, sub_ts = p.offset, p.range, at
            if sub_ts is not None:
                s = e = sub_ts
            at = _at_of(node, start, end)
            if at is not None:
                s = e = at
            else:
                s = s - sub_off - sub_rng
                e = e - sub_off
            ext = node.anchored or node.smoothed
            if eval_range == 0:
                s -= lookback_ms - 1
                if node.smoothed:
                    e += lookback_ms
            else:
                s -= eval_range - 1 + (lookback_ms if ext else 0)
                if node.smoothed:
                    e += lookback_ms
            s -= node.offset
            e -= node.offset
            lo = min(lo, s)
            hi = max(hi, e)
            return
        from .ast import children

        for c in children(node):
            visit(c, [*path, node], 0)

    visit(expr, [], 0)
    if hi == -math.inf:
        return 0, 0
    return int(lo), int(hi)


# --------------------------------------------------------------------------- engine


class Engine:
    """Evaluates PromQL over any ``tsdb.interface.Queryable``."""

    def __init__(
        self,
        lookback_delta_ms: int = 300_000,
        timeout_s: float = 120,
        max_samples: int = 50_000_000,
        enable_experimental_functions: bool = False,
        enable_at_modifier: bool = True,
        enable_negative_offset: bool = True,
        no_step_subquery_interval_ms: int = 60_000,
        enable_delayed_name_removal: bool = True,
    ) -> None:
        self.lookback_delta_ms = int(lookback_delta_ms)
        self.timeout_s = timeout_s
        self.max_samples = int(max_samples)
        self.enable_experimental_functions = enable_experimental_functions
        self.enable_at_modifier = enable_at_modifier
        self.enable_negative_offset = enable_negative_offset
        self.no_step_subquery_interval_ms = int(no_step_subquery_interval_ms)
        self.enable_delayed_name_removal = enable_delayed_name_removal

    # -- public API ------------------------------------------------------

    def instant_query(
        self,
        storage: Queryable,
        expr: str | Expr,
        t_ms: int,
        *,
        cancel: Callable[[], bool] | None = None,
        lookback_delta_ms: int | None = None,
    ) -> Result:
        """Evaluate ``expr`` at ``t_ms``; the value is a Scalar, String, Vector or Matrix."""
        text, node = self._prepare(expr, 0, 0)
        return self._exec(storage, text, node, int(t_ms), int(t_ms), 0, cancel, lookback_delta_ms)

    def range_query(
        self,
        storage: Queryable,
        expr: str | Expr,
        start_ms: int,
        end_ms: int,
        step_ms: int,
        *,
        cancel: Callable[[], bool] | None = None,
        lookback_delta_ms: int | None = None,
    ) -> Result:
        """Evaluate ``expr`` at ``start, start+step, … <= end``; the value is a Matrix."""
        if step_ms <= 0:
            raise EvalError("zero or negative query resolution step widths are not accepted")
        if end_ms < start_ms:
            raise EvalError("end timestamp must not be before start time")
        text, node = self._prepare(expr, int(step_ms), int(end_ms) - int(start_ms))
        if node.type not in (ValueType.VECTOR, ValueType.SCALAR):
            raise EvalError(
                f'invalid expression type "{node.type.documented}" for range query, '
                "must be Scalar or instant Vector"
            )
        return self._exec(
            storage, text, node, int(start_ms), int(end_ms), int(step_ms), cancel, lookback_delta_ms
        )

    # -- internals ---------------------------------------------------------

    def _prepare(self, expr: str | Expr, step_ms: int, range_ms: int) -> tuple[str, Expr]:
        if isinstance(expr, str):
            from .parser import parse_expr

            text, node = expr, parse_expr(expr)
        else:
            text, node = str(expr), expr
        node = resolve_durations(node, step_ms, range_ms)
        self._validate(node)
        return text, node

    def _validate(self, node: Expr) -> None:
        for n in walk(node):
            if isinstance(n, VectorSelector | SubqueryExpr):
                if not self.enable_at_modifier and (n.timestamp is not None or n.start_or_end):
                    raise FeatureDisabledError("@ modifier is disabled")
                if not self.enable_negative_offset and n.offset < 0:
                    raise FeatureDisabledError("negative offset is disabled")
            if not self.enable_experimental_functions:
                if isinstance(n, Call) and n.func.experimental:
                    raise FeatureDisabledError(
                        f'function "{n.func.name}" is not enabled '
                        "(use --enable-feature=promql-experimental-functions)"
                    )
                if isinstance(n, AggregateExpr) and n.op in EXPERIMENTAL_AGGREGATORS:
                    raise FeatureDisabledError(
                        f"{n.op}() is experimental and must be enabled with "
                        "--enable-feature=promql-experimental-functions"
                    )

    def _exec(
        self,
        storage: Queryable,
        text: str,
        node: Expr,
        start: int,
        end: int,
        step: int,
        cancel: Callable[[], bool] | None,
        lookback_delta_ms: int | None,
    ) -> Result:
        t0 = time.monotonic()
        lookback = int(lookback_delta_ms) if lookback_delta_ms else self.lookback_delta_ms
        opts = EvalOptions(
            lookback_ms=lookback,
            max_samples=self.max_samples,
            default_subquery_step_ms=self.no_step_subquery_interval_ms,
            delayed_name_removal=self.enable_delayed_name_removal,
            deadline=t0 + self.timeout_s if self.timeout_s else None,
            cancel=cancel,
        )
        mint, maxt = find_min_max_time(node, start, end, lookback)
        try:
            querier = storage.querier(mint, maxt)
        except Exception as exc:
            raise StorageReadError(str(exc)) from exc
        try:
            ev = Evaluator(querier, opts, text)
            if step == 0:
                times = np.array([start], dtype=np.int64)
            else:
                times = np.arange(start, end + 1, step, dtype=np.int64)
            ctx = Ctx(times, start, end, step)
            val = ev.eval(node, ctx)
            out = self._finish(val, ctx, step == 0)
        finally:
            try:
                querier.close()
            except Exception:  # noqa: BLE001 - closing must not mask the query's outcome
                pass
        stats = QueryStats(ev.total_samples, ev.peak_samples, time.monotonic() - t0)
        return Result(out, ev.annos.render(text, WARNING), ev.annos.render(text, INFO), stats)

    def _finish(self, val: object, ctx: Ctx, instant: bool) -> Scalar | String | Vector | Matrix:
        t = int(ctx.times[0]) if ctx.n else 0
        if isinstance(val, StringVal):
            return String(t, val.val)
        if isinstance(val, ScalarVal):
            if instant:
                return Scalar(t, float(val.vals[0]))
            return Matrix([MatrixSeries(Labels(()), ctx.times.copy(), val.vals.astype(np.float64))])
        if isinstance(val, MatrixVal):
            b = val.batch
            mat = Matrix()
            for i, lb in enumerate(b.labels):
                lo, hi = int(val.lo[i]), int(val.hi[i])
                if hi > lo:
                    mat.append(MatrixSeries(lb, b.ts[lo:hi].copy(), b.vals[lo:hi].copy()))
            mat.sort(key=lambda s: s.labels)
            return mat
        assert isinstance(val, VecVal)
        v = val
        if v.drop.any():
            labels = [
                lb.without(*METADATA_LABELS) if d else lb
                for lb, d in zip(v.labels, v.drop.tolist(), strict=True)
            ]
            v = VecVal(labels, v.vals, v.mask, np.zeros(v.m, dtype=bool))
        v = merge_same_labels(v.compact())
        if instant:
            vec = Vector()
            for i in np.nonzero(v.mask[:, 0])[0].tolist():
                vec.append(Sample(v.labels[i], t, float(v.vals[i, 0])))
            return vec
        mat = Matrix()
        for i, lb in enumerate(v.labels):
            pm = v.mask[i]
            if pm.any():
                mat.append(MatrixSeries(lb, ctx.times[pm], v.vals[i][pm]))
        mat.sort(key=lambda s: s.labels)
        return mat
