"""Panel rendering: Grafana panel types drawn with plotly figures and plain HTML.

Every renderer takes the panel instance, its data and the page context and returns the panel
body plus a status (``ok``, ``nodata``, ``error``, ``info``) that the page exposes as
``data-status`` on the panel element.
"""

from __future__ import annotations

import html as _html
import math
import urllib.parse
from collections.abc import Callable
from typing import Any

import numpy as np
from dash import dcc, html

from .model import PALETTE, FieldConfig, Threshold, as_dict, named_color, threshold_color
from .runner import (
    CELL_HEIGHT,
    CELL_MARGIN,
    Frame,
    PanelData,
    PanelInstance,
    RenderContext,
    finite,
    grid_values,
    nan_to_none,
)
from .templating import interpolate
from .units import format_value, hover_format, nice_ticks

__all__ = ["render_panel", "reduce_values", "CALCS", "panel_height_px", "display_text"]

TEXT = "#ccccdc"
GRID = "rgba(204,204,220,0.09)"
DEFAULT_THRESHOLDS = [Threshold(None, "green"), Threshold(80.0, "red")]
GRAPH_CONFIG: Any = {"displayModeBar": False, "responsive": True, "doubleClick": False, "scrollZoom": False}


def panel_height_px(h: int) -> int:
    """Pixel height of ``h`` grid rows (30 px cells, 8 px margins)."""
    return h * CELL_HEIGHT + (h - 1) * CELL_MARGIN


# --------------------------------------------------------------------------- reductions


def _last_not_null(v: np.ndarray) -> float:
    f = finite(v)
    return float(f[-1]) if len(f) else math.nan


def _first_not_null(v: np.ndarray) -> float:
    f = finite(v)
    return float(f[0]) if len(f) else math.nan


def _safe(fn: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], float]:
    def g(v: np.ndarray) -> float:
        f = finite(v)
        return float(fn(f)) if len(f) else math.nan

    return g


CALCS: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "lastNotNull": ("Last *", _last_not_null),
    "last": ("Last", lambda v: float(v[-1]) if len(v) else math.nan),
    "firstNotNull": ("First *", _first_not_null),
    "first": ("First", lambda v: float(v[0]) if len(v) else math.nan),
    "min": ("Min", _safe(np.min)),
    "max": ("Max", _safe(np.max)),
    "mean": ("Mean", _safe(np.mean)),
    "sum": ("Total", _safe(np.sum)),
    "count": ("Count", lambda v: float(len(finite(v)))),
    "range": ("Range", _safe(lambda f: f.max() - f.min())),
    "delta": ("Delta", _safe(lambda f: np.clip(np.diff(f), 0, None).sum() if len(f) > 1 else 0.0)),
    "diff": ("Difference", _safe(lambda f: f[-1] - f[0])),
    "median": ("Median", _safe(np.median)),
    "variance": ("Variance", _safe(np.var)),
    "stdDev": ("StdDev", _safe(np.std)),
    "changeCount": ("Change count", _safe(lambda f: (np.diff(f) != 0).sum())),
    "distinctCount": ("Distinct count", _safe(lambda f: len(np.unique(f)))),
}
_CALC_ALIASES = {"current": "lastNotNull", "avg": "mean", "total": "sum", "": "lastNotNull"}


def reduce_values(values: np.ndarray, calc: str) -> float:
    """Reduce a series with a Grafana calc id (``lastNotNull``, ``mean``, ``max``, …)."""
    calc = _CALC_ALIASES.get(calc, calc)
    fn = CALCS.get(calc, CALCS["lastNotNull"])[1]
    return fn(values)


def _calc_label(calc: str) -> str:
    calc = _CALC_ALIASES.get(calc, calc)
    return CALCS.get(calc, (calc, None))[0]


# --------------------------------------------------------------------------- values and colors


def _mapping(value: float, mappings: list[dict[str, Any]]) -> dict[str, Any] | None:
    for m in mappings:
        mtype = m.get("type")
        opts = m.get("options") or {}
        if mtype == "value" and isinstance(opts, dict):
            for k, res in opts.items():
                try:
                    if float(k) == value:
                        return res if isinstance(res, dict) else None
                except ValueError:
                    continue
        elif mtype == "range" and isinstance(opts, dict):
            lo = opts.get("from")
            hi = opts.get("to")
            if (lo is None or value >= float(lo)) and (hi is None or value <= float(hi)):
                r = opts.get("result")
                return r if isinstance(r, dict) else None
        elif mtype == "special" and isinstance(opts, dict):
            match = opts.get("match")
            if (match in ("nan", "null", "null+nan") and math.isnan(value)) or (
                match == "true" and value == 1 or match == "false" and value == 0
            ):
                r = opts.get("result")
                return r if isinstance(r, dict) else None
    return None


def display_text(value: float, fc: FieldConfig) -> tuple[str, str | None]:
    """The text for a value (value mappings first, then the unit) and a mapped color, if any."""
    if math.isnan(value):
        m = _mapping(value, fc.mappings)
        if m and m.get("text"):
            return str(m["text"]), named_color(m.get("color")) if m.get("color") else None
        return fc.no_value or "No data", None
    m = _mapping(value, fc.mappings)
    if m is not None:
        color = named_color(m["color"]) if m.get("color") else None
        if m.get("text") not in (None, ""):
            return str(m["text"]), color
        return str(format_value(value, fc.unit, fc.decimals)), color
    return str(format_value(value, fc.unit, fc.decimals)), None


def _steps(fc: FieldConfig) -> list[Threshold]:
    return fc.thresholds or DEFAULT_THRESHOLDS


def _value_color(value: float, fc: FieldConfig, index: int, lo: float = 0.0, hi: float = 100.0) -> str:
    if fc.color_mode == "fixed" or fc.color_mode == "shades":
        return named_color(fc.fixed_color or "green")
    if fc.color_mode.startswith("palette") or fc.color_mode.startswith("continuous"):
        if fc.color_mode.startswith("palette"):
            return PALETTE[index % len(PALETTE)]
    return threshold_color(value, _steps(fc), fc.thresholds_mode, lo, hi)


def _series_color(i: int, fc: FieldConfig, values: np.ndarray | None = None) -> str:
    if fc.color_mode == "fixed" and fc.fixed_color:
        return named_color(fc.fixed_color)
    if fc.color_mode == "thresholds" and values is not None:
        return threshold_color(_last_not_null(values), _steps(fc), fc.thresholds_mode)
    return PALETTE[i % len(PALETTE)]


def _rgba(color: str, alpha: float) -> str:
    c = color.strip()
    if c.startswith("#") and len(c) in (4, 7):
        if len(c) == 4:
            c = "#" + "".join(ch * 2 for ch in c[1:])
        r, g, b = int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)
        return f"rgba({r},{g},{b},{alpha:.3f})"
    if c.startswith("rgb(") and c.endswith(")"):
        return "rgba(" + c[4:-1] + f",{alpha:.3f})"
    return c


def _display_name(frame: Frame, fc: FieldConfig, ctx: RenderContext, inst: PanelInstance) -> str:
    if fc.display_name:
        name = fc.display_name.replace("${__field.displayName}", frame.name)
        name = name.replace("${__series.name}", frame.name)
        for k, v in frame.labels.items():
            name = name.replace("${__field.labels." + k + "}", v).replace('${__field.labels["' + k + '"]}', v)
        name = name.replace("${__field.name}", "Value")
        return interpolate(name, ctx.variables, scoped=inst.scoped, default_format="text")
    return frame.name


# --------------------------------------------------------------------------- shared figure parts


def _base_layout(height: int | None = None) -> dict[str, Any]:
    lay: dict[str, Any] = {
        "margin": {"l": 56, "r": 12, "t": 6, "b": 26},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"color": TEXT, "size": 11, "family": "Inter, Helvetica, Arial, sans-serif"},
        "showlegend": False,
        "autosize": True,
    }
    if height:
        lay["height"] = height
    return lay


def _x_axis(tr_start: int, tr_end: int, tz_ms: int) -> dict[str, Any]:
    span = tr_end - tr_start
    fmt = "%H:%M:%S" if span <= 600_000 else ("%H:%M" if span <= 86_400_000 else "%m/%d %H:%M")
    if span > 30 * 86_400_000:
        fmt = "%Y-%m-%d"
    return {
        "type": "date",
        "tickformat": fmt,
        "range": [tr_start + tz_ms, tr_end + tz_ms],
        "gridcolor": GRID,
        "zeroline": False,
        "showline": False,
        "tickfont": {"size": 10},
        "hoverformat": "%Y-%m-%d %H:%M:%S",
    }


def _y_axis(lo: float, hi: float, fc: FieldConfig, height_px: int, log: int | None = None) -> dict[str, Any]:
    ax: dict[str, Any] = {
        "gridcolor": GRID,
        "zeroline": False,
        "showline": False,
        "fixedrange": True,
        "tickfont": {"size": 10},
        "automargin": True,
    }
    label = fc.custom.get("axisLabel")
    if label:
        ax["title"] = {"text": str(label), "font": {"size": 11}}
    if log:
        ax["type"] = "log"
        return ax
    ticks = nice_ticks(lo, hi, max(2, min(8, height_px // 45)))
    if ticks:
        ax["tickvals"] = ticks
        ax["ticktext"] = [_tick_text(t, fc) for t in ticks]
        ax["range"] = [ticks[0], ticks[-1]]
    return ax


def _tick_text(v: float, fc: FieldConfig) -> str:
    f = format_value(v, fc.unit, fc.decimals)
    text = f.text
    if fc.decimals is None and "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return f"{f.prefix}{text}{f.suffix}"


def _frame_grid(f: Frame) -> tuple[int, np.ndarray, int]:
    """(start, values on the step grid, step) of a frame; instant frames keep their points."""
    if f.step_ms > 0 and not f.instant:
        start, vals = grid_values(f, f.start_ms, f.end_ms, f.step_ms)
        return int(start), vals, f.step_ms
    return int(f.ts[0]), f.values, max(f.step_ms, 1)


def _threshold_shapes(fc: FieldConfig, lo: float, hi: float, yref: str = "y") -> list[dict[str, Any]]:
    style = fc.custom.get("thresholdsStyle") or {}
    mode = str(style.get("mode") or "off") if isinstance(style, dict) else "off"
    if mode == "off" or not fc.thresholds:
        return []
    shapes: list[dict[str, Any]] = []
    steps = fc.thresholds
    dash = "dash" if "dashed" in mode else "solid"
    for i, t in enumerate(steps):
        color = named_color(t.color)
        y0 = lo if t.value is None else t.value
        y1 = steps[i + 1].value if i + 1 < len(steps) and steps[i + 1].value is not None else hi
        if "area" in mode:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": yref,
                    "y0": y0,
                    "y1": y1,
                    "fillcolor": _rgba(color, 0.12),
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
        if ("line" in mode or "dashed" in mode) and t.value is not None:
            shapes.append(
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "yref": yref,
                    "y0": t.value,
                    "y1": t.value,
                    "line": {"color": color, "width": 1, "dash": dash},
                }
            )
    return shapes


def _legend(
    rows: list[tuple[str, str, list[str], int]], calcs: list[str], table: bool, placement: str
) -> html.Div:
    """The legend (list or table with calcs); a click on a series isolates it, ctrl/shift-click toggles it."""
    cls = "legend legend-right" if placement == "right" else "legend"
    if table or calcs:
        head = html.Tr([html.Th("")] + [html.Th(_calc_label(c)) for c in calcs])
        body = [
            html.Tr(
                [
                    html.Td(
                        [html.Span(className="swatch", style={"background": color}), name],
                        className="legend-name",
                    )
                ]
                + [html.Td(v) for v in vals],
                **_series_attr(i),
            )
            for name, color, vals, i in rows
        ]
        return html.Div(
            html.Table([html.Thead(head), html.Tbody(body)], className="legend-table"), className=cls
        )
    items = [
        html.Span(
            [html.Span(className="swatch", style={"background": color}), name],
            className="legend-item",
            **_series_attr(i),
        )
        for name, color, _, i in rows
    ]
    return html.Div(items, className=cls + " legend-list")


def _series_attr(i: int) -> Any:
    return {"data-series": str(i)}


def _graph(fig: dict[str, Any], key: str, zoomable: str = "") -> dcc.Graph:
    gid: Any = {"type": zoomable, "key": key} if zoomable else {"type": "graph", "key": key}
    return dcc.Graph(id=gid, figure=fig, config=GRAPH_CONFIG, className="panel-graph", responsive=True)


# --------------------------------------------------------------------------- timeseries


def render_timeseries(inst: PanelInstance, data: PanelData, ctx: RenderContext) -> tuple[Any, str]:
    panel = inst.panel
    fc0 = panel.field_config
    tr = data.time_range
    tz_ms = ctx.tz_offset_min * 60_000
    frames = [f for f in data.frames if len(f.ts)]
    height = panel_height_px(inst.h) - 30
    opts = panel.options
    leg = as_dict(opts.get("legend"))
    show_legend = leg.get("showLegend", True) and leg.get("displayMode") != "hidden"
    calcs = [str(c) for c in leg.get("calcs") or []]
    tooltip = as_dict(opts.get("tooltip"))
    traces: list[dict[str, Any]] = []
    legend_rows: list[tuple[str, str, list[str], int]] = []
    lo, hi = math.inf, -math.inf
    stacked_sum: dict[str, np.ndarray] = {}
    y2 = False
    y2_fc: FieldConfig | None = None
    y2_lo, y2_hi = math.inf, -math.inf
    any_bars = False
    stack_modes: set[str] = set()
    grids = [_frame_grid(f) for f in frames]
    # Drop leading/trailing steps where no series has a value (e.g. the step after the last scrape).
    t_first = min(
        (g[0] + int(np.flatnonzero(np.isfinite(g[1]))[0]) * g[2] for g in grids if np.isfinite(g[1]).any()),
        default=None,
    )
    t_last = max(
        (g[0] + int(np.flatnonzero(np.isfinite(g[1]))[-1]) * g[2] for g in grids if np.isfinite(g[1]).any()),
        default=None,
    )
    for i, f in enumerate(frames):
        fc = fc0.for_field(f.name, f.ref_id)
        custom = fc.custom
        hide = as_dict(custom.get("hideFrom"))
        name = _display_name(f, fc, ctx, inst)
        color = _series_color(i, fc, f.values)
        start, vals, _ = grids[i]
        if t_first is not None and t_last is not None and f.step_ms > 0 and not f.instant:
            a = max(int((t_first - start) // f.step_ms), 0)
            b = min(int((t_last - start) // f.step_ms) + 1, len(vals))
            if b > a:
                vals = vals[a:b]
                start = start + a * f.step_ms
        if custom.get("transform") == "negative-Y":
            vals = -vals
        elif custom.get("transform") == "constant":
            lv = _last_not_null(vals)
            vals = np.full(len(vals), lv)
        fin = finite(vals)
        right = custom.get("axisPlacement") == "right" or (fc.unit != fc0.unit and fc is not fc0 and fc.unit)
        if len(fin) and not hide.get("viz"):
            if right:
                y2_lo, y2_hi = min(y2_lo, float(fin.min())), max(y2_hi, float(fin.max()))
            else:
                lo, hi = min(lo, float(fin.min())), max(hi, float(fin.max()))
        draw = str(custom.get("drawStyle") or "line")
        width = custom.get("lineWidth", 1)
        fill_op = float(custom.get("fillOpacity") or 0) / 100
        stacking = as_dict(custom.get("stacking"))
        smode = str(stacking.get("mode") or "none")
        group = str(stacking.get("group") or "A")
        tr_: dict[str, Any] = {
            "name": name,
            "x0": int(start) + tz_ms,
            "dx": f.step_ms or 1,
            "y": nan_to_none(vals),
            "hovertemplate": hover_format(fc.unit, fc.decimals)
            + "<extra>"
            + _html.escape(name)[:80]
            + "</extra>",
        }
        if right:
            tr_["yaxis"] = "y2"
            y2 = True
            y2_fc = fc
        if draw == "bars":
            any_bars = True
            tr_.update({"type": "bar", "marker": {"color": color, "line": {"width": 0}}, "opacity": 0.85})
        else:
            tr_["type"] = "scatter"
            tr_["mode"] = "markers" if draw == "points" else "lines"
            if custom.get("showPoints") == "always" and draw != "points":
                tr_["mode"] = "lines+markers"
            shape = {"smooth": "spline", "stepBefore": "vh", "stepAfter": "hv"}.get(
                str(custom.get("lineInterpolation")), "linear"
            )
            tr_["line"] = {
                "color": color,
                "width": width if isinstance(width, int | float) else 1,
                "shape": shape,
            }
            if (
                custom.get("lineStyle", {}).get("fill") == "dash"
                if isinstance(custom.get("lineStyle"), dict)
                else False
            ):
                tr_["line"]["dash"] = "dash"
            tr_["marker"] = {"color": color, "size": custom.get("pointSize", 5)}
            tr_["connectgaps"] = custom.get("spanNulls") is True
            if smode in ("normal", "percent"):
                tr_["stackgroup"] = group
                tr_["stackgaps"] = "interpolate"
                stack_modes.add(smode)
                tr_["fill"] = "tonexty" if fill_op > 0 else "none"
                if fill_op > 0:
                    tr_["fillcolor"] = _rgba(color, fill_op)
                if smode == "percent" and group not in stacked_sum:
                    tr_["groupnorm"] = "percent"
            elif fill_op > 0:
                tr_["fill"] = "tozeroy"
                tr_["fillcolor"] = _rgba(color, fill_op)
        if smode in ("normal", "percent") and len(vals):
            acc = stacked_sum.get(group)
            v0 = np.nan_to_num(vals.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            if acc is None or len(acc) != len(v0):
                stacked_sum[group] = v0
            else:
                stacked_sum[group] = acc + v0
            if draw == "bars":
                tr_["offsetgroup"] = group
        if hide.get("viz"):
            continue
        traces.append(tr_)
        if not hide.get("legend"):
            legend_rows.append(
                (
                    name,
                    color,
                    [display_text(reduce_values(vals, c), fc)[0] if len(vals) else "" for c in calcs],
                    len(traces) - 1,
                )
            )
    for acc in stacked_sum.values():
        fin = finite(acc)
        if len(fin):
            lo, hi = min(lo, float(fin.min()), 0.0), max(hi, float(fin.max()))
    if "percent" in stack_modes:
        lo, hi = 0.0, 100.0
    if not math.isfinite(lo):
        lo, hi = 0.0, 1.0
    if any_bars or fc0.custom.get("fillOpacity"):
        lo = min(lo, 0.0)
    if fc0.min is not None:
        lo = fc0.min
    if fc0.max is not None:
        hi = fc0.max
    soft_min, soft_max = fc0.custom.get("axisSoftMin"), fc0.custom.get("axisSoftMax")
    if isinstance(soft_min, int | float):
        lo = min(lo, float(soft_min))
    if isinstance(soft_max, int | float):
        hi = max(hi, float(soft_max))
    scale = as_dict(fc0.custom.get("scaleDistribution"))
    log = scale.get("log") if scale.get("type") == "log" else None
    legend_h = 0
    if show_legend and legend_rows:
        legend_h = min(len(legend_rows), 6) * 20 + (20 if calcs or leg.get("displayMode") == "table" else 0)
        if leg.get("placement") == "right":
            legend_h = 0
        if not calcs and leg.get("displayMode") != "table" and leg.get("placement") != "right":
            legend_h = min(60, 20 * (1 + len(legend_rows) // 4))
    plot_h = max(height - legend_h, 60)
    layout = _base_layout()
    layout["xaxis"] = _x_axis(tr.start_ms, tr.end_ms, tz_ms)
    y_fc = fc0
    if "percent" in stack_modes:
        y_fc = FieldConfig(unit="percent", custom=fc0.custom)
    layout["yaxis"] = _y_axis(lo, hi, y_fc, plot_h, log)
    if y2 and y2_fc is not None:
        if not math.isfinite(y2_lo):
            y2_lo, y2_hi = 0.0, 1.0
        ax2 = _y_axis(y2_lo, y2_hi, y2_fc, plot_h)
        ax2.update({"overlaying": "y", "side": "right", "showgrid": False})
        layout["yaxis2"] = ax2
        layout["margin"]["r"] = 56
    layout["shapes"] = _threshold_shapes(
        fc0, layout["yaxis"].get("range", [lo, hi])[0], layout["yaxis"].get("range", [lo, hi])[1]
    )
    mode = tooltip.get("mode", "single")
    layout["hovermode"] = "x unified" if mode == "multi" else ("closest" if mode != "none" else False)
    layout["dragmode"] = "zoom"
    if any_bars:
        layout["barmode"] = "relative" if stack_modes else "overlay"
        layout["bargap"] = 0.1
    layout["uirevision"] = inst.key
    fig = {"data": traces, "layout": layout}
    body: list[Any] = [_graph(fig, inst.key, zoomable=ctx.zoom_graph_type)]
    if show_legend and legend_rows:
        body.append(
            _legend(
                legend_rows, calcs, leg.get("displayMode") == "table", str(leg.get("placement") or "bottom")
            )
        )
    status = "ok" if traces and any(len(finite(f.values)) for f in frames) else "nodata"
    wrap_cls = "ts-wrap ts-wrap-right" if leg.get("placement") == "right" else "ts-wrap"
    children: list[Any] = body
    if status == "nodata":
        children = [html.Div(fc0.no_value or "No data", className="no-data"), *body]
    return html.Div(children, className=wrap_cls), status


# --------------------------------------------------------------------------- stat / gauge / bargauge


def _reduced(
    inst: PanelInstance, data: PanelData, ctx: RenderContext
) -> list[tuple[str, float, np.ndarray, FieldConfig]]:
    """(name, reduced value, values, field config) per series, per the panel's reduceOptions."""
    ro = as_dict(inst.panel.options.get("reduceOptions"))
    calcs = ro.get("calcs") or ["lastNotNull"]
    calc = str(calcs[0]) if calcs else "lastNotNull"
    out = []
    for f in data.frames:
        fc = inst.panel.field_config.for_field(f.name, f.ref_id)
        out.append((_display_name(f, fc, ctx, inst), reduce_values(f.values, calc), f.values, fc))
    limit = ro.get("limit")
    if isinstance(limit, int) and limit > 0:
        out = out[:limit]
    return out


def _sparkline_svg(values: np.ndarray, color: str) -> str:
    fin_idx = np.flatnonzero(np.isfinite(values))
    if len(fin_idx) < 2:
        return ""
    v = values[fin_idx]
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo or 1.0
    n = len(values) - 1 or 1
    pts = " ".join(f"{i / n * 200:.1f},{50 - (float(values[i]) - lo) / span * 46 - 2:.1f}" for i in fin_idx)
    first = f"{fin_idx[0] / n * 200:.1f}"
    last = f"{fin_idx[-1] / n * 200:.1f}"
    svg = (
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 200 50' preserveAspectRatio='none'>"
        f"<polygon points='{first},50 {pts} {last},50' fill='{_rgba(color, 0.18)}'/>"
        f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='1.5' vector-effect='non-scaling-stroke'/>"
        "</svg>"
    )
    return "data:image/svg+xml;charset=utf-8," + urllib.parse.quote(svg)


def render_stat(inst: PanelInstance, data: PanelData, ctx: RenderContext) -> tuple[Any, str]:
    opts = inst.panel.options
    color_mode = str(opts.get("colorMode") or "value")
    graph_mode = str(opts.get("graphMode") or "area")
    text_mode = str(opts.get("textMode") or "auto")
    items = _reduced(inst, data, ctx)
    if not items:
        fc = inst.panel.field_config
        return html.Div(fc.no_value or "No data", className="no-data"), "nodata"
    tiles = []
    any_value = False
    for i, (name, value, values, fc) in enumerate(items):
        text, mapped = display_text(value, fc)
        any_value = any_value or not math.isnan(value)
        color = mapped or _value_color(
            value,
            fc if fc.color_mode != "palette-classic" else _as_thresholds(fc),
            i,
            fc.min or 0,
            fc.max or 100,
        )
        style: dict[str, Any] = {}
        vstyle: dict[str, Any] = {}
        if color_mode == "background" or color_mode == "background_solid":
            style["background"] = color
            vstyle["color"] = "#fff"
        elif color_mode == "value":
            vstyle["color"] = color
        show_name = text_mode in ("value_and_name", "name") or (text_mode == "auto" and len(items) > 1)
        show_value = text_mode not in ("name", "none")
        kids: list[Any] = []
        if graph_mode == "area" and len(values) > 1:
            src = _sparkline_svg(values, "#ffffff" if "background" in color_mode else color)
            if src:
                kids.append(html.Img(src=src, className="sparkline", alt=""))
        if show_name:
            kids.append(html.Div(name, className="stat-name"))
        if show_value:
            kids.append(html.Div(text, className="stat-value", style=vstyle))
        tiles.append(html.Div(kids, className="stat-tile", style=style))
    orient = (
        "stat-grid-col"
        if opts.get("orientation") == "vertical"
        or (opts.get("orientation") != "horizontal" and inst.w < 8 and len(items) > 1)
        else "stat-grid"
    )
    return html.Div(tiles, className=orient), "ok" if any_value else "nodata"


def _as_thresholds(fc: FieldConfig) -> FieldConfig:
    # stat/gauge default to color by thresholds (Grafana's panel defaults)
    import copy

    f = copy.copy(fc)
    f.color_mode = "thresholds"
    return f


def _range_for(
    items: list[tuple[str, float, np.ndarray, FieldConfig]], fc: FieldConfig
) -> tuple[float, float]:
    vals = [v for _, v, _, _ in items if not math.isnan(v)]
    lo = fc.min if fc.min is not None else min([0.0, *vals])
    if fc.max is not None:
        hi = fc.max
    elif fc.unit == "percent":
        hi = 100.0
    elif fc.unit == "percentunit":
        hi = 1.0
    else:
        ths = [t.value for t in fc.thresholds if t.value is not None and math.isfinite(t.value)]
        hi = max([*vals, *ths, lo + 1])
    if hi <= lo:
        hi = lo + 1
    return lo, hi


def render_gauge(inst: PanelInstance, data: PanelData, ctx: RenderContext) -> tuple[Any, str]:
    items = _reduced(inst, data, ctx)
    if not items:
        return html.Div(inst.panel.field_config.no_value or "No data", className="no-data"), "nodata"
    n = len(items)
    cols = min(n, max(1, inst.w // 4))
    rows = math.ceil(n / cols)
    traces = []
    annotations = []
    show_markers = inst.panel.options.get("showThresholdMarkers", True)
    for i, (name, value, _, fc) in enumerate(items):
        fc = _as_thresholds(fc) if fc.color_mode == "palette-classic" else fc
        lo, hi = _range_for(items, fc)
        r, c = divmod(i, cols)
        dom = {
            "x": [c / cols + 0.02, (c + 1) / cols - 0.02],
            "y": [1 - (r + 1) / rows + 0.04, 1 - r / rows - 0.1],
        }
        color = _value_color(value, fc, i, lo, hi)
        steps = []
        if show_markers:
            ths = _steps(fc)
            for j, t in enumerate(ths):
                a = lo if t.value is None else _pct_abs(t.value, fc, lo, hi)
                nxt = ths[j + 1].value if j + 1 < len(ths) else None
                b = hi if nxt is None else _pct_abs(nxt, fc, lo, hi)
                steps.append(
                    {
                        "range": [max(a, lo), min(b, hi)],
                        "color": _rgba(named_color(t.color), 0.35),
                        "thickness": 0.12,
                    }
                )
        traces.append(
            {
                "type": "indicator",
                "mode": "gauge",
                "value": 0 if math.isnan(value) else value,
                "domain": dom,
                "gauge": {
                    "axis": {"range": [lo, hi], "visible": False},
                    "bar": {"color": color, "thickness": 0.7},
                    "bgcolor": "rgba(204,204,220,0.08)",
                    "borderwidth": 0,
                    "steps": steps,
                },
            }
        )
        text, mapped = display_text(value, fc)
        cx = (dom["x"][0] + dom["x"][1]) / 2
        annotations.append(
            {
                "x": cx,
                "y": dom["y"][0] + 0.06 * (1 / rows),
                "xref": "paper",
                "yref": "paper",
                "text": f"<b>{_html.escape(text)}</b>",
                "showarrow": False,
                "font": {
                    "size": max(12, min(30, int(panel_height_px(inst.h) / rows / 6))),
                    "color": mapped or color,
                },
            }
        )
        if n > 1:
            annotations.append(
                {
                    "x": cx,
                    "y": dom["y"][1] + 0.08,
                    "xref": "paper",
                    "yref": "paper",
                    "text": _html.escape(name),
                    "showarrow": False,
                    "font": {"size": 11, "color": TEXT},
                }
            )
    layout = _base_layout()
    layout["margin"] = {"l": 8, "r": 8, "t": 8, "b": 8}
    layout["annotations"] = annotations
    fig = {"data": traces, "layout": layout}
    status = "ok" if any(not math.isnan(v) for _, v, _, _ in items) else "nodata"
    return _graph(fig, inst.key), status


def _pct_abs(v: float, fc: FieldConfig, lo: float, hi: float) -> float:
    return lo + (hi - lo) * v / 100 if fc.thresholds_mode == "percentage" else v


def render_bargauge(inst: PanelInstance, data: PanelData, ctx: RenderContext) -> tuple[Any, str]:
    items = _reduced(inst, data, ctx)
    if not items:
        return html.Div(inst.panel.field_config.no_value or "No data", className="no-data"), "nodata"
    vertical = inst.panel.options.get("orientation") == "vertical"
    rows = []
    for i, (name, value, _, fc) in enumerate(items):
        fc = _as_thresholds(fc) if fc.color_mode == "palette-classic" else fc
        lo, hi = _range_for(items, fc)
        frac = 0.0 if math.isnan(value) else max(0.0, min(1.0, (value - lo) / (hi - lo)))
        color = _value_color(value, fc, i, lo, hi)
        text, mapped = display_text(value, fc)
        dim = "height" if vertical else "width"
        bar = html.Div(
            html.Div(className="bar-fill", style={dim: f"{frac * 100:.1f}%", "background": mapped or color}),
            className="bar-track",
        )
        rows.append(
            html.Div(
                [
                    html.Div(name, className="bar-name", title=name),
                    bar,
                    html.Div(text, className="bar-value", style={"color": mapped or color}),
                ],
                className="bar-row",
            )
        )
    cls = "bargauge bargauge-v" if vertical else "bargauge"
    status = "ok" if any(not math.isnan(v) for _, v, _, _ in items) else "nodata"
    return html.Div(rows, className=cls), status


# --------------------------------------------------------------------------- table


def table_rows(
    inst: PanelInstance, data: PanelData, ctx: RenderContext
) -> tuple[list[str], list[dict[str, Any]], dict[str, FieldConfig]]:
    """Columns and raw rows of a table panel (instant results merged by labels, Grafana-style)."""
    frames = data.frames
    refs = sorted({f.ref_id for f in frames})
    multi = len(refs) > 1
    instant_like = all(f.instant or len(f.ts) <= 1 for f in frames)
    columns: list[str] = []
    rows: list[dict[str, Any]] = []
    fcs: dict[str, FieldConfig] = {}
    if instant_like:
        merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        label_cols: list[str] = []
        for f in frames:
            labels = {k: v for k, v in f.labels.items() if k != "__name__" or not multi}
            key = tuple(sorted(labels.items()))
            row = merged.setdefault(key, dict(labels))
            col = f"Value #{f.ref_id}" if multi else "Value"
            row[col] = float(f.values[-1]) if len(f.values) else math.nan
            for k in labels:
                if k not in label_cols:
                    label_cols.append(k)
        value_cols = [f"Value #{r}" if multi else "Value" for r in refs]
        label_cols = sorted(label_cols, key=lambda c: (c != "__name__", c))
        columns = label_cols + [c for c in dict.fromkeys(value_cols)]
        rows = list(merged.values())
    else:
        label_cols = sorted({k for f in frames for k in f.labels if k != "__name__"})
        columns = ["Time", *label_cols, "Value"]
        for f in frames:
            for t, v in zip(f.ts[-500:], f.values[-500:], strict=True):
                row = {k: f.labels.get(k, "") for k in label_cols}
                row["Time"] = int(t)
                row["Value"] = float(v)
                rows.append(row)
        rows.sort(key=lambda r: -r["Time"])
        rows = rows[:2000]
    # transformations: organize (exclude, rename, order)
    rename: dict[str, str] = {}
    for tfm in inst.panel.transformations:
        if tfm.get("id") != "organize":
            continue
        o = tfm.get("options") or {}
        excl = {k for k, v in (o.get("excludeByName") or {}).items() if v}
        columns = [c for c in columns if c not in excl]
        idx = o.get("indexByName") or {}
        if idx:
            order = {c: i for i, c in enumerate(columns)}
            columns.sort(key=lambda c: (idx.get(c, 10_000), order[c]))
        rename.update({k: str(v) for k, v in (o.get("renameByName") or {}).items() if v})
    base = inst.panel.field_config
    for c in columns:
        ref = c.split("#")[-1] if "#" in c else ""
        fc = base.for_field(c, ref)
        if c in rename:  # overrides match the name shown (after organize's rename) too
            fc2 = base.for_field(rename[c], ref)
            if fc2 is not base:
                fc = fc2 if fc is base else fc2
        fcs[c] = fc
        if fc.display_name and fc is not base:
            rename.setdefault(c, fc.display_name)
    if rename:
        fcs = {rename.get(c, c): fc for c, fc in fcs.items()}
        rows = [{rename.get(k, k): v for k, v in r.items()} for r in rows]
        columns = [rename.get(c, c) for c in columns]
    sort_by = inst.panel.options.get("sortBy") if isinstance(inst.panel.options.get("sortBy"), list) else []
    if sort_by and isinstance(sort_by[0], dict) and sort_by[0].get("displayName") in columns:
        col = sort_by[0]["displayName"]
        rows = sort_rows(rows, col, bool(sort_by[0].get("desc")))
    return columns, rows, fcs


def sort_rows(rows: list[dict[str, Any]], col: str, desc: bool) -> list[dict[str, Any]]:
    """Sort raw table rows by a column (numbers numerically, NaN last)."""

    def key(r: dict[str, Any]) -> tuple[int, Any]:
        v = r.get(col)
        if isinstance(v, int | float):
            return (0 if not math.isnan(v) else 2, v if not math.isnan(v) else 0)
        return (1, str(v or ""))

    good = [r for r in rows if key(r)[0] != 2]
    bad = [r for r in rows if key(r)[0] == 2]
    nums = [r for r in good if key(r)[0] == 0]
    strs = [r for r in good if key(r)[0] == 1]
    nums.sort(key=lambda r: r[col], reverse=desc)
    strs.sort(key=lambda r: str(r.get(col) or ""), reverse=desc)
    return nums + strs + bad


def format_table(
    columns: list[str], rows: list[dict[str, Any]], fcs: dict[str, FieldConfig], tz_offset_min: int
) -> list[dict[str, Any]]:
    """Rows with numbers formatted by their column's unit (for display)."""
    from .timeutil import format_abs

    out = []
    for r in rows:
        d: dict[str, Any] = {}
        for c in columns:
            v = r.get(c, "")
            if c == "Time" and isinstance(v, int):
                d[c] = format_abs(v, tz_offset_min)
            elif isinstance(v, float | int) and not isinstance(v, bool):
                fc = fcs.get(c)
                d[c] = display_text(float(v), fc)[0] if fc else str(v)
            else:
                d[c] = v
        out.append(d)
    return out


def table_body(columns: list[str], shown: list[dict[str, Any]], numeric: set[str]) -> list[Any]:
    """``<tr>`` rows of formatted cells (numbers right-aligned)."""
    return [
        html.Tr([html.Td(r.get(c, ""), className="num" if c in numeric else None) for c in columns])
        for r in shown
    ]


def table_head(key: str, columns: list[str], sort: tuple[str, bool] | None, numeric: set[str]) -> html.Tr:
    """Header row: each column a button that sorts by it."""
    cells = []
    for i, c in enumerate(columns):
        mark = ""
        if sort and sort[0] == c:
            mark = " ↓" if sort[1] else " ↑"
        cells.append(
            html.Th(
                html.Button(
                    c + mark, id={"type": "th", "key": key, "col": i}, className="th-btn", n_clicks=0
                ),
                className="num" if c in numeric else None,
            )
        )
    return html.Tr(cells)


def render_table(inst: PanelInstance, data: PanelData, ctx: RenderContext) -> tuple[Any, str]:
    columns, rows, fcs = table_rows(inst, data, ctx)
    if not rows:
        return html.Div(inst.panel.field_config.no_value or "No data", className="no-data"), "nodata"
    shown = format_table(columns, rows, fcs, ctx.tz_offset_min)
    numeric = {
        c for c in columns if any(isinstance(r.get(c), float | int) and c != "Time" for r in rows[:50])
    }
    sort_by = inst.panel.options.get("sortBy") if isinstance(inst.panel.options.get("sortBy"), list) else []
    sort = None
    if sort_by and isinstance(sort_by[0], dict) and sort_by[0].get("displayName") in columns:
        sort = (str(sort_by[0]["displayName"]), bool(sort_by[0].get("desc")))
    raw = {
        "columns": columns,
        "rows": rows,
        "units": {c: [fc.unit, fc.decimals] for c, fc in fcs.items()},
        "tz": ctx.tz_offset_min,
        "numeric": sorted(numeric),
        "sort": list(sort) if sort else None,
    }
    table = html.Table(
        [
            html.Thead(table_head(inst.key, columns, sort, numeric), id={"type": "thead", "key": inst.key}),
            html.Tbody(table_body(columns, shown, numeric), id={"type": "tbody", "key": inst.key}),
        ],
        className="data-table panel-table",
    )
    store = dcc.Store(id={"type": "table-raw", "key": inst.key}, data=_jsonable(raw))
    return html.Div([table, store], className="table-wrap"), "ok"


def _jsonable(o: Any) -> Any:
    if isinstance(o, float):
        return None if math.isnan(o) or math.isinf(o) else o
    if isinstance(o, dict):
        return {k: _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    return o


# --------------------------------------------------------------------------- heatmap


def _le_key(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return math.inf


_DARK_SCALES: dict[str, Any] = {
    # Grafana's dark theme: low counts fade into the panel, high counts are bright
    "Oranges": [[0, "#181b1f"], [0.15, "#5c2c0c"], [0.5, "#c15c17"], [1, "#ffb357"]],
    "Reds": [[0, "#181b1f"], [0.5, "#a1162a"], [1, "#ff7383"]],
    "Blues": [[0, "#181b1f"], [0.5, "#1f60c4"], [1, "#8ab8ff"]],
    "Greens": [[0, "#181b1f"], [0.5, "#37872d"], [1, "#96d98d"]],
}


def render_heatmap(inst: PanelInstance, data: PanelData, ctx: RenderContext) -> tuple[Any, str]:
    frames = [f for f in data.frames if len(f.ts)]
    if not frames:
        return html.Div("No data", className="no-data"), "nodata"
    tr = data.time_range
    tz_ms = ctx.tz_offset_min * 60_000
    step = max(f.step_ms for f in frames) or 1
    start = min(int(f.ts[0]) for f in frames)
    end = max(int(f.ts[-1]) for f in frames)
    bucketed = all("le" in f.labels for f in frames) or any(t.format == "heatmap" for t in inst.panel.targets)
    rows: dict[str, np.ndarray] = {}
    for f in frames:
        label = f.labels.get("le", f.name) if bucketed else f.name
        _, vals = grid_values(f, start, end, step)
        vals = np.nan_to_num(vals, nan=0.0)
        rows[label] = rows[label] + vals if label in rows else vals
    labels = sorted(rows, key=_le_key) if bucketed else list(rows)
    z = np.vstack([rows[k] for k in labels])
    if bucketed and len(labels) > 1:
        z = np.vstack([z[0], np.diff(z, axis=0)])
        z = np.clip(z, 0, None)
    fc = inst.panel.field_config
    color = as_dict(inst.panel.options.get("color"))
    scheme = str(color.get("scheme") or "Oranges")
    scales = {
        "Oranges": "Oranges",
        "Spectral": "Spectral",
        "RdYlBu": "RdYlBu",
        "Blues": "Blues",
        "Greens": "Greens",
        "Reds": "Reds",
        "Viridis": "Viridis",
        "Turbo": "Turbo",
        "Plasma": "Plasma",
        "YlOrRd": "YlOrRd",
    }
    scale = scales.get(scheme, "Oranges")
    ylabels = [
        (
            "+Inf"
            if lab in ("+Inf", "inf")
            else str(format_value(_le_key(lab), fc.unit or "short", fc.decimals))
        )
        if bucketed
        else lab
        for lab in labels
    ]
    trace = {
        "type": "heatmap",
        "x0": start + tz_ms,
        "dx": step,
        "y": ylabels,
        "z": [nan_to_none(r, 5) for r in z],
        "colorscale": _DARK_SCALES.get(scheme, scale),
        "showscale": bool((inst.panel.options.get("legend") or {}).get("show", True))
        if isinstance(inst.panel.options.get("legend"), dict)
        else True,
        "hovertemplate": "%{x}<br>le %{y}: %{z:.3~s}<extra></extra>",
        "ygap": 1,
    }
    layout = _base_layout()
    layout["xaxis"] = _x_axis(tr.start_ms, tr.end_ms, tz_ms)
    layout["yaxis"] = {"type": "category", "fixedrange": True, "tickfont": {"size": 10}, "automargin": True}
    layout["uirevision"] = inst.key
    fig = {"data": [trace], "layout": layout}
    return _graph(fig, inst.key, zoomable=ctx.zoom_graph_type), "ok" if float(
        z.sum()
    ) > 0 or z.size else "nodata"


# --------------------------------------------------------------------------- piechart, text, dashlist


def render_piechart(inst: PanelInstance, data: PanelData, ctx: RenderContext) -> tuple[Any, str]:
    items = [(n, v, fc) for n, v, _, fc in _reduced(inst, data, ctx) if not math.isnan(v)]
    if not items:
        return html.Div("No data", className="no-data"), "nodata"
    donut = inst.panel.options.get("pieType") == "donut"
    fc0 = inst.panel.field_config
    trace = {
        "type": "pie",
        "labels": [n for n, _, _ in items],
        "values": [v for _, v, _ in items],
        "text": [display_text(v, fc)[0] for _, v, fc in items],
        "textinfo": "percent",
        "hovertemplate": "%{label}: %{text} (%{percent})<extra></extra>",
        "marker": {
            "colors": [_series_color(i, fc0) for i in range(len(items))],
            "line": {"width": 1, "color": "#181b1f"},
        },
        "hole": 0.5 if donut else 0,
        "sort": False,
    }
    layout = _base_layout()
    layout["margin"] = {"l": 8, "r": 8, "t": 8, "b": 8}
    layout["showlegend"] = True
    layout["legend"] = {"font": {"size": 11}}
    return _graph({"data": [trace], "layout": layout}, inst.key), "ok"


def render_text(inst: PanelInstance, data: PanelData | None, ctx: RenderContext) -> tuple[Any, str]:
    opts = inst.panel.options
    content = interpolate(
        str(opts.get("content") or ""), ctx.variables, scoped=inst.scoped, default_format="text"
    )
    mode = str(opts.get("mode") or "markdown")
    if mode == "code":
        code = as_dict(opts.get("code"))
        lang = str(code.get("language") or "")
        return dcc.Markdown(f"```{lang}\n{content}\n```", className="text-panel"), "info"
    return dcc.Markdown(
        content, dangerously_allow_html=mode == "html", className="text-panel", link_target="_self"
    ), "info"


def render_dashlist(
    inst: PanelInstance, ctx: RenderContext, listing: list[tuple[str, str, list[str]]]
) -> tuple[Any, str]:
    opts = inst.panel.options
    q = str(opts.get("query") or "").lower()
    tags = [str(t) for t in opts.get("tags") or []]
    items = [
        html.Li(dcc.Link(title, href=url))
        for title, url, ttags in listing
        if (not q or q in title.lower()) and all(t in ttags for t in tags)
    ]
    return html.Ul(items, className="dashlist"), "info"


def render_unsupported(inst: PanelInstance) -> tuple[Any, str]:
    note = inst.panel.note or f"panel type '{inst.panel.original_type}' is not supported"
    return html.Div([html.Div("⚠", className="note-icon"), html.Div(note)], className="panel-note"), "info"


RENDERERS: dict[str, Callable[[PanelInstance, PanelData, RenderContext], tuple[Any, str]]] = {
    "timeseries": render_timeseries,
    "stat": render_stat,
    "gauge": render_gauge,
    "bargauge": render_bargauge,
    "table": render_table,
    "heatmap": render_heatmap,
    "piechart": render_piechart,
}


def render_panel(
    inst: PanelInstance,
    data: PanelData | None,
    ctx: RenderContext,
    listing: list[tuple[str, str, list[str]]] | None = None,
) -> tuple[Any, str, list[str]]:
    """The panel body, its status and its error messages (shown as a banner by the page)."""
    p = inst.panel
    if p.type == "text":
        body, status = render_text(inst, data, ctx)
        return body, status, []
    if p.type == "dashlist":
        body, status = render_dashlist(inst, ctx, listing or [])
        return body, status, []
    if p.type == "unsupported":
        body, status = render_unsupported(inst)
        return body, status, []
    if data is None:
        return html.Div("No data", className="no-data"), "nodata", []
    if not p.targets:
        return html.Div("No queries", className="no-data"), "nodata", []
    renderer = RENDERERS.get(p.type, render_timeseries)
    try:
        body, status = renderer(inst, data, ctx)
    except Exception as e:  # noqa: BLE001 - one broken panel must not break the page
        return (
            html.Div(className="no-data"),
            "error",
            [*data.errors, f"render error: {type(e).__name__}: {e}"],
        )
    if data.errors:
        status = "error"
    return body, status, data.errors
