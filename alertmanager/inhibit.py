"""Inhibition (``inhibit.Inhibitor``): firing source alerts mute matching target alerts."""

from __future__ import annotations

from collections.abc import Callable

from .config import InhibitRule
from .labels import LabelSet, matches_all
from .store import Alerts
from .types import Alert, Clock, Marker, now_ns


class _Rule:
    def __init__(self, r: InhibitRule) -> None:
        self.source = r.source
        self.target = r.target
        self.equal = r.equal
        self.scache: dict[int, Alert] = {}

    def has_equal(self, ls: LabelSet, exclude_two_sided: bool, now: int) -> int | None:
        for a in self.scache.values():
            if a.resolved_at(now):
                continue
            if any(a.labels.get(n, "") != ls.get(n, "") for n in self.equal):
                continue
            if exclude_two_sided and matches_all(self.target, a.labels):
                continue
            return a.fingerprint
        return None


class Inhibitor:
    """Mutes alerts that an inhibition rule's firing source alerts inhibit."""

    def __init__(self, rules: list[InhibitRule], alerts: Alerts, marker: Marker, clock: Clock) -> None:
        self.rules = [_Rule(r) for r in rules]
        self.marker = marker
        self.clock = clock
        for a in alerts.list():
            self._observe(a)
        self._cancel: Callable[[], None] = alerts.subscribe(self._observe)

    def _observe(self, a: Alert) -> None:
        for r in self.rules:
            if matches_all(r.source, a.labels):
                r.scache[a.fingerprint] = a

    def forget(self, fps: set[int]) -> None:
        """Drop garbage-collected alerts from the source caches."""
        for r in self.rules:
            for fp in fps & r.scache.keys():
                del r.scache[fp]

    def stop(self) -> None:
        self._cancel()

    def mutes(self, ls: LabelSet, fp: int) -> bool:
        now = now_ns(self.clock)
        for r in self.rules:
            if not matches_all(r.target, ls):
                continue
            by = r.has_equal(ls, matches_all(r.source, ls), now)
            if by is not None:
                self.marker.set_inhibited(fp, [f"{by:016x}"])
                return True
        self.marker.set_inhibited(fp, [])
        return False
