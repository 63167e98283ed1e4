"""Deployment controller: rolling update / recreate over ReplicaSets, revisions, rollback, pause."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.apiserver.selectors import label_selector_matches
from cluster.store import Event

from .base import Controller, obj_key, split_key

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
_ALPHA = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict[str, Any], collision: int = 0) -> str:
    """A short stable hash of a pod template (the ``pod-template-hash`` label)."""
    t = copy.deepcopy(template)
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    h = int.from_bytes(
        hashlib.sha256((json.dumps(t, sort_keys=True) + str(collision)).encode()).digest()[:8], "big"
    )
    out = ""
    for _ in range(10):
        out += _ALPHA[h % len(_ALPHA)]
        h //= len(_ALPHA)
    return out


def _strip_hash(template: dict[str, Any]) -> dict[str, Any]:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    md = t.get("metadata")
    if md is not None:
        md.pop("creationTimestamp", None)
    return t


def resolve_int_or_percent(v: Any, total: int, round_up: bool) -> int:
    """``25%`` of total (rounded) or an int."""
    if v is None:
        return 0
    if isinstance(v, int):
        return v
    s = str(v)
    if s.endswith("%"):
        x = float(s[:-1]) * total / 100
        return int(math.ceil(x)) if round_up else int(math.floor(x))
    return int(s)


def max_surge_unavailable(d: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved for the desired replicas."""
    spec = d["spec"]
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        return 0, 0
    ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    replicas = int(spec.get("replicas", 1))
    surge = resolve_int_or_percent(ru.get("maxSurge", "25%"), replicas, True)
    unavail = resolve_int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavail == 0:
        unavail = 1
    return surge, min(unavail, replicas)


def revision_of(rs: dict[str, Any]) -> int:
    """The revision annotation of a ReplicaSet."""
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _replicas(rs: dict[str, Any]) -> int:
    return int(rs.get("spec", {}).get("replicas", 0))


def _avail(rs: dict[str, Any]) -> int:
    return int((rs.get("status") or {}).get("availableReplicas", 0))


class DeploymentController(Controller):
    """apps/v1 Deployment."""

    name = "deployment-controller"
    watches = ("deployments.apps", "replicasets.apps", "pods")
    resync = 30.0
    _created = ""

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == "Deployment":
            self.queue.add(obj_key(ev.obj))
            return
        if r.kind == "ReplicaSet":
            for o in (ev.obj, ev.prev):
                if o is None:
                    continue
                ref = objects.controller_ref(o)
                if ref is not None and ref.get("kind") == "Deployment":
                    self.queue.add(f"{o['metadata']['namespace']}/{ref['name']}")
                elif ref is None:
                    for d in self.reg.refs("deployments.apps", o["metadata"]["namespace"]):
                        if label_selector_matches(d["spec"].get("selector"), o["metadata"].get("labels")):
                            self.queue.add(obj_key(d))
            return
        # pods: only deletions matter (Recreate waits for old pods to go)
        if ev.type == "DELETED":
            ref = objects.controller_ref(ev.obj)
            if ref is not None and ref.get("kind") == "ReplicaSet":
                rs = self.reg.store.get_ref(
                    self.reg.info("replicasets.apps").key(ev.obj["metadata"]["namespace"], ref["name"])
                )
                if rs is not None:
                    dref = objects.controller_ref(rs)
                    if dref is not None and dref.get("kind") == "Deployment":
                        self.queue.add(f"{rs['metadata']['namespace']}/{dref['name']}")

    def initial_keys(self) -> list[str]:
        return [obj_key(o) for o in self.reg.refs("deployments.apps")]

    def _event(self, d: dict[str, Any], reason: str, msg: str, typ: str = "Normal") -> None:
        self.reg.record_event(d, typ, reason, msg, self.name)

    def _rss(self, d: dict[str, Any]) -> list[dict[str, Any]]:
        ns = d["metadata"]["namespace"]
        uid = d["metadata"]["uid"]
        sel = d["spec"].get("selector")
        out = []
        for rs in self.reg.list_items("replicasets.apps", ns):
            ref = objects.controller_ref(rs)
            labels = rs["metadata"].get("labels") or {}
            if ref is not None:
                if ref.get("uid") == uid:
                    out.append(rs)
            elif not d["metadata"].get("deletionTimestamp") and label_selector_matches(sel, labels):
                refs = list(rs["metadata"].get("ownerReferences") or []) + [objects.owner_reference(d)]
                try:
                    out.append(
                        self.reg.patch(
                            "replicasets.apps",
                            ns,
                            rs["metadata"]["name"],
                            {
                                "metadata": {
                                    "ownerReferences": refs,
                                    "resourceVersion": rs["metadata"]["resourceVersion"],
                                }
                            },
                        )
                    )
                except errors.APIError:
                    pass
        return out

    def _scale(self, d: dict[str, Any], rs: dict[str, Any], n: int) -> dict[str, Any]:
        old = _replicas(rs)
        surge, _ = max_surge_unavailable(d)
        ann = dict(rs["metadata"].get("annotations") or {})
        want_ann = dict(ann)
        want_ann[DESIRED] = str(d["spec"].get("replicas", 1))
        want_ann[MAX_REPLICAS] = str(int(d["spec"].get("replicas", 1)) + surge)
        if old == n and ann == want_ann:
            return rs
        rs = copy.deepcopy(rs)
        rs["spec"]["replicas"] = n
        rs["metadata"]["annotations"] = want_ann
        out = self.reg.update("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"], rs)
        if old != n:
            if n > old:
                self._event(
                    d,
                    "ScalingReplicaSet",
                    f"Scaled up replica set {rs['metadata']['name']} to {n} from {old}",
                )
            else:
                self._event(
                    d,
                    "ScalingReplicaSet",
                    f"Scaled down replica set {rs['metadata']['name']} to {n} from {old}",
                )
        return out

    def _new_rs(
        self, d: dict[str, Any], rss: list[dict[str, Any]], create: bool
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        tmpl = _strip_hash(d["spec"].get("template") or {})
        new = None
        for rs in sorted(rss, key=lambda x: x["metadata"].get("creationTimestamp", "")):
            if _strip_hash(rs["spec"].get("template") or {}) == tmpl:
                new = rs
                break
        olds = [rs for rs in rss if rs is not new]
        max_old = max((revision_of(rs) for rs in olds), default=0)
        ns = d["metadata"]["namespace"]
        dann = d["metadata"].get("annotations") or {}
        if new is not None:
            ann = dict(new["metadata"].get("annotations") or {})
            want = dict(ann)
            if revision_of(new) <= max_old:
                hist = [x for x in ann.get(REVISION_HISTORY, "").split(",") if x]
                if ann.get(REVISION):
                    hist.append(ann[REVISION])
                want[REVISION] = str(max_old + 1)
                want[REVISION_HISTORY] = ",".join(hist)
            if CHANGE_CAUSE in dann:
                want[CHANGE_CAUSE] = dann[CHANGE_CAUSE]
            if want != ann:
                new = copy.deepcopy(new)
                new["metadata"]["annotations"] = want
                new = self.reg.update("replicasets.apps", ns, new["metadata"]["name"], new)
            return new, olds
        if not create:
            return None, olds
        h = template_hash(d["spec"]["template"], int((d.get("status") or {}).get("collisionCount") or 0))
        t = copy.deepcopy(d["spec"]["template"])
        t.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        sel = copy.deepcopy(d["spec"]["selector"])
        sel.setdefault("matchLabels", {})[HASH_LABEL] = h
        surge, _ = max_surge_unavailable(d)
        replicas = int(d["spec"].get("replicas", 1))
        strategy = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            n = 0 if any(_replicas(o) or (o.get("status") or {}).get("replicas") for o in olds) else replicas
        else:
            total = sum(_replicas(o) for o in olds)
            n = max(0, min(replicas, replicas + surge - total)) if olds else replicas
        ann = {REVISION: str(max_old + 1), DESIRED: str(replicas), MAX_REPLICAS: str(replicas + surge)}
        if CHANGE_CAUSE in dann:
            ann[CHANGE_CAUSE] = dann[CHANGE_CAUSE]
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{d['metadata']['name']}-{h}",
                "namespace": ns,
                "labels": dict(t["metadata"]["labels"]),
                "annotations": ann,
                "ownerReferences": [objects.owner_reference(d)],
            },
            "spec": {
                "replicas": n,
                "minReadySeconds": int(d["spec"].get("minReadySeconds") or 0),
                "selector": sel,
                "template": t,
            },
        }
        try:
            created = self.reg.create("replicasets.apps", ns, rs)
        except errors.APIError as e:
            if e.code == 409:
                # hash collision with a foreign ReplicaSet: bump collisionCount
                d2 = copy.deepcopy(d)
                st = d2.setdefault("status", {})
                st["collisionCount"] = int(st.get("collisionCount") or 0) + 1
                self.reg.update_status("deployments.apps", ns, d["metadata"]["name"], d2)
            raise
        if n:
            self._event(d, "ScalingReplicaSet", f"Scaled up replica set {created['metadata']['name']} to {n}")
        self._created = created["metadata"]["name"]
        return created, olds

    def sync(self, key: str) -> float | None:
        ns, name = split_key(key)
        d = self.reg.try_get("deployments.apps", ns, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return None
        rss = self._rss(d)
        spec = d["spec"]
        replicas = int(spec.get("replicas", 1))
        paused = bool(spec.get("paused"))
        self._created = ""
        new, olds = self._new_rs(d, rss, create=not paused)
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        if paused:
            # only scaling while paused
            active = [rs for rs in ([new] if new else []) + olds if _replicas(rs) > 0]
            if len(active) == 1 and _replicas(active[0]) != replicas:
                self._scale(d, active[0], replicas)
            elif not active and new is not None:
                self._scale(d, new, replicas)
        elif strategy == "Recreate":
            self._recreate(d, new, olds, replicas)
        else:
            self._rolling(d, new, olds, replicas)
        self._cleanup(d, new, olds)
        return self._status(d, ns, name)

    def _recreate(
        self, d: dict[str, Any], new: dict[str, Any] | None, olds: list[dict[str, Any]], replicas: int
    ) -> None:
        for rs in olds:
            if _replicas(rs):
                self._scale(d, rs, 0)
        old_pods = [
            p
            for p in self.reg.refs("pods", d["metadata"]["namespace"])
            if (objects.controller_ref(p) or {}).get("uid") in {o["metadata"]["uid"] for o in olds}
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        if old_pods or new is None:
            return
        if _replicas(new) != replicas:
            self._scale(d, new, replicas)

    def _rolling(
        self, d: dict[str, Any], new: dict[str, Any] | None, olds: list[dict[str, Any]], replicas: int
    ) -> None:
        if new is None:
            return
        surge, unavail = max_surge_unavailable(d)
        all_rs = [new, *olds]
        active_olds = [o for o in olds if _replicas(o) > 0]
        # a scaling event while several ReplicaSets are active: scale proportionally
        if active_olds and _replicas(new) > 0:
            desired_ann = (new["metadata"].get("annotations") or {}).get(DESIRED)
            if desired_ann is not None and int(desired_ann) != replicas:
                self._proportional(d, [new, *active_olds], replicas, surge)
                return
        # scale up the new ReplicaSet
        total = sum(_replicas(rs) for rs in all_rs)
        if _replicas(new) > replicas:
            new = self._scale(d, new, replicas)
        elif _replicas(new) < replicas:
            max_total = replicas + surge
            if total < max_total:
                up = min(max_total - total, replicas - _replicas(new))
                new = self._scale(d, new, _replicas(new) + up)
        # scale down old ReplicaSets
        if not active_olds:
            return
        all_pods = sum(_replicas(rs) for rs in [new, *olds])
        min_available = replicas - unavail
        new_unavailable = _replicas(new) - _avail(new)
        max_down = all_pods - min_available - new_unavailable
        if max_down <= 0:
            return
        # first unhealthy replicas of old sets
        cleaned = 0
        for rs in sorted(active_olds, key=lambda x: x["metadata"].get("creationTimestamp", "")):
            if cleaned >= max_down:
                break
            unhealthy = _replicas(rs) - _avail(rs)
            if unhealthy <= 0:
                continue
            n = min(unhealthy, max_down - cleaned)
            self._scale(d, rs, _replicas(rs) - n)
            cleaned += n
        olds = [
            self.reg.get("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"])
            for rs in active_olds
        ]
        avail_all = _avail(new) + sum(_avail(o) for o in olds)
        down = min(avail_all - min_available, max_down - cleaned)
        for rs in sorted(olds, key=lambda x: x["metadata"].get("creationTimestamp", "")):
            if down <= 0:
                break
            n = min(_replicas(rs), down)
            if n > 0:
                self._scale(d, rs, _replicas(rs) - n)
                down -= n

    def _proportional(
        self, d: dict[str, Any], active: list[dict[str, Any]], replicas: int, surge: int
    ) -> None:
        cur_total = sum(_replicas(rs) for rs in active)
        allowed = replicas + surge
        delta = allowed - cur_total
        if delta == 0:
            for rs in active:
                self._scale(d, rs, _replicas(rs))  # refresh annotations
            return
        order = sorted(active, key=lambda x: -_replicas(x))
        sizes = {rs["metadata"]["name"]: _replicas(rs) for rs in active}
        left = delta
        for rs in order:
            share = int(round(delta * _replicas(rs) / cur_total)) if cur_total else 0
            if delta < 0:
                share = max(share, -sizes[rs["metadata"]["name"]])
            share = max(share, left) if delta < 0 else min(share, left)
            sizes[rs["metadata"]["name"]] += share
            left -= share
        if left:
            n0 = order[0]["metadata"]["name"]
            sizes[n0] = max(0, sizes[n0] + left)
        for rs in active:
            self._scale(d, rs, sizes[rs["metadata"]["name"]])

    def _cleanup(self, d: dict[str, Any], new: dict[str, Any] | None, olds: list[dict[str, Any]]) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        if limit is None:
            return
        dead = [
            o
            for o in olds
            if _replicas(o) == 0
            and not (o.get("status") or {}).get("replicas")
            and not o["metadata"].get("deletionTimestamp")
        ]
        dead.sort(key=revision_of)
        for o in dead[: max(0, len(dead) - int(limit))]:
            try:
                self.reg.delete("replicasets.apps", o["metadata"]["namespace"], o["metadata"]["name"])
            except errors.APIError:
                pass

    def _status(self, d: dict[str, Any], ns: str | None, name: str) -> float | None:
        rss = [
            rs
            for rs in self.reg.list_items("replicasets.apps", ns)
            if (objects.controller_ref(rs) or {}).get("uid") == d["metadata"]["uid"]
        ]
        tmpl = _strip_hash(d["spec"].get("template") or {})
        new = next((rs for rs in rss if _strip_hash(rs["spec"].get("template") or {}) == tmpl), None)
        replicas = int(d["spec"].get("replicas", 1))
        _, unavail = max_surge_unavailable(d)
        st = lambda rs, k: int((rs.get("status") or {}).get(k, 0))  # noqa: E731
        total = sum(st(rs, "replicas") for rs in rss)
        updated = st(new, "replicas") if new else 0
        ready = sum(st(rs, "readyReplicas") for rs in rss)
        available = sum(st(rs, "availableReplicas") for rs in rss)
        old = d.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(replicas - available, 0),
            "conditions": copy.deepcopy(old.get("conditions") or []),
        }
        if old.get("collisionCount"):
            status["collisionCount"] = old["collisionCount"]
        for k in ("updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas", "replicas"):
            if not status[k]:
                status.pop(k)
        now_s = self.reg.now()
        if available >= replicas - unavail:
            objects.set_condition(
                status,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now_s,
            )
        else:
            objects.set_condition(
                status,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now_s,
            )
        requeue: float | None = None
        rs_name = new["metadata"]["name"] if new else ""
        prog = objects.condition({"status": old}, "Progressing")
        deadline = d["spec"].get("progressDeadlineSeconds")
        complete = (
            new is not None
            and updated == replicas
            and available == replicas
            and total == replicas
            and st(new, "availableReplicas") == replicas
        )
        progressed = any(
            old.get(k, 0) != status.get(k, 0)
            for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
        )
        if d["spec"].get("paused"):
            objects.set_condition(
                status, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now_s
            )
        elif new is not None:
            if self._created == rs_name:
                objects.set_condition(
                    status,
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{rs_name}"',
                    now_s,
                )
                requeue = float(deadline) + 1 if deadline is not None else None
            elif complete:
                objects.set_condition(
                    status,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                    now_s,
                )
            elif (
                progressed
                or prog is None
                or prog.get("reason") in ("DeploymentPaused", "NewReplicaSetAvailable")
            ):
                objects.set_condition(
                    status,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    f'ReplicaSet "{rs_name}" is progressing.',
                    now_s,
                )
                c = objects.condition({"status": status}, "Progressing")
                if c is not None:
                    c["lastUpdateTime"] = now_s
                requeue = float(deadline) + 1 if deadline is not None else None
            elif prog.get("reason") != "ProgressDeadlineExceeded" and deadline is not None:
                last = objects.parse_time(prog.get("lastUpdateTime")) or self.clock.now()
                left = last + float(deadline) - self.clock.now()
                if left <= 0:
                    msg = f'ReplicaSet "{rs_name}" has timed out progressing.'
                    objects.set_condition(
                        status, "Progressing", "False", "ProgressDeadlineExceeded", msg, now_s
                    )
                    self._event(d, "ProgressDeadlineExceeded", msg, "Warning")
                else:
                    requeue = left + 0.5
        # order conditions like Kubernetes: Available, Progressing
        status["conditions"].sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(c.get("type"), 2))
        ann = dict(d["metadata"].get("annotations") or {})
        if new is not None and ann.get(REVISION) != str(revision_of(new)):
            ann[REVISION] = str(revision_of(new))
            d2 = copy.deepcopy(d)
            d2["metadata"]["annotations"] = ann
            d = self.reg.update("deployments.apps", ns, name, d2)
        if status != old:
            d2 = copy.deepcopy(d)
            d2["status"] = status
            self.reg.update_status("deployments.apps", ns, name, d2)
        return requeue
