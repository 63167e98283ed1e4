"""The scheduler: readiness, taints/tolerations, selectors, affinity, resources, spreading, retries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cluster import objects
from cluster.apiserver.registry import Registry
from cluster.controllers.clock import FakeClock
from cluster.controlplane import ControlPlane


@pytest.fixture
async def cp(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    c = ControlPlane(tmp_path / "cp", listen="127.0.0.1:0", clock=FakeClock(), tls=False)
    await c.start()
    yield c
    await c.stop()


def node(
    reg: Registry,
    name: str,
    *,
    cpu: str = "2",
    memory: str = "4Gi",
    ready: bool = True,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, Any]] | None = None,
) -> None:
    reg.create(
        "nodes",
        None,
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints} if taints else {},
            "status": {
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
                "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False", "lastHeartbeatTime": reg.now()}
                ],
            },
        },
    )


def pod(reg: Registry, name: str, cpu: str | None = None, **spec: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "i"}
    if cpu:
        c["resources"] = {"requests": {"cpu": cpu, "memory": "100Mi"}}
    return reg.create(
        "pods",
        "default",
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [c], **spec}},
    )


def where(reg: Registry, name: str) -> str | None:
    return reg.get("pods", "default", name)["spec"].get("nodeName")


async def test_filters_and_binding(cp: ControlPlane) -> None:
    reg = cp.registry
    node(reg, "a", labels={"disk": "ssd"})
    node(reg, "b", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    node(reg, "down", ready=False)
    pod(reg, "sel", nodeSelector={"disk": "ssd"})
    pod(
        reg,
        "tol",
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
        nodeSelector={"kubernetes.io/hostname": "b"},
    )
    pod(
        reg,
        "aff",
        affinity={
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]}]
                }
            }
        },
    )
    await cp.settle()
    assert where(reg, "sel") == "a"
    assert where(reg, "tol") == "b"
    assert where(reg, "aff") is None  # b is tainted, "down" is not ready
    p = reg.get("pods", "default", "aff")
    cond = objects.condition(p, "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"] == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    sched = objects.condition(reg.get("pods", "default", "sel"), "PodScheduled")
    assert sched["status"] == "True"
    evs = {e["involvedObject"]["name"]: e for e in reg.list_items("events", "default")}
    assert (
        evs["sel"]["reason"] == "Scheduled"
        and evs["sel"]["message"] == "Successfully assigned default/sel to a"
    )
    assert (
        evs["aff"]["reason"] == "FailedScheduling"
        and evs["aff"]["source"]["component"] == "default-scheduler"
    )
    # the pending pod is retried when a fitting node appears
    node(reg, "c")
    await cp.settle()
    assert where(reg, "aff") == "c"


async def test_resources_least_requested_and_spreading(cp: ControlPlane) -> None:
    reg = cp.registry
    node(reg, "small", cpu="1")
    node(reg, "big", cpu="4")
    pod(reg, "p1", cpu="500m")
    await cp.settle()
    assert where(reg, "p1") == "big"  # least requested
    pod(reg, "huge", cpu="3900m")
    await cp.settle()
    assert where(reg, "huge") is None
    msg = objects.condition(reg.get("pods", "default", "huge"), "PodScheduled")["message"]
    assert msg.startswith("0/2 nodes are available: 2 Insufficient cpu.")
    # freeing capacity lets it in
    reg.delete("pods", "default", "p1", {"gracePeriodSeconds": 0})
    await cp.settle()
    assert where(reg, "huge") == "big"
    # replicas of one ReplicaSet spread over nodes
    node(reg, "n3", cpu="4")
    node(reg, "n4", cpu="4")
    reg.create(
        "replicasets.apps",
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "spread"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "s"}},
                "template": {
                    "metadata": {"labels": {"app": "s"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        },
    )
    await cp.settle()
    placed = [p["spec"]["nodeName"] for p in reg.list_items("pods", "default", label_selector="app=s")]
    assert len(set(placed)) == 3


async def test_cordoned_nodes_and_other_schedulers(cp: ControlPlane) -> None:
    reg = cp.registry
    node(reg, "a")
    reg.patch("nodes", None, "a", {"spec": {"unschedulable": True}})
    pod(reg, "x")
    pod(reg, "mine", schedulerName="my-scheduler")
    await cp.settle()
    assert where(reg, "x") is None
    assert (
        "1 node(s) were unschedulable"
        in objects.condition(reg.get("pods", "default", "x"), "PodScheduled")["message"]
    )
    assert objects.condition(reg.get("pods", "default", "mine"), "PodScheduled") is None
    reg.patch("nodes", None, "a", {"spec": {"unschedulable": None}})
    await cp.settle()
    assert where(reg, "x") == "a" and where(reg, "mine") is None
