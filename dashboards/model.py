"""The dashboard model: a tolerant reader of Grafana dashboard JSON (classic model).

Anything the model does not support is dropped with a note (``Dashboard.notes``), never an error:
imported dashboards must always render.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DashboardError",
    "Threshold",
    "FieldConfig",
    "Override",
    "Target",
    "Panel",
    "Variable",
    "Dashboard",
    "load_dashboard",
    "slugify",
    "SUPPORTED_PANELS",
    "named_color",
    "threshold_color",
]

SUPPORTED_PANELS = {
    "timeseries",
    "stat",
    "gauge",
    "bargauge",
    "table",
    "text",
    "heatmap",
    "row",
    "piechart",
    "dashlist",
}
# Legacy panel types read as their modern equivalents.
_LEGACY_TYPES = {
    "graph": "timeseries",
    "singlestat": "stat",
    "table-old": "table",
    "grafana-piechart-panel": "piechart",
    "grafana-singlestat-panel": "stat",
    "barchart": "bargauge",
}
_DEFAULT_THRESHOLDS = [(None, "green"), (80.0, "red")]


class DashboardError(ValueError):
    """The input is not a dashboard at all (not JSON, not an object)."""


def as_dict(v: Any) -> dict[str, Any]:
    """``v`` when it is a JSON object, else an empty one (for reading untrusted JSON)."""
    return v if isinstance(v, dict) else {}


def slugify(title: str) -> str:
    """Grafana's URL slug of a title: lowercase words joined by ``-``."""
    s = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return s or "dashboard"


# --------------------------------------------------------------------------- colors

_NAMED = {
    "green": "#73BF69",
    "dark-green": "#37872D",
    "semi-dark-green": "#56A64B",
    "light-green": "#96D98D",
    "super-light-green": "#C8F2C2",
    "red": "#F2495C",
    "dark-red": "#C4162A",
    "semi-dark-red": "#E02F44",
    "light-red": "#FF7383",
    "super-light-red": "#FFA6B0",
    "yellow": "#FADE2A",
    "dark-yellow": "#E0B400",
    "semi-dark-yellow": "#F2CC0C",
    "light-yellow": "#FFEE52",
    "super-light-yellow": "#FFF899",
    "orange": "#FF9830",
    "dark-orange": "#FA6400",
    "semi-dark-orange": "#FF780A",
    "light-orange": "#FFB357",
    "super-light-orange": "#FFCB7D",
    "blue": "#5794F2",
    "dark-blue": "#1F60C4",
    "semi-dark-blue": "#3274D9",
    "light-blue": "#8AB8FF",
    "super-light-blue": "#C0D8FF",
    "purple": "#B877D9",
    "dark-purple": "#8F3BB8",
    "semi-dark-purple": "#A352CC",
    "light-purple": "#CA95E5",
    "super-light-purple": "#DEB6F2",
    "text": "#CCCCDC",
    "white": "#FFFFFF",
    "black": "#000000",
    "transparent": "rgba(0,0,0,0)",
}
PALETTE = [
    "#73BF69",
    "#F2CC0C",
    "#8AB8FF",
    "#FF780A",
    "#F2495C",
    "#5794F2",
    "#B877D9",
    "#705DA0",
    "#37872D",
    "#FADE2A",
    "#447EBC",
    "#C15C17",
    "#890F02",
    "#0A437C",
    "#6D1F62",
    "#584477",
    "#B7DBAB",
    "#F4D598",
    "#70DBED",
    "#F9BA8F",
    "#F29191",
    "#82B5D8",
    "#E5A8E2",
    "#AEA2E0",
]


def named_color(c: str | None, default: str = "#73BF69") -> str:
    """CSS color for a Grafana color name (``semi-dark-red``) or pass a CSS color through."""
    if not c:
        return default
    return _NAMED.get(c.strip().lower(), c.strip())


# --------------------------------------------------------------------------- field config


@dataclass
class Threshold:
    """One threshold step: from ``value`` (None = -inf) upwards the color is ``color``."""

    value: float | None
    color: str


@dataclass
class Override:
    """A ``fieldConfig.overrides`` entry: a matcher and properties (``unit``, ``color``, …)."""

    matcher: str
    options: Any
    properties: dict[str, Any]

    def matches(self, name: str, ref_id: str = "") -> bool:
        """Whether this override applies to the field (series) ``name`` of query ``ref_id``."""
        opt = self.options
        if self.matcher == "byName":
            return isinstance(opt, str) and opt == name
        if self.matcher == "byRegexp":
            return isinstance(opt, str) and js_regex_test(opt, name)
        if self.matcher == "byFrameRefID":
            return opt == ref_id
        if self.matcher == "byNames":
            names = opt.get("names", []) if isinstance(opt, dict) else []
            return name in names
        return False


def js_regex_test(pattern: str, text: str) -> bool:
    """Grafana's ``stringToJsRegex(pattern).test(text)``: ``/re/flags`` searches, plain text must match whole."""
    m = re.fullmatch(r"/(.*)/([gimsuy]*)", pattern, re.S)
    try:
        if m:
            flags = re.I if "i" in m.group(2) else 0
            return re.search(m.group(1), text, flags) is not None
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return False


@dataclass
class FieldConfig:
    """``fieldConfig.defaults`` plus overrides (the parts Heron renders)."""

    unit: str = ""
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: list[Threshold] = field(default_factory=list)
    thresholds_mode: str = "absolute"
    color_mode: str = "palette-classic"
    fixed_color: str | None = None
    display_name: str = ""
    no_value: str = ""
    mappings: list[dict[str, Any]] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)

    def for_field(self, name: str, ref_id: str = "") -> FieldConfig:
        """The effective config of one series after applying matching overrides."""
        props: dict[str, Any] = {}
        for o in self.overrides:
            if o.matches(name, ref_id):
                props.update(o.properties)
        if not props:
            return self
        fc = copy.copy(self)
        fc.custom = dict(self.custom)
        for k, v in props.items():
            if k == "unit":
                fc.unit = str(v or "")
            elif k == "decimals":
                fc.decimals = _int_or_none(v)
            elif k == "min":
                fc.min = _float_or_none(v)
            elif k == "max":
                fc.max = _float_or_none(v)
            elif k == "displayName":
                fc.display_name = str(v or "")
            elif k == "color" and isinstance(v, dict):
                fc.color_mode = str(v.get("mode") or fc.color_mode)
                fc.fixed_color = v.get("fixedColor") or fc.fixed_color
            elif k == "thresholds" and isinstance(v, dict):
                fc.thresholds, fc.thresholds_mode = _thresholds(v)
            elif k == "mappings" and isinstance(v, list):
                fc.mappings = v
            elif k.startswith("custom."):
                _set_path(fc.custom, k[len("custom.") :], v)
        return fc


def _set_path(d: dict[str, Any], path: str, v: Any) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        nxt = d.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            d[p] = nxt
        d = nxt
    d[parts[-1]] = v


def _float_or_none(v: Any) -> float | None:
    if v is None or v == "" or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) or math.isinf(f) else None


def _int_or_none(v: Any) -> int | None:
    f = _float_or_none(v)
    return None if f is None or not math.isfinite(f) else int(f)


def _thresholds(obj: Any) -> tuple[list[Threshold], str]:
    if not isinstance(obj, dict):
        return [], "absolute"
    steps = []
    for s in obj.get("steps") or []:
        if isinstance(s, dict):
            steps.append(Threshold(_float_or_none(s.get("value")), str(s.get("color") or "green")))
    steps.sort(key=lambda t: -math.inf if t.value is None else t.value)
    return steps, str(obj.get("mode") or "absolute")


def threshold_color(
    value: float | None, steps: list[Threshold], mode: str = "absolute", lo: float = 0.0, hi: float = 100.0
) -> str:
    """The CSS color of ``value`` under threshold ``steps`` (``mode`` ``percentage`` uses lo..hi)."""
    if not steps:
        return named_color("green")
    color = steps[0].color
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return named_color(color)
    v = value
    if mode == "percentage":
        v = (value - lo) / (hi - lo) * 100 if hi != lo else 0.0
    for t in steps:
        if t.value is None or v >= t.value:
            color = t.color
    return named_color(color)


# --------------------------------------------------------------------------- targets, panels


@dataclass
class Target:
    """One query of a panel (``targets[]``)."""

    ref_id: str
    expr: str
    legend_format: str = ""
    instant: bool = False
    range: bool = True
    format: str = "time_series"
    interval: str = ""
    interval_factor: int = 1
    hide: bool = False


@dataclass
class Panel:
    """A panel (or a ``row``), with its position on the 24-column grid."""

    id: int
    type: str
    title: str = ""
    description: str = ""
    x: int = 0
    y: int = 0
    w: int = 12
    h: int = 8
    targets: list[Target] = field(default_factory=list)
    field_config: FieldConfig = field(default_factory=FieldConfig)
    options: dict[str, Any] = field(default_factory=dict)
    interval: str = ""
    max_data_points: int | None = None
    time_from: str = ""
    time_shift: str = ""
    repeat: str = ""
    repeat_direction: str = "h"
    max_per_row: int = 4
    transparent: bool = False
    collapsed: bool = False
    panels: list[Panel] = field(default_factory=list)
    transformations: list[dict[str, Any]] = field(default_factory=list)
    original_type: str = ""
    note: str = ""


@dataclass
class Variable:
    """A template variable (``templating.list[]``)."""

    name: str
    type: str
    label: str = ""
    hide: int = 0
    query: str = ""
    regex: str = ""
    sort: int = 0
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    current_text: list[str] = field(default_factory=list)
    current_value: list[str] = field(default_factory=list)
    options: list[tuple[str, str]] = field(default_factory=list)
    refresh: int = 1
    auto: bool = False
    auto_count: int = 30
    auto_min: str = "10s"
    skip_url_sync: bool = False
    description: str = ""


@dataclass
class Dashboard:
    """A dashboard ready to render; ``raw`` keeps the JSON it came from."""

    uid: str
    title: str
    tags: list[str] = field(default_factory=list)
    time_from: str = "now-6h"
    time_to: str = "now"
    refresh: str = ""
    timezone: str = "browser"
    panels: list[Panel] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)
    refresh_intervals: list[str] = field(default_factory=list)
    description: str = ""
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    folder: str = ""

    @property
    def slug(self) -> str:
        return slugify(self.title)

    @property
    def url(self) -> str:
        return f"/d/{self.uid}/{self.slug}"

    def all_panels(self) -> list[Panel]:
        """Every non-row panel, including those inside collapsed rows."""
        out: list[Panel] = []
        for p in self.panels:
            if p.type == "row":
                out.extend(p.panels)
            else:
                out.append(p)
        return out

    def panel_by_id(self, pid: int) -> Panel | None:
        for p in self.all_panels():
            if p.id == pid:
                return p
        return None


# --------------------------------------------------------------------------- loading


class _Notes:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        if msg not in self.items:
            self.items.append(msg)


_KNOWN_DASHBOARD_KEYS = {
    "id",
    "uid",
    "title",
    "tags",
    "time",
    "refresh",
    "timezone",
    "panels",
    "rows",
    "templating",
    "timepicker",
    "schemaVersion",
    "version",
    "editable",
    "gnetId",
    "graphTooltip",
    "description",
    "__inputs",
    "__requires",
    "__elements",
    "fiscalYearStartMonth",
    "liveNow",
    "weekStart",
    "style",
    "hideControls",
    "sharedCrosshair",
    "iteration",
    "preload",
    "revision",
    "annotations",
    "links",
}


def load_dashboard(data: str | bytes | dict[str, Any], source: str = "") -> Dashboard:
    """Read Grafana dashboard JSON (text or parsed). Raises :class:`DashboardError` only for non-dashboards."""
    if isinstance(data, bytes | str):
        try:
            obj = json.loads(data)
        except json.JSONDecodeError as e:
            raise DashboardError(f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    else:
        obj = data
    if not isinstance(obj, dict):
        raise DashboardError("a dashboard must be a JSON object")
    # API exports wrap the model: {"dashboard": {...}, "meta": {...}}
    if isinstance(obj.get("dashboard"), dict) and "panels" not in obj and "rows" not in obj:
        obj = obj["dashboard"]
    if "panels" not in obj and "rows" not in obj and "title" not in obj:
        raise DashboardError("no 'panels', 'rows' or 'title': this does not look like a Grafana dashboard")
    notes = _Notes()
    raw = copy.deepcopy(obj)
    title = str(obj.get("title") or "Untitled dashboard")
    uid = str(obj.get("uid") or "")
    if not uid:
        uid = hashlib.sha1(title.encode()).hexdigest()[:9]
        notes.add("no uid: derived one from the title")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", uid):
        uid = re.sub(r"[^A-Za-z0-9_.\-]", "-", uid)[:64] or "dashboard"
    t = as_dict(obj.get("time"))
    refresh = obj.get("refresh")
    tp = as_dict(obj.get("timepicker"))
    d = Dashboard(
        uid=uid,
        title=title,
        tags=[str(x) for x in obj.get("tags") or [] if isinstance(x, str | int | float)],
        time_from=str(t.get("from") or "now-6h"),
        time_to=str(t.get("to") or "now"),
        refresh=refresh if isinstance(refresh, str) else "",
        timezone=str(obj.get("timezone") or "browser"),
        refresh_intervals=[str(x) for x in tp.get("refresh_intervals") or [] if isinstance(x, str) and x],
        description=str(obj.get("description") or ""),
        raw=raw,
        source=source,
    )
    unknown = sorted(k for k in obj if k not in _KNOWN_DASHBOARD_KEYS)
    if unknown:
        notes.add("ignored dashboard fields: " + ", ".join(unknown))
    ann = obj.get("annotations")
    if isinstance(ann, dict):
        extra = [a for a in ann.get("list") or [] if isinstance(a, dict) and not a.get("builtIn")]
        if extra:
            notes.add(f"annotations are not shown ({len(extra)} annotation queries ignored)")
    if obj.get("links"):
        notes.add("dashboard links are not shown")
    if isinstance(obj.get("rows"), list) and not obj.get("panels"):
        notes.add("old schema (rows with span): converted to the 24-column grid")
        panels_json = _migrate_rows(obj["rows"])
    else:
        panels_json = obj.get("panels") if isinstance(obj.get("panels"), list) else []
    ids = _IdAlloc(panels_json)
    d.panels = [_panel(p, notes, ids) for p in panels_json if isinstance(p, dict)]
    tmpl = as_dict(obj.get("templating"))
    for v in tmpl.get("list") or []:
        if not isinstance(v, dict):
            continue
        var = _variable(v, notes)
        if var is not None:
            d.variables.append(var)
    d.notes = notes.items
    return d


class _IdAlloc:
    def __init__(self, panels: list[Any]) -> None:
        used: set[int] = set()

        def walk(ps: list[Any]) -> None:
            for p in ps:
                if isinstance(p, dict):
                    if isinstance(p.get("id"), int):
                        used.add(p["id"])
                    if isinstance(p.get("panels"), list):
                        walk(p["panels"])

        walk(panels)
        self.used = used
        self.next = max(used, default=0) + 1

    def take(self, want: Any) -> int:
        if isinstance(want, int) and not isinstance(want, bool):
            return want
        n = self.next
        self.next += 1
        self.used.add(n)
        return n


def _migrate_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """Schema < 16 (``rows[].panels[].span``) to gridPos panels, like Grafana's migrator."""
    out: list[dict[str, Any]] = []
    y = 0
    show_rows = len(rows) > 1 or any(isinstance(r, dict) and r.get("showTitle") for r in rows)
    for r in rows:
        if not isinstance(r, dict):
            continue
        height = r.get("height", 250)
        try:
            hpx = float(str(height).rstrip("px"))
        except ValueError:
            hpx = 250.0
        h = max(1, math.ceil(hpx / 38))  # grid cell 30px + 8px margin
        collapsed = bool(r.get("collapse"))
        children: list[dict[str, Any]] = []
        x = 0
        row_y = y + (1 if show_rows else 0)
        for p in r.get("panels") or []:
            if not isinstance(p, dict):
                continue
            span = p.get("span") or 12 / max(len(r.get("panels") or [1]), 1)
            w = max(1, min(24, int(float(span) * 2)))
            if x + w > 24:
                x = 0
                row_y += h
            q = dict(p)
            q["gridPos"] = {"x": x, "y": row_y, "w": w, "h": h}
            children.append(q)
            x += w
        if show_rows:
            row = {
                "type": "row",
                "title": r.get("title") or "",
                "collapsed": collapsed,
                "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
            }
            if r.get("repeat"):
                row["repeat"] = r["repeat"]
            if collapsed:
                row["panels"] = children
                out.append(row)
            else:
                row["panels"] = []
                out.append(row)
                out.extend(children)
        else:
            out.extend(children)
        y = row_y + h
    return out


def _target(t: dict[str, Any], i: int, notes: _Notes, ptitle: str) -> Target | None:
    ref = str(t.get("refId") or chr(ord("A") + i % 26))
    ds = t.get("datasource")
    ds_type = ds.get("type") if isinstance(ds, dict) else None
    if (
        ds_type
        and ds_type not in ("prometheus", "datasource", "__expr__")
        and not str(ds_type).startswith("$")
    ):
        notes.add(f"panel '{ptitle}': query {ref} uses data source type '{ds_type}': skipped")
        return None
    if ds_type == "__expr__" or "expression" in t and "expr" not in t:
        notes.add(f"panel '{ptitle}': server-side expression {ref} is not supported: skipped")
        return None
    expr = t.get("expr")
    if not isinstance(expr, str):
        if "expr" not in t and any(k in t for k in ("rawSql", "query", "target", "measurement")):
            notes.add(f"panel '{ptitle}': query {ref} is not PromQL: skipped")
        return None
    instant = bool(t.get("instant"))
    rng = t.get("range")
    fmt = str(t.get("format") or "time_series")
    try:
        factor = int(t.get("intervalFactor") or 1)
    except (TypeError, ValueError):
        factor = 1
    return Target(
        ref_id=ref,
        expr=expr,
        legend_format=str(t.get("legendFormat") or ""),
        instant=instant and not bool(rng),
        range=bool(rng) if rng is not None else not instant,
        format=fmt,
        interval=str(t.get("interval") or ""),
        interval_factor=max(factor, 1),
        hide=bool(t.get("hide")),
    )


_KNOWN_TRANSFORMS = {
    "merge",
    "organize",
    "renameByRegex",
    "seriesToRows",
    "reduce",
    "sortBy",
    "filterFieldsByName",
}


def _panel(p: dict[str, Any], notes: _Notes, ids: _IdAlloc) -> Panel:
    ptype = str(p.get("type") or "timeseries")
    title = str(p.get("title") or "")
    gp = as_dict(p.get("gridPos"))

    def gi(k: str, dflt: int) -> int:
        try:
            return int(gp.get(k, dflt))
        except (TypeError, ValueError):
            return dflt

    panel = Panel(
        id=ids.take(p.get("id")),
        type=ptype,
        title=title,
        description=str(p.get("description") or ""),
        x=max(0, min(23, gi("x", 0))),
        y=max(0, gi("y", 0)),
        w=max(1, min(24, gi("w", 12))),
        h=max(1, gi("h", 8)),
        original_type=ptype,
    )
    if panel.x + panel.w > 24:
        panel.w = 24 - panel.x
    if ptype == "row":
        panel.w, panel.x, panel.h = 24, 0, 1
        panel.collapsed = bool(p.get("collapsed"))
        panel.repeat = str(p.get("repeat") or "")
        panel.panels = [_panel(c, notes, ids) for c in p.get("panels") or [] if isinstance(c, dict)]
        return panel
    if p.get("libraryPanel"):
        notes.add(f"panel '{title}': library panels are not supported (shown as placeholder)")
        panel.type = "unsupported"
        panel.note = "library panel"
        return panel
    try:
        _fill_panel(panel, p, notes)
    except Exception as e:  # noqa: BLE001 - a bad panel must not break the dashboard
        notes.add(f"panel '{title}': could not be read ({type(e).__name__}: {e})")
        panel.type = "unsupported"
        panel.note = f"could not read this panel: {e}"
    return panel


def _fill_panel(panel: Panel, p: dict[str, Any], notes: _Notes) -> None:
    ptype = panel.type
    title = panel.title
    if ptype in _LEGACY_TYPES:
        panel.type = _LEGACY_TYPES[ptype]
    elif ptype not in SUPPORTED_PANELS:
        notes.add(f"panel '{title}': type '{ptype}' is not supported (shown as placeholder)")
        panel.type = "unsupported"
        panel.note = f"panel type '{ptype}' is not supported"
    panel.repeat = str(p.get("repeat") or "")
    panel.repeat_direction = "v" if p.get("repeatDirection") == "v" else "h"
    try:
        panel.max_per_row = max(1, int(p.get("maxPerRow") or 4))
    except (TypeError, ValueError):
        panel.max_per_row = 4
    panel.interval = str(p.get("interval") or "")
    mdp = p.get("maxDataPoints")
    panel.max_data_points = (
        int(mdp) if isinstance(mdp, int | float) and not isinstance(mdp, bool) and mdp > 0 else None
    )
    panel.time_from = str(p.get("timeFrom") or "")
    panel.time_shift = str(p.get("timeShift") or "")
    panel.transparent = bool(p.get("transparent"))
    ds = p.get("datasource")
    ds_type = ds.get("type") if isinstance(ds, dict) else None
    if (
        ds_type
        and ds_type not in ("prometheus", "datasource", "-- Mixed --", "grafana")
        and not str(ds_type).startswith("$")
    ):
        if p.get("targets"):
            notes.add(f"panel '{title}': data source type '{ds_type}' is not supported (queries skipped)")
            p = dict(p, targets=[])
    panel.targets = [
        t
        for i, raw in enumerate(p.get("targets") or [])
        if isinstance(raw, dict)
        for t in [_target(raw, i, notes, title)]
        if t
    ]
    panel.options = dict(p.get("options") or {}) if isinstance(p.get("options"), dict) else {}
    fc = as_dict(p.get("fieldConfig"))
    panel.field_config = _field_config(fc)
    tr = [t for t in p.get("transformations") or [] if isinstance(t, dict)]
    panel.transformations = tr
    for t in tr:
        if t.get("id") not in _KNOWN_TRANSFORMS:
            notes.add(f"panel '{title}': transformation '{t.get('id')}' is not supported (ignored)")
    if p.get("links"):
        notes.add(f"panel '{title}': panel links are not shown")
    if ptype == "graph":
        _migrate_graph(panel, p)
    elif ptype in ("singlestat", "grafana-singlestat-panel"):
        _migrate_singlestat(panel, p)
    elif ptype == "text" and "content" in p and "content" not in panel.options:
        panel.options["content"] = p.get("content")
        panel.options["mode"] = p.get("mode", "markdown")
    elif ptype == "table-old":
        styles = p.get("styles") or []
        for s in styles:
            if isinstance(s, dict) and s.get("unit") and s.get("pattern") in ("/.*/", "Value"):
                panel.field_config.unit = str(s["unit"])


def _field_config(fc: dict[str, Any]) -> FieldConfig:
    d = as_dict(fc.get("defaults"))
    steps, mode = _thresholds(d.get("thresholds"))
    color = as_dict(d.get("color"))
    overrides = []
    for o in fc.get("overrides") or []:
        if not isinstance(o, dict):
            continue
        m = as_dict(o.get("matcher"))
        props = {}
        for pr in o.get("properties") or []:
            if isinstance(pr, dict) and isinstance(pr.get("id"), str):
                props[pr["id"]] = pr.get("value")
        overrides.append(Override(str(m.get("id") or ""), m.get("options"), props))
    return FieldConfig(
        unit=str(d.get("unit") or ""),
        decimals=_int_or_none(d.get("decimals")),
        min=_float_or_none(d.get("min")),
        max=_float_or_none(d.get("max")),
        thresholds=steps,
        thresholds_mode=mode,
        color_mode=str(color.get("mode") or "palette-classic"),
        fixed_color=color.get("fixedColor"),
        display_name=str(d.get("displayName") or ""),
        no_value=str(d.get("noValue") or ""),
        mappings=[m for m in d.get("mappings") or [] if isinstance(m, dict)],
        custom=dict(d.get("custom") or {}) if isinstance(d.get("custom"), dict) else {},
        overrides=overrides,
    )


_LEGACY_CALCS = {"current": "lastNotNull", "avg": "mean", "total": "sum", "min": "min", "max": "max"}


def _migrate_graph(panel: Panel, p: dict[str, Any]) -> None:
    """Grafana's old ``graph`` panel read as ``timeseries``."""
    c = panel.field_config.custom
    if p.get("bars"):
        c.setdefault("drawStyle", "bars")
    elif p.get("points") and not p.get("lines", True):
        c.setdefault("drawStyle", "points")
    c.setdefault("fillOpacity", int(p.get("fill", 1) or 0) * 10)
    c.setdefault("lineWidth", p.get("linewidth", 1))
    if p.get("stack"):
        c.setdefault("stacking", {"mode": "percent" if p.get("percentage") else "normal"})
    if p.get("nullPointMode") == "connected":
        c.setdefault("spanNulls", True)
    yaxes = p.get("yaxes") or []
    if yaxes and isinstance(yaxes[0], dict):
        y = yaxes[0]
        if not panel.field_config.unit and y.get("format"):
            panel.field_config.unit = str(y["format"])
        if panel.field_config.min is None:
            panel.field_config.min = _float_or_none(y.get("min"))
        if panel.field_config.max is None:
            panel.field_config.max = _float_or_none(y.get("max"))
        if y.get("logBase") and y.get("logBase") != 1:
            c.setdefault("scaleDistribution", {"type": "log", "log": y.get("logBase")})
        if y.get("label"):
            c.setdefault("axisLabel", y.get("label"))
    if isinstance(p.get("decimals"), int) and panel.field_config.decimals is None:
        panel.field_config.decimals = p["decimals"]
    leg = as_dict(p.get("legend"))
    if leg:
        calcs = [v for k, v in _LEGACY_CALCS.items() if leg.get(k)]
        panel.options.setdefault(
            "legend",
            {
                "showLegend": leg.get("show", True),
                "displayMode": "table" if leg.get("alignAsTable") else "list",
                "placement": "right" if leg.get("rightSide") else "bottom",
                "calcs": calcs,
            },
        )
    tooltip = as_dict(p.get("tooltip"))
    if tooltip.get("shared"):
        panel.options.setdefault("tooltip", {"mode": "multi"})
    ths = [t for t in p.get("thresholds") or [] if isinstance(t, dict) and t.get("value") is not None]
    if ths and not panel.field_config.thresholds:
        steps = [Threshold(None, "transparent")]
        for t in ths:
            colors = {"critical": "red", "warning": "orange", "ok": "green"}
            color = colors.get(str(t.get("colorMode")), str(t.get("lineColor") or "red"))
            steps.append(Threshold(_float_or_none(t.get("value")), str(color)))
        panel.field_config.thresholds = steps
        c.setdefault("thresholdsStyle", {"mode": "line+area" if any(t.get("fill") for t in ths) else "line"})
    for so in p.get("seriesOverrides") or []:
        if isinstance(so, dict) and so.get("alias"):
            props: dict[str, Any] = {}
            if "color" in so:
                props["color"] = {"mode": "fixed", "fixedColor": so["color"]}
            if so.get("bars"):
                props["custom.drawStyle"] = "bars"
            if "fill" in so:
                props["custom.fillOpacity"] = int(so["fill"] or 0) * 10
            if props:
                alias = str(so["alias"])
                matcher = "byRegexp" if alias.startswith("/") else "byName"
                panel.field_config.overrides.append(Override(matcher, alias, props))


def _migrate_singlestat(panel: Panel, p: dict[str, Any]) -> None:
    """Grafana's old ``singlestat`` read as ``stat``."""
    fc = panel.field_config
    if not fc.unit and p.get("format"):
        fc.unit = str(p["format"])
    if isinstance(p.get("decimals"), int) and fc.decimals is None:
        fc.decimals = p["decimals"]
    value_name = str(p.get("valueName") or "avg")
    calc = {"current": "lastNotNull", "avg": "mean", "total": "sum", "name": "lastNotNull"}.get(
        value_name, value_name
    )
    ro = panel.options.setdefault("reduceOptions", {})
    ro.setdefault("calcs", [calc])
    spark = as_dict(p.get("sparkline"))
    panel.options.setdefault("graphMode", "area" if spark.get("show") else "none")
    if p.get("colorBackground"):
        panel.options.setdefault("colorMode", "background")
    elif p.get("colorValue"):
        panel.options.setdefault("colorMode", "value")
    else:
        panel.options.setdefault("colorMode", "none")
    th = str(p.get("thresholds") or "")
    colors = [c for c in p.get("colors") or [] if isinstance(c, str)]
    if th and not fc.thresholds and colors:
        vals = [_float_or_none(x) for x in th.split(",")]
        steps = [Threshold(None, colors[0])]
        for i, v in enumerate(vals):
            if v is not None and i + 1 < len(colors):
                steps.append(Threshold(v, colors[i + 1]))
        fc.thresholds = steps
    gauge = as_dict(p.get("gauge"))
    if gauge.get("show"):
        panel.type = "gauge"
        fc.min = fc.min if fc.min is not None else _float_or_none(gauge.get("minValue"))
        fc.max = fc.max if fc.max is not None else _float_or_none(gauge.get("maxValue"))
    vmaps = [m for m in p.get("valueMaps") or [] if isinstance(m, dict)]
    if vmaps and not fc.mappings:
        fc.mappings = [
            {"type": "value", "options": {str(m.get("value")): {"text": str(m.get("text", ""))}}}
            for m in vmaps
            if m.get("op", "=") == "="
        ]


_VAR_TYPES = {"query", "custom", "constant", "interval", "textbox", "datasource"}


def _variable(v: dict[str, Any], notes: _Notes) -> Variable | None:
    name = str(v.get("name") or "")
    vtype = str(v.get("type") or "query")
    if not name:
        return None
    if vtype not in _VAR_TYPES:
        notes.add(f"variable '{name}': type '{vtype}' is not supported (ignored)")
        return None
    q = v.get("query")
    if isinstance(q, dict):  # Grafana 9+: {"query": "label_values(...)", "refId": ...}
        q = q.get("query") or ""
    if not isinstance(q, str):
        q = "" if q is None else str(q)
    if vtype == "query" and not q and isinstance(v.get("definition"), str):
        q = v["definition"]
    cur = as_dict(v.get("current"))
    cv = cur.get("value")
    ct = cur.get("text")
    values = [str(x) for x in cv] if isinstance(cv, list) else ([] if cv is None else [str(cv)])
    texts = [str(x) for x in ct] if isinstance(ct, list) else ([] if ct is None else [str(ct)])
    options = []
    for o in v.get("options") or []:
        if isinstance(o, dict) and "value" in o:
            options.append((str(o.get("text", o["value"])), str(o["value"])))
    hide = v.get("hide", 0)
    try:
        sort = int(v.get("sort") or 0)
    except (TypeError, ValueError):
        sort = 0
    try:
        refresh = int(v.get("refresh") or 0)
    except (TypeError, ValueError):
        refresh = 1
    all_value = v.get("allValue")
    return Variable(
        name=name,
        type=vtype,
        label=str(v.get("label") or ""),
        hide=int(hide) if isinstance(hide, int) else 0,
        query=q,
        regex=str(v.get("regex") or ""),
        sort=sort,
        multi=bool(v.get("multi")),
        include_all=bool(v.get("includeAll")),
        all_value=str(all_value) if isinstance(all_value, str) and all_value != "" else None,
        current_text=texts,
        current_value=values,
        options=options,
        refresh=refresh,
        auto=bool(v.get("auto")),
        auto_count=int(v.get("auto_count") or 30) if str(v.get("auto_count") or "30").isdigit() else 30,
        auto_min=str(v.get("auto_min") or "10s"),
        skip_url_sync=bool(v.get("skipUrlSync")),
        description=str(v.get("description") or ""),
    )
