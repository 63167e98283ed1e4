"""Page builders: dashboard list, dashboard view, Explore, alerting, targets, import."""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from dash import dcc, html

from .client import AlertmanagerClient, ApiError, Inspect, PrometheusClient
from .model import Dashboard, FieldConfig, Panel, Target, as_dict
from .panels import format_table, panel_height_px, render_panel
from .provisioning import DashboardStore
from .runner import Frame, PanelData, PanelInstance, RenderContext, Runner, layout_panels
from .templating import ResolvedVariable, interpolate
from .timeutil import (
    QUICK_RANGES,
    REFRESH_INTERVALS,
    TimeRange,
    describe_range,
    format_abs,
    parse_interval_ms,
    parse_range,
    query_interval,
    utc_iso,
)
from .units import format_value

__all__ = ["AppState", "Query", "parse_query", "build_query", "page_for"]


@dataclass
class AppState:
    """What the pages share: the dashboard store, the query runner and the API clients."""

    store: DashboardStore
    prometheus: PrometheusClient
    alertmanager: AlertmanagerClient
    runner: Runner
    scrape_interval_ms: int = 15_000
    last_render_ms: dict[str, float] = field(default_factory=dict)


Query = dict[str, list[str]]


def _attrs(d: dict[str, Any]) -> Any:
    """``data-*`` attributes for a component (Dash accepts them as keyword arguments)."""
    return d


def parse_query(search: str | None) -> Query:
    """``?a=1&a=2`` as ``{"a": ["1", "2"]}``."""
    return urllib.parse.parse_qs((search or "").lstrip("?"), keep_blank_values=True)


def build_query(q: Query) -> str:
    """The inverse of :func:`parse_query` (``""`` when empty)."""
    pairs = [(k, v) for k, vs in q.items() for v in vs]
    return ("?" + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)) if pairs else ""


def _first(q: Query, k: str, default: str = "") -> str:
    v = q.get(k)
    return v[0] if v else default


def _now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- common widgets


def time_picker(
    prefix: str, tr: TimeRange, tz: int, refresh: str | None = None, intervals: list[str] | None = None
) -> html.Div:
    """Quick ranges, absolute from/to, zoom out, shift, refresh picker (ids prefixed ``prefix``)."""
    quick = [{"label": label, "value": value} for value, label in QUICK_RANGES]
    current = tr.raw_from if tr.raw_to == "now" else None
    if current and current not in {v for v, _ in QUICK_RANGES}:
        quick.insert(0, {"label": describe_range(tr, tz), "value": current})
    from_text = tr.raw_from if "now" in tr.raw_from else format_abs(tr.start_ms, tz)
    to_text = tr.raw_to if "now" in tr.raw_to else format_abs(tr.end_ms, tz)
    kids: list[Any] = [
        html.Button("‹", id=f"{prefix}-shift-back", className="btn btn-icon", title="Move time range back"),
        dcc.Dropdown(
            id=f"{prefix}-preset",
            options=quick,
            value=current,
            placeholder=describe_range(tr, tz),
            clearable=False,
            searchable=False,
            className="time-preset",
        ),
        dcc.Input(
            id=f"{prefix}-from",
            value=from_text,
            className="time-input",
            debounce=True,
            placeholder="now-6h, 2024-01-01 10:00:00 or epoch ms",
        ),
        html.Span("to", className="muted"),
        dcc.Input(id=f"{prefix}-to", value=to_text, className="time-input", debounce=True),
        html.Button("Apply", id=f"{prefix}-apply", className="btn"),
        html.Button("›", id=f"{prefix}-shift-fwd", className="btn btn-icon", title="Move time range forward"),
        html.Button("⊖", id=f"{prefix}-zoom-out", className="btn btn-icon", title="Zoom out (time range x2)"),
        html.Button("↻", id=f"{prefix}-refresh", className="btn btn-icon", title="Refresh"),
    ]
    if refresh is not None:
        opts = [{"label": "Off", "value": ""}] + [
            {"label": r, "value": r} for r in (intervals or REFRESH_INTERVALS)
        ]
        if refresh and refresh not in (intervals or REFRESH_INTERVALS):
            opts.append({"label": refresh, "value": refresh})
        kids.append(
            dcc.Dropdown(
                id=f"{prefix}-refresh-picker",
                options=opts,
                value=refresh,
                clearable=False,
                searchable=False,
                className="refresh-picker",
            )
        )
    return html.Div(kids, className="time-picker")


def _refresh_ms(refresh: str) -> int | None:
    if not refresh:
        return None
    try:
        return max(parse_interval_ms(refresh), 1000)
    except ValueError:
        return None


def error_box(msg: str) -> html.Div:
    return html.Div(msg, className="page-error")


# --------------------------------------------------------------------------- dashboard list


def dashboards_list(state: AppState, q: Query) -> Any:
    items = state.store.list()
    tags = sorted({t for d in items for t in d.tags})
    query = _first(q, "query")
    tag = q.get("tag", [])
    return html.Div(
        [
            html.H1("Dashboards"),
            html.Div(
                [
                    dcc.Input(
                        id="dl-search",
                        value=query,
                        placeholder="Search dashboards by name",
                        className="search",
                        debounce=False,
                    ),
                    dcc.Dropdown(
                        id="dl-tags",
                        options=[{"label": t, "value": t} for t in tags],
                        value=tag,
                        multi=True,
                        placeholder="Filter by tag",
                        className="tag-filter",
                    ),
                    dcc.Link("Import", href="/dashboard/import", className="btn"),
                ],
                className="toolbar",
            ),
            html.Div(dashboard_rows(items, query, tag), id="dl-list"),
            _problems(state),
        ],
        className="page page-list",
    )


def dashboard_rows(items: list[Dashboard], query: str, tags: list[str]) -> list[Any]:
    """Rows of the dashboard list filtered by a search text and tags, grouped by folder."""
    ql = (query or "").lower()
    out: list[Any] = []
    folder = None
    shown = 0
    for d in items:
        if ql and ql not in d.title.lower() and not any(ql in t.lower() for t in d.tags):
            continue
        if tags and not all(t in d.tags for t in tags):
            continue
        if d.folder != folder:
            folder = d.folder
            out.append(html.Div("📁 " + (folder or "General"), className="folder"))
        shown += 1
        out.append(
            html.Div(
                [
                    dcc.Link(d.title, href=d.url, className="dash-link"),
                    html.Span([html.Span(t, className="tag") for t in d.tags], className="tags"),
                ],
                className="dash-row",
            )
        )
    if not shown:
        out.append(html.Div("No dashboards match.", className="muted"))
    return out


def _problems(state: AppState) -> Any:
    if not state.store.problems:
        return html.Div()
    return html.Details(
        [html.Summary(f"{len(state.store.problems)} file(s) could not be loaded")]
        + [html.Div(f"{p.path}: {p.error}", className="muted") for p in state.store.problems],
        className="notes",
    )


# --------------------------------------------------------------------------- dashboard view


def _variables_bar(variables: dict[str, ResolvedVariable]) -> html.Div:
    kids = []
    for v in variables.values():
        if v.hide == 2:
            continue
        label = (
            html.Label(v.label or v.name, className="var-label", title=v.description or v.name)
            if v.hide != 1
            else None
        )
        if v.type == "textbox":
            ctl: Any = dcc.Input(
                id={"type": "var-input", "name": v.name},
                value=v.values[0] if v.values else "",
                debounce=True,
                className="var-text",
            )
        else:
            opts = [{"label": t, "value": val} for t, val in v.options]
            sel = v.url_values()
            for s in sel:
                if s not in {val for _, val in v.options}:
                    opts.append({"label": s, "value": s})
            value: Any = sel if v.multi else (sel[0] if sel else None)
            ctl = dcc.Dropdown(
                id={"type": "var", "name": v.name},
                options=opts,
                value=value,
                multi=v.multi,
                debounce=v.multi,  # multi-value: apply when the menu closes, as Grafana does
                clearable=False,
                className="var-select",
                placeholder="",
            )
        err = html.Span("⚠", className="var-error", title=v.error) if v.error else None
        kids.append(
            html.Div(
                [x for x in (label, ctl, err) if x is not None],
                className="var",
                **_attrs({"data-var": v.name}),
            )
        )
    return html.Div(kids, className="variables")


def _explore_href(expr: str, tr: TimeRange) -> str:
    return "/explore" + build_query(
        {
            "expr": [expr],
            "from": [tr.raw_from if "now" in tr.raw_from else str(tr.start_ms)],
            "to": [tr.raw_to if "now" in tr.raw_to else str(tr.end_ms)],
        }
    )


def _panel_component(
    inst: PanelInstance,
    data: PanelData | None,
    ctx: RenderContext,
    d: Dashboard,
    q: Query,
    listing: list[tuple[str, str, list[str]]],
    view: bool = False,
) -> html.Div:
    style = {"gridColumn": f"{inst.x + 1} / span {inst.w}", "gridRow": f"{inst.y + 1} / span {inst.h}"}
    if inst.is_row:
        title = interpolate(inst.panel.title, ctx.variables, scoped=inst.scoped, default_format="text")
        n = len(inst.panel.panels)
        return html.Div(
            html.Button(
                [
                    html.Span("▸ " if inst.collapsed else "▾ ", className="chev"),
                    title or "Row",
                    html.Span(f"  ({n} panels)" if inst.collapsed and n else "", className="muted"),
                ],
                id={"type": "row-toggle", "key": inst.key},
                className="row-btn",
            ),
            className="row-header",
            style=style,
            **_attrs({"data-row-key": inst.key}),
        )
    body, status, errors = render_panel(inst, data, ctx, listing)
    title = interpolate(inst.panel.title, ctx.variables, scoped=inst.scoped, default_format="text")
    links: list[Any] = []
    view_q = dict(q)
    if view:
        view_q.pop("viewPanel", None)
        links.append(
            dcc.Link("✕", href=d.url + build_query(view_q), className="panel-link", title="Back to dashboard")
        )
    else:
        view_q["viewPanel"] = [str(inst.panel.id)]
        links.append(
            dcc.Link("View", href=d.url + build_query(view_q), className="panel-link", title="View panel")
        )
    if data is not None and data.requests:
        for r in data.requests[:3]:
            links.append(
                dcc.Link(
                    "Explore" if len(data.requests) == 1 else f"Explore {r.target.ref_id}",
                    href=_explore_href(r.expr, data.time_range),
                    className="panel-link",
                    title=r.expr,
                )
            )
    header = html.Div(
        [
            html.Span(title, className="panel-title", title=inst.panel.description or title),
            html.Span("ⓘ", className="panel-desc", title=inst.panel.description)
            if inst.panel.description
            else None,
            html.Span(links, className="panel-links"),
        ],
        className="panel-header",
    )
    kids: list[Any] = [header]
    if errors:
        kids.append(html.Div("; ".join(errors)[:400], className="panel-error", title="\n".join(errors)))
    if data is not None and data.warnings:
        kids.append(html.Div("⚠ " + "; ".join(dict.fromkeys(data.warnings))[:200], className="panel-warning"))
    kids.append(html.Div(body, className="panel-body"))
    cls = "panel" + (" panel-transparent" if inst.panel.transparent else "")
    return html.Div(
        kids,
        className=cls,
        style=style,
        **_attrs(
            {
                "data-panel-key": inst.key,
                "data-panel-type": inst.panel.type,
                "data-status": status,
                "data-panel-id": str(inst.panel.id),
            }
        ),
    )


def _tz_offset(d: Dashboard, client: dict[str, Any] | None) -> int:
    if d.timezone == "utc":
        return 0
    if d.timezone not in ("browser", "", None):
        try:
            from datetime import datetime
            from zoneinfo import ZoneInfo

            off = datetime.now(ZoneInfo(d.timezone)).utcoffset()
            return int(off.total_seconds() // 60) if off else 0
        except Exception:  # noqa: BLE001 - unknown zone: fall back to the browser's
            pass
    return int((client or {}).get("tz") or 0)


def dashboard_page(
    state: AppState, uid: str, q: Query, client: dict[str, Any] | None, rows_state: dict[str, Any] | None
) -> Any:
    t0 = time.perf_counter()
    d = state.store.get(uid)
    if d is None:
        return html.Div(
            [
                html.H1("Dashboard not found"),
                html.P(f"No dashboard with uid {uid!r}."),
                dcc.Link("All dashboards", href="/dashboards"),
            ],
            className="page",
        )
    tz = _tz_offset(d, client)
    now = _now_ms()
    tr = parse_range(
        _first(q, "from") or d.time_from,
        _first(q, "to") or d.time_to,
        now,
        tz,
        default=d.time_from if "now" in d.time_from else "now-6h",
    )
    url_vars = {k[4:]: v for k, v in q.items() if k.startswith("var-")}
    page_errors: list[str] = []
    try:
        variables = state.runner.resolve(d, tr, url_vars)
    except Exception as e:  # noqa: BLE001
        page_errors.append(f"variables: {e}")
        variables = {}
    width = int((client or {}).get("width") or 1600)
    ctx = RenderContext(d.uid, tr, variables, max(width - 32, 320), tz, now, state.scrape_interval_ms)
    collapsed = {k: bool(v) for k, v in ((rows_state or {}).get(uid) or {}).items()}
    instances = layout_panels(d, variables, collapsed)
    view = _first(q, "viewPanel")
    if view:
        chosen = [i for i in instances if not i.is_row and (str(i.panel.id) == view or i.key == view)]
        if not chosen:  # a panel inside a collapsed row
            p = d.panel_by_id(int(view)) if view.isdigit() else None
            if p is not None:
                chosen = [PanelInstance(p, str(p.id), 0, 0, 24, p.h)]
        for i in chosen[:1]:
            i.x, i.y, i.w, i.h = 0, 0, 24, max(i.h, 22)
        instances = chosen[:1]
    data = state.runner.run_panels(instances, ctx)
    listing = [(x.title, x.url, x.tags) for x in state.store.list()]
    panels = [_panel_component(i, data.get(i.key), ctx, d, q, listing, view=bool(view)) for i in instances]
    rows = max([i.y + i.h for i in instances] or [1])
    refresh = _first(q, "refresh", d.refresh) if "refresh" in q else d.refresh
    notes = None
    if d.notes:
        notes = html.Details(
            [html.Summary(f"ⓘ {len(d.notes)} import note(s): some fields were ignored")]
            + [html.Div(n) for n in d.notes],
            className="notes",
        )
    elapsed = (time.perf_counter() - t0) * 1000
    state.last_render_ms[uid] = elapsed
    header = html.Div(
        [
            html.Div(
                [
                    dcc.Link("Dashboards", href="/dashboards", className="crumb"),
                    html.Span(" / " + (d.folder + " / " if d.folder else ""), className="muted"),
                    html.H1(d.title, className="dash-title"),
                    html.Span([html.Span(t, className="tag") for t in d.tags], className="tags"),
                ],
                className="title-row",
            ),
            time_picker("dash-time", tr, tz, refresh, d.refresh_intervals or None),
        ],
        className="page-header",
    )
    return html.Div(
        [
            header,
            _variables_bar(variables),
            notes,
            *[error_box(e) for e in page_errors],
            html.Div(panels, className="grid", style={"gridTemplateRows": f"repeat({rows}, 30px)"}),
            # what the controls show, so that their callbacks can tell real changes from re-renders
            dcc.Store(
                id="dash-state",
                data={
                    "from": tr.raw_from if "now" in tr.raw_from else str(tr.start_ms),
                    "to": tr.raw_to if "now" in tr.raw_to else str(tr.end_ms),
                    "refresh": refresh,
                    "vars": {v.name: v.url_values() for v in variables.values()},
                },
            ),
            html.Div(
                f"{len([i for i in instances if not i.is_row])} panels, rendered in {elapsed:.0f} ms",
                className="footer muted",
                id="render-info",
                **_attrs({"data-render-ms": f"{elapsed:.1f}"}),
            ),
        ],
        className="page page-dashboard",
        **_attrs({"data-uid": d.uid}),
    )


# --------------------------------------------------------------------------- explore


def _explore_queries(q: Query) -> tuple[list[str], str, str]:
    exprs = [e for e in q.get("expr", []) if e.strip()]
    f, t = _first(q, "from"), _first(q, "to")
    for key in ("left", "panes"):
        raw = _first(q, key)
        if not raw:
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        panes = list(obj.values()) if key == "panes" and isinstance(obj, dict) else [obj]
        for pane in panes:
            if not isinstance(pane, dict):
                continue
            for qq in pane.get("queries") or []:
                if isinstance(qq, dict) and qq.get("expr"):
                    exprs.append(str(qq["expr"]))
            rng = as_dict(pane.get("range"))
            f = f or str(rng.get("from") or "")
            t = t or str(rng.get("to") or "")
    return exprs, f or "now-1h", t or "now"


def explore_page(state: AppState, q: Query, client: dict[str, Any] | None) -> Any:
    exprs, f, t = _explore_queries(q)
    expr = exprs[0] if exprs else ""
    tz = int((client or {}).get("tz") or 0)
    now = _now_ms()
    tr = parse_range(f, t, now, tz, default="now-1h")
    width = max(int((client or {}).get("width") or 1600) - 48, 320)
    results: list[Any] = []
    if expr:
        results = _explore_results(state, expr, tr, tz, width)
    return html.Div(
        [
            html.Div([html.H1("Explore"), time_picker("ex-time", tr, tz)], className="page-header"),
            html.Div(
                [
                    dcc.Input(
                        id="ex-expr",
                        value=expr,
                        placeholder="Enter a PromQL query (Enter runs it)",
                        className="query-input",
                        debounce=False,
                        autoComplete="off",
                        spellCheck=False,
                        n_submit=0,
                    ),
                    html.Button("Run query", id="ex-run", className="btn btn-primary"),
                ],
                className="query-row",
            ),
            html.Div(id="ex-suggest", className="suggest"),
            html.Div(results, id="ex-results"),
        ],
        className="page page-explore",
    )


def _explore_results(state: AppState, expr: str, tr: TimeRange, tz: int, width: int) -> list[Any]:
    qi = query_interval(tr.span_ms, width, scrape_interval_ms=state.scrape_interval_ms)
    from .runner import QueryRequest, legend_name
    from .templating import builtin_vars
    from .timeutil import align_range

    b = builtin_vars(tr, qi.interval_ms, qi.rate_interval_ms, "", step_ms=qi.step_ms)
    real = interpolate(expr, {}, b)
    start, end = align_range(tr.start_ms, tr.end_ms, qi.step_ms)
    target = Target("A", real)
    calls = state.runner.parallel(
        [
            lambda: state.prometheus.query_range(real, start, end, qi.step_ms, ttl=0),
            lambda: state.prometheus.query(real, tr.end_ms, ttl=0),
        ]
    )
    rng, inst_res = calls
    out: list[Any] = []
    inspects: list[tuple[str, Inspect | None, Any]] = []
    panel = Panel(
        id=1,
        type="timeseries",
        title="Graph",
        w=24,
        h=10,
        targets=[target],
        options={"legend": {"showLegend": True, "displayMode": "list"}, "tooltip": {"mode": "multi"}},
    )
    ctx = RenderContext(
        "", tr, {}, width, tz, _now_ms(), state.scrape_interval_ms, zoom_graph_type="ex-graph"
    )
    inst = PanelInstance(panel, "explore", 0, 0, 24, 10)
    req = QueryRequest("explore", target, real, False, start, end, qi)
    if isinstance(rng, ApiError | Exception):
        out.append(html.Div(f"Range query: {rng}", className="panel-error"))
        inspects.append(("range", getattr(rng, "inspect", None), rng))
        graph_status = "error"
    else:
        frames = [
            Frame(
                legend_name(s.labels, "", real), s.labels, s.ts, s.values, "A", False, qi.step_ms, start, end
            )
            for s in rng.series
        ]
        data = PanelData(frames, [], rng.warnings, tr, [req], [rng.inspect] if rng.inspect else [])
        body, graph_status, errs = render_panel(inst, data, ctx)
        out.append(
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(
                                f"Graph · step {qi.step_ms / 1000:g}s · {len(frames)} series",
                                className="panel-title",
                            )
                        ],
                        className="panel-header",
                    ),
                    html.Div(body, className="panel-body"),
                ],
                className="panel explore-graph",
                style={"height": f"{panel_height_px(10)}px"},
                **_attrs(
                    {
                        "data-panel-key": "explore-graph",
                        "data-panel-type": "timeseries",
                        "data-status": graph_status,
                    }
                ),
            )
        )
        inspects.append(("range", rng.inspect, rng))
    if isinstance(inst_res, ApiError | Exception):
        out.append(html.Div(f"Instant query: {inst_res}", className="panel-error"))
        inspects.append(("instant", None, inst_res))
    else:
        cols = sorted({k for s in inst_res.series for k in s.labels})
        cols = sorted(cols, key=lambda c: (c != "__name__", c))
        rows = []
        for s in inst_res.series[:2000]:
            r: dict[str, Any] = {c: s.labels.get(c, "") for c in cols}
            r["Value"] = float(s.values[-1]) if len(s.values) else math.nan
            rows.append(r)
        fcs = {"Value": FieldConfig()}
        shown = format_table([*cols, "Value"], rows, fcs, tz)
        head = html.Tr([html.Th(c) for c in [*cols, "Value"]])
        body_rows = [html.Tr([html.Td(r.get(c, "")) for c in [*cols, "Value"]]) for r in shown]
        out.append(
            html.Div(
                [
                    html.Div(
                        html.Span(
                            f"Table · instant at {format_abs(tr.end_ms, tz)} · {len(inst_res.series)} series · {inst_res.result_type}",
                            className="panel-title",
                        ),
                        className="panel-header",
                    ),
                    html.Div(
                        html.Table([html.Thead(head), html.Tbody(body_rows)], className="data-table"),
                        className="table-scroll",
                    ),
                ],
                className="panel explore-table",
                **_attrs({"data-status": "ok" if rows else "nodata"}),
            )
        )
        inspects.append(("instant", inst_res.inspect, inst_res))
    out.append(_inspector(inspects, qi, expr, real))
    return out


def _inspector(items: list[tuple[str, Inspect | None, Any]], qi: Any, expr: str, real: str) -> html.Details:
    rows = []
    for kind, insp, res in items:
        if insp is None:
            rows.append(html.Tr([html.Td(kind), html.Td(str(res), colSpan=6)]))
            continue
        n = len(res.series) if hasattr(res, "series") else 0
        rows.append(
            html.Tr(
                [
                    html.Td(kind),
                    html.Td(f"{insp.method} {insp.url}"),
                    html.Td(
                        html.Pre(
                            "\n".join(f"{k}={v}" for k, v in insp.params.items()), className="inspect-params"
                        )
                    ),
                    html.Td(str(insp.status)),
                    html.Td(f"{insp.duration_ms:.1f} ms" + (" (cached)" if insp.cached else "")),
                    html.Td(f"{insp.bytes:,} B"),
                    html.Td(f"{n} series"),
                ]
            )
        )
    meta = [
        html.Div(["Query: ", html.Code(expr)]),
        html.Div(["Sent: ", html.Code(real)]) if real != expr else None,
        html.Div(
            f"Step {qi.step_ms / 1000:g}s · $__interval {qi.interval_ms / 1000:g}s · $__rate_interval {qi.rate_interval_ms / 1000:g}s"
        ),
    ]
    return html.Details(
        [
            html.Summary("Query inspector"),
            *[m for m in meta if m is not None],
            html.Table(
                [
                    html.Thead(
                        html.Tr(
                            [
                                html.Th(h)
                                for h in ("", "request", "parameters", "status", "time", "size", "result")
                            ]
                        )
                    ),
                    html.Tbody(rows),
                ],
                className="data-table inspector",
            ),
        ],
        open=True,
        className="inspector-box",
        id="ex-inspector",
    )


_FUNCS = [
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes", "clamp", "clamp_max",
    "clamp_min", "count", "count_over_time", "count_values", "day_of_month", "day_of_week", "delta", "deriv", "exp",
    "floor", "group", "histogram_quantile", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
    "label_replace", "last_over_time", "ln", "log2", "log10", "max", "max_over_time", "min", "min_over_time",
    "minute", "month", "predict_linear", "present_over_time", "quantile", "quantile_over_time", "rate", "resets",
    "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "stddev", "stddev_over_time", "stdvar", "sum",
    "sum_over_time", "time", "timestamp", "topk", "vector", "year", "by", "without", "on", "ignoring",
    "group_left", "group_right", "offset", "bool",
]  # fmt: skip


def suggestions(state: AppState, expr: str) -> list[tuple[str, str]]:
    """Completions for the end of ``expr``: (replacement for the last token, kind)."""
    if not expr:
        return []
    m_val = re.search(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)$', expr)
    brace = expr.rfind("{") > expr.rfind("}")
    try:
        if m_val and brace:
            label, prefix = m_val.group(1), m_val.group(3)
            metric = _metric_before_brace(expr)
            vals = state.prometheus.label_values(label, [metric] if metric else None)
            return [(v, "value") for v in vals if v.startswith(prefix)][:30]
        m = re.search(r"([A-Za-z_:][A-Za-z0-9_:]*)$", expr)
        tok = m.group(1) if m else ""
        if brace and (m or re.search(r"[{,]\s*$", expr)):
            metric = _metric_before_brace(expr)
            names = state.prometheus.label_names([metric] if metric else None)
            return [(n, "label") for n in names if n.startswith(tok) and n != "__name__"][:30]
        if not m:
            return []
        if re.search(r"(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$", expr):
            return [(n, "label") for n in state.prometheus.label_names() if n.startswith(tok)][:30]
        metrics = state.prometheus.label_values("__name__")
        out = [(n, "metric") for n in metrics if tok.lower() in n.lower()]
        out.sort(key=lambda x: (not x[0].startswith(tok), x[0]))
        funcs = [(f, "function") for f in _FUNCS if f.startswith(tok)]
        return (funcs + out)[:40]
    except ApiError:
        return []


def _metric_before_brace(expr: str) -> str:
    head = expr[: expr.rfind("{")]
    m = re.search(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*$", head)
    return m.group(1) if m else ""


def apply_suggestion(expr: str, completion: str, kind: str) -> str:
    """``expr`` with its trailing token replaced by ``completion``."""
    if kind == "value":
        return re.sub(r'"([^"]*)$', lambda _m: '"' + completion + '"', expr)
    return (
        re.sub(r"([A-Za-z_:][A-Za-z0-9_:]*)$", lambda _m: completion, expr)
        if re.search(r"[A-Za-z_:][A-Za-z0-9_:]*$", expr)
        else expr + completion
    )


# --------------------------------------------------------------------------- alerting


def _ago(iso: str) -> str:
    from datetime import datetime

    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return iso or ""
    s = time.time() - dt.timestamp()
    if s < 0:
        return "in " + _dur(-s)
    return _dur(s) + " ago"


def _dur(s: float) -> str:
    n = int(s)
    if n >= 86400:
        return f"{n // 86400}d{n % 86400 // 3600}h"
    if n >= 3600:
        return f"{n // 3600}h{n % 3600 // 60}m"
    if n >= 60:
        return f"{n // 60}m{n % 60}s"
    return f"{n}s"


def _labels(labels: dict[str, str], skip: tuple[str, ...] = ()) -> html.Span:
    return html.Span(
        [html.Span(f"{k}={v}", className="label-chip") for k, v in sorted(labels.items()) if k not in skip],
        className="labels",
    )


def _matchers_text(matchers: list[dict[str, Any]]) -> str:
    out = []
    for m in matchers:
        op = (
            ("=" if m.get("isEqual", True) else "!=")
            if not m.get("isRegex")
            else ("=~" if m.get("isEqual", True) else "!~")
        )
        out.append(f'{m.get("name")}{op}"{m.get("value")}"')
    return ", ".join(out)


def parse_matchers(text: str) -> list[dict[str, Any]]:
    """``name="v"``, ``name=~"re"``, ``name!=v`` … (one per line or comma separated) to API v2 matchers."""
    out = []
    for m in re.finditer(
        r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s"]+))', text or ""
    ):
        op = m.group(2)
        val = m.group(3) if m.group(3) is not None else m.group(4)
        out.append(
            {
                "name": m.group(1),
                "value": val.replace('\\"', '"'),
                "isRegex": op in ("=~", "!~"),
                "isEqual": op in ("=", "=~"),
            }
        )
    return out


def alerting_page(state: AppState, q: Query) -> Any:
    sections: list[Any] = [html.H1("Alerting")]
    # Prometheus: rules with their alerts
    rules_err = ""
    groups: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    try:
        groups = state.prometheus.rules()
    except ApiError as e:
        rules_err = str(e)
    try:
        alerts = state.prometheus.alerts()
    except ApiError as e:
        rules_err = rules_err or str(e)
    firing = sum(1 for a in alerts if a.get("state") == "firing")
    pending = sum(1 for a in alerts if a.get("state") == "pending")
    sections.append(
        html.Div(
            [
                html.Span(f"{firing} firing", className="badge badge-firing"),
                html.Span(f"{pending} pending", className="badge badge-pending"),
            ],
            className="summary",
        )
    )
    if rules_err:
        sections.append(error_box(f"Prometheus ({state.prometheus.base_url}): {rules_err}"))
    rule_rows: list[Any] = []
    shown_alerts: set[str] = set()
    for g in groups:
        for r in g.get("rules") or []:
            if r.get("type") != "alerting":
                continue
            st = str(r.get("state") or "inactive")
            ralerts = r.get("alerts") or []
            for a in ralerts:
                shown_alerts.add(json.dumps(a.get("labels"), sort_keys=True))
            rule_rows.append(_rule_card(r, g.get("name", ""), st, ralerts))
    for a in alerts:  # alerts whose rule was not listed (e.g. a peer without /api/v1/rules)
        if json.dumps(a.get("labels"), sort_keys=True) in shown_alerts:
            continue
        name = (a.get("labels") or {}).get("alertname", "")
        rule_rows.append(
            _rule_card({"name": name, "query": "", "state": a.get("state")}, "", str(a.get("state")), [a])
        )
    rule_rows.sort(key=lambda c: c.className if hasattr(c, "className") else "")
    sections.append(html.H2("Alert rules (Prometheus)"))
    sections.append(
        html.Div(rule_rows or [html.Div("No alerting rules.", className="muted")], className="rules")
    )
    # Alertmanager: groups and silences
    sections.append(html.H2("Alertmanager"))
    try:
        am_groups = state.alertmanager.alert_groups()
        silences = state.alertmanager.silences()
        am_err = ""
    except ApiError as e:
        am_groups, silences, am_err = [], [], str(e)
    if am_err:
        sections.append(error_box(f"Alertmanager ({state.alertmanager.base_url}): {am_err}"))
    else:
        sections.append(html.H3("Groups"))
        sections.append(
            html.Div(
                [_am_group(g) for g in am_groups]
                or [html.Div("No alerts in Alertmanager.", className="muted")]
            )
        )
        sections.append(html.H3("Silences"))
        sections.append(_silences_table(silences))
    prefill = "\n".join(q.get("silence", []))
    sections.append(
        html.Div(
            [
                html.H3("New silence"),
                html.Div(
                    'Matchers, one per line: name="value", name=~"regex", name!="value"', className="muted"
                ),
                dcc.Textarea(
                    id="sil-matchers",
                    value=prefill,
                    className="sil-matchers",
                    placeholder='alertname="HighErrorRate"',
                ),
                html.Div(
                    [
                        html.Label("Duration"),
                        dcc.Input(id="sil-duration", value="2h", className="small-input"),
                        html.Label("Created by"),
                        dcc.Input(id="sil-creator", value="heron", className="small-input"),
                        html.Label("Comment"),
                        dcc.Input(id="sil-comment", value="", className="wide-input", placeholder="why"),
                        html.Button("Create silence", id="sil-create", className="btn btn-primary"),
                    ],
                    className="toolbar",
                ),
                html.Div(id="sil-msg"),
            ],
            className="silence-form",
            id="silence-form",
        )
    )
    return html.Div(sections, className="page page-alerting")


def _rule_card(r: dict[str, Any], group: str, st: str, ralerts: list[dict[str, Any]]) -> html.Div:
    query = str(r.get("query") or "")
    name = str(r.get("name") or "")
    explore = (
        dcc.Link(
            "Explore",
            href="/explore" + build_query({"expr": [query], "from": ["now-1h"], "to": ["now"]}),
            className="panel-link",
        )
        if query
        else None
    )
    silence_q = build_query({"silence": [f'alertname="{name}"']})
    rows = []
    for a in ralerts:
        labels = a.get("labels") or {}
        val = a.get("value")
        try:
            vtxt = str(format_value(float(val))) if val is not None else ""
        except (TypeError, ValueError):
            vtxt = str(val)
        matchers = "\n".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        rows.append(
            html.Tr(
                [
                    html.Td(html.Span(a.get("state", ""), className=f"state state-{a.get('state', '')}")),
                    html.Td(_labels(labels, ("alertname",))),
                    html.Td(vtxt),
                    html.Td(_ago(str(a.get("activeAt") or ""))),
                    html.Td(
                        dcc.Link(
                            "Silence",
                            href="/alerting/list" + build_query({"silence": [matchers]}) + "#silence-form",
                            className="panel-link",
                        )
                    ),
                ]
            )
        )
    return html.Div(
        [
            html.Div(
                [
                    html.Span(st, className=f"state state-{st}"),
                    html.B(name, className="rule-name"),
                    html.Span(f" · {group}" if group else "", className="muted"),
                    html.Span(
                        [
                            explore,
                            dcc.Link(
                                "Silence",
                                href="/alerting/list" + silence_q + "#silence-form",
                                className="panel-link",
                            ),
                        ],
                        className="panel-links",
                    ),
                ],
                className="rule-head",
            ),
            html.Pre(query, className="rule-query") if query else None,
            html.Table(html.Tbody(rows), className="data-table") if rows else None,
        ],
        className=f"rule-card rule-{st}",
        **_attrs({"data-alertname": name, "data-state": st}),
    )


def _am_group(g: dict[str, Any]) -> html.Div:
    rows = []
    for a in g.get("alerts") or []:
        status = a.get("status") or {}
        st = status.get("state", "")
        gen = str(a.get("generatorURL") or "")
        expr = ""
        if gen:
            gq = urllib.parse.parse_qs(urllib.parse.urlparse(gen).query)
            expr = (gq.get("g0.expr") or [""])[0]
        link = (
            dcc.Link("Explore", href="/explore" + build_query({"expr": [expr]}), className="panel-link")
            if expr
            else None
        )
        rows.append(
            html.Tr(
                [
                    html.Td(html.Span(st, className=f"state state-{st}")),
                    html.Td(_labels(a.get("labels") or {})),
                    html.Td(_ago(str(a.get("startsAt") or ""))),
                    html.Td(", ".join(status.get("silencedBy") or []) or ""),
                    html.Td(link),
                ]
            )
        )
    receiver = (g.get("receiver") or {}).get("name", "")
    return html.Div(
        [
            html.Div(
                [_labels(g.get("labels") or {}), html.Span(f" → {receiver}", className="muted")],
                className="rule-head",
            ),
            html.Table(html.Tbody(rows), className="data-table"),
        ],
        className="am-group",
    )


def _silences_table(silences: list[dict[str, Any]]) -> Any:
    if not silences:
        return html.Div("No silences.", className="muted")
    order = {"active": 0, "pending": 1, "expired": 2}
    silences = sorted(
        silences, key=lambda s: (order.get((s.get("status") or {}).get("state", ""), 3), s.get("endsAt", ""))
    )
    rows = []
    for s in silences:
        st = (s.get("status") or {}).get("state", "")
        sid = str(s.get("id", ""))
        btn = (
            html.Button("Expire", id={"type": "sil-expire", "id": sid}, className="btn btn-small")
            if st in ("active", "pending")
            else None
        )
        rows.append(
            html.Tr(
                [
                    html.Td(html.Span(st, className=f"state state-{st}")),
                    html.Td(html.Code(_matchers_text(s.get("matchers") or []))),
                    html.Td(_ago(str(s.get("startsAt") or ""))),
                    html.Td(("ends " if st != "expired" else "ended ") + _ago(str(s.get("endsAt") or ""))),
                    html.Td(str(s.get("createdBy", ""))),
                    html.Td(str(s.get("comment", ""))),
                    html.Td(btn),
                ],
                **_attrs({"data-silence-id": sid}),
            )
        )
    head = html.Tr(
        [html.Th(h) for h in ("state", "matchers", "started", "ends", "created by", "comment", "")]
    )
    return html.Table([html.Thead(head), html.Tbody(rows)], className="data-table silences")


def create_silence(state: AppState, matchers_text: str, duration: str, creator: str, comment: str) -> str:
    """Create a silence from the form; returns its id. Raises ValueError for bad input."""
    matchers = parse_matchers(matchers_text)
    if not matchers:
        raise ValueError('no matchers: write e.g. alertname="HighErrorRate"')
    ms = parse_interval_ms(duration or "2h")
    now = _now_ms()
    body = {
        "matchers": matchers,
        "startsAt": utc_iso(now),
        "endsAt": utc_iso(now + ms),
        "createdBy": creator or "heron",
        "comment": comment or "silenced from Heron dashboards",
    }
    return state.alertmanager.create_silence(body)


# --------------------------------------------------------------------------- targets


def targets_page(state: AppState, q: Query) -> Any:
    try:
        data = state.prometheus.targets()
    except ApiError as e:
        return html.Div(
            [html.H1("Targets"), error_box(f"Prometheus ({state.prometheus.base_url}): {e}")],
            className="page",
        )
    active = data.get("activeTargets") or []
    pools: dict[str, list[dict[str, Any]]] = {}
    for t in active:
        pools.setdefault(str(t.get("scrapePool") or ""), []).append(t)
    only = _first(q, "state")
    kids: list[Any] = [
        html.H1("Targets"),
        html.Div(
            [
                dcc.Link("All", href="/targets", className="btn" + (" btn-primary" if not only else "")),
                dcc.Link(
                    "Unhealthy",
                    href="/targets?state=down",
                    className="btn" + (" btn-primary" if only == "down" else ""),
                ),
                html.Span(
                    f"{len(active)} active, {len(data.get('droppedTargets') or [])} dropped",
                    className="muted",
                ),
            ],
            className="toolbar",
        ),
    ]
    for pool in sorted(pools):
        ts = pools[pool]
        up = sum(1 for t in ts if t.get("health") == "up")
        if only == "down":
            ts = [t for t in ts if t.get("health") != "up"]
            if not ts:
                continue
        rows = []
        for t in sorted(ts, key=lambda t: str(t.get("scrapeUrl"))):
            h = str(t.get("health") or "unknown")
            dur = t.get("lastScrapeDuration")
            rows.append(
                html.Tr(
                    [
                        html.Td(html.A(t.get("scrapeUrl", ""), href=t.get("scrapeUrl", ""), target="_blank")),
                        html.Td(html.Span(h.upper(), className=f"state state-{h}")),
                        html.Td(_labels(t.get("labels") or {})),
                        html.Td(_ago(str(t.get("lastScrape") or ""))),
                        html.Td(f"{float(dur) * 1000:.1f} ms" if isinstance(dur, int | float) else ""),
                        html.Td(str(t.get("lastError") or ""), className="target-error"),
                    ],
                    **_attrs({"data-health": h}),
                )
            )
        head = html.Tr(
            [html.Th(x) for x in ("endpoint", "state", "labels", "last scrape", "duration", "error")]
        )
        kids.append(
            html.Div(
                [
                    html.H2([pool, html.Span(f" ({up}/{len(pools[pool])} up)", className="muted")]),
                    html.Table([html.Thead(head), html.Tbody(rows)], className="data-table"),
                ],
                className="pool",
            )
        )
    if not active:
        kids.append(html.Div("No active targets.", className="muted"))
    return html.Div(kids, className="page page-targets")


# --------------------------------------------------------------------------- import


def import_page() -> Any:
    return html.Div(
        [
            html.H1("Import dashboard"),
            html.P(
                "Paste Grafana dashboard JSON or upload a .json file. Fields Heron does not support are ignored and listed below.",
                className="muted",
            ),
            dcc.Upload(
                id="imp-upload",
                children=html.Div(["Drop a dashboard JSON file here or ", html.A("choose a file")]),
                className="upload",
                multiple=False,
            ),
            dcc.Textarea(
                id="imp-text", className="imp-text", placeholder='{"title": "My dashboard", "panels": [...]}'
            ),
            html.Div([html.Button("Load", id="imp-load", className="btn btn-primary")], className="toolbar"),
            html.Div(id="imp-result"),
        ],
        className="page page-import",
    )


def import_result(d: Dashboard) -> Any:
    n_panels = len(d.all_panels())
    kids: list[Any] = [
        html.Div(
            [
                html.B("Imported: "),
                dcc.Link(d.title, href=d.url, id="imp-link"),
                html.Span(
                    f"  (uid {d.uid}, {n_panels} panels, {len(d.variables)} variables)", className="muted"
                ),
            ],
            className="imp-ok",
        ),
    ]
    if d.notes:
        kids.append(
            html.Div(
                [html.Div(f"{len(d.notes)} note(s): ignored or converted", className="muted")]
                + [html.Div("• " + n, className="imp-note") for n in d.notes],
                className="notes-open",
                id="imp-notes",
            )
        )
    return html.Div(kids)


def not_found(path: str) -> Any:
    return html.Div(
        [html.H1("Page not found"), html.P(path), dcc.Link("Dashboards", href="/dashboards")],
        className="page",
    )


def refresh_for(state: AppState, pathname: str, search: str) -> int | None:
    """The auto-refresh period (ms) of the dashboard at this URL (``?refresh=`` or its default)."""
    m = re.fullmatch(r"/d/([^/]+)(?:/[^/]*)?", (pathname or "/").rstrip("/"))
    if not m:
        return None
    d = state.store.get(urllib.parse.unquote(m.group(1)))
    q = parse_query(search)
    refresh = _first(q, "refresh") if "refresh" in q else (d.refresh if d else "")
    return _refresh_ms(refresh)


def page_for(
    state: AppState,
    pathname: str,
    search: str,
    client: dict[str, Any] | None,
    rows_state: dict[str, Any] | None,
) -> Any:
    """The page for a URL (Grafana's URL scheme)."""
    q = parse_query(search)
    path = (pathname or "/").rstrip("/") or "/"
    if path in ("/", "/dashboards"):
        return dashboards_list(state, q)
    m = re.fullmatch(r"/d/([^/]+)(?:/[^/]*)?", path)
    if m:
        return dashboard_page(state, urllib.parse.unquote(m.group(1)), q, client, rows_state)
    if path == "/explore":
        return explore_page(state, q, client)
    if path in ("/alerting/list", "/alerting", "/alerts"):
        return alerting_page(state, q)
    if path == "/targets":
        return targets_page(state, q)
    if path in ("/dashboard/import", "/import"):
        return import_page()
    return not_found(path)
