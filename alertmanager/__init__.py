"""Heron's Alertmanager (see ../shared/DESIGN.md): a drop-in for Prometheus Alertmanager.

``alertmanager.yml`` model (``config``), routing tree (``route``), aggregation groups and
timers (``dispatch``), the notification pipeline (``notify``), silences, notification log,
inhibition, API v2 (``api``) and HA gossip (``cluster``); ``main.Alertmanager`` wires them.
"""

from __future__ import annotations

from .config import Config, ConfigError, load, load_file
from .main import Alertmanager, Options
from .types import Alert, Clock, FakeClock, RealClock

__all__ = [
    "Alert",
    "Alertmanager",
    "Clock",
    "Config",
    "ConfigError",
    "FakeClock",
    "Options",
    "RealClock",
    "load",
    "load_file",
]
