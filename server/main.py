"""The ``heron server`` process: open the TSDB, serve the API, compact, reload, shut down.

``serve(flags)`` runs until SIGTERM/SIGINT or ``POST /-/quit`` (with
``--web.enable-lifecycle``). SIGHUP and ``POST /-/reload`` reload the config
file; an invalid file is reported (``prometheus_config_last_reload_successful``
drops to 0, ``/-/reload`` answers 500 with the error) and the old config stays.
Shutdown stops accepting requests, flushes the remote-write queues, stops the
compaction loop and closes the TSDB (its WAL is fsynced on close).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable

from aiohttp import web

from scraper.config import ConfigError, load_config
from scraper.discovery import DiscoveryManager
from scraper.manager import ScrapeManager

from .app import STATE, ServerFlags, create_app, engine_from_flags
from .notifier import Notifier
from .rulemanager import RuleManager

__all__ = ["parse_listen_address", "run", "serve"]

log = logging.getLogger("heron.server")


def parse_listen_address(addr: str) -> tuple[str, int]:
    """``host:port`` (``:9090`` = all interfaces, ``[::1]:9090`` for IPv6)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"invalid listen address {addr!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _open_storage(flags: ServerFlags, ooo_ms: int):  # noqa: ANN202 - tsdb.DB
    from tsdb import DBOptions, open_db

    opts = DBOptions(
        retention_ms=flags.effective_retention_ms(),
        retention_bytes=flags.retention_size_bytes,
        block_range_ms=flags.min_block_duration_ms,
        max_block_range_ms=flags.max_block_duration_ms or None,
        ooo_window_ms=ooo_ms,
        no_lockfile=flags.no_lockfile,
    )
    return open_db(flags.storage_path, opts)


async def serve(
    flags: ServerFlags,
    *,
    clock: Callable[[], float] = time.time,
    started: asyncio.Event | None = None,
    storage: object | None = None,
) -> int:
    """Run the server until asked to stop; returns the process exit code."""
    try:
        config = load_config(flags.config_file)
    except ConfigError as e:
        log.error("error loading config: %s", e)
        return 1
    host, port = parse_listen_address(flags.listen_address)
    db = storage if storage is not None else _open_storage(flags, config.ooo_window_ms())
    engine = engine_from_flags(flags)
    notifier = Notifier()
    notifier.apply_config(config)
    rules = RuleManager(db, engine, notifier=notifier, external_url=flags.external_url, clock=clock)
    scrapes = ScrapeManager(db, listen_address=flags.listen_address, external_url=flags.external_url)
    app = create_app(db, engine, config, flags, clock, rules=rules, alertmanagers=notifier, targets=scrapes)
    st = app[STATE]
    # Rule output and scrapes go through the same fan-out (local TSDB + remote write).
    rules.appendable = st.appendable
    rules.executor = st.executor
    scrapes.appendable = st.appendable
    am_discovery = DiscoveryManager(lambda sets: _set_alertmanagers(notifier, sets), name="notify")
    stop = asyncio.Event()
    reload_lock = asyncio.Lock()

    async def reload() -> None:
        async with reload_lock:
            try:
                new = await asyncio.to_thread(load_config, flags.config_file)
                await st.rules.update(
                    new.global_config.evaluation_interval,
                    new.rule_file_paths(),
                    dict(new.external_labels.pairs),
                    rule_query_offset_ms=new.global_config.rule_query_offset,
                )
            except Exception as e:
                st.reload_success = False
                st.metrics.config_reloaded(False)
                log.error("error reloading config (keeping the old one): %s", e)
                raise
            await st.remote.apply_config(new.remote_write, new.external_labels)
            notifier.apply_config(new)
            _apply_alertmanager_discovery(am_discovery, new)
            scrapes.apply_config(new)
            await scrapes.reap()
            head = getattr(db, "head", None)
            if head is not None:
                head.ooo_window_ms = new.ooo_window_ms()
            st.config = new
            st.reload_success = True
            st.last_config_time = clock()
            st.metrics.config_reloaded(True)
            log.info("completed loading of configuration file %s", flags.config_file)

    st.reload_fn = reload
    st.quit_fn = stop.set
    try:
        await st.rules.update(
            config.global_config.evaluation_interval,
            config.rule_file_paths(),
            dict(config.external_labels.pairs),
            rule_query_offset_ms=config.global_config.rule_query_offset,
        )
    except Exception as e:
        log.error("error loading rules: %s", e)
        return 1

    ssl_ctx = None
    if flags.web_config_file:
        from .webconfig import load_web_config

        ssl_ctx = load_web_config(flags.web_config_file).ssl_context
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_ctx, reuse_address=True)
    await site.start()
    log.info("server is ready to receive web requests on %s", flags.listen_address)

    loop = asyncio.get_running_loop()

    def on_hup() -> None:
        async def _r() -> None:
            with contextlib.suppress(Exception):
                await reload()

        loop.create_task(_r())

    installed = []
    for sig, fn in ((signal.SIGHUP, on_hup), (signal.SIGTERM, stop.set), (signal.SIGINT, stop.set)):
        try:
            loop.add_signal_handler(sig, fn)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    tasks = []
    run_db = getattr(db, "run", None)
    if callable(run_db):
        tasks.append(asyncio.create_task(run_db(interval_s=60.0)))
    tasks.append(asyncio.create_task(st.rules.run()))
    tasks.append(asyncio.create_task(notifier.run()))
    scrapes.apply_config(config)
    _apply_alertmanager_discovery(am_discovery, config)
    scrape_task = asyncio.create_task(scrapes.run())
    am_task = asyncio.create_task(am_discovery.run())
    if started is not None:
        started.set()
    try:
        await stop.wait()
    finally:
        log.info("stopping the server")
        st.ready = False
        st.rules.stop()
        notifier.stop()
        scrapes.stop()
        am_discovery.stop()
        await asyncio.gather(scrape_task, am_task, return_exceptions=True)
        stop_db = getattr(db, "stop", None)
        if callable(stop_db):
            stop_db()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
        for sig in installed:
            loop.remove_signal_handler(sig)
        close = getattr(db, "close", None)
        if storage is None and callable(close):
            close()
        log.info("see you next time!")
    return 0


def _apply_alertmanager_discovery(dm: DiscoveryManager, config: object) -> None:
    """Discover the Alertmanagers of entries with service discovery beyond ``static_configs``."""
    sets = {}
    for i, am in enumerate(config.alerting.alertmanagers):  # type: ignore[attr-defined]
        sd = am.sd
        if sd.file_sd_configs or sd.kubernetes_sd_configs or sd.http_sd_configs:
            sets[f"config-{i}"] = sd
    dm.apply_config(sets)


def _set_alertmanagers(notifier: Notifier, sets: dict) -> None:  # type: ignore[type-arg]
    """Hand discovered groups to the notifier (one static-style group per discovered target)."""
    from scraper.config import TargetGroup as StaticGroup

    for key, groups in sets.items():
        out = []
        for g in groups:
            for t in g.targets:
                labels = dict(g.labels)
                labels.update({k: v for k, v in t.items() if k != "__address__"})
                out.append(StaticGroup(targets=[t.get("__address__", "")], labels=labels))
        notifier.set_targets(key, out)


def run(flags: ServerFlags) -> int:
    """Blocking entry point for ``heron server``."""
    logging.basicConfig(
        level=getattr(logging, flags.log_level.upper(), logging.INFO),
        format="ts=%(asctime)s level=%(levelname)s component=%(name)s msg=%(message)r",
    )
    try:
        return asyncio.run(serve(flags))
    except KeyboardInterrupt:
        return 0
