"""Template variables: resolution (options and current values) and ``$var`` interpolation.

Follows Grafana's template service and its Prometheus data source: ``$var``, ``${var}``,
``${var:format}``, ``[[var]]``; multi-value and All values become regex alternations with
Prometheus escaping; built-ins ``$__interval``, ``$__rate_interval``, ``$__range`` and friends.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from .model import Variable
from .timeutil import TimeRange, calculate_interval, format_interval, parse_interval_ms

__all__ = [
    "ALL_VALUE",
    "VariableSource",
    "ResolvedVariable",
    "interpolate",
    "resolve_variables",
    "parse_variable_query",
    "builtin_vars",
    "variable_dependencies",
]

ALL_VALUE = "$__all"
AUTO_PREFIX = "$__auto_interval_"

VARIABLE_RE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")


class VariableSource(Protocol):
    """What query variables need from the data source (a Prometheus API client)."""

    def label_names(
        self, match: list[str] | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[str]: ...

    def label_values(
        self,
        label: str,
        match: list[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[str]: ...

    def series(
        self, match: list[str], start_ms: int | None = None, end_ms: int | None = None
    ) -> list[dict[str, str]]: ...

    def query(self, expr: str, time_ms: int, ttl: float | None = None) -> Any: ...


@dataclass
class ResolvedVariable:
    """A variable with its options and current selection for one page render."""

    name: str
    type: str
    label: str
    hide: int
    multi: bool
    include_all: bool
    all_value: str | None
    options: list[tuple[str, str]]  # (text, value); All first when include_all
    values: list[str]  # selected values; [ALL_VALUE] when All is selected
    texts: list[str]
    error: str = ""
    skip_url_sync: bool = False
    description: str = ""
    ui_values: list[str] | None = None  # what the picker and URL hold, when it differs from values

    @property
    def is_all(self) -> bool:
        return ALL_VALUE in self.values

    def effective_values(self) -> list[str]:
        """The concrete values: All expands to every option (not the ``allValue`` regex)."""
        if self.is_all:
            return [v for _, v in self.options if v != ALL_VALUE]
        return list(self.values)

    def url_values(self) -> list[str]:
        return list(self.ui_values if self.ui_values is not None else self.values)


@dataclass
class Scoped:
    """A value bound for one repeated panel or row: ``{var: value}`` overrides."""

    values: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (text, value)


# --------------------------------------------------------------------------- escaping and formats


def _prom_regular_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("'", "\\\\'")


_PROM_SPECIAL = re.compile(r"[$^*{}\[\]+?.()|]")


def _prom_regex_escape(v: str) -> str:
    return _PROM_SPECIAL.sub(lambda m: "\\\\" + m.group(0), v.replace("\\", "\\\\\\\\"))


_JS_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")


def _regex_escape(v: str) -> str:
    return _JS_REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), v)


def _prometheus_format(values: list[str], var: ResolvedVariable | None) -> str:
    if var is not None and not var.multi and not var.include_all:
        return _prom_regular_escape(values[0] if values else "")
    esc = [_prom_regex_escape(v) for v in values]
    if len(esc) == 1:
        return esc[0]
    return "(" + "|".join(esc) + ")"


def _format(values: list[str], texts: list[str], fmt: str, name: str, var: ResolvedVariable | None) -> str:
    f = fmt.split(":", 1)[0] if fmt else ""
    if not f:
        return _prometheus_format(values, var)
    if f == "regex":
        esc = [_regex_escape(v) for v in values]
        return esc[0] if len(esc) == 1 else "(" + "|".join(esc) + ")"
    if f == "pipe":
        return "|".join(values)
    if f in ("csv", "raw"):
        return ",".join(values)
    if f == "json":
        return json.dumps(values[0] if len(values) == 1 else values)
    if f == "text":
        return " + ".join(texts or values)
    if f == "queryparam":
        return "&".join(f"var-{name}={urllib.parse.quote(v, safe='')}" for v in values)
    if f == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    if f == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if f == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if f == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    if f == "percentencode":
        joined = values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
        return urllib.parse.quote(joined, safe="")
    if f == "lucene":
        q = ['"' + re.sub(r'([+\-!(){}\[\]^"~*?:\\/ ])', r"\\\1", v) + '"' for v in values]
        return q[0] if len(q) == 1 else "(" + " OR ".join(q) + ")"
    if f == "distributed":
        return ",".join([values[0]] + [f"{name}={v}" for v in values[1:]]) if values else ""
    return _prometheus_format(values, var)


def interpolate(
    text: str,
    variables: Mapping[str, ResolvedVariable],
    builtins: Mapping[str, str] | None = None,
    scoped: Mapping[str, tuple[str, str]] | None = None,
    default_format: str = "",
) -> str:
    """Replace variable references in ``text``; unknown names are left as written."""
    if not text or ("$" not in text and "[[" not in text):
        return text
    builtins = builtins or {}
    scoped = scoped or {}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6) or default_format
        field_path = m.group(5)
        if name in scoped:
            txt, val = scoped[name]
            var = variables.get(name)
            if fmt:
                return _format([val], [txt], fmt, name, var)
            return _prometheus_format([val], var) if var is not None else val
        if name in builtins:
            val = builtins[name]
            if name in ("__from", "__to") and fmt.startswith("date"):
                return _format_date(int(val), fmt)
            return val
        var = variables.get(name)
        if var is None:
            return m.group(0)
        if field_path == "text" or fmt == "text":
            return " + ".join(var.texts)
        if var.is_all:
            if var.all_value is not None and fmt not in ("text", "queryparam"):
                return interpolate(var.all_value, variables, builtins, scoped)
            values = var.effective_values()
            texts = values
        else:
            values, texts = var.values, var.texts
        return _format(values, texts, fmt, name, var)

    return VARIABLE_RE.sub(repl, text)


def _format_date(ms: int, fmt: str) -> str:
    import datetime as _dt

    sub = fmt.split(":", 1)[1] if ":" in fmt else "iso"
    if sub == "seconds":
        return str(ms // 1000)
    dt = _dt.datetime.fromtimestamp(ms / 1000, _dt.UTC)
    if sub == "iso":
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return str(ms)


def builtin_vars(
    tr: TimeRange,
    interval_ms: int | None = None,
    rate_interval_ms: int | None = None,
    dashboard: str = "",
    step_ms: int | None = None,
) -> dict[str, str]:
    """The built-in variables for a query (``$__interval`` is the step Grafana sends to Prometheus)."""
    from .timeutil import format_duration

    range_s = round(tr.span_ms / 1000)
    out = {
        "__from": str(tr.start_ms),
        "__to": str(tr.end_ms),
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
        "__range_ms": str(tr.span_ms),
        "__dashboard": dashboard,
        "__org": "1",
        "timeFilter": "",
    }
    step = step_ms if step_ms is not None else interval_ms
    if step is not None:
        out["__interval"] = format_interval(step)
        out["__interval_ms"] = str(step)
    if rate_interval_ms is not None:
        out["__rate_interval"] = format_duration(rate_interval_ms)
        out["__rate_interval_ms"] = str(rate_interval_ms)
    return out


# --------------------------------------------------------------------------- variable queries


_LABEL_NAMES = re.compile(r"^label_names\(\s*\)\s*$")
_LABEL_NAMES_MATCH = re.compile(r"^label_names\((.+)\)\s*$", re.S)
_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?([a-zA-Z_$][a-zA-Z0-9_]*)\s*\)\s*$", re.S)
_METRICS = re.compile(r"^metrics\((.+)\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^query_result\((.+)\)\s*$", re.S)


def parse_variable_query(q: str) -> tuple[str, tuple[str, ...]]:
    """Classify a Prometheus variable query: (kind, args). Kinds: ``label_names``,
    ``label_values``, ``metrics``, ``query_result``, ``series``."""
    s = q.strip()
    if _LABEL_NAMES.match(s):
        return "label_names", ()
    m = _LABEL_NAMES_MATCH.match(s)
    if m:
        return "label_names", (m.group(1).strip(),)
    m = _LABEL_VALUES.match(s)
    if m:
        return "label_values", ((m.group(1) or "").strip(), m.group(2))
    m = _METRICS.match(s)
    if m:
        return "metrics", (m.group(1).strip(),)
    m = _QUERY_RESULT.match(s)
    if m:
        return "query_result", (m.group(1).strip(),)
    return "series", (s,)


def _js_regex(pattern: str) -> re.Pattern[str] | None:
    p = pattern.strip()
    flags = 0
    m = re.fullmatch(r"/(.*)/([gimsuy]*)", p, re.S)
    if m:
        p = m.group(1)
        if "i" in m.group(2):
            flags |= re.I
        if "m" in m.group(2):
            flags |= re.M
        if "s" in m.group(2):
            flags |= re.S
    p = re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", p)  # JS named groups
    try:
        return re.compile(p, flags)
    except re.error:
        return None


def _format_series(labels: dict[str, str], value: str | None = None, ts_ms: int | None = None) -> str:
    name = labels.get("__name__", "")
    body = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    s = f"{name}{{{body}}}"
    if value is not None:
        s += f" {value} {ts_ms}"
    return s


def run_variable_query(query: str, source: VariableSource, tr: TimeRange) -> list[str]:
    """Values (texts) returned by a Prometheus variable query."""
    kind, args = parse_variable_query(query)
    start, end = tr.start_ms, tr.end_ms
    # Round to the minute so repeated loads share cached responses.
    start, end = start - start % 60000, end - end % 60000 + 60000
    if kind == "label_names":
        return source.label_names([args[0]] if args else None, start, end)
    if kind == "label_values":
        selector, label = args
        return source.label_values(label, [selector] if selector else None, start, end)
    if kind == "metrics":
        rx = _js_regex(args[0])
        names = source.label_values("__name__", None, start, end)
        return [n for n in names if rx is None or rx.search(n)]
    if kind == "query_result":
        res = source.query(args[0], tr.end_ms)
        out = []
        for s in res.series:
            v = s.values[-1] if len(s.values) else float("nan")
            out.append(_format_series(s.labels, _num(v), int(s.ts[-1]) if len(s.ts) else tr.end_ms))
        return out
    return [_format_series(s) for s in source.series([args[0]], start, end)]


def _num(v: float) -> str:
    from .units import js_number

    return js_number(float(v))


def _apply_regex(values: list[str], regex: str) -> list[tuple[str, str]]:
    """Grafana's variable regex: filter and extract (named groups ``text``/``value`` or group 1)."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    rx = _js_regex(regex) if regex else None
    for v in values:
        text, value = v, v
        if rx is not None:
            m = rx.search(v)
            if not m:
                continue
            gd = m.groupdict()
            g_text, g_value = gd.get("text"), gd.get("value")
            if g_text is not None or g_value is not None:
                value = g_value if g_value is not None else (g_text or "")
                text = g_text if g_text is not None else value
            elif m.groups():
                g = next((x for x in m.groups() if x is not None), None)
                if g is None:
                    continue
                text = value = g
        if value in seen:
            continue
        seen.add(value)
        out.append((text, value))
    return out


def _natural_key(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _sort(options: list[tuple[str, str]], sort: int) -> list[tuple[str, str]]:
    if sort in (1, 2):
        return sorted(options, key=lambda o: o[0], reverse=sort == 2)
    if sort in (3, 4):

        def num(o: tuple[str, str]) -> float:
            m = re.search(r"-?\d+(\.\d+)?", o[0])
            return float(m.group(0)) if m else float("-inf")

        return sorted(options, key=num, reverse=sort == 4)
    if sort in (5, 6):
        return sorted(options, key=lambda o: o[0].lower(), reverse=sort == 6)
    if sort in (7, 8):
        return sorted(options, key=lambda o: _natural_key(o[0]), reverse=sort == 8)
    return options


def _split_custom(query: str) -> list[tuple[str, str]]:
    out = []
    for part in re.findall(r"(?:\\,|[^,])+", query):
        p = part.strip().replace("\\,", ",")
        if not p:
            continue
        text, sep, value = p.partition(" : ")
        out.append((text.strip(), value.strip()) if sep else (p, p))
    return out


def variable_dependencies(var: Variable, names: set[str]) -> set[str]:
    """Names of other variables ``var``'s query or regex refers to."""
    deps: set[str] = set()
    for text in (var.query, var.regex):
        for m in VARIABLE_RE.finditer(text or ""):
            n = m.group(1) or m.group(2) or m.group(4)
            if n in names and n != var.name:
                deps.add(n)
    return deps


def _order(variables: list[Variable]) -> list[list[Variable]]:
    """Variables grouped in dependency levels (each level only depends on earlier ones)."""
    names = {v.name for v in variables}
    deps = {v.name: variable_dependencies(v, names) for v in variables}
    done: set[str] = set()
    levels: list[list[Variable]] = []
    left = list(variables)
    while left:
        level = [v for v in left if deps[v.name] <= done]
        if not level:  # a cycle: take them in list order
            level = [left[0]]
        levels.append(level)
        done.update(v.name for v in level)
        left = [v for v in left if v.name not in done]
    return levels


def resolve_variables(
    variables: list[Variable],
    source: VariableSource | None,
    tr: TimeRange,
    url_values: Mapping[str, list[str]] | None = None,
    run_parallel: Callable[[list[Callable[[], Any]]], list[Any]] | None = None,
) -> dict[str, ResolvedVariable]:
    """Options and current values of every variable (chained variables see earlier selections).

    ``url_values`` are the ``var-<name>`` query parameters. ``run_parallel`` runs a list of
    thunks concurrently (variables of one dependency level), defaulting to sequential.
    """
    url_values = url_values or {}
    resolved: dict[str, ResolvedVariable] = {}
    run = run_parallel or (lambda fns: [f() for f in fns])
    for level in _order(variables):
        snapshot = dict(resolved)
        thunks: list[Callable[[], Any]] = [
            partial(_resolve_one, v, source, tr, url_values.get(v.name), snapshot) for v in level
        ]
        results = run(thunks)
        for v, r in zip(level, results, strict=True):
            resolved[v.name] = r
    # keep declaration order
    return {v.name: resolved[v.name] for v in variables}


def _resolve_one(
    v: Variable,
    source: VariableSource | None,
    tr: TimeRange,
    url: list[str] | None,
    earlier: Mapping[str, ResolvedVariable],
) -> ResolvedVariable:
    error = ""
    options: list[tuple[str, str]] = []
    if v.type == "query":
        q = interpolate(v.query, earlier, builtin_vars(tr))
        if source is None:
            options = list(v.options)
        else:
            try:
                options = _apply_regex(
                    run_variable_query(q, source, tr), interpolate(v.regex, earlier, {}, None, "regex")
                )
            except Exception as e:  # noqa: BLE001 - shown on the variable, the dashboard still renders
                error = f"{type(e).__name__}: {e}"
                options = [o for o in v.options if o[1] != ALL_VALUE]
        options = _sort(options, v.sort)
    elif v.type == "custom":
        options = _split_custom(v.query)
    elif v.type == "interval":
        options = [(o, o) for o in (x.strip() for x in v.query.split(",")) if o]
        if v.auto:
            options.insert(0, ("auto", AUTO_PREFIX + v.name))
    elif v.type == "constant":
        options = [(v.query, v.query)]
    elif v.type == "textbox":
        cur = url[0] if url else (v.current_value[0] if v.current_value else v.query)
        return ResolvedVariable(
            v.name,
            v.type,
            v.label or v.name,
            v.hide,
            False,
            False,
            None,
            [(cur, cur)],
            [cur],
            [cur],
            skip_url_sync=v.skip_url_sync,
            description=v.description,
        )
    elif v.type == "datasource":
        options = [("Prometheus", "prometheus")]
    include_all = v.include_all and v.type in ("query", "custom")
    if include_all:
        options = [("All", ALL_VALUE)] + [o for o in options if o[1] != ALL_VALUE]
    values = _select(v, options, url)
    by_value = {val: txt for txt, val in options}
    texts = ["All" if x == ALL_VALUE else by_value.get(x, x) for x in values]
    ui_values = None
    if v.type == "interval" and values and values[0].startswith(AUTO_PREFIX):
        try:
            auto_min = parse_interval_ms(v.auto_min)
        except ValueError:
            auto_min = 10_000
        ui_values = values[:1]
        values = [format_interval(calculate_interval(tr.span_ms, max(v.auto_count, 1), auto_min))]
        texts = ["auto"]
    return ResolvedVariable(
        name=v.name,
        type=v.type,
        label=v.label or v.name,
        hide=v.hide,
        multi=v.multi and v.type in ("query", "custom"),
        include_all=include_all,
        all_value=v.all_value,
        options=options,
        values=values,
        texts=texts,
        error=error,
        skip_url_sync=v.skip_url_sync,
        description=v.description,
        ui_values=ui_values,
    )


def _select(v: Variable, options: list[tuple[str, str]], url: list[str] | None) -> list[str]:
    valid = {val for _, val in options}
    texts = {txt: val for txt, val in options}
    wanted: list[str] = []
    if url:
        wanted = [ALL_VALUE if u in ("$__all", "All") and v.include_all else u for u in url]
        wanted = [texts.get(w, w) if w not in valid else w for w in wanted]
        if v.type in ("query", "custom", "textbox") or any(w in valid for w in wanted):
            # Grafana keeps values from the URL (custom values are allowed)
            return wanted if (v.multi or len(wanted) <= 1) else wanted[:1]
    cur = [c for c in v.current_value if c]
    if cur:
        if "$__all" in cur and v.include_all:
            return [ALL_VALUE]
        if v.type == "interval" and cur[0].startswith(AUTO_PREFIX) and v.auto:
            return [AUTO_PREFIX + v.name]
        ok = [c for c in cur if c in valid]
        if ok:
            return ok if v.multi else ok[:1]
        if not options:
            return cur if v.multi else cur[:1]
    if options:
        return [options[0][1]]
    return []
