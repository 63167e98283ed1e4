"""kube-state-metrics for Heron: object state as metrics, with KSM v2's names and labels.

Watches the API server (list/watch only) and renders ``/metrics`` on demand:
pods, containers, nodes, deployments, replicasets, statefulsets, daemonsets,
services, endpoints, namespaces, horizontalpodautoscalers (also under the
KSM v1 ``kube_hpa_*`` names), ingresses, configmaps, secrets (metadata only).
Object labels become ``label_<name>`` on ``kube_<kind>_labels``.

Run as a pod (built-in image ``heron/kube-state-metrics``) or standalone::

    python -m cluster.metrics.kube_state --host 127.0.0.1 --port 8080 [--apiserver URL --token T | --kubeconfig F]
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from ..kubelet.client import Informer, KubeClient
from ..kubelet.quantity import parse_quantity
from ._expo import CONTENT_TYPE, Exposition, sanitize_label_name

log = logging.getLogger(__name__)
Obj = dict[str, Any]

# (api version, resource)
RESOURCES: dict[str, tuple[str, str]] = {
    "pods": ("v1", "pods"),
    "nodes": ("v1", "nodes"),
    "namespaces": ("v1", "namespaces"),
    "services": ("v1", "services"),
    "endpoints": ("v1", "endpoints"),
    "configmaps": ("v1", "configmaps"),
    "secrets": ("v1", "secrets"),
    "deployments": ("apps/v1", "deployments"),
    "replicasets": ("apps/v1", "replicasets"),
    "statefulsets": ("apps/v1", "statefulsets"),
    "daemonsets": ("apps/v1", "daemonsets"),
    "horizontalpodautoscalers": ("autoscaling/v2", "horizontalpodautoscalers"),
    "ingresses": ("networking.k8s.io/v1", "ingresses"),
}


def ts(s: str | None) -> float | None:
    """RFC 3339 -> unix seconds."""
    if not s:
        return None
    try:
        base = s[:19]
        t = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
        return float(t)
    except ValueError:
        return None


def _unit(resource: str) -> str:
    if resource == "cpu":
        return "core"
    if resource in ("memory", "ephemeral-storage", "storage") or resource.startswith("hugepages-"):
        return "byte"
    return "integer"


def _res_name(resource: str) -> str:
    return sanitize_label_name(resource)


def _cond_series(status: str) -> Iterable[tuple[str, int]]:
    s = (status or "Unknown").lower()
    for v in ("true", "false", "unknown"):
        yield v, 1 if s == v else 0


class Builder:
    """Helper that keeps family metadata next to the samples."""

    def __init__(self) -> None:
        self.ex = Exposition()

    def g(
        self, name: str, help_text: str, labels: dict[str, str], value: float, mtype: str = "gauge"
    ) -> None:
        self.ex.add(name, mtype, help_text, labels, value)

    def labels(
        self, name: str, base: dict[str, str], obj_labels: dict[str, str] | None, prefix: str = "label_"
    ) -> None:
        lbl = dict(base)
        for k, v in sorted((obj_labels or {}).items()):
            lbl[prefix + sanitize_label_name(k)] = str(v)
        self.g(name, "Kubernetes labels converted to Prometheus labels.", lbl, 1)


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="OK")


class KubeStateMetrics:
    """Informers over the cluster's objects and a renderer for ``/metrics``."""

    def __init__(self, client: KubeClient, resources: Iterable[str] | None = None) -> None:
        self.client = client
        self.informers: dict[str, Informer] = {}
        for r in resources or RESOURCES:
            gv, res = RESOURCES[r]
            self.informers[r] = Informer(client, gv, res, name=f"ksm-{r}")
        self._runner: web.AppRunner | None = None

    async def start(self, timeout: float = 10.0) -> None:
        for inf in self.informers.values():
            inf.start()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(i.synced.wait() for i in self.informers.values())), timeout
            )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for inf in self.informers.values():
            await inf.stop()

    async def serve(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/healthz", _ok)
        app.router.add_get("/livez", _ok)
        app.router.add_get("/readyz", _ok)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port, reuse_address=True).start()

    async def handle_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    def _items(self, r: str) -> list[Obj]:
        inf = self.informers.get(r)
        if inf is None:
            return []
        return sorted(inf.items(), key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def render(self) -> str:
        b = Builder()
        gens: list[tuple[str, Callable[[Builder, Obj], None]]] = [
            ("configmaps", _configmap),
            ("daemonsets", _daemonset),
            ("deployments", _deployment),
            ("endpoints", _endpoint),
            ("horizontalpodautoscalers", _hpa),
            ("ingresses", _ingress),
            ("namespaces", _namespace),
            ("nodes", _node),
            ("pods", _pod),
            ("replicasets", _replicaset),
            ("secrets", _secret),
            ("services", _service),
            ("statefulsets", _statefulset),
        ]
        for r, fn in gens:
            for o in self._items(r):
                try:
                    fn(b, o)
                except (KeyError, TypeError, ValueError) as e:  # one odd object must not break the page
                    log.debug("kube-state: skipping %s %s: %s", r, o.get("metadata", {}).get("name"), e)
        return str(b.ex)


# -- per-kind generators ---------------------------------------------------------------


def _created(b: Builder, name: str, base: dict[str, str], md: Obj) -> None:
    t = ts(md.get("creationTimestamp"))
    if t is not None:
        b.g(name, "Unix creation timestamp", base, t)


def _owner(b: Builder, name: str, base: dict[str, str], md: Obj) -> None:
    owners = md.get("ownerReferences") or []
    if not owners:
        b.g(
            name,
            "Information about the owner.",
            {**base, "owner_kind": "<none>", "owner_name": "<none>", "owner_is_controller": "<none>"},
            1,
        )
    for o in owners:
        b.g(
            name,
            "Information about the owner.",
            {
                **base,
                "owner_kind": o.get("kind", ""),
                "owner_name": o.get("name", ""),
                "owner_is_controller": str(bool(o.get("controller"))).lower(),
            },
            1,
        )


def _pod(b: Builder, pod: Obj) -> None:
    md, spec, st = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    base = {"namespace": md.get("namespace", ""), "pod": md["name"], "uid": md.get("uid", "")}
    node = spec.get("nodeName", "")
    owners = md.get("ownerReferences") or []
    ctrl = next((o for o in owners if o.get("controller")), owners[0] if owners else {})
    b.g(
        "kube_pod_info",
        "[STABLE] Information about pod.",
        {
            **base,
            "host_ip": st.get("hostIP", ""),
            "pod_ip": st.get("podIP", ""),
            "node": node,
            "created_by_kind": ctrl.get("kind", "<none>"),
            "created_by_name": ctrl.get("name", "<none>"),
            "priority_class": spec.get("priorityClassName", ""),
            "host_network": str(bool(spec.get("hostNetwork"))).lower(),
        },
        1,
    )
    for ip in st.get("podIPs") or ([{"ip": st["podIP"]}] if st.get("podIP") else []):
        b.g(
            "kube_pod_ips",
            "Pod IP addresses",
            {**base, "ip": ip["ip"], "ip_family": "6" if ":" in ip["ip"] else "4"},
            1,
        )
    start = ts(st.get("startTime"))
    if start is not None:
        b.g("kube_pod_start_time", "[STABLE] Start time in unix timestamp for a pod.", base, start)
    _owner(b, "kube_pod_owner", base, md)
    b.labels("kube_pod_labels", base, md.get("labels"))
    _created(b, "kube_pod_created", base, md)
    dt = ts(md.get("deletionTimestamp"))
    if dt is not None:
        b.g("kube_pod_deletion_timestamp", "Unix deletion timestamp", base, dt)
    b.g(
        "kube_pod_restart_policy",
        "[STABLE] Describes the restart policy in use by this pod.",
        {**base, "type": spec.get("restartPolicy", "Always")},
        1,
    )
    phase = st.get("phase", "")
    if phase:
        for p in ("Pending", "Succeeded", "Failed", "Unknown", "Running"):
            b.g(
                "kube_pod_status_phase",
                "[STABLE] The pods current phase.",
                {**base, "phase": p},
                1 if p == phase else 0,
            )
    if st.get("reason"):
        for r in ("Evicted", "NodeAffinity", "NodeLost", "Shutdown", "UnexpectedAdmissionError"):
            b.g(
                "kube_pod_status_reason",
                "The pod status reasons",
                {**base, "reason": r},
                1 if st["reason"] == r else 0,
            )
    for c in st.get("conditions") or []:
        if c.get("type") == "Ready":
            for v, n in _cond_series(c.get("status", "")):
                b.g(
                    "kube_pod_status_ready",
                    "[STABLE] Describes whether the pod is ready to serve requests.",
                    {**base, "condition": v},
                    n,
                )
            if c.get("status") == "True" and ts(c.get("lastTransitionTime")):
                b.g(
                    "kube_pod_status_ready_time",
                    "Readiness achieved time in unix timestamp for a pod.",
                    base,
                    ts(c["lastTransitionTime"]) or 0,
                )
        elif c.get("type") == "PodScheduled":
            for v, n in _cond_series(c.get("status", "")):
                b.g(
                    "kube_pod_status_scheduled",
                    "[STABLE] Describes the status of the scheduling process for the pod.",
                    {**base, "condition": v},
                    n,
                )
            if c.get("status") == "True" and ts(c.get("lastTransitionTime")):
                b.g(
                    "kube_pod_status_scheduled_time",
                    "[STABLE] Unix timestamp when pod moved into scheduled status",
                    base,
                    ts(c["lastTransitionTime"]) or 0,
                )
            if c.get("status") == "False" and c.get("reason") == "Unschedulable":
                b.g(
                    "kube_pod_status_unschedulable",
                    "[STABLE] Describes the unschedulable status for the pod.",
                    base,
                    1,
                )
    if phase in ("Succeeded", "Failed"):
        ends = [
            ts(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
            for cs in st.get("containerStatuses") or []
        ]
        ends2 = [e for e in ends if e]
        if ends2:
            b.g(
                "kube_pod_completion_time",
                "[STABLE] Completion time in unix timestamp for a pod.",
                base,
                max(ends2),
            )
    _containers(
        b, "kube_pod_container", base, node, spec.get("containers") or [], st.get("containerStatuses") or []
    )
    if spec.get("initContainers"):
        _containers(
            b,
            "kube_pod_init_container",
            base,
            node,
            spec["initContainers"],
            st.get("initContainerStatuses") or [],
        )


def _containers(
    b: Builder, prefix: str, base: dict[str, str], node: str, specs: list[Obj], statuses: list[Obj]
) -> None:
    by_name = {s["name"]: s for s in statuses}
    for c in specs:
        cb = {**base, "container": c["name"]}
        s = by_name.get(c["name"])
        if s is not None:
            b.g(
                f"{prefix}_info",
                "[STABLE] Information about a container in a pod.",
                {
                    **cb,
                    "image_spec": c.get("image", ""),
                    "image": s.get("image", ""),
                    "image_id": s.get("imageID", ""),
                    "container_id": s.get("containerID", ""),
                },
                1,
            )
            state = s.get("state") or {}
            last = s.get("lastState") or {}
            waiting = state.get("waiting")
            b.g(
                f"{prefix}_status_waiting",
                "[STABLE] Describes whether the container is currently in waiting state.",
                cb,
                1 if waiting else 0,
            )
            if waiting and waiting.get("reason"):
                b.g(
                    f"{prefix}_status_waiting_reason",
                    "[STABLE] Describes the reason the container is currently in waiting state.",
                    {**cb, "reason": waiting["reason"]},
                    1,
                )
            b.g(
                f"{prefix}_status_running",
                "[STABLE] Describes whether the container is currently in running state.",
                cb,
                1 if "running" in state else 0,
            )
            if "running" in state and ts(state["running"].get("startedAt")):
                b.g(
                    f"{prefix}_state_started",
                    "[STABLE] Start time in unix timestamp for a pod container.",
                    cb,
                    ts(state["running"]["startedAt"]) or 0,
                )
            term = state.get("terminated")
            b.g(
                f"{prefix}_status_terminated",
                "[STABLE] Describes whether the container is currently in terminated state.",
                cb,
                1 if term else 0,
            )
            if term and term.get("reason"):
                b.g(
                    f"{prefix}_status_terminated_reason",
                    "Describes the reason the container is currently in terminated state.",
                    {**cb, "reason": term["reason"]},
                    1,
                )
            lt = last.get("terminated")
            if lt and lt.get("reason"):
                b.g(
                    f"{prefix}_status_last_terminated_reason",
                    "Describes the last reason the container was in terminated state.",
                    {**cb, "reason": lt["reason"]},
                    1,
                )
            if lt and lt.get("exitCode") is not None:
                b.g(
                    f"{prefix}_status_last_terminated_exitcode",
                    "Describes the exit code for the last container in terminated state.",
                    cb,
                    lt["exitCode"],
                )
                if ts(lt.get("finishedAt")):
                    b.g(
                        f"{prefix}_status_last_terminated_timestamp",
                        "Last terminated time for a pod container in unix timestamp.",
                        cb,
                        ts(lt["finishedAt"]) or 0,
                    )
            b.g(
                f"{prefix}_status_ready",
                "[STABLE] Describes whether the containers readiness check succeeded.",
                cb,
                1 if s.get("ready") else 0,
            )
            b.g(
                f"{prefix}_status_restarts_total",
                "[STABLE] The number of container restarts per container.",
                cb,
                s.get("restartCount", 0),
                mtype="counter",
            )
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r, q in sorted((res.get(kind) or {}).items()):
                try:
                    v = parse_quantity(q)
                except ValueError:
                    continue
                b.g(
                    f"{prefix}_resource_{kind}",
                    f"The number of {'requested request' if kind == 'requests' else 'requested limit'} resource by a container.",
                    {**cb, "node": node, "resource": _res_name(r), "unit": _unit(r)},
                    v,
                )


def _node(b: Builder, node: Obj) -> None:
    md, spec, st = node["metadata"], node.get("spec") or {}, node.get("status") or {}
    base = {"node": md["name"]}
    info = st.get("nodeInfo") or {}
    internal = next((a["address"] for a in st.get("addresses") or [] if a.get("type") == "InternalIP"), "")
    b.g(
        "kube_node_info",
        "[STABLE] Information about a cluster node.",
        {
            **base,
            "kernel_version": info.get("kernelVersion", ""),
            "os_image": info.get("osImage", ""),
            "container_runtime_version": info.get("containerRuntimeVersion", ""),
            "kubelet_version": info.get("kubeletVersion", ""),
            "kubeproxy_version": info.get("kubeProxyVersion", ""),
            "provider_id": spec.get("providerID", ""),
            "pod_cidr": spec.get("podCIDR", ""),
            "system_uuid": info.get("systemUUID", ""),
            "internal_ip": internal,
        },
        1,
    )
    _created(b, "kube_node_created", base, md)
    b.labels("kube_node_labels", base, md.get("labels"))
    for k in md.get("labels") or {}:
        if k.startswith("node-role.kubernetes.io/"):
            b.g("kube_node_role", "The role of a cluster node.", {**base, "role": k.split("/", 1)[1]}, 1)
    b.g(
        "kube_node_spec_unschedulable",
        "[STABLE] Whether a node can schedule new pods.",
        base,
        1 if spec.get("unschedulable") else 0,
    )
    for t in spec.get("taints") or []:
        b.g(
            "kube_node_spec_taint",
            "[STABLE] The taint of a cluster node.",
            {**base, "key": t.get("key", ""), "value": t.get("value", ""), "effect": t.get("effect", "")},
            1,
        )
    for c in st.get("conditions") or []:
        for v, n in _cond_series(c.get("status", "")):
            b.g(
                "kube_node_status_condition",
                "[STABLE] The condition of a cluster node.",
                {**base, "condition": c.get("type", ""), "status": v},
                n,
            )
    for kind, name in (
        ("capacity", "kube_node_status_capacity"),
        ("allocatable", "kube_node_status_allocatable"),
    ):
        for r, q in sorted((st.get(kind) or {}).items()):
            try:
                qv = parse_quantity(q)
            except ValueError:
                continue
            b.g(
                name,
                f"[STABLE] The {kind} for different resources of a node.",
                {**base, "resource": _res_name(r), "unit": _unit(r)},
                qv,
            )


def _replicas_common(b: Builder, kind: str, base: dict[str, str], md: Obj) -> None:
    _created(b, f"kube_{kind}_created", base, md)
    b.labels(f"kube_{kind}_labels", base, md.get("labels"))
    b.g(
        f"kube_{kind}_metadata_generation",
        "[STABLE] Sequence number representing a specific generation of the desired state.",
        base,
        md.get("generation", 0),
    )


def _deployment(b: Builder, d: Obj) -> None:
    md, spec, st = d["metadata"], d.get("spec") or {}, d.get("status") or {}
    base = {"namespace": md.get("namespace", ""), "deployment": md["name"]}
    _replicas_common(b, "deployment", base, md)
    b.g(
        "kube_deployment_spec_replicas",
        "[STABLE] Number of desired pods for a deployment.",
        base,
        spec.get("replicas", 1),
    )
    b.g(
        "kube_deployment_spec_paused",
        "[STABLE] Whether the deployment is paused and will not be processed by the deployment controller.",
        base,
        1 if spec.get("paused") else 0,
    )
    ru = (spec.get("strategy") or {}).get("rollingUpdate")
    if ru is not None:
        desired = spec.get("replicas", 1)
        for key, name, up in (("maxUnavailable", "max_unavailable", False), ("maxSurge", "max_surge", True)):
            v = ru.get(key, "25%")
            if isinstance(v, str) and v.endswith("%"):
                import math

                frac = float(v[:-1]) / 100 * desired
                n = math.ceil(frac) if up else math.floor(frac)
            else:
                n = int(v)
            b.g(
                f"kube_deployment_spec_strategy_rollingupdate_{name}",
                f"[STABLE] {key} of a deployment during a rolling update.",
                base,
                n,
            )
    b.g(
        "kube_deployment_status_replicas",
        "[STABLE] The number of replicas per deployment.",
        base,
        st.get("replicas", 0),
    )
    b.g(
        "kube_deployment_status_replicas_ready",
        "[STABLE] The number of ready replicas per deployment.",
        base,
        st.get("readyReplicas", 0),
    )
    b.g(
        "kube_deployment_status_replicas_available",
        "[STABLE] The number of available replicas per deployment.",
        base,
        st.get("availableReplicas", 0),
    )
    b.g(
        "kube_deployment_status_replicas_unavailable",
        "[STABLE] The number of unavailable replicas per deployment.",
        base,
        st.get("unavailableReplicas", 0),
    )
    b.g(
        "kube_deployment_status_replicas_updated",
        "[STABLE] The number of updated replicas per deployment.",
        base,
        st.get("updatedReplicas", 0),
    )
    b.g(
        "kube_deployment_status_observed_generation",
        "[STABLE] The generation observed by the deployment controller.",
        base,
        st.get("observedGeneration", 0),
    )
    for c in st.get("conditions") or []:
        for v, n in _cond_series(c.get("status", "")):
            b.g(
                "kube_deployment_status_condition",
                "[STABLE] The current status conditions of a deployment.",
                {**base, "condition": c.get("type", ""), "status": v},
                n,
            )


def _replicaset(b: Builder, rs: Obj) -> None:
    md, spec, st = rs["metadata"], rs.get("spec") or {}, rs.get("status") or {}
    base = {"namespace": md.get("namespace", ""), "replicaset": md["name"]}
    _replicas_common(b, "replicaset", base, md)
    _owner(b, "kube_replicaset_owner", base, md)
    b.g(
        "kube_replicaset_spec_replicas",
        "[STABLE] Number of desired pods for a ReplicaSet.",
        base,
        spec.get("replicas", 1),
    )
    b.g(
        "kube_replicaset_status_replicas",
        "[STABLE] The number of replicas per ReplicaSet.",
        base,
        st.get("replicas", 0),
    )
    b.g(
        "kube_replicaset_status_ready_replicas",
        "[STABLE] The number of ready replicas per ReplicaSet.",
        base,
        st.get("readyReplicas", 0),
    )
    b.g(
        "kube_replicaset_status_fully_labeled_replicas",
        "[STABLE] The number of fully labeled replicas per ReplicaSet.",
        base,
        st.get("fullyLabeledReplicas", 0),
    )
    b.g(
        "kube_replicaset_status_observed_generation",
        "[STABLE] The generation observed by the ReplicaSet controller.",
        base,
        st.get("observedGeneration", 0),
    )


def _statefulset(b: Builder, s: Obj) -> None:
    md, spec, st = s["metadata"], s.get("spec") or {}, s.get("status") or {}
    base = {"namespace": md.get("namespace", ""), "statefulset": md["name"]}
    _replicas_common(b, "statefulset", base, md)
    b.g(
        "kube_statefulset_replicas",
        "[STABLE] Number of desired pods for a StatefulSet.",
        base,
        spec.get("replicas", 1),
    )
    b.g(
        "kube_statefulset_status_replicas",
        "[STABLE] The number of replicas per StatefulSet.",
        base,
        st.get("replicas", 0),
    )
    b.g(
        "kube_statefulset_status_replicas_ready",
        "[STABLE] The number of ready replicas per StatefulSet.",
        base,
        st.get("readyReplicas", 0),
    )
    b.g(
        "kube_statefulset_status_replicas_current",
        "[STABLE] The number of current replicas per StatefulSet.",
        base,
        st.get("currentReplicas", 0),
    )
    b.g(
        "kube_statefulset_status_replicas_updated",
        "[STABLE] The number of updated replicas per StatefulSet.",
        base,
        st.get("updatedReplicas", 0),
    )
    b.g(
        "kube_statefulset_status_replicas_available",
        "The number of available replicas per StatefulSet.",
        base,
        st.get("availableReplicas", 0),
    )
    b.g(
        "kube_statefulset_status_observed_generation",
        "[STABLE] The generation observed by the StatefulSet controller.",
        base,
        st.get("observedGeneration", 0),
    )
    if st.get("currentRevision"):
        b.g(
            "kube_statefulset_status_current_revision",
            "[STABLE] Indicates the version of the StatefulSet used to generate Pods in the sequence [0,currentReplicas).",
            {**base, "revision": st["currentRevision"]},
            1,
        )
    if st.get("updateRevision"):
        b.g(
            "kube_statefulset_status_update_revision",
            "[STABLE] Indicates the version of the StatefulSet used to generate Pods in the sequence [replicas-updatedReplicas,replicas)",
            {**base, "revision": st["updateRevision"]},
            1,
        )


def _daemonset(b: Builder, d: Obj) -> None:
    md, st = d["metadata"], d.get("status") or {}
    base = {"namespace": md.get("namespace", ""), "daemonset": md["name"]}
    _replicas_common(b, "daemonset", base, md)
    for field, name in (
        ("currentNumberScheduled", "current_number_scheduled"),
        ("desiredNumberScheduled", "desired_number_scheduled"),
        ("numberAvailable", "number_available"),
        ("numberMisscheduled", "number_misscheduled"),
        ("numberReady", "number_ready"),
        ("numberUnavailable", "number_unavailable"),
        ("updatedNumberScheduled", "updated_number_scheduled"),
        ("observedGeneration", "observed_generation"),
    ):
        b.g(f"kube_daemonset_status_{name}", f"[STABLE] {field} of the DaemonSet.", base, st.get(field, 0))


def _service(b: Builder, s: Obj) -> None:
    md, spec, st = s["metadata"], s.get("spec") or {}, s.get("status") or {}
    base = {"namespace": md.get("namespace", ""), "service": md["name"], "uid": md.get("uid", "")}
    lb = ((st.get("loadBalancer") or {}).get("ingress") or [{}])[0].get("ip", "")
    b.g(
        "kube_service_info",
        "[STABLE] Information about service.",
        {
            **base,
            "cluster_ip": spec.get("clusterIP", ""),
            "external_name": spec.get("externalName", ""),
            "load_balancer_ip": spec.get("loadBalancerIP", lb),
        },
        1,
    )
    b.g(
        "kube_service_spec_type",
        "[STABLE] Type about service.",
        {**base, "type": spec.get("type", "ClusterIP")},
        1,
    )
    _created(b, "kube_service_created", base, md)
    b.labels("kube_service_labels", base, md.get("labels"))


def _endpoint(b: Builder, e: Obj) -> None:
    md = e["metadata"]
    base = {"namespace": md.get("namespace", ""), "endpoint": md["name"]}
    b.g("kube_endpoint_info", "[STABLE] Information about endpoint.", base, 1)
    _created(b, "kube_endpoint_created", base, md)
    b.labels("kube_endpoint_labels", base, md.get("labels"))
    avail = notready = 0
    for sub in e.get("subsets") or []:
        addrs = sub.get("addresses") or []
        nra = sub.get("notReadyAddresses") or []
        nports = max(len(sub.get("ports") or []), 1)
        avail += len(addrs) * nports
        notready += len(nra) * nports
        for a in addrs:
            b.g(
                "kube_endpoint_address",
                "Information about Endpoint available and non available addresses.",
                {**base, "ip": a["ip"], "ready": "true"},
                1,
            )
        for a in nra:
            b.g(
                "kube_endpoint_address",
                "Information about Endpoint available and non available addresses.",
                {**base, "ip": a["ip"], "ready": "false"},
                1,
            )
        for p in sub.get("ports") or []:
            b.g(
                "kube_endpoint_ports",
                "Information about the Endpoint ports.",
                {
                    **base,
                    "port_name": p.get("name", ""),
                    "port_protocol": p.get("protocol", "TCP"),
                    "port_number": str(p.get("port", "")),
                },
                1,
            )
    b.g("kube_endpoint_address_available", "Number of addresses available in endpoint.", base, avail)
    b.g("kube_endpoint_address_not_ready", "Number of addresses not ready in endpoint", base, notready)


def _namespace(b: Builder, n: Obj) -> None:
    md, st = n["metadata"], n.get("status") or {}
    base = {"namespace": md["name"]}
    _created(b, "kube_namespace_created", base, md)
    b.labels("kube_namespace_labels", base, md.get("labels"))
    phase = st.get("phase", "Active")
    for p in ("Active", "Terminating"):
        b.g(
            "kube_namespace_status_phase",
            "[STABLE] kubernetes namespace status phase.",
            {**base, "phase": p},
            1 if p == phase else 0,
        )


def _hpa(b: Builder, h: Obj) -> None:
    md, spec, st = h["metadata"], h.get("spec") or {}, h.get("status") or {}
    ns, name = md.get("namespace", ""), md["name"]
    base = {"namespace": ns, "horizontalpodautoscaler": name}
    old = {"namespace": ns, "hpa": name}
    ref = spec.get("scaleTargetRef") or {}
    b.g(
        "kube_horizontalpodautoscaler_info",
        "Information about this autoscaler.",
        {
            **base,
            "scaletargetref_api_version": ref.get("apiVersion", ""),
            "scaletargetref_kind": ref.get("kind", ""),
            "scaletargetref_name": ref.get("name", ""),
        },
        1,
    )
    b.labels("kube_horizontalpodautoscaler_labels", base, md.get("labels"))
    vals = {
        "metadata_generation": md.get("generation", 0),
        "spec_max_replicas": spec.get("maxReplicas", 0),
        "spec_min_replicas": spec.get("minReplicas", 1),
        "status_current_replicas": st.get("currentReplicas", 0),
        "status_desired_replicas": st.get("desiredReplicas", 0),
    }
    for k, v in vals.items():
        b.g(
            f"kube_horizontalpodautoscaler_{k}",
            f"[STABLE] {k.replace('_', ' ')} of this autoscaler.",
            base,
            v,
        )
        b.g(
            f"kube_hpa_{k}", f"{k.replace('_', ' ')} of this autoscaler (kube-state-metrics v1 name).", old, v
        )
    for m in spec.get("metrics") or []:
        mtype = m.get("type", "")
        body = (
            m.get(
                {
                    "Resource": "resource",
                    "Pods": "pods",
                    "Object": "object",
                    "External": "external",
                    "ContainerResource": "containerResource",
                }.get(mtype, ""),
                {},
            )
            or {}
        )
        mname = body.get("name") or (body.get("metric") or {}).get("name", "")
        target = body.get("target") or {}
        for tkey, ttype in (
            ("averageUtilization", "utilization"),
            ("averageValue", "average"),
            ("value", "value"),
        ):
            if tkey in target:
                try:
                    v = parse_quantity(target[tkey])
                except ValueError:
                    continue
                b.g(
                    "kube_horizontalpodautoscaler_spec_target_metric",
                    "The metric specifications used by this autoscaler when calculating the desired replica count.",
                    {**base, "metric_name": mname, "metric_target_type": ttype},
                    v,
                )
    for c in st.get("conditions") or []:
        for v, n in _cond_series(c.get("status", "")):
            b.g(
                "kube_horizontalpodautoscaler_status_condition",
                "The condition of this autoscaler.",
                {**base, "condition": c.get("type", ""), "status": v},
                n,
            )
            b.g(
                "kube_hpa_status_condition",
                "The condition of this autoscaler (kube-state-metrics v1 name).",
                {**old, "condition": c.get("type", ""), "status": v},
                n,
            )


def _ingress(b: Builder, i: Obj) -> None:
    md, spec = i["metadata"], i.get("spec") or {}
    base = {"namespace": md.get("namespace", ""), "ingress": md["name"]}
    b.g(
        "kube_ingress_info",
        "Information about ingress.",
        {**base, "ingressclass": spec.get("ingressClassName", "_default")},
        1,
    )
    _created(b, "kube_ingress_created", base, md)
    b.labels("kube_ingress_labels", base, md.get("labels"))
    b.g(
        "kube_ingress_metadata_resource_version",
        "Resource version representing a specific version of ingress.",
        base,
        float(md.get("resourceVersion", "0") or 0) if str(md.get("resourceVersion", "0")).isdigit() else 0,
    )
    for rule in spec.get("rules") or []:
        for p in (rule.get("http") or {}).get("paths") or []:
            svc = (p.get("backend") or {}).get("service") or {}
            port = svc.get("port") or {}
            b.g(
                "kube_ingress_path",
                "Ingress host, paths and backend service information.",
                {
                    **base,
                    "host": rule.get("host", ""),
                    "path": p.get("path", ""),
                    "service_name": svc.get("name", ""),
                    "service_port": str(port.get("number", port.get("name", ""))),
                },
                1,
            )


def _configmap(b: Builder, c: Obj) -> None:
    md = c["metadata"]
    base = {"namespace": md.get("namespace", ""), "configmap": md["name"]}
    b.g("kube_configmap_info", "[STABLE] Information about configmap.", base, 1)
    _created(b, "kube_configmap_created", base, md)
    rv = str(md.get("resourceVersion", ""))
    if rv.isdigit():
        b.g(
            "kube_configmap_metadata_resource_version",
            "Resource version representing a specific version of the configmap.",
            base,
            float(rv),
        )


def _secret(b: Builder, s: Obj) -> None:
    md = s["metadata"]
    base = {"namespace": md.get("namespace", ""), "secret": md["name"]}
    b.g("kube_secret_info", "[STABLE] Information about secret.", base, 1)
    b.g("kube_secret_type", "[STABLE] Type about secret.", {**base, "type": s.get("type", "Opaque")}, 1)
    _created(b, "kube_secret_created", base, md)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kube-state-metrics", description="Heron kube-state-metrics")
    p.add_argument("--host", default="::")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--apiserver")
    p.add_argument("--token")
    p.add_argument("--kubeconfig")
    p.add_argument("--resources", help="comma-separated resources to watch (default: all)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        client = KubeClient.from_args(a.apiserver, a.kubeconfig, a.token)
        ksm = KubeStateMetrics(client, a.resources.split(",") if a.resources else None)
        await ksm.start()
        await ksm.serve(a.host, a.port)
        log.info("kube-state-metrics serving on %s:%d", a.host, a.port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        await ksm.stop()
        await client.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
