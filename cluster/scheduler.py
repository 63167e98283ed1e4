"""The scheduler: filter nodes (readiness, taints, selectors, affinity, resources), score, bind.

Pods that fit nowhere stay Pending with a ``PodScheduled=False/Unschedulable``
condition and a ``FailedScheduling`` event saying why, and are retried when
nodes or pods change (and every ``retry`` seconds of the clock).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.apiserver.server import bind_pod
from cluster.controllers.base import Context, Controller, obj_key, split_key
from cluster.controllers.scheduler_util import (
    node_matches_affinity,
    pod_requests,
    preferred_affinity_score,
    untolerated,
)
from cluster.store import Event

SCHEDULER_NAME = "default-scheduler"


def _alloc(node: dict[str, Any], res: str) -> float | None:
    st = node.get("status") or {}
    q = (st.get("allocatable") or {}).get(res, (st.get("capacity") or {}).get(res))
    if q is None:
        return None
    try:
        return objects.parse_quantity(q)
    except ValueError:
        return None


class Scheduler(Controller):
    """Binds pending pods to nodes."""

    name = SCHEDULER_NAME
    watches = ("pods", "nodes")
    resync = 10.0

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._unschedulable: set[str] = set()
        self._last_msg: dict[str, str] = {}
        self.attempts: Counter[str] = Counter()

    def _wants(self, pod: dict[str, Any]) -> bool:
        spec = pod.get("spec") or {}
        return (
            not spec.get("nodeName")
            and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
            and not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
        )

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == "Pod":
            if ev.type != "DELETED" and self._wants(ev.obj):
                self.queue.add(obj_key(ev.obj))
            elif ev.type == "DELETED" or (
                ev.prev is not None and objects.pod_active(ev.prev) and not objects.pod_active(ev.obj)
            ):
                # capacity freed
                self._retry_unschedulable()
            if ev.type == "DELETED":
                self._unschedulable.discard(obj_key(ev.obj))
                self._last_msg.pop(obj_key(ev.obj), None)
        else:
            self._retry_unschedulable()

    def _retry_unschedulable(self) -> None:
        for k in list(self._unschedulable):
            self.queue.add(k)

    def initial_keys(self) -> list[str]:
        return [obj_key(p) for p in self.reg.refs("pods") if self._wants(p)]

    def sync(self, key: str) -> float | None:
        ns, name = split_key(key)
        pod = self.reg.try_get("pods", ns, name)
        if pod is None or not self._wants(pod):
            self._unschedulable.discard(key)
            return None
        node, reasons, total = self.schedule(pod)
        if node is None:
            self.attempts["unschedulable"] += 1
            self._unschedulable.add(key)
            msg = self._message(reasons, total)
            if self._last_msg.get(key) != msg:
                self._last_msg[key] = msg
                self.reg.record_event(pod, "Warning", "FailedScheduling", msg, SCHEDULER_NAME)
                status = pod.setdefault("status", {})
                conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
                conds.append(
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": self.reg.now(),
                        "reason": "Unschedulable",
                        "message": msg,
                    }
                )
                status["conditions"] = conds
                try:
                    self.reg.update_status("pods", ns, name, pod)
                except errors.APIError:
                    pass
            return None
        try:
            bind_pod(self.reg, ns or "", name, node)
        except errors.APIError as e:
            if e.code in (404, 409):
                return None
            raise
        self.attempts["scheduled"] += 1
        self._unschedulable.discard(key)
        self._last_msg.pop(key, None)
        self.reg.record_event(
            pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node}", SCHEDULER_NAME
        )
        return None

    @staticmethod
    def _message(reasons: Counter[str], total: int) -> str:
        if total == 0:
            return "no nodes available to schedule pods"
        parts = sorted(f"{n} {r}" for r, n in reasons.items())
        return (
            f"0/{total} nodes are available: {', '.join(parts)}. preemption: 0/{total} nodes are available: "
            f"{total} Preemption is not helpful for scheduling."
        )

    def schedule(self, pod: dict[str, Any]) -> tuple[str | None, Counter[str], int]:
        """(chosen node, failure reasons, node count)."""
        spec = pod.get("spec") or {}
        nodes = list(self.reg.refs("nodes"))
        reasons: Counter[str] = Counter()
        need = pod_requests(spec)
        tols = spec.get("tolerations") or []
        # requested resources per node
        used: dict[str, dict[str, float]] = {}
        counts: Counter[str] = Counter()
        owner = (objects.controller_ref(pod) or {}).get("uid")
        same_owner: Counter[str] = Counter()
        for p in self.reg.refs("pods"):
            n = (p.get("spec") or {}).get("nodeName")
            if not n or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            r = pod_requests(p.get("spec") or {})
            u = used.setdefault(n, {"cpu": 0.0, "memory": 0.0})
            u["cpu"] += r["cpu"]
            u["memory"] += r["memory"]
            counts[n] += 1
            if owner and (objects.controller_ref(p) or {}).get("uid") == owner:
                same_owner[n] += 1
        feasible: list[tuple[float, str]] = []
        for node in nodes:
            nname = node["metadata"]["name"]
            labels = node["metadata"].get("labels") or {}
            taints = list((node.get("spec") or {}).get("taints") or [])
            if (node.get("spec") or {}).get("unschedulable"):
                taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
            ready = objects.condition(node, "Ready")
            if ready is None or ready.get("status") != "True":
                key = (
                    "node.kubernetes.io/not-ready"
                    if ready is not None and ready.get("status") == "False"
                    else "node.kubernetes.io/unreachable"
                )
                if not any(t.get("key") == key for t in taints):
                    taints.append({"key": key, "effect": "NoSchedule"})
            bad = untolerated(tols, taints, ("NoSchedule", "NoExecute"))
            if bad:
                if any(t.get("key") == "node.kubernetes.io/unschedulable" for t in bad):
                    reasons["node(s) were unschedulable"] += 1
                else:
                    t = bad[0]
                    reasons[f"node(s) had untolerated taint {{{t.get('key')}: {t.get('value', '')}}}"] += 1
                continue
            if any(
                labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()
            ) or not node_matches_affinity(spec, node):
                reasons["node(s) didn't match Pod's node affinity/selector"] += 1
                continue
            u = used.get(nname, {"cpu": 0.0, "memory": 0.0})
            insufficient = False
            for res in ("cpu", "memory"):
                cap = _alloc(node, res)
                if cap is not None and need[res] > 0 and u[res] + need[res] > cap + 1e-9:
                    reasons[f"Insufficient {res}"] += 1
                    insufficient = True
            max_pods = _alloc(node, "pods")
            if max_pods is not None and counts[nname] + 1 > max_pods:
                reasons["Too many pods"] += 1
                insufficient = True
            if insufficient:
                continue
            # least requested (0..100) + spreading + preferred affinity
            score = 0.0
            n_res = 0
            for res in ("cpu", "memory"):
                cap = _alloc(node, res)
                if cap:
                    score += max(0.0, (cap - u[res] - need[res]) / cap) * 100
                    n_res += 1
            score = score / n_res if n_res else 50.0
            score += 100.0 / (1 + same_owner[nname]) + preferred_affinity_score(spec, node)
            score -= counts[nname] * 0.01
            feasible.append((score, nname))
        if not feasible:
            return None, reasons, len(nodes)
        best = max(s for s, _ in feasible)
        choices = [n for s, n in feasible if s >= best - 1e-9]
        return random.choice(choices), reasons, len(nodes)
