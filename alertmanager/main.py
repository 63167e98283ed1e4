"""The Alertmanager process: wiring of store, silences, notification log, dispatcher and API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from . import config as cfg
from .api import make_app, validate_alert
from .dispatch import Dispatcher
from .inhibit import Inhibitor
from .labels import Matcher, matches_all
from .metrics import GaugeFunc, NotifyMetrics, Registry
from .nflog import NotificationLog
from .notify import MIN_TIMEOUT, Integration, Webhook, build_pipeline
from .route import Route
from .silence import Silencer, Silences
from .store import Alerts
from .types import NS, ZERO, Alert, Clock, Marker, RealClock, now_ns

log = logging.getLogger("alertmanager")

VERSION = "0.25.0"


@dataclass
class Options:
    """Process options; the field names follow Alertmanager's flags."""

    config_file: str = "alertmanager.yml"
    storage_path: str = "data/"
    listen_address: str = "0.0.0.0:9093"
    external_url: str = ""
    route_prefix: str = ""
    data_retention: float = 120 * 3600.0
    maintenance_interval: float = 15 * 60.0
    alerts_gc_interval: float = 30 * 60.0
    cluster_listen_address: str = ""
    cluster_advertise_address: str = ""
    cluster_peers: list[str] = field(default_factory=list)
    cluster_peer_timeout: float = 15.0
    cluster_gossip_interval: float = 0.2
    cluster_pushpull_interval: float = 60.0
    cluster_settle_timeout: float = 60.0


def _host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def default_external_url(listen: str) -> str:
    host, port = _host_port(listen)
    if host in ("", "0.0.0.0", "::"):
        import socket

        host = socket.gethostname()
    return f"http://{host}:{port}/"


class Alertmanager:
    """One Alertmanager instance (``async run()`` / ``stop()``)."""

    def __init__(self, opts: Options, clock: Clock | None = None) -> None:
        self.opts = opts
        self.clock: Clock = clock or RealClock()
        u = urllib.parse.urlparse(opts.external_url or default_external_url(opts.listen_address))
        # As Alertmanager: the external URL's path loses its trailing slash.
        self.external_url = u._replace(path=u.path.rstrip("/")).geturl()
        prefix = opts.route_prefix or urllib.parse.urlparse(self.external_url).path
        self.route_prefix = prefix.rstrip("/")
        self.started_at = now_ns(self.clock)
        self.marker = Marker()
        self.alerts = Alerts(self.clock, self.marker)
        storage = Path(opts.storage_path)
        storage.mkdir(parents=True, exist_ok=True)
        self.silences = Silences(self.clock, storage / "silences", opts.data_retention)
        self.nflog = NotificationLog(self.clock, storage / "nflog", opts.data_retention)
        self.silences.on_change = self._silences_dirty
        self.nflog.on_change = self._nflog_dirty
        self._dirty: set[str] = set()
        self.config: cfg.Config = cfg.load_file(opts.config_file)
        self.route = Route(self.config.route)
        self.dispatcher: Dispatcher | None = None
        self.inhibitor: Inhibitor | None = None
        self.cluster = None
        if opts.cluster_listen_address:
            from .cluster import Peer

            self.cluster = Peer(self, opts)
        self._session: aiohttp.ClientSession | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._init_metrics()

    # --- metrics ------------------------------------------------------------------------

    def _init_metrics(self) -> None:
        r = self.registry = Registry()
        self.notify_metrics = NotifyMetrics(r)
        self.m_received = r.counter(
            "alertmanager_alerts_received_total",
            "The total number of received alerts.",
            ["status", "version"],
        )
        self.m_invalid = r.counter(
            "alertmanager_alerts_invalid_total",
            "The total number of received alerts that were invalid.",
            ["version"],
        )
        for v in ("v1", "v2"):
            self.m_received.init("firing", v)
            self.m_received.init("resolved", v)
            self.m_invalid.init(v)
        r.add(GaugeFunc("alertmanager_alerts", "How many alerts by state.", ["state"], self._alert_counts))
        r.add(
            GaugeFunc(
                "alertmanager_marked_alerts",
                "How many alerts by state are currently marked in the Alertmanager regardless of their expiry.",
                ["state"],
                self._marked_counts,
            )
        )
        r.add(
            GaugeFunc(
                "alertmanager_silences",
                "How many silences by state.",
                ["state"],
                lambda: {(k,): float(v) for k, v in self.silences.count().items()},
            )
        )
        r.add(
            GaugeFunc(
                "alertmanager_silences_queries_total",
                "How many silence queries were received.",
                [],
                lambda: {(): float(self.silences.queries_total)},
            )
        )
        r.add(
            GaugeFunc(
                "alertmanager_silences_snapshot_size_bytes",
                "Size of the last silence snapshot in bytes.",
                [],
                lambda: {(): float(self.silences.snapshot_size)},
            )
        )
        r.add(
            GaugeFunc(
                "alertmanager_nflog_queries_total",
                "Number of notification log queries were received.",
                [],
                lambda: {(): float(self.nflog.queries_total)},
            )
        )
        r.add(
            GaugeFunc(
                "alertmanager_nflog_snapshot_size_bytes",
                "Size of the last notification log snapshot in bytes.",
                [],
                lambda: {(): float(self.nflog.snapshot_size)},
            )
        )
        self.m_cfg_hash = r.gauge(
            "alertmanager_config_hash", "Hash of the currently loaded alertmanager configuration."
        )
        self.m_cfg_ok = r.gauge(
            "alertmanager_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
        )
        self.m_cfg_ts = r.gauge(
            "alertmanager_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
        )
        self.m_groups = r.gauge(
            "alertmanager_dispatcher_aggregation_groups", "Number of active aggregation groups"
        )
        self.m_processing = r.histogram(
            "alertmanager_dispatcher_alert_processing_duration_seconds",
            "Summary of latencies for the processing of alerts.",
        )
        r.add(
            GaugeFunc(
                "alertmanager_receivers",
                "Number of configured receivers.",
                [],
                lambda: {(): float(len(self.config.receivers))},
            )
        )
        r.add(
            GaugeFunc(
                "alertmanager_integrations",
                "Number of configured integrations.",
                [],
                lambda: {
                    (): float(
                        sum(
                            len(x.webhook_configs) + sum(len(v) for v in x.other.values())
                            for x in self.config.receivers
                        )
                    )
                },
            )
        )
        r.add(
            GaugeFunc(
                "alertmanager_cluster_enabled",
                "Indicates whether the clustering is enabled or not.",
                [],
                lambda: {(): 1.0 if self.cluster else 0.0},
            )
        )
        bi = r.gauge(
            "alertmanager_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, and goversion from which alertmanager was built.",
            ["branch", "goversion", "revision", "version"],
        )
        bi.set("heron", "python", "heron", VERSION, value=1.0)
        if self.cluster is not None:
            c = self.cluster
            r.add(
                GaugeFunc(
                    "alertmanager_cluster_members",
                    "Number indicating current number of members in cluster.",
                    [],
                    lambda: {(): float(len(c.members()))},
                )
            )
            r.add(
                GaugeFunc(
                    "alertmanager_peer_position",
                    "Position the Alertmanager instance believes it's in. The position determines a peer's behavior in the cluster.",
                    [],
                    lambda: {(): float(c.position())},
                )
            )

    def _alert_counts(self) -> dict[tuple[str, ...], float]:
        now = now_ns(self.clock)
        fps = [a.fingerprint for a in self.alerts.list() if not a.resolved_at(now)]
        return {(k,): float(v) for k, v in self.marker.count(fps).items()}

    def _marked_counts(self) -> dict[tuple[str, ...], float]:
        fps = [a.fingerprint for a in self.alerts.list()]
        return {(k,): float(v) for k, v in self.marker.count(fps).items()}

    def expose_metrics(self) -> str:
        return self.registry.expose()

    # --- config -------------------------------------------------------------------------

    def version_info(self) -> dict[str, str]:
        return {
            "branch": "heron",
            "buildDate": "",
            "buildUser": "heron",
            "goVersion": "python",
            "revision": "heron",
            "version": VERSION,
        }

    def cluster_status(self) -> dict[str, object]:
        if self.cluster is None:
            return {"peers": [], "status": "disabled"}
        return self.cluster.status()

    def _session_get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    def _wait(self) -> float:
        if self.cluster is None:
            return 0.0
        return self.cluster.position() * self.opts.cluster_peer_timeout

    def _timeout(self, d: float) -> float:
        return max(d, MIN_TIMEOUT) + self._wait()

    async def _apply(self, c: cfg.Config) -> None:
        """Swap in a configuration: new inhibitor, pipeline and dispatcher."""
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.inhibitor is not None:
            self.inhibitor.stop()
        self.config = c
        self.route = Route(c.route)
        integrations: dict[str, list[Integration]] = {}
        for r in c.receivers:
            lst: list[Integration] = []
            for i, w in enumerate(r.webhook_configs):
                lst.append(
                    Webhook(
                        w,
                        i,
                        r.name,
                        lambda: self.external_url,
                        self.notify_metrics,
                        self._session_get,
                        self.clock,
                    )
                )
            integrations[r.name] = lst
        self.inhibitor = Inhibitor(c.inhibit_rules, self.alerts, self.marker, self.clock)
        self.silencer = Silencer(self.silences, self.marker)
        pipeline = build_pipeline(
            integrations,
            self.clock,
            self._wait,
            self.inhibitor,
            self.silencer,
            c.time_intervals,
            self.nflog,
            self.notify_metrics,
            self.cluster.wait_ready if self.cluster is not None else None,
        )
        self.dispatcher = Dispatcher(
            self.route,
            self.alerts,
            pipeline,
            self.clock,
            self._timeout,
            on_groups_changed=lambda n: self.m_groups.set(value=float(n)),
            observe_processing=self.m_processing.observe,
        )
        self.dispatcher.start()
        self.m_cfg_hash.set(value=c.hash)
        self.m_cfg_ok.set(value=1.0)
        self.m_cfg_ts.set(value=float(int(time.time())))

    async def reload(self) -> str | None:
        """Reload the config file; on error keep the running config and return the message."""
        try:
            c = cfg.load_file(self.opts.config_file)
        except cfg.ConfigError as e:
            log.error("Loading configuration file failed file=%s err=%s", self.opts.config_file, e)
            self.m_cfg_ok.set(value=0.0)
            return str(e)
        log.info("Completed loading of configuration file file=%s", self.opts.config_file)
        await self._apply(c)
        return None

    # --- alerts -------------------------------------------------------------------------

    def insert_alerts(self, alerts: list[Alert], version: str = "v2") -> list[str]:
        """``API.insertAlerts``: defaults for times, validation, store; returns the errors."""
        now = now_ns(self.clock)
        resolve_timeout = int(self.config.global_.resolve_timeout * NS)
        for a in alerts:
            a.updated_at = now
            if a.starts_at == ZERO:
                a.starts_at = now if a.ends_at == ZERO else a.ends_at
            if a.ends_at == ZERO:
                a.timeout = True
                a.ends_at = now + resolve_timeout
            self.m_received.inc("firing" if a.ends_at > now else "resolved", version)
        valid, errs = [], []
        for a in alerts:
            a.labels = {k: v for k, v in a.labels.items() if v != ""}
            a._fp = None
            err = validate_alert(a)
            if err is not None:
                errs.append(err)
                self.m_invalid.inc(version)
                continue
            valid.append(a)
        self.alerts.put(*valid)
        return errs

    def alert_filter(
        self, matchers: list[Matcher], silenced: bool, inhibited: bool, active: bool, unprocessed: bool = True
    ) -> Callable[[Alert, int], bool]:
        def f(a: Alert, now: int) -> bool:
            if a.ends_at != ZERO and a.ends_at < now:
                return False
            fp = a.fingerprint
            assert self.inhibitor is not None
            self.inhibitor.mutes(a.labels, fp)
            self.silencer.mutes(a.labels, fp)
            st = self.marker.status(fp)
            if not active and st.state == "active":
                return False
            if not unprocessed and st.state == "unprocessed":
                return False
            if not silenced and st.silenced_by:
                return False
            if not inhibited and st.inhibited_by:
                return False
            return matches_all(matchers, a.labels)

        return f

    # --- persistence --------------------------------------------------------------------

    def _silences_dirty(self) -> None:
        self._dirty.add("silences")
        self._flush_soon()

    def _nflog_dirty(self) -> None:
        self._dirty.add("nflog")
        self._flush_soon()

    def silences_changed(self) -> None:
        """Persist silences now (after an API change)."""
        self.silences.snapshot()
        self._dirty.discard("silences")

    def _flush_soon(self) -> None:
        # Snapshots are small; write them right away so a crash loses nothing.
        with contextlib.suppress(OSError):
            if "silences" in self._dirty:
                self.silences.snapshot()
            if "nflog" in self._dirty:
                self.nflog.snapshot()
        self._dirty.clear()

    async def _maintenance(self) -> None:
        while True:
            await self.clock.sleep(self.opts.maintenance_interval)
            self.silences.gc()
            self.nflog.gc()
            self.silences.snapshot()
            self.nflog.snapshot()

    async def _alerts_gc(self) -> None:
        while True:
            await self.clock.sleep(self.opts.alerts_gc_interval)
            gone = self.alerts.gc()
            if self.inhibitor is not None:
                self.inhibitor.forget({a.fingerprint for a in gone})

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start components and the HTTP server (returns once listening)."""
        loop = asyncio.get_running_loop()
        if self.cluster is not None:
            await self.cluster.start()
        await self._apply(self.config)
        self._tasks.append(loop.create_task(self._maintenance()))
        self._tasks.append(loop.create_task(self._alerts_gc()))
        app = make_app(self, self.route_prefix)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, port = _host_port(self.opts.listen_address)
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server: Any = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))

    async def run(self) -> None:
        """Run until ``stop()``."""
        await self.start()
        log.info("Listening address=%s", self.opts.listen_address)
        await self._stop.wait()
        await self.shutdown()

    def stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.cluster is not None:
            await self.cluster.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        self.silences.snapshot()
        self.nflog.snapshot()
