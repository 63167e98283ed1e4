"""HTTP clients: the Prometheus HTTP API v1 (the only data path) and the Alertmanager API v2.

Requests are cached briefly (identical requests within the TTL share one response, and
concurrent identical requests share one round trip); every call records what it did
(:class:`Inspect`) for the query inspector.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests

__all__ = [
    "ApiError",
    "Inspect",
    "Series",
    "QueryResult",
    "HttpClient",
    "PrometheusClient",
    "AlertmanagerClient",
]


class ApiError(Exception):
    """A failed API call: HTTP status, Prometheus ``errorType``, message and the URL."""

    def __init__(self, message: str, *, status: int = 0, error_type: str = "", url: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.url = url

    def __str__(self) -> str:
        kind = f"{self.error_type}: " if self.error_type else ""
        return f"{kind}{self.message}"


@dataclass
class Inspect:
    """What one request did, for the query inspector."""

    method: str
    url: str
    params: dict[str, Any]
    status: int = 0
    duration_ms: float = 0.0
    bytes: int = 0
    cached: bool = False
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "params": self.params,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 1),
            "bytes": self.bytes,
            "cached": self.cached,
            "error": self.error,
        }


@dataclass
class Series:
    """One series of a result: labels, timestamps (ms) and values (float64)."""

    labels: dict[str, str]
    ts: np.ndarray
    values: np.ndarray

    @property
    def name(self) -> str:
        return self.labels.get("__name__", "")


@dataclass
class QueryResult:
    """A decoded ``/api/v1/query`` or ``/api/v1/query_range`` response."""

    result_type: str
    series: list[Series]
    warnings: list[str] = field(default_factory=list)
    inspect: Inspect | None = None


def _decode_values(pairs: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
    n = len(pairs)
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    ts = np.fromiter((p[0] for p in pairs), dtype=np.float64, count=n)
    vals = np.array([p[1] for p in pairs], dtype=np.float64)
    return np.round(ts * 1000).astype(np.int64), vals


def _decode_result(data: dict[str, Any]) -> tuple[str, list[Series]]:
    rtype = str(data.get("resultType", ""))
    res = data.get("result")
    out: list[Series] = []
    if rtype == "matrix":
        for s in res or []:
            ts, vals = _decode_values(s.get("values") or [])
            out.append(Series(dict(s.get("metric") or {}), ts, vals))
    elif rtype == "vector":
        for s in res or []:
            ts, vals = _decode_values([s["value"]] if "value" in s else [])
            out.append(Series(dict(s.get("metric") or {}), ts, vals))
    elif rtype in ("scalar", "string") and isinstance(res, list) and len(res) == 2:
        try:
            ts, vals = _decode_values([res])
        except ValueError:
            ts, vals = np.array([int(float(res[0]) * 1000)]), np.array([np.nan])
        out.append(Series({}, ts, vals))
    return rtype, out


class _Cache:
    """A small TTL cache with in-flight sharing (thread-safe)."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._inflight: dict[Any, Future[Any]] = {}
        self.max_entries = max_entries

    def get_or_compute(self, key: Any, ttl: float, fn: Any) -> tuple[Any, bool]:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] > now:
                self._items.move_to_end(key)
                return hit[1], True
            fut = self._inflight.get(key)
            owner = fut is None
            if owner:
                fut = Future()
                self._inflight[key] = fut
        assert fut is not None
        if not owner:
            return fut.result(), True
        try:
            value = fn()
        except BaseException as e:
            with self._lock:
                self._inflight.pop(key, None)
            fut.set_exception(e)
            raise
        with self._lock:
            self._inflight.pop(key, None)
            if ttl > 0:
                self._items[key] = (time.monotonic() + ttl, value)
                while len(self._items) > self.max_entries:
                    self._items.popitem(last=False)
        fut.set_result(value)
        return value, False

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class HttpClient:
    """JSON over HTTP with connection reuse per thread and a short response cache."""

    def __init__(self, base_url: str, timeout: float = 30.0, cache_ttl: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cache_ttl = cache_ttl
        self._local = threading.local()
        self._cache = _Cache()

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.headers["User-Agent"] = "heron-dashboards"
            self._local.session = s
        return s

    def url(self, path: str) -> str:
        return self.base_url + path

    def clear_cache(self) -> None:
        """Forget cached responses."""
        self._cache.clear()

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        *,
        form: dict[str, Any] | list[tuple[str, Any]] | None = None,
        body: Any = None,
        ttl: float | None = None,
    ) -> tuple[Any, Inspect]:
        """Call ``path``; returns (decoded JSON, inspect). Raises :class:`ApiError` on failure."""
        ttl = self.cache_ttl if ttl is None else ttl
        if method != "GET" and form is None:
            ttl = 0
        key = (
            method,
            path,
            _freeze(params),
            _freeze(form),
            json.dumps(body, sort_keys=True) if body else None,
        )

        def call() -> tuple[Any, Inspect]:
            return self._do(method, path, params, form, body)

        (payload, insp), cached = self._cache.get_or_compute(key, ttl, call)
        if cached:
            insp = Inspect(insp.method, insp.url, insp.params, insp.status, 0.0, insp.bytes, True, insp.error)
        return payload, insp

    def _do(self, method: str, path: str, params: Any, form: Any, body: Any) -> tuple[Any, Inspect]:
        url = self.url(path)
        shown = dict(_pairs(form if form is not None else params))
        insp = Inspect(method, url, shown)
        t0 = time.perf_counter()
        try:
            r = self._session().request(
                method,
                url,
                params=params,
                data=form,
                json=body,
                timeout=self.timeout,
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as e:
            insp.duration_ms = (time.perf_counter() - t0) * 1000
            insp.error = f"cannot reach {self.base_url}: {type(e).__name__}"
            raise ApiError(insp.error, url=url) from None
        content = r.content
        insp.duration_ms = (time.perf_counter() - t0) * 1000
        insp.status = r.status_code
        insp.bytes = len(content)
        payload: Any = None
        if content:
            try:
                payload = json.loads(content)
            except ValueError:
                payload = None
        if r.status_code >= 400:
            msg = ""
            etype = ""
            if isinstance(payload, dict):
                msg = str(payload.get("error") or payload.get("message") or "")
                etype = str(payload.get("errorType") or "")
            if not msg:
                msg = content[:300].decode("utf-8", "replace").strip() or r.reason or "error"
            insp.error = msg
            raise ApiError(msg, status=r.status_code, error_type=etype, url=url)
        return payload, insp


def _pairs(p: Any) -> list[tuple[str, Any]]:
    if p is None:
        return []
    if isinstance(p, dict):
        out: list[tuple[str, Any]] = []
        for k, v in p.items():
            if isinstance(v, list | tuple):
                out.extend((k, x) for x in v)
            else:
                out.append((k, v))
        return out
    return list(p)


def _freeze(p: Any) -> Any:
    return tuple(sorted((str(k), str(v)) for k, v in _pairs(p))) if p is not None else None


def _ts(ms: int | float) -> str:
    """Prometheus time parameter (seconds, up to ms precision)."""
    s = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return s


class PrometheusClient(HttpClient):
    """The Prometheus HTTP API v1 (works with Heron, Prometheus, VictoriaMetrics, …)."""

    def _data(self, payload: Any, insp: Inspect) -> Any:
        if not isinstance(payload, dict) or payload.get("status") != "success":
            msg = (
                payload.get("error", "unexpected response")
                if isinstance(payload, dict)
                else "unexpected response"
            )
            raise ApiError(str(msg), status=insp.status, url=insp.url)
        return payload.get("data")

    def query(self, expr: str, time_ms: int, ttl: float | None = None) -> QueryResult:
        """Instant query (POST form, as Grafana does by default)."""
        payload, insp = self.request(
            "POST", "/api/v1/query", form={"query": expr, "time": _ts(time_ms)}, ttl=ttl
        )
        data = self._data(payload, insp)
        rtype, series = _decode_result(data or {})
        return QueryResult(rtype, series, list(payload.get("warnings") or []), insp)

    def query_range(
        self, expr: str, start_ms: int, end_ms: int, step_ms: int, ttl: float | None = None
    ) -> QueryResult:
        """Range query."""
        form = {"query": expr, "start": _ts(start_ms), "end": _ts(end_ms), "step": _ts(step_ms)}
        payload, insp = self.request("POST", "/api/v1/query_range", form=form, ttl=ttl)
        data = self._data(payload, insp)
        rtype, series = _decode_result(data or {})
        return QueryResult(rtype, series, list(payload.get("warnings") or []), insp)

    def _range_params(self, start_ms: int | None, end_ms: int | None) -> list[tuple[str, str]]:
        p = []
        if start_ms is not None:
            p.append(("start", _ts(start_ms)))
        if end_ms is not None:
            p.append(("end", _ts(end_ms)))
        return p

    def label_names(
        self, match: list[str] | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[str]:
        """``/api/v1/labels``."""
        params = [("match[]", m) for m in match or []] + self._range_params(start_ms, end_ms)
        payload, insp = self.request("GET", "/api/v1/labels", params)
        return [str(x) for x in self._data(payload, insp) or []]

    def label_values(
        self,
        label: str,
        match: list[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[str]:
        """``/api/v1/label/<label>/values``."""
        params = [("match[]", m) for m in match or []] + self._range_params(start_ms, end_ms)
        path = "/api/v1/label/" + urllib.parse.quote(label, safe="") + "/values"
        payload, insp = self.request("GET", path, params)
        return [str(x) for x in self._data(payload, insp) or []]

    def series(
        self, match: list[str], start_ms: int | None = None, end_ms: int | None = None
    ) -> list[dict[str, str]]:
        """``/api/v1/series``."""
        params = [("match[]", m) for m in match] + self._range_params(start_ms, end_ms)
        payload, insp = self.request("GET", "/api/v1/series", params)
        return [dict(x) for x in self._data(payload, insp) or []]

    def metadata(self) -> dict[str, list[dict[str, str]]]:
        """``/api/v1/metadata`` (metric help and type)."""
        payload, insp = self.request("GET", "/api/v1/metadata", ttl=60)
        d = self._data(payload, insp)
        return d if isinstance(d, dict) else {}

    def targets(self) -> dict[str, Any]:
        """``/api/v1/targets``."""
        payload, insp = self.request("GET", "/api/v1/targets", ttl=2)
        d = self._data(payload, insp)
        return d if isinstance(d, dict) else {}

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``."""
        payload, insp = self.request("GET", "/api/v1/alerts", ttl=2)
        d = self._data(payload, insp) or {}
        return list(d.get("alerts") or [])

    def rules(self) -> list[dict[str, Any]]:
        """``/api/v1/rules`` groups."""
        payload, insp = self.request("GET", "/api/v1/rules", ttl=2)
        d = self._data(payload, insp) or {}
        return list(d.get("groups") or [])

    def buildinfo(self) -> dict[str, Any]:
        payload, insp = self.request("GET", "/api/v1/status/buildinfo", ttl=60)
        d = self._data(payload, insp)
        return d if isinstance(d, dict) else {}


class AlertmanagerClient(HttpClient):
    """The Alertmanager API v2."""

    def alert_groups(self) -> list[dict[str, Any]]:
        payload, _ = self.request("GET", "/api/v2/alerts/groups", ttl=1)
        return list(payload or [])

    def alerts(self) -> list[dict[str, Any]]:
        payload, _ = self.request("GET", "/api/v2/alerts", ttl=1)
        return list(payload or [])

    def silences(self) -> list[dict[str, Any]]:
        payload, _ = self.request("GET", "/api/v2/silences", ttl=0)
        return list(payload or [])

    def status(self) -> dict[str, Any]:
        payload, _ = self.request("GET", "/api/v2/status", ttl=5)
        return dict(payload or {})

    def create_silence(self, silence: dict[str, Any]) -> str:
        """POST a silence; returns its id."""
        payload, _ = self.request("POST", "/api/v2/silences", body=silence, ttl=0)
        return str((payload or {}).get("silenceID", ""))

    def expire_silence(self, silence_id: str) -> None:
        self.request("DELETE", "/api/v2/silence/" + urllib.parse.quote(silence_id, safe=""), ttl=0)
