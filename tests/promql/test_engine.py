"""Engine API, limits and error kinds (the conformance suite covers PromQL semantics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from promql.engine import (
    Engine,
    EvalError,
    Matrix,
    QueryCanceledError,
    QueryTimeoutError,
    Scalar,
    String,
    TooManySamplesError,
    Vector,
    find_min_max_time,
)
from promql.parser import parse_expr
from promql.testing import MemStorage
from tsdb.interface import STALE_NAN, Labels, Matcher, MatchType


def _storage(n_series: int = 4, n_points: int = 100, step: int = 15_000) -> MemStorage:
    st = MemStorage()
    ts = np.arange(n_points, dtype=np.int64) * step
    for i in range(n_series):
        lbls = Labels.from_dict({"__name__": "req_total", "job": f"j{i % 2}", "instance": f"i{i}"})
        st.add(lbls, ts, np.arange(n_points, dtype=np.float64) * (i + 1))
    return st


def test_instant_vector_and_scalar_and_string() -> None:
    st = _storage()
    eng = Engine()
    r = eng.instant_query(st, "req_total", 60_000)
    assert isinstance(r.value, Vector)
    assert len(r.value) == 4
    assert all(s.t == 60_000 for s in r.value)
    assert sorted(s.v for s in r.value) == [4.0, 8.0, 12.0, 16.0]
    s = eng.instant_query(st, "1 + 2", 0).value
    assert isinstance(s, Scalar) and s.v == 3.0
    assert eng.instant_query(st, '"hi"', 5).value == String(5, "hi")


def test_range_query_matrix_sorted_and_stats() -> None:
    st = _storage()
    r = Engine().range_query(st, "sum by (job) (rate(req_total[1m]))", 60_000, 600_000, 30_000)
    assert isinstance(r.value, Matrix)
    assert [s.labels for s in r.value] == [Labels.from_dict({"job": "j0"}), Labels.from_dict({"job": "j1"})]
    j0 = r.value[0]
    assert j0.ts.dtype == np.int64 and len(j0.ts) == 19
    assert np.allclose(j0.vals, (1 + 3) / 15)
    assert r.stats.total_samples > 0
    assert r.warnings == [] and r.infos == []


def test_matrix_selector_instant_query_is_left_open() -> None:
    st = _storage()
    r = Engine().instant_query(st, "req_total[1m]", 60_000)
    assert isinstance(r.value, Matrix)
    assert r.value[0].ts.tolist() == [15_000, 30_000, 45_000, 60_000]


def test_range_query_rejects_range_vector() -> None:
    with pytest.raises(EvalError, match='invalid expression type "range vector"'):
        Engine().range_query(_storage(), "req_total[1m]", 0, 60_000, 15_000)


def test_staleness_and_lookback() -> None:
    st = MemStorage()
    lb = Labels.from_dict({"__name__": "m"})
    st.add(lb, [0, 10_000, 20_000], [1.0, STALE_NAN, 2.0])
    eng = Engine()
    assert [s.v for s in eng.instant_query(st, "m", 5_000).value] == [1.0]
    assert list(eng.instant_query(st, "m", 15_000).value) == []
    assert [s.v for s in eng.instant_query(st, "m", 319_999).value] == [2.0]
    assert list(eng.instant_query(st, "m", 320_000).value) == []
    # A custom lookback.
    assert list(Engine(lookback_delta_ms=1_000).instant_query(st, "m", 25_000).value) == []


def test_annotation_position() -> None:
    st = MemStorage()
    st.add(Labels.from_dict({"__name__": "foo"}), [0, 15_000, 30_000], [1.0, 2.0, 3.0])
    r = Engine().instant_query(st, "sum(rate(foo[1m]))", 30_000)
    assert r.infos == [
        'PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "foo" (1:10)'
    ]


def test_too_many_samples() -> None:
    st = _storage(n_series=10, n_points=200)
    with pytest.raises(TooManySamplesError, match="too many samples"):
        Engine(max_samples=100).range_query(st, "req_total", 0, 3_000_000, 15_000)


def test_timeout_and_cancel() -> None:
    st = _storage()
    with pytest.raises(QueryTimeoutError, match="query timed out in expression evaluation"):
        Engine(timeout_s=1e-9).instant_query(st, "sum(req_total)", 0)
    with pytest.raises(QueryCanceledError):
        Engine().instant_query(st, "sum(req_total)", 0, cancel=lambda: True)


def test_error_kinds() -> None:
    assert QueryTimeoutError().error_type == "timeout"
    assert QueryCanceledError().error_type == "canceled"
    assert TooManySamplesError().error_type == "execution"
    assert EvalError("x").error_type == "execution"


def test_duplicate_labelset_error() -> None:
    st = MemStorage()
    st.add(Labels.from_dict({"__name__": "a", "x": "1"}), [0], [1.0])
    st.add(Labels.from_dict({"__name__": "b", "x": "1"}), [0], [2.0])
    with pytest.raises(EvalError, match="vector cannot contain metrics with the same labelset"):
        Engine().instant_query(st, '-{x="1"}', 0)


def test_immediate_name_removal_mode() -> None:
    st = _storage()
    q = 'label_replace(rate(req_total[1m]), "n", "$1", "__name__", "(.*)")'
    delayed = Engine().instant_query(st, q, 60_000).value
    assert {s.labels.get("n") for s in delayed} == {"req_total"}
    immediate = Engine(enable_delayed_name_removal=False).instant_query(st, q, 60_000).value
    assert {s.labels.get("n") for s in immediate} == {""}


def test_experimental_functions_gate() -> None:
    st = _storage()
    with pytest.raises(EvalError, match="experimental"):
        Engine().instant_query(st, "limitk(1, req_total)", 0)
    assert (
        len(Engine(enable_experimental_functions=True).instant_query(st, "limitk(1, req_total)", 0).value)
        == 1
    )


def test_sort_order_of_instant_results() -> None:
    st = _storage()
    vals = [s.v for s in Engine().instant_query(st, "sort_desc(req_total)", 60_000).value]
    assert vals == sorted(vals, reverse=True)
    top = Engine().instant_query(st, "topk(2, req_total)", 60_000).value
    assert [s.v for s in top] == [16.0, 12.0]


def test_find_min_max_time() -> None:
    e = parse_expr("rate(x[5m] offset 1m) + y")
    assert find_min_max_time(e, 1_000_000, 2_000_000, 300_000) == (1_000_000 - 360_000 + 1, 2_000_000)
    e = parse_expr("x @ 100")
    assert find_min_max_time(e, 0, 10, 300_000) == (100_000 - 299_999, 100_000)


def test_mem_storage_appender_and_labels() -> None:
    st = MemStorage()
    app = st.appender()
    ref = app.append(None, Labels.from_dict({"__name__": "m", "a": "1"}), 1000, 1.0)
    app.append(ref, None, 2000, 2.0)
    assert len(st) == 0
    app.commit()
    q = st.querier(0, 10_000)
    assert q.label_names() == ["__name__", "a"]
    assert q.label_values("a") == ["1"]
    (s,) = q.select([Matcher(MatchType.EQUAL, "a", "1")])
    assert s.ts.tolist() == [1000, 2000]
    assert math.isclose(float(s.vals[1]), 2.0)


def test_promqltest_value_expansion() -> None:
    from promql.promqltest import HIST, parse_series_desc, parse_test_duration

    lbls, vals = parse_series_desc('m{a="b", c="d\\"e"} 1+1x3 _x2 stale 5 -2-0.5x2 {{schema:0 sum:1}}x1 Inf')
    assert lbls == Labels.from_dict({"__name__": "m", "a": "b", "c": 'd"e'})
    assert vals[:4] == [1.0, 2.0, 3.0, 4.0]
    assert vals[4:6] == [None, None]
    assert math.isnan(vals[6])
    assert vals[7:11] == [5.0, -2.0, -2.5, -3.0]
    assert vals[11:13] == [HIST, HIST]
    assert vals[13] == math.inf
    assert parse_test_duration("1h30m") == 5_400_000
    assert parse_test_duration("10s53ms") == 10_053
    assert parse_test_duration("0") == 0


def test_promqltest_runs_a_script() -> None:
    from promql.promqltest import Runner, parse_script

    script = """
load 1m
  up{job="a"} 1 1 0
  up{job="b"} 1 _ 1

eval instant at 2m sum(up)
  {} 1

eval range from 0 to 2m step 1m up == 1
  up{job="a"} 1 1 _
  up{job="b"} 1 1 1

eval instant at 2m up / on() group_left up
  expect fail
"""
    runner = Runner()
    outcomes = [runner.run(c) for c in parse_script(script, "inline.test")]
    assert [o.status for o in outcomes] == ["passed", "passed", "passed"], [o.message for o in outcomes]
