"""The official ``kubernetes`` Python client: list + watch across a scale-up and a pod deletion.

Needs the ``kubernetes`` package (test extra).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cluster.controllers.hollow import hollow_node_factory
from cluster.controlplane import ControlPlane

kubernetes = pytest.importorskip("kubernetes")


@pytest.fixture
async def cp(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    c = ControlPlane(tmp_path / "cp", listen="127.0.0.1:0", nodes=2, node_factory=hollow_node_factory)
    await c.start()
    yield c
    await c.stop()


def _clients(cp: ControlPlane) -> tuple[Any, Any, Any]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(cp.kubeconfig_path))
    return api_client, client.CoreV1Api(api_client), client.AppsV1Api(api_client)


async def test_list_and_watch_pods_across_scale_up_and_deletion(cp: ControlPlane) -> None:
    from kubernetes import client, watch

    api_client, core, apps = _clients(cp)
    loop = asyncio.get_running_loop()
    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")]),
            ),
        ),
    )
    await loop.run_in_executor(None, lambda: apps.create_namespaced_deployment("default", dep))
    await cp.settle()
    pods = await loop.run_in_executor(
        None, lambda: core.list_namespaced_pod("default", label_selector="app=web")
    )
    assert len(pods.items) == 1 and pods.items[0].status.phase == "Running"
    assert pods.items[0].metadata.creation_timestamp is not None  # parsed as a datetime
    rv = pods.metadata.resource_version

    events: list[tuple[str, str, str]] = []
    done = threading.Event()
    w = watch.Watch()

    def consume() -> None:
        for ev in w.stream(
            core.list_namespaced_pod,
            "default",
            label_selector="app=web",
            resource_version=rv,
            timeout_seconds=20,
        ):
            obj = ev["object"]
            events.append((ev["type"], obj.metadata.name, obj.status.phase or ""))
            if done.is_set() and ev["type"] == "DELETED":
                break
        w.stop()

    t = loop.run_in_executor(None, consume)
    await asyncio.sleep(0.3)
    # scale up through the scale subresource
    await loop.run_in_executor(
        None, lambda: apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    )
    await cp.settle()
    pods = await loop.run_in_executor(
        None, lambda: core.list_namespaced_pod("default", label_selector="app=web")
    )
    assert len(pods.items) == 3
    victim = pods.items[0].metadata.name
    done.set()
    await loop.run_in_executor(None, lambda: core.delete_namespaced_pod(victim, "default"))
    await asyncio.wait_for(t, 20)
    await cp.settle()
    added = [e[1] for e in events if e[0] == "ADDED"]
    # two pods from the scale-up, then the replacement of the deleted one
    assert len(added) == 3 and added[2] != victim
    for name in added[:2]:
        seq = [e[0] for e in events if e[1] == name]
        assert seq[0] == "ADDED" and "MODIFIED" in seq
        assert any(e[2] == "Running" for e in events if e[1] == name)
    # the deleted pod: MODIFIED (graceful deletion started), then DELETED, last
    vidx = [i for i, e in enumerate(events) if e[1] == victim]
    assert [events[i][0] for i in vidx][-2:] == ["MODIFIED", "DELETED"] and vidx[-1] == len(events) - 1
    # the replacement appears after the deletion started
    assert events.index(next(e for e in events if e[1] == added[2])) > vidx[-2]
    # the ReplicaSet replaced it
    pods = await loop.run_in_executor(
        None, lambda: core.list_namespaced_pod("default", label_selector="app=web")
    )
    names = {p.metadata.name for p in pods.items}
    assert len(names) == 3 and victim not in names
    api_client.close()


async def test_client_reads_typed_objects_and_errors(cp: ControlPlane) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api_client, core, apps = _clients(cp)
    loop = asyncio.get_running_loop()
    nodes = await loop.run_in_executor(None, core.list_node)
    assert {n.metadata.name for n in nodes.items} == {"node-1", "node-2"}
    assert all(
        any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in nodes.items
    )
    ns = await loop.run_in_executor(None, lambda: core.read_namespace("default"))
    assert ns.status.phase == "Active"
    with pytest.raises(ApiException) as ei:
        await loop.run_in_executor(None, lambda: core.read_namespaced_pod("nope", "default"))
    assert ei.value.status == 404
    svc = client.V1Service(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1ServiceSpec(
            selector={"app": "web"}, ports=[client.V1ServicePort(port=80, target_port=8080)]
        ),
    )
    created = await loop.run_in_executor(None, lambda: core.create_namespaced_service("default", svc))
    assert created.spec.cluster_ip.startswith("127.96.")
    with pytest.raises(ApiException) as ei:
        await loop.run_in_executor(None, lambda: core.create_namespaced_service("default", svc))
    assert ei.value.status == 409
    version = await loop.run_in_executor(None, lambda: client.VersionApi(api_client).get_code())
    assert version.major == "1" and version.minor == "32"
    api_client.close()
