"""The kubelet: registers a Node, heartbeats, runs the pods bound to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ._env import service_env
from ._pod import Container, PodWorker, rfc3339
from ._proc import kill_session, same_process, scan_sessions
from .client import ApiError, Informer, KubeClient, path_for
from .quantity import format_bytes, parse_quantity

log = logging.getLogger(__name__)
Obj = dict[str, Any]

KUBELET_VERSION = "v1.32.0-heron"
FAULT_ANNOTATION = "heron.dev/fault"


class IPAM:
    """Pod IPs ``<prefix>.2`` .. ``<prefix>.254`` on one node, reused as late as possible."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.by_uid: dict[str, str] = {}
        self._next = 2

    def allocate(self, uid: str, preferred: str = "") -> str:
        if uid in self.by_uid:
            return self.by_uid[uid]
        used = set(self.by_uid.values())
        if preferred.startswith(self.prefix + ".") and preferred not in used:
            self.by_uid[uid] = preferred
            return preferred
        for i in range(253):
            n = 2 + (self._next - 2 + i) % 253
            ip = f"{self.prefix}.{n}"
            if ip not in used:
                self._next = n + 1
                self.by_uid[uid] = ip
                return ip
        raise RuntimeError(f"no free pod IP in {self.prefix}.0/24")

    def release(self, uid: str) -> None:
        self.by_uid.pop(uid, None)


class Kubelet:
    """One simulated node.

    ``node_ip`` is the node's InternalIP (a loopback address); the kubelet API
    (logs, /metrics/cadvisor, /stats/summary, /pods) listens on ``node_ip:port``
    and pods get IPs from ``pod_prefix``.2 upwards.
    """

    def __init__(
        self,
        client: KubeClient,
        node_name: str,
        data_dir: Path,
        *,
        node_ip: str,
        pod_prefix: str,
        port: int = 10250,
        capacity: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        heartbeat: float = 10.0,
        backoff_initial: float = 10.0,
        backoff_max: float = 300.0,
        backoff_reset: float = 600.0,
        stop_grace: float = 5.0,
        pvc_root: Path | None = None,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.dir = Path(data_dir)
        self.pods_dir = self.dir / "pods"
        self.pvc_root = pvc_root or self.dir.parent / "volumes"
        self.node_ip = node_ip
        self.pod_prefix = pod_prefix
        self.port = port
        cap = {"cpu": "4", "memory": "8Gi", "pods": "110", "ephemeral-storage": "20Gi"}
        cap.update(capacity or {})
        self.capacity = cap
        self.allocatable = dict(cap)
        self.labels = labels or {}
        self.heartbeat = heartbeat
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.backoff_reset = backoff_reset
        self.stop_grace = stop_grace
        self.ipam = IPAM(pod_prefix)
        self.workers: dict[str, PodWorker] = {}
        self.http: aiohttp.ClientSession = None  # type: ignore[assignment]
        self.connected = True
        self.crashed = False
        self.started_at = time.time()
        self.boot_id = str(uuid.uuid4())
        self.oom_events: dict[tuple[str, str, str], int] = {}
        self.cpu_retired: tuple[float, float] = (0.0, 0.0)  # user, system of exited containers
        self.probe_counts: dict[tuple[str, str, str, str, str, str], int] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._bg: set[asyncio.Task[Any]] = set()
        self._events: asyncio.Queue[Obj] = asyncio.Queue(maxsize=500)
        self._event_seen: dict[tuple[str, ...], tuple[str, int, str]] = {}
        self._runner: Any = None
        self._server: Any = None
        self._node_ready_since = rfc3339()
        self._lease_ok = True
        api = urlsplit(client.base_url)
        self._api_host = api.hostname or "127.0.0.1"
        self._api_port = api.port or (443 if api.scheme == "https" else 80)
        self.pods = Informer(
            client,
            "v1",
            "pods",
            field_selector=f"spec.nodeName={node_name}",
            handler=self._on_pod,
            name=f"pods@{node_name}",
        )
        self.configmaps = Informer(client, "v1", "configmaps", handler=self._on_source)
        self.secrets = Informer(client, "v1", "secrets", handler=self._on_source)
        self.services = Informer(client, "v1", "services")
        self.node_informer = Informer(
            client,
            "v1",
            "nodes",
            field_selector=f"metadata.name={node_name}",
            handler=self._on_node,
            name=f"node@{node_name}",
        )

    # -- lookups used by pod workers -----------------------------------------------
    def get_configmap(self, ns: str, name: str) -> Obj | None:
        return self.configmaps.get(ns, name)

    def get_secret(self, ns: str, name: str) -> Obj | None:
        return self.secrets.get(ns, name)

    def service_env(self, ns: str) -> dict[str, str]:
        return service_env(self.services.items(ns))

    def master_service_env(self) -> dict[str, str]:
        h, p = self._api_host, str(self._api_port)
        return {
            "KUBERNETES_SERVICE_HOST": h,
            "KUBERNETES_SERVICE_PORT": p,
            "KUBERNETES_SERVICE_PORT_HTTPS": p,
            "KUBERNETES_PORT": f"tcp://{h}:{p}",
            f"KUBERNETES_PORT_{p}_TCP": f"tcp://{h}:{p}",
            f"KUBERNETES_PORT_{p}_TCP_PROTO": "tcp",
            f"KUBERNETES_PORT_{p}_TCP_PORT": p,
            f"KUBERNETES_PORT_{p}_TCP_ADDR": h,
        }

    async def service_account_token(self, ns: str, sa: str, expiry: int) -> str | None:
        """A token for the pod's service account: TokenRequest, else a legacy token Secret."""
        with contextlib.suppress(ApiError, aiohttp.ClientError, OSError, asyncio.TimeoutError):
            tr = await self.client.create(
                path_for("v1", "serviceaccounts", ns, sa, "token"),
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "TokenRequest",
                    "spec": {"audiences": [], "expirationSeconds": expiry},
                },
            )
            tok = (tr.get("status") or {}).get("token")
            if tok:
                return str(tok)
        import base64

        for s in self.secrets.items(ns):
            ann = s.get("metadata", {}).get("annotations") or {}
            if (
                s.get("type") == "kubernetes.io/service-account-token"
                and ann.get("kubernetes.io/service-account.name") == sa
                and (s.get("data") or {}).get("token")
            ):
                return base64.b64decode(s["data"]["token"]).decode()
        return None

    # -- helpers for workers ---------------------------------------------------------------
    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        t = asyncio.create_task(coro)
        self._bg.add(t)
        t.add_done_callback(self._bg.discard)
        return t

    def forget(self, w: PodWorker) -> None:
        if self.workers.get(w.uid) is w:
            del self.workers[w.uid]

    def save_pid(self, w: PodWorker, c: Container, proc: Any) -> None:
        d = w.dir / "containers" / c.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "pid").write_text(f"{proc.pid} {proc.starttime}\n")

    def retire(self, c: Container) -> None:
        """Fold an exited container's cpu time into the node totals."""
        u, s = self.cpu_retired
        self.cpu_retired = (u + c.usage.cpu_user, s + c.usage.cpu_system)

    def probe_result(self, w: PodWorker, c: Container, kind: str, ok: bool) -> None:
        key = (kind, "successful" if ok else "failed", c.name, w.name, w.ns, w.uid)
        self.probe_counts[key] = self.probe_counts.get(key, 0) + 1

    def event(self, pod: Obj, etype: str, reason: str, message: str, container: str | None = None) -> None:
        """Record a core/v1 Event about a pod (repeats bump ``count``)."""
        if not self.connected:
            return
        md = pod["metadata"]
        key = (md.get("uid", ""), reason, container or "", message[:200])
        now = rfc3339()
        prev = self._event_seen.get(key)
        count = prev[1] + 1 if prev else 1
        name = prev[0] if prev else f"{md['name']}.{uuid.uuid4().hex[:16]}"
        first = prev[2] if prev else now
        self._event_seen[key] = (name, count, first)
        if len(self._event_seen) > 5000:
            self._event_seen.clear()
        ev = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": md.get("namespace", "default")},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": md["name"],
                "namespace": md.get("namespace", "default"),
                "uid": md.get("uid", ""),
                **({"fieldPath": f"spec.containers{{{container}}}"} if container else {}),
            },
            "reason": reason,
            "message": message,
            "type": etype,
            "count": count,
            "firstTimestamp": first,
            "lastTimestamp": now,
            "source": {"component": "kubelet", "host": self.node_name},
            "reportingComponent": "kubelet",
            "reportingInstance": self.node_name,
        }
        with contextlib.suppress(asyncio.QueueFull):
            self._events.put_nowait(ev)

    async def _event_loop(self) -> None:
        while True:
            ev = await self._events.get()
            ns = ev["metadata"]["namespace"]
            with contextlib.suppress(ApiError, aiohttp.ClientError, OSError, asyncio.TimeoutError):
                if ev["count"] > 1:
                    try:
                        await self.client.patch(
                            path_for("v1", "events", ns, ev["metadata"]["name"]),
                            {
                                "count": ev["count"],
                                "lastTimestamp": ev["lastTimestamp"],
                                "message": ev["message"],
                            },
                        )
                        continue
                    except ApiError as e:
                        if e.status != 404:
                            raise
                await self.client.create(path_for("v1", "events", ns), ev)

    # -- informer handlers -------------------------------------------------------------------
    def _on_pod(self, etype: str, pod: Obj, old: Obj | None) -> None:
        if self.crashed:
            return
        uid = pod["metadata"].get("uid", "")
        w = self.workers.get(uid)
        if etype == "DELETED":
            if w is not None:
                w.on_deleted()
            return
        if pod.get("spec", {}).get("nodeName") != self.node_name:
            return
        if w is None:
            if pod["metadata"].get("deletionTimestamp") and not (pod.get("status") or {}).get(
                "containerStatuses"
            ):
                # never started here: nothing to stop, just confirm the deletion
                self.spawn(self._confirm_delete(pod))
                return
            for other in list(self.workers.values()):
                if other.ns == pod["metadata"].get("namespace") and other.name == pod["metadata"]["name"]:
                    if not other.terminating:
                        other.on_deleted()
            w = PodWorker(self, pod)
            self.workers[uid] = w
            w.start()
        w.update(pod)

    async def _confirm_delete(self, pod: Obj) -> None:
        md = pod["metadata"]
        with contextlib.suppress(ApiError, aiohttp.ClientError, OSError, asyncio.TimeoutError):
            await self.client.delete(
                path_for("v1", "pods", md.get("namespace", "default"), md["name"]),
                {"gracePeriodSeconds": 0, "preconditions": {"uid": md.get("uid")}},
            )

    def _on_source(self, etype: str, obj: Obj, old: Obj | None) -> None:
        """A ConfigMap or Secret changed: refresh the volumes of pods in its namespace."""
        ns = obj["metadata"].get("namespace")
        for w in list(self.workers.values()):
            if w.ns == ns:
                self.spawn(w.refresh_volumes())

    def _on_node(self, etype: str, node: Obj, old: Obj | None) -> None:
        ann = (node.get("metadata", {}).get("annotations") or {}).get(FAULT_ANNOTATION, "")
        down = ann.strip().lower() in ("down", "node-down", "crash")
        if down and not self.crashed:
            log.warning("node %s: fault annotation says down; simulating a node crash", self.node_name)
            self.crash()
        elif not down and self.crashed and etype != "DELETED":
            log.warning("node %s: fault cleared; recovering", self.node_name)
            self.spawn(self.recover())

    # -- node object ---------------------------------------------------------------------------
    def node_status(self) -> Obj:
        now = rfc3339()

        def cond(t: str, st: str, reason: str, msg: str) -> Obj:
            return {
                "type": t,
                "status": st,
                "lastHeartbeatTime": now,
                "lastTransitionTime": self._node_ready_since,
                "reason": reason,
                "message": msg,
            }

        u = os.uname()
        cap = {k: v for k, v in self.capacity.items()}
        with contextlib.suppress(ValueError):
            cap["memory"] = format_bytes(parse_quantity(cap["memory"]))
        return {
            "capacity": cap,
            "allocatable": {**self.allocatable, "memory": cap["memory"]},
            "conditions": [
                cond(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond(
                    "PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"
                ),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": self.node_ip},
                {"type": "Hostname", "address": self.node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name).hex,
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.node_name)),
                "bootID": self.boot_id,
                "kernelVersion": u.release,
                "osImage": f"Heron simulated node ({platform.system()} {u.release})",
                "containerRuntimeVersion": "heron://0.1.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64" if u.machine in ("x86_64", "amd64") else u.machine,
            },
        }

    def node_object(self) -> Obj:
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "heron",
            **self.labels,
        }
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": labels,
                "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {
                "podCIDR": f"{self.pod_prefix}.0/24",
                "podCIDRs": [f"{self.pod_prefix}.0/24"],
                "providerID": f"heron://{self.node_name}",
            },
            "status": self.node_status(),
        }

    async def register(self) -> None:
        path = path_for("v1", "nodes")
        try:
            await self.client.create(path, self.node_object())
        except ApiError as e:
            if e.status != 409:
                raise
            node = await self.client.get(path_for("v1", "nodes", None, self.node_name))
            node.setdefault("metadata", {}).setdefault("labels", {}).update(
                self.node_object()["metadata"]["labels"]
            )
            with contextlib.suppress(ApiError):
                node = await self.client.replace(path_for("v1", "nodes", None, self.node_name), node)
        await self.post_status()

    async def post_status(self) -> None:
        path = path_for("v1", "nodes", None, self.node_name, "status")
        status = self.node_status()
        try:
            await self.client.patch(path, {"status": status})
            return
        except ApiError as e:
            if e.status == 404:
                await self.client.create(path_for("v1", "nodes"), self.node_object())
                return
            if e.status not in (405, 415, 400, 422):
                raise
        for _ in range(3):
            node = await self.client.get(path_for("v1", "nodes", None, self.node_name))
            node["status"] = {**(node.get("status") or {}), **status}
            try:
                await self.client.replace(path, node)
                return
            except ApiError as e:
                if e.status != 409:
                    raise

    async def _renew_lease(self) -> None:
        if not self._lease_ok:
            return
        path = path_for("coordination.k8s.io/v1", "leases", "kube-node-lease", self.node_name)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node_name, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node_name,
                "leaseDurationSeconds": 40,
                "renewTime": now,
            },
        }
        try:
            await self.client.patch(path, {"spec": {"renewTime": now, "holderIdentity": self.node_name}})
        except ApiError as e:
            if e.status == 404:
                try:
                    await self.client.create(
                        path_for("coordination.k8s.io/v1", "leases", "kube-node-lease"), body
                    )
                except ApiError:
                    self._lease_ok = False  # leases not served: the node status heartbeat suffices
            else:
                self._lease_ok = False

    async def _heartbeat_loop(self) -> None:
        while True:
            if not self.crashed:
                try:
                    await self.post_status()
                    await self._renew_lease()
                    self.connected = True
                except (TimeoutError, ApiError, aiohttp.ClientError, OSError) as e:
                    log.debug("node %s heartbeat failed: %s", self.node_name, e)
            await asyncio.sleep(self.heartbeat)

    async def _sample_loop(self) -> None:
        while True:
            for w in list(self.workers.values()):
                with contextlib.suppress(Exception):
                    w.sample()
            await asyncio.sleep(1.0)

    # -- start / stop ----------------------------------------------------------------------------
    def _kill_stale(self) -> None:
        """Kill processes left behind by an earlier run of this node (e.g. after a crash)."""
        if not self.pods_dir.is_dir():
            return
        for pidfile in self.pods_dir.glob("*/containers/*/pid"):
            with contextlib.suppress(OSError, ValueError):
                pid, start = (int(x) for x in pidfile.read_text().split())
                if same_process(pid, start):
                    kill_session(pid, signal.SIGKILL)
                # members of the container's session started after it (the leader may be gone)
                for p in scan_sessions(0).get(pid, []):
                    if p.starttime >= start:
                        with contextlib.suppress(OSError):
                            os.kill(p.pid, signal.SIGKILL)
                pidfile.unlink()

    async def start(self) -> None:
        """Register the node, start serving, start the pods bound here."""
        from ._server import KubeletServer

        self.pods_dir.mkdir(parents=True, exist_ok=True)
        self._kill_stale()
        self.http = aiohttp.ClientSession()
        self._server = KubeletServer(self)
        await self._server.start(self.node_ip, self.port)
        await self.register()
        for inf in (self.configmaps, self.secrets, self.services, self.node_informer):
            inf.start()
        await asyncio.gather(
            *(i.synced.wait() for i in (self.configmaps, self.secrets, self.services, self.node_informer))
        )
        self.pods.start()
        await self.pods.synced.wait()
        self._gc_dirs()
        self._tasks = [
            asyncio.create_task(self._heartbeat_loop(), name=f"heartbeat-{self.node_name}"),
            asyncio.create_task(self._sample_loop(), name=f"sample-{self.node_name}"),
            asyncio.create_task(self._event_loop(), name=f"events-{self.node_name}"),
        ]

    def _gc_dirs(self) -> None:
        live = {o["metadata"].get("uid") for o in self.pods.items()}
        for d in self.pods_dir.iterdir():
            if d.is_dir() and d.name not in live and d.name not in self.workers:
                shutil.rmtree(d, ignore_errors=True)

    async def stop(self, grace: float | None = None) -> None:
        """Stop every pod process (SIGTERM, then SIGKILL after ``grace``) and the kubelet."""
        g = self.stop_grace if grace is None else grace
        await asyncio.gather(*(w.stop(g) for w in list(self.workers.values())), return_exceptions=True)
        self.workers.clear()
        for t in self._tasks + list(self._bg):
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        for inf in (self.pods, self.configmaps, self.secrets, self.services, self.node_informer):
            await inf.stop()
        if getattr(self, "_server", None) is not None:
            await self._server.stop()
            self._server = None
        if self.http is not None:
            await self.http.close()

    def kill_all(self) -> None:
        """SIGKILL every container process now (synchronous; safe at exit)."""
        for w in list(self.workers.values()):
            w.kill_now()

    def crash(self) -> None:
        """Simulate a node failure: processes die, heartbeats and status updates stop."""
        self.crashed = True
        self.connected = False
        self.kill_all()
        for w in list(self.workers.values()):
            self.spawn(w.close())
        self.workers.clear()
        self.ipam = IPAM(self.pod_prefix)

    async def recover(self) -> None:
        """Come back after :meth:`crash`, like a rebooted node."""
        self.crashed = False
        self.connected = True
        self.boot_id = str(uuid.uuid4())
        self._node_ready_since = rfc3339()
        with contextlib.suppress(ApiError, aiohttp.ClientError, OSError, asyncio.TimeoutError):
            await self.post_status()
        for pod in self.pods.items():
            self._on_pod("ADDED", pod, None)

    def running_containers(self) -> list[tuple[PodWorker, Container]]:
        return [
            (w, c)
            for w in list(self.workers.values())
            for c in w.init_containers + w.containers
            if c.proc is not None and c.proc.running
        ]
