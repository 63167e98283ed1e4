"""The aiohttp application of ``heron server``: state, flags and routes.

``create_app(storage, engine, config, flags, clock)`` builds the app from its
dependencies (nothing global): ``storage`` is any ``Appendable`` +
``Queryable`` (the TSDB ``DB``; admin endpoints use its ``delete_series``,
``clean_tombstones`` and ``snapshot`` when present), ``engine`` a
``promql.engine.Engine``, ``config`` a loaded :class:`scraper.config.Config`,
``flags`` the :class:`ServerFlags`, and ``clock`` returns seconds since the
epoch. Rules, targets and Alertmanagers plug in through :mod:`server.interface`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any

from aiohttp import web

from promql.engine import Engine
from scraper.config import Config, format_duration

from .interface import (
    AlertmanagerProvider,
    EmptyRuleManager,
    EmptyTargetProvider,
    RuleManager,
    StaticAlertmanagers,
    TargetProvider,
)
from .metrics import ServerMetrics
from .remote import FanoutAppendable, RemoteWriteManager
from .remote_read import MergeQueryable

__all__ = ["STATE", "ServerFlags", "ServerState", "create_app", "engine_from_flags"]


@dataclass
class ServerFlags:
    """Command-line settings, named after Prometheus's flags (see ``heron/server_cli.py``)."""

    config_file: str = "prometheus.yml"
    storage_path: str = "data/"
    listen_address: str = "0.0.0.0:9090"
    enable_remote_write_receiver: bool = False
    enable_admin_api: bool = False
    enable_lifecycle: bool = False
    retention_time_ms: int = 0  # 0: the default (15d) unless a size limit is set
    retention_size_bytes: int = 0
    lookback_delta_ms: int = 300_000
    query_timeout_ms: int = 120_000
    query_max_samples: int = 50_000_000
    query_max_concurrency: int = 20
    external_url: str = ""
    route_prefix: str = ""
    web_config_file: str = ""
    remote_read_sample_limit: int = 50_000_000
    remote_flush_deadline_ms: int = 60_000
    min_block_duration_ms: int = 2 * 3600 * 1000
    max_block_duration_ms: int = 0
    no_lockfile: bool = False
    wal_compression: bool = True
    log_level: str = "info"
    log_format: str = "logfmt"

    def effective_retention_ms(self) -> int:
        if self.retention_time_ms:
            return self.retention_time_ms
        return 0 if self.retention_size_bytes else 15 * 86_400_000

    def prefix(self) -> str:
        """The route prefix: ``--web.route-prefix``, else the path of ``--web.external-url``."""
        p = self.route_prefix
        if not p and self.external_url:
            from urllib.parse import urlsplit

            p = urlsplit(self.external_url).path
        p = "/" + p.strip("/")
        return "" if p == "/" else p

    def as_prometheus(self) -> dict[str, str]:
        """``/api/v1/status/flags``: every flag by its Prometheus name, as a string."""

        def b(v: bool) -> str:
            return "true" if v else "false"

        from scraper.config import format_size

        return {
            "config.file": self.config_file,
            "log.format": self.log_format,
            "log.level": self.log_level,
            "query.lookback-delta": format_duration(self.lookback_delta_ms),
            "query.max-concurrency": str(self.query_max_concurrency),
            "query.max-samples": str(self.query_max_samples),
            "query.timeout": format_duration(self.query_timeout_ms),
            "storage.remote.flush-deadline": format_duration(self.remote_flush_deadline_ms),
            "storage.remote.read-sample-limit": str(self.remote_read_sample_limit),
            "storage.tsdb.max-block-duration": format_duration(self.max_block_duration_ms),
            "storage.tsdb.min-block-duration": format_duration(self.min_block_duration_ms),
            "storage.tsdb.no-lockfile": b(self.no_lockfile),
            "storage.tsdb.path": self.storage_path,
            "storage.tsdb.retention.size": format_size(self.retention_size_bytes),
            "storage.tsdb.retention.time": format_duration(self.retention_time_ms),
            "storage.tsdb.wal-compression": b(self.wal_compression),
            "web.config.file": self.web_config_file,
            "web.enable-admin-api": b(self.enable_admin_api),
            "web.enable-lifecycle": b(self.enable_lifecycle),
            "web.enable-remote-write-receiver": b(self.enable_remote_write_receiver),
            "web.external-url": self.external_url,
            "web.listen-address": self.listen_address,
            "web.route-prefix": self.prefix() or "/",
        }

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


class ServerState:
    """Everything the handlers share; ``config`` is swapped on reload."""

    def __init__(
        self,
        storage: Any,
        engine: Engine,
        config: Config,
        flags: ServerFlags,
        clock: Callable[[], float] = time.time,
        *,
        rules: RuleManager | None = None,
        targets: TargetProvider | None = None,
        alertmanagers: AlertmanagerProvider | None = None,
        remote: RemoteWriteManager | None = None,
        metrics: ServerMetrics | None = None,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.storage = storage
        self.engine = engine
        self.config = config
        self.flags = flags
        self.clock = clock
        self.rules: RuleManager = rules or EmptyRuleManager()
        self.targets: TargetProvider = targets or EmptyTargetProvider()
        self.alertmanagers: AlertmanagerProvider = alertmanagers or StaticAlertmanagers(
            [u for am in config.alerting.alertmanagers for u in am.static_urls()]
        )
        self.metrics = metrics or ServerMetrics(lambda: self.storage)
        self.metrics.watch_providers(lambda: self)
        self.remote = remote or RemoteWriteManager(self.metrics)
        self.appendable = FanoutAppendable(storage, self.remote)
        # What queries read: local storage plus the config's remote_read endpoints.
        self.queryable = MergeQueryable(
            storage, lambda: (self.config.remote_read, self.config.external_labels)
        )
        self.executor = executor or ThreadPoolExecutor(
            max_workers=max(1, flags.query_max_concurrency), thread_name_prefix="heron-query"
        )
        self.start_time = clock()
        self.last_config_time = clock()
        self.reload_success = True
        self.ready = True
        self.cwd = os.getcwd()
        # Installed by server.main: reload the config file / request shutdown.
        self.reload_fn: Callable[[], Awaitable[None]] | None = None
        self.quit_fn: Callable[[], None] | None = None
        self.metrics.ready.set(1)
        self.metrics.config_reloaded(True)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


STATE: web.AppKey[ServerState] = web.AppKey("heron_server", ServerState)


def engine_from_flags(flags: ServerFlags) -> Engine:
    """The PromQL engine configured by ``--query.*`` flags."""
    return Engine(
        lookback_delta_ms=flags.lookback_delta_ms,
        timeout_s=flags.query_timeout_ms / 1000,
        max_samples=flags.query_max_samples,
    )


@web.middleware
async def _cors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    resp = await handler(request)
    if "/api/v1/" in request.path and "Origin" in request.headers:
        resp.headers["Access-Control-Allow-Origin"] = "*"
        resp.headers["Access-Control-Allow-Headers"] = "Accept, Authorization, Content-Type, Origin"
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Expose-Headers"] = "Date"
    return resp


def create_app(
    storage: Any,
    engine: Engine,
    config: Config,
    flags: ServerFlags,
    clock: Callable[[], float] = time.time,
    **providers: Any,
) -> web.Application:
    """The aiohttp application for ``heron server`` (see the module docstring)."""
    from . import admin, api, federate, metrics, remote
    from .webconfig import auth_middleware

    state = ServerState(storage, engine, config, flags, clock, **providers)
    mws = [metrics.middleware, _cors]
    if flags.web_config_file:
        mws.insert(0, auth_middleware(flags.web_config_file))
    app = web.Application(middlewares=mws, client_max_size=remote.MAX_COMPRESSED_BYTES + (1 << 20))
    app[STATE] = state
    p = flags.prefix()
    r = app.router

    def both(path: str, h: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        r.add_get(p + path, h)
        r.add_post(p + path, h)

    both("/api/v1/query", api.query)
    both("/api/v1/query_range", api.query_range)
    both("/api/v1/query_exemplars", api.query_exemplars)
    both("/api/v1/format_query", api.format_query)
    both("/api/v1/parse_query", api.parse_query)
    both("/api/v1/series", api.series)
    both("/api/v1/labels", api.labels)
    r.add_get(p + "/api/v1/label/{name}/values", api.label_values)
    r.add_get(p + "/api/v1/targets", api.targets)
    r.add_get(p + "/api/v1/targets/metadata", api.targets_metadata)
    r.add_get(p + "/api/v1/metadata", api.metadata)
    r.add_get(p + "/api/v1/alertmanagers", api.alertmanagers)
    r.add_get(p + "/api/v1/rules", api.rules)
    r.add_get(p + "/api/v1/alerts", api.alerts)
    r.add_get(p + "/api/v1/status/config", api.status_config)
    r.add_get(p + "/api/v1/status/flags", api.status_flags)
    r.add_get(p + "/api/v1/status/runtimeinfo", api.status_runtimeinfo)
    r.add_get(p + "/api/v1/status/buildinfo", api.status_buildinfo)
    r.add_get(p + "/api/v1/status/tsdb", api.status_tsdb)
    r.add_get(p + "/api/v1/status/walreplay", api.status_walreplay)
    for name, h in (
        ("snapshot", admin.snapshot),
        ("delete_series", admin.delete_series),
        ("clean_tombstones", admin.clean_tombstones),
    ):
        r.add_post(p + f"/api/v1/admin/tsdb/{name}", h)
        r.add_put(p + f"/api/v1/admin/tsdb/{name}", h)
    r.add_post(p + "/api/v1/write", remote.handle_write)
    r.add_post(p + "/api/v1/read", remote.handle_read)
    r.add_get(p + "/federate", federate.handle_federate)
    r.add_get(p + "/metrics", metrics.handle_metrics)
    r.add_get(p + "/-/healthy", api.healthy)
    r.add_get(p + "/-/ready", api.ready)
    r.add_post(p + "/-/reload", api.reload)
    r.add_put(p + "/-/reload", api.reload)
    r.add_post(p + "/-/quit", api.quit)
    r.add_put(p + "/-/quit", api.quit)
    r.add_get(p + "/", api.index)
    if p:
        r.add_get("/", api.index)

    async def _start(app: web.Application) -> None:
        await state.remote.apply_config(state.config.remote_write, state.config.external_labels)
        await state.remote.start()

    async def _stop(app: web.Application) -> None:
        await state.remote.stop(state.flags.remote_flush_deadline_ms / 1000)
        state.executor.shutdown(wait=False, cancel_futures=True)

    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app
