"""A range query must agree, step by step, with instant queries at each step (random data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promql.engine import Engine, EvalError, Matrix, Scalar, Vector
from promql.promqltest import almost_equal
from promql.testing import MemStorage
from tsdb.interface import STALE_NAN, Labels

QUERIES = [
    "m",
    "m offset 1m",
    "m @ 300",
    "rate(m[2m])",
    "increase(m[3m] offset 30s)",
    "delta(m[2m])",
    "irate(m[2m])",
    "idelta(m[90s])",
    "changes(m[4m])",
    "resets(m[4m])",
    "avg_over_time(m[3m])",
    "sum_over_time(m[3m])",
    "min_over_time(m[3m])",
    "max_over_time(m[3m])",
    "count_over_time(m[3m])",
    "last_over_time(m[3m])",
    "stddev_over_time(m[3m])",
    "quantile_over_time(0.3, m[3m])",
    "deriv(m[3m])",
    "predict_linear(m[3m], 60)",
    "absent_over_time(m[1m])",
    "sum by (g) (m)",
    "avg without (i) (m)",
    "max by (g) (rate(m[2m]))",
    "count(m > 3)",
    "stddev by (g) (m)",
    "quantile by (g) (0.5, m)",
    "topk(2, m)",
    "bottomk by (g) (1, m)",
    "m * 2 - 1",
    "m > bool 4",
    "m / on(i) group_left m",
    "m and on(g) (m > 5)",
    "m or on(i) vector(1)",
    "m unless m > 6",
    "-m",
    "abs(m - 5)",
    "clamp(m, 2, 6)",
    "round(m, 0.5)",
    "timestamp(m)",
    "scalar(sum(m))",
    "sum_over_time(m[5m:1m])",
    "max_over_time(rate(m[2m])[4m:30s])",
    "absent(m{g='none'})",
    "label_replace(m, 'x', '$1', 'i', '(.*)')",
    "count_values('v', round(m))",
    "histogram_quantile(0.9, sum by (le) (m))",
]


def _storage(data: list[tuple[int, list[float | None]]]) -> MemStorage:
    st_ = MemStorage()
    for i, (group, vals) in enumerate(data):
        ts, vs = [], []
        for k, v in enumerate(vals):
            if v is None:
                continue
            ts.append(k * 20_000)
            vs.append(STALE_NAN if v == -1 else v)
        if ts:
            le = ["0.5", "1", "+Inf"][i % 3]
            st_.add(Labels.from_dict({"__name__": "m", "g": f"g{group}", "i": str(i), "le": le}), ts, vs)
    return st_


values = st.one_of(st.none(), st.just(-1.0), st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 1)))
series = st.tuples(st.integers(0, 2), st.lists(values, min_size=5, max_size=40))


def _points(value: object, t: int) -> dict[Labels, float]:
    if isinstance(value, Vector):
        return {s.labels: s.v for s in value}
    if isinstance(value, Scalar):
        return {Labels(()): value.v}
    raise AssertionError(type(value))


@pytest.mark.parametrize("query", QUERIES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(series, min_size=1, max_size=5), start=st.integers(0, 20), steps=st.integers(1, 12))
def test_range_matches_instant(query: str, data, start: int, steps: int) -> None:  # type: ignore[no-untyped-def]
    storage = _storage(data)
    eng = Engine(enable_experimental_functions=True)
    step = 30_000
    t0 = start * 10_000
    t1 = t0 + (steps - 1) * step
    try:
        rng = eng.range_query(storage, query, t0, t1, step)
    except EvalError as exc:
        # The same error must show up for some instant evaluation.
        errs = 0
        for t in range(t0, t1 + 1, step):
            try:
                eng.instant_query(storage, query, t)
            except EvalError:
                errs += 1
        assert errs, f"range query failed ({exc}) but no instant query did"
        return
    assert isinstance(rng.value, Matrix)
    by_t: dict[int, dict[Labels, float]] = {}
    for s in rng.value:
        for t, v in s.points():
            by_t.setdefault(t, {})[s.labels] = v
    for t in range(t0, t1 + 1, step):
        inst = _points(eng.instant_query(storage, query, t).value, t)
        if query.startswith("scalar("):
            inst = {k: v for k, v in inst.items()}
        got = by_t.get(t, {})
        assert set(got) == set(inst), (query, t, got, inst)
        for lb, v in inst.items():
            assert almost_equal(v, got[lb], 1e-9) or (math.isnan(v) and math.isnan(got[lb])), (
                query,
                t,
                lb,
                v,
                got[lb],
            )


def test_stale_marker_ends_series_in_range_query() -> None:
    st_ = MemStorage()
    st_.add(Labels.from_dict({"__name__": "m"}), [0, 20_000, 40_000], [1.0, STALE_NAN, 3.0])
    r = Engine().range_query(st_, "m", 0, 60_000, 10_000)
    assert r.value[0].ts.tolist() == [0, 10_000, 40_000, 50_000, 60_000]
    assert np.array_equal(r.value[0].vals, [1.0, 1.0, 3.0, 3.0, 3.0])
