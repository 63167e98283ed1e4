"""From a dashboard to data: grid layout (rows, repeats), per-query step, concurrent execution, frames."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from .client import ApiError, Inspect, PrometheusClient
from .model import Dashboard, Panel, Target
from .templating import ResolvedVariable, builtin_vars, interpolate, resolve_variables
from .timeutil import QueryInterval, TimeRange, align_range, parse_interval_ms, query_interval

__all__ = [
    "PanelInstance",
    "layout_panels",
    "QueryRequest",
    "Frame",
    "PanelData",
    "RenderContext",
    "Runner",
    "legend_name",
]

GRID_COLUMNS = 24
CELL_HEIGHT = 30
CELL_MARGIN = 8


# --------------------------------------------------------------------------- layout


@dataclass
class PanelInstance:
    """A panel placed on the page: grid position after rows/repeats, and its scoped variables."""

    panel: Panel
    key: str
    x: int
    y: int
    w: int
    h: int
    scoped: dict[str, tuple[str, str]] = field(default_factory=dict)
    row_key: str = ""
    collapsed: bool = False

    @property
    def is_row(self) -> bool:
        return self.panel.type == "row"


def _repeat_values(name: str, variables: Mapping[str, ResolvedVariable]) -> list[tuple[str, str]]:
    var = variables.get(name)
    if var is None:
        return []
    if var.is_all:
        return [(t, v) for t, v in var.options if v != "$__all"]
    by_value = {v: t for t, v in var.options}
    return [(by_value.get(v, v), v) for v in var.values]


class _Skyline:
    def __init__(self) -> None:
        self.heights = [0] * GRID_COLUMNS

    def place(self, x: int, w: int, h: int) -> int:
        x = max(0, min(x, GRID_COLUMNS - 1))
        w = max(1, min(w, GRID_COLUMNS - x))
        y = max(self.heights[x : x + w])
        for i in range(x, x + w):
            self.heights[i] = y + h
        return y

    def full_row(self, h: int = 1) -> int:
        y = max(self.heights)
        self.heights = [y + h] * GRID_COLUMNS
        return y


def layout_panels(
    dashboard: Dashboard,
    variables: Mapping[str, ResolvedVariable],
    collapsed: Mapping[str, bool] | None = None,
) -> list[PanelInstance]:
    """Place every visible panel on the grid, expanding repeated panels and rows.

    Panels float up (vertical compaction, as Grafana's grid does); collapsed rows hide their
    panels. ``collapsed`` overrides a row's state by row key (``row-<id>[-<n>]``).
    """
    collapsed = collapsed or {}
    top = sorted(dashboard.panels, key=lambda p: (p.y, p.x))
    sections: list[tuple[Panel | None, list[Panel]]] = [(None, [])]
    for p in top:
        if p.type == "row":
            sections.append((p, list(p.panels)))
        else:
            sections[-1][1].append(p)
    sky = _Skyline()
    out: list[PanelInstance] = []
    for row, children in sections:
        children = sorted(children, key=lambda p: (p.y, p.x))
        if row is None:
            _place_children(children, {}, "", sky, variables, out)
            continue
        clones: list[dict[str, tuple[str, str]]] = [{}]
        if row.repeat:
            vals = _repeat_values(row.repeat, variables)
            if vals:
                clones = [{row.repeat: tv} for tv in vals]
        for i, scoped in enumerate(clones):
            key = f"row-{row.id}" + (f"-{i}" if len(clones) > 1 else "")
            is_collapsed = collapsed.get(key, row.collapsed)
            y = sky.full_row(1)
            out.append(PanelInstance(row, key, 0, y, GRID_COLUMNS, 1, dict(scoped), key, is_collapsed))
            if not is_collapsed:
                _place_children(
                    children, scoped, key, sky, variables, out, suffix=f"-{i}" if len(clones) > 1 else ""
                )
    return out


def _place_children(
    panels: list[Panel],
    scoped: dict[str, tuple[str, str]],
    row_key: str,
    sky: _Skyline,
    variables: Mapping[str, ResolvedVariable],
    out: list[PanelInstance],
    suffix: str = "",
) -> None:
    for p in panels:
        vals = _repeat_values(p.repeat, variables) if p.repeat else []
        if not vals:
            y = sky.place(p.x, p.w, p.h)
            out.append(
                PanelInstance(
                    p, f"{p.id}{suffix}", p.x, y, min(p.w, GRID_COLUMNS - p.x), p.h, dict(scoped), row_key
                )
            )
            continue
        if p.repeat_direction == "v":
            for i, tv in enumerate(vals):
                y = sky.place(p.x, p.w, p.h)
                sc = dict(scoped)
                sc[p.repeat] = tv
                out.append(PanelInstance(p, f"{p.id}{suffix}-r{i}", p.x, y, p.w, p.h, sc, row_key))
            continue
        w = max(GRID_COLUMNS // len(vals), GRID_COLUMNS // max(p.max_per_row, 1), 1)
        x = 0
        for i, tv in enumerate(vals):
            if x + w > GRID_COLUMNS:
                x = 0
            y = sky.place(x, w, p.h)
            sc = dict(scoped)
            sc[p.repeat] = tv
            out.append(PanelInstance(p, f"{p.id}{suffix}-r{i}", x, y, w, p.h, sc, row_key))
            x += w


# --------------------------------------------------------------------------- requests and frames


@dataclass
class QueryRequest:
    """One Prometheus call for one target of one panel instance."""

    panel_key: str
    target: Target
    expr: str
    instant: bool
    start_ms: int
    end_ms: int
    interval: QueryInterval

    @property
    def step_ms(self) -> int:
        return self.interval.step_ms


@dataclass
class Frame:
    """A series ready for display: name, labels, timestamps (ms) and values."""

    name: str
    labels: dict[str, str]
    ts: np.ndarray
    values: np.ndarray
    ref_id: str
    instant: bool = False
    step_ms: int = 0
    start_ms: int = 0  # the query's (aligned) range, for drawing on a common grid
    end_ms: int = 0


@dataclass
class PanelData:
    """Everything a panel needs to draw: frames, errors, the time range and what was asked."""

    frames: list[Frame]
    errors: list[str]
    warnings: list[str]
    time_range: TimeRange
    requests: list[QueryRequest]
    inspects: list[Inspect]
    duration_ms: float = 0.0


_LEGEND_RE = re.compile(r"\{\{\s*(.+?)\s*\}\}")


def legend_name(labels: Mapping[str, str], legend_format: str, expr: str) -> str:
    """The series name: ``legendFormat`` with ``{{label}}`` filled, else ``metric{labels}`` or the expr."""
    if legend_format and legend_format != "__auto":
        return _LEGEND_RE.sub(lambda m: labels.get(m.group(1), m.group(1)) or "", legend_format)
    name = labels.get("__name__", "")
    rest = [(k, v) for k, v in labels.items() if k != "__name__"]
    if not rest:
        return name or expr
    return name + "{" + ", ".join(f'{k}="{v}"' for k, v in rest) + "}"


@dataclass
class RenderContext:
    """Per-page state: time range, variables, viewer width and timezone offset."""

    dashboard_uid: str
    time_range: TimeRange
    variables: dict[str, ResolvedVariable]
    viewport_width: int = 1600
    tz_offset_min: int = 0
    now_ms: int = 0
    scrape_interval_ms: int = 15_000
    zoom_graph_type: str = "ts-graph"  # the id type of time graphs (drag-to-zoom callbacks match on it)


class Runner:
    """Runs a dashboard's queries concurrently against one Prometheus API."""

    def __init__(
        self, client: PrometheusClient, max_workers: int = 16, scrape_interval_ms: int = 15_000
    ) -> None:
        self.client = client
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="heron-dash-q")
        self.scrape_interval_ms = scrape_interval_ms

    def parallel(self, fns: list[Callable[[], Any]]) -> list[Any]:
        """Run thunks concurrently, preserving order (exceptions are returned, not raised)."""
        if len(fns) <= 1:
            return [_call(f) for f in fns]
        futs = [self.pool.submit(_call, f) for f in fns]
        return [f.result() for f in futs]

    def resolve(
        self, dashboard: Dashboard, tr: TimeRange, url_values: Mapping[str, list[str]]
    ) -> dict[str, ResolvedVariable]:
        """Resolve the dashboard's variables (levels of independent variables run concurrently)."""

        def run(fns: list[Callable[[], Any]]) -> list[Any]:
            res = self.parallel(fns)
            for r in res:
                if isinstance(r, BaseException):
                    raise r
            return res

        return resolve_variables(dashboard.variables, self.client, tr, url_values, run)

    def panel_time_range(self, panel: Panel, ctx: RenderContext) -> TimeRange:
        """The panel's range after its ``timeFrom``/``timeShift`` overrides."""
        tr = ctx.time_range
        start, end = tr.start_ms, tr.end_ms
        raw_from, raw_to = tr.raw_from, tr.raw_to
        try:
            if panel.time_from:
                tf = interpolate(panel.time_from, ctx.variables).removeprefix("now-")
                start = end - parse_interval_ms(tf)
                raw_from = f"now-{tf}"
            if panel.time_shift:
                ts = parse_interval_ms(interpolate(panel.time_shift, ctx.variables).removeprefix("now-"))
                start, end = start - ts, end - ts
        except ValueError:
            pass
        return TimeRange(raw_from, raw_to, start, end)

    def requests_for(self, inst: PanelInstance, ctx: RenderContext) -> tuple[list[QueryRequest], TimeRange]:
        """The Prometheus calls one panel instance makes."""
        panel = inst.panel
        tr = self.panel_time_range(panel, ctx)
        width_px = max(int(ctx.viewport_width * inst.w / GRID_COLUMNS) - 16, 50)
        mdp = panel.max_data_points or width_px
        min_interval = None
        if panel.interval:
            try:
                min_interval = parse_interval_ms(
                    interpolate(panel.interval, ctx.variables, scoped=inst.scoped)
                )
            except ValueError:
                min_interval = None
        reqs = []
        for t in panel.targets:
            if t.hide or not t.expr.strip():
                continue
            target_interval = interpolate(t.interval, ctx.variables, scoped=inst.scoped) if t.interval else ""
            if t.interval in ("$__rate_interval", "${__rate_interval}", "$__interval", "${__interval}"):
                target_interval = t.interval
            qi = query_interval(
                tr.span_ms,
                mdp,
                panel_min_interval_ms=min_interval,
                scrape_interval_ms=ctx.scrape_interval_ms,
                target_interval=target_interval,
                interval_factor=t.interval_factor,
            )
            b = builtin_vars(tr, qi.interval_ms, qi.rate_interval_ms, ctx.dashboard_uid, step_ms=qi.step_ms)
            expr = interpolate(t.expr, ctx.variables, b, inst.scoped)
            if t.instant:
                reqs.append(QueryRequest(inst.key, t, expr, True, tr.start_ms, tr.end_ms, qi))
            else:
                start, end = align_range(tr.start_ms, tr.end_ms, qi.step_ms)
                reqs.append(QueryRequest(inst.key, t, expr, False, start, end, qi))
        return reqs, tr

    def _execute(self, r: QueryRequest) -> Any:
        if r.instant:
            return self.client.query(r.expr, r.end_ms)
        return self.client.query_range(r.expr, r.start_ms, r.end_ms, r.step_ms)

    def run_panels(self, instances: list[PanelInstance], ctx: RenderContext) -> dict[str, PanelData]:
        """Query every panel instance concurrently; returns data by instance key."""
        plan: list[tuple[PanelInstance, list[QueryRequest], TimeRange]] = []
        all_reqs: list[QueryRequest] = []
        for inst in instances:
            if inst.is_row or inst.panel.type in ("text", "unsupported", "dashlist"):
                continue
            reqs, tr = self.requests_for(inst, ctx)
            plan.append((inst, reqs, tr))
            all_reqs.extend(reqs)
        t0 = time.perf_counter()
        thunks: list[Callable[[], Any]] = [partial(self._execute, r) for r in all_reqs]
        results = self.parallel(thunks)
        elapsed = (time.perf_counter() - t0) * 1000
        by_req = {id(r): res for r, res in zip(all_reqs, results, strict=True)}
        out: dict[str, PanelData] = {}
        for inst, reqs, tr in plan:
            out[inst.key] = self._frames(inst, reqs, tr, by_req, ctx, elapsed)
        return out

    def _frames(
        self,
        inst: PanelInstance,
        reqs: list[QueryRequest],
        tr: TimeRange,
        by_req: dict[int, Any],
        ctx: RenderContext,
        elapsed: float,
    ) -> PanelData:
        frames: list[Frame] = []
        errors: list[str] = []
        warnings: list[str] = []
        inspects: list[Inspect] = []
        for r in reqs:
            res = by_req[id(r)]
            if isinstance(res, ApiError):
                errors.append(f"{r.target.ref_id}: {res}")
                continue
            if isinstance(res, BaseException):
                errors.append(f"{r.target.ref_id}: {type(res).__name__}: {res}")
                continue
            if res.inspect is not None:
                inspects.append(res.inspect)
            warnings.extend(res.warnings)
            lf = interpolate(r.target.legend_format, ctx.variables, scoped=inst.scoped, default_format="text")
            for s in res.series:
                frames.append(
                    Frame(
                        name=legend_name(s.labels, lf, r.expr),
                        labels=s.labels,
                        ts=s.ts,
                        values=s.values,
                        ref_id=r.target.ref_id,
                        instant=r.instant,
                        step_ms=r.step_ms,
                        start_ms=r.start_ms,
                        end_ms=r.end_ms,
                    )
                )
        return PanelData(frames, errors, warnings, tr, reqs, inspects, elapsed)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _call(f: Callable[[], Any]) -> Any:
    try:
        return f()
    except Exception as e:  # noqa: BLE001 - returned to the caller per query
        return e


def grid_values(frame: Frame, start_ms: int, end_ms: int, step_ms: int) -> tuple[int, np.ndarray]:
    """Values on the full step grid from ``start_ms`` (NaN where Prometheus returned nothing)."""
    if step_ms <= 0 or frame.instant:
        return start_ms, frame.values
    n = int((end_ms - start_ms) // step_ms) + 1
    n = max(min(n, 20000), 1)
    out = np.full(n, np.nan)
    if len(frame.ts):
        idx = np.round((frame.ts - start_ms) / step_ms).astype(np.int64)
        ok = (idx >= 0) & (idx < n)
        out[idx[ok]] = frame.values[ok]
    return start_ms, out


def finite(values: np.ndarray) -> np.ndarray:
    """The finite values of ``values``."""
    return values[np.isfinite(values)] if len(values) else values


def nan_to_none(values: np.ndarray, digits: int = 6) -> list[float | None]:
    """A JSON-ready list: NaN/Inf become None, values rounded to ``digits`` significant digits."""
    if not len(values):
        return []
    v = values.astype(np.float64)
    bad = ~np.isfinite(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(bad | (v == 0), 0, np.floor(np.log10(np.abs(np.where(bad, 1, v)))))
    scale = 10.0 ** (digits - 1 - mag)
    r = np.round(v * scale) / scale
    out: list[float | None] = r.tolist()
    if bad.any():
        for i in np.flatnonzero(bad):
            out[i] = None
    return out


def is_nan(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))
