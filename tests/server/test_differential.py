"""Heron server against the real ``prometheus`` binary (Debian's 2.42) on the same data.

Both get the same remote-write request; then raw API JSON and ``promtool query``
output are compared for a list of queries. Normalised only where the two must
differ: ``infos``/``warnings`` (annotations Prometheus 2.42 does not emit),
vector order where Prometheus leaves it unspecified, the last bits of sums
whose algorithm changed between 2.42 and 3.x (incremental mean vs Kahan
summation: values must agree to 1e-12 relative), and evaluation times
chosen between samples so 2.42's closed range windows and 3.x's left-open ones
select the same samples (subqueries are left out: their steps are aligned to
absolute time, so they land on samples where 2.42 and 3.x must differ).
"""

from __future__ import annotations

import json
import math
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_peer

from .util import Dataset, HeronServer, Prometheus, get_json, make_dataset, push


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, HeronServer, Dataset]]:
    binary = require_peer("prometheus")
    tmp = tmp_path_factory.mktemp("diff")
    data = make_dataset(int(time.time() * 1000))
    body = data.write_body()
    with (
        Prometheus(binary, tmp / "prom", "global: {scrape_interval: 15s}\n") as prom,
        HeronServer(tmp / "heron") as heron,
    ):
        s1, out1 = push(prom.url, body)
        s2, out2 = push(heron.url, body)
        assert (s1, s2) == (204, 204), (out1, out2)
        yield prom, heron, data


def _norm(doc: Any, sort_vector: bool) -> Any:
    doc = dict(doc)
    doc.pop("infos", None)
    doc.pop("warnings", None)
    data = doc.get("data")
    if isinstance(data, dict) and data.get("resultType") in ("vector", "matrix") and sort_vector:
        data = dict(data)
        data["result"] = sorted(data["result"], key=lambda r: json.dumps(r["metric"], sort_keys=True))
        doc["data"] = data
    return doc


INSTANT = [
    "http_requests_total",
    "rate(http_requests_total[5m])",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "resets(http_requests_total[30m])",
    "sum by (code) (rate(http_requests_total[5m]))",
    "sum without (instance) (http_requests_total)",
    "count(http_requests_total)",
    "avg(temperature_celsius)",
    "max(temperature_celsius) - min(temperature_celsius)",
    "temperature_celsius > 20",
    "temperature_celsius > bool 20",
    "temperature_celsius * on (room) group_left temperature_celsius",
    "abs(temperature_celsius - 20)",
    "round(temperature_celsius, 0.5)",
    "clamp(temperature_celsius, 15, 25)",
    "avg_over_time(temperature_celsius[10m])",
    "max_over_time(temperature_celsius[10m])",
    "count_over_time(temperature_celsius[5m])",
    "stddev_over_time(temperature_celsius[10m])",
    "quantile_over_time(0.9, temperature_celsius[10m])",
    "delta(temperature_celsius[5m])",
    "deriv(temperature_celsius[10m])",
    "predict_linear(temperature_celsius[10m], 600)",
    "changes(temperature_celsius[10m])",
    "stddev(temperature_celsius)",
    "quantile(0.5, temperature_celsius)",
    "topk(2, temperature_celsius)",
    "bottomk(1, temperature_celsius)",
    'count_values("v", round(temperature_celsius))',
    "sort(temperature_celsius)",
    "sort_desc(temperature_celsius)",
    'label_replace(temperature_celsius, "r", "$1", "room", "(.).*")',
    'label_join(temperature_celsius, "x", "-", "__name__", "room")',
    "histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(req_duration_seconds_bucket[10m]))",
    "temperature_celsius offset 10m",
    "with_nans",
    "sum(with_nans)",
    "flappy",
    "big_and_small",
    "big_and_small * 1000",
    "scalar(sum(temperature_celsius))",
    "vector(1)",
    "time()",
    "1 + 2 * 3",
    '"a string"',
    "absent(nonexistent_metric)",
    "absent(temperature_celsius)",
    "timestamp(temperature_celsius)",
    "http_requests_total[2m]",
]

RANGE = [
    "rate(http_requests_total[5m])",
    "sum by (code) (increase(http_requests_total[5m]))",
    "temperature_celsius",
    "avg_over_time(temperature_celsius[3m])",
    "histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[5m])))",
    "flappy",
    "with_nans",
    "big_and_small",
    "time()",
    "temperature_celsius > 22",
]


def _instant_time(data: Dataset, frac: float) -> str:
    t = data.t0 + int((data.t1 - data.t0) * frac) // data.step * data.step + data.step // 2
    return f"{t / 1000:.3f}"


def _same(a: Any, b: Any, path: str = "") -> list[str]:
    """Differences between two API documents; sample values may differ in the last bits only."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _same(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        if len(a) == 2 and isinstance(a[0], int | float) and isinstance(a[1], str) and isinstance(b[1], str):
            if a[0] != b[0]:
                return [f"{path}: timestamp {a[0]} != {b[0]}"]
            if a[1] != b[1]:
                try:
                    x, y = float(a[1]), float(b[1])
                except ValueError:
                    return [f"{path}: {a[1]!r} != {b[1]!r}"]
                if not (math.isclose(x, y, rel_tol=1e-12, abs_tol=0) or (math.isnan(x) and math.isnan(y))):
                    return [f"{path}: value {a[1]} != {b[1]}"]
            return []
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _same(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.parametrize("q", INSTANT)
def test_instant_query_json(pair: tuple[Prometheus, HeronServer, Dataset], q: str) -> None:
    prom, heron, data = pair
    for frac in (0.4, 1.0):
        t = _instant_time(data, frac)
        sp, jp = get_json(prom.url, "/api/v1/query", query=q, time=t)
        sh, jh = get_json(heron.url, "/api/v1/query", query=q, time=t)
        assert sh == sp, (jp, jh)
        ordered = q.startswith("sort")
        diffs = _same(_norm(jh, not ordered), _norm(jp, not ordered))
        assert not diffs, f"{q} @ {t}: {diffs[:5]}"


@pytest.mark.parametrize("q", RANGE)
def test_range_query_json(pair: tuple[Prometheus, HeronServer, Dataset], q: str) -> None:
    prom, heron, data = pair
    start = (data.t0 + 600_000 + 3_500) / 1000
    end = (data.t1 + 3_500) / 1000
    for step in ("30s", "47", "5m"):
        args = dict(query=q, start=f"{start:.3f}", end=f"{end:.3f}", step=step)
        sp, jp = get_json(prom.url, "/api/v1/query_range", **args)
        sh, jh = get_json(heron.url, "/api/v1/query_range", **args)
        assert sh == sp, (jp, jh)
        diffs = _same(_norm(jh, True), _norm(jp, True))
        assert not diffs, f"{q} step={step}: {diffs[:5]}"


ERRORS = [
    ("/api/v1/query", {"query": "sum("}),
    ("/api/v1/query", {"query": "rate(x)"}),
    ("/api/v1/query", {"query": "up", "time": "yesterday"}),
    ("/api/v1/query", {"query": ""}),
    ("/api/v1/query", {"query": "up", "timeout": "soon"}),
    ("/api/v1/query_range", {"query": "up", "start": "10", "end": "5", "step": "1"}),
    ("/api/v1/query_range", {"query": "up", "start": "1", "end": "5"}),
    ("/api/v1/query_range", {"query": "up", "start": "1", "end": "5", "step": "0"}),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "100000", "step": "1"}),
    ("/api/v1/query_range", {"query": "up[5m]", "start": "0", "end": "100", "step": "1"}),
    ("/api/v1/query_range", {"query": "up", "start": "x", "end": "100", "step": "1"}),
    ("/api/v1/series", {}),
    ("/api/v1/series", {"match[]": '{job=~".*"}'}),
    ("/api/v1/series", {"match[]": "up{"}),
    ("/api/v1/series", {"match[]": "up", "start": "x"}),
    ("/api/v1/labels", {"match[]": "up{"}),
    ("/api/v1/label/1bad/values", {}),
]


@pytest.mark.parametrize("path,args", ERRORS, ids=[f"{p}:{a}" for p, a in ERRORS])
def test_errors_json(pair: tuple[Prometheus, HeronServer, Dataset], path: str, args: dict[str, str]) -> None:
    prom, heron, _ = pair
    sp, jp = get_json(prom.url, path, **args)
    sh, jh = get_json(heron.url, path, **args)
    assert (sh, jh) == (sp, jp)


def test_series_labels_values_json(pair: tuple[Prometheus, HeronServer, Dataset]) -> None:
    prom, heron, _ = pair
    for path, args in (
        ("/api/v1/series", {"match[]": ["http_requests_total", 'temperature_celsius{room!="attic"}']}),
        ("/api/v1/series", {"match[]": '{__name__=~"req_.*"}'}),
        ("/api/v1/labels", {}),
        ("/api/v1/labels", {"match[]": "temperature_celsius"}),
        ("/api/v1/label/__name__/values", {}),
        ("/api/v1/label/room/values", {}),
        ("/api/v1/label/code/values", {"match[]": 'http_requests_total{instance="a:9100"}'}),
        ("/api/v1/label/nonexistent/values", {}),
    ):
        assert get_json(heron.url, path, **args) == get_json(prom.url, path, **args), path


def _promtool(*args: str) -> str:
    tool = require_peer("promtool")
    r = subprocess.run([tool, "query", *args], capture_output=True, text=True, timeout=60)
    return r.stdout + r.stderr


def test_promtool_query(pair: tuple[Prometheus, HeronServer, Dataset]) -> None:
    prom, heron, data = pair
    t = _instant_time(data, 0.7)
    start = f"{(data.t0 + 600_000 + 3_500) / 1000:.3f}"
    end = f"{(data.t1 + 3_500) / 1000:.3f}"
    cases = [
        ("instant", "--time", t, "{url}", "sum by (code) (rate(http_requests_total[5m]))"),
        ("instant", "--time", t, "{url}", "temperature_celsius"),
        ("instant", "--time", t, "{url}", "big_and_small"),
        ("range", "--start", start, "--end", end, "--step", "1m", "{url}", "rate(http_requests_total[5m])"),
        ("range", "--start", start, "--end", end, "--step", "2m", "{url}", "avg(temperature_celsius)"),
        ("series", "--match", "http_requests_total", "--match", "temperature_celsius", "{url}"),
        ("labels", "{url}", "room"),
        ("labels", "{url}", "__name__"),
    ]
    for case in cases:
        a = [x.format(url=prom.url) for x in case]
        b = [x.format(url=heron.url) for x in case]
        out_p, out_h = _promtool(*a), _promtool(*b)
        assert sorted(out_h.splitlines()) == sorted(out_p.splitlines()), case


def test_stats_shape(pair: tuple[Prometheus, HeronServer, Dataset]) -> None:
    prom, heron, data = pair
    t = _instant_time(data, 0.5)
    _, jp = get_json(prom.url, "/api/v1/query", query="temperature_celsius", time=t, stats="all")
    _, jh = get_json(heron.url, "/api/v1/query", query="temperature_celsius", time=t, stats="all")
    assert set(jh["data"]["stats"]) == set(jp["data"]["stats"])
    assert set(jh["data"]["stats"]["timings"]) == set(jp["data"]["stats"]["timings"])
    assert set(jh["data"]["stats"]["samples"]) == set(jp["data"]["stats"]["samples"])


def test_remote_read_from_prometheus(pair: tuple[Prometheus, HeronServer, Dataset], tmp_path: Path) -> None:
    """A real Prometheus configured with ``remote_read`` from Heron answers queries with Heron's data."""
    _, heron, data = pair
    binary = require_peer("prometheus")
    cfg = f"remote_read:\n  - url: {heron.url}/api/v1/read\n    read_recent: true\n"
    with Prometheus(binary, tmp_path / "reader", cfg) as reader:
        t = _instant_time(data, 0.6)
        for q in ("temperature_celsius", "sum by (code) (rate(http_requests_total[5m]))", "with_nans"):
            _, jr = get_json(reader.url, "/api/v1/query", query=q, time=t)
            _, jh = get_json(heron.url, "/api/v1/query", query=q, time=t)
            assert not _same(_norm(jr, True), _norm(jh, True)), q
