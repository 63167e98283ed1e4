"""Real Prometheus (Debian package) discovers the cluster through kubernetes_sd_configs."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cluster.controllers.hollow import hollow_node_factory
from cluster.controlplane import ControlPlane
from tests.conftest import require_peer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _has_kubernetes_sd(prom: str, tmp_path: Path) -> bool:
    """Debian builds Prometheus without the Kubernetes SD plugin; detect that."""
    cfg = tmp_path / "probe.yml"
    cfg.write_text("scrape_configs:\n- job_name: x\n  kubernetes_sd_configs:\n  - role: pod\n")
    promtool = Path(prom).with_name("promtool")
    p = await asyncio.create_subprocess_exec(
        str(promtool),
        "check",
        "config",
        str(cfg),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await p.communicate()
    return b"kubernetes_sd_configs not found" not in out


async def test_prometheus_kubernetes_sd_discovers_pods_endpoints_and_nodes(tmp_path: Path) -> None:
    prom = require_peer("prometheus")
    if not await _has_kubernetes_sd(prom, tmp_path):
        pytest.skip(
            "this Prometheus build has no kubernetes_sd_configs (Debian removes the Kubernetes SD plugin)"
        )
    cp = ControlPlane(tmp_path / "cp", listen="127.0.0.1:0", nodes=2, node_factory=hollow_node_factory)
    await cp.start()
    proc = None
    try:
        reg = cp.registry
        reg.create(
            "deployments.apps",
            "default",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {
                            "labels": {"app": "web"},
                            "annotations": {"prometheus.io/scrape": "true"},
                        },
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "image": "web",
                                    "ports": [{"name": "http", "containerPort": 8080}],
                                }
                            ]
                        },
                    },
                },
            },
        )
        reg.create(
            "services",
            "default",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {"app": "web"},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            },
        )
        await cp.settle()
        sd = f"""
    api_server: {cp.url}
    tls_config: {{ca_file: {cp.ca_path}}}
    authorization: {{credentials: {cp.admin_token}}}"""
        (tmp_path / "prometheus.yml").write_text(
            f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
- job_name: pods
  kubernetes_sd_configs:
  - role: pod{sd}
    namespaces: {{names: [default]}}
- job_name: endpoints
  kubernetes_sd_configs:
  - role: endpoints{sd}
- job_name: endpointslices
  kubernetes_sd_configs:
  - role: endpointslice{sd}
- job_name: nodes
  kubernetes_sd_configs:
  - role: node{sd}
- job_name: services
  kubernetes_sd_configs:
  - role: service{sd}
"""
        )
        port = _free_port()
        proc = await asyncio.create_subprocess_exec(
            prom,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom'}",
            f"--web.listen-address=127.0.0.1:{port}",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        by_job: dict[str, list[dict[str, Any]]] = {}
        async with aiohttp.ClientSession() as s:
            for _ in range(150):
                await asyncio.sleep(0.2)
                try:
                    async with s.get(f"http://127.0.0.1:{port}/api/v1/targets") as r:
                        doc = await r.json()
                except aiohttp.ClientError:
                    continue
                by_job = {}
                for t in doc["data"]["activeTargets"] + doc["data"]["droppedTargets"]:
                    by_job.setdefault(t["discoveredLabels"]["job"], []).append(t["discoveredLabels"])
                if all(
                    len(by_job.get(j, [])) >= n
                    for j, n in (
                        ("pods", 2),
                        ("endpoints", 3),
                        ("endpointslices", 3),
                        ("nodes", 2),
                        ("services", 2),
                    )
                ):
                    break
            # a scale-up shows up through the watch
            reg.patch("deployments.apps", "default", "web", {"spec": {"replicas": 3}})
            await cp.settle()
            pods: list[dict[str, Any]] = []
            for _ in range(100):
                await asyncio.sleep(0.2)
                async with s.get(f"http://127.0.0.1:{port}/api/v1/targets") as r:
                    doc = await r.json()
                pods = [
                    t["discoveredLabels"]
                    for t in doc["data"]["activeTargets"]
                    if t["discoveredLabels"]["job"] == "pods"
                ]
                if len(pods) == 3:
                    break
        assert len(pods) == 3, by_job
        p = pods[0]
        assert p["__meta_kubernetes_namespace"] == "default"
        assert p["__meta_kubernetes_pod_name"].startswith("web-")
        assert p["__meta_kubernetes_pod_ip"].startswith("127.20.")
        assert p["__meta_kubernetes_pod_label_app"] == "web"
        assert p["__meta_kubernetes_pod_annotation_prometheus_io_scrape"] == "true"
        assert p["__meta_kubernetes_pod_container_port_name"] == "http"
        assert p["__meta_kubernetes_pod_ready"] == "true" and p["__meta_kubernetes_pod_phase"] == "Running"
        assert p["__meta_kubernetes_pod_node_name"] in ("node-1", "node-2")
        assert p["__meta_kubernetes_pod_controller_kind"] == "ReplicaSet"
        assert p["__address__"].endswith(":8080")
        eps = [t for t in by_job["endpoints"] if t.get("__meta_kubernetes_service_name") == "web"]
        assert len(eps) == 2 and all(t["__meta_kubernetes_endpoint_ready"] == "true" for t in eps)
        assert all(t["__meta_kubernetes_endpoint_port_name"] == "http" for t in eps)
        slices = [t for t in by_job["endpointslices"] if t.get("__meta_kubernetes_service_name") == "web"]
        assert len(slices) == 2 and all(
            t["__meta_kubernetes_endpointslice_endpoint_conditions_ready"] == "true" for t in slices
        )
        nodes = sorted(t["__meta_kubernetes_node_name"] for t in by_job["nodes"])
        assert nodes == ["node-1", "node-2"]
        assert all(t["__address__"].endswith(":10250") for t in by_job["nodes"])
        svcs = sorted(t["__meta_kubernetes_service_name"] for t in by_job["services"])
        assert svcs == ["kubernetes", "web"]
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            await proc.wait()
        await cp.stop()
