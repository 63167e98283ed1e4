"""The rule manager: loads rule files, runs every group on its schedule, feeds the notifier.

Implements :class:`server.interface.RuleManager`::

    rm = RuleManager(db, engine, notifier=notifier, external_url=flags.external_url,
                     executor=state.executor)
    await rm.update(cfg.global_config.evaluation_interval, cfg.rule_file_paths(),
                    dict(cfg.external_labels.pairs),
                    rule_query_offset_ms=cfg.global_config.rule_query_offset)
    task = asyncio.create_task(rm.run())
    rm.rule_groups()   # /api/v1/rules "groups"
    rm.alerts()        # /api/v1/alerts "alerts"
    rm.stop(); await task

As Prometheus's ``rules.Manager``: ``update`` validates every file first and
raises :class:`promql.rules.RuleFileError` (keeping the running rule set) if
any is invalid; unchanged groups keep running untouched, changed groups take
over their predecessor's alert state, removed groups get stale markers for
their series after two intervals. The first load restores ``for`` state from
``ALERTS_FOR_STATE`` (``--rules.alert.for-outage-tolerance`` 1h,
``--rules.alert.for-grace-period`` 10m); alerts are (re)sent every
``--rules.alert.resend-delay`` (1m) with ``endsAt = now + 4·max(resend delay,
interval)``. Time is injected: ``clock()`` returns seconds since the epoch,
``sleep(seconds)`` waits.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from promql.engine import Engine
from promql.rules import (
    DEFAULT_FOR_GRACE_PERIOD_MS,
    DEFAULT_OUTAGE_TOLERANCE_MS,
    DEFAULT_RESEND_DELAY_MS,
    Alert,
    AlertingRule,
    Group,
    GroupOptions,
    GroupSpec,
    NotifyFunc,
    RecordingRule,
    RuleFileError,
    build_group,
    engine_query_func,
    load_rule_file,
)
from promql.templates import go_format_float, table_link

from .notifier import Notifier, NotifierAlert

__all__ = ["RuleManager", "format_api_time_ns", "send_alerts_func"]

log = logging.getLogger("heron.rules")

ZERO_TIME = "0001-01-01T00:00:00Z"


def format_api_time_ns(ms: int | None) -> str:
    """Go's ``time.Time`` JSON (RFC 3339, fraction without trailing zeros), UTC; zero time if unset."""
    if ms is None:
        return ZERO_TIME
    secs, milli = divmod(int(ms), 1000)
    s = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if milli:
        s += "." + f"{milli:03d}".rstrip("0")
    return s + "Z"


def _seconds(ms: int) -> int | float:
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def send_alerts_func(notifier: Notifier, external_url: str) -> NotifyFunc:
    """Prometheus's ``SendAlerts``: rule alerts to notifier alerts (``endsAt`` = resolved or valid-until)."""

    def notify(expr: str, alerts: list[Alert]) -> None:
        res = [
            NotifierAlert(
                labels=a.labels,
                annotations=a.annotations,
                starts_at_ms=a.fired_at,
                ends_at_ms=a.resolved_at if a.resolved_at is not None else a.valid_until,
                generator_url=external_url.rstrip("/") + table_link(expr),
            )
            for a in alerts
        ]
        if res:
            notifier.send(res)

    return notify


def _expand_globs(files: Sequence[str]) -> list[str]:
    out: list[str] = []
    for pat in files:
        matches = sorted(glob.glob(pat)) if any(c in pat for c in "*?[") else [pat]
        for p in matches:
            if p not in out:
                out.append(p)
    return out


class RuleManager:
    """Recording and alerting rule evaluation for ``heron server`` (the ``RuleManager`` seam)."""

    def __init__(
        self,
        storage: Any,
        engine: Engine,
        *,
        queryable: Any = None,
        notifier: Notifier | None = None,
        notify_fn: NotifyFunc | None = None,
        external_url: str = "",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        executor: Executor | None = None,
        outage_tolerance_ms: int = DEFAULT_OUTAGE_TOLERANCE_MS,
        for_grace_period_ms: int = DEFAULT_FOR_GRACE_PERIOD_MS,
        resend_delay_ms: int = DEFAULT_RESEND_DELAY_MS,
    ) -> None:
        """``storage`` is the ``Appendable`` results go to (and the ``Queryable`` rules read,
        unless ``queryable`` is given); ``executor`` (e.g. the server's query pool) runs
        evaluations off the event loop, otherwise they run inline."""
        self.appendable = storage
        self.queryable = queryable if queryable is not None else storage
        self.engine = engine
        self.notifier = notifier
        self.external_url = external_url
        self.clock = clock
        self.sleep = sleep
        self.executor = executor
        self.outage_tolerance_ms = outage_tolerance_ms
        self.for_grace_period_ms = for_grace_period_ms
        self.resend_delay_ms = resend_delay_ms
        self.default_query_offset_ms = 0
        if notify_fn is None and notifier is not None:
            notify_fn = send_alerts_func(notifier, external_url)
        self.notify_fn = notify_fn
        self.groups: dict[str, Group] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stale_tasks: set[asyncio.Task[None]] = set()
        self._restored = False
        self._running = False
        self._done: asyncio.Event | None = None
        self._lock = asyncio.Lock()
        self.last_reload_error: str | None = None

    # -- options -------------------------------------------------------------------------

    def _opts(self) -> GroupOptions:
        executor = None
        if self.executor is not None:
            pool = self.executor

            async def run_in_pool(fn: Callable[[], None]) -> None:
                await asyncio.get_running_loop().run_in_executor(pool, fn)

            executor = run_in_pool
        return GroupOptions(
            appendable=self.appendable,
            queryable=self.queryable,
            query_fn=engine_query_func(self.engine, self.queryable),
            notify_fn=self.notify_fn,
            external_url=self.external_url,
            outage_tolerance_ms=self.outage_tolerance_ms,
            for_grace_period_ms=self.for_grace_period_ms,
            resend_delay_ms=self.resend_delay_ms,
            default_query_offset_ms=self.default_query_offset_ms,
            clock=self.clock,
            sleep=self.sleep,
            executor=executor,
        )

    # -- loading ------------------------------------------------------------------------

    def load_groups(
        self, interval_ms: int, files: Sequence[str], external_labels: Mapping[str, str]
    ) -> dict[str, Group]:
        """Parse and validate ``files`` into new (not yet running) groups; raises :class:`RuleFileError`."""
        specs: list[GroupSpec] = []
        errors: list[str] = []
        for path in _expand_globs(files):
            try:
                specs.extend(load_rule_file(path))
            except RuleFileError as e:
                errors.extend(e.errors)
        if errors:
            raise RuleFileError(errors)
        opts = self._opts()
        out: dict[str, Group] = {}
        for spec in specs:
            g = build_group(
                spec,
                opts,
                default_interval_ms=interval_ms,
                external_labels=external_labels,
                restored=self._restored,
                should_restore=not self._restored,
            )
            out[g.key] = g
        return out

    async def update(
        self,
        interval_ms: int,
        files: Sequence[str],
        external_labels: dict[str, str],
        *,
        rule_query_offset_ms: int | None = None,
    ) -> None:
        """Load rule files (on start and every reload); on invalid files raise and keep the old rules."""
        async with self._lock:
            if rule_query_offset_ms is not None:
                self.default_query_offset_ms = rule_query_offset_ms
            try:
                new = self.load_groups(interval_ms or 60_000, files, external_labels)
            except RuleFileError as e:
                self.last_reload_error = str(e)
                log.error("loading rule files failed, previous rule set kept: %s", e)
                raise
            self.last_reload_error = None
            self._restored = True
            old = self.groups
            result: dict[str, Group] = {}
            for key, ng in new.items():
                og = old.pop(key, None)
                if (
                    og is not None
                    and og.equals(ng)
                    and og.opts.default_query_offset_ms == self.default_query_offset_ms
                ):
                    result[key] = og
                    continue
                if og is not None:
                    await self._stop_group(og)
                    ng.copy_state(og)
                result[key] = ng
                if self._running:
                    self._start_group(ng)
            for og in old.values():
                await self._stop_group(og)
                if self._running:
                    t = asyncio.create_task(og.mark_stale_after_removal())
                    self._stale_tasks.add(t)
                    t.add_done_callback(self._stale_tasks.discard)
            self.groups = result

    def _start_group(self, g: Group) -> None:
        self._tasks[g.key] = asyncio.create_task(g.run(), name=f"rule-group {g.key}")

    async def _stop_group(self, g: Group) -> None:
        t = self._tasks.pop(g.key, None)
        if t is not None:
            t.cancel()
            await asyncio.gather(t, return_exceptions=True)
        await g.wait_idle()

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Start evaluating every group; returns after :meth:`stop`."""
        self._done = asyncio.Event()
        self._running = True
        for g in self.groups.values():
            if g.key not in self._tasks:
                self._start_group(g)
        try:
            await self._done.wait()
        finally:
            self._running = False
            tasks = list(self._tasks.values()) + list(self._stale_tasks)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for g in self.groups.values():
                await g.wait_idle()
            self._tasks.clear()

    def stop(self) -> None:
        """Stop all evaluation (``run`` returns)."""
        if self._done is not None:
            self._done.set()
        else:
            for t in list(self._tasks.values()) + list(self._stale_tasks):
                t.cancel()

    # -- API data ------------------------------------------------------------------------

    def rule_groups(self) -> list[dict[str, Any]]:
        """``/api/v1/rules``'s ``groups`` in Prometheus's shape (sorted by file, then name)."""
        out = []
        for g in sorted(self.groups.values(), key=lambda g: (g.file, g.name)):
            rules = []
            for r in g.rules:
                if isinstance(r, AlertingRule):
                    d: dict[str, Any] = {
                        "state": str(r.state()),
                        "name": r.name,
                        "query": r.query,
                        "duration": _seconds(r.hold_ms),
                        "keepFiringFor": _seconds(r.keep_firing_for_ms),
                        "labels": r.labels.to_dict(),
                        "annotations": r.annotations.to_dict(),
                        "alerts": self._api_alerts(r),
                        "health": str(r.health),
                    }
                else:
                    assert isinstance(r, RecordingRule)
                    d = {"name": r.name, "query": r.query}
                    if len(r.labels):
                        d["labels"] = r.labels.to_dict()
                    d["health"] = str(r.health)
                if r.last_error:
                    d["lastError"] = r.last_error
                d["evaluationTime"] = r.evaluation_time_s
                d["lastEvaluation"] = format_api_time_ns(r.last_evaluation_ms)
                d["type"] = r.kind
                rules.append(d)
            out.append(
                {
                    "name": g.name,
                    "file": g.file,
                    "rules": rules,
                    "interval": _seconds(g.interval_ms),
                    "limit": g.limit,
                    "evaluationTime": g.evaluation_time_s,
                    "lastEvaluation": format_api_time_ns(g.last_evaluation_ms),
                }
            )
        return out

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``'s ``alerts``: every pending and firing alert."""
        out: list[dict[str, Any]] = []
        for g in sorted(self.groups.values(), key=lambda g: (g.file, g.name)):
            for r in g.alerting_rules():
                out.extend(self._api_alerts(r))
        return out

    @staticmethod
    def _api_alerts(r: AlertingRule) -> list[dict[str, Any]]:
        res = []
        for a in sorted(r.active_alerts(), key=lambda a: a.labels):
            d: dict[str, Any] = {
                "labels": a.labels.to_dict(),
                "annotations": a.annotations.to_dict(),
                "state": str(a.state),
                "activeAt": format_api_time_ns(a.active_at),
            }
            if a.keep_firing_since is not None:
                d["keepFiringSince"] = format_api_time_ns(a.keep_firing_since)
            d["value"] = go_format_float(a.value, "e", -1)
            res.append(d)
        return res

    # -- metrics ---------------------------------------------------------------------------

    def group_metrics(self) -> dict[str, dict[str, float]]:
        """Per group key: Prometheus's ``prometheus_rule_*`` figures (for ``/metrics``)."""
        out = {}
        for key, g in self.groups.items():
            m = g.metrics
            out[key] = {
                "prometheus_rule_evaluations_total": m.evaluations,
                "prometheus_rule_evaluation_failures_total": m.evaluation_failures,
                "prometheus_rule_group_iterations_total": m.iterations_scheduled,
                "prometheus_rule_group_iterations_missed_total": m.iterations_missed,
                "prometheus_rule_group_interval_seconds": g.interval_ms / 1000,
                "prometheus_rule_group_last_duration_seconds": g.evaluation_time_s,
                "prometheus_rule_group_last_evaluation_timestamp_seconds": (g.last_evaluation_ms or 0) / 1000,
                "prometheus_rule_group_last_evaluation_samples": m.samples,
                "prometheus_rule_group_last_restore_duration_seconds": m.last_restore_duration_s,
                "prometheus_rule_group_rules": len(g.rules),
            }
        return out
