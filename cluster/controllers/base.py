"""Controller machinery: work queues fed by one store watch, resyncs on an injected clock."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cluster.apiserver import errors
from cluster.apiserver.registry import Registry
from cluster.apiserver.resources import ResourceInfo
from cluster.store import Event

from .clock import Clock

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What controllers get: the in-process API, the clock and settings."""

    registry: Registry
    clock: Clock
    node_monitor_grace_period: float = 40.0
    node_monitor_period: float = 5.0
    prometheus_url: str | None = None
    hpa_sync_period: float = 15.0
    ca_pem: str = ""
    # issue_token(namespace, serviceaccount, uid) -> a non-expiring ServiceAccount token
    issue_token: Callable[[str, str, str], str] | None = None


class WorkQueue:
    """A de-duplicating FIFO of keys."""

    def __init__(self) -> None:
        self._items: dict[str, None] = {}
        self._event = asyncio.Event()
        self.busy = False
        self.adds = 0

    def add(self, key: str) -> None:
        """Queue a key (no-op if already queued)."""
        self.adds += 1
        self._items[key] = None
        self._event.set()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self) -> str:
        """Next key."""
        while not self._items:
            self._event.clear()
            await self._event.wait()
        key = next(iter(self._items))
        del self._items[key]
        return key


class Controller:
    """Base of reconcile loops. Subclasses set ``watches`` and implement ``sync``."""

    name = "controller"
    watches: tuple[str, ...] = ()
    watch_all = False
    resync: float | None = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reg = ctx.registry
        self.clock = ctx.clock
        self.queue = WorkQueue()
        self._delayed: set[asyncio.Task[None]] = set()
        self._stopped = False
        self.syncs = 0
        self.errors = 0

    # ---- to override -------------------------------------------------------
    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        """React to a change of a watched resource (default: queue the object's key)."""
        self.queue.add(obj_key(ev.obj))

    def initial_keys(self) -> Iterable[str]:
        """Keys to sync at start and on every resync."""
        return ()

    def sync(self, key: str) -> Any:
        """Reconcile one key; may return seconds after which to sync it again."""
        raise NotImplementedError

    # ---- machinery ---------------------------------------------------------
    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds of the clock."""

        async def later() -> None:
            await self.clock.sleep(delay)
            if not self._stopped:
                self.queue.add(key)

        t = asyncio.create_task(later())
        self._delayed.add(t)
        t.add_done_callback(self._delayed.discard)

    def enqueue_all(self) -> None:
        """Queue every initial key."""
        for k in self.initial_keys():
            self.queue.add(k)

    async def run(self) -> None:
        """Process the queue until stopped."""
        while not self._stopped:
            key = await self.queue.get()
            self.queue.busy = True
            try:
                res = self.sync(key)
                if inspect.isawaitable(res):
                    res = await res
                self.syncs += 1
                if isinstance(res, int | float) and res > 0:
                    self.add_after(key, float(res))
            except errors.APIError as e:
                self.errors += 1
                if e.code == 409:
                    self.queue.add(key)
                else:
                    log.info("%s: sync %s: %s", self.name, key, e.message)
                    self.add_after(key, 1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a bad object must not stop the loop
                self.errors += 1
                log.exception("%s: sync %s failed", self.name, key)
                self.add_after(key, 5.0)
            finally:
                self.queue.busy = False
            await asyncio.sleep(0)

    async def resync_loop(self) -> None:
        """Queue everything every ``resync`` seconds of the clock."""
        if not self.resync:
            return
        while not self._stopped:
            await self.clock.sleep(self.resync)
            self.enqueue_all()

    def stop(self) -> None:
        """Stop processing."""
        self._stopped = True
        for t in list(self._delayed):
            t.cancel()

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing running."""
        return not len(self.queue) and not self.queue.busy


def obj_key(obj: dict[str, Any]) -> str:
    """``namespace/name`` or ``name``."""
    md = obj.get("metadata", {})
    ns = md.get("namespace")
    return f"{ns}/{md.get('name')}" if ns else str(md.get("name"))


def split_key(key: str) -> tuple[str | None, str]:
    """Inverse of :func:`obj_key`."""
    ns, _, name = key.rpartition("/")
    return (ns or None), name


class ControllerManager:
    """Runs controllers, feeding them from a single watch on the whole store."""

    def __init__(self, ctx: Context, controllers: list[Controller]) -> None:
        self.ctx = ctx
        self.controllers = controllers
        self._tasks: list[asyncio.Task[Any]] = []
        self._watcher: Any = None
        self._stopped = False
        self._by_res: dict[tuple[str, str], list[Controller]] = {}
        self._all = [c for c in controllers if c.watch_all]
        for c in controllers:
            for w in c.watches:
                r = ctx.registry.info(w)
                self._by_res.setdefault((r.group or "core", r.plural), []).append(c)

    def get(self, cls: type[Controller]) -> Any:
        """The controller of a class."""
        return next(c for c in self.controllers if isinstance(c, cls))

    async def run(self) -> None:
        """Watch the store and dispatch; run every controller."""
        store = self.ctx.registry.store
        self._watcher = store.subscribe("/registry/", store.revision)
        for c in self.controllers:
            c.enqueue_all()
            self._tasks.append(asyncio.create_task(c.run(), name=f"controller-{c.name}"))
            if c.resync:
                self._tasks.append(asyncio.create_task(c.resync_loop(), name=f"resync-{c.name}"))
        try:
            while not self._stopped:
                ev = await self._watcher.queue.get()
                if ev is None:
                    return
                self.dispatch(ev)
        finally:
            store.unsubscribe(self._watcher)
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    def dispatch(self, ev: Event) -> None:
        """Hand one store event to the interested controllers."""
        parts = ev.key.split("/", 4)  # '', 'registry', group, plural, rest
        if len(parts) < 5:
            return
        cs = self._by_res.get((parts[2], parts[3]), []) + self._all
        if not cs:
            return
        group = "" if parts[2] == "core" else parts[2]
        r = self.ctx.registry.resources.lookup(group, parts[3])
        if r is None:
            return
        for c in cs:
            try:
                c.on_event(r, ev)
            except Exception:  # noqa: BLE001
                log.exception("%s: on_event failed", c.name)

    def stop(self) -> None:
        """Stop every controller."""
        self._stopped = True
        for c in self.controllers:
            c.stop()
        if self._watcher is not None:
            self.ctx.registry.store.unsubscribe(self._watcher)

    @property
    def idle(self) -> bool:
        """No pending events and every controller idle."""
        watchers = self.ctx.registry.store._watchers  # noqa: SLF001 - every in-process consumer
        return all(w.queue.empty() for w in watchers) and all(c.idle for c in self.controllers)

    def collect(self) -> Iterable[Any]:
        """Prometheus metrics of the controllers (a prometheus_client custom collector)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=["name"])
        adds = CounterMetricFamily(
            "workqueue_adds", "Total number of adds handled by workqueue", labels=["name"]
        )
        syncs = CounterMetricFamily("controller_syncs", "Reconciliations by controller", labels=["name"])
        errs = CounterMetricFamily(
            "controller_sync_errors", "Failed reconciliations by controller", labels=["name"]
        )
        for c in self.controllers:
            depth.add_metric([c.name], len(c.queue))
            adds.add_metric([c.name], c.queue.adds)
            syncs.add_metric([c.name], c.syncs)
            errs.add_metric([c.name], c.errors)
        yield from (depth, adds, syncs, errs)
        from cluster.scheduler import Scheduler

        sched = next((c for c in self.controllers if isinstance(c, Scheduler)), None)
        if sched is not None:
            att = CounterMetricFamily(
                "scheduler_schedule_attempts",
                "Number of attempts to schedule pods, by the result.",
                labels=["result", "profile"],
            )
            for result in ("scheduled", "unschedulable", "error"):
                att.add_metric([result, "default-scheduler"], sched.attempts.get(result, 0))
            pend = GaugeMetricFamily(
                "scheduler_pending_pods", "Number of pending pods, by the queue type.", labels=["queue"]
            )
            pend.add_metric(["unschedulable"], len(sched._unschedulable))  # noqa: SLF001
            pend.add_metric(["active"], len(sched.queue))
            yield from (att, pend)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait (in real time) until every queue is drained."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while loop.time() < deadline:
            await asyncio.sleep(0)
            if self.idle:
                quiet += 1
                if quiet >= 5:
                    return
            else:
                quiet = 0
        raise TimeoutError("controllers did not settle")
