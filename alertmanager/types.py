"""Alerts, their status marker, timestamps and the injected clock.

Timestamps are int nanoseconds since the epoch; ``ZERO`` is Go's zero ``time.Time``
(``0001-01-01T00:00:00Z``), which Alertmanager uses for "unset".
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .labels import fingerprint, fp_str

NS = 1_000_000_000
ZERO = -62135596800 * NS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_time(s: str) -> int:
    """RFC 3339 (with optional fraction and offset) to nanoseconds; ``ValueError`` if malformed."""
    m = _RFC3339.match(s)
    if m is None:
        raise ValueError(f"parsing time {s!r}: not RFC 3339")
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    frac = m.group(7) or ""
    try:
        dt = datetime(y, mo, d, h, mi, se, tzinfo=UTC)
    except ValueError as e:
        raise ValueError(f"parsing time {s!r}: {e}") from None
    tz = m.group(8)
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        dt -= sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
    secs = (dt - _EPOCH) // timedelta(seconds=1)
    return secs * NS + int(frac.ljust(9, "0") or 0)


def _split(ns: int) -> tuple[datetime, int]:
    secs, frac = divmod(ns, NS)
    return _EPOCH + timedelta(seconds=secs), frac


def format_time(ns: int) -> str:
    """Go's ``time.Time`` JSON form (RFC 3339 with nanoseconds, trailing zeros trimmed), UTC."""
    dt, frac = _split(ns)
    base = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def format_time_millis(ns: int) -> str:
    """go-openapi ``strfmt.DateTime`` form: milliseconds always present, UTC."""
    dt, frac = _split(ns)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
        f".{frac // 1_000_000:03d}Z"
    )


def to_datetime(ns: int) -> datetime:
    """Nanoseconds to an aware UTC datetime (microsecond precision)."""
    dt, frac = _split(ns)
    return dt + timedelta(microseconds=frac // 1000)


# --- clock ---------------------------------------------------------------------------------


class Timer(Protocol):
    """A resettable one-shot timer, like Go's ``time.Timer``."""

    def reset(self, delay: float) -> None: ...

    def stop(self) -> None: ...

    async def wait(self) -> float:
        """Wait until the timer fires; returns the clock time it fired at."""
        ...


class Clock(Protocol):
    """Time as a dependency: wall time plus timers."""

    def now(self) -> float: ...

    def timer(self, delay: float) -> Timer: ...

    async def sleep(self, delay: float) -> None: ...


def now_ns(clock: Clock) -> int:
    return int(clock.now() * NS)


class _RealTimer:
    def __init__(self, clock: RealClock, delay: float) -> None:
        self._clock = clock
        self._fut: asyncio.Future[float] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._fired_at: float | None = None
        self.reset(delay)

    def _fire(self) -> None:
        self._handle = None
        t = self._clock.now()
        if self._fut is not None and not self._fut.done():
            self._fut.set_result(t)
            self._fut = None
        else:
            self._fired_at = t

    def reset(self, delay: float) -> None:
        self.stop()
        self._fired_at = None
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(max(delay, 0.0), self._fire)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    async def wait(self) -> float:
        if self._fired_at is not None:
            t, self._fired_at = self._fired_at, None
            return t
        self._fut = asyncio.get_running_loop().create_future()
        return await self._fut


class RealClock:
    """Wall-clock time and event-loop timers."""

    def now(self) -> float:
        return time.time()

    def timer(self, delay: float) -> Timer:
        return _RealTimer(self, delay)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(delay, 0.0))


class _FakeTimer:
    def __init__(self, clock: FakeClock, delay: float) -> None:
        self._clock = clock
        self._deadline: float | None = None
        self._gen = 0
        self._fired_at: float | None = None
        self._fut: asyncio.Future[float] | None = None
        self.reset(delay)

    def reset(self, delay: float) -> None:
        self._gen += 1
        self._fired_at = None
        self._deadline = self._clock.now() + max(delay, 0.0)
        self._clock._schedule(self._deadline, self, self._gen)

    def stop(self) -> None:
        self._gen += 1
        self._deadline = None

    def _fire(self, gen: int) -> None:
        if gen != self._gen:
            return
        self._deadline = None
        t = self._clock.now()
        if self._fut is not None and not self._fut.done():
            self._fut.set_result(t)
            self._fut = None
        else:
            self._fired_at = t

    async def wait(self) -> float:
        if self._fired_at is not None:
            t, self._fired_at = self._fired_at, None
            return t
        self._fut = asyncio.get_running_loop().create_future()
        return await self._fut


class FakeClock:
    """A clock that moves only when told to; ``advance`` fires due timers in order."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _FakeTimer, int]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def timer(self, delay: float) -> Timer:
        return _FakeTimer(self, delay)

    async def sleep(self, delay: float) -> None:
        await self.timer(delay).wait()

    def _schedule(self, deadline: float, timer: _FakeTimer, gen: int) -> None:
        heapq.heappush(self._heap, (deadline, next(self._seq), timer, gen))

    async def settle(self, rounds: int = 30) -> None:
        """Let every runnable task run until nothing is left to do."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward, firing timers (and letting their tasks run) in deadline order."""
        target = self._now + seconds
        await self.settle()
        while self._heap and self._heap[0][0] <= target:
            deadline, _, timer, gen = heapq.heappop(self._heap)
            self._now = max(self._now, deadline)
            timer._fire(gen)
            await self.settle()
        self._now = target
        await self.settle()


# --- alerts --------------------------------------------------------------------------------


@dataclass
class Alert:
    """An alert as Alertmanager stores it (``types.Alert``)."""

    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: int = ZERO
    ends_at: int = ZERO
    generator_url: str = ""
    updated_at: int = ZERO
    timeout: bool = False
    _fp: int | None = field(default=None, repr=False, compare=False)

    @property
    def fingerprint(self) -> int:
        if self._fp is None:
            self._fp = fingerprint(self.labels)
        return self._fp

    @property
    def fp_str(self) -> str:
        return fp_str(self.fingerprint)

    def resolved_at(self, ts: int) -> bool:
        """``ResolvedAt``: an end time is set and is not after ``ts``."""
        return self.ends_at != ZERO and self.ends_at <= ts

    def status(self, ts: int) -> str:
        return "resolved" if self.resolved_at(ts) else "firing"

    def copy(self, **changes: object) -> Alert:
        return replace(self, **changes)  # type: ignore[arg-type]

    def merge(self, o: Alert, now: int) -> Alert:
        """``Alert.Merge``: combine with a newer update of the same alert."""
        if o.updated_at < self.updated_at:
            return o.merge(self, now)
        res = o.copy()
        if self.starts_at < o.starts_at:
            res.starts_at = self.starts_at
        if o.resolved_at(now):
            if self.resolved_at(now) and self.ends_at > o.ends_at:
                res.ends_at = self.ends_at
        elif self.ends_at > o.ends_at and not self.timeout:
            res.ends_at = self.ends_at
        return res


def alerts_status(alerts: list[Alert], ts: int) -> str:
    """``types.Alerts.Status``: firing if any alert fires."""
    return "firing" if any(not a.resolved_at(ts) for a in alerts) else "resolved"


@dataclass
class AlertStatus:
    """Marker state of one alert: ``unprocessed``, ``active`` or ``suppressed``."""

    state: str = "unprocessed"
    silenced_by: list[str] = field(default_factory=list)
    inhibited_by: list[str] = field(default_factory=list)


class Marker:
    """``types.Marker``: which alerts are silenced or inhibited, and by what."""

    def __init__(self) -> None:
        self._m: dict[int, AlertStatus] = {}

    def status(self, fp: int) -> AlertStatus:
        s = self._m.get(fp)
        if s is None:
            return AlertStatus()
        return AlertStatus(s.state, list(s.silenced_by), list(s.inhibited_by))

    def _get(self, fp: int) -> AlertStatus:
        s = self._m.get(fp)
        if s is None:
            s = self._m[fp] = AlertStatus()
        return s

    def set_silenced(self, fp: int, ids: list[str]) -> None:
        s = self._get(fp)
        s.silenced_by = list(ids)
        s.state = "suppressed" if ids or s.inhibited_by else "active"

    def set_inhibited(self, fp: int, ids: list[str]) -> None:
        s = self._get(fp)
        s.inhibited_by = list(ids)
        s.state = "suppressed" if ids or s.silenced_by else "active"

    def delete(self, fp: int) -> None:
        self._m.pop(fp, None)

    def count(self, fps: list[int]) -> dict[str, int]:
        out = {"active": 0, "suppressed": 0, "unprocessed": 0}
        for fp in fps:
            out[self._m[fp].state if fp in self._m else "unprocessed"] += 1
        return out


def labels_copy(m: Mapping[str, str]) -> dict[str, str]:
    return dict(m)
