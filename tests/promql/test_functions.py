"""Vectorized range functions against straightforward per-window reference implementations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promql.functions import SeriesBatch, bucket_quantile, date_function, range_function
from promql.promqltest import almost_equal
from tsdb.interface import Labels, Series


def _kahan(inc: float, s: float, c: float) -> tuple[float, float]:
    t = s + inc
    if math.isinf(t):
        c = 0.0
    elif abs(s) >= abs(inc):
        c += (s - t) + inc
    else:
        c += (inc - t) + s
    return t, c


def ref_extrapolated(ts, vs, end, rng, is_counter, is_rate):  # type: ignore[no-untyped-def]
    if len(ts) < 2:
        return None
    result = vs[-1] - vs[0]
    if is_counter:
        for i in range(1, len(vs)):
            if vs[i] < vs[i - 1]:
                result += vs[i - 1]
    start = end - rng
    dur_start = (ts[0] - start) / 1000
    dur_end = (end - ts[-1]) / 1000
    sampled = (ts[-1] - ts[0]) / 1000
    avg = sampled / (len(ts) - 1)
    thr = avg * 1.1
    if dur_start >= thr:
        dur_start = avg / 2
    if is_counter and result > 0 and vs[0] >= 0:
        dz = sampled * (vs[0] / result)
        if dz < dur_start:
            dur_start = dz
    if dur_end >= thr:
        dur_end = avg / 2
    factor = (sampled + dur_start + dur_end) / sampled
    if is_rate:
        factor /= rng / 1000
    return result * factor


def ref_sum(ts, vs, end, rng):  # type: ignore[no-untyped-def]
    if not vs:
        return None
    s = c = 0.0
    for v in vs:
        s, c = _kahan(v, s, c)
    return s if math.isinf(s) else s + c


def ref_changes(ts, vs, end, rng):  # type: ignore[no-untyped-def]
    if not vs:
        return None
    return float(
        sum(1 for a, b in zip(vs, vs[1:], strict=False) if b != a and not (math.isnan(a) and math.isnan(b)))
    )


def ref_resets(ts, vs, end, rng):  # type: ignore[no-untyped-def]
    if not vs:
        return None
    return float(sum(1 for a, b in zip(vs, vs[1:], strict=False) if b < a))


def ref_max(ts, vs, end, rng):  # type: ignore[no-untyped-def]
    if not vs:
        return None
    m = vs[0]
    for v in vs:
        if v > m or math.isnan(m):
            m = v
    return m


def ref_deriv(ts, vs, end, rng):  # type: ignore[no-untyped-def]
    if len(vs) < 2:
        return None
    t0 = ts[0]
    n = 0.0
    sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    const = all(v == vs[0] for v in vs)
    for t, v in zip(ts, vs, strict=True):
        n += 1
        x = (t - t0) / 1e3
        sx, cx = _kahan(x, sx, cx)
        sy, cy = _kahan(v, sy, cy)
        sxy, cxy = _kahan(x * v, sxy, cxy)
        sx2, cx2 = _kahan(x * x, sx2, cx2)
    if const:
        return math.nan if math.isinf(vs[0]) else 0.0
    sx += cx
    sy += cy
    sxy += cxy
    sx2 += cx2
    return (sxy - sx * sy / n) / (sx2 - sx * sx / n)


REFS = {
    "rate": lambda ts, vs, e, r: ref_extrapolated(ts, vs, e, r, True, True),
    "increase": lambda ts, vs, e, r: ref_extrapolated(ts, vs, e, r, True, False),
    "delta": lambda ts, vs, e, r: ref_extrapolated(ts, vs, e, r, False, False),
    "sum_over_time": ref_sum,
    "changes": ref_changes,
    "resets": ref_resets,
    "max_over_time": ref_max,
    "deriv": ref_deriv,
    "count_over_time": lambda ts, vs, e, r: float(len(vs)) if vs else None,
    "last_over_time": lambda ts, vs, e, r: vs[-1] if vs else None,
}


def _check(name: str, series: list[tuple[np.ndarray, np.ndarray]], times: np.ndarray, rng: int) -> None:
    batch = SeriesBatch.from_series(
        [Series(Labels.from_dict({"i": str(i)}), t, v) for i, (t, v) in enumerate(series)]
    )
    w = batch.windows(times, rng)
    vals, mask = range_function(name, w, rng, times)
    for i, (t, v) in enumerate(series):
        for j, end in enumerate(times.tolist()):
            sel = (t > end - rng) & (t <= end)
            exp = REFS[name](t[sel].tolist(), v[sel].tolist(), end, rng)
            if exp is None:
                assert not mask[i, j], (name, i, j)
            else:
                assert mask[i, j], (name, i, j)
                assert almost_equal(float(vals[i, j]), exp, 1e-9), (name, i, j, vals[i, j], exp)


series_strategy = st.lists(
    st.tuples(
        st.lists(st.integers(1, 40_000), min_size=0, max_size=25, unique=True),
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=25, max_size=25),
    ),
    min_size=1,
    max_size=4,
)


@pytest.mark.parametrize("name", sorted(REFS))
@settings(max_examples=40, deadline=None)
@given(data=series_strategy, rng=st.integers(1, 20_000), step=st.integers(700, 5_000))
def test_range_functions_match_reference(name: str, data, rng: int, step: int) -> None:  # type: ignore[no-untyped-def]
    series = []
    for ts, vs in data:
        t = np.array(sorted(ts), dtype=np.int64)
        series.append((t, np.array(vs[: len(t)], dtype=np.float64)))
    times = np.arange(0, 45_000, step, dtype=np.int64)
    _check(name, series, times, rng)


def test_rate_counter_reset_and_extrapolation() -> None:
    t = np.arange(0, 11) * 300_000
    v = np.array([0, 1, 2, 3, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    _check("increase", [(t, v)], np.array([1_800_000, 3_000_000]), 1_800_000)


def test_bucket_quantile_basics() -> None:
    ub = np.array([0.1, 0.2, math.inf])
    c = np.array([10.0, 20.0, 30.0])
    assert bucket_quantile(0.5, ub, c)[0] == pytest.approx(0.15)
    assert math.isnan(bucket_quantile(math.nan, ub, c)[0])
    assert bucket_quantile(-1, ub, c)[0] == -math.inf
    val, forced = bucket_quantile(0.5, ub, np.array([10.0, 5.0, 30.0]))
    assert forced


def test_date_functions() -> None:
    v = np.array([1136239445.0, 0.0, -1.0, math.nan])
    assert date_function("year", v)[:3].tolist() == [2006, 1970, 1969]
    assert date_function("hour", v)[:3].tolist() == [22, 0, 23]
    assert date_function("day_of_week", v)[:2].tolist() == [1, 4]
    assert date_function("days_in_month", np.array([1454284800.0]))[0] == 29
    assert math.isnan(date_function("month", v)[3])
