"""StatefulSet controller: ordered, stable pod names ``<set>-0``, ``<set>-1``; rolling updates."""

from __future__ import annotations

import copy
import json
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.store import Event

from .base import Controller, obj_key, split_key
from .deployment import template_hash
from .replicaset import pod_from_template

REVISION_LABEL = "controller-revision-hash"


def ensure_revision(ctl: Controller, owner: dict[str, Any], template: dict[str, Any]) -> tuple[str, int]:
    """The ControllerRevision for ``owner``'s current template (created if new): (name, number)."""
    reg = ctl.reg
    ns = owner["metadata"]["namespace"]
    h = template_hash(template)
    name = f"{owner['metadata']['name']}-{h}"
    revs = [
        r
        for r in reg.refs("controllerrevisions.apps", ns)
        if (objects.controller_ref(r) or {}).get("uid") == owner["metadata"]["uid"]
    ]
    top = max((int(r.get("revision", 0)) for r in revs), default=0)
    cur = next((r for r in revs if r["metadata"]["name"] == name), None)
    if cur is not None:
        if int(cur.get("revision", 0)) < top:
            upd = json.loads(json.dumps(cur))
            upd["revision"] = top + 1
            reg.update("controllerrevisions.apps", ns, name, upd)
            return name, top + 1
        return name, int(cur.get("revision", 0))
    rev = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": dict(
                ((owner["spec"].get("selector") or {}).get("matchLabels") or {}), **{REVISION_LABEL: h}
            ),
            "ownerReferences": [objects.owner_reference(owner)],
        },
        "data": {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}},
        "revision": top + 1,
    }
    try:
        reg.create("controllerrevisions.apps", ns, rev)
    except errors.APIError as e:
        if e.code != 409:
            raise
    # history limit
    limit = int(owner["spec"].get("revisionHistoryLimit", 10))
    revs.sort(key=lambda r: int(r.get("revision", 0)))
    extra = len(revs) + 1 - max(limit, 1) - 1
    for r in revs[: max(0, extra)]:
        if r["metadata"]["name"] != name:
            try:
                reg.delete("controllerrevisions.apps", ns, r["metadata"]["name"])
            except errors.APIError:
                pass
    return name, top + 1


def _ordinal(pod: dict[str, Any], set_name: str) -> int:
    n = pod["metadata"]["name"]
    if not n.startswith(set_name + "-"):
        return -1
    try:
        return int(n[len(set_name) + 1 :])
    except ValueError:
        return -1


class StatefulSetController(Controller):
    """apps/v1 StatefulSet."""

    name = "statefulset-controller"
    watches = ("statefulsets.apps", "pods")

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == "StatefulSet":
            self.queue.add(obj_key(ev.obj))
            return
        for o in (ev.obj, ev.prev):
            if o is None:
                continue
            ref = objects.controller_ref(o)
            if ref is not None and ref.get("kind") == "StatefulSet":
                self.queue.add(f"{o['metadata']['namespace']}/{ref['name']}")

    def initial_keys(self) -> list[str]:
        return [obj_key(o) for o in self.reg.refs("statefulsets.apps")]

    def _new_pod(self, sts: dict[str, Any], i: int, rev: str) -> dict[str, Any]:
        name = f"{sts['metadata']['name']}-{i}"
        pod = pod_from_template(sts, sts["spec"]["template"], name=name)
        labels = pod["metadata"]["labels"]
        labels[REVISION_LABEL] = rev
        labels["statefulset.kubernetes.io/pod-name"] = name
        labels["apps.kubernetes.io/pod-index"] = str(i)
        pod["spec"]["hostname"] = name
        if sts["spec"].get("serviceName"):
            pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
        return pod

    def sync(self, key: str) -> float | None:
        ns, name = split_key(key)
        sts = self.reg.try_get("statefulsets.apps", ns, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return None
        spec = sts["spec"]
        replicas = int(spec.get("replicas", 1))
        parallel = spec.get("podManagementPolicy") == "Parallel"
        update_rev, update_num = ensure_revision(self, sts, spec["template"])
        uid = sts["metadata"]["uid"]
        pods = {
            _ordinal(p, name): p
            for p in self.reg.list_items("pods", ns)
            if (objects.controller_ref(p) or {}).get("uid") == uid and _ordinal(p, name) >= 0
        }
        now = self.clock.now()
        mrs = int(spec.get("minReadySeconds") or 0)
        requeue: float | None = None
        # failed pods are deleted to be recreated
        p: dict[str, Any] | None
        for i, p in list(pods.items()):
            assert p is not None
            if (p.get("status") or {}).get("phase") in ("Failed", "Succeeded") and not p["metadata"].get(
                "deletionTimestamp"
            ):
                self.reg.delete("pods", ns, p["metadata"]["name"])
                self.reg.record_event(
                    sts,
                    "Normal",
                    "SuccessfulDelete",
                    f"delete Pod {p['metadata']['name']} in StatefulSet {name} successful",
                    self.name,
                )
                pods[i] = self.reg.try_get("pods", ns, p["metadata"]["name"]) or {}
                if not pods[i]:
                    del pods[i]
        blocked = False
        # create missing pods in order
        for i in range(replicas):
            p = pods.get(i)
            if p is None:
                if blocked:
                    break
                try:
                    created = self.reg.create("pods", ns, self._new_pod(sts, i, update_rev))
                except errors.APIError as e:
                    if e.code == 409:
                        blocked = True
                        continue
                    self.reg.record_event(
                        sts,
                        "Warning",
                        "FailedCreate",
                        f"create Pod {name}-{i} in StatefulSet {name} failed error: {e.message}",
                        self.name,
                    )
                    break
                pods[i] = created
                self.reg.record_event(
                    sts,
                    "Normal",
                    "SuccessfulCreate",
                    f"create Pod {name}-{i} in StatefulSet {name} successful",
                    self.name,
                )
                if not parallel:
                    blocked = True
                continue
            if not parallel and (
                p["metadata"].get("deletionTimestamp") or not objects.pod_available(p, mrs, now)
            ):
                blocked = True
                if objects.pod_ready(p) and mrs:
                    requeue = float(mrs)
        # scale down from the highest ordinal
        extra = sorted((i for i in pods if i >= replicas), reverse=True)
        if extra:
            terminating = any(pods[i]["metadata"].get("deletionTimestamp") for i in extra)
            if parallel:
                victims = [i for i in extra if not pods[i]["metadata"].get("deletionTimestamp")]
            elif (
                terminating
                or any(not objects.pod_ready(pods[i]) for i in range(replicas) if i in pods)
                or len([i for i in range(replicas) if i in pods]) < replicas
            ):
                victims = []
            else:
                victims = extra[:1]
            for i in victims:
                self.reg.delete("pods", ns, pods[i]["metadata"]["name"])
                self.reg.record_event(
                    sts,
                    "Normal",
                    "SuccessfulDelete",
                    f"delete Pod {pods[i]['metadata']['name']} in StatefulSet {name} successful",
                    self.name,
                )
        # rolling update: highest ordinal first, one at a time, down to the partition
        us = spec.get("updateStrategy") or {}
        if us.get("type", "RollingUpdate") == "RollingUpdate" and not extra:
            partition = int((us.get("rollingUpdate") or {}).get("partition", 0))
            all_ready = all(
                i in pods and objects.pod_ready(pods[i]) and not pods[i]["metadata"].get("deletionTimestamp")
                for i in range(replicas)
            )
            if all_ready or parallel:
                for i in range(replicas - 1, partition - 1, -1):
                    p = pods.get(i)
                    if p is None:
                        continue
                    if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) != update_rev:
                        if not p["metadata"].get("deletionTimestamp"):
                            self.reg.delete("pods", ns, p["metadata"]["name"])
                            self.reg.record_event(
                                sts,
                                "Normal",
                                "SuccessfulDelete",
                                f"delete Pod {p['metadata']['name']} in StatefulSet {name} successful",
                                self.name,
                            )
                        break
        self._status(sts, ns, name, update_rev, update_num)
        return requeue

    def _status(
        self, sts: dict[str, Any], ns: str | None, name: str, update_rev: str, update_num: int
    ) -> None:
        uid = sts["metadata"]["uid"]
        pods = [
            p
            for p in self.reg.refs("pods", ns)
            if (objects.controller_ref(p) or {}).get("uid") == uid
            and not p["metadata"].get("deletionTimestamp")
        ]
        now = self.clock.now()
        mrs = int(sts["spec"].get("minReadySeconds") or 0)
        old = sts.get("status") or {}
        cur_rev = old.get("currentRevision") or update_rev
        updated = sum(
            1 for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == update_rev
        )
        current = sum(1 for p in pods if (p["metadata"].get("labels") or {}).get(REVISION_LABEL) == cur_rev)
        replicas = int(sts["spec"].get("replicas", 1))
        if updated == replicas == len(pods):
            cur_rev, current = update_rev, updated
        status: dict[str, Any] = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(pods),
            "readyReplicas": sum(1 for p in pods if objects.pod_ready(p)),
            "currentReplicas": current,
            "updatedReplicas": updated,
            "availableReplicas": sum(1 for p in pods if objects.pod_available(p, mrs, now)),
            "currentRevision": cur_rev,
            "updateRevision": update_rev,
            "collisionCount": int(old.get("collisionCount") or 0),
        }
        for k in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if not status[k]:
                status.pop(k)
        if status != old:
            s2 = copy.deepcopy(sts)
            s2["status"] = status
            self.reg.update_status("statefulsets.apps", ns, name, s2)
