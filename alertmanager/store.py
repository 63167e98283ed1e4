"""The in-memory alert provider (``provider/mem``): alerts by fingerprint, listeners, GC."""

from __future__ import annotations

import builtins
from collections.abc import Callable

from .types import Alert, Clock, Marker, now_ns

Listener = Callable[[Alert], None]


class Alerts:
    """All alerts known to this Alertmanager; ``put`` merges overlapping updates."""

    def __init__(self, clock: Clock, marker: Marker) -> None:
        self.clock = clock
        self.marker = marker
        self._alerts: dict[int, Alert] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        """Call ``fn`` for every alert stored from now on; returns an unsubscribe function."""
        self._listeners.append(fn)

        def cancel() -> None:
            if fn in self._listeners:
                self._listeners.remove(fn)

        return cancel

    def get(self, fp: int) -> Alert | None:
        return self._alerts.get(fp)

    def list(self) -> list[Alert]:
        return list(self._alerts.values())

    def put(self, *alerts: Alert) -> None:
        now = now_ns(self.clock)
        for alert in alerts:
            fp = alert.fingerprint
            old = self._alerts.get(fp)
            if old is not None:
                if (old.starts_at < alert.ends_at < old.ends_at) or (
                    old.starts_at < alert.starts_at < old.ends_at
                ):
                    alert = old.merge(alert, now)
            self._alerts[fp] = alert
            for fn in list(self._listeners):
                fn(alert)

    def gc(self) -> builtins.list[Alert]:
        """Drop resolved alerts (and their marker entries); returns what was dropped."""
        now = now_ns(self.clock)
        gone = [a for a in self._alerts.values() if a.resolved_at(now)]
        for a in gone:
            del self._alerts[a.fingerprint]
            self.marker.delete(a.fingerprint)
        return gone
