"""HTTP API v1 handlers, answering exactly as Prometheus does.

Parameters come from the URL and, for POST, from a form body (form values
first, as Go's ``r.FormValue``). Times are unix seconds (float) or RFC 3339;
durations Prometheus durations or float seconds. Errors are
``{"status":"error","errorType":…,"error":…}`` with Prometheus's status codes:
``bad_data`` 400, ``execution`` 422, ``canceled`` 499, ``timeout`` 503,
``internal`` and ``unavailable`` 500, ``not_found`` 404.

Queries run in the server's thread pool (never on the event loop); a client
that goes away cancels its query.

``/api/v1/rules``, ``/alerts``, ``/targets``, ``/targets/metadata``,
``/metadata`` and ``/alertmanagers`` are served from the providers in
:mod:`server.interface`; until the rules manager, scrape manager and notifier
are plugged in they return Prometheus's empty shapes.
"""

from __future__ import annotations

import asyncio
import calendar
import copy
import math
import os
import platform
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiMapping

from promql.engine import Matrix, Result, Vector
from promql.errors import ParseError
from promql.eval_errors import EvalError
from promql.parser import parse_duration, parse_expr, parse_metric_selector
from scraper.config import format_duration
from tsdb.interface import Labels, Matcher, SelectHints
from tsdb.labels import is_valid_label_name

from .app import STATE, ServerState
from .jsonfmt import dumps, error_body, json_str, labels_list_json, result_json, str_list_json, success_body

__all__ = ["ApiError", "MAX_TIME_MS", "MIN_TIME_MS", "parse_time"]

# Prometheus's MinTime/MaxTime in milliseconds (what the API uses when start/end are absent).
MIN_TIME_MS = (-9223372036854775 + 62135596801) * 1000
MAX_TIME_MS = (9223372036854775 - 62135596801) * 1000 + 999
_MIN_TIME_STR = "-292273086-05-16T16:47:06Z"
_MAX_TIME_STR = "292277025-08-18T07:12:54.999999999Z"
_OVERFLOW_MS = -9223372036854  # what Go's int64(±Inf or huge) seconds turns into

STATUS = {
    "bad_data": 400,
    "execution": 422,
    "canceled": 499,
    "timeout": 503,
    "internal": 500,
    "not_found": 404,
    "unavailable": 500,
    "not_acceptable": 406,
}


class ApiError(Exception):
    """An API error with Prometheus's ``errorType``."""

    def __init__(self, error_type: str, msg: str) -> None:
        super().__init__(msg)
        self.error_type = error_type
        self.msg = msg


def error_response(e: ApiError) -> web.Response:
    return web.Response(
        body=error_body(e.error_type, e.msg),
        status=STATUS.get(e.error_type, 500),
        content_type="application/json",
    )


def ok(data_json: str, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> web.Response:
    return web.Response(body=success_body(data_json, warnings, infos), content_type="application/json")


def _state(request: web.Request) -> ServerState:
    return request.app[STATE]


async def params(request: web.Request) -> MultiMapping[str]:
    """URL and form parameters, form values first (Go's ``r.Form``)."""
    if request.method in ("POST", "PUT") and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        merged: MultiDict[str] = MultiDict()
        for k, v in form.items():
            if isinstance(v, str):
                merged.add(k, v)
        merged.extend(request.query)
        return merged
    return request.query


# =========================================================================== parameter parsing

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


def _round_half_away(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def parse_time(s: str) -> int:
    """Prometheus's ``parseTime``: unix seconds (float) or RFC 3339, to milliseconds."""
    try:
        if "x" in s.lower() or s.strip() != s:
            raise ValueError
        f = float(s)
    except ValueError:
        f = None
    if f is not None:
        if not math.isfinite(f) or abs(f) >= 2**63:
            return _OVERFLOW_MS
        sec = math.trunc(f)
        frac = _round_half_away((f - sec) * 1000) / 1000
        nsec = int(frac * 1e9)
        if nsec < 0:
            sec -= 1
            nsec += 1_000_000_000
        return sec * 1000 + nsec // 1_000_000
    m = _RFC3339.match(s)
    if m:
        y, mo, d, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
        try:
            secs = calendar.timegm((y, mo, d, hh, mi, ss, 0, 0, 0))
            if not (1 <= mo <= 12 and 1 <= d <= 31 and hh < 24 and mi < 60 and ss < 60):
                raise ValueError
        except (ValueError, OverflowError):
            raise ValueError(f'cannot parse "{s}" to a valid timestamp') from None
        if m.group(9):
            off = (int(m.group(10)) * 60 + int(m.group(11))) * 60
            secs -= off if m.group(9) == "+" else -off
        ms = int((m.group(7) or "0")[:3].ljust(3, "0"))
        return secs * 1000 + ms
    if s == _MIN_TIME_STR:
        return MIN_TIME_MS
    if s == _MAX_TIME_STR:
        return MAX_TIME_MS
    raise ValueError(f"cannot parse {json_str(s)} to a valid timestamp")


def _time_param(p: Any, name: str, default: int, *, wrap: bool = True) -> int:
    v = p.get(name, "")
    if v == "":
        return default
    try:
        return parse_time(v)
    except ValueError as e:
        inner = f"Invalid time value for '{name}': {e}" if wrap else str(e)
        raise ApiError("bad_data", f"invalid parameter {json_str(name)}: {inner}") from None


def _duration_param(p: Any, name: str) -> int:
    v = p.get(name, "")
    try:
        return parse_duration(v)
    except ValueError as e:
        raise ApiError("bad_data", f"invalid parameter {json_str(name)}: {e}") from None


def _limit_param(p: Any) -> int:
    v = p.get("limit", "")
    if v == "":
        return 0
    try:
        n = int(v)
    except ValueError:
        raise ApiError(
            "bad_data", f'invalid parameter "limit": cannot parse {json_str(v)} to a valid limit'
        ) from None
    if n < 0:
        raise ApiError("bad_data", 'invalid parameter "limit": limit must be non-negative')
    return n


def _timeout_s(st: ServerState, p: Any) -> float:
    """The query timeout: the ``timeout`` parameter, capped by ``--query.timeout``."""
    limit = st.engine.timeout_s
    if p.get("timeout", ""):
        ms = _duration_param(p, "timeout")
        if ms <= 0:
            raise ApiError(
                "bad_data",
                f'invalid parameter "timeout": cannot parse {json_str(p.get("timeout"))} to a valid duration',
            )
        return min(limit, ms / 1000) if limit else ms / 1000
    return limit


def _match_sets(p: Any, *, prefix: bool = True, required: bool = False) -> list[list[Matcher]]:
    raw = p.getall("match[]", [])
    if required and not raw:
        raise ApiError("bad_data", "no match[] parameter provided")
    out = []
    for s in raw:
        try:
            ms = parse_metric_selector(s)
        except (ParseError, ValueError) as e:
            msg = f'invalid parameter "match[]": {e}' if prefix else str(e)
            raise ApiError("bad_data", msg) from None
        if all(m.matches("") for m in ms):
            msg = "match[] must contain at least one non-empty matcher"
            raise ApiError("bad_data", f'invalid parameter "match[]": {msg}' if prefix else msg)
        out.append(ms)
    return out


# =========================================================================== query execution


class _QueryRun:
    """Runs an engine call in the pool; a cancelled handler cancels the query."""

    def __init__(self, st: ServerState) -> None:
        self.st = st
        self.cancelled = threading.Event()

    async def __call__(self, fn: Any, *args: Any, **kw: Any) -> Any:
        loop = asyncio.get_running_loop()
        m = self.st.metrics
        m.queries.inc()
        try:
            fut = loop.run_in_executor(
                self.st.executor, lambda: fn(*args, cancel=self.cancelled.is_set, **kw)
            )
            try:
                return await asyncio.shield(fut)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        finally:
            m.queries.dec()


def _engine_for(st: ServerState, timeout_s: float) -> Any:
    eng = st.engine
    if timeout_s != eng.timeout_s:
        eng = copy.copy(eng)
        eng.timeout_s = timeout_s
    return eng


def _eval_error(e: EvalError, query: str) -> ApiError:
    et = getattr(e, "error_type", "execution")
    msg = str(e)
    if msg.startswith("invalid expression type"):
        et = "bad_data"
    return ApiError(et, msg)


def _stats_json(res: Result, prep_s: float, queue_s: float, total_s: float) -> str:
    s = res.stats
    return dumps(
        {
            "timings": {
                "evalTotalTime": s.eval_seconds,
                "resultSortTime": 0,
                "queryPreparationTime": prep_s,
                "innerEvalTime": s.eval_seconds,
                "execQueueTime": queue_s,
                "execTotalTime": total_s,
            },
            "samples": {"totalQueryableSamples": s.total_samples, "peakSamples": s.peak_samples},
        }
    )


def _apply_limit(value: Any, limit: int, warnings: list[str]) -> Any:
    if limit and isinstance(value, Vector | Matrix) and len(value) > limit:
        warnings.append("results truncated due to limit")
        return type(value)(value[:limit])  # type: ignore[arg-type]
    return value


def _query_response(res: Result, limit: int, want_stats: bool, t0: float, queued: float) -> web.Response:
    warnings = list(res.warnings)
    value = _apply_limit(res.value, limit, warnings)
    rtype, rjson = result_json(value)
    data = f'{{"resultType":"{rtype}","result":{rjson}'
    if want_stats:
        total = time.perf_counter() - t0
        data += ',"stats":' + _stats_json(
            res, max(0.0, total - res.stats.eval_seconds - queued), queued, total
        )
    data += "}"
    return ok(data, warnings, res.infos)


def _parse_query_text(p: Any) -> str:
    q = p.get("query", "")
    try:
        parse_expr(q)
    except ParseError as e:
        raise ApiError("bad_data", f'invalid parameter "query": {e}') from None
    return q


async def query(request: web.Request) -> web.Response:
    """``/api/v1/query``: instant query."""
    st = _state(request)
    t0 = time.perf_counter()
    try:
        p = await params(request)
        t = _time_param(p, "time", st.now_ms())
        timeout = _timeout_s(st, p)
        limit = _limit_param(p)
        lookback = _duration_param(p, "lookback_delta") if p.get("lookback_delta", "") else None
        q = _parse_query_text(p)
        run = _QueryRun(st)
        queued = time.perf_counter()
        try:
            res = await run(
                _engine_for(st, timeout).instant_query, st.queryable, q, t, lookback_delta_ms=lookback
            )
        except ParseError as e:
            raise ApiError("bad_data", f'invalid parameter "query": {e}') from None
        except EvalError as e:
            raise _eval_error(e, q) from None
        st.metrics.observe_query(res.stats.eval_seconds, res.stats.total_samples)
        return _query_response(res, limit, bool(p.get("stats", "")), t0, queued - t0)
    except ApiError as e:
        return error_response(e)


async def query_range(request: web.Request) -> web.Response:
    """``/api/v1/query_range``: range query."""
    st = _state(request)
    t0 = time.perf_counter()
    try:
        p = await params(request)
        start = _time_param(p, "start", 0, wrap=False) if p.get("start", "") else _require_time(p, "start")
        end = _time_param(p, "end", 0, wrap=False) if p.get("end", "") else _require_time(p, "end")
        if end < start:
            raise ApiError("bad_data", 'invalid parameter "end": end timestamp must not be before start time')
        step = _duration_param(p, "step")
        if step <= 0:
            raise ApiError(
                "bad_data",
                'invalid parameter "step": zero or negative query resolution step widths are not accepted. Try a positive integer',
            )
        if (end - start) // step > 11000:
            raise ApiError(
                "bad_data",
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            )
        timeout = _timeout_s(st, p)
        limit = _limit_param(p)
        lookback = _duration_param(p, "lookback_delta") if p.get("lookback_delta", "") else None
        q = _parse_query_text(p)
        run = _QueryRun(st)
        queued = time.perf_counter()
        try:
            res = await run(
                _engine_for(st, timeout).range_query,
                st.queryable,
                q,
                start,
                end,
                step,
                lookback_delta_ms=lookback,
            )
        except ParseError as e:
            raise ApiError("bad_data", f'invalid parameter "query": {e}') from None
        except EvalError as e:
            raise _eval_error(e, q) from None
        st.metrics.observe_query(res.stats.eval_seconds, res.stats.total_samples)
        return _query_response(res, limit, bool(p.get("stats", "")), t0, queued - t0)
    except ApiError as e:
        return error_response(e)


def _require_time(p: Any, name: str) -> int:
    raise ApiError("bad_data", f'invalid parameter {json_str(name)}: cannot parse "" to a valid timestamp')


async def query_exemplars(request: web.Request) -> web.Response:
    """``/api/v1/query_exemplars``: Heron stores no exemplars, so always an empty list."""
    st = _state(request)
    try:
        p = await params(request)
        _time_param(p, "start", MIN_TIME_MS)
        _time_param(p, "end", MAX_TIME_MS)
        _parse_query_text(p)
    except ApiError as e:
        return error_response(e)
    del st
    return ok("[]")


async def format_query(request: web.Request) -> web.Response:
    """``/api/v1/format_query``: the query in canonical form."""
    try:
        p = await params(request)
        q = p.get("query", "")
        try:
            node = parse_expr(q)
        except ParseError as e:
            raise ApiError("bad_data", f'invalid parameter "query": {e}') from None
        return ok(json_str(str(node)))
    except ApiError as e:
        return error_response(e)


async def parse_query(request: web.Request) -> web.Response:
    """``/api/v1/parse_query``: the query's syntax tree as JSON (Prometheus's ``translateAST``)."""
    from .astjson import ast_to_json

    try:
        p = await params(request)
        q = p.get("query", "")
        try:
            node = parse_expr(q)
        except ParseError as e:
            raise ApiError("bad_data", f'invalid parameter "query": {e}') from None
        return ok(dumps(ast_to_json(node)))
    except ApiError as e:
        return error_response(e)


# =========================================================================== metadata queries


async def _in_pool(st: ServerState, fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(st.executor, fn, *args)


def _truncate(items: list[Any], limit: int, warnings: list[str]) -> list[Any]:
    if limit and len(items) > limit:
        warnings.append("results truncated due to limit")
        return items[:limit]
    return items


async def series(request: web.Request) -> web.Response:
    """``/api/v1/series``: series matching any ``match[]`` in ``[start, end]``."""
    st = _state(request)
    try:
        p = await params(request)
        sets = _match_sets(p, required=True)
        start = _time_param(p, "start", MIN_TIME_MS)
        end = _time_param(p, "end", MAX_TIME_MS)
        limit = _limit_param(p)

        def work() -> list[Labels]:
            q = st.queryable.querier(start, end)
            try:
                found: set[Labels] = set()
                hints = SelectHints(start=start, end=end, func="series")
                for ms in sets:
                    for s in q.select(ms, hints):
                        found.add(s.labels)
                return sorted(found)
            finally:
                q.close()

        out = await _in_pool(st, work)
        warnings: list[str] = []
        out = _truncate(out, limit, warnings)
        return ok(labels_list_json(out), warnings)
    except ApiError as e:
        return error_response(e)


async def labels(request: web.Request) -> web.Response:
    """``/api/v1/labels``: label names (of the series matching ``match[]``, if given)."""
    st = _state(request)
    try:
        p = await params(request)
        start = _time_param(p, "start", MIN_TIME_MS)
        end = _time_param(p, "end", MAX_TIME_MS)
        sets = _match_sets(p, prefix=False)
        limit = _limit_param(p)

        def work() -> list[str]:
            q = st.queryable.querier(start, end)
            try:
                if not sets:
                    return list(q.label_names())
                names: set[str] = set()
                for ms in sets:
                    names.update(q.label_names(ms))
                return sorted(names)
            finally:
                q.close()

        out = await _in_pool(st, work)
        warnings: list[str] = []
        out = _truncate(out, limit, warnings)
        return ok(str_list_json(out), warnings)
    except ApiError as e:
        return error_response(e)


async def label_values(request: web.Request) -> web.Response:
    """``/api/v1/label/<name>/values``."""
    st = _state(request)
    name = request.match_info["name"]
    try:
        if name.startswith("U__"):
            name = _unescape_utf8_name(name)
        elif not is_valid_label_name(name):
            raise ApiError("bad_data", f"invalid label name: {json_str(name)}")
        p = await params(request)
        start = _time_param(p, "start", MIN_TIME_MS)
        end = _time_param(p, "end", MAX_TIME_MS)
        sets = _match_sets(p, prefix=False)
        limit = _limit_param(p)

        def work() -> list[str]:
            q = st.queryable.querier(start, end)
            try:
                if not sets:
                    return list(q.label_values(name))
                vals: set[str] = set()
                for ms in sets:
                    vals.update(q.label_values(name, ms))
                return sorted(vals)
            finally:
                q.close()

        out = await _in_pool(st, work)
        warnings: list[str] = []
        out = _truncate(out, limit, warnings)
        return ok(str_list_json(out), warnings)
    except ApiError as e:
        return error_response(e)


def _unescape_utf8_name(name: str) -> str:
    """Prometheus's ``U__`` value escaping for UTF-8 label names (``U__a_2e_b`` -> ``a.b``)."""
    body = name[3:]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "_":
            if body.startswith("__", i):
                out.append("_")
                i += 2
                continue
            j = body.find("_", i + 1)
            if j < 0:
                raise ApiError("bad_data", f"invalid label name: {json_str(name)}")
            try:
                out.append(chr(int(body[i + 1 : j], 16)))
            except ValueError:
                raise ApiError("bad_data", f"invalid label name: {json_str(name)}") from None
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


# =========================================================================== providers


async def targets(request: web.Request) -> web.Response:
    """``/api/v1/targets`` (``state=active|dropped|any``)."""
    st = _state(request)
    state = request.query.get("state", "any").lower()
    data: dict[str, Any] = {}
    if state in ("any", "active", ""):
        data["activeTargets"] = st.targets.active_targets()
    else:
        data["activeTargets"] = []
    if state in ("any", "dropped", ""):
        data["droppedTargets"] = st.targets.dropped_targets()
    else:
        data["droppedTargets"] = []
    data["droppedTargetCounts"] = st.targets.dropped_target_counts()
    pools = request.query.getall("scrapePool", [])
    if pools:
        for k in ("activeTargets", "droppedTargets"):
            data[k] = [t for t in data[k] if t.get("scrapePool") in pools]
    return ok(dumps(data))


async def targets_metadata(request: web.Request) -> web.Response:
    """``/api/v1/targets/metadata``."""
    st = _state(request)
    try:
        limit = _limit_param(request.query)
    except ApiError as e:
        return error_response(e)
    metric = request.query.get("metric", "")
    out = [m for m in st.targets.targets_metadata() if not metric or m.get("metric") == metric]
    if limit:
        out = out[:limit]
    return ok(dumps(out))


async def metadata(request: web.Request) -> web.Response:
    """``/api/v1/metadata`` (``limit``, ``limit_per_metric``, ``metric``)."""
    st = _state(request)
    q = request.query
    try:
        limit = int(q.get("limit", "-1") or "-1")
        per = int(q.get("limit_per_metric", "-1") or "-1")
    except ValueError:
        return error_response(ApiError("bad_data", "limit must be a number"))
    metric = q.get("metric", "")
    md = st.targets.metadata()
    out: dict[str, list[dict[str, str]]] = {}
    for name in sorted(md):
        if metric and name != metric:
            continue
        if 0 <= limit <= len(out):
            break
        entries = md[name]
        out[name] = entries[:per] if per > 0 else entries
    return ok(dumps(out))


async def alertmanagers(request: web.Request) -> web.Response:
    """``/api/v1/alertmanagers``."""
    st = _state(request)
    a = st.alertmanagers
    return ok(
        dumps(
            {
                "activeAlertmanagers": [{"url": u} for u in a.active_alertmanagers()],
                "droppedAlertmanagers": [{"url": u} for u in a.dropped_alertmanagers()],
            }
        )
    )


async def rules(request: web.Request) -> web.Response:
    """``/api/v1/rules`` (``type``, ``rule_name[]``, ``rule_group[]``, ``file[]``)."""
    st = _state(request)
    q = request.query
    typ = q.get("type", "").lower()
    if typ and typ not in ("alert", "record"):
        return error_response(
            ApiError("bad_data", f'invalid parameter "type": not supported value {json_str(typ)}')
        )
    names = set(q.getall("rule_name[]", []))
    groups_f = set(q.getall("rule_group[]", []))
    files = set(q.getall("file[]", []))
    out = []
    for g in st.rules.rule_groups():
        if groups_f and g.get("name") not in groups_f:
            continue
        if files and g.get("file") not in files:
            continue
        rs = [
            r
            for r in g.get("rules", [])
            if (not typ or r.get("type") == ("alerting" if typ == "alert" else "recording"))
            and (not names or r.get("name") in names)
        ]
        if (typ or names) and not rs:
            continue
        out.append({**g, "rules": rs})
    return ok(dumps({"groups": out}))


async def alerts(request: web.Request) -> web.Response:
    """``/api/v1/alerts``."""
    st = _state(request)
    return ok(dumps({"alerts": st.rules.alerts()}))


# =========================================================================== status


async def status_config(request: web.Request) -> web.Response:
    return ok(dumps({"yaml": _state(request).config.to_yaml()}))


async def status_flags(request: web.Request) -> web.Response:
    return ok(dumps(_state(request).flags.as_prometheus()))


def _rfc3339(t: float) -> str:
    frac = f"{t % 1:.9f}"[1:].rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + frac + "Z"


async def status_runtimeinfo(request: web.Request) -> web.Response:
    st = _state(request)
    f = st.flags
    if f.retention_time_ms or not f.retention_size_bytes:
        retention = format_duration(f.effective_retention_ms())
    else:
        retention = ""
    if f.retention_size_bytes:
        from scraper.config import format_size

        size = format_size(f.retention_size_bytes)
        retention = f"{retention} or {size}" if retention else size
    corruption = 0
    replay = getattr(st.storage, "replay_stats", None)
    if isinstance(replay, dict):
        corruption = int(replay.get("dropped_segments", 0) or 0) + (
            1 if replay.get("corrupted_bytes_truncated") else 0
        )
    data = {
        "startTime": _rfc3339(st.start_time),
        "CWD": st.cwd,
        "reloadConfigSuccess": st.reload_success,
        "lastConfigTime": _rfc3339(int(st.last_config_time)),
        "corruptionCount": corruption,
        "goroutineCount": threading.active_count(),
        "GOMAXPROCS": os.cpu_count() or 1,
        "GOMEMLIMIT": 0,
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": retention,
    }
    return ok(dumps(data))


async def status_buildinfo(request: web.Request) -> web.Response:
    from .metrics import VERSION

    return ok(
        dumps(
            {
                "version": VERSION,
                "revision": "heron",
                "branch": "main",
                "buildUser": "heron",
                "buildDate": "",
                "goVersion": "python" + platform.python_version(),
            }
        )
    )


def _tsdb_stats(storage: Any, limit: int) -> dict[str, Any]:
    head = getattr(storage, "head", None)
    by_name: dict[str, int] = {}
    value_counts: dict[str, int] = {}
    mem: dict[str, int] = {}
    pairs: dict[str, int] = {}
    num_pairs = 0
    if head is not None:
        ix = head.index()
        n_series = len(head)
        for name in ix.label_names():
            vals = ix.label_values(name)
            value_counts[name] = len(vals)
            mem[name] = sum(len(v) for v in vals)
            num_pairs += len(vals)
            for v in vals:
                c = len(ix.postings(name, [v]))
                pairs[f"{name}={v}"] = c
                if name == "__name__":
                    by_name[v] = c
        mint = head.min_time if n_series and head.max_time >= head.min_time else 0
        maxt = head.max_time if n_series and head.max_time >= head.min_time else 0
        chunks = max(0, head.stats.chunks_created - head.stats.chunks_removed)
    else:
        q = storage.querier(MIN_TIME_MS, MAX_TIME_MS)
        try:
            all_series = [s for s in q.select([Matcher.parse_op("__name__", "=~", ".+")]) if len(s.ts)]
        finally:
            q.close()
        n_series = len(all_series)
        seen_vals: dict[str, set[str]] = {}
        mint = min((int(s.ts[0]) for s in all_series), default=0)
        maxt = max((int(s.ts[-1]) for s in all_series), default=0)
        for s in all_series:
            for k, v in s.labels.pairs:
                seen_vals.setdefault(k, set()).add(v)
                pairs[f"{k}={v}"] = pairs.get(f"{k}={v}", 0) + 1
                if k == "__name__":
                    by_name[v] = by_name.get(v, 0) + 1
        for k, vs in seen_vals.items():
            value_counts[k] = len(vs)
            mem[k] = sum(len(v) for v in vs)
            num_pairs += len(vs)
        chunks = 0

    def top(d: dict[str, int]) -> list[dict[str, Any]]:
        items = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [{"name": k, "value": v} for k, v in items]

    return {
        "headStats": {
            "numSeries": n_series,
            "numLabelPairs": num_pairs,
            "chunkCount": chunks,
            "minTime": mint,
            "maxTime": maxt,
        },
        "seriesCountByMetricName": top(by_name),
        "labelValueCountByLabelName": top(value_counts),
        "memoryInBytesByLabelName": top(mem),
        "seriesCountByLabelValuePair": top(pairs),
    }


async def status_tsdb(request: web.Request) -> web.Response:
    st = _state(request)
    try:
        limit = _limit_param(request.query) or 10
    except ApiError as e:
        return error_response(e)
    data = await _in_pool(st, _tsdb_stats, st.storage, limit)
    return ok(dumps(data))


async def status_walreplay(request: web.Request) -> web.Response:
    st = _state(request)
    wal = getattr(st.storage, "wal", None)
    lo = hi = 0
    if wal is not None:
        try:
            lo, hi = wal.segment_range()
        except Exception:  # noqa: BLE001
            lo = hi = 0
    return ok(dumps({"min": max(lo, 0), "max": max(hi, 0), "current": max(hi, 0)}))


# =========================================================================== lifecycle


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Heron Server is Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    if not _state(request).ready:
        return web.Response(status=503, text="Service Unavailable")
    return web.Response(text="Heron Server is Ready.\n")


async def reload(request: web.Request) -> web.Response:
    st = _state(request)
    if not st.flags.enable_lifecycle:
        return web.Response(status=403, text="Lifecycle API is not enabled.")
    if st.reload_fn is None:
        return web.Response(status=500, text="failed to reload config: no reloader\n")
    try:
        await st.reload_fn()
    except Exception as e:  # noqa: BLE001 - reported to the caller; the old config stays
        return web.Response(status=500, text=f"failed to reload config: {e}\n")
    return web.Response(text="")


async def quit(request: web.Request) -> web.Response:  # noqa: A001 - Prometheus's endpoint name
    st = _state(request)
    if not st.flags.enable_lifecycle:
        return web.Response(status=403, text="Lifecycle API is not enabled.")
    if st.quit_fn is not None:
        asyncio.get_running_loop().call_soon(st.quit_fn)
    return web.Response(text="Requesting termination... Goodbye!")


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text="Heron server: a Prometheus-compatible API. Try /api/v1/query?query=up or /metrics.\n"
    )
