"""Service discovery: providers push target groups, a manager merges them per set.

A provider (``static_configs``, ``file_sd_configs``, ``http_sd_configs``,
``kubernetes_sd_configs``) is an object with ``async run(send)`` that calls
``send(groups)`` with its *full* current list of :class:`TargetGroup` every
time something changed, until cancelled. :class:`DiscoveryManager` runs the
providers of every named set (a scrape job, or an Alertmanager entry
``config-N``), keeps each provider's latest groups, and hands the merged
``{set name: [TargetGroup, ...]}`` to its subscriber, throttled like
Prometheus's discovery manager (at most one update per ``update_interval_s``).
Providers whose config did not change keep running across ``apply_config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "DiscoveryManager",
    "Provider",
    "SendFn",
    "TargetGroup",
    "providers_for",
]

log = logging.getLogger("heron.discovery")


@dataclass
class TargetGroup:
    """Targets (label sets, each with ``__address__``) sharing common ``labels``; ``source`` is unique per provider."""

    source: str
    targets: list[dict[str, str]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


SendFn = Callable[[list[TargetGroup]], None]


class Provider(Protocol):
    """A discovery mechanism: ``run`` pushes full group lists through ``send`` until cancelled."""

    async def run(self, send: SendFn) -> None: ...


class StaticProvider:
    """``static_configs``: groups with sources ``"0"``, ``"1"``, … (as Prometheus numbers them)."""

    def __init__(self, groups: Sequence[Any]) -> None:
        self.groups = [
            TargetGroup(str(i), [{"__address__": t} for t in g.targets], dict(g.labels))
            for i, g in enumerate(groups)
        ]

    async def run(self, send: SendFn) -> None:
        send(list(self.groups))


def providers_for(
    sd: Any, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> list[tuple[str, Provider]]:
    """The providers of one service-discovery block (``scraper.config._SDConfigs``), keyed by config."""
    from ._file import FileProvider
    from ._http import HTTPProvider
    from .kubernetes import KubernetesProvider

    out: list[tuple[str, Provider]] = []
    if sd.static_configs:
        out.append((f"static/{_key(sd.static_configs)}", StaticProvider(sd.static_configs)))
    for i, c in enumerate(sd.file_sd_configs):
        out.append((f"file/{i}/{_key(c)}", FileProvider(c, sleep=sleep)))
    for i, c in enumerate(sd.http_sd_configs):
        out.append((f"http/{i}/{_key(c)}", HTTPProvider(c, sleep=sleep)))
    for i, c in enumerate(sd.kubernetes_sd_configs):
        out.append((f"kubernetes/{i}/{_key(c)}", KubernetesProvider(c, sleep=sleep)))
    for _ in getattr(sd, "dns_sd_configs", ()):
        log.warning("dns_sd_configs are not supported by Heron; ignoring")
    return out


def _key(cfg: Any) -> str:
    return repr(cfg)


class DiscoveryManager:
    """Runs providers per named set and publishes merged target groups (see module docstring)."""

    def __init__(
        self,
        on_update: Callable[[dict[str, list[TargetGroup]]], None] | None = None,
        *,
        update_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        name: str = "scrape",
    ) -> None:
        self.on_update = on_update
        self.update_interval_s = update_interval_s
        self.clock = clock
        self.sleep = sleep
        self.name = name
        # (set name, provider key) -> provider task
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._groups: dict[tuple[str, str], list[TargetGroup]] = {}
        self._sets: list[str] = []
        self._dirty = asyncio.Event()
        self._stopped = False
        self._last_send = -1e18
        self.provider_factory: Callable[[Any], list[tuple[str, Provider]]] = lambda sd: providers_for(
            sd, sleep=self.sleep
        )

    def apply_config(self, sets: dict[str, Any]) -> None:
        """Start/stop providers for ``{set name: SD config block}``; unchanged providers keep running."""
        wanted: dict[tuple[str, str], Provider] = {}
        for name, sd in sets.items():
            for key, prov in self.provider_factory(sd):
                wanted[(name, key)] = prov
        for k in list(self._tasks):
            if k not in wanted:
                self._tasks.pop(k).cancel()
                self._groups.pop(k, None)
        for k, prov in wanted.items():
            if k not in self._tasks:
                self._groups[k] = []
                self._tasks[k] = asyncio.get_running_loop().create_task(self._run_provider(k, prov))
        self._sets = list(sets)
        self._dirty.set()

    async def _run_provider(self, key: tuple[str, str], prov: Provider) -> None:
        def send(groups: list[TargetGroup]) -> None:
            if key in self._tasks or key in self._groups:
                self._groups[key] = list(groups)
                self._dirty.set()

        try:
            await prov.run(send)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("discovery provider %s of %s failed", key[1].split("/", 1)[0], key[0])

    def groups(self) -> dict[str, list[TargetGroup]]:
        """The merged groups of every set (sets without targets included, empty)."""
        out: dict[str, list[TargetGroup]] = {name: [] for name in self._sets}
        for (name, _), gs in self._groups.items():
            if name in out:
                out[name].extend(gs)
        return out

    async def run(self) -> None:
        """Publish updates until :meth:`stop` (throttled to one per ``update_interval_s``)."""
        try:
            while not self._stopped:
                await self._dirty.wait()
                if self._stopped:
                    break
                wait = self._last_send + self.update_interval_s - self.clock()
                if wait > 0:
                    await self.sleep(wait)
                self._dirty.clear()
                self._last_send = self.clock()
                if self.on_update is not None:
                    try:
                        self.on_update(self.groups())
                    except Exception:
                        log.exception("discovery subscriber failed")
        finally:
            await self._cancel_all()

    def stop(self) -> None:
        self._stopped = True
        self._dirty.set()
        for t in self._tasks.values():
            t.cancel()

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
