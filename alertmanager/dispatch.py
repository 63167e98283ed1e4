"""The dispatcher and aggregation groups, with Alertmanager's timer semantics on an injected clock.

* A group is created (per route and group labels) when its first alert arrives; its timer
  starts at ``group_wait``. An alert whose ``startsAt + group_wait`` is already past
  triggers an immediate flush if the group has not flushed yet.
* On each tick the timer is reset to ``group_interval`` and the group flushes: all its
  alerts (firing ones with ``endsAt`` cleared, sorted) go through the pipeline, which
  decides through the notification log whether to send (``repeat_interval``).
* After a successful flush, resolved alerts that were not updated meanwhile leave the group.
* Empty groups are removed every 30 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from .labels import fingerprint, labelset_before, labelset_str
from .notify import NotifyContext, Stage, sort_alerts
from .route import Route
from .store import Alerts
from .types import ZERO, Alert, Clock, now_ns

log = logging.getLogger("alertmanager.dispatch")

NotifyFunc = Callable[[NotifyContext, list[Alert]], Awaitable[bool]]


class AggrGroup:
    """The alerts of one route with the same group labels, and their timer."""

    def __init__(
        self,
        labels: dict[str, str],
        route: Route,
        clock: Clock,
        timeout: Callable[[float], float],
    ) -> None:
        self.labels = labels
        self.route = route
        self.opts = route.opts
        self.clock = clock
        self.timeout = timeout
        self.group_key = f"{route.key()}:{labelset_str(labels)}"
        self.alerts: dict[int, Alert] = {}
        self.has_flushed = False
        self.timer = clock.timer(self.opts.group_wait)
        self.task: asyncio.Task[None] | None = None

    def fingerprint(self) -> int:
        return fingerprint(self.labels)

    def empty(self) -> bool:
        return not self.alerts

    def insert(self, alert: Alert) -> None:
        self.alerts[alert.fingerprint] = alert
        if not self.has_flushed and alert.starts_at + int(self.opts.group_wait * 1e9) < now_ns(self.clock):
            self.timer.reset(0)

    def start(self, notify: NotifyFunc) -> None:
        self.task = asyncio.get_running_loop().create_task(self.run(notify))

    async def stop(self) -> None:
        self.timer.stop()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def run(self, notify: NotifyFunc) -> None:
        while True:
            fired = await self.timer.wait()
            o = self.opts
            ctx = NotifyContext(
                now=int(fired * 1e9),
                group_key=self.group_key,
                group_labels=dict(self.labels),
                receiver=o.receiver,
                repeat_interval=o.repeat_interval,
                deadline=fired + self.timeout(o.group_interval),
                mute_time_intervals=list(o.mute_time_intervals),
                active_time_intervals=list(o.active_time_intervals),
            )
            self.timer.reset(o.group_interval)
            self.has_flushed = True

            async def send(alerts: list[Alert], ctx: NotifyContext = ctx) -> bool:
                return await notify(ctx, alerts)

            await self.flush(send)

    async def flush(self, notify: Callable[[list[Alert]], Awaitable[bool]]) -> None:
        if self.empty():
            return
        now = now_ns(self.clock)
        batch = []
        for a in self.alerts.values():
            c = a.copy()
            if not c.resolved_at(now):
                c.ends_at = ZERO
            batch.append(c)
        batch = sort_alerts(batch)
        if await notify(batch):
            now = now_ns(self.clock)
            for a in batch:
                got = self.alerts.get(a.fingerprint)
                if got is not None and a.resolved_at(now) and got.updated_at == a.updated_at:
                    del self.alerts[a.fingerprint]


class AlertGroup:
    """A group as ``/api/v2/alerts/groups`` shows it."""

    def __init__(self, labels: dict[str, str], receiver: str, alerts: list[Alert]) -> None:
        self.labels = labels
        self.receiver = receiver
        self.alerts = alerts


class Dispatcher:
    """Routes alerts into aggregation groups and runs them."""

    def __init__(
        self,
        route: Route,
        alerts: Alerts,
        stage: Stage,
        clock: Clock,
        timeout: Callable[[float], float],
        on_groups_changed: Callable[[int], None] | None = None,
        observe_processing: Callable[[float], None] | None = None,
    ) -> None:
        self.route = route
        self.alerts = alerts
        self.stage = stage
        self.clock = clock
        self.timeout = timeout
        self.groups_by_route: dict[Route, dict[int, AggrGroup]] = {}
        self._cancel: Callable[[], None] | None = None
        self._gc_task: asyncio.Task[None] | None = None
        self._on_groups = on_groups_changed
        self._observe = observe_processing
        self.stopped = False

    def num_groups(self) -> int:
        return sum(len(g) for g in self.groups_by_route.values())

    def start(self) -> None:
        """Take every stored alert, then every new one; start the cleanup loop."""
        for a in self.alerts.list():
            self._on_alert(a)
        self._cancel = self.alerts.subscribe(self._on_alert)
        self._gc_task = asyncio.get_running_loop().create_task(self._gc_loop())

    async def _gc_loop(self) -> None:
        while True:
            await self.clock.sleep(30.0)
            await self.gc()

    async def gc(self) -> None:
        """Remove empty aggregation groups."""
        for groups in self.groups_by_route.values():
            for fp, ag in list(groups.items()):
                if ag.empty():
                    del groups[fp]
                    await ag.stop()
        if self._on_groups:
            self._on_groups(self.num_groups())

    async def stop(self) -> None:
        self.stopped = True
        if self._cancel:
            self._cancel()
        if self._gc_task:
            self._gc_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gc_task
        for groups in self.groups_by_route.values():
            for ag in groups.values():
                await ag.stop()
        self.groups_by_route.clear()

    def _on_alert(self, alert: Alert) -> None:
        if self.stopped:
            return
        t0 = time.perf_counter()
        for r in self.route.match(alert.labels):
            self._process(alert, r)
        if self._observe:
            self._observe(time.perf_counter() - t0)

    def _process(self, alert: Alert, route: Route) -> None:
        labels = route.group_labels(alert.labels)
        fp = fingerprint(labels)
        groups = self.groups_by_route.setdefault(route, {})
        ag = groups.get(fp)
        if ag is not None:
            ag.insert(alert)
            return
        ag = AggrGroup(labels, route, self.clock, self.timeout)
        groups[fp] = ag
        if self._on_groups:
            self._on_groups(self.num_groups())
        ag.insert(alert)
        ag.start(self._notify)

    async def _notify(self, ctx: NotifyContext, alerts: list[Alert]) -> bool:
        try:
            await self.stage.exec(ctx, alerts)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.error("Notify for alerts failed num_alerts=%d err=%s", len(alerts), e)
            return False
        return True

    def groups(
        self,
        route_filter: Callable[[Route], bool],
        alert_filter: Callable[[Alert, int], bool],
    ) -> tuple[list[AlertGroup], dict[int, list[str]]]:
        """``Dispatcher.Groups``: groups with their filtered alerts, and receivers per alert."""
        out: list[AlertGroup] = []
        receivers: dict[int, list[str]] = {}
        now = now_ns(self.clock)
        for route, groups in self.groups_by_route.items():
            if not route_filter(route):
                continue
            for ag in groups.values():
                recv = route.opts.receiver
                kept = []
                for a in ag.alerts.values():
                    if not alert_filter(a, now):
                        continue
                    receivers.setdefault(a.fingerprint, []).append(recv)
                    kept.append(a)
                if kept:
                    out.append(AlertGroup(dict(ag.labels), recv, sort_alerts(kept)))

        out.sort(key=_GroupKey)
        for v in receivers.values():
            v.sort()
        return out, receivers


class _GroupKey:
    def __init__(self, g: AlertGroup) -> None:
        self.g = g

    def __lt__(self, o: _GroupKey) -> bool:
        a, b = self.g, o.g
        if a.labels == b.labels:
            return a.receiver < b.receiver
        return labelset_before(a.labels, b.labels)
