"""Template variables: interpolation formats, Prometheus escaping, and resolution of variables."""

from __future__ import annotations

import pytest

from dashboards.model import Variable, load_dashboard
from dashboards.templating import (
    ALL_VALUE,
    ResolvedVariable,
    builtin_vars,
    interpolate,
    parse_variable_query,
    resolve_variables,
)
from dashboards.timeutil import TimeRange

from .fakeprom import FakeProm, series

TR = TimeRange("now-6h", "now", 1_700_000_000_000 - 6 * 3_600_000, 1_700_000_000_000)


def rv(
    name: str,
    values: list[str],
    multi: bool = False,
    include_all: bool = False,
    all_value: str | None = None,
    options: list[str] | None = None,
    vtype: str = "query",
) -> ResolvedVariable:
    opts = [(o, o) for o in (options or values)]
    if include_all:
        opts = [("All", ALL_VALUE), *opts]
    return ResolvedVariable(
        name,
        vtype,
        name,
        0,
        multi,
        include_all,
        all_value,
        opts,
        values,
        ["All" if v == ALL_VALUE else v for v in values],
    )


VARS = {
    "job": rv("job", ["node"]),
    "inst": rv("inst", ["10.0.0.1:9100", "10.0.0.2:9100"], multi=True),
    "one": rv("one", ["a.b"], multi=True),
    "all": rv("all", [ALL_VALUE], multi=True, include_all=True, all_value=".*", options=["x", "y"]),
    "allx": rv("allx", [ALL_VALUE], multi=True, include_all=True, options=["x.1", "y"]),
    "quote": rv("quote", ["it's\\here"]),
}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('up{job="$job"}', 'up{job="node"}'),
        ('up{job="${job}"}', 'up{job="node"}'),
        ('up{job="[[job]]"}', 'up{job="node"}'),
        # multi-value: a regex alternation with Prometheus regex escaping (backslashes doubled for the string)
        ('up{instance=~"$inst"}', 'up{instance=~"(10\\\\.0\\\\.0\\\\.1:9100|10\\\\.0\\\\.0\\\\.2:9100)"}'),
        ('up{x=~"$one"}', 'up{x=~"a\\\\.b"}'),
        # All with a custom all value is passed through raw; without one it is every option
        ('up{x=~"$all"}', 'up{x=~".*"}'),
        ('up{x=~"$allx"}', 'up{x=~"(x\\\\.1|y)"}'),
        # single-value variables get Prometheus's regular escaping (backslash and single quote)
        ("$quote", "it\\\\'s\\\\here"),
        ("${inst:regex}", "(10\\.0\\.0\\.1:9100|10\\.0\\.0\\.2:9100)"),
        ("${inst:pipe}", "10.0.0.1:9100|10.0.0.2:9100"),
        ("${inst:csv}", "10.0.0.1:9100,10.0.0.2:9100"),
        ("${inst:raw}", "10.0.0.1:9100,10.0.0.2:9100"),
        ("${inst:json}", '["10.0.0.1:9100", "10.0.0.2:9100"]'),
        ("${inst:glob}", "{10.0.0.1:9100,10.0.0.2:9100}"),
        ("${inst:queryparam}", "var-inst=10.0.0.1%3A9100&var-inst=10.0.0.2%3A9100"),
        ("${inst:singlequote}", "'10.0.0.1:9100','10.0.0.2:9100'"),
        ("${inst:doublequote}", '"10.0.0.1:9100","10.0.0.2:9100"'),
        ("${job:sqlstring}", "'node'"),
        ("${job:percentencode}", "node"),
        ("${all:text}", "All"),
        ("${job.text}", "node"),
        ("$unknown and ${unknown:csv}", "$unknown and ${unknown:csv}"),
        ("cost: $5", "cost: $5"),
    ],
)
def test_interpolate(text: str, want: str) -> None:
    assert interpolate(text, VARS) == want


def test_builtins_and_scoped_values() -> None:
    b = builtin_vars(TR, 30_000, 60_000, "uid1", step_ms=30_000)
    assert (
        interpolate("rate(x[$__rate_interval]) $__interval ${__interval_ms} $__range $__range_s", {}, b)
        == "rate(x[1m]) 30s 30000 21600s 21600"
    )
    assert interpolate("${__from:date:seconds}-${__to}", {}, b) == f"{TR.start_ms // 1000}-{TR.end_ms}"
    assert interpolate("$__dashboard", {}, b) == "uid1"
    assert builtin_vars(TR, 30_000, 75_000)["__rate_interval"] == "1m15s"
    # a repeated panel sees one value of the repeated variable
    assert (
        interpolate('up{instance=~"$inst"}', VARS, scoped={"inst": ("10.0.0.2:9100", "10.0.0.2:9100")})
        == 'up{instance=~"10\\\\.0\\\\.0\\\\.2:9100"}'
    )
    assert (
        interpolate("CPU $inst", VARS, scoped={"inst": ("host-b", "10.0.0.2:9100")}, default_format="text")
        == "CPU host-b"
    )


@pytest.mark.parametrize(
    ("q", "kind", "args"),
    [
        ("label_names()", "label_names", ()),
        ('label_names(up{job="a"})', "label_names", ('up{job="a"}',)),
        ("label_values(job)", "label_values", ("", "job")),
        ('label_values(up{job="$job"}, instance)', "label_values", ('up{job="$job"}', "instance")),
        (
            'label_values(node_uname_info{job="a", x=~"b,c"},nodename)',
            "label_values",
            ('node_uname_info{job="a", x=~"b,c"}', "nodename"),
        ),
        ("metrics(node_.*)", "metrics", ("node_.*",)),
        ("query_result(topk(5, up))", "query_result", ("topk(5, up)",)),
        ('up{job="a"}', "series", ('up{job="a"}',)),
    ],
)
def test_parse_variable_query(q: str, kind: str, args: tuple[str, ...]) -> None:
    assert parse_variable_query(q) == (kind, args)


SERIES = [
    {"__name__": "node_uname_info", "job": "node", "nodename": "alpha", "instance": "10.0.0.1:9100"},
    {"__name__": "node_uname_info", "job": "node", "nodename": "beta", "instance": "10.0.0.2:9100"},
    {"__name__": "node_uname_info", "job": "edge", "nodename": "gamma", "instance": "10.9.0.1:9100"},
    {"__name__": "up", "job": "node", "instance": "10.0.0.1:9100"},
    {"__name__": "up", "job": "api", "instance": "app-10:8080"},
    {"__name__": "up", "job": "api", "instance": "app-9:8080"},
]


def var(name: str, vtype: str = "query", query: str = "", **kw: object) -> Variable:
    return Variable(name=name, type=vtype, query=query, **kw)  # type: ignore[arg-type]


def test_chained_query_variables() -> None:
    src = FakeProm(SERIES)
    vs = [
        var("job", query="label_values(node_uname_info, job)", sort=1),
        var("node", query='label_values(node_uname_info{job="$job"}, nodename)'),
        var("instance", query='label_values(node_uname_info{job="$job", nodename="$node"}, instance)'),
    ]
    r = resolve_variables(vs, src, TR)
    assert r["job"].options == [("edge", "edge"), ("node", "node")]
    assert r["job"].values == ["edge"]  # first option by default
    assert r["node"].values == ["gamma"]
    assert r["instance"].values == ["10.9.0.1:9100"]
    # selections from the URL flow into dependent variables
    r = resolve_variables(vs, src, TR, {"job": ["node"], "node": ["beta"]})
    assert [o[1] for o in r["node"].options] == ["alpha", "beta"]
    assert r["instance"].values == ["10.0.0.2:9100"]


def test_dependency_order_is_respected_whatever_the_list_order() -> None:
    src = FakeProm(SERIES)
    vs = [
        var("instance", query='label_values(up{job="$job"}, instance)'),
        var("job", query="label_values(up, job)"),
    ]
    r = resolve_variables(vs, src, TR, {"job": ["api"]})
    assert list(r) == ["instance", "job"]
    assert [v for _, v in r["instance"].options] == ["app-10:8080", "app-9:8080"]


def test_regex_sort_all_and_current() -> None:
    src = FakeProm(SERIES)
    v = var(
        "inst",
        query="label_values(up, instance)",
        regex="/app-(\\d+):.*/",
        sort=3,
        include_all=True,
        multi=True,
    )
    r = resolve_variables([v], src, TR)["inst"]
    assert r.options == [("All", ALL_VALUE), ("9", "9"), ("10", "10")]
    assert r.values == [ALL_VALUE] and r.effective_values() == ["9", "10"]
    # named groups: text and value
    v = var("inst", query="label_values(up, instance)", regex="/(?<value>app-\\d+):(?<text>\\d+)/")
    assert resolve_variables([v], src, TR)["inst"].options == [("8080", "app-10"), ("8080", "app-9")]
    # natural sort (7) and the dashboard's saved current value
    v = var("inst", query="label_values(up, instance)", sort=7, current_value=["app-10:8080"])
    r = resolve_variables([v], src, TR)["inst"]
    assert [o[1] for o in r.options] == ["10.0.0.1:9100", "app-9:8080", "app-10:8080"]
    assert r.values == ["app-10:8080"]
    # an invalid saved value falls back to the first option; "All" in the URL selects All
    v = var("inst", query="label_values(up, instance)", current_value=["gone"], include_all=True, multi=True)
    assert resolve_variables([v], src, TR)["inst"].values == [ALL_VALUE]
    assert resolve_variables([v], src, TR, {"inst": ["All"]})["inst"].is_all


def test_metrics_query_result_and_series_queries() -> None:
    src = FakeProm(SERIES, {r"topk\(1, up\)": [series({"__name__": "up", "job": "api"}, [1], [1.0])]})
    assert resolve_variables([var("m", query="metrics(^node_)")], src, TR)["m"].options == [
        ("node_uname_info", "node_uname_info")
    ]
    r = resolve_variables([var("q", query="query_result(topk(1, up))", regex='/job="([^"]+)"/')], src, TR)[
        "q"
    ]
    assert r.options == [("api", "api")]
    r = resolve_variables([var("s", query='up{job="api"}')], src, TR)["s"]
    assert r.options[0][0].startswith('up{job="api",instance=')
    assert resolve_variables([var("l", query="label_names()")], src, TR)["l"].values == ["__name__"]


def test_other_variable_types() -> None:
    vs = [
        var("env", "custom", "prod : production, staging : stage,dev\\,eu", multi=True, include_all=True),
        var("res", "interval", "1m,10m,1h", auto=True, auto_count=30, auto_min="10s"),
        var("filter", "textbox", "pod-.*"),
        var("disk", "constant", "[a-z]+|nvme[0-9]+"),
        var("ds", "datasource", "prometheus"),
    ]
    r = resolve_variables(vs, None, TR, {"filter": ["api-.*"], "env": ["production", "stage"]})
    assert r["env"].options == [
        ("All", ALL_VALUE),
        ("prod", "production"),
        ("staging", "stage"),
        ("dev,eu", "dev,eu"),
    ]
    assert r["env"].values == ["production", "stage"] and r["env"].texts == ["prod", "staging"]
    # auto is selected first: 6 h / 30 steps = 12 m, rounded to 10 m
    assert r["res"].options[0][0] == "auto" and r["res"].values == ["10m"]
    assert r["res"].url_values() == ["$__auto_interval_res"]
    assert r["filter"].values == ["api-.*"]
    assert (
        interpolate('up{pod=~"$filter", device=~"$disk"}', r)
        == 'up{pod=~"api-.*", device=~"[a-z]+|nvme[0-9]+"}'
    )
    assert interpolate("$ds", r) == "prometheus"
    r = resolve_variables(vs, None, TR, {"res": ["1h"]})
    assert r["res"].values == ["1h"]


def test_a_failing_variable_query_is_reported_not_raised() -> None:
    src = FakeProm(SERIES)
    r = resolve_variables([var("bad", query="query_result(syntax error)")], src, TR)["bad"]
    assert r.options == [] and "parse error" in r.error


def test_variables_from_grafana_json() -> None:
    from pathlib import Path

    d = load_dashboard((Path(__file__).parent / "fixtures" / "node-exporter-full.json").read_text())
    names = [v.name for v in d.variables]
    assert names == ["DS_PROMETHEUS", "job", "nodename", "node", "diskdevices"]
    assert any("adhoc" in n for n in d.notes)
    job = d.variables[1]
    assert job.query == "label_values(node_uname_info, job)"  # the Grafana 9+ object form
    src = FakeProm(SERIES)
    r = resolve_variables(d.variables, src, TR, {"job": ["node"]})
    assert r["nodename"].values == ["alpha"]
    assert r["node"].values == ["10.0.0.1:9100"] and not r["node"].multi
    assert r["diskdevices"].values == ["[a-z]+|nvme[0-9]+n[0-9]+|mmcblk[0-9]+"]
