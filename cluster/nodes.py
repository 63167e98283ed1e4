"""Simulated nodes for Heron's embedded cluster: kubelets, service proxy, ingress.

Public API (what ``heron cluster --nodes N`` and ``heron up`` call)::

    from cluster.nodes import NodeSet, node_names, run_nodes

    nodes = NodeSet(api_url, token, node_names(3), data_dir / "nodes",
                    ingress_listen="127.0.0.1:8080")
    await nodes.start()              # registers Node objects, starts every kubelet,
                                     # the service proxy and the ingress controller
    await nodes.stop_node("node-2")  # `heron cluster node stop NAME`: the node dies
    await nodes.start_node("node-2") # ... and comes back
    await nodes.stop()               # every pod process is gone when this returns

    await run_nodes(api_url, token, ["node-1"], data_dir)   # same, until cancelled

Everything talks to the API server over its REST API only (``api_url`` plus a
bearer ``token``, an admin token is fine, and ``ca_file`` for an HTTPS server),
so the same nodes can join a real Kubernetes API server.

Addresses: node *i* (1-based, in the order of ``names``) has InternalIP
``<ip_base>.<i>.1`` (``ip_base="auto"``: 127.10, or the next free of 127.11..127.19,
remembered in the data dir) where its kubelet API listens (``:10250``: logs,
``/metrics/cadvisor``, ``/stats/summary``), and gives its pods
``<ip_base>.<i>.2`` .. ``.254``. Service ClusterIPs are whatever loopback
addresses the API server allocates (Heron's: 127.96.0.0/16); NodePorts listen
on 127.0.0.1 and every node IP; the ingress on ``ingress_listen``.

Every container process runs in its own session with ``PR_SET_PDEATHSIG``, is
killed on :meth:`NodeSet.stop`, on interpreter exit (atexit), and when a
restarted kubelet finds it left over from a previous run.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import weakref
from pathlib import Path
from typing import Any

from .kubelet import KubeClient, Kubelet
from .proxy import IngressController, ServiceProxy, ServiceTable

log = logging.getLogger(__name__)

_LIVE: weakref.WeakSet[NodeSet] = weakref.WeakSet()


def _kill_everything() -> None:
    for ns in list(_LIVE):
        ns.kill_all()


atexit.register(_kill_everything)


def _bindable(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def node_names(n: int, prefix: str = "node") -> list[str]:
    """``node-1`` .. ``node-n``."""
    return [f"{prefix}-{i}" for i in range(1, n + 1)]


class NodeSet:
    """A set of simulated nodes plus the cluster-wide service proxy and ingress controller."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        names: list[str],
        data_dir: Path,
        *,
        ip_base: str = "auto",
        kubelet_port: int = 10250,
        ingress_listen: str | None = "127.0.0.1:8080",
        ingress_metrics_listen: str | None = "127.0.0.1:10254",
        proxy: bool = True,
        capacity: dict[str, str] | None = None,
        heartbeat: float = 10.0,
        backoff_initial: float = 10.0,
        backoff_max: float = 300.0,
        stop_grace: float = 5.0,
        ca_file: str | None = None,
    ) -> None:
        self.api_url = api_url
        self.token = token
        self.names = list(names)
        self.data_dir = Path(data_dir)
        self.ip_base = ip_base
        self.kubelet_port = kubelet_port
        self.ingress_listen = ingress_listen
        self.ingress_metrics_listen = ingress_metrics_listen
        self.use_proxy = proxy
        self.capacity = capacity
        self.heartbeat = heartbeat
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stop_grace = stop_grace
        self.client = KubeClient(api_url, token, ca_file=ca_file)
        self.kubelets: dict[str, Kubelet] = {}
        self.table: ServiceTable | None = None
        self.proxy: ServiceProxy | None = None
        self.ingress: IngressController | None = None

    def _pick_ip_base(self) -> str:
        """``auto``: the last base used in this data dir if still free, else the first free of
        127.10 .. 127.19 (so two clusters on one machine do not collide)."""
        remembered = self.data_dir / "ip_base"
        cands = [f"127.{n}" for n in range(10, 20)]
        if remembered.exists():
            prev = remembered.read_text().strip()
            cands = [prev] + [c for c in cands if c != prev]
        for base in cands:
            if all(_bindable(f"{base}.{i}.1", self.kubelet_port) for i in range(1, len(self.names) + 1)):
                remembered.write_text(base + "\n")
                return base
        raise OSError(f"no free node address range in 127.10-127.19 for kubelet port {self.kubelet_port}")

    def node_ip(self, name: str) -> str:
        return f"{self.ip_base}.{self.names.index(name) + 1}.1"

    def kubelet_url(self, name: str) -> str:
        return f"http://{self.node_ip(name)}:{self.kubelet_port}"

    def _make_kubelet(self, name: str) -> Kubelet:
        i = self.names.index(name) + 1
        return Kubelet(
            self.client,
            name,
            self.data_dir / name,
            node_ip=f"{self.ip_base}.{i}.1",
            pod_prefix=f"{self.ip_base}.{i}",
            port=self.kubelet_port,
            capacity=self.capacity,
            heartbeat=self.heartbeat,
            backoff_initial=self.backoff_initial,
            backoff_max=self.backoff_max,
            stop_grace=self.stop_grace,
            pvc_root=self.data_dir / "_volumes",
        )

    async def start(self) -> None:
        """Start the proxy, the ingress controller and every kubelet."""
        _LIVE.add(self)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.ip_base == "auto":
            self.ip_base = self._pick_ip_base()
            log.info("nodes use %s.<node>.0/24", self.ip_base)
        if self.use_proxy or self.ingress_listen:
            self.table = ServiceTable(self.client)
            await self.table.start()
        if self.use_proxy:
            assert self.table is not None
            self.proxy = ServiceProxy(
                self.client, table=self.table, node_ips=[self.node_ip(n) for n in self.names]
            )
            await self.proxy.start()
        if self.ingress_listen:
            ing = IngressController(
                self.client,
                listen=self.ingress_listen,
                metrics_listen=self.ingress_metrics_listen,
                table=self.table,
            )
            try:
                await ing.start()
                self.ingress = ing
            except OSError as e:  # e.g. the port is taken: the cluster still runs, without ingress
                log.error("ingress controller not started on %s: %s", self.ingress_listen, e)
                await ing.stop()
        await asyncio.gather(*(self.start_node(n) for n in self.names))

    async def start_node(self, name: str) -> Kubelet:
        """Start (or restart) one node's kubelet."""
        if name not in self.names:
            self.names.append(name)
        k = self.kubelets.get(name)
        if k is not None:
            return k
        k = self._make_kubelet(name)
        self.kubelets[name] = k
        try:
            await k.start()
        except BaseException:
            self.kubelets.pop(name, None)
            with contextlib.suppress(Exception):
                await k.stop(0)
            raise
        return k

    async def stop_node(self, name: str, graceful: bool = False) -> None:
        """Take a node down: its processes die and its heartbeats stop (the control plane
        notices, marks it NotReady and reschedules its pods)."""
        k = self.kubelets.pop(name, None)
        if k is None:
            return
        if not graceful:
            k.kill_all()
        await k.stop(self.stop_grace if graceful else 0)

    async def stop(self) -> None:
        """Stop everything; no container process survives."""
        await asyncio.gather(*(k.stop() for k in list(self.kubelets.values())), return_exceptions=True)
        self.kubelets.clear()
        if self.ingress is not None:
            await self.ingress.stop()
            self.ingress = None
        if self.proxy is not None:
            await self.proxy.stop()
            self.proxy = None
        if self.table is not None:
            await self.table.stop()
            self.table = None
        await self.client.close()
        _LIVE.discard(self)

    def kill_all(self) -> None:
        """SIGKILL every container process of every node, synchronously."""
        for k in list(self.kubelets.values()):
            k.kill_all()

    async def __aenter__(self) -> NodeSet:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def run_nodes(api_url: str, token: str | None, names: list[str], data_dir: Path, **kwargs: Any) -> None:
    """Run a :class:`NodeSet` until cancelled (then stop it cleanly)."""
    nodes = NodeSet(api_url, token, names, data_dir, **kwargs)
    await nodes.start()
    try:
        await asyncio.Event().wait()
    finally:
        await nodes.stop()
