"""The scrape manager: discovery -> scrape pools -> scrape loops, and the targets API.

:class:`ScrapeManager` takes a loaded ``prometheus.yml`` (:meth:`apply_config`,
also on reload), runs a :class:`~scraper.discovery.DiscoveryManager` for the
``scrape_configs``, and keeps one :class:`ScrapePool` per job. A pool turns
discovered groups into targets (``relabel_configs``; dropped targets are
kept for the API, up to ``keep_dropped_targets``), starts a
:class:`~scraper.scrape.ScrapeLoop` per new target and stops loops of
vanished ones (with end-of-run staleness markers). A changed job config
restarts its loops with the same per-target caches, without stale markers,
as Prometheus's ``scrapePool.reload``. The manager is the server's
``TargetProvider`` (``/api/v1/targets``, ``/targets/metadata``, ``/metadata``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from tsdb.interface import Appendable

from .discovery import DiscoveryManager, TargetGroup
from .scrape import ScrapeCache, ScrapeLoop, ScrapeOptions
from .target import Target, fnv64a, targets_from_group

__all__ = ["ScrapeManager", "ScrapePool", "global_url"]

log = logging.getLogger("heron.scrape")

_LOCALHOSTS = ("127.0.0.1", "localhost", "::1")


def _split_host_port(hostport: str) -> tuple[str, str] | None:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0 or hostport[end + 1 : end + 2] != ":":
            return None
        return hostport[1:end], hostport[end + 2 :]
    host, sep, port = hostport.rpartition(":")
    if not sep or ":" in host:
        return None
    return host, port


def global_url(url: str, listen_address: str, external_url: str) -> str:
    """Prometheus's ``getGlobalURL``: a localhost target URL as seen from outside."""
    parts = urlsplit(url)
    hp = _split_host_port(parts.netloc)
    if hp is None:
        return url
    host, port = hp
    if host not in _LOCALHOSTS:
        return url
    ext = urlsplit(external_url)
    own = _split_host_port(listen_address)
    if own is None:
        return url
    if port == own[1]:
        return parts._replace(scheme=ext.scheme, netloc=ext.netloc).geturl()
    ext_hp = _split_host_port(ext.netloc)
    if ext_hp is None:
        return url
    h = ext_hp[0]
    netloc = f"[{h}]:{port}" if ":" in h else f"{h}:{port}"
    return parts._replace(netloc=netloc).geturl()


class ScrapePool:
    """The targets and loops of one scrape job."""

    def __init__(
        self,
        cfg: Any,
        appendable: Appendable,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        offset_seed: int = 0,
        loop_factory: Callable[..., ScrapeLoop] | None = None,
    ) -> None:
        self.cfg = cfg
        self.appendable = appendable
        self.clock = clock
        self.sleep = sleep
        self.offset_seed = offset_seed
        self.loop_factory = loop_factory or ScrapeLoop
        self.opts = ScrapeOptions.from_config(cfg)
        self.active: dict[int, Target] = {}
        self.loops: dict[int, ScrapeLoop] = {}
        self.caches: dict[int, ScrapeCache] = {}
        self.dropped: list[Target] = []
        self.dropped_count = 0
        self.groups: list[TargetGroup] = []
        self._session: aiohttp.ClientSession | None = None
        self._stopping: list[asyncio.Task[None]] = []

    @property
    def name(self) -> str:
        return self.cfg.job_name

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, force_close=False),
                auto_decompress=True,
            )
        return self._session

    def _new_loop(self, t: Target) -> ScrapeLoop:
        cache = self.caches.setdefault(t.hash(), ScrapeCache())
        return self.loop_factory(
            t,
            self.appendable,
            self.opts,
            session=self.session(),
            cache=cache,
            clock=self.clock,
            sleep=self.sleep,
            offset_seed=self.offset_seed,
        )

    def sync(self, groups: list[TargetGroup]) -> None:
        """Apply the job's discovered groups: start new targets, stop vanished ones."""
        self.groups = groups
        all_active: dict[int, Target] = {}
        dropped: list[Target] = []
        dropped_count = 0
        for tg in groups:
            act, drp, errs = targets_from_group(tg, self.cfg)
            for e in errs:
                log.error("creating target failed in scrape pool %s: %s", self.name, e)
            for t in act:
                all_active.setdefault(t.hash(), t)
            dropped_count += len(drp)
            keep = self.cfg.keep_dropped_targets
            for t in drp:
                if keep == 0 or len(dropped) < keep:
                    dropped.append(t)
        self.dropped = dropped
        self.dropped_count = dropped_count
        for h, t in all_active.items():
            old = self.active.get(h)
            if old is not None:
                old.discovered_labels = t.discovered_labels
                continue
            self.active[h] = t
            loop = self._new_loop(t)
            self.loops[h] = loop
            loop.start()
        for h in list(self.active):
            if h not in all_active:
                del self.active[h]
                self.caches.pop(h, None)
                loop = self.loops.pop(h)
                task = loop.stop(end_of_run_staleness=True)
                if task is not None:
                    self._stopping.append(task)
        self._stopping = [t for t in self._stopping if not t.done()]
        self._apply_target_limit()

    def _apply_target_limit(self) -> None:
        limit = self.cfg.target_limit
        err = None
        if limit > 0 and len(self.active) > limit:
            err = f"target_limit exceeded (number of targets: {len(self.active)}, limit: {limit})"
        for loop in self.loops.values():
            loop.forced_error = err

    def reload(self, cfg: Any) -> None:
        """A changed job config: restart every loop with the new settings (caches kept, no stale markers)."""
        self.cfg = cfg
        self.opts = ScrapeOptions.from_config(cfg)
        for loop in self.loops.values():
            loop.stop(end_of_run_staleness=False)
        old_caches = self.caches
        self.active, self.loops, self.caches = {}, {}, {}
        groups = self.groups
        # Targets keep their caches when their identity did not change.
        self.caches.update(old_caches)
        self.sync(groups)
        for h in list(self.caches):
            if h not in self.active:
                del self.caches[h]

    async def stop(self) -> None:
        """Stop every loop without end-of-run staleness (shutdown or job removed)."""
        tasks = []
        for loop in self.loops.values():
            t = loop.stop(end_of_run_staleness=False)
            if t is not None:
                tasks.append(t)
        for t in self._stopping:
            t.cancel()
        tasks += self._stopping
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(t), timeout=5)
        self.loops.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None


class ScrapeManager:
    """All scrape pools of a config, fed by service discovery (see the module docstring)."""

    def __init__(
        self,
        appendable: Appendable,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        discovery_interval_s: float = 5.0,
        listen_address: str = "0.0.0.0:9090",
        external_url: str = "",
    ) -> None:
        self.appendable = appendable
        self.clock = clock
        self.sleep = sleep
        self.listen_address = listen_address
        self.external_url = external_url or _default_external_url(listen_address)
        self.pools: dict[str, ScrapePool] = {}
        self.offset_seed = 0
        self.discovery = DiscoveryManager(
            self._on_targets, update_interval_s=discovery_interval_s, sleep=sleep
        )
        self._cfgs: dict[str, Any] = {}
        self._old: list[ScrapePool] = []

    def apply_config(self, config: Any) -> None:
        """Create, reload or remove pools for ``config.scrape_configs``; restart discovery as needed."""
        self.offset_seed = fnv64a(str(sorted(config.external_labels.pairs)).encode())
        cfgs = {sc.job_name: sc for sc in config.scrape_configs}
        for name in list(self.pools):
            if name not in cfgs:
                self._old.append(self.pools.pop(name))
        for name, sc in cfgs.items():
            pool = self.pools.get(name)
            if pool is None:
                self.pools[name] = ScrapePool(
                    sc, self.appendable, clock=self.clock, sleep=self.sleep, offset_seed=self.offset_seed
                )
            elif repr(pool.cfg) != repr(sc):
                pool.reload(sc)
        self._cfgs = cfgs
        self.discovery.apply_config({name: sc.sd for name, sc in cfgs.items()})

    def _on_targets(self, sets: dict[str, list[TargetGroup]]) -> None:
        for name, groups in sets.items():
            pool = self.pools.get(name)
            if pool is not None:
                pool.sync(groups)

    async def run(self) -> None:
        """Run discovery (and so the pools) until :meth:`stop`."""
        try:
            await self.discovery.run()
        finally:
            await self._stop_pools()

    def stop(self) -> None:
        self.discovery.stop()

    async def _stop_pools(self) -> None:
        pools = list(self.pools.values()) + self._old
        self._old = []
        await asyncio.gather(*(p.stop() for p in pools), return_exceptions=True)

    async def reap(self) -> None:
        """Stop pools removed by the last :meth:`apply_config`."""
        old, self._old = self._old, []
        await asyncio.gather(*(p.stop() for p in old), return_exceptions=True)

    # ------------------------------------------------------------------ TargetProvider

    def targets_active(self) -> dict[str, list[Target]]:
        return {name: list(p.active.values()) for name, p in self.pools.items()}

    def active_targets(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(self.pools):
            ts = sorted(self.pools[name].active.values(), key=lambda t: t.url())
            for t in ts:
                d = t.api_active(global_url(t.url(), self.listen_address, self.external_url))
                out.append(d)
        return out

    def dropped_targets(self) -> list[dict[str, Any]]:
        return [t.api_dropped() for name in sorted(self.pools) for t in self.pools[name].dropped]

    def dropped_target_counts(self) -> dict[str, int]:
        return {name: p.dropped_count for name, p in sorted(self.pools.items())}

    def targets_metadata(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(self.pools):
            for t in self.pools[name].active.values():
                tl = t.public_labels().to_dict()
                for metric, md in sorted(t.metadata.items()):
                    out.append(
                        {"target": tl, "metric": metric, "type": md.type, "help": md.help, "unit": md.unit}
                    )
        return out

    def metadata(self) -> dict[str, list[dict[str, str]]]:
        out: dict[str, list[dict[str, str]]] = {}
        for p in self.pools.values():
            for t in p.active.values():
                for metric, md in t.metadata.items():
                    e = {"type": md.type, "help": md.help, "unit": md.unit}
                    lst = out.setdefault(metric, [])
                    if e not in lst:
                        lst.append(e)
        return out


def _default_external_url(listen_address: str) -> str:
    import socket

    hp = _split_host_port(listen_address)
    port = hp[1] if hp else "9090"
    return f"http://{socket.gethostname()}:{port}/"
