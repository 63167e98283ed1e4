"""ReplicaSet controller: keeps the desired number of pods, adopting and releasing by selector."""

from __future__ import annotations

import copy
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.apiserver.selectors import label_selector_matches, matches_labels, selector_requirements
from cluster.store import Event

from .base import Controller, obj_key, split_key

BURST = 500


def pod_from_template(
    owner: dict[str, Any], template: dict[str, Any], name: str = "", generate: str = ""
) -> dict[str, Any]:
    """A pod object from a pod template, owned by ``owner``."""
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {
        "labels": dict(tmeta.get("labels") or {}),
        "ownerReferences": [objects.owner_reference(owner)],
    }
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = generate or owner["metadata"]["name"] + "-"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _rank(p: dict[str, Any]) -> tuple[Any, ...]:
    """Deletion preference: lower sorts first (deleted first)."""
    st = p.get("status") or {}
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(st.get("phase", "Pending"), 0)
    restarts = sum(int(c.get("restartCount") or 0) for c in st.get("containerStatuses") or [])
    return (
        1 if p.get("spec", {}).get("nodeName") else 0,
        phase_rank,
        1 if objects.pod_ready(p) else 0,
        -restarts,
        # newer pods first
        -(objects.parse_time(p["metadata"].get("creationTimestamp")) or 0),
    )


class ReplicaSetController(Controller):
    """apps/v1 ReplicaSet."""

    name = "replicaset-controller"
    watches = ("replicasets.apps", "pods")
    kind = "ReplicaSet"
    resource = "replicasets.apps"

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == self.kind:
            self.queue.add(obj_key(ev.obj))
            return
        # a pod changed: sync its controller (and, for orphans, any matching owner)
        for o in (ev.obj, ev.prev):
            if o is None:
                continue
            ref = objects.controller_ref(o)
            if ref is not None:
                if ref.get("kind") == self.kind:
                    self.queue.add(f"{o['metadata']['namespace']}/{ref['name']}")
            else:
                ns = o["metadata"].get("namespace")
                labels = o["metadata"].get("labels") or {}
                for rs in self.reg.refs(self.resource, ns):
                    if label_selector_matches(rs.get("spec", {}).get("selector"), labels):
                        self.queue.add(obj_key(rs))

    def initial_keys(self) -> list[str]:
        return [obj_key(o) for o in self.reg.refs(self.resource)]

    def _owned_pods(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        ns = owner["metadata"]["namespace"]
        uid = owner["metadata"]["uid"]
        reqs = selector_requirements(owner.get("spec", {}).get("selector"))

        def sel_ok(labels: dict[str, str]) -> bool:
            return reqs is not None and matches_labels(reqs, labels)

        out = []
        for p in self.reg.refs("pods", ns):
            ref = objects.controller_ref(p)
            labels = p["metadata"].get("labels") or {}
            if ref is not None:
                if ref.get("uid") != uid:
                    continue
                if not sel_ok(labels):
                    # release
                    self._patch_owner(p, remove_uid=uid)
                    continue
                out.append(p)
            elif (
                not owner["metadata"].get("deletionTimestamp")
                and not p["metadata"].get("deletionTimestamp")
                and sel_ok(labels)
                and objects.pod_active(p)
            ):
                # adopt
                adopted = self._patch_owner(p, add=objects.owner_reference(owner))
                if adopted is not None:
                    out.append(adopted)
        return out

    def _patch_owner(
        self, pod: dict[str, Any], add: dict[str, Any] | None = None, remove_uid: str = ""
    ) -> dict[str, Any] | None:
        refs = [r for r in pod["metadata"].get("ownerReferences") or [] if r.get("uid") != remove_uid]
        if add is not None:
            refs.append(add)
        try:
            return self.reg.patch(
                "pods",
                pod["metadata"]["namespace"],
                pod["metadata"]["name"],
                {
                    "metadata": {
                        "ownerReferences": refs or None,
                        "resourceVersion": pod["metadata"]["resourceVersion"],
                    }
                },
            )
        except errors.APIError:
            return None

    def sync(self, key: str) -> float | None:
        ns, name = split_key(key)
        rs = self.reg.try_get(self.resource, ns, name)
        if rs is None:
            return None
        pods = self._owned_pods(rs)
        active = [p for p in pods if objects.pod_active(p)]
        want = int(rs["spec"].get("replicas", 1))
        if not rs["metadata"].get("deletionTimestamp"):
            diff = len(active) - want
            if diff < 0:
                for _ in range(min(-diff, BURST)):
                    pod = pod_from_template(rs, rs["spec"].get("template") or {})
                    try:
                        created = self.reg.create("pods", ns, pod)
                    except errors.APIError as e:
                        self.reg.record_event(
                            rs, "Warning", "FailedCreate", f"Error creating: {e.message}", self.name
                        )
                        break
                    active.append(created)
                    self.reg.record_event(
                        rs,
                        "Normal",
                        "SuccessfulCreate",
                        f"Created pod: {created['metadata']['name']}",
                        self.name,
                    )
            elif diff > 0:
                victims = sorted(active, key=_rank)[:diff]
                for p in victims:
                    try:
                        self.reg.delete("pods", ns, p["metadata"]["name"])
                    except errors.APIError as e:
                        if e.code != 404:
                            raise
                    self.reg.record_event(
                        rs, "Normal", "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}", self.name
                    )
                    active.remove(p)
        return self._update_status(rs, ns, name, active)

    def _update_status(
        self, rs: dict[str, Any], ns: str | None, name: str, active: list[dict[str, Any]]
    ) -> float | None:
        now = self.clock.now()
        uid = rs["metadata"]["uid"]
        mrs = int(rs["spec"].get("minReadySeconds") or 0)
        tl = (((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}).items()
        pods_r = self.reg.info("pods")
        get_ref = self.reg.store.get_ref
        n = ready_n = avail_n = labeled = 0
        # re-read the pods this sync knows about: their latest state
        for p in active:
            cur = get_ref(pods_r.key(ns, p["metadata"]["name"]))
            if (
                cur is None
                or not objects.pod_active(cur)
                or (objects.controller_ref(cur) or {}).get("uid") != uid
            ):
                continue
            n += 1
            if objects.pod_ready(cur):
                ready_n += 1
                if objects.pod_available(cur, mrs, now):
                    avail_n += 1
            lb = cur["metadata"].get("labels") or {}
            if all(lb.get(k) == v for k, v in tl):
                labeled += 1
        status = dict(rs.get("status") or {})
        new = {
            "replicas": n,
            "fullyLabeledReplicas": labeled,
            "readyReplicas": ready_n,
            "availableReplicas": avail_n,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        for k in ("readyReplicas", "availableReplicas"):
            if not new[k]:
                new.pop(k)
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        if conds:
            new["conditions"] = conds
        if new != status:
            rs2 = dict(rs)
            rs2["status"] = new
            self.reg.update_status(self.resource, ns, name, rs2)
        if mrs and ready_n > avail_n:
            return float(mrs)
        return None
