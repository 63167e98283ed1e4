"""kube-state-metrics, cAdvisor and node_exporter equivalents: names, labels, values."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from cluster.kubelet import KubeClient, Kubelet
from cluster.metrics import KubeStateMetrics
from cluster.metrics.node_exporter import NodeExporter, NodeModel, render
from tests.cluster.test_nodes_fakeapi import FakeAPI, free_port, loopback_base, pids_alive, wait_for
from tests.conftest import require_peer

Sample = tuple[str, dict[str, str], float]


def parse(text: str) -> list[Sample]:
    """Every sample of an exposition (also proves the text parses)."""
    return [
        (s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples
    ]


def find(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [s for s in samples if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    got = find(samples, name, **labels)
    assert len(got) == 1, (name, labels, got)
    return got[0][2]


POD: dict[str, Any] = {
    "metadata": {
        "name": "web-1",
        "namespace": "shop",
        "uid": "uid-1",
        "labels": {"app": "web", "app.kubernetes.io/name": "web"},
        "creationTimestamp": "2024-01-02T03:04:05Z",
        "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc", "controller": True}],
    },
    "spec": {
        "nodeName": "node-1",
        "restartPolicy": "Always",
        "containers": [
            {
                "name": "app",
                "image": "heron/shop-frontend:latest",
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            },
            {"name": "side", "image": "busybox"},
        ],
    },
    "status": {
        "phase": "Running",
        "hostIP": "127.10.1.1",
        "podIP": "127.10.1.7",
        "podIPs": [{"ip": "127.10.1.7"}],
        "startTime": "2024-01-02T03:04:06Z",
        "conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": "2024-01-02T03:04:09Z"},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-01-02T03:04:05Z"},
        ],
        "containerStatuses": [
            {
                "name": "app",
                "ready": True,
                "restartCount": 0,
                "image": "heron/shop-frontend:latest",
                "imageID": "x",
                "containerID": "heron://a",
                "state": {"running": {"startedAt": "2024-01-02T03:04:08Z"}},
                "lastState": {},
            },
            {
                "name": "side",
                "ready": False,
                "restartCount": 4,
                "image": "busybox",
                "imageID": "y",
                "containerID": "heron://b",
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {
                    "terminated": {"exitCode": 2, "reason": "Error", "finishedAt": "2024-01-02T03:05:00Z"}
                },
            },
        ],
    },
}


async def test_kube_state_metrics_names_labels_values() -> None:
    api = FakeAPI()
    await api.start()
    client = KubeClient(api.url)
    api.put("v1", "pods", POD)
    api.put(
        "v1",
        "nodes",
        {
            "metadata": {
                "name": "node-1",
                "labels": {"kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/worker": ""},
            },
            "spec": {
                "podCIDR": "127.10.1.0/24",
                "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
            },
            "status": {
                "capacity": {"cpu": "4", "memory": "8388608Ki", "pods": "110", "ephemeral-storage": "20Gi"},
                "allocatable": {"cpu": "3500m", "memory": "8Gi", "pods": "110"},
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "MemoryPressure", "status": "False"},
                ],
                "addresses": [{"type": "InternalIP", "address": "127.10.1.1"}],
                "nodeInfo": {"kubeletVersion": "v1.32.0-heron", "kernelVersion": "6.1"},
            },
        },
    )
    api.put(
        "apps/v1",
        "deployments",
        {
            "metadata": {"name": "web", "namespace": "shop", "generation": 3},
            "spec": {
                "replicas": 3,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                },
            },
            "status": {
                "replicas": 3,
                "availableReplicas": 2,
                "unavailableReplicas": 1,
                "updatedReplicas": 3,
                "readyReplicas": 2,
                "observedGeneration": 3,
                "conditions": [{"type": "Available", "status": "False"}],
            },
        },
    )
    api.put(
        "autoscaling/v2",
        "horizontalpodautoscalers",
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2,
                "maxReplicas": 6,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": 70},
                        },
                    }
                ],
            },
            "status": {
                "currentReplicas": 3,
                "desiredReplicas": 4,
                "conditions": [{"type": "AbleToScale", "status": "True"}],
            },
        },
    )
    api.put(
        "v1",
        "services",
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"type": "NodePort", "clusterIP": "127.96.0.9", "ports": [{"port": 80}]},
        },
    )
    api.put("v1", "namespaces", {"metadata": {"name": "shop"}, "status": {"phase": "Active"}})
    ksm = KubeStateMetrics(client)
    await ksm.start(5)
    port = free_port()
    await ksm.serve("127.0.0.1", port)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                m = parse(await r.text())
        pod = {"namespace": "shop", "pod": "web-1", "uid": "uid-1"}
        info = find(m, "kube_pod_info", **pod)[0][1]
        assert info == {
            **pod,
            "host_ip": "127.10.1.1",
            "pod_ip": "127.10.1.7",
            "node": "node-1",
            "created_by_kind": "ReplicaSet",
            "created_by_name": "web-abc",
            "priority_class": "",
            "host_network": "false",
        }
        assert value(m, "kube_pod_status_phase", phase="Running", **pod) == 1
        assert value(m, "kube_pod_status_phase", phase="Pending", **pod) == 0
        assert value(m, "kube_pod_status_ready", condition="false", **pod) == 1
        assert value(m, "kube_pod_status_ready", condition="true", **pod) == 0
        assert value(m, "kube_pod_status_scheduled", condition="true", **pod) == 1
        assert value(m, "kube_pod_container_status_restarts_total", container="side", **pod) == 4
        assert (
            value(
                m,
                "kube_pod_container_status_waiting_reason",
                container="side",
                reason="CrashLoopBackOff",
                **pod,
            )
            == 1
        )
        assert not find(m, "kube_pod_container_status_waiting_reason", container="app")
        assert (
            value(
                m, "kube_pod_container_status_last_terminated_reason", container="side", reason="Error", **pod
            )
            == 1
        )
        assert value(m, "kube_pod_container_status_running", container="app", **pod) == 1
        assert value(m, "kube_pod_container_status_ready", container="side", **pod) == 0
        assert (
            value(
                m,
                "kube_pod_container_resource_requests",
                container="app",
                resource="cpu",
                unit="core",
                node="node-1",
                **pod,
            )
            == 0.25
        )
        assert (
            value(
                m,
                "kube_pod_container_resource_limits",
                container="app",
                resource="memory",
                unit="byte",
                **pod,
            )
            == 128 * 2**20
        )
        assert (
            value(
                m,
                "kube_pod_owner",
                owner_kind="ReplicaSet",
                owner_name="web-abc",
                owner_is_controller="true",
                **pod,
            )
            == 1
        )
        assert value(m, "kube_pod_labels", label_app="web", label_app_kubernetes_io_name="web", **pod) == 1
        assert value(m, "kube_pod_created", **pod) == 1704164645
        assert value(m, "kube_node_status_condition", node="node-1", condition="Ready", status="true") == 1
        assert value(m, "kube_node_status_condition", node="node-1", condition="Ready", status="unknown") == 0
        assert (
            value(m, "kube_node_status_capacity", node="node-1", resource="memory", unit="byte") == 8 * 2**30
        )
        assert value(m, "kube_node_status_allocatable", node="node-1", resource="cpu", unit="core") == 3.5
        assert (
            value(m, "kube_node_status_capacity", node="node-1", resource="ephemeral_storage", unit="byte")
            == 20 * 2**30
        )
        assert value(m, "kube_node_spec_taint", node="node-1", key="k", value="v", effect="NoSchedule") == 1
        assert value(m, "kube_node_role", node="node-1", role="worker") == 1
        assert find(
            m, "kube_node_info", node="node-1", kubelet_version="v1.32.0-heron", internal_ip="127.10.1.1"
        )
        dep = {"namespace": "shop", "deployment": "web"}
        assert value(m, "kube_deployment_spec_replicas", **dep) == 3
        assert value(m, "kube_deployment_status_replicas_available", **dep) == 2
        assert value(m, "kube_deployment_status_replicas_unavailable", **dep) == 1
        assert value(m, "kube_deployment_metadata_generation", **dep) == 3
        assert value(m, "kube_deployment_spec_strategy_rollingupdate_max_surge", **dep) == 1
        assert value(m, "kube_deployment_status_condition", condition="Available", status="false", **dep) == 1
        hpa = {"namespace": "shop", "horizontalpodautoscaler": "web"}
        assert value(m, "kube_horizontalpodautoscaler_spec_max_replicas", **hpa) == 6
        assert value(m, "kube_horizontalpodautoscaler_status_desired_replicas", **hpa) == 4
        assert (
            value(
                m,
                "kube_horizontalpodautoscaler_spec_target_metric",
                metric_name="cpu",
                metric_target_type="utilization",
                **hpa,
            )
            == 70
        )
        assert value(m, "kube_hpa_spec_min_replicas", namespace="shop", hpa="web") == 2
        assert value(m, "kube_service_spec_type", namespace="shop", service="web", type="NodePort") == 1
        assert find(m, "kube_service_info", cluster_ip="127.96.0.9")
        assert value(m, "kube_namespace_status_phase", namespace="shop", phase="Active") == 1
        # objects come and go with the watch
        api.remove("v1", "pods", "shop", "web-1")
        await wait_for(lambda: "web-1" not in ksm.render(), 5, what="pod gone from metrics")
    finally:
        await ksm.stop()
        await client.close()
        await api.stop()


def _summary(cpu_user: float, cpu_total: float, mem: int) -> dict[str, Any]:
    return {
        "node": {
            "nodeName": "node-7",
            "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 100)),
            "cpu": {"usageCoreNanoSeconds": int(cpu_total * 1e9), "userCoreNanoSeconds": int(cpu_user * 1e9)},
            "memory": {"workingSetBytes": mem, "availableBytes": 2**30 - mem},
            "heron": {"cpuCapacity": 2, "memoryCapacity": 2**30},
        },
        "pods": [],
    }


def test_node_exporter_model() -> None:
    model = NodeModel()
    now = time.time()
    m1 = parse(render(_summary(10, 14, 2**28), model, now=now))
    assert value(m1, "node_memory_MemTotal_bytes") == 2**30
    assert value(m1, "node_memory_MemAvailable_bytes") == 2**30 - 2**28
    assert value(m1, "node_cpu_seconds_total", cpu="1", mode="user") == 5
    assert value(m1, "node_cpu_seconds_total", cpu="0", mode="system") == 2
    idle0 = value(m1, "node_cpu_seconds_total", cpu="0", mode="idle")
    assert 92 <= idle0 <= 94  # 100 s of uptime minus 7 s busy per cpu
    assert find(m1, "node_uname_info", nodename="node-7")
    m2 = parse(render(_summary(70, 74, 2**28), model, now=now + 60))  # 1 core busy for 60 s
    assert value(m2, "node_cpu_seconds_total", cpu="0", mode="idle") >= idle0  # counters never go back
    assert 0.5 < value(m2, "node_load1") < 1.0 and value(m2, "node_load15") < value(m2, "node_load1")


def test_node_exporter_names_match_real_node_exporter(tmp_path: Path) -> None:
    exe = require_peer("prometheus-node-exporter")
    port = free_port()
    proc = subprocess.Popen(
        [exe, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        import urllib.request

        deadline = time.time() + 10
        while True:
            try:
                real = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(5)
    real_s = parse(real)
    ours_s = parse(render(_summary(1, 2, 2**20), NodeModel()))
    real_names = {n for n, _, _ in real_s}
    ours_names = {n for n, _, _ in ours_s}
    assert ours_names - real_names == set(), "metric names real node_exporter does not have"
    real_labels: dict[str, set[str]] = {}
    for n, lbl, _ in real_s:
        real_labels.setdefault(n, set()).update(lbl)
    for n, lbl, _ in ours_s:
        if n in ("node_os_info", "node_exporter_build_info", "node_scrape_collector_success"):
            continue
        assert set(lbl) <= real_labels[n], (n, set(lbl), real_labels[n])
    for must in (
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_load1",
        "node_filesystem_avail_bytes",
        "node_network_receive_bytes_total",
    ):
        assert must in ours_names


async def test_cadvisor_and_node_exporter_from_real_processes(tmp_path: Path) -> None:
    api = FakeAPI()
    await api.start()
    client = KubeClient(api.url)
    base = loopback_base()
    k = Kubelet(
        client,
        "n1",
        tmp_path / "n1",
        node_ip=f"{base}.1.1",
        pod_prefix=f"{base}.1",
        heartbeat=5,
        capacity={"cpu": "2", "memory": "4Gi"},
    )
    await k.start()
    ne = NodeExporter(f"http://{base}.1.1:10250")
    ne_port = free_port()
    await ne.serve(f"127.0.0.1:{ne_port}")
    burn = "import time\nx = bytearray(80 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\nwhile True: pass"
    api.put(
        "v1",
        "pods",
        {
            "metadata": {"name": "burner", "namespace": "default"},
            "spec": {
                "nodeName": "n1",
                "containers": [
                    {
                        "name": "burn",
                        "image": "python:3.11",
                        "command": ["python3", "-c", burn],
                        "resources": {"limits": {"memory": "512Mi", "cpu": "1"}},
                    }
                ],
            },
        },
    )
    pids: list[int] = []
    try:
        await wait_for(lambda: k.running_containers(), 10, what="running")
        pids = [c.proc.pid for _, c in k.running_containers()]  # type: ignore[union-attr]
        url = f"http://{base}.1.1:10250/metrics/cadvisor"
        async with aiohttp.ClientSession() as s:

            async def scrape() -> list[Sample]:
                async with s.get(url) as r:
                    return parse(await r.text())

            await asyncio.sleep(1.5)
            m1, t1 = await scrape(), time.time()
            await asyncio.sleep(2.0)
            m2, t2 = await scrape(), time.time()
            async with s.get(f"http://127.0.0.1:{ne_port}/metrics") as r:
                nodem = parse(await r.text())
        c = find(
            m2, "container_cpu_usage_seconds_total", container="burn", pod="burner", namespace="default"
        )[0]
        assert (
            c[1]["image"] == "python:3.11"
            and c[1]["id"].startswith("/kubepods/pod")  # limits only: Guaranteed
            and c[1]["name"]
        )
        cpu1 = value(m1, "container_cpu_usage_seconds_total", container="burn")
        rate = (c[2] - cpu1) / (t2 - t1)
        assert 0.3 < rate < 1.3, rate  # one busy loop (on a shared 2-core machine)
        ws = value(m2, "container_memory_working_set_bytes", container="burn")
        assert ws > 80 * 2**20
        assert value(m2, "container_spec_memory_limit_bytes", container="burn") == 512 * 2**20
        assert value(m2, "container_spec_cpu_quota", container="burn") == 100000
        assert value(m2, "container_cpu_usage_seconds_total", container="", pod="burner") >= c[2]
        assert value(m2, "container_cpu_usage_seconds_total", id="/") >= c[2]
        assert value(m2, "machine_cpu_cores") == 2
        assert value(nodem, "node_memory_MemTotal_bytes") == 4 * 2**30
        assert value(nodem, "node_memory_MemAvailable_bytes") < 4 * 2**30 - 80 * 2**20
        assert sum(v for n, lbl, v in nodem if n == "node_cpu_seconds_total" and lbl["mode"] == "user") > 0.5
    finally:
        await ne.stop()
        await k.stop(0.5)
        await client.close()
        await api.stop()
    assert pids_alive(pids) == []


async def test_real_prometheus_scrapes_every_endpoint(tmp_path: Path) -> None:
    """The real Prometheus scrapes kubelet (/metrics, /metrics/cadvisor, /metrics/probes), node
    exporter, kube-state-metrics and ingress metrics with every target up."""
    exe = require_peer("prometheus")
    from cluster.proxy import IngressController

    api = FakeAPI()
    await api.start()
    client = KubeClient(api.url)
    base = loopback_base()
    k = Kubelet(client, "n1", tmp_path / "n1", node_ip=f"{base}.1.1", pod_prefix=f"{base}.1", heartbeat=5)
    await k.start()
    api.put(
        "v1",
        "pods",
        {
            "metadata": {"name": "s", "namespace": "default"},
            "spec": {
                "nodeName": "n1",
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "command": ["sleep", "60"],
                        "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 0.5},
                    }
                ],
            },
        },
    )
    ksm = KubeStateMetrics(client)
    await ksm.start(5)
    ksm_port, ne_port, ing_port, ing_m = free_port(), free_port(), free_port(), free_port()
    await ksm.serve("127.0.0.1", ksm_port)
    ne = NodeExporter(f"http://{base}.1.1:10250")
    await ne.serve(f"127.0.0.1:{ne_port}")
    ing = IngressController(client, listen=f"127.0.0.1:{ing_port}", metrics_listen=f"127.0.0.1:{ing_m}")
    await ing.start()
    await wait_for(lambda: k.running_containers(), 10, what="pod running")
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{ing_port}/x") as r:
        assert r.status == 404
    kubelet = f"{base}.1.1:10250"
    cfg = tmp_path / "prometheus.yml"
    jobs = [
        ("kubelet", "/metrics", kubelet),
        ("cadvisor", "/metrics/cadvisor", kubelet),
        ("probes", "/metrics/probes", kubelet),
        ("node", "/metrics", f"127.0.0.1:{ne_port}"),
        ("ksm", "/metrics", f"127.0.0.1:{ksm_port}"),
        ("ingress", "/metrics", f"127.0.0.1:{ing_m}"),
    ]
    lines = ["global: {scrape_interval: 1s, scrape_timeout: 900ms}", "scrape_configs:"]
    for job, path, target in jobs:
        lines.append(
            f"- {{job_name: {job}, metrics_path: {path}, static_configs: [{{targets: ['{target}']}}]}}"
        )
    cfg.write_text("\n".join(lines) + "\n")
    port = free_port()
    prom = subprocess.Popen(
        [
            exe,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as s:

            async def query(q: str) -> list[dict[str, Any]]:
                try:
                    async with s.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": q}) as r:
                        return list((await r.json())["data"]["result"])
                except (aiohttp.ClientError, KeyError, ValueError):
                    return []

            async def all_up() -> bool:
                res = await query("up")
                return len(res) == len(jobs) and all(x["value"][1] == "1" for x in res)

            await wait_for(all_up, 30, interval=0.5, what="every target up in real Prometheus")
            for q in (
                'container_cpu_usage_seconds_total{job="cadvisor",container="c",pod="s"}',
                'kube_pod_status_phase{job="ksm",pod="s",phase="Running"} == 1',
                'node_memory_MemTotal_bytes{job="node"}',
                'nginx_ingress_controller_requests{job="ingress",status="404"}',
                'prober_probe_total{job="probes",probe_type="Readiness",result="successful"}',
                'kubelet_running_pods{job="kubelet"} == 1',
            ):
                assert await wait_for(lambda q=q: query(q), 10, interval=0.5, what=q)
    finally:
        prom.terminate()
        prom.wait(10)
        await ing.stop()
        await ne.stop()
        await ksm.stop()
        await k.stop(0.5)
        await client.close()
        await api.stop()
