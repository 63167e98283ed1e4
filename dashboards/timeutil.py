"""Time ranges, Grafana date math (``now-6h``, ``now/d``), intervals and the Prometheus query step."""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

__all__ = [
    "TimeRange",
    "QueryInterval",
    "parse_time",
    "parse_range",
    "parse_interval_ms",
    "round_interval",
    "format_interval",
    "format_duration",
    "calculate_interval",
    "query_interval",
    "align_range",
    "describe_range",
    "QUICK_RANGES",
    "REFRESH_INTERVALS",
]

_UNIT_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "M": 2_592_000_000,
    "y": 31_536_000_000,
}
_INTERVAL_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhdwMy])")

QUICK_RANGES: list[tuple[str, str]] = [
    ("now-5m", "Last 5 minutes"),
    ("now-15m", "Last 15 minutes"),
    ("now-30m", "Last 30 minutes"),
    ("now-1h", "Last 1 hour"),
    ("now-3h", "Last 3 hours"),
    ("now-6h", "Last 6 hours"),
    ("now-12h", "Last 12 hours"),
    ("now-24h", "Last 24 hours"),
    ("now-2d", "Last 2 days"),
    ("now-7d", "Last 7 days"),
    ("now-30d", "Last 30 days"),
    ("now-90d", "Last 90 days"),
]
REFRESH_INTERVALS = ["5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d"]


def parse_interval_ms(s: str | int | float | None) -> int:
    """Milliseconds of ``"30s"``, ``"1m30s"``, ``"1.5h"``, ``"250ms"``; a bare number is seconds."""
    if s is None:
        raise ValueError("empty interval")
    if isinstance(s, int | float):
        return int(s * 1000)
    t = s.strip()
    if t.startswith(">"):  # Grafana's old ">10s" min-interval syntax
        t = t[1:]
    if not t:
        raise ValueError("empty interval")
    try:
        return int(float(t) * 1000)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _INTERVAL_RE.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_MS[m.group(2)]
        pos = m.end()
    if pos != len(t) or pos == 0:
        raise ValueError(f"invalid interval {s!r}")
    return int(total)


def round_interval(ms: float) -> int:
    """Grafana's ``roundInterval``: snap a raw interval to a round one."""
    table = [
        (10, 1),
        (15, 10),
        (35, 20),
        (75, 50),
        (150, 100),
        (350, 200),
        (750, 500),
        (1500, 1000),
        (3500, 2000),
        (7500, 5000),
        (12500, 10000),
        (17500, 15000),
        (25000, 20000),
        (45000, 30000),
        (90000, 60000),
        (210000, 120000),
        (450000, 300000),
        (750000, 600000),
        (1050000, 900000),
        (1500000, 1200000),
        (2700000, 1800000),
        (5400000, 3600000),
        (9000000, 7200000),
        (16200000, 10800000),
        (32400000, 21600000),
        (86400000, 43200000),
        (604800000, 86400000),
        (1814400000, 604800000),
        (3628800000, 2592000000),
    ]
    for bound, val in table:
        if ms < bound:
            return val
    return 31536000000


def format_interval(ms: int) -> str:
    """Grafana's ``secondsToHms`` (largest whole unit, truncating): 90000 -> ``"1m"``."""
    sec = ms / 1000
    parts = (
        ("y", sec // 31536000),
        ("d", (sec % 31536000) // 86400),
        ("h", (sec % 31536000 % 86400) // 3600),
        ("m", (sec % 31536000 % 86400 % 3600) // 60),
        ("s", sec % 31536000 % 86400 % 3600 % 60 // 1),
    )
    for unit, n in parts:
        if int(n):
            return f"{int(n)}{unit}"
    return f"{int(ms)}ms" if int(ms) else "1ms"


def format_duration(ms: int) -> str:
    """An exact Prometheus duration: 90000 -> ``"1m30s"``, 1500 -> ``"1s500ms"``."""
    if ms <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        n, ms = divmod(int(ms), size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


# --------------------------------------------------------------------------- date math


def _tz(offset_min: int) -> timezone:
    return timezone(timedelta(minutes=offset_min))


def _add_months(dt: datetime, months: int) -> datetime:
    y, m = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + y, m + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def _add(dt: datetime, n: int, unit: str) -> datetime:
    if unit == "y":
        return _add_months(dt, 12 * n)
    if unit == "M":
        return _add_months(dt, n)
    if unit == "Q":
        return _add_months(dt, 3 * n)
    return dt + timedelta(milliseconds=n * _UNIT_MS[unit])


def _start_of(dt: datetime, unit: str) -> datetime:
    if unit == "y":
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "Q":
        return dt.replace(month=(dt.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":  # Grafana's default week starts on Monday (ISO) in most locales
        d = dt - timedelta(days=dt.weekday())
        return d.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "h":
        return dt.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return dt.replace(second=0, microsecond=0)
    if unit == "s":
        return dt.replace(microsecond=0)
    return dt


def _end_of(dt: datetime, unit: str) -> datetime:
    return _add(_start_of(dt, unit), 1, unit) - timedelta(milliseconds=1)


_MATH_RE = re.compile(r"([+-])(\d+)([yMQwdhms])|/([yMQwdhms])")


def parse_time(text: str | int | float, now_ms: int, round_up: bool = False, tz_offset_min: int = 0) -> int:
    """Milliseconds for a Grafana time: ``now``, ``now-6h``, ``now-1d/d``, epoch ms, or ISO 8601.

    ``round_up`` rounds ``/unit`` to the end of the unit (for the ``to`` side), as Grafana does.
    ``tz_offset_min`` is the viewer's UTC offset, used for calendar rounding and naive dates.
    """
    if isinstance(text, int | float):
        return int(text)
    s = str(text).strip()
    if not s:
        raise ValueError("empty time")
    if s.isdigit() or (s.startswith("-") and s[1:].isdigit()):
        return int(s)  # epoch milliseconds, as in Grafana URLs
    tz = _tz(tz_offset_min)
    if s.startswith("now"):
        dt = datetime.fromtimestamp(now_ms / 1000, tz)
        rest = s[3:]
    else:
        base, sep, rest = s.partition("||")
        dt = _parse_date(base, tz)
        if not sep:
            rest = ""
    pos = 0
    for m in _MATH_RE.finditer(rest):
        if m.start() != pos:
            raise ValueError(f"invalid time expression {text!r}")
        pos = m.end()
        if m.group(4):
            dt = _end_of(dt, m.group(4)) if round_up else _start_of(dt, m.group(4))
        else:
            n = int(m.group(2)) * (1 if m.group(1) == "+" else -1)
            dt = _add(dt, n, m.group(3))
    if pos != len(rest):
        raise ValueError(f"invalid time expression {text!r}")
    return int(round(dt.timestamp() * 1000))


def _parse_date(s: str, tz: timezone) -> datetime:
    t = s.strip().replace("Z", "+00:00")
    for fmt in ("%Y%m%dT%H%M%S",):
        try:
            return datetime.strptime(t, fmt).replace(tzinfo=tz)
        except ValueError:
            pass
    try:
        dt = datetime.fromisoformat(t)
    except ValueError as e:
        raise ValueError(f"invalid time {s!r}") from e
    return dt if dt.tzinfo else dt.replace(tzinfo=tz)


@dataclass(frozen=True)
class TimeRange:
    """A resolved range: the raw texts (``now-6h``) and their millisecond values."""

    raw_from: str
    raw_to: str
    start_ms: int
    end_ms: int

    @property
    def span_ms(self) -> int:
        return max(self.end_ms - self.start_ms, 1)

    @property
    def relative(self) -> bool:
        return "now" in self.raw_from or "now" in self.raw_to


def parse_range(
    raw_from: str | None, raw_to: str | None, now_ms: int, tz_offset_min: int = 0, default: str = "now-6h"
) -> TimeRange:
    """Resolve ``from``/``to`` (falling back to ``default``..``now`` when missing or invalid)."""
    f = (raw_from or default).strip()
    t = (raw_to or "now").strip()
    try:
        start = parse_time(f, now_ms, False, tz_offset_min)
    except ValueError:
        f = default
        start = parse_time(f, now_ms, False, tz_offset_min)
    try:
        end = parse_time(t, now_ms, True, tz_offset_min)
    except ValueError:
        t = "now"
        end = now_ms
    if end <= start:
        start, end = min(start, end), max(start, end) + 1
    return TimeRange(f, t, start, end)


def describe_range(r: TimeRange, tz_offset_min: int = 0) -> str:
    """``Last 6 hours`` for quick ranges, else ``2024-01-01 10:00:00 to …``."""
    if r.raw_to == "now":
        for value, label in QUICK_RANGES:
            if value == r.raw_from:
                return label
        m = re.fullmatch(r"now-(\d+)([smhdwMy])", r.raw_from)
        if m:
            names = {
                "s": "second",
                "m": "minute",
                "h": "hour",
                "d": "day",
                "w": "week",
                "M": "month",
                "y": "year",
            }
            n = int(m.group(1))
            return f"Last {n} {names[m.group(2)]}{'s' if n != 1 else ''}"
    tz = _tz(tz_offset_min)

    def fmt(raw: str, ms: int) -> str:
        if "now" in raw:
            return raw
        return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")

    return f"{fmt(r.raw_from, r.start_ms)} to {fmt(r.raw_to, r.end_ms)}"


def format_abs(ms: int, tz_offset_min: int = 0) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in the viewer's offset."""
    return datetime.fromtimestamp(ms / 1000, _tz(tz_offset_min)).strftime("%Y-%m-%d %H:%M:%S")


def utc_iso(ms: int) -> str:
    """RFC 3339 UTC text for ``ms``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------- intervals and step


def calculate_interval(span_ms: int, resolution: int, low_limit_ms: int = 1) -> int:
    """Grafana's ``calculateInterval``: ``roundInterval(span / resolution)`` but at least ``low_limit_ms``."""
    ms = round_interval(span_ms / max(resolution, 1))
    return max(ms, low_limit_ms)


@dataclass(frozen=True)
class QueryInterval:
    """What one Prometheus query of a panel uses: step and the built-in interval variables."""

    step_ms: int
    interval_ms: int  # $__interval (the panel's interval, before Prometheus adjustments)
    rate_interval_ms: int  # $__rate_interval
    range_ms: int

    @property
    def step_s(self) -> float:
        return self.step_ms / 1000


def query_interval(
    span_ms: int,
    max_data_points: int,
    *,
    panel_min_interval_ms: int | None = None,
    scrape_interval_ms: int = 15_000,
    target_interval: str | None = None,
    interval_factor: int = 1,
) -> QueryInterval:
    """Step and ``$__interval``/``$__rate_interval`` for a Prometheus query, as Grafana computes them.

    * the panel interval is ``roundInterval(span / maxDataPoints)``, at least the panel's min
      interval (or the data source scrape interval);
    * the step is the panel interval, at least the query's "Min step" (``target.interval``) and
      at least ``span / 11000`` (Prometheus' point limit), times ``intervalFactor``;
    * ``$__rate_interval = max($__interval + scrape, 4 * scrape)`` where scrape is the query's
      "Min step" when set, else the data source scrape interval.
    """
    mdp = max(int(max_data_points or 0), 1)
    low = panel_min_interval_ms if panel_min_interval_ms else scrape_interval_ms
    interval_ms = calculate_interval(span_ms, mdp, low)
    min_step_ms: int | None = None
    ti = (target_interval or "").strip()
    rate_step = ti in ("$__rate_interval", "${__rate_interval}")
    if ti and not ti.startswith("$"):
        try:
            min_step_ms = parse_interval_ms(ti)
        except ValueError:
            min_step_ms = None
    min_interval = min_step_ms if min_step_ms else interval_ms
    raw = span_ms / mdp
    calculated = min_interval if raw < min_interval else round_interval(raw)
    safe = span_ms / 11000
    safe_ms = round_interval(safe) if safe > 1 else 1
    adjusted = max(calculated, safe_ms)
    scrape = min_step_ms if min_step_ms else scrape_interval_ms
    rate = max(interval_ms + scrape, 4 * scrape)
    if rate_step:
        step = max(adjusted + scrape_interval_ms, 4 * scrape_interval_ms)
        rate = step
    else:
        step = adjusted * max(int(interval_factor or 1), 1)
    return QueryInterval(
        step_ms=int(step), interval_ms=int(interval_ms), rate_interval_ms=int(rate), range_ms=span_ms
    )


def align_range(start_ms: int, end_ms: int, step_ms: int, utc_offset_ms: int = 0) -> tuple[int, int]:
    """Round start and end down to a multiple of the step (Grafana's ``alignRange``), for caching."""
    if step_ms <= 0:
        return start_ms, end_ms
    s = math.floor((start_ms + utc_offset_ms) / step_ms) * step_ms - utc_offset_ms
    e = math.floor((end_ms + utc_offset_ms) / step_ms) * step_ms - utc_offset_ms
    return int(s), int(max(e, s))
