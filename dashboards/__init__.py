"""Heron dashboards: Grafana dashboard JSON rendered with Dash/plotly over the Prometheus HTTP API.

The model, units, time and templating modules have no web dependencies; the app (Dash,
waitress) is imported lazily.
"""

from __future__ import annotations

from typing import Any

from .model import Dashboard, DashboardError, Panel, Target, Variable, load_dashboard
from .templating import interpolate, resolve_variables
from .timeutil import TimeRange, parse_range, query_interval
from .units import format_value

__all__ = [
    "Config",
    "Dashboard",
    "DashboardError",
    "DashboardsService",
    "Panel",
    "Target",
    "TimeRange",
    "Variable",
    "create_app",
    "format_value",
    "interpolate",
    "load_dashboard",
    "parse_range",
    "query_interval",
    "resolve_variables",
]


def __getattr__(name: str) -> Any:
    if name in ("Config", "DashboardsService", "create_app"):
        from . import app

        return getattr(app, name)
    raise AttributeError(name)
