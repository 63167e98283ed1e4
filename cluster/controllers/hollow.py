"""Hollow nodes: kubelets that run nothing (like kubemark's), for tests and demos.

A hollow node registers a Node, renews its Lease, and reports every pod bound
to it as Running and Ready (with a loopback pod IP) without starting any
process; it confirms graceful deletions at once. Stopping it stops the
heartbeats, so the node lifecycle controller marks it NotReady and evicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.registry import Registry

from .clock import Clock


class HollowNode:
    """One simulated node talking to the registry in-process."""

    def __init__(
        self,
        registry: Registry,
        clock: Clock,
        name: str,
        *,
        index: int = 1,
        cpu: str = "4",
        memory: str = "8Gi",
        pods: str = "110",
        labels: dict[str, str] | None = None,
        heartbeat: float = 10.0,
    ) -> None:
        self.reg = registry
        self.clock = clock
        self.name = name
        self.index = index
        self.capacity = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
        self.labels = labels or {}
        self.heartbeat = heartbeat
        self.ip = f"127.20.{index}.1"
        self._next_ip = 2
        self._ips: dict[str, str] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._stop = asyncio.Event()

    def node_object(self) -> dict[str, Any]:
        """The Node this kubelet registers."""
        now = self.reg.now()
        conds = [
            {
                "type": t,
                "status": "False",
                "reason": r,
                "message": m,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for t, r, m in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            )
        ]
        conds.append(
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
        )
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "beta.kubernetes.io/os": "linux",
                    "beta.kubernetes.io/arch": "amd64",
                    **self.labels,
                },
            },
            "spec": {"podCIDR": f"127.20.{self.index}.0/24"},
            "status": {
                "capacity": dict(self.capacity),
                "allocatable": dict(self.capacity),
                "conditions": conds,
                "addresses": [
                    {"type": "InternalIP", "address": self.ip},
                    {"type": "Hostname", "address": self.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": hashlib.md5(self.name.encode()).hexdigest(),
                    "systemUUID": hashlib.md5(self.name.encode()).hexdigest(),
                    "bootID": hashlib.md5(self.name.encode()).hexdigest(),
                    "kernelVersion": "6.1.0",
                    "osImage": "Heron hollow node",
                    "containerRuntimeVersion": "hollow://0.1",
                    "kubeletVersion": "v1.32.0-heron",
                    "kubeProxyVersion": "v1.32.0-heron",
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }

    async def start(self) -> None:
        """Register (or re-register) and start heartbeats and the pod loop."""
        self._stop.clear()
        node = self.node_object()
        cur = self.reg.try_get("nodes", None, self.name)
        if cur is None:
            self.reg.create("nodes", None, node)
        else:
            cur["status"] = node["status"]
            self.reg.update_status("nodes", None, self.name, cur)
        self._tasks = [asyncio.create_task(self._heartbeats()), asyncio.create_task(self._pods())]
        self._renew()

    async def stop(self) -> None:
        """Stop heartbeats and pod handling (the node "dies")."""
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []

    def _renew(self) -> None:
        now = objects.now_micro(self.clock.now())
        lease = self.reg.try_get("leases.coordination.k8s.io", "kube-node-lease", self.name)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": now},
        }
        if lease is None:
            self.reg.create("leases.coordination.k8s.io", "kube-node-lease", body)
        else:
            lease["spec"] = body["spec"]
            self.reg.update("leases.coordination.k8s.io", "kube-node-lease", self.name, lease)
        node = self.reg.try_get("nodes", None, self.name)
        if node is not None:
            ready = objects.condition(node, "Ready")
            if ready is None or ready.get("status") != "True":
                node["status"] = self.node_object()["status"]
                self.reg.update_status("nodes", None, self.name, node)

    async def _heartbeats(self) -> None:
        while not self._stop.is_set():
            await self.clock.sleep(self.heartbeat)
            if self._stop.is_set():
                return
            with contextlib.suppress(errors.APIError):
                self._renew()

    async def _pods(self) -> None:
        async for ev in self.reg.watch(
            "pods", None, field_selector=f"spec.nodeName={self.name}", stop=self._stop
        ):
            if ev.type == "DELETED":
                self._ips.pop(ev.object["metadata"]["uid"], None)
                continue
            pod = ev.object
            md = pod["metadata"]
            try:
                if md.get("deletionTimestamp"):
                    self.reg.delete("pods", md["namespace"], md["name"], {"gracePeriodSeconds": 0})
                elif (pod.get("status") or {}).get("phase") in (None, "Pending"):
                    self._run(pod)
            except errors.APIError:
                pass

    def _run(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        ip = self._ips.get(uid)
        if ip is None:
            ip = f"127.20.{self.index}.{self._next_ip}"
            self._next_ip = self._next_ip + 1 if self._next_ip < 254 else 2
            self._ips[uid] = ip
        now = self.reg.now()
        pod = self.reg.get("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
        cs = []
        for c in pod["spec"].get("containers") or []:
            cs.append(
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "hollow://" + c.get("image", ""),
                    "containerID": "hollow://" + hashlib.sha1((uid + c["name"]).encode()).hexdigest(),
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                    "lastState": {},
                }
            )
        pod["status"] = {
            "phase": "Running",
            "hostIP": self.ip,
            "hostIPs": [{"ip": self.ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "qosClass": (pod.get("status") or {}).get("qosClass", "BestEffort"),
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
                for t in (
                    "PodReadyToStartContainers",
                    "Initialized",
                    "Ready",
                    "ContainersReady",
                    "PodScheduled",
                )
            ],
            "containerStatuses": cs,
        }
        self.reg.update_status("pods", pod["metadata"]["namespace"], pod["metadata"]["name"], pod)


def hollow_node_factory(cp: Any, index: int) -> HollowNode:
    """A ``node_factory`` for :class:`cluster.controlplane.ControlPlane` creating hollow nodes."""
    return HollowNode(cp.registry, cp.clock, f"node-{index + 1}", index=index + 1)
