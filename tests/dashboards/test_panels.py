"""Panel renderers: plotly figures and HTML for timeseries, stat, gauge, bargauge, table, heatmap, text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dashboards.model import load_dashboard, named_color
from dashboards.panels import display_text, reduce_values, render_panel, table_rows
from dashboards.runner import Frame, PanelData, PanelInstance, RenderContext
from dashboards.timeutil import parse_range

FIX = Path(__file__).parent / "fixtures"
NOW = 1_700_000_000_000
STEP = 60_000
TR = parse_range("now-1h", "now", NOW)
CTX = RenderContext("uid", TR, {}, 1600, 0, NOW)


def frame(
    name: str,
    values: list[float],
    ref: str = "A",
    labels: dict[str, str] | None = None,
    instant: bool = False,
) -> Frame:
    n = len(values)
    start = NOW - (n - 1) * STEP
    ts = np.arange(start, NOW + 1, STEP, dtype=np.int64)[:n]
    return Frame(
        name,
        labels or {"series": name},
        ts,
        np.array(values, dtype=float),
        ref,
        instant,
        0 if instant else STEP,
        start,
        NOW,
    )


def data(frames: list[Frame], errors: list[str] | None = None) -> PanelData:
    return PanelData(frames, errors or [], [], TR, [], [])


def panel(spec: dict[str, Any]) -> PanelInstance:
    d = load_dashboard({"title": "t", "panels": [spec]})
    p = d.panels[0]
    return PanelInstance(p, str(p.id), p.x, p.y, p.w, p.h)


def walk(component: Any) -> list[Any]:
    out = [component]
    kids = getattr(component, "children", None)
    if isinstance(kids, list | tuple):
        for k in kids:
            out.extend(walk(k))
    elif kids is not None and not isinstance(kids, str | int | float):
        out.extend(walk(kids))
    return out


def figure(body: Any) -> dict[str, Any]:
    for c in walk(body):
        if type(c).__name__ == "Graph":
            return c.figure
    raise AssertionError("no graph")


def texts(body: Any) -> list[str]:
    return [c for c in (getattr(x, "children", None) for x in walk(body)) if isinstance(c, str)]


TS = {
    "id": 7,
    "type": "timeseries",
    "title": "CPU",
    "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
    "targets": [{"expr": "x", "refId": "A"}, {"expr": "y", "refId": "B"}],
    "fieldConfig": {
        "defaults": {
            "unit": "bytes",
            "custom": {
                "fillOpacity": 20,
                "stacking": {"mode": "normal", "group": "A"},
                "thresholdsStyle": {"mode": "line"},
            },
            "thresholds": {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": 3000}],
            },
        },
        "overrides": [
            {
                "matcher": {"id": "byFrameRefID", "options": "B"},
                "properties": [
                    {"id": "custom.transform", "value": "negative-Y"},
                    {"id": "custom.stacking", "value": {"mode": "none"}},
                ],
            },
            {
                "matcher": {"id": "byName", "options": "hidden"},
                "properties": [{"id": "custom.hideFrom", "value": {"viz": True, "legend": True}}],
            },
        ],
    },
    "options": {
        "legend": {"displayMode": "table", "calcs": ["max", "lastNotNull"]},
        "tooltip": {"mode": "multi"},
    },
}


def test_timeseries_figure() -> None:
    inst = panel(TS)
    frames = [
        frame("a", [1024, 2048, np.nan, 1024]),
        frame("b", [512, 512, 512, 512]),
        frame("tx", [100, 200, 300, 400], "B"),
        frame("hidden", [1, 1, 1, 1]),
    ]
    body, status, errors = render_panel(inst, data(frames), CTX)
    assert (status, errors) == ("ok", [])
    fig = figure(body)
    traces = fig["data"]
    assert [t["name"] for t in traces] == ["a", "b", "tx"]
    assert traces[0]["stackgroup"] == "A" and traces[1]["stackgroup"] == "A" and "stackgroup" not in traces[2]
    assert traces[0]["y"][2] is None  # a gap stays a gap
    assert traces[2]["y"] == [-100, -200, -300, -400]  # negative-Y transform
    assert traces[0]["x0"] == NOW - 3 * STEP and traces[0]["dx"] == STEP
    assert traces[0]["line"]["color"] != traces[1]["line"]["color"]
    y = fig["layout"]["yaxis"]
    assert y["ticktext"][0].endswith("B") and any("KiB" in t for t in y["ticktext"])
    assert y["range"][1] >= 2560  # the stacked maximum (2048 + 512) at least
    assert fig["layout"]["hovermode"] == "x unified"
    assert [s["y0"] for s in fig["layout"]["shapes"]] == [3000]
    assert fig["layout"]["shapes"][0]["line"]["color"] == named_color("red")
    legend_cells = texts(body)
    assert "Max" in legend_cells and "2 KiB" in legend_cells and "1 KiB" in legend_cells
    assert "hidden" not in legend_cells


def test_timeseries_no_data_and_errors() -> None:
    inst = panel(TS)
    body, status, errors = render_panel(inst, data([]), CTX)
    assert status == "nodata" and "No data" in texts(body)
    body, status, errors = render_panel(inst, data([], ["A: bad_data: parse error"]), CTX)
    assert status == "error" and errors == ["A: bad_data: parse error"]


def test_stat_colors_mappings_and_sparkline() -> None:
    spec = {
        "id": 1,
        "type": "stat",
        "gridPos": {"w": 12, "h": 4},
        "targets": [{"expr": "x", "refId": "A"}],
        "fieldConfig": {
            "defaults": {
                "unit": "percentunit",
                "decimals": 1,
                "color": {"mode": "thresholds"},
                "thresholds": {
                    "steps": [
                        {"color": "green", "value": None},
                        {"color": "orange", "value": 0.5},
                        {"color": "red", "value": 0.9},
                    ]
                },
                "mappings": [{"type": "value", "options": {"1": {"text": "Full", "color": "purple"}}}],
            }
        },
        "options": {"colorMode": "background", "graphMode": "area", "reduceOptions": {"calcs": ["mean"]}},
    }
    inst = panel(spec)
    body, status, _ = render_panel(inst, data([frame("a", [0.4, 0.6, 0.8]), frame("b", [1, 1, 1])]), CTX)
    assert status == "ok"
    tiles = [c for c in walk(body) if getattr(c, "className", "") == "stat-tile"]
    assert len(tiles) == 2
    assert tiles[0].style["background"] == named_color("orange")  # mean 0.6
    assert tiles[1].style["background"] == named_color("purple")  # value mapping
    assert "60.0%" in texts(body) and "Full" in texts(body)
    imgs = [c for c in walk(body) if type(c).__name__ == "Img"]
    assert imgs and imgs[0].src.startswith("data:image/svg+xml")


def test_gauge_and_bargauge() -> None:
    g = panel(
        {
            "id": 1,
            "type": "gauge",
            "gridPos": {"w": 8, "h": 6},
            "targets": [{"expr": "x"}],
            "fieldConfig": {"defaults": {"unit": "percent", "min": 0, "max": 100}},
        }
    )
    body, status, _ = render_panel(g, data([frame("cpu", [42.0], instant=True)]), CTX)
    fig = figure(body)
    assert status == "ok" and fig["data"][0]["type"] == "indicator"
    assert fig["data"][0]["gauge"]["axis"]["range"] == [0, 100]
    assert "42%" in fig["layout"]["annotations"][0]["text"]
    b = panel(
        {
            "id": 2,
            "type": "bargauge",
            "gridPos": {"w": 8, "h": 6},
            "targets": [{"expr": "x", "legendFormat": "{{m}}"}],
            "fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1}},
        }
    )
    body, status, _ = render_panel(
        b, data([frame("/", [0.25], instant=True), frame("/var", [0.95], instant=True)]), CTX
    )
    fills = [c for c in walk(body) if getattr(c, "className", "") == "bar-fill"]
    assert [f.style["width"] for f in fills] == ["25.0%", "95.0%"]
    assert "95.0%" in texts(body) or "95%" in texts(body)


def test_table_merges_instant_queries_like_kube_prometheus() -> None:
    d = load_dashboard((FIX / "kube-prometheus-namespace.json").read_text())
    p = d.panel_by_id(6)
    assert p is not None
    inst = PanelInstance(p, "6", 0, 0, 24, 7)
    frames = [
        frame("", [0.5], "A", {"pod": "api-1"}, instant=True),
        frame("", [0.25], "A", {"pod": "api-2"}, instant=True),
        frame("", [1.0], "B", {"pod": "api-1"}, instant=True),
        frame("", [0.5], "C", {"pod": "api-1"}, instant=True),
    ]
    columns, rows, fcs = table_rows(inst, data(frames), CTX)
    assert columns == ["Pod", "CPU Usage", "CPU Requests", "CPU Requests %"]
    assert rows[0] == {"Pod": "api-1", "CPU Usage": 0.5, "CPU Requests": 1.0, "CPU Requests %": 0.5}
    assert rows[1]["Pod"] == "api-2" and "CPU Requests" not in rows[1]
    assert fcs["CPU Requests %"].unit == "percentunit"  # override by regexp on the renamed column
    body, status, _ = render_panel(inst, data(frames), CTX)
    cells = [c.children for c in walk(body) if type(c).__name__ == "Td"]
    assert status == "ok" and cells[:4] == ["api-1", "0.500", "1", "50%"]
    headers = [c.children for c in walk(body) if type(c).__name__ == "Button"]
    assert headers == ["Pod", "CPU Usage", "CPU Requests", "CPU Requests %"]


def test_heatmap_deaccumulates_buckets() -> None:
    inst = panel(
        {
            "id": 1,
            "type": "heatmap",
            "gridPos": {"w": 12, "h": 8},
            "targets": [{"expr": "x", "format": "heatmap", "legendFormat": "{{le}}"}],
            "fieldConfig": {"defaults": {"unit": "s"}},
        }
    )
    frames = [
        frame(le, vals, labels={"le": le})
        for le, vals in (("0.1", [1, 2]), ("+Inf", [10, 12]), ("1", [5, 6]))
    ]
    body, status, _ = render_panel(inst, data(frames), CTX)
    tr = figure(body)["data"][0]
    assert status == "ok" and tr["type"] == "heatmap"
    assert tr["y"] == ["100 ms", "1 s", "+Inf"]
    assert tr["z"] == [[1, 2], [4, 4], [5, 6]]


def test_text_and_unsupported_panels() -> None:
    d = load_dashboard((FIX / "node-exporter-full.json").read_text())
    from dashboards.templating import ResolvedVariable

    variables = {
        "node": ResolvedVariable(
            "node", "query", "node", 0, False, False, None, [("a", "a")], ["10.0.0.1:9100"], ["10.0.0.1:9100"]
        )
    }
    ctx = RenderContext("uid", TR, variables, 1600, 0, NOW)
    text = d.panel_by_id(400)
    body, status, _ = render_panel(PanelInstance(text, "400", 0, 0, 12, 8), None, ctx)  # type: ignore[arg-type]
    assert status == "info" and "10.0.0.1:9100" in body.children
    logs = d.panel_by_id(401)
    body, status, _ = render_panel(PanelInstance(logs, "401", 0, 0, 12, 8), None, ctx)  # type: ignore[arg-type]
    assert status == "info" and any("not supported" in t for t in texts(body))


def test_reduce_and_display_helpers() -> None:
    v = np.array([1.0, np.nan, 3.0, 2.0])
    assert reduce_values(v, "lastNotNull") == 2.0
    assert reduce_values(v, "current") == 2.0
    assert reduce_values(v, "avg") == 2.0
    assert reduce_values(v, "max") == 3.0
    assert reduce_values(v, "sum") == 6.0
    assert reduce_values(v, "delta") == 2.0
    assert np.isnan(reduce_values(np.array([np.nan]), "mean"))
    from dashboards.model import FieldConfig

    fc = FieldConfig(
        unit="s",
        mappings=[
            {
                "type": "range",
                "options": {"from": 100, "to": 200, "result": {"text": "slow", "color": "red"}},
            },
            {"type": "special", "options": {"match": "nan", "result": {"text": "N/A"}}},
        ],
    )
    assert display_text(150, fc) == ("slow", named_color("red"))
    assert display_text(0.5, fc) == ("500 ms", None)
    assert display_text(float("nan"), fc)[0] == "N/A"
    json.dumps(display_text(1, fc))
