"""High availability: a simple HTTP gossip between Alertmanager peers.

Each instance listens on ``--cluster.listen-address`` and knows the ``--cluster.peer``
addresses. Peers exchange their full silence and notification-log state on join and every
push-pull interval, and broadcast each change as it happens; both sides merge (newest
wins). Liveness is checked by pinging each peer every second; a peer that stops answering
leaves the member list.

As in Alertmanager, a peer's *position* is its index in the name-sorted member list, and
its notification pipeline waits ``position * --cluster.peer-timeout`` before the dedup
stage, so the first peer sends and the others find the notification in their (gossiped)
notification log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from .nflog import Entry
from .silence import Silence

if TYPE_CHECKING:
    from .main import Alertmanager, Options

log = logging.getLogger("alertmanager.cluster")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_ulid() -> str:
    """A ULID (time + randomness, Crockford base32), like Alertmanager's peer names."""
    v = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    out = []
    for _ in range(26):
        out.append(_CROCKFORD[v & 31])
        v >>= 5
    return "".join(reversed(out))


@dataclass
class Member:
    name: str
    address: str
    last_seen: float


class Peer:
    """This instance's membership in the cluster."""

    def __init__(self, am: Alertmanager, opts: Options, dead_after: float = 3.0) -> None:
        self.am = am
        self.opts = opts
        self.name = new_ulid()
        listen = opts.cluster_listen_address
        host, _, port = listen.rpartition(":")
        self._listen = (host.strip("[]") or "0.0.0.0", int(port))
        self.address = opts.cluster_advertise_address or ""
        self.peer_addrs = [p for p in opts.cluster_peers if p]
        self.members_: dict[str, Member] = {}
        self.dead_after = dead_after
        self._ready = asyncio.Event()
        self._queue: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    # --- state ---------------------------------------------------------------------------

    def members(self) -> list[Member]:
        now = time.monotonic()
        alive = [m for m in self.members_.values() if now - m.last_seen < self.dead_after]
        return [Member(self.name, self.address, now), *alive]

    def position(self) -> int:
        names = sorted(m.name for m in self.members())
        return names.index(self.name)

    def status(self) -> dict[str, Any]:
        peers = [{"address": m.address, "name": m.name} for m in self.members()]
        peers.sort(key=lambda p: p["name"])
        return {"name": self.name, "peers": peers, "status": "ready" if self._ready.is_set() else "settling"}

    async def wait_ready(self) -> None:
        await self._ready.wait()

    def _state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "silences": [s.to_json() for s in self.am.silences._st.values()],
            "nflog": [e.to_json() for e in self.am.nflog.all()],
        }

    def _merge(self, d: dict[str, Any]) -> None:
        for s in d.get("silences", []):
            self.am.silences.merge(Silence.from_json(s))
        for e in d.get("nflog", []):
            self.am.nflog.merge(Entry.from_json(e))
        name, addr = d.get("name"), d.get("address")
        if name and addr and name != self.name:
            self.members_[name] = Member(name, addr, time.monotonic())

    # --- broadcast -----------------------------------------------------------------------

    def _broadcast_silence(self, s: Silence) -> None:
        self._queue.append({"silences": [s.to_json()]})
        self._wake.set()

    def _broadcast_entry(self, e: Entry) -> None:
        self._queue.append({"nflog": [e.to_json()]})
        self._wake.set()

    async def _gossip_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            msg: dict[str, Any] = {"name": self.name, "address": self.address, "silences": [], "nflog": []}
            for b in batch:
                msg["silences"] += b.get("silences", [])
                msg["nflog"] += b.get("nflog", [])
            await asyncio.gather(
                *(self._post(a, "/cluster/gossip", msg) for a in self._targets()), return_exceptions=True
            )

    def _targets(self) -> list[str]:
        addrs = set(self.peer_addrs)
        addrs.update(m.address for m in self.members_.values())
        addrs.discard(self.address)
        return sorted(addrs)

    async def _post(self, addr: str, path: str, msg: dict[str, Any]) -> dict[str, Any] | None:
        assert self._session is not None
        async with self._session.post(
            f"http://{addr}{path}", data=json.dumps(msg).encode(), timeout=aiohttp.ClientTimeout(total=2)
        ) as r:
            if r.status != 200:
                return None
            out: dict[str, Any] = await r.json()
            return out

    async def _pushpull(self, addr: str) -> bool:
        try:
            d = await self._post(addr, "/cluster/pushpull", self._state())
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            return False
        if d is None:
            return False
        self._merge(d)
        return True

    async def _ping_loop(self) -> None:
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(min(1.0, self.opts.cluster_pushpull_interval))
            full = time.monotonic() - last_full >= self.opts.cluster_pushpull_interval
            if full:
                last_full = time.monotonic()
            for addr in self._targets():
                if full:
                    await self._pushpull(addr)
                    continue
                try:
                    d = await self._post(addr, "/cluster/ping", {"name": self.name, "address": self.address})
                except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                    continue
                if d and d.get("name"):
                    known = d["name"] in self.members_
                    self.members_[d["name"]] = Member(d["name"], addr, time.monotonic())
                    if not known:
                        await self._pushpull(addr)

    async def _settle(self) -> None:
        deadline = time.monotonic() + min(self.opts.cluster_settle_timeout, 5.0)
        pending = set(self.peer_addrs) - {self.address}
        while pending and time.monotonic() < deadline:
            for addr in list(pending):
                if await self._pushpull(addr):
                    pending.discard(addr)
            if pending:
                await asyncio.sleep(0.2)
        self._ready.set()

    # --- server --------------------------------------------------------------------------

    async def _h_pushpull(self, req: web.Request) -> web.Response:
        self._merge(await req.json())
        return web.json_response(self._state())

    async def _h_gossip(self, req: web.Request) -> web.Response:
        self._merge(await req.json())
        return web.json_response({"name": self.name})

    async def _h_ping(self, req: web.Request) -> web.Response:
        d = await req.json()
        if d.get("name") and d.get("address") and d["name"] != self.name:
            known = d["name"] in self.members_
            self.members_[d["name"]] = Member(d["name"], d["address"], time.monotonic())
            if not known:
                asyncio.get_running_loop().create_task(self._pushpull(d["address"]))
        return web.json_response({"name": self.name})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/cluster/pushpull", self._h_pushpull)
        app.router.add_post("/cluster/gossip", self._h_gossip)
        app.router.add_post("/cluster/ping", self._h_ping)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, *self._listen)
        await site.start()
        port = self._listen[1]
        server: Any = getattr(site, "_server", None)
        if server is not None and server.sockets:
            port = server.sockets[0].getsockname()[1]
        if not self.address:
            host = self._listen[0]
            self.address = f"{'127.0.0.1' if host in ('0.0.0.0', '', '::') else host}:{port}"
        self._session = aiohttp.ClientSession()
        self.am.silences.broadcast = self._broadcast_silence
        self.am.nflog.broadcast = self._broadcast_entry
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._gossip_loop()),
            loop.create_task(self._ping_loop()),
            loop.create_task(self._settle()),
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
