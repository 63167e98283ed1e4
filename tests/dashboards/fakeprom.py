"""An in-memory stand-in for the Prometheus API client, for unit tests of variables and runner logic.

Real-server behaviour is covered by the integration and browser tests; this only answers
series/label lookups from a fixed list and canned query results.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from dashboards.client import ApiError, QueryResult, Series

_SEL = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(?:\{(.*)\})?\s*$", re.S)
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _matches(labels: dict[str, str], selector: str) -> bool:
    m = _SEL.match(selector)
    if not m:
        raise ApiError(f"parse error: {selector}", status=400, error_type="bad_data")
    name, body = m.group(1), m.group(2) or ""
    if name and labels.get("__name__") != name:
        return False
    for mm in _MATCHER.finditer(body):
        k, op, v = mm.group(1), mm.group(2), mm.group(3).replace("\\\\", "\\")
        have = labels.get(k, "")
        if op == "=" and have != v or op == "!=" and have == v:
            return False
        if op == "=~" and not re.fullmatch(v, have) or op == "!~" and re.fullmatch(v, have):
            return False
    return True


class FakeProm:
    """Answers label/series lookups from ``series``; queries from ``results`` (expr -> series)."""

    base_url = "http://fake"

    def __init__(self, series: list[dict[str, str]], results: dict[str, list[Series]] | None = None) -> None:
        self.series_list = series
        self.results = results or {}
        self.calls: list[tuple[str, Any]] = []

    def _select(self, match: list[str] | None) -> list[dict[str, str]]:
        if not match:
            return self.series_list
        return [s for s in self.series_list if any(_matches(s, m) for m in match)]

    def label_names(
        self, match: list[str] | None = None, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[str]:
        self.calls.append(("label_names", match))
        return sorted({k for s in self._select(match) for k in s})

    def label_values(
        self,
        label: str,
        match: list[str] | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[str]:
        self.calls.append(("label_values", (label, match)))
        return sorted({s[label] for s in self._select(match) if label in s})

    def series(
        self, match: list[str], start_ms: int | None = None, end_ms: int | None = None
    ) -> list[dict[str, str]]:
        self.calls.append(("series", match))
        return self._select(match)

    def _result(self, expr: str) -> list[Series]:
        for pattern, res in self.results.items():
            if re.fullmatch(pattern, expr):
                return res
        return []

    def query(self, expr: str, time_ms: int, ttl: float | None = None) -> QueryResult:
        self.calls.append(("query", expr))
        if "syntax error" in expr:
            raise ApiError("1:1: parse error: unexpected", status=400, error_type="bad_data")
        out = [Series(s.labels, s.ts[-1:], s.values[-1:]) for s in self._result(expr)]
        return QueryResult("vector", out)

    def query_range(
        self, expr: str, start_ms: int, end_ms: int, step_ms: int, ttl: float | None = None
    ) -> QueryResult:
        self.calls.append(("query_range", (expr, start_ms, end_ms, step_ms)))
        if "syntax error" in expr:
            raise ApiError("1:1: parse error: unexpected", status=400, error_type="bad_data")
        out = []
        for s in self._result(expr):
            ts = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
            vals = (
                np.interp(ts, s.ts, s.values)
                if len(s.ts) > 1
                else np.full(len(ts), s.values[0] if len(s.values) else np.nan)
            )
            out.append(Series(s.labels, ts, vals))
        return QueryResult("matrix", out)


def series(labels: dict[str, str], ts: list[int], values: list[float]) -> Series:
    return Series(labels, np.array(ts, dtype=np.int64), np.array(values, dtype=np.float64))
