"""The Dash application: layout, URL routing (Grafana's URLs), callbacks, and a small Grafana-style HTTP API."""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dash
import flask
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update

from .client import AlertmanagerClient, ApiError, PrometheusClient
from .model import DashboardError, FieldConfig, load_dashboard
from .pages import (
    AppState,
    apply_suggestion,
    build_query,
    create_silence,
    dashboard_rows,
    import_result,
    page_for,
    parse_query,
    refresh_for,
    suggestions,
)
from .panels import format_table, sort_rows, table_body, table_head
from .provisioning import SHIPPED_DIR, DashboardStore
from .runner import Runner
from .templating import ALL_VALUE
from .timeutil import parse_interval_ms, parse_time

__all__ = ["Config", "DashboardsService", "create_app", "serve"]

VERSION = "0.1.0"


@dataclass
class Config:
    """How the dashboards app is wired."""

    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = "http://127.0.0.1:9093"
    dashboards: list[str] = field(default_factory=lambda: [str(SHIPPED_DIR)])
    scrape_interval: str = "15s"
    cache_ttl: float = 10.0
    timeout: float = 60.0
    query_workers: int = 16


CSS = """
:root { --bg:#111217; --panel:#181b1f; --border:#2c3235; --text:#ccccdc; --muted:#8e8e9e; --accent:#3d71d9; --err:#e02f44;
  --Dash-Fill-Inverse-Strong:#111217; --Dash-Text-Primary:#ccccdc; --Dash-Text-Strong:#d8d9e3; --Dash-Text-Weak:#8e8e9e;
  --Dash-Text-Disabled:#6e6e7e; --Dash-Stroke-Strong:#2c3235; --Dash-Stroke-Weak:#2c3235; --Dash-Fill-Interactive-Strong:#3d71d9;
  --Dash-Fill-Interactive-Weak:rgba(204,204,220,.04); --Dash-Fill-Primary-Hover:rgba(204,204,220,.08);
  --Dash-Fill-Primary-Active:rgba(204,204,220,.14); --Dash-Fill-Disabled:rgba(204,204,220,.06); }
* { box-sizing: border-box; }
html, body { overflow-x:hidden; }
body { margin:0; background:var(--bg); color:var(--text); font-family: Inter, Helvetica, Arial, sans-serif; font-size:13px; }
a { color:#6e9fff; text-decoration:none; } a:hover { text-decoration:underline; }
.nav { display:flex; align-items:center; gap:4px; padding:6px 16px; background:#181b1f; border-bottom:1px solid var(--border); position:sticky; top:0; z-index:20; }
.nav .brand { font-weight:600; margin-right:16px; color:#ff9830; font-size:15px; }
.nav a.nav-link { color:var(--text); padding:6px 10px; border-radius:2px; }
.nav a.nav-link:hover { background:#22252b; text-decoration:none; }
.page { padding:12px 16px 40px; }
h1 { font-size:20px; font-weight:500; margin:6px 0 10px; } h2 { font-size:16px; font-weight:500; margin:18px 0 8px; } h3 { font-size:14px; font-weight:500; margin:14px 0 6px; }
.muted { color:var(--muted); }
.btn { background:#22252b; color:var(--text); border:1px solid var(--border); border-radius:2px; padding:5px 10px; cursor:pointer; font-size:12px; display:inline-block; }
.btn:hover { background:#2c3039; text-decoration:none; } .btn-primary { background:var(--accent); border-color:var(--accent); color:#fff; }
.btn-icon { padding:5px 8px; } .btn-small { padding:2px 8px; }
.page-header { display:flex; flex-wrap:wrap; align-items:center; justify-content:space-between; gap:8px; margin-bottom:8px; }
.title-row { display:flex; align-items:center; gap:6px; flex-wrap:wrap; } .dash-title { display:inline; margin:0 8px 0 0; font-size:18px; }
.crumb { color:var(--muted); }
.time-picker { display:flex; align-items:center; gap:4px; flex-wrap:wrap; }
.time-preset { width:170px; } .refresh-picker { width:80px; }
.time-input, .small-input { background:#111217; color:var(--text); border:1px solid var(--border); padding:5px 6px; width:150px; font-size:12px; border-radius:2px; }
.wide-input { background:#111217; color:var(--text); border:1px solid var(--border); padding:5px 6px; width:300px; font-size:12px; }
.variables { display:flex; flex-wrap:wrap; gap:8px; margin:4px 0 10px; }
.var { display:flex; align-items:center; } .var-label { background:#22252b; border:1px solid var(--border); border-right:none; padding:6px 8px; font-size:12px; }
.var-select { min-width:160px; max-width:480px; } .var-text { background:#111217; color:var(--text); border:1px solid var(--border); padding:6px; }
.var-error { color:var(--err); margin-left:4px; cursor:help; }
.grid { display:grid; grid-template-columns: repeat(24, minmax(0, 1fr)); grid-auto-rows:30px; gap:8px; }
.panel { background:var(--panel); border:1px solid var(--border); border-radius:2px; display:flex; flex-direction:column; min-width:0; min-height:0; overflow:hidden; }
.panel-transparent { background:transparent; border-color:transparent; }
.panel-header { display:flex; align-items:center; height:28px; padding:0 8px; gap:6px; flex:none; }
.panel-title { font-weight:500; white-space:nowrap; overflow:hidden; text-overflow:ellipsis; flex:1; }
.panel-links { display:flex; gap:6px; opacity:0; transition:opacity .15s; } .panel:hover .panel-links, .rule-card .panel-links { opacity:1; }
.panel-link { color:var(--muted); font-size:11px; }
.panel-desc { color:var(--muted); cursor:help; border:1px solid var(--muted); border-radius:50%; width:14px; height:14px; font-size:10px; display:inline-flex; align-items:center; justify-content:center; font-style:italic; }
.dash-dropdown-focus-target { position:absolute !important; left:0 !important; width:1px !important; }
.panel-body { flex:1; min-height:0; display:flex; flex-direction:column; padding:0 4px 4px; position:relative; }
.panel-error { background:rgba(224,47,68,.15); border-left:3px solid var(--err); color:#ff7383; padding:4px 8px; margin:0 6px 4px; font-size:12px; overflow:hidden; max-height:60px; }
.panel-warning { color:#f2cc0c; padding:0 8px; font-size:11px; }
.panel-note { display:flex; flex-direction:column; align-items:center; justify-content:center; height:100%; color:var(--muted); text-align:center; padding:8px; }
.note-icon { font-size:20px; color:#f2cc0c; }
.no-data { position:absolute; inset:0; display:flex; align-items:center; justify-content:center; color:var(--muted); pointer-events:none; }
.ts-wrap { display:flex; flex-direction:column; height:100%; min-height:0; } .ts-wrap-right { flex-direction:row; }
.panel-graph { flex:1; min-height:0; min-width:0; height:100%; }
.legend { flex:none; max-height:40%; overflow:auto; font-size:11px; padding:2px 4px; } .legend-right { max-height:none; width:35%; }
.legend-list { display:flex; flex-wrap:wrap; gap:2px 12px; }
.legend-item { white-space:nowrap; cursor:pointer; } .legend-table tr[data-series] { cursor:pointer; }
.series-hidden { opacity:.4; } .swatch { display:inline-block; width:12px; height:3px; margin-right:5px; vertical-align:middle; border-radius:1px; }
.legend-table { border-collapse:collapse; width:100%; } .legend-table th { color:#6e9fff; font-weight:500; text-align:right; padding:1px 6px; }
.legend-table td { text-align:right; padding:1px 6px; white-space:nowrap; } .legend-table td.legend-name { text-align:left; width:100%; white-space:normal; }
.stat-grid, .stat-grid-col { display:flex; flex-wrap:wrap; gap:4px; height:100%; } .stat-grid-col { flex-direction:column; flex-wrap:nowrap; }
.stat-tile { flex:1 1 120px; position:relative; display:flex; flex-direction:column; justify-content:center; align-items:center; min-height:0; overflow:hidden; border-radius:2px; }
.stat-value { font-size:clamp(16px, 3.2vw, 40px); font-weight:500; position:relative; z-index:1; white-space:nowrap; }
.stat-grid-col .stat-value { font-size:20px; } .stat-name { position:relative; z-index:1; font-size:12px; }
.sparkline { position:absolute; left:0; right:0; bottom:0; width:100%; height:45%; }
.bargauge { display:flex; flex-direction:column; gap:4px; justify-content:center; height:100%; overflow:auto; }
.bar-row { display:flex; align-items:center; gap:8px; } .bar-name { width:30%; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.bar-track { flex:1; height:18px; background:rgba(204,204,220,.07); } .bar-fill { height:100%; }
.bar-value { width:80px; text-align:right; font-weight:500; }
.bargauge-v { flex-direction:row; align-items:stretch; } .bargauge-v .bar-row { flex-direction:column-reverse; flex:1; }
.bargauge-v .bar-track { width:100%; display:flex; align-items:flex-end; } .bargauge-v .bar-fill { width:100%; }
.table-wrap { height:100%; overflow:auto; }
.panel-table thead th { position:sticky; top:0; background:var(--panel); z-index:1; }
.panel-table td, .panel-table th { white-space:nowrap; max-width:360px; overflow:hidden; text-overflow:ellipsis; }
.num { text-align:right !important; }
.th-btn { background:none; border:none; color:#6e9fff; font:inherit; font-weight:500; cursor:pointer; padding:0; }
.text-panel { padding:4px 8px; overflow:auto; height:100%; } .text-panel p { margin:4px 0; }
.row-header { display:flex; align-items:center; } .row-btn { background:none; border:none; color:var(--text); font-size:14px; font-weight:500; cursor:pointer; padding:0; }
.footer { margin-top:12px; font-size:11px; }
.notes, .notes-open { background:#1f1d17; border:1px solid #4d4225; padding:6px 10px; margin:6px 0; font-size:12px; color:#e0c97f; }
.page-error { background:rgba(224,47,68,.15); border:1px solid var(--err); color:#ff7383; padding:8px; margin:8px 0; }
.toolbar { display:flex; gap:8px; align-items:center; flex-wrap:wrap; margin:8px 0; }
.search { background:#111217; color:var(--text); border:1px solid var(--border); padding:7px; width:360px; }
.tag-filter { width:260px; } .tag { background:#3274d9; color:#fff; border-radius:2px; padding:1px 6px; margin-left:4px; font-size:11px; }
.folder { color:var(--muted); margin:12px 0 4px; } .dash-row { display:flex; justify-content:space-between; padding:8px 10px; background:var(--panel); border:1px solid var(--border); margin-bottom:2px; }
.query-row { display:flex; gap:8px; } .query-input { flex:1; background:#111217; color:var(--text); border:1px solid var(--border); padding:8px; font-family: Menlo, Consolas, monospace; font-size:13px; }
.suggest { display:flex; flex-wrap:wrap; gap:4px; margin:4px 0 8px; } .suggest-item { background:#22252b; border:1px solid var(--border); color:var(--text); font-family:monospace; font-size:12px; padding:2px 6px; cursor:pointer; }
.suggest-kind { color:var(--muted); font-size:10px; margin-left:4px; }
.explore-graph { margin-bottom:8px; } .explore-table { margin-bottom:8px; max-height:420px; }
.table-scroll { overflow:auto; max-height:380px; }
.data-table { border-collapse:collapse; width:100%; font-size:12px; } .data-table th { text-align:left; color:#6e9fff; font-weight:500; padding:4px 8px; border-bottom:1px solid var(--border); }
.data-table td { padding:4px 8px; border-bottom:1px solid #202226; vertical-align:top; }
.inspector-box { background:var(--panel); border:1px solid var(--border); padding:8px; } .inspect-params { margin:0; white-space:pre-wrap; word-break:break-all; max-width:520px; font-size:11px; }
.label-chip { background:#22252b; border:1px solid var(--border); border-radius:2px; padding:0 5px; margin:1px 3px 1px 0; display:inline-block; font-size:11px; }
.state { border-radius:2px; padding:1px 6px; font-size:11px; text-transform:uppercase; }
.state-firing, .state-down, .state-active { background:#e02f44; color:#fff; } .state-pending, .state-unprocessed { background:#ff9830; color:#000; }
.state-inactive, .state-up, .state-expired { background:#37872d; color:#fff; } .state-suppressed, .state-unknown { background:#464c54; color:#fff; }
.summary { display:flex; gap:8px; } .badge { padding:3px 8px; border-radius:2px; } .badge-firing { background:rgba(224,47,68,.3); } .badge-pending { background:rgba(255,152,48,.3); }
.rule-card, .am-group { background:var(--panel); border:1px solid var(--border); padding:8px; margin-bottom:6px; }
.rule-head { display:flex; align-items:center; gap:8px; } .rule-name { margin-left:4px; }
.rule-query { background:#111217; padding:6px; margin:6px 0; white-space:pre-wrap; font-size:12px; }
.sil-matchers { width:100%; height:80px; background:#111217; color:var(--text); border:1px solid var(--border); font-family:monospace; }
.silence-form { background:var(--panel); border:1px solid var(--border); padding:10px; margin-top:12px; }
.upload { border:1px dashed #555; padding:20px; text-align:center; margin:8px 0; cursor:pointer; }
.imp-text { width:100%; height:320px; background:#111217; color:var(--text); border:1px solid var(--border); font-family:monospace; font-size:12px; }
.imp-ok { padding:8px; background:rgba(55,135,45,.2); border:1px solid #37872d; margin:8px 0; } .imp-note { margin:2px 0; }
.target-error { color:#ff7383; max-width:400px; word-break:break-word; }
.dashlist { margin:4px 12px; padding-left:16px; }
.dash-dropdown { font-size:12px; min-height:30px; }
.dash-dropdown-content { background:#181b1f; color:var(--text); border:1px solid var(--border); }
"""


def _plotly_fingerprint() -> str:
    """Dash's fingerprint for plotly.min.js, so that browsers cache it (and its compiled code)."""
    import plotly  # type: ignore[import-untyped]

    js = Path(plotly.__file__).with_name("package_data") / "plotly.min.js"
    try:
        mtime = int(js.stat().st_mtime)
    except OSError:
        mtime = 0
    return plotly.__version__.replace(".", "_") + f"m{mtime}"


# plotly.js is large (about 1 s to evaluate on a busy machine). Start loading it as soon as the
# first callback is on its way, so that evaluation overlaps the server rendering the page; until it
# has loaded, ``window.Plotly`` is a thenable, which dcc.Graph's loader waits on instead of loading
# a second copy.
PLOTLY_EARLY_JS = """
<script>
(function () {
  var waiters = [];
  window.__heronLoadPlotly = function () {
    if (window.__heronPlotlyStarted) { return; }
    window.__heronPlotlyStarted = true;
    var s = document.createElement('script');
    s.src = '/_dash-component-suites/plotly/package_data/plotly.v__PLOTLY_FP__.min.js';
    s.async = true;
    window.__heronPlotlyT0 = performance.now();
    s.onload = function () { window.__heronPlotlyT1 = performance.now(); var w = waiters; waiters = []; w.forEach(function (f) { f(); }); };
    document.head.appendChild(s);
  };
  window.Plotly = { then: function (resolve) { waiters.push(function () { resolve(undefined); }); window.__heronLoadPlotly(); } };
})();
// Legend clicks, as in Grafana: click isolates a series (again: shows all), ctrl/shift-click toggles it.
document.addEventListener('click', function (ev) {
  var item = ev.target.closest && ev.target.closest('[data-series]');
  if (!item) { return; }
  var panel = item.closest('.panel');
  var gd = panel && panel.querySelector('.js-plotly-plot');
  if (!gd || !gd.data || !window.Plotly || !window.Plotly.restyle) { return; }
  var i = +item.getAttribute('data-series');
  var vis = gd.data.map(function (t) { return t.visible !== false && t.visible !== 'legendonly'; });
  var shown = vis.filter(Boolean).length;
  var next;
  if (ev.ctrlKey || ev.metaKey || ev.shiftKey) { next = vis.slice(); next[i] = !vis[i]; }
  else if (shown === 1 && vis[i]) { next = vis.map(function () { return true; }); }
  else { next = vis.map(function (_, j) { return j === i; }); }
  window.Plotly.restyle(gd, {visible: next});
  panel.querySelectorAll('[data-series]').forEach(function (el) {
    el.classList.toggle('series-hidden', !next[+el.getAttribute('data-series')]);
  });
});
</script>
"""

INDEX = (
    """<!DOCTYPE html>
<html>
  <head>
    {%metas%}
    <title>{%title%}</title>
    {%favicon%}
    {%css%}
    <style>"""
    + CSS
    + "</style>"
    + PLOTLY_EARLY_JS.replace("__PLOTLY_FP__", _plotly_fingerprint())
    + """  </head>
  <body>
    {%app_entry%}
    <footer>{%config%}{%scripts%}{%renderer%}</footer>
  </body>
</html>"""
)

CLIENT_INFO_JS = """
function(pathname, current) {
    if (window.__heronLoadPlotly) { setTimeout(window.__heronLoadPlotly, 0); }
    var v = {width: window.innerWidth, tz: -new Date().getTimezoneOffset()};
    if (current && current.width === v.width && current.tz === v.tz) { return window.dash_clientside.no_update; }
    return v;
}
"""


def _layout() -> html.Div:
    nav = html.Div(
        [
            dcc.Link("◆ Heron", href="/dashboards", className="brand"),
            dcc.Link("Dashboards", href="/dashboards", className="nav-link"),
            dcc.Link("Explore", href="/explore", className="nav-link"),
            dcc.Link("Alerting", href="/alerting/list", className="nav-link"),
            dcc.Link("Targets", href="/targets", className="nav-link"),
            dcc.Link("Import", href="/dashboard/import", className="nav-link"),
        ],
        className="nav",
    )
    return html.Div(
        [
            dcc.Location(id="url", refresh="callback-nav"),
            dcc.Store(id="client"),
            dcc.Store(id="tick", data=0),
            dcc.Store(id="rows", data={}),
            dcc.Interval(id="refresh-timer", interval=3_600_000, disabled=True),
            nav,
            html.Div(id="page"),
        ]
    )


def _time_update(
    trig: str, prefix: str, q: dict[str, list[str]], preset: Any, f: Any, t: Any, tz: int, default_from: str
) -> bool:
    """Apply a time-picker action to the query ``q`` in place; returns whether it changed."""
    now = int(time.time() * 1000)
    cur_from = (q.get("from") or [default_from])[0]
    cur_to = (q.get("to") or ["now"])[0]
    try:
        start = parse_time(cur_from, now, False, tz)
        end = parse_time(cur_to, now, True, tz)
    except ValueError:
        start, end = now - 6 * 3600_000, now
    span = max(end - start, 1000)
    if trig == f"{prefix}-preset" and preset:
        q["from"], q["to"] = [str(preset)], ["now"]
    elif trig in (f"{prefix}-apply", f"{prefix}-from", f"{prefix}-to"):
        nf, nt = str(f or cur_from).strip(), str(t or cur_to).strip()
        try:
            a = parse_time(nf, now, False, tz)
            b = parse_time(nt, now, True, tz)
        except ValueError:
            return False
        q["from"] = [nf if "now" in nf else str(a)]
        q["to"] = [nt if "now" in nt else str(b)]
    elif trig == f"{prefix}-zoom-out":
        center = (start + end) // 2
        ns, ne = center - span, center + span
        if ne > now:
            ne = now
            ns = now - 2 * span
        q["from"], q["to"] = [str(ns)], [str(ne)]
    elif trig == f"{prefix}-shift-back":
        q["from"], q["to"] = [str(start - span // 2)], [str(end - span // 2)]
    elif trig == f"{prefix}-shift-fwd":
        ne = min(end + span // 2, now)
        q["from"], q["to"] = [str(ne - span)], [str(ne)]
    else:
        return False
    return True


def _relayout_range(relayout: Any, tz: int) -> tuple[int, int] | None:
    if not isinstance(relayout, dict):
        return None
    a = relayout.get("xaxis.range[0]")
    b = relayout.get("xaxis.range[1]")
    if a is None and isinstance(relayout.get("xaxis.range"), list):
        a, b = relayout["xaxis.range"][:2]
    if a is None or b is None:
        return None

    def ms(v: Any) -> int:
        if isinstance(v, int | float):
            return int(v)
        return parse_time(str(v).replace(" ", "T")[:23] + "+00:00", 0)

    try:
        s, e = ms(a) - tz * 60_000, ms(b) - tz * 60_000
    except ValueError:
        return None
    if e - s < 1000:
        return None
    return s, e


def _user_triggers(initial_calls: bool = False) -> list[tuple[Any, str, Any]]:
    """The inputs a user changed, as ``(id, property, value)``; empty for Dash's initial calls.

    Dash calls a callback when its input components are inserted into the page (each time a
    page renders), with every input "triggered" at its initial value. A real change triggers
    one input, or a few when Dash batches changes (a click and a graph's resize together).
    Buttons that were never clicked do not count. With ``initial_calls`` the caller tells
    re-rendered inputs from changes itself (Dash can merge an initial call with a change).
    """
    trig = ctx.triggered
    present = sum(len(x) if isinstance(x, list) else 1 for x in ctx.inputs_list)
    if not initial_calls and present > 1 and len(trig) >= present:
        return []
    out = []
    for t in trig:
        prop_id = str(t.get("prop_id", ""))
        ident, _, prop = prop_id.rpartition(".")
        value = t.get("value")
        if prop in ("n_clicks", "n_submit", "n_intervals") and not value:
            continue
        if not ident:
            continue
        try:
            parsed: Any = json.loads(ident) if ident.startswith("{") else ident
        except ValueError:
            parsed = ident
        out.append((parsed, prop, value))
    return out


def _user_trigger() -> Any:
    """The id of the single input a user changed (None for initial calls or batched changes)."""
    trig = _user_triggers()
    return trig[0][0] if len(trig) == 1 else None


def _set_variable(
    state: AppState, uid: str, q: dict[str, list[str]], name: str, value: Any, shown: list[str]
) -> bool:
    """Put a variable's new selection in the query (``var-<name>``); returns whether it changed.

    ``shown`` is what the picker showed before (a re-rendered picker reports that value again).
    """
    values = [str(x) for x in value] if isinstance(value, list) else ([] if value is None else [str(value)])
    if values == shown:
        return False
    if ALL_VALUE in values and len(values) > 1:
        # Grafana: picking All clears the others; picking a value while All is on clears All
        values = [ALL_VALUE] if ALL_VALUE not in shown and shown else [v for v in values if v != ALL_VALUE]
    if values == q.get(f"var-{name}", []):
        return False
    if values:
        q[f"var-{name}"] = values
    else:
        q.pop(f"var-{name}", None)
    for dep in _dependents(state, uid, name):
        q.pop(f"var-{dep}", None)
    return True


def _dependents(state: AppState, uid: str, changed: str) -> set[str]:
    """Variables whose query (transitively) refers to ``changed``."""
    from .templating import variable_dependencies

    d = state.store.get(uid)
    if d is None:
        return set()
    names = {v.name for v in d.variables}
    deps = {v.name: variable_dependencies(v, names) for v in d.variables}
    out: set[str] = set()
    frontier = {changed}
    while frontier:
        nxt = {n for n, ds in deps.items() if ds & frontier and n not in out}
        out |= nxt
        frontier = nxt
    return out


def create_app(config: Config | None = None) -> dash.Dash:
    """Build the Dash app (its Flask server is ``app.server``)."""
    config = config or Config()
    prom = PrometheusClient(config.prometheus_url, timeout=config.timeout, cache_ttl=config.cache_ttl)
    am = AlertmanagerClient(config.alertmanager_url, timeout=10, cache_ttl=1)
    scrape_ms = parse_interval_ms(config.scrape_interval)
    state = AppState(
        store=DashboardStore(config.dashboards),
        prometheus=prom,
        alertmanager=am,
        runner=Runner(prom, max_workers=config.query_workers, scrape_interval_ms=scrape_ms),
        scrape_interval_ms=scrape_ms,
    )
    server = flask.Flask("heron-dashboards")
    app = dash.Dash(
        "heron-dashboards",
        server=server,  # type: ignore[arg-type]
        title="Heron",
        update_title=None,  # type: ignore[arg-type]
        suppress_callback_exceptions=True,
        serve_locally=True,
        assets_folder=str(Path(__file__).with_name("assets")),
    )
    app.index_string = INDEX
    app.layout = _layout
    app.heron_state = state  # type: ignore[attr-defined]
    _register_api(server, state)

    app.clientside_callback(
        CLIENT_INFO_JS, Output("client", "data"), Input("url", "pathname"), State("client", "data")
    )

    @app.callback(
        Output("page", "children"),
        Output("refresh-timer", "interval"),
        Output("refresh-timer", "disabled"),
        Input("url", "pathname"),
        Input("url", "search"),
        Input("client", "data"),
        Input("tick", "data"),
        Input("rows", "data"),
    )
    def route(pathname: str | None, search: str | None, client: Any, _tick: Any, rows: Any) -> Any:
        refresh = refresh_for(state, pathname or "/", search or "")
        page = page_for(state, pathname or "/", search or "", client, rows)
        return page, refresh or 3_600_000, refresh is None

    # ------------------------------------------------------------------ dashboard page

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("dash-time-preset", "value"),
        Input("dash-time-apply", "n_clicks"),
        Input("dash-time-from", "n_submit"),
        Input("dash-time-to", "n_submit"),
        Input("dash-time-zoom-out", "n_clicks"),
        Input("dash-time-shift-back", "n_clicks"),
        Input("dash-time-shift-fwd", "n_clicks"),
        Input("dash-time-refresh-picker", "value"),
        Input({"type": "var", "name": ALL}, "value"),
        Input({"type": "var-input", "name": ALL}, "value"),
        State("dash-time-from", "value"),
        State("dash-time-to", "value"),
        State("url", "search"),
        State("url", "pathname"),
        State("client", "data"),
        State("dash-state", "data"),
        prevent_initial_call=True,
    )
    def dashboard_controls(
        preset,
        _a,
        _b,
        _c,
        _z,
        _sb,
        _sf,
        refresh,
        var_values,
        text_values,
        f,
        t,
        search,
        pathname,
        client,
        shown,
    ):  # noqa: ANN001, ANN202
        triggers = _user_triggers(initial_calls=True)
        if not triggers or not (pathname or "").startswith("/d/"):
            return no_update
        shown = shown or {}
        q = parse_query(search)
        uid = (pathname or "").split("/")[2] if len((pathname or "").split("/")) > 2 else ""
        d = state.store.get(uid)
        tz = int((client or {}).get("tz") or 0) if d is None or d.timezone != "utc" else 0
        default_from = d.time_from if d else "now-6h"
        changed = False
        for trig, _prop, value in triggers:
            if isinstance(trig, dict) and trig.get("type") in ("var", "var-input"):
                name = str(trig.get("name"))
                was = list((shown.get("vars") or {}).get(name) or [])
                changed = _set_variable(state, uid, q, name, value, was) or changed
            elif trig == "dash-time-refresh-picker":
                if (refresh or "") != (shown.get("refresh") or ""):
                    q["refresh"] = [refresh or ""]
                    changed = True
            elif trig == "dash-time-preset":
                if preset and (preset != shown.get("from") or shown.get("to") != "now"):
                    q["from"], q["to"] = [str(preset)], ["now"]
                    changed = True
            elif isinstance(trig, str) and _time_update(trig, "dash-time", q, preset, f, t, tz, default_from):
                changed = True
        new = build_query(q)
        return new if changed and new != (search or "") else no_update

    # Drag-to-zoom has its own callback: graphs also report resizes, and a resize arriving while a
    # control's change is in flight would supersede that change if they shared a callback.
    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input({"type": "ts-graph", "key": ALL}, "relayoutData"),
        Input({"type": "ex-graph", "key": ALL}, "relayoutData"),
        State("url", "search"),
        State("url", "pathname"),
        State("client", "data"),
        prevent_initial_call=True,
    )
    def zoom(_ts: Any, _ex: Any, search: str | None, pathname: str | None, client: Any) -> Any:
        q = parse_query(search)
        tz = int((client or {}).get("tz") or 0)
        if (pathname or "").startswith("/d/"):
            d = state.store.get(
                (pathname or "").split("/")[2] if len((pathname or "").split("/")) > 2 else ""
            )
            if d is not None and d.timezone == "utc":
                tz = 0
        for _trig, _prop, value in _user_triggers(initial_calls=True):
            rng = _relayout_range(value, tz)
            if rng is not None:
                q["from"], q["to"] = [str(rng[0])], [str(rng[1])]
                if (pathname or "") == "/explore":
                    q.pop("left", None)
                    q.pop("panes", None)
                return build_query(q)
        return no_update

    @app.callback(
        Output("tick", "data", allow_duplicate=True),
        Input("dash-time-refresh", "n_clicks"),
        State("tick", "data"),
        prevent_initial_call=True,
    )
    def dashboard_refresh(_n: Any, tick: Any) -> Any:
        if _user_trigger() is None:
            return no_update
        return (tick or 0) + 1

    @app.callback(
        Output("tick", "data", allow_duplicate=True),
        Input("refresh-timer", "n_intervals"),
        State("tick", "data"),
        State("url", "pathname"),
        prevent_initial_call=True,
    )
    def auto_refresh(n: Any, tick: Any, pathname: str | None) -> Any:
        # the timer lives outside the page (re-rendering the page would restart it)
        if not n or not (pathname or "").startswith("/d/"):
            return no_update
        return (tick or 0) + 1

    @app.callback(
        Output("rows", "data"),
        Input({"type": "row-toggle", "key": ALL}, "n_clicks"),
        State("rows", "data"),
        State("url", "pathname"),
        prevent_initial_call=True,
    )
    def toggle_row(clicks: list[Any], rows: Any, pathname: str) -> Any:
        trig = _user_trigger()
        if not isinstance(trig, dict) or not any(clicks or []):
            return no_update
        if not ctx.triggered or not ctx.triggered[0].get("value"):
            return no_update
        uid = (pathname or "").split("/")[2] if len((pathname or "").split("/")) > 2 else ""
        d = state.store.get(uid)
        key = str(trig["key"])
        rows = dict(rows or {})
        per = dict(rows.get(uid) or {})
        default = False
        if d is not None:
            for p in d.panels:
                if (
                    p.type == "row"
                    and key.startswith(f"row-{p.id}")
                    and (key == f"row-{p.id}" or key.startswith(f"row-{p.id}-"))
                ):
                    default = p.collapsed
        per[key] = not per.get(key, default)
        rows[uid] = per
        return rows

    @app.callback(
        Output({"type": "thead", "key": MATCH}, "children"),
        Output({"type": "tbody", "key": MATCH}, "children"),
        Output({"type": "table-raw", "key": MATCH}, "data"),
        Input({"type": "th", "key": MATCH, "col": ALL}, "n_clicks"),
        State({"type": "table-raw", "key": MATCH}, "data"),
        prevent_initial_call=True,
    )
    def sort_table(clicks: list[Any], raw: Any) -> Any:
        trig = _user_trigger()
        if not raw or not isinstance(trig, dict) or not any(clicks or []):
            return no_update, no_update, no_update
        columns: list[str] = raw["columns"]
        col = columns[int(trig["col"])]
        cur = raw.get("sort")
        desc = not cur[1] if cur and cur[0] == col else True  # first click sorts descending, then toggles
        rows = [
            {k: (math.nan if v is None and k in raw.get("numeric", []) else v) for k, v in r.items()}
            for r in raw["rows"]
        ]
        rows = sort_rows(rows, col, desc)
        fcs = {c: FieldConfig(unit=u[0], decimals=u[1]) for c, u in (raw.get("units") or {}).items()}
        shown = format_table(columns, rows, fcs, int(raw.get("tz") or 0))
        numeric = set(raw.get("numeric") or [])
        key = str(trig["key"])
        raw = dict(raw, sort=[col, desc])
        return (
            table_head(key, columns, (col, desc), numeric).children,
            table_body(columns, shown, numeric),
            raw,
        )

    # ------------------------------------------------------------------ dashboards list

    @app.callback(
        Output("dl-list", "children"),
        Input("dl-search", "value"),
        Input("dl-tags", "value"),
        prevent_initial_call=True,
    )
    def filter_list(query: str | None, tags: list[str] | None) -> Any:
        if _user_trigger() is None:
            return no_update
        return dashboard_rows(state.store.list(), query or "", tags or [])

    # ------------------------------------------------------------------ explore

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("ex-run", "n_clicks"),
        Input("ex-expr", "n_submit"),
        Input("ex-time-preset", "value"),
        Input("ex-time-apply", "n_clicks"),
        Input("ex-time-from", "n_submit"),
        Input("ex-time-to", "n_submit"),
        Input("ex-time-zoom-out", "n_clicks"),
        Input("ex-time-shift-back", "n_clicks"),
        Input("ex-time-shift-fwd", "n_clicks"),
        State("ex-expr", "value"),
        State("ex-time-from", "value"),
        State("ex-time-to", "value"),
        State("url", "search"),
        State("client", "data"),
        prevent_initial_call=True,
    )
    def explore_controls(_r, _s, preset, _a, _b, _c, _z, _sb, _sf, expr, f, t, search, client):  # noqa: ANN001, ANN202
        triggers = _user_triggers(initial_calls=True)
        if not triggers:
            return no_update
        q = parse_query(search)
        tz = int((client or {}).get("tz") or 0)
        cur_from, cur_to = (q.get("from") or ["now-1h"])[0], (q.get("to") or ["now"])[0]
        q.pop("left", None)
        q.pop("panes", None)
        changed = False
        for trig, _prop, _value in triggers:
            if trig in ("ex-run", "ex-expr"):
                q["expr"] = [expr or ""]
                q.setdefault("from", [str(f or "now-1h")])
                q.setdefault("to", [str(t or "now")])
                if trig == "ex-run":
                    q["t"] = [str(int(time.time()))]  # re-run even when nothing changed
                changed = True
            elif trig == "ex-time-preset":
                if preset and (preset != cur_from or cur_to != "now"):
                    q["expr"] = [expr or ""]
                    q["from"], q["to"] = [str(preset)], ["now"]
                    changed = True
            elif isinstance(trig, str) and _time_update(trig, "ex-time", q, preset, f, t, tz, "now-1h"):
                q["expr"] = [expr or ""]
                changed = True
        if not changed:
            return no_update
        new = build_query(q)
        return new if new != (search or "") else no_update

    @app.callback(
        Output("tick", "data", allow_duplicate=True),
        Input("ex-time-refresh", "n_clicks"),
        State("tick", "data"),
        prevent_initial_call=True,
    )
    def explore_refresh(_n: Any, tick: Any) -> Any:
        if _user_trigger() is None:
            return no_update
        return (tick or 0) + 1

    @app.callback(Output("ex-suggest", "children"), Input("ex-expr", "value"), prevent_initial_call=True)
    def explore_suggest(expr: str | None) -> Any:
        if _user_trigger() is None:
            return no_update
        items = suggestions(state, expr or "")
        return [
            html.Button(
                [text, html.Span(kind, className="suggest-kind")],
                id={"type": "suggest", "value": text, "kind": kind},
                className="suggest-item",
                n_clicks=0,
            )
            for text, kind in items
        ]

    @app.callback(
        Output("ex-expr", "value"),
        Input({"type": "suggest", "value": ALL, "kind": ALL}, "n_clicks"),
        State("ex-expr", "value"),
        prevent_initial_call=True,
    )
    def explore_apply(clicks: list[Any], expr: str | None) -> Any:
        trig = _user_trigger()
        if not isinstance(trig, dict) or not any(clicks or []):
            return no_update
        return apply_suggestion(expr or "", str(trig["value"]), str(trig["kind"]))

    # ------------------------------------------------------------------ alerting

    @app.callback(
        Output("sil-msg", "children"),
        Output("tick", "data", allow_duplicate=True),
        Input("sil-create", "n_clicks"),
        State("sil-matchers", "value"),
        State("sil-duration", "value"),
        State("sil-creator", "value"),
        State("sil-comment", "value"),
        State("tick", "data"),
        prevent_initial_call=True,
    )
    def silence_create(n: Any, matchers: str, duration: str, creator: str, comment: str, tick: Any) -> Any:
        if not n or _user_trigger() is None:
            return no_update, no_update
        try:
            sid = create_silence(state, matchers or "", duration or "2h", creator or "", comment or "")
        except (ValueError, ApiError) as e:
            return html.Div(f"Could not create the silence: {e}", className="page-error"), no_update
        return html.Div(f"Silence {sid} created.", className="imp-ok"), (tick or 0) + 1

    @app.callback(
        Output("tick", "data", allow_duplicate=True),
        Input({"type": "sil-expire", "id": ALL}, "n_clicks"),
        State("tick", "data"),
        prevent_initial_call=True,
    )
    def silence_expire(clicks: list[Any], tick: Any) -> Any:
        trig = _user_trigger()
        if not isinstance(trig, dict) or not any(clicks or []) or not ctx.triggered[0].get("value"):
            return no_update
        try:
            state.alertmanager.expire_silence(str(trig["id"]))
        except ApiError:
            pass
        return (tick or 0) + 1

    # ------------------------------------------------------------------ import

    @app.callback(
        Output("imp-result", "children"),
        Input("imp-load", "n_clicks"),
        Input("imp-upload", "contents"),
        State("imp-text", "value"),
        State("imp-upload", "filename"),
        prevent_initial_call=True,
    )
    def import_dashboard(_n: Any, contents: str | None, text: str | None, filename: str | None) -> Any:
        if _user_trigger() is None:
            return no_update
        src = "pasted JSON"
        raw: str | bytes = text or ""
        if ctx.triggered_id == "imp-upload" and contents:
            try:
                raw = base64.b64decode(contents.split(",", 1)[1])
            except (ValueError, IndexError):
                return html.Div("Could not read the uploaded file.", className="page-error")
            src = filename or "upload"
        if not raw:
            return html.Div("Paste a dashboard JSON or choose a file first.", className="page-error")
        try:
            d = load_dashboard(raw, source=src)
        except DashboardError as e:
            return html.Div(f"Not imported: {e}", className="page-error")
        state.store.add(d)
        return import_result(d)

    return app


def _register_api(server: flask.Flask, state: AppState) -> None:
    """A small Grafana-compatible HTTP API: health, search, get and save dashboards."""

    @server.get("/api/health")
    def health() -> Any:
        return flask.jsonify({"database": "ok", "version": VERSION, "commit": "heron"})

    @server.get("/api/search")
    def search() -> Any:
        q = (flask.request.args.get("query") or "").lower()
        tags = flask.request.args.getlist("tag")
        out = []
        for d in state.store.list():
            if q and q not in d.title.lower():
                continue
            if tags and not all(t in d.tags for t in tags):
                continue
            out.append(
                {
                    "uid": d.uid,
                    "title": d.title,
                    "uri": f"db/{d.slug}",
                    "url": d.url,
                    "type": "dash-db",
                    "tags": d.tags,
                    "folderTitle": d.folder or "General",
                }
            )
        return flask.jsonify(out)

    @server.get("/api/dashboards/uid/<uid>")
    def get_dashboard(uid: str) -> Any:
        d = state.store.get(uid)
        if d is None:
            return flask.jsonify({"message": "Dashboard not found"}), 404
        return flask.jsonify(
            {
                "dashboard": d.raw,
                "meta": {
                    "slug": d.slug,
                    "url": d.url,
                    "folderTitle": d.folder,
                    "provisioned": d.folder != "Imported",
                },
            }
        )

    @server.post("/api/dashboards/db")
    def save_dashboard() -> Any:
        body = flask.request.get_json(silent=True)
        if not isinstance(body, dict):
            return flask.jsonify({"message": "bad request: JSON body expected"}), 400
        try:
            inner = body.get("dashboard")
            d = load_dashboard(inner if isinstance(inner, dict) else body, source="api")
        except DashboardError as e:
            return flask.jsonify({"message": str(e)}), 400
        state.store.add(d)
        return flask.jsonify(
            {"status": "success", "uid": d.uid, "url": d.url, "slug": d.slug, "notes": d.notes}
        )

    @server.get("/api/heron/render-times")
    def render_times() -> Any:
        return flask.jsonify(state.last_render_ms)


class DashboardsService:
    """The dashboards as a long-running component: ``await run()`` serves (waitress) until ``stop()``."""

    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 3000, threads: int = 8) -> None:
        import waitress  # type: ignore[import-untyped]

        self.app = create_app(config)
        self._server = waitress.create_server(
            self.app.server,
            host=host,
            port=port,
            threads=threads,
            ident="heron-dashboards",
            channel_timeout=120,
        )
        self.host = host
        self.port = int(self._server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def run(self) -> None:
        """Serve until :meth:`stop`."""
        import asyncio

        await asyncio.to_thread(self._server.run)

    def stop(self) -> None:
        self._server.close()
        self.app.heron_state.runner.close()  # type: ignore[attr-defined]


def serve(config: Config, host: str = "127.0.0.1", port: int = 3000, threads: int = 8) -> None:
    """Serve the app with waitress (blocking)."""
    DashboardsService(config, host, port, threads)._server.run()
