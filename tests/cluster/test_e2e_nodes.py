"""End to end: Heron's control plane + NodeSet, driven with the real kubectl.

One cluster for the module (3 nodes); each test adds workloads to it. The
teardown checks that no container process outlives the cluster.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from cluster.metrics import MONITORING_MANIFEST
from cluster.workloads import SHOP_MANIFEST
from tests.cluster.test_nodes_fakeapi import free_port, loopback_base, pids_alive, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOLERATE_FAST = """      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
"""

WEB = (
    """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
"""
    + TOLERATE_FAST
    + """      containers:
      - name: web
        image: python:3.11
        command: ["sh", "-c", "echo $HOSTNAME > index.html && exec python3 -m http.server 8080 --bind $(POD_IP)"]
        env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80, name: http}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations: {nginx.ingress.kubernetes.io/rewrite-target: /}
spec:
  rules:
  - http:
      paths:
      - {path: /web, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /nobody, pathType: Prefix, backend: {service: {name: nobody, port: {name: http}}}}
"""
)


class Cluster:
    def __init__(self, cp: Any, ingress_port: int) -> None:
        self.cp = cp
        self.nodes = cp.nodeset
        self.ingress = f"http://127.0.0.1:{ingress_port}"
        self.kubeconfig = str(cp.kubeconfig_path)

    async def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        p = await asyncio.create_subprocess_exec(
            shutil.which("kubectl") or "kubectl",
            "--kubeconfig",
            self.kubeconfig,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await p.communicate(stdin.encode() if stdin else None)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {err.decode()}")
        return out.decode() + (err.decode() if not check else "")

    async def pods(self, selector: str = "", ns: str = "default") -> list[dict[str, Any]]:
        args = ["get", "pods", "-n", ns, "-o", "json"] + (["-l", selector] if selector else [])
        return list(json.loads(await self.kubectl(*args))["items"])

    async def ready_pods(
        self, selector: str, n: int, ns: str = "default", timeout: float = 30
    ) -> list[dict[str, Any]]:
        async def ok() -> list[dict[str, Any]] | None:
            ps = [p for p in await self.pods(selector, ns) if not p["metadata"].get("deletionTimestamp")]
            ready = [p for p in ps if _ready(p)]
            return ready if len(ready) == n and len(ps) == n else None

        return await wait_for(ok, timeout, interval=0.3, what=f"{n} ready pods {selector}")

    def container_pids(self) -> list[int]:
        return [c.proc.pid for k in self.nodes.kubelets.values() for _, c in k.running_containers()]  # type: ignore[union-attr]


def _ready(p: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (p.get("status") or {}).get("conditions") or []
    )


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl not installed")
    from cluster.controlplane import ControlPlane

    d: Path = tmp_path_factory.mktemp("e2e")
    port = free_port()
    cp = ControlPlane(
        d,
        listen="127.0.0.1:0",
        nodes=3,
        node_monitor_grace_period=3.0,
        node_options={
            "ip_base": loopback_base(),
            "ingress_listen": f"127.0.0.1:{port}",
            "ingress_metrics_listen": f"127.0.0.1:{free_port()}",
            "heartbeat": 1.0,
            "backoff_initial": 0.5,
            "backoff_max": 4.0,
            "stop_grace": 2.0,
        },
    )
    await cp.start()
    c = Cluster(cp, port)
    pids: list[int] = []
    try:
        yield c
    finally:
        pids = c.container_pids()
        await cp.stop()
    assert pids, "the tests ran no containers?"
    assert pids_alive(pids) == [], "container processes outlived the cluster"


async def _get(url: str, n: int = 1, host: str | None = None) -> collections.Counter[str]:
    c: collections.Counter[str] = collections.Counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        for _ in range(n):
            try:
                async with s.get(url, headers={"Host": host} if host else {}) as r:
                    c[f"{r.status} {(await r.text()).strip()[:40]}"] += 1
            except aiohttp.ClientError as e:
                c[f"error {type(e).__name__}"] += 1
    return c


async def test_deployment_pods_ready_with_distinct_ips(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", "-", stdin=WEB)
    pods = await cluster.ready_pods("app=web", 3)
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 3 and all(ip.startswith(cluster.nodes.ip_base + ".") for ip in ips)
    assert len({p["spec"]["nodeName"] for p in pods}) >= 2  # spread by the scheduler
    for p in pods:
        got = await _get(f"http://{p['status']['podIP']}:8080/")
        assert got == {f"200 {p['metadata']['name']}": 1}
    wide = await cluster.kubectl("get", "pods", "-l", "app=web", "-o", "wide")
    assert wide.count("Running") == 3 and "1/1" in wide


async def test_service_cluster_ip_and_node_port_balance(cluster: Cluster) -> None:
    pods = await cluster.ready_pods("app=web", 3)
    names = {p["metadata"]["name"] for p in pods}
    svc = json.loads(await cluster.kubectl("get", "svc", "web", "-o", "json"))
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    assert ip.startswith("127.")
    await wait_for(
        lambda: len(cluster.nodes.table.ready_backends("default", "web", "http")) == 3, 10, what="endpoints"
    )
    for url in (f"http://{ip}/", f"http://127.0.0.1:{node_port}/"):
        got = await _get(url, 9)
        assert {k.split()[1] for k in got} == names and set(got.values()) == {3}, got


async def test_ingress_routes_by_path(cluster: Cluster) -> None:
    pods = await cluster.ready_pods("app=web", 3)
    names = {p["metadata"]["name"] for p in pods}
    got = await _get(cluster.ingress + "/web", 6)
    assert (
        {k.split()[1] for k in got} <= names
        and sum(got.values()) == 6
        and all(k.startswith("200") for k in got)
    )
    assert list(await _get(cluster.ingress + "/nobody")) == ["503 503 Service Temporarily Unavailable"]
    assert list(await _get(cluster.ingress + "/elsewhere")) == ["404 default backend - 404"]


async def test_killed_container_restarts_and_logs_previous(cluster: Cluster) -> None:
    pod = (await cluster.ready_pods("app=web", 3))[0]
    name = pod["metadata"]["name"]
    k = cluster.nodes.kubelets[pod["spec"]["nodeName"]]
    w = next(w for w in k.workers.values() if w.name == name)
    await _get(f"http://{pod['status']['podIP']}:8080/")  # leave a line in the log
    os.kill(w.containers[0].proc.pid, signal.SIGKILL)  # type: ignore[union-attr]

    async def restarted() -> bool:
        p = json.loads(await cluster.kubectl("get", "pod", name, "-o", "json"))
        return p["status"]["containerStatuses"][0]["restartCount"] == 1 and _ready(p)

    await wait_for(restarted, 20, interval=0.3, what="restart")
    prev = await cluster.kubectl("logs", name, "--previous")
    assert "Serving HTTP on" in prev and '"GET / HTTP/1.1" 200' in prev
    cur = await cluster.kubectl("logs", name)
    assert "Serving HTTP on" in cur and cur != prev
    assert "1" in (
        await cluster.kubectl(
            "get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].restartCount}"
        )
    )


async def test_crashing_container_reaches_crash_loop_back_off(cluster: Cluster) -> None:
    await cluster.kubectl(
        "run",
        "crasher",
        "--image=busybox",
        "--restart=Always",
        "--",
        "sh",
        "-c",
        "echo about to fail; exit 2",
    )
    delays: list[float] = []

    async def backing_off() -> bool:
        p = json.loads(await cluster.kubectl("get", "pod", "crasher", "-o", "json"))
        w = (p["status"].get("containerStatuses") or [{}])[0].get("state", {}).get("waiting") or {}
        if w.get("reason") == "CrashLoopBackOff":
            d = float(w["message"].split()[1].rstrip("s"))
            if d not in delays:
                delays.append(d)
        return len(delays) >= 3

    await wait_for(backing_off, 30, interval=0.2, what="three growing back-offs")
    assert delays == sorted(delays) and delays[-1] >= 2 * delays[0], delays
    table = await cluster.kubectl("get", "pod", "crasher")
    assert "CrashLoopBackOff" in table or "Error" in table or "Running" in table
    assert "about to fail" in await cluster.kubectl("logs", "crasher", "--previous")
    events = await cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=crasher")
    assert "BackOff" in events
    await cluster.kubectl("delete", "pod", "crasher", "--wait=false")


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples
    ]


async def test_metrics_endpoints_as_pods(cluster: Cluster) -> None:
    """kube-state-metrics (Deployment + RBAC + in-cluster token) and node exporters (DaemonSet, hostNetwork)."""
    await cluster.kubectl("apply", "-f", str(MONITORING_MANIFEST))
    ksm = (await cluster.ready_pods("app.kubernetes.io/name=kube-state-metrics", 1, ns="monitoring"))[0]
    nes = await cluster.ready_pods("app.kubernetes.io/name=node-exporter", 3, ns="monitoring")
    assert {p["status"]["podIP"] for p in nes} == {cluster.nodes.node_ip(n) for n in cluster.nodes.names}
    url = f"http://{ksm['status']['podIP']}:8080/metrics"

    async def ksm_view() -> list[tuple[str, dict[str, str], float]] | None:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            m = _samples(await r.text())
        return (
            m
            if any(n == "kube_deployment_spec_replicas" and lbl.get("deployment") == "web" for n, lbl, _ in m)
            else None
        )

    m = await wait_for(ksm_view, 15, interval=0.5, what="kube-state-metrics sees the cluster")
    web = [lbl for n, lbl, v in m if n == "kube_pod_info" and lbl["pod"].startswith("web-")]
    assert len(web) >= 3 and all(
        lbl["node"] and lbl["pod_ip"] and lbl["created_by_kind"] == "ReplicaSet" for lbl in web
    )
    restarts = {
        lbl["pod"]: v
        for n, lbl, v in m
        if n == "kube_pod_container_status_restarts_total" and lbl["pod"].startswith("web-")
    }
    assert sorted(restarts.values())[-1] >= 1  # the container killed above
    assert ("kube_deployment_spec_replicas", 3.0) in [
        (n, v) for n, lbl, v in m if lbl.get("deployment") == "web"
    ]
    ready_nodes = [
        lbl["node"]
        for n, lbl, v in m
        if n == "kube_node_status_condition"
        and lbl["condition"] == "Ready"
        and lbl["status"] == "true"
        and v == 1
    ]
    assert len(ready_nodes) == 3
    # node exporter of one node
    ne_ip = nes[0]["status"]["podIP"]
    async with aiohttp.ClientSession() as s, s.get(f"http://{ne_ip}:9100/metrics") as r:
        nm = _samples(await r.text())
    assert any(n == "node_memory_MemTotal_bytes" and v == 8 * 2**30 for n, _, v in nm)
    assert any(n == "node_cpu_seconds_total" and lbl["mode"] == "idle" for n, lbl, _ in nm)
    # cAdvisor through the API server's node proxy, the way Prometheus' kubelet job reaches it
    node = nes[0]["spec"]["nodeName"]
    cad = _samples(await cluster.kubectl("get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics/cadvisor"))
    cpu = [
        lbl
        for n, lbl, _ in cad
        if n == "container_cpu_usage_seconds_total" and lbl["container"] == "node-exporter"
    ]
    assert cpu and cpu[0]["namespace"] == "monitoring" and cpu[0]["image"] == "heron/node-exporter:latest"


async def test_shop_through_ingress(cluster: Cluster) -> None:
    await cluster.kubectl("apply", "-f", str(SHOP_MANIFEST))
    await cluster.ready_pods("app=frontend", 2, ns="shop", timeout=40)
    await cluster.ready_pods("app=cart", 1, ns="shop")
    await cluster.ready_pods("app=payments", 1, ns="shop")

    async def products_ok() -> bool:
        got = await _get(cluster.ingress + "/api/products")
        return list(got)[0].startswith("200")

    await wait_for(products_ok, 20, interval=0.5, what="shop via ingress")
    async with aiohttp.ClientSession() as s:
        async with s.post(
            cluster.ingress + "/api/cart/e2e", json={"product_id": "heron-tee", "quantity": 1}
        ) as r:
            assert r.status == 201
        async with s.post(cluster.ingress + "/api/checkout/e2e") as r:
            assert r.status == 200 and (await r.json())["total_cents"] == 2500
    # the fault switch through the API: payments fail, then recover
    from cluster.faults import clear, inject

    client = cluster.nodes.client
    assert await inject(client, "deployment/payments", "errors=1", namespace="shop")

    async def checkout_status() -> int:
        async with aiohttp.ClientSession() as s:
            async with s.post(cluster.ingress + "/api/cart/f", json={"product_id": "heron-cap"}) as r:
                await r.read()
            async with s.post(cluster.ingress + "/api/checkout/f") as r:
                return r.status

    await wait_for(lambda: _eq(checkout_status, 502), 10, interval=0.5, what="injected errors")
    await clear(client, "deployment/payments", namespace="shop")
    await wait_for(lambda: _eq(checkout_status, 200), 10, interval=0.5, what="errors cleared")


async def _eq(f: Any, want: int) -> bool:
    return bool(await f() == want)


async def test_stopping_a_node_moves_its_pods(cluster: Cluster) -> None:
    pods = await cluster.ready_pods("app=web", 3)
    victim = pods[0]["spec"]["nodeName"]
    on_victim = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == victim}
    k = cluster.nodes.kubelets[victim]
    victim_pids = [c.proc.pid for _, c in k.running_containers()]  # type: ignore[union-attr]
    await cluster.nodes.stop_node(victim)
    assert pids_alive(victim_pids) == []

    async def moved() -> bool:
        ps = [p for p in await cluster.pods("app=web") if not p["metadata"].get("deletionTimestamp")]
        live = [p for p in ps if _ready(p) and p["spec"]["nodeName"] != victim]
        return len(live) == 3 and not (on_victim & {p["metadata"]["name"] for p in ps})

    await wait_for(moved, 40, interval=0.5, what="pods rescheduled off the stopped node")
    nodes = await cluster.kubectl("get", "nodes")
    assert any(victim in line and ("NotReady" in line or "Unknown" in line) for line in nodes.splitlines()), (
        nodes
    )
    got = await _get(cluster.ingress + "/web", 6)
    assert all(k.startswith("200") for k in got), got
    await cluster.nodes.start_node(victim)

    async def back() -> bool:
        return "NotReady" not in await cluster.kubectl("get", "node", victim)

    await wait_for(back, 15, interval=0.5, what="node back")
