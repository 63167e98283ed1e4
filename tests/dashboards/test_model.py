"""Reading Grafana dashboard JSON (kube-prometheus-stack, node-exporter-full, legacy rows) and grid layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboards.model import DashboardError, load_dashboard, named_color, slugify, threshold_color
from dashboards.provisioning import SHIPPED_DIR, DashboardStore
from dashboards.runner import layout_panels
from dashboards.templating import ALL_VALUE, ResolvedVariable

FIX = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def sel(name: str, values: list[str], options: list[str] | None = None) -> ResolvedVariable:
    opts = [(o, o) for o in (options or values)]
    return ResolvedVariable(name, "query", name, 0, True, False, None, opts, values, values)


def test_kube_prometheus_namespace_dashboard() -> None:
    d = load_dashboard(fixture("kube-prometheus-namespace.json"))
    assert d.uid == "85a562078cdf77779eaa1add43ccad1e"
    assert d.url == "/d/85a562078cdf77779eaa1add43ccad1e/kubernetes-compute-resources-namespace-pods"
    assert (d.time_from, d.time_to, d.refresh, d.timezone) == ("now-1h", "now", "10s", "utc")
    assert [v.name for v in d.variables] == ["datasource", "cluster", "namespace"]
    assert d.variables[1].hide == 2 and d.variables[1].all_value == ".*"
    assert d.variables[2].current_value == ["kube-system"]
    stat = d.panel_by_id(1)
    assert stat is not None and stat.type == "stat" and stat.interval == "1m"
    assert stat.targets[0].instant and not stat.targets[0].range
    assert stat.field_config.unit == "percentunit"
    assert [(t.value, t.color) for t in stat.field_config.thresholds] == [(None, "green"), (80.0, "red")]
    ts = d.panel_by_id(5)
    assert ts is not None and ts.options["legend"]["placement"] == "right"
    fc_b = ts.field_config.for_field("quota - requests", "B")
    assert (
        fc_b.custom["stacking"] == {"mode": "none"}
        and fc_b.fixed_color == "#F2495C"
        and fc_b.color_mode == "fixed"
    )
    assert ts.field_config.for_field("pod-a", "A").custom["stacking"] == {"mode": "normal"}
    table = d.panel_by_id(6)
    assert table is not None and [t.format for t in table.targets] == ["table"] * 3
    assert [t["id"] for t in table.transformations] == ["merge", "organize"]
    assert table.field_config.for_field("CPU Requests %").unit == "percentunit"
    row = [p for p in d.panels if p.type == "row"][0]
    assert row.collapsed and [p.id for p in row.panels] == [21, 22]
    assert len(d.all_panels()) == 6
    assert d.notes == []  # nothing of this dashboard is ignored


def test_node_exporter_full_dashboard_notes_and_conversions() -> None:
    d = load_dashboard(fixture("node-exporter-full.json"))
    assert (d.uid, d.title, d.refresh_intervals) == (
        "rYdddlPWk",
        "Node Exporter Full",
        ["15s", "1m", "5m", "1h"],
    )
    joined = "\n".join(d.notes)
    assert "dashboard links" in joined
    assert "type 'logs' is not supported" in joined
    assert "'loki'" in joined
    assert "adhoc" in joined
    logs = d.panel_by_id(401)
    assert logs is not None and logs.type == "unsupported" and logs.targets == []
    gauge = d.panel_by_id(20)
    assert gauge is not None and gauge.field_config.max == 100 and gauge.field_config.decimals == 1
    assert gauge.field_config.mappings[0]["type"] == "special"
    net = d.panel_by_id(74)
    assert net is not None
    assert net.field_config.for_field("eth0 - Transmit").custom["transform"] == "negative-Y"
    assert net.field_config.for_field("lo - Receive").custom["hideFrom"]["viz"] is True
    assert net.field_config.for_field("eth0 - Receive").custom.get("transform") is None
    bars = d.panel_by_id(154)
    assert bars is not None and (bars.repeat, bars.repeat_direction, bars.max_per_row) == ("node", "h", 3)


def test_legacy_rows_schema_is_migrated() -> None:
    d = load_dashboard(fixture("legacy-rows.json"))
    assert any("old schema" in n for n in d.notes)
    assert any("grafana-worldmap-panel" in n for n in d.notes)
    uptime = d.panel_by_id(1)
    mem = d.panel_by_id(2)
    graph = d.panel_by_id(3)
    assert uptime is not None and mem is not None and graph is not None
    assert uptime.type == "stat" and (uptime.x, uptime.w) == (0, 6)
    assert uptime.field_config.unit == "s" and uptime.options["reduceOptions"]["calcs"] == ["lastNotNull"]
    assert uptime.options["graphMode"] == "area" and uptime.options["colorMode"] == "value"
    assert [t.value for t in uptime.field_config.thresholds] == [None, 0.0, 3600.0]
    assert mem.type == "gauge" and mem.field_config.max == 1073741824
    assert graph.type == "timeseries" and (graph.x, graph.w) == (12, 12)
    assert graph.field_config.unit == "ops" and graph.field_config.min == 0
    assert graph.options["legend"]["calcs"] == ["lastNotNull", "mean", "max"]
    assert graph.options["legend"]["displayMode"] == "table"
    assert graph.field_config.custom["thresholdsStyle"]["mode"] == "line+area"
    assert graph.field_config.for_field("host:9090").fixed_color == "#F2495C"
    rows = [p for p in d.panels if p.type == "row"]
    assert [r.title for r in rows] == ["Overview", "Details"] and rows[1].collapsed
    series = d.panel_by_id(4)
    assert series is not None and series.field_config.custom["drawStyle"] == "bars"
    assert series.field_config.custom["stacking"] == {"mode": "normal"}


@pytest.mark.parametrize(
    "bad",
    ["not json", "[1, 2]", '{"foo": 1}', b"\xff\xfe"],
)
def test_non_dashboards_are_rejected_with_a_message(bad: str | bytes) -> None:
    with pytest.raises(DashboardError):
        load_dashboard(bad)


def test_odd_but_valid_input_never_fails() -> None:
    d = load_dashboard(
        {
            "dashboard": {
                "title": "Exported",
                "panels": [
                    {
                        "type": "timeseries",
                        "gridPos": {"x": 20, "y": "z", "w": 12},
                        "targets": [{"expr": 5}, {"refId": "B", "rawSql": "select 1"}],
                    },
                    {
                        "type": "stat",
                        "fieldConfig": {
                            "defaults": {
                                "thresholds": {"steps": [{"value": "x"}, {"color": "red", "value": 5}]},
                                "decimals": "2",
                            }
                        },
                    },
                    {"type": "row", "title": "r", "panels": [None, {"type": "nodeGraph"}]},
                    {"libraryPanel": {"uid": "abc", "name": "shared"}, "type": "timeseries"},
                    "garbage",
                ],
                "templating": {
                    "list": [{"name": "v", "type": "query", "query": {"qryType": 1}}, {"type": "custom"}]
                },
                "time": "yesterday",
                "customField": 1,
            },
            "meta": {"slug": "exported"},
        }
    )
    assert d.title == "Exported" and d.uid  # uid derived from the title
    assert [p.type for p in d.panels] == ["timeseries", "stat", "row", "unsupported"]
    p0 = d.panels[0]
    assert (p0.x, p0.w, p0.y) == (20, 4, 0)
    assert p0.targets == []
    assert d.panels[1].field_config.decimals == 2
    assert any("customField" in n for n in d.notes)
    assert any("library panel" in n for n in d.notes)
    assert d.time_from == "now-6h"
    assert [v.name for v in d.variables] == ["v"]


def test_layout_repeats_rows_and_compaction() -> None:
    d = load_dashboard(fixture("node-exporter-full.json"))
    variables = {"node": sel("node", ["a:9100", "b:9100", "c:9100", "d:9100"])}
    inst = layout_panels(d, variables)
    keys = [i.key for i in inst]
    # the expanded first row, its panels, the repeated bar gauge (4 values, 3 per row), the collapsed row
    assert keys[0] == "row-261"
    reps = [i for i in inst if i.panel.id == 154]
    assert [(i.x, i.w) for i in reps] == [(0, 8), (8, 8), (16, 8), (0, 8)]
    assert [i.scoped["node"][1] for i in reps] == ["a:9100", "b:9100", "c:9100", "d:9100"]
    assert len({i.key for i in reps}) == 4
    assert reps[3].y > reps[0].y
    collapsed_row = inst[-1]
    assert collapsed_row.is_row and collapsed_row.collapsed and collapsed_row.key == "row-263"
    assert collapsed_row.y >= max(i.y + i.h for i in inst[:-1])
    # expanding the collapsed row lays out its children below it
    inst = layout_panels(d, variables, {"row-263": False})
    row = next(i for i in inst if i.key == "row-263")
    children = [i for i in inst if i.row_key == "row-263" and not i.is_row]
    assert [c.panel.id for c in children] == [3, 74, 400, 401]
    assert all(c.y > row.y for c in children)
    assert {(c.x, c.w) for c in children[:2]} == {(0, 12), (12, 12)}
    # no overlaps anywhere
    cells = set()
    for i in inst:
        for x in range(i.x, i.x + i.w):
            for y in range(i.y, i.y + i.h):
                assert (x, y) not in cells, i.key
                cells.add((x, y))


def test_layout_vertical_repeat_and_repeated_rows() -> None:
    d = load_dashboard(
        {
            "title": "r",
            "panels": [
                {
                    "id": 1,
                    "type": "timeseries",
                    "gridPos": {"x": 0, "y": 0, "w": 12, "h": 5},
                    "repeat": "ns",
                    "repeatDirection": "v",
                },
                {"id": 2, "type": "stat", "gridPos": {"x": 12, "y": 0, "w": 12, "h": 5}},
                {
                    "id": 3,
                    "type": "row",
                    "title": "Pod $pod",
                    "gridPos": {"x": 0, "y": 5, "w": 24, "h": 1},
                    "repeat": "pod",
                    "panels": [],
                },
                {"id": 4, "type": "timeseries", "gridPos": {"x": 0, "y": 6, "w": 24, "h": 4}},
            ],
        }
    )
    variables = {"ns": sel("ns", ["a", "b"]), "pod": sel("pod", [ALL_VALUE], ["p1", "p2", "p3"])}
    variables["pod"].include_all = True
    variables["pod"].options = [("All", ALL_VALUE), ("p1", "p1"), ("p2", "p2"), ("p3", "p3")]
    inst = layout_panels(d, variables)
    v = [i for i in inst if i.panel.id == 1]
    assert [(i.x, i.y) for i in v] == [(0, 0), (0, 5)]
    rows = [i for i in inst if i.is_row]
    assert [r.scoped["pod"][1] for r in rows] == ["p1", "p2", "p3"]
    assert [r.key for r in rows] == ["row-3-0", "row-3-1", "row-3-2"]
    inner = [i for i in inst if i.panel.id == 4]
    assert len(inner) == 3 and [i.scoped["pod"][1] for i in inner] == ["p1", "p2", "p3"]
    assert rows[0].y == 10  # below the vertically repeated panel
    assert inner[0].y == rows[0].y + 1 and rows[1].y == inner[0].y + 4


def test_colors_and_thresholds() -> None:
    assert named_color("semi-dark-red") == "#E02F44"
    assert named_color("#abc") == "#abc"
    assert named_color("rgba(1,2,3,0.5)") == "rgba(1,2,3,0.5)"
    d = load_dashboard(fixture("kube-prometheus-namespace.json"))
    steps = d.panels[0].field_config.thresholds
    assert threshold_color(50, steps) == named_color("green")
    assert threshold_color(80, steps) == named_color("red")
    assert threshold_color(float("nan"), steps) == named_color("green")
    d = load_dashboard(fixture("node-exporter-full.json"))
    fc = d.panel_by_id(154).field_config  # type: ignore[union-attr]
    assert fc.thresholds_mode == "percentage"
    assert threshold_color(0.95, fc.thresholds, fc.thresholds_mode, 0, 1) == named_color("red")
    assert slugify("Kubernetes / Compute Resources / Pod") == "kubernetes-compute-resources-pod"


def test_shipped_dashboards_load_cleanly() -> None:
    store = DashboardStore([SHIPPED_DIR])
    assert store.problems == []
    uids = {d.uid for d in store.list()}
    assert {
        "heron-k8s-cluster",
        "heron-k8s-namespace",
        "heron-k8s-pod",
        "heron-node-exporter",
        "heron-k8s-workload",
        "heron-shop-red",
        "heron-server",
        "heron-alertmanager",
    } <= uids
    for d in store.list():
        assert d.notes == [], (d.uid, d.notes)
        for p in d.all_panels():
            assert p.type != "unsupported"
            for t in p.targets:
                assert t.expr.strip()


def test_provisioning_folder_provider_file_and_reload(tmp_path: Path) -> None:
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "a.json").write_text(json.dumps({"uid": "a", "title": "A", "panels": []}))
    (tmp_path / "broken.json").write_text("{nope")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "b.json").write_text(json.dumps({"uid": "b", "title": "B", "panels": []}))
    (tmp_path / "provider.yaml").write_text(
        "apiVersion: 1\nproviders:\n  - name: x\n    folder: Ops\n    options:\n      path: elsewhere\n"
    )
    (tmp_path / "dup.json").write_text(json.dumps({"uid": "a", "title": "A again", "panels": []}))
    store = DashboardStore([tmp_path], rescan_interval=0)
    assert {d.uid: (d.folder, d.title) for d in store.list()} == {"a": ("", "A again"), "b": ("Ops", "B")}
    problems = {p.path.rsplit("/", 2)[-1]: p.error for p in store.problems}
    assert set(problems) == {"broken.json", "a.json"}
    assert "not valid JSON" in problems["broken.json"] and "duplicate uid 'a'" in problems["a.json"]
    import os
    import time

    p = tmp_path / "dup.json"
    p.write_text(json.dumps({"uid": "c", "title": "C", "panels": []}))
    os.utime(p, (time.time() + 5, time.time() + 5))
    assert store.get("a").title == "A"  # type: ignore[union-attr]
    assert store.get("c").title == "C"  # type: ignore[union-attr]
    assert {p.path.rsplit("/", 1)[-1] for p in store.problems} == {"broken.json"}
    imported = load_dashboard({"uid": "b", "title": "B imported", "panels": []})
    store.add(imported)
    assert store.get("b").title == "B imported"  # type: ignore[union-attr]
