"""DaemonSet controller: one pod per eligible node, rolling updates by maxUnavailable."""

from __future__ import annotations

import copy
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.store import Event

from .base import Controller, obj_key, split_key
from .replicaset import pod_from_template
from .scheduler_util import node_matches_affinity, tolerates_all
from .statefulset import REVISION_LABEL, ensure_revision

DS_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def _node_of(pod: dict[str, Any]) -> str:
    if pod.get("spec", {}).get("nodeName"):
        return str(pod["spec"]["nodeName"])
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    for term in (aff.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return ""


class DaemonSetController(Controller):
    """apps/v1 DaemonSet."""

    name = "daemonset-controller"
    watches = ("daemonsets.apps", "pods", "nodes")

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == "DaemonSet":
            self.queue.add(obj_key(ev.obj))
        elif r.kind == "Node":
            for ds in self.reg.refs("daemonsets.apps"):
                self.queue.add(obj_key(ds))
        else:
            for o in (ev.obj, ev.prev):
                ref = objects.controller_ref(o) if o is not None else None
                if o is not None and ref is not None and ref.get("kind") == "DaemonSet":
                    self.queue.add(f"{o['metadata']['namespace']}/{ref['name']}")

    def initial_keys(self) -> list[str]:
        return [obj_key(o) for o in self.reg.refs("daemonsets.apps")]

    def _eligible(self, ds: dict[str, Any], node: dict[str, Any]) -> bool:
        spec = (ds["spec"].get("template") or {}).get("spec") or {}
        labels = node["metadata"].get("labels") or {}
        for k, v in (spec.get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                return False
        if not node_matches_affinity(spec, node):
            return False
        taints = [
            t
            for t in (node.get("spec") or {}).get("taints") or []
            if t.get("effect") in ("NoSchedule", "NoExecute")
        ]
        return tolerates_all((spec.get("tolerations") or []) + DS_TOLERATIONS, taints)

    def _pod_for(self, ds: dict[str, Any], node: str, rev: str) -> dict[str, Any]:
        pod = pod_from_template(ds, ds["spec"]["template"])
        pod["metadata"]["labels"][REVISION_LABEL] = rev
        spec = pod["spec"]
        aff = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        aff["requiredDuringSchedulingIgnoredDuringExecution"] = {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
            ]
        }
        tols = spec.setdefault("tolerations", [])
        for t in DS_TOLERATIONS:
            if not any(x.get("key") == t["key"] and x.get("effect") == t["effect"] for x in tols):
                tols.append(dict(t))
        return pod

    def sync(self, key: str) -> float | None:
        ns, name = split_key(key)
        ds = self.reg.try_get("daemonsets.apps", ns, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return None
        rev, _ = ensure_revision(self, ds, ds["spec"]["template"])
        uid = ds["metadata"]["uid"]
        nodes = {n["metadata"]["name"]: n for n in self.reg.refs("nodes")}
        pods: dict[str, list[dict[str, Any]]] = {}
        for p in self.reg.list_items("pods", ns):
            if (objects.controller_ref(p) or {}).get("uid") == uid and objects.pod_active(p):
                pods.setdefault(_node_of(p), []).append(p)
        want = {n for n, node in nodes.items() if self._eligible(ds, node)}
        misscheduled = 0
        for node_name, ps in pods.items():
            if node_name not in want:
                misscheduled += len(ps)
                for p in ps:
                    self._delete(ds, p)
            elif len(ps) > 1:
                for p in sorted(ps, key=lambda x: x["metadata"].get("creationTimestamp", ""))[1:]:
                    self._delete(ds, p)
        for node_name in sorted(want):
            if node_name not in pods:
                try:
                    created = self.reg.create("pods", ns, self._pod_for(ds, node_name, rev))
                    self.reg.record_event(
                        ds,
                        "Normal",
                        "SuccessfulCreate",
                        f"Created pod: {created['metadata']['name']}",
                        self.name,
                    )
                except errors.APIError as e:
                    self.reg.record_event(
                        ds, "Warning", "FailedCreate", f"Error creating: {e.message}", self.name
                    )
        # rolling update
        us = ds["spec"].get("updateStrategy") or {}
        if us.get("type", "RollingUpdate") == "RollingUpdate":
            from .deployment import resolve_int_or_percent

            max_unavail = max(
                1,
                resolve_int_or_percent(
                    (us.get("rollingUpdate") or {}).get("maxUnavailable", 1), len(want), False
                ),
            )
            current = [p for n in want for p in pods.get(n, [])]
            unavailable = sum(1 for p in current if not objects.pod_ready(p))
            old = [p for p in current if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) != rev]
            budget = max_unavail - unavailable
            for p in sorted(old, key=lambda x: objects.pod_ready(x)):
                if not objects.pod_ready(p):
                    self._delete(ds, p)
                elif budget > 0:
                    self._delete(ds, p)
                    budget -= 1
        self._status(ds, ns, name, want, rev, misscheduled)
        return None

    def _delete(self, ds: dict[str, Any], p: dict[str, Any]) -> None:
        try:
            self.reg.delete("pods", p["metadata"]["namespace"], p["metadata"]["name"])
            self.reg.record_event(
                ds, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}", self.name
            )
        except errors.APIError:
            pass

    def _status(
        self, ds: dict[str, Any], ns: str | None, name: str, want: set[str], rev: str, mis: int
    ) -> None:
        uid = ds["metadata"]["uid"]
        now = self.clock.now()
        mrs = int(ds["spec"].get("minReadySeconds") or 0)
        on_wanted = [
            p
            for p in self.reg.refs("pods", ns)
            if (objects.controller_ref(p) or {}).get("uid") == uid
            and objects.pod_active(p)
            and _node_of(p) in want
        ]
        nodes_with = {_node_of(p) for p in on_wanted}
        ready = sum(1 for p in on_wanted if objects.pod_ready(p))
        avail = sum(1 for p in on_wanted if objects.pod_available(p, mrs, now))
        status = {
            "currentNumberScheduled": len(nodes_with),
            "numberMisscheduled": mis,
            "desiredNumberScheduled": len(want),
            "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": sum(
                1 for p in on_wanted if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == rev
            ),
            "numberAvailable": avail,
            "numberUnavailable": max(0, len(want) - avail),
        }
        for k in ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"):
            if not status[k]:
                status.pop(k)
        if status != (ds.get("status") or {}):
            d2 = copy.deepcopy(ds)
            d2["status"] = status
            self.reg.update_status("daemonsets.apps", ns, name, d2)
