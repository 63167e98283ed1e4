"""Time intervals (``time_intervals`` / ``mute_time_intervals``), Alertmanager's ``timeinterval``."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TimeIntervalError(ValueError):
    """An invalid time interval specification."""

    def __init__(self, msg: str, line: int | None = None) -> None:
        super().__init__(msg)
        self.line = line


_WEEKDAYS = {
    d: i for i, d in enumerate(["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"])
}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_TIME_RE = re.compile(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)")


@dataclass
class TimeInterval:
    """One entry of a named interval; ``None`` fields match everything."""

    times: list[tuple[int, int]] | None = None
    weekdays: list[tuple[int, int]] | None = None
    days_of_month: list[tuple[int, int]] | None = None
    months: list[tuple[int, int]] | None = None
    years: list[tuple[int, int]] | None = None
    location: Any = field(default=None)

    def contains(self, t: datetime) -> bool:
        """``ContainsTime``: whether the instant falls in this interval."""
        t = t.astimezone(self.location or UTC)
        if self.times is not None:
            mins = t.hour * 60 + t.minute
            if not any(s <= mins < e for s, e in self.times):
                return False
        if self.days_of_month is not None:
            dim = calendar.monthrange(t.year, t.month)[1]
            ok = False
            for b, e in self.days_of_month:
                begin = dim + b + 1 if b < 0 else b
                end = dim + e + 1 if e < 0 else e
                if begin > dim:
                    continue
                begin = max(-dim, min(begin, dim))
                end = max(-dim, min(end, dim))
                if begin <= t.day <= end:
                    ok = True
                    break
            if not ok:
                return False
        if self.months is not None and not any(b <= t.month <= e for b, e in self.months):
            return False
        if self.weekdays is not None:
            wd = (t.weekday() + 1) % 7
            if not any(b <= wd <= e for b, e in self.weekdays):
                return False
        if self.years is not None and not any(b <= t.year <= e for b, e in self.years):
            return False
        return True


def _ranges(items: Any, parse: Any, kind: str, line: int | None) -> list[tuple[int, int]]:
    if not isinstance(items, list):
        raise TimeIntervalError(f"invalid {kind} list", line)
    out = []
    for it in items:
        s = str(it)
        parts = s.split(":")
        if len(parts) > 2:
            raise TimeIntervalError(f"invalid range: {s}", line)
        b = parse(parts[0].strip())
        e = parse(parts[-1].strip())
        out.append((b, e))
    return out


def parse_time_interval(raw: Any, line: int | None = None) -> TimeInterval:
    """Validate and build one ``time_intervals`` entry from its YAML value."""
    if raw is None:
        return TimeInterval()
    if not isinstance(raw, dict):
        raise TimeIntervalError("time interval must be a mapping", line)
    allowed = {"times", "weekdays", "days_of_month", "months", "years", "location"}
    for k in raw:
        if k not in allowed:
            raise TimeIntervalError(
                f"yaml: unmarshal errors:\n  line {line}: field {k} not found in type timeinterval.plain",
                line,
            )
    ti = TimeInterval()
    if "times" in raw and raw["times"] is not None:
        ti.times = []
        for tr in raw["times"]:
            st, en = str((tr or {}).get("start_time", "") or ""), str((tr or {}).get("end_time", "") or "")
            if not st or not en:
                raise TimeIntervalError("both start and end times must be provided", line)
            s, e = _minutes(st, line), _minutes(en, line)
            if s >= e:
                raise TimeIntervalError("start time cannot be equal or greater than end time", line)
            ti.times.append((s, e))
    if "weekdays" in raw and raw["weekdays"] is not None:

        def wd(s: str) -> int:
            if s.lower() not in _WEEKDAYS:
                raise TimeIntervalError(f"{s} is not a valid weekday", line)
            return _WEEKDAYS[s.lower()]

        ti.weekdays = _ranges(raw["weekdays"], wd, "weekday", line)
        for b, e in ti.weekdays:
            if b > e:
                raise TimeIntervalError("start day cannot be before end day", line)
    if "days_of_month" in raw and raw["days_of_month"] is not None:

        def dom(s: str) -> int:
            try:
                v = int(s)
            except ValueError:
                raise TimeIntervalError(f"{s} is not a valid day of the month", line) from None
            if v == 0 or v < -31 or v > 31:
                raise TimeIntervalError(f"{v} is not a valid day of the month: out of range", line)
            return v

        ti.days_of_month = _ranges(raw["days_of_month"], dom, "day of month", line)
        for b, e in ti.days_of_month:
            if (b > 0 and e > 0 or b < 0 and e < 0) and b > e:
                raise TimeIntervalError(f"end day must be greater than start day: {b}:{e}", line)
            if b < 0 < e:
                raise TimeIntervalError(f"end day must be negative if start day is negative: {b}:{e}", line)
    if "months" in raw and raw["months"] is not None:

        def mon(s: str) -> int:
            if s.lower() in _MONTHS:
                return _MONTHS[s.lower()]
            try:
                v = int(s)
            except ValueError:
                raise TimeIntervalError(f"{s} is not a valid month", line) from None
            if not 1 <= v <= 12:
                raise TimeIntervalError(f"{v} is not a valid month: out of range", line)
            return v

        ti.months = _ranges(raw["months"], mon, "month", line)
        for b, e in ti.months:
            if b > e:
                raise TimeIntervalError("end month must be greater than start month", line)
    if "years" in raw and raw["years"] is not None:

        def yr(s: str) -> int:
            try:
                return int(s)
            except ValueError:
                raise TimeIntervalError(f"{s} is not a valid year", line) from None

        ti.years = _ranges(raw["years"], yr, "year", line)
        for b, e in ti.years:
            if b > e:
                raise TimeIntervalError("end year must be greater than start year", line)
    if raw.get("location"):
        name = str(raw["location"])
        try:
            ti.location = UTC if name == "UTC" else None if name == "Local" else ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise TimeIntervalError(f"unknown time zone {name}", line) from None
    return ti


def _minutes(s: str, line: int | None) -> int:
    if not _TIME_RE.match(s):
        raise TimeIntervalError(f"couldn't parse timestamp {s}, invalid format", line)
    h, m = s.split(":")
    return int(h) * 60 + int(m)


def in_any(intervals: list[TimeInterval], t: datetime) -> bool:
    """Whether ``t`` is inside any of the intervals."""
    return any(ti.contains(t) for ti in intervals)
