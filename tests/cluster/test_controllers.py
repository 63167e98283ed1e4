"""Controllers on a fake clock: ReplicaSet, Deployment, StatefulSet, DaemonSet, Endpoints, node lifecycle, GC, HPA."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cluster import objects
from cluster.apiserver.registry import Registry
from cluster.controllers.clock import FakeClock
from cluster.controllers.hollow import HollowNode, hollow_node_factory
from cluster.controlplane import ControlPlane


@pytest.fixture
async def cp(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    c = ControlPlane(
        tmp_path / "cp",
        listen="127.0.0.1:0",
        clock=FakeClock(),
        tls=False,
        nodes=2,
        node_factory=hollow_node_factory,
    )
    await c.start()
    await c.settle()
    yield c
    await c.stop()


def template(app: str, image: str = "img:1", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": image}], **spec},
    }


def deployment(
    name: str, replicas: int = 3, image: str = "img:1", strategy: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template(name, image),
            **spec,
        },
    }
    if strategy:
        d["spec"]["strategy"] = strategy
    return d


def pods(reg: Registry, app: str, ns: str = "default") -> list[dict[str, Any]]:
    return reg.list_items("pods", ns, label_selector=f"app={app}")


def active(reg: Registry, app: str) -> list[dict[str, Any]]:
    return [p for p in pods(reg, app) if objects.pod_active(p)]


async def step(cp: ControlPlane, seconds: float) -> None:
    await cp.clock.step(seconds)  # type: ignore[attr-defined]
    await cp.settle()


def set_ready(reg: Registry, pod: dict[str, Any], ready: bool, ip: str = "") -> None:
    p = reg.get("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])
    now = reg.now()
    p["status"] = {
        "phase": "Running",
        "podIP": ip or p.get("status", {}).get("podIP") or "10.0.0.1",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now}],
        "containerStatuses": [
            {
                "name": "c",
                "ready": ready,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
                "image": "i",
                "imageID": "",
                "started": True,
            }
        ],
    }
    reg.update_status("pods", p["metadata"]["namespace"], p["metadata"]["name"], p)


async def test_replicaset_self_heals_and_scales(cp: ControlPlane) -> None:
    reg = cp.registry
    reg.create(
        "replicasets.apps",
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "rs"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "rs"}}, "template": template("rs")},
        },
    )
    await cp.settle()
    ps = active(reg, "rs")
    assert len(ps) == 3 and all(p["metadata"]["name"].startswith("rs-") for p in ps)
    assert all(objects.controller_ref(p)["kind"] == "ReplicaSet" for p in ps)
    rs = reg.get("replicasets.apps", "default", "rs")
    assert (
        rs["status"]["replicas"] == 3
        and rs["status"]["readyReplicas"] == 3
        and rs["status"]["availableReplicas"] == 3
    )
    reg.delete("pods", "default", ps[0]["metadata"]["name"], {"gracePeriodSeconds": 0})
    await cp.settle()
    now = active(reg, "rs")
    assert len(now) == 3 and ps[0]["metadata"]["name"] not in {p["metadata"]["name"] for p in now}
    reg.patch("replicasets.apps", "default", "rs", {"spec": {"replicas": 1}})
    await cp.settle()
    assert len(pods(reg, "rs")) == 1
    # an orphan pod matching the selector is adopted (and then one is surplus)
    reg.create(
        "pods",
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "stray", "labels": {"app": "rs"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        },
    )
    await cp.settle()
    assert len(active(reg, "rs")) == 1
    evs = [e["reason"] for e in reg.list_items("events", "default") if e["involvedObject"]["name"] == "rs"]
    assert "SuccessfulCreate" in evs and "SuccessfulDelete" in evs


async def test_rolling_update_respects_surge_and_unavailable(cp: ControlPlane) -> None:
    reg = cp.registry
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    reg.create("deployments.apps", "default", deployment("web", 4, strategy=strategy))
    await cp.settle()
    d = reg.get("deployments.apps", "default", "web")
    assert (
        d["status"]["availableReplicas"] == 4
        and d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    )
    reg.patch(
        "deployments.apps",
        "default",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "img:2"}]}}}},
        "application/strategic-merge-patch+json",
    )
    await cp.settle()
    d = reg.get("deployments.apps", "default", "web")
    assert d["status"]["updatedReplicas"] == 4 and d["status"]["availableReplicas"] == 4
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    images = {p["spec"]["containers"][0]["image"] for p in active(reg, "web")}
    assert images == {"img:2"}
    rss = reg.list_items("replicasets.apps", "default")
    assert sorted(rs["spec"]["replicas"] for rs in rss) == [0, 4]
    # surge 1 / unavailable 0: the new set grows one at a time, the old one shrinks behind it
    scaling = [
        e["message"] for e in reg.list_items("events", "default") if e["reason"] == "ScalingReplicaSet"
    ]
    new_rs = next(rs["metadata"]["name"] for rs in rss if rs["spec"]["replicas"] == 4)
    assert f"Scaled up replica set {new_rs} to 1" in scaling
    assert sum(1 for m in scaling if m.startswith(f"Scaled up replica set {new_rs}")) == 4


async def test_rollout_invariants_with_min_ready_seconds(cp: ControlPlane) -> None:
    """maxUnavailable=0, maxSurge=1: never fewer than N available, never more than N+1 pods."""
    reg = cp.registry
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    reg.create("deployments.apps", "default", deployment("mr", 3, strategy=strategy, minReadySeconds=10))
    await cp.settle()
    d = reg.get("deployments.apps", "default", "mr")
    assert d["status"].get("availableReplicas", 0) == 0  # ready, but not for 10s yet
    await step(cp, 11)
    d = reg.get("deployments.apps", "default", "mr")
    assert d["status"]["availableReplicas"] == 3
    reg.patch(
        "deployments.apps",
        "default",
        "mr",
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "img:2"}]}}}},
        "application/strategic-merge-patch+json",
    )
    await cp.settle()
    seen = []
    for _ in range(12):
        ps = active(reg, "mr")
        avail = [p for p in ps if objects.pod_available(p, 10, cp.clock.now())]
        seen.append((len(ps), len(avail)))
        assert len(ps) <= 4 and len(avail) >= 3, seen
        if {p["spec"]["containers"][0]["image"] for p in ps} == {"img:2"} and len(avail) == 3:
            break
        await step(cp, 11)
    d = reg.get("deployments.apps", "default", "mr")
    assert d["status"]["updatedReplicas"] == 3 and d["status"]["availableReplicas"] == 3
    assert any(
        c["type"] == "Progressing" and c["reason"] == "NewReplicaSetAvailable"
        for c in d["status"]["conditions"]
    )
    assert len(seen) >= 3  # it really went one pod at a time


async def test_recreate_and_progress_deadline(cp: ControlPlane) -> None:
    reg = cp.registry
    reg.create("deployments.apps", "default", deployment("rc", 2, strategy={"type": "Recreate"}))
    await cp.settle()
    reg.patch(
        "deployments.apps",
        "default",
        "rc",
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "img:2"}]}}}},
        "application/strategic-merge-patch+json",
    )
    await cp.settle()
    assert {p["spec"]["containers"][0]["image"] for p in active(reg, "rc")} == {"img:2"}
    msgs = [e["message"] for e in reg.list_items("events", "default") if e["reason"] == "ScalingReplicaSet"]
    down = next(i for i, m in enumerate(msgs) if "Scaled down" in m and "to 0" in m)
    up = max(i for i, m in enumerate(msgs) if "Scaled up" in m)
    assert down < up
    # an unschedulable rollout times out after progressDeadlineSeconds
    big = deployment("big", 1, progressDeadlineSeconds=30)
    big["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "64"}}
    reg.create("deployments.apps", "default", big)
    await cp.settle()
    await step(cp, 31)
    await step(cp, 1)
    d = reg.get("deployments.apps", "default", "big")
    prog = objects.condition(d, "Progressing")
    assert prog is not None and prog["status"] == "False" and prog["reason"] == "ProgressDeadlineExceeded"
    p = pods(reg, "big")[0]
    sched = objects.condition(p, "PodScheduled")
    assert sched["status"] == "False" and sched["reason"] == "Unschedulable"
    assert sched["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")
    ev = [e for e in reg.list_items("events", "default") if e["reason"] == "FailedScheduling"]
    assert ev and ev[0]["type"] == "Warning"


async def test_statefulset_ordered_names_and_scale_down(cp: ControlPlane) -> None:
    reg = cp.registry
    # nodes whose "kubelet" is the test: pods become ready only when we say so
    for h in cp.node_handles:
        await h.stop()
    for n in reg.list_items("nodes"):
        reg.delete("nodes", None, n["metadata"]["name"])
    reg.create(
        "nodes",
        None,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "manual"},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": reg.now()}],
                "allocatable": {"cpu": "8", "memory": "8Gi", "pods": "100"},
            },
        },
    )
    await cp.settle()
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": template("db"),
        },
    }
    reg.create("statefulsets.apps", "default", sts)
    await cp.settle()
    assert [p["metadata"]["name"] for p in pods(reg, "db")] == ["db-0"]
    p0 = pods(reg, "db")[0]
    assert (
        p0["spec"]["hostname"] == "db-0"
        and p0["spec"]["subdomain"] == "db"
        and p0["spec"]["nodeName"] == "manual"
    )
    assert p0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-0"
    set_ready(reg, p0, True)
    await cp.settle()
    assert [p["metadata"]["name"] for p in pods(reg, "db")] == ["db-0", "db-1"]
    set_ready(reg, pods(reg, "db")[1], True)
    await cp.settle()
    set_ready(reg, pods(reg, "db")[2], True)
    await cp.settle()
    s = reg.get("statefulsets.apps", "default", "db")
    assert (
        s["status"]["readyReplicas"] == 3 and s["status"]["currentRevision"] == s["status"]["updateRevision"]
    )
    revs = reg.list_items("controllerrevisions.apps", "default")
    assert len(revs) == 1 and revs[0]["revision"] == 1
    reg.patch("statefulsets.apps", "default", "db", {"spec": {"replicas": 1}})
    await cp.settle()
    # highest ordinal first, one at a time (pods on the manual node stay terminating until confirmed)
    terminating = [p["metadata"]["name"] for p in pods(reg, "db") if p["metadata"].get("deletionTimestamp")]
    assert terminating == ["db-2"]
    reg.delete("pods", "default", "db-2", {"gracePeriodSeconds": 0})
    await cp.settle()
    terminating = [p["metadata"]["name"] for p in pods(reg, "db") if p["metadata"].get("deletionTimestamp")]
    assert terminating == ["db-1"]
    reg.delete("pods", "default", "db-1", {"gracePeriodSeconds": 0})
    await cp.settle()
    assert [p["metadata"]["name"] for p in pods(reg, "db")] == ["db-0"]


async def test_daemonset_runs_one_pod_per_node(cp: ControlPlane) -> None:
    reg = cp.registry
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")},
    }
    reg.create("daemonsets.apps", "default", ds)
    await cp.settle()
    assert sorted(p["spec"]["nodeName"] for p in active(reg, "agent")) == ["node-1", "node-2"]
    h = HollowNode(reg, cp.clock, "node-3", index=3, labels={"disk": "ssd"})
    await h.start()
    cp.node_handles.append(h)
    await cp.settle()
    assert sorted(p["spec"]["nodeName"] for p in active(reg, "agent")) == ["node-1", "node-2", "node-3"]
    d = reg.get("daemonsets.apps", "default", "agent")
    assert d["status"]["desiredNumberScheduled"] == 3 and d["status"]["numberReady"] == 3
    # a node selector narrows it down
    reg.patch(
        "daemonsets.apps",
        "default",
        "agent",
        {"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}},
        "application/strategic-merge-patch+json",
    )
    await cp.settle()
    assert [p["spec"]["nodeName"] for p in active(reg, "agent")] == ["node-3"]


async def test_endpoints_and_slices_follow_readiness(cp: ControlPlane) -> None:
    reg = cp.registry
    reg.create("deployments.apps", "default", deployment("api", 2))
    reg.create(
        "services",
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api", "labels": {"team": "x"}},
            "spec": {"selector": {"app": "api"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
    )
    await cp.settle()
    ep = reg.get("endpoints", "default", "api")
    ips = sorted(a["ip"] for a in ep["subsets"][0]["addresses"])
    assert len(ips) == 2 and ep["subsets"][0]["ports"] == [{"port": 8080, "protocol": "TCP", "name": "http"}]
    assert ep["metadata"]["labels"]["team"] == "x"
    sl = reg.list_items(
        "endpointslices.discovery.k8s.io", "default", label_selector="kubernetes.io/service-name=api"
    )
    assert len(sl) == 1 and sl[0]["addressType"] == "IPv4" and len(sl[0]["endpoints"]) == 2
    assert sl[0]["metadata"]["ownerReferences"][0]["kind"] == "Service"
    victim = active(reg, "api")[0]
    set_ready(reg, victim, False)
    await cp.settle()
    ep = reg.get("endpoints", "default", "api")
    assert [a["ip"] for a in ep["subsets"][0]["notReadyAddresses"]] == [victim["status"]["podIP"]]
    assert len(ep["subsets"][0]["addresses"]) == 1
    sl = reg.list_items(
        "endpointslices.discovery.k8s.io", "default", label_selector="kubernetes.io/service-name=api"
    )[0]
    conds = {e["addresses"][0]: e["conditions"]["ready"] for e in sl["endpoints"]}
    assert conds[victim["status"]["podIP"]] is False
    reg.delete("services", "default", "api")
    await cp.settle()
    assert reg.try_get("endpoints", "default", "api") is None
    assert (
        reg.list_items(
            "endpointslices.discovery.k8s.io", "default", label_selector="kubernetes.io/service-name=api"
        )
        == []
    )


async def test_dead_node_is_marked_and_its_pods_move(cp: ControlPlane) -> None:
    reg = cp.registry
    reg.create("deployments.apps", "default", deployment("mv", 4))
    await cp.settle()
    on1 = [p["metadata"]["name"] for p in active(reg, "mv") if p["spec"]["nodeName"] == "node-1"]
    assert on1
    dead = cp.node_handles[0]
    assert dead.name == "node-1"
    await dead.stop()
    await step(cp, 30)
    assert objects.condition(reg.get("nodes", None, "node-1"), "Ready")["status"] == "True"
    await step(cp, 15)  # past the 40s grace period
    n1 = reg.get("nodes", None, "node-1")
    ready = objects.condition(n1, "Ready")
    assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown"
    assert {(t["key"], t["effect"]) for t in n1["spec"]["taints"]} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    assert "NotReady" not in str(objects.condition(reg.get("nodes", None, "node-2"), "Ready"))
    # pods on it are no longer ready; they are evicted after their toleration (300s by default)
    assert all(not objects.pod_ready(reg.get("pods", "default", n)) for n in on1)
    await step(cp, 301)
    await step(cp, 31)  # graceful deletion never confirmed by the dead kubelet: forced
    await step(cp, 1)
    left = {p["metadata"]["name"] for p in pods(reg, "mv")}
    assert not (left & set(on1))
    ps = active(reg, "mv")
    assert len(ps) == 4 and {p["spec"]["nodeName"] for p in ps} == {"node-2"}
    assert any(e["reason"] == "TaintManagerEviction" for e in reg.list_items("events", "default"))
    # the node comes back: taints go away
    await dead.start()
    await cp.settle()
    n1 = reg.get("nodes", None, "node-1")
    assert not n1["spec"].get("taints") and objects.condition(n1, "Ready")["status"] == "True"


async def test_garbage_collection_of_a_deployment(cp: ControlPlane) -> None:
    reg = cp.registry
    reg.create("deployments.apps", "default", deployment("gc", 2))
    await cp.settle()
    assert len(reg.list_items("replicasets.apps", "default")) == 1
    reg.delete("deployments.apps", "default", "gc")
    await cp.settle()
    assert reg.list_items("replicasets.apps", "default") == []
    assert [p for p in pods(reg, "gc") if not p["metadata"].get("deletionTimestamp")] == []
    # orphaning keeps the ReplicaSet and its pods
    reg.create("deployments.apps", "default", deployment("keep", 1))
    await cp.settle()
    reg.delete("deployments.apps", "default", "keep", {"propagationPolicy": "Orphan"})
    await cp.settle()
    rss = reg.list_items("replicasets.apps", "default")
    assert len(rss) == 1 and not rss[0]["metadata"].get("ownerReferences")
    assert len(active(reg, "keep")) == 1


async def test_hpa_scales_on_cpu_and_promql_with_stabilisation(tmp_path: Path) -> None:
    usage = {"cpu": 0.9, "expr": 10.0}

    async def query(expr: str) -> list[tuple[dict[str, str], float]]:
        if "container_cpu_usage_seconds_total" in expr:
            return [({"pod": p["metadata"]["name"]}, usage["cpu"]) for p in active(c.registry, "web")]
        return [({}, usage["expr"])]

    c = ControlPlane(
        tmp_path / "cp",
        listen="127.0.0.1:0",
        clock=FakeClock(),
        tls=False,
        nodes=2,
        node_factory=hollow_node_factory,
        hpa_query=query,
    )
    await c.start()
    try:
        reg = c.registry
        d = deployment("web", 2)
        d["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "500m"}}
        reg.create("deployments.apps", "default", d)
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 1,
                "maxReplicas": 10,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 60},
                        },
                    }
                ],
            },
        }
        reg.create("horizontalpodautoscalers.autoscaling", "default", hpa)
        await c.settle()
        await step(c, 15)  # the next HPA sync sees the running pods
        # 0.9 cores of 0.5 requested = 180% vs 60% -> 3x -> 6 replicas
        h = reg.get("horizontalpodautoscalers.autoscaling", "default", "web")
        assert h["status"]["desiredReplicas"] == 6, h["status"]
        assert h["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"] == 180
        await c.settle()
        assert reg.get("deployments.apps", "default", "web")["spec"]["replicas"] == 6
        ev = [e["message"] for e in reg.list_items("events", "default") if e["reason"] == "SuccessfulRescale"]
        assert ev == ["New size: 6; reason: cpu resource utilization (percentage of request) above target"]
        # load drops: the scale-down waits for the 300s stabilisation window
        usage["cpu"] = 0.15  # 30% -> half
        await step(c, 15)
        assert reg.get("deployments.apps", "default", "web")["spec"]["replicas"] == 6
        for _ in range(20):
            await step(c, 15)
        assert reg.get("deployments.apps", "default", "web")["spec"]["replicas"] == 3
        # a PromQL expression as an External metric
        reg.patch(
            "horizontalpodautoscalers.autoscaling",
            "default",
            "web",
            {
                "spec": {
                    "metrics": [
                        {
                            "type": "External",
                            "external": {
                                "metric": {"name": 'sum(rate(http_requests_total{job="web"}[1m]))'},
                                "target": {"type": "AverageValue", "averageValue": "2"},
                            },
                        }
                    ]
                }
            },
        )
        await c.settle()
        assert reg.get("deployments.apps", "default", "web")["spec"]["replicas"] == 5  # 10 req/s / 2 per pod
        h = reg.get("horizontalpodautoscalers.autoscaling", "default", "web")
        assert objects.condition(h, "ScalingActive")["status"] == "True"
        assert h["status"]["currentMetrics"][0]["type"] == "External"
    finally:
        await c.stop()


async def test_hpa_without_metrics_reports_condition(cp: ControlPlane) -> None:
    reg = cp.registry
    reg.create("deployments.apps", "default", deployment("nm", 1))
    reg.create(
        "horizontalpodautoscalers.autoscaling",
        "default",
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "nm"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nm"},
                "maxReplicas": 3,
            },
        },
    )
    await cp.settle()
    h = reg.get("horizontalpodautoscalers.autoscaling", "default", "nm")
    c = objects.condition(h, "ScalingActive")
    assert c["status"] == "False" and c["reason"] == "FailedGetResourceMetric"
    assert reg.get("deployments.apps", "default", "nm")["spec"]["replicas"] == 1
