"""Node lifecycle: heartbeats -> Ready/Unknown, NoExecute taints, eviction; pod GC."""

from __future__ import annotations

import copy
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.store import Event

from .base import Context, Controller, split_key
from .scheduler_util import tolerates

UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


class NodeLifecycleController(Controller):
    """Marks silent nodes Unknown, taints them, evicts and force-deletes their pods."""

    name = "node-controller"
    watches = ("nodes", "leases.coordination.k8s.io", "pods")

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.resync = ctx.node_monitor_period
        self.grace = ctx.node_monitor_grace_period
        self._missing: dict[str, float] = {}

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == "Node":
            self.queue.add(ev.obj["metadata"]["name"])
        elif r.kind == "Lease":
            if ev.obj["metadata"].get("namespace") == "kube-node-lease":
                self.queue.add(ev.obj["metadata"]["name"])
        elif ev.type != "DELETED":
            n = (ev.obj.get("spec") or {}).get("nodeName")
            if n and (ev.prev is None or (ev.prev.get("spec") or {}).get("nodeName") != n):
                self.queue.add(n)
            elif n and ev.obj["metadata"].get("deletionTimestamp"):
                self.queue.add(n)
            elif not n:
                pass

    def initial_keys(self) -> list[str]:
        keys = [n["metadata"]["name"] for n in self.reg.refs("nodes")]
        # pods bound to nodes that do not exist (pod GC)
        known = set(keys)
        for p in self.reg.refs("pods"):
            n = (p.get("spec") or {}).get("nodeName")
            if n and n not in known:
                keys.append(n)
                known.add(n)
        return keys

    def _last_heartbeat(self, node: dict[str, Any]) -> float:
        t = objects.parse_time(node["metadata"].get("creationTimestamp")) or 0.0
        for c in (node.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready":
                t = max(t, objects.parse_time(c.get("lastHeartbeatTime")) or 0.0)
        lease = self.reg.store.get_ref(
            self.reg.info("leases.coordination.k8s.io").key("kube-node-lease", node["metadata"]["name"])
        )
        if lease is not None:
            t = max(t, objects.parse_time((lease.get("spec") or {}).get("renewTime")) or 0.0)
        return t

    def sync(self, key: str) -> float | None:
        _, name = split_key(key)
        now = self.clock.now()
        node = self.reg.try_get("nodes", None, name)
        if node is None:
            # quarantine like the pod GC: the node may just be registering
            first = self._missing.setdefault(name, now)
            if now - first < self.grace:
                return first + self.grace - now + 0.1
            self._missing.pop(name, None)
            self._gc_orphans(name)
            return None
        self._missing.pop(name, None)
        ready = objects.condition(node, "Ready")
        last = self._last_heartbeat(node)
        silent = now - last > self.grace
        if silent and (ready is None or ready.get("status") != "Unknown"):
            node = self._mark_unknown(node, ready is None)
            ready = objects.condition(node, "Ready")
        node = self._sync_taints(node, ready)
        requeue = self._evict(node, now)
        if not silent:
            left = last + self.grace - now + 0.5
            requeue = min(requeue, left) if requeue else left
        return requeue

    def _mark_unknown(self, node: dict[str, Any], never: bool) -> dict[str, Any]:
        node = copy.deepcopy(node)
        status = node.setdefault("status", {})
        now = self.reg.now()
        reason = "NodeStatusNeverUpdated" if never else "NodeStatusUnknown"
        msg = "Kubelet never posted node status." if never else "Kubelet stopped posting node status."
        conds = status.setdefault("conditions", [])
        types = {c.get("type") for c in conds}
        for t in CONDITIONS:
            if t not in types and never:
                conds.append({"type": t})
        for c in conds:
            if c.get("type") in CONDITIONS:
                if c.get("status") != "Unknown":
                    c["lastTransitionTime"] = now
                c["status"] = "Unknown"
                c["reason"] = reason
                c["message"] = msg
                c.setdefault(
                    "lastHeartbeatTime",
                    c.get("lastHeartbeatTime") or node["metadata"].get("creationTimestamp"),
                )
        out = self.reg.update_status("nodes", None, node["metadata"]["name"], node)
        self.reg.record_event(
            out,
            "Normal",
            "NodeNotReady",
            f"Node {node['metadata']['name']} status is now: NodeNotReady",
            self.name,
        )
        # pods on the node are no longer ready
        for p in self.reg.list_items("pods", field_selector=f"spec.nodeName={node['metadata']['name']}"):
            st = p.setdefault("status", {})
            changed = False
            for c in st.get("conditions") or []:
                if c.get("type") in ("Ready", "ContainersReady") and c.get("status") == "True":
                    c["status"] = "False"
                    c["lastTransitionTime"] = now
                    changed = True
            if changed:
                try:
                    self.reg.update_status("pods", p["metadata"]["namespace"], p["metadata"]["name"], p)
                except errors.APIError:
                    pass
        return out

    def _sync_taints(self, node: dict[str, Any], ready: dict[str, Any] | None) -> dict[str, Any]:
        st = (ready or {}).get("status")
        want_key = None if st == "True" else (NOT_READY if st == "False" else UNREACHABLE)
        if ready is None:
            want_key = None  # never reported yet: the grace period decides
        taints = list((node.get("spec") or {}).get("taints") or [])
        ours = [t for t in taints if t.get("key") in (UNREACHABLE, NOT_READY)]
        others = [t for t in taints if t.get("key") not in (UNREACHABLE, NOT_READY)]
        want: list[dict[str, Any]] = []
        if want_key is None:
            pass
        else:
            prev = {(t.get("key"), t.get("effect")): t for t in ours}
            want = []
            for eff in ("NoSchedule", "NoExecute"):
                t = prev.get((want_key, eff)) or {"key": want_key, "effect": eff}
                if eff == "NoExecute" and "timeAdded" not in t:
                    t = dict(t, timeAdded=self.reg.now())
                want.append(t)
        if ours == want:
            return node
        node = copy.deepcopy(node)
        node.setdefault("spec", {})["taints"] = others + want
        if not node["spec"]["taints"]:
            node["spec"].pop("taints")
        return self.reg.update("nodes", None, node["metadata"]["name"], node)

    def _evict(self, node: dict[str, Any], now: float) -> float:
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
        name = node["metadata"]["name"]
        ready = objects.condition(node, "Ready")
        node_down = ready is not None and ready.get("status") != "True"
        requeue = 0.0
        if not taints and not node_down:
            return requeue
        for p in [p for p in self.reg.refs("pods") if (p.get("spec") or {}).get("nodeName") == name]:
            ns, pname = p["metadata"]["namespace"], p["metadata"]["name"]
            if p["metadata"].get("deletionTimestamp"):
                # the kubelet of a dead node never confirms: force-delete after the grace period
                if node_down:
                    deadline = objects.parse_time(p["metadata"]["deletionTimestamp"]) or now
                    if deadline <= now:
                        self._force_delete(ns, pname)
                    else:
                        requeue = min(requeue or 1e9, deadline - now + 0.1)
                continue
            evict_at: float | None = None
            for t in taints:
                tols = [x for x in (p.get("spec") or {}).get("tolerations") or [] if tolerates(x, t)]
                if not tols:
                    evict_at = now
                    break
                secs = [x.get("tolerationSeconds") for x in tols]
                if any(s is None for s in secs):
                    continue
                added = objects.parse_time(t.get("timeAdded")) or now
                at = added + min(float(s) for s in secs if s is not None)
                evict_at = at if evict_at is None else min(evict_at, at)
            if evict_at is None:
                continue
            if evict_at <= now:
                try:
                    self.reg.record_event(
                        p,
                        "Normal",
                        "TaintManagerEviction",
                        f"Marking for deletion Pod {ns}/{pname}",
                        "taint-eviction-controller",
                    )
                    self.reg.delete("pods", ns, pname)
                except errors.APIError:
                    pass
                requeue = min(requeue or 1e9, float(p["spec"].get("terminationGracePeriodSeconds", 30)) + 0.1)
            else:
                requeue = min(requeue or 1e9, evict_at - now + 0.1)
        return requeue

    def _force_delete(self, ns: str, name: str) -> None:
        try:
            self.reg.delete("pods", ns, name, {"gracePeriodSeconds": 0})
        except errors.APIError:
            pass

    def _gc_orphans(self, node_name: str) -> None:
        """Pods bound to a node that no longer exists are deleted (pod GC)."""
        for p in self.reg.list_items("pods", field_selector=f"spec.nodeName={node_name}"):
            ns, pname = p["metadata"]["namespace"], p["metadata"]["name"]
            self.reg.record_event(
                p,
                "Normal",
                "PodGCOrphaned",
                f"Deleting pod {ns}/{pname}: node {node_name} no longer exists",
                "pod-garbage-collector",
            )
            self._force_delete(ns, pname)
