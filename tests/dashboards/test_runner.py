"""From panels to Prometheus requests (step, interpolation, time overrides) and to frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dashboards.model import load_dashboard
from dashboards.runner import PanelInstance, RenderContext, Runner, layout_panels, legend_name
from dashboards.timeutil import parse_range

from .fakeprom import FakeProm, series

FIX = Path(__file__).parent / "fixtures"
NOW = 1_700_000_000_000
H = 3_600_000

SERIES = [
    {"__name__": "up", "job": "kube-state-metrics", "cluster": "prod"},
    {"__name__": "kube_pod_info", "job": "kube-state-metrics", "cluster": "prod", "namespace": "kube-system"},
    {"__name__": "kube_pod_info", "job": "kube-state-metrics", "cluster": "prod", "namespace": "shop"},
    {"__name__": "node_uname_info", "job": "node", "nodename": "alpha", "instance": "10.0.0.1:9100"},
]


def ctx_for(d, prom, url=None, frm="now-1h", width=1600):  # noqa: ANN001, ANN201
    runner = Runner(prom)  # type: ignore[arg-type]
    tr = parse_range(frm, "now", NOW)
    variables = runner.resolve(d, tr, url or {})
    return runner, RenderContext(d.uid, tr, variables, width, 0, NOW, 15_000)


def test_requests_interpolate_and_compute_steps() -> None:
    d = load_dashboard((FIX / "kube-prometheus-namespace.json").read_text())
    prom = FakeProm(SERIES)
    runner, ctx = ctx_for(d, prom, {"namespace": ["shop"]})
    assert ctx.variables["cluster"].values == ["prod"]
    insts = {i.panel.id: i for i in layout_panels(d, ctx.variables)}
    reqs, _ = runner.requests_for(insts[1], ctx)
    assert len(reqs) == 1 and reqs[0].instant
    assert 'cluster="prod", namespace="shop"' in reqs[0].expr
    assert reqs[0].step_ms == 60_000  # the panel's min interval (1m) beats 1h / 384 px
    reqs, _ = runner.requests_for(insts[5], ctx)
    assert [r.target.ref_id for r in reqs] == ["A", "B"]
    assert not reqs[0].instant and reqs[0].step_ms == 60_000
    assert reqs[0].start_ms % 60_000 == 0 and reqs[0].end_ms <= NOW
    runner.close()


def test_rate_interval_and_panel_width() -> None:
    d = load_dashboard((FIX / "kube-prometheus-namespace.json").read_text())
    runner, ctx = ctx_for(d, FakeProm(SERIES), frm="now-6h")
    row = next(p for p in d.panels if p.type == "row")
    inst = PanelInstance(row.panels[0], "21", 0, 0, 12, 7)
    reqs, tr = runner.requests_for(inst, ctx)
    # 6 h over (1600 * 12/24 - 16) = 784 px: 27.5 s rounds to 30 s; rate = max(30s + 15s, 60s) = 1m
    assert reqs[0].step_ms == 30_000
    assert "[1m]" in reqs[0].expr and "$__rate_interval" not in reqs[0].expr
    # a narrow viewport means fewer points: 6 h over 184 px -> 2 m steps
    _, narrow = ctx_for(d, FakeProm(SERIES), frm="now-6h", width=400)
    reqs, _ = runner.requests_for(inst, narrow)
    assert reqs[0].step_ms == 120_000 and "[2m15s]" in reqs[0].expr
    runner.close()


def test_time_overrides_and_max_data_points() -> None:
    d = load_dashboard(
        {
            "title": "t",
            "panels": [
                {
                    "id": 1,
                    "type": "timeseries",
                    "timeFrom": "2h",
                    "timeShift": "1d",
                    "maxDataPoints": 100,
                    "gridPos": {"w": 24, "h": 5},
                    "targets": [{"expr": "up", "refId": "A"}],
                },
                {
                    "id": 2,
                    "type": "timeseries",
                    "gridPos": {"w": 24, "h": 5},
                    "targets": [
                        {"expr": "up", "refId": "A", "interval": "5m"},
                        {"expr": "", "refId": "B"},
                        {"expr": "x", "refId": "C", "hide": True},
                    ],
                },
            ],
        }
    )
    runner, ctx = ctx_for(d, FakeProm(SERIES))
    a, b = layout_panels(d, ctx.variables)
    reqs, tr = runner.requests_for(a, ctx)
    assert tr.end_ms == NOW - 24 * H and tr.span_ms == 2 * H
    assert reqs[0].step_ms == 60_000  # 2 h / 100 points = 72 s, rounded to 1 m
    reqs, _ = runner.requests_for(b, ctx)
    assert len(reqs) == 1 and reqs[0].step_ms == 300_000
    runner.close()


def test_run_panels_concurrently_with_errors_per_panel() -> None:
    prom = FakeProm(
        SERIES,
        {
            r"sum by \(pod\).*": [
                series({"pod": "a"}, [NOW - H, NOW], [1.0, 2.0]),
                series({"pod": "b"}, [NOW - H, NOW], [3.0, 4.0]),
            ]
        },
    )
    d = load_dashboard(
        {
            "title": "t",
            "panels": [
                {
                    "id": 1,
                    "type": "timeseries",
                    "gridPos": {"w": 12, "h": 5},
                    "targets": [
                        {
                            "expr": "sum by (pod) (rate(x[$__rate_interval]))",
                            "legendFormat": "{{pod}} on {{node}}",
                            "refId": "A",
                        }
                    ],
                },
                {
                    "id": 2,
                    "type": "stat",
                    "gridPos": {"w": 12, "h": 5},
                    "targets": [{"expr": "syntax error(", "refId": "A"}],
                },
                {"id": 3, "type": "text", "gridPos": {"w": 12, "h": 5}, "options": {"content": "hi"}},
            ],
        }
    )
    runner, ctx = ctx_for(d, prom)
    data = runner.run_panels(layout_panels(d, ctx.variables), ctx)
    assert set(data) == {"1", "2"}
    assert [f.name for f in data["1"].frames] == ["a on node", "b on node"]
    assert data["1"].errors == []
    assert data["2"].errors and "bad_data" in data["2"].errors[0]
    f = data["1"].frames[0]
    assert f.step_ms == data["1"].requests[0].step_ms and len(f.ts) == len(f.values)
    assert np.all(np.diff(f.ts) == f.step_ms)
    runner.close()


def test_legend_names() -> None:
    labels = {"__name__": "http_requests_total", "code": "200", "job": "api"}
    assert legend_name(labels, "", "x") == 'http_requests_total{code="200", job="api"}'
    assert legend_name(labels, "__auto", "x") == 'http_requests_total{code="200", job="api"}'
    assert legend_name(labels, "{{job}}: {{ code }}", "x") == "api: 200"
    assert legend_name(labels, "{{missing}}", "x") == "missing"
    assert legend_name({}, "", "sum(rate(x[5m]))") == "sum(rate(x[5m]))"
    assert legend_name({"__name__": "up"}, "", "up") == "up"


def test_shipped_dashboards_resolve_with_expected_queries() -> None:
    d = load_dashboard((Path(__file__).parents[2] / "dashboards" / "shipped" / "shop-red.json").read_text())
    prom = FakeProm(
        [{"__name__": "http_requests_total", "namespace": "shop", "service": s} for s in ("cart", "frontend")]
    )
    runner, ctx = ctx_for(d, prom)
    assert ctx.variables["service"].is_all
    insts = layout_panels(d, ctx.variables)
    exprs = [r.expr for i in insts if not i.is_row for r in runner.requests_for(i, ctx)[0]]
    assert any('service=~".*"' in e for e in exprs)  # All with allValue .*
    assert all("$" not in e for e in exprs)
    runner.close()
    json.dumps([i.key for i in insts])
