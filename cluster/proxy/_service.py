"""kube-proxy: ClusterIP and NodePort services as TCP listeners on loopback.

Every TCP service port with a loopback ClusterIP gets a listener on
``clusterIP:port``; NodePort (and LoadBalancer) services also listen on
``127.0.0.1:nodePort`` and on each node IP. Each accepted connection goes to the
next ready endpoint (round-robin; a refused backend is skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import Any

from ..kubelet.client import KubeClient
from ._endpoints import ServiceTable

log = logging.getLogger(__name__)
Obj = dict[str, Any]


@dataclass(frozen=True)
class Target:
    namespace: str
    service: str
    port_name: str


def _loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass


class ServiceProxy:
    """Serves every Service's ClusterIP and NodePort until stopped."""

    def __init__(
        self,
        client: KubeClient,
        *,
        table: ServiceTable | None = None,
        node_ips: list[str] | None = None,
        nodeport_host: str = "127.0.0.1",
        connect_timeout: float = 2.0,
    ) -> None:
        self.client = client
        self.table = table or ServiceTable(client)
        self._own_table = table is None
        self.node_ips = list(node_ips or [])
        self.nodeport_host = nodeport_host
        self.connect_timeout = connect_timeout
        self.servers: dict[tuple[str, int], asyncio.AbstractServer] = {}
        self.targets: dict[tuple[str, int], Target] = {}
        self.connections = 0
        self.failed = 0
        self._sync_pending = False
        self._active: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.table.listeners.append(self._schedule_sync)
        if self._own_table:
            await self.table.start()
        await self.sync()

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.table.listeners.remove(self._schedule_sync)
        for srv in self.servers.values():
            srv.close()
        for t in list(self._active):
            t.cancel()
        for srv in self.servers.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), 1.0)
        self.servers.clear()
        self.targets.clear()
        if self._own_table:
            await self.table.stop()

    def _schedule_sync(self) -> None:
        if not self._sync_pending:
            self._sync_pending = True
            asyncio.get_running_loop().call_later(0.02, lambda: asyncio.ensure_future(self.sync()))

    def desired(self) -> dict[tuple[str, int], Target]:
        want: dict[tuple[str, int], Target] = {}
        for svc in self.table.services.items():
            md, spec = svc["metadata"], svc.get("spec", {})
            ns, name = md.get("namespace", "default"), md["name"]
            ip = spec.get("clusterIP")
            stype = spec.get("type") or "ClusterIP"
            if stype == "ExternalName":
                continue
            for p in spec.get("ports") or []:
                if (p.get("protocol") or "TCP") != "TCP":
                    continue
                t = Target(ns, name, p.get("name") or "")
                if ip and ip != "None":
                    if _loopback(ip):
                        want[(ip, int(p["port"]))] = t
                    else:
                        log.warning("service %s/%s: ClusterIP %s is not a loopback address", ns, name, ip)
                if stype in ("NodePort", "LoadBalancer") and p.get("nodePort"):
                    for host in [self.nodeport_host, *self.node_ips]:
                        want[(host, int(p["nodePort"]))] = t
        return want

    async def sync(self) -> None:
        """Open and close listeners to match the services."""
        self._sync_pending = False
        want = self.desired()
        for key in list(self.servers):
            if key not in want:
                self.servers.pop(key).close()
                self.targets.pop(key, None)
        for key, t in want.items():
            self.targets[key] = t
            if key in self.servers:
                continue
            try:
                self.servers[key] = await self._listen(*key)
            except OSError as e:
                log.warning("service %s/%s: cannot listen on %s:%d: %s", t.namespace, t.service, *key, e)

    async def _listen(self, host: str, port: int) -> asyncio.AbstractServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
        sock.setblocking(False)
        key = (host, port)
        return await asyncio.start_server(lambda r, w: self._accept(key, r, w), sock=sock)

    async def _accept(
        self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
        try:
            self.connections += 1
            t = self.targets.get(key)
            backends = self.table.pick(t.namespace, t.service, t.port_name) if t else []
            for ip, port in backends:
                try:
                    br, bw = await asyncio.wait_for(asyncio.open_connection(ip, port), self.connect_timeout)
                except (TimeoutError, OSError):
                    continue
                try:
                    await asyncio.gather(_pipe(reader, bw), _pipe(br, writer))
                finally:
                    bw.close()
                return
            self.failed += 1  # no ready endpoint: like a REJECT rule, the client sees the door shut
        except asyncio.CancelledError:
            pass  # proxy stopping: end quietly (a cancelled handler task makes asyncio log noise)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._active.discard(task)
