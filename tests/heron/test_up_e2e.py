"""End to end: ``heron up`` in a temp dir, checked with kubectl and the HTTP APIs.

One stack serves every check (it takes a few seconds to start, alerts take a
minute to travel): all pods Running and Ready, every target up,
``kube_pod_info`` queryable, a crash fault firing ``KubePodCrashLooping`` all
the way to the webhook and resolving once cleared, a deleted pod recreated, a
stopped node's pods rescheduled, and no process left once ``heron up`` exits.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_peer

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, fn: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, ValueError, KeyError, subprocess.CalledProcessError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


@dataclass
class Stack:
    proc: subprocess.Popen[bytes]
    data: Path
    prom: str
    kubectl_bin: str
    log: Path

    def kubectl(self, *args: str) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.data / "cluster" / "kubeconfig")}
        return subprocess.run(
            [self.kubectl_bin, *args], env=env, check=True, capture_output=True, text=True, timeout=30
        ).stdout

    def heron(self, *args: str) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.data / "cluster" / "kubeconfig")}
        subprocess.run([sys.executable, "-m", "heron.cli", *args], env=env, check=True, cwd=REPO, timeout=60)

    def pods(self, ns: str = "-A") -> list[dict[str, Any]]:
        args = ["get", "pods", "-o", "json"] + (["-A"] if ns == "-A" else ["-n", ns])
        return json.loads(self.kubectl(*args))["items"]

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.prom}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())["data"]

    def notifications(self) -> list[dict[str, Any]]:
        f = self.data / "notifications" / "notifications.jsonl"
        if not f.exists():
            return []
        return [json.loads(line)["payload"] for line in f.read_text().splitlines() if line]


def _ready(p: dict[str, Any]) -> bool:
    conds = {c["type"]: c["status"] for c in p.get("status", {}).get("conditions", [])}
    return p.get("status", {}).get("phase") == "Running" and conds.get("Ready") == "True"


def _pod_pids(data: Path) -> set[int]:
    """Processes whose working directory lies under the stack's data dir (every pod container)."""
    pids = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cwd = os.readlink(d / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(data)):
            pids.add(int(d.name))
    return pids


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    kubectl_bin = require_peer("kubectl")
    tmp = tmp_path_factory.mktemp("up")
    data = tmp / "heron-data"
    ports = {k: free_port() for k in ("api", "prom", "am", "dash", "ingress")}
    log = tmp / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "heron.cli", "up", "--data", str(data), "--nodes", "3",
                "--api-listen", f"127.0.0.1:{ports['api']}",
                "--prometheus-port", str(ports["prom"]),
                "--alertmanager-port", str(ports["am"]),
                "--dashboards-port", str(ports["dash"]),
                "--ingress-listen", f"127.0.0.1:{ports['ingress']}",
            ],
            cwd=tmp, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    st = Stack(proc, data, f"http://127.0.0.1:{ports['prom']}", kubectl_bin, log)
    try:
        wait_for(
            "heron up to report the stack ready",
            lambda: proc.poll() is None and "Heron is up" in log.read_text(),
            150,
        )
        yield st
    finally:
        before = _pod_pids(data)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert before, "no pod process was found while the stack ran"
        wait_for("every pod process to exit (no orphans)", lambda: not _pod_pids(data), 15)


def test_all_pods_running_and_ready(stack: Stack) -> None:
    pods = stack.pods()
    names = {p["metadata"]["namespace"] + "/" + p["metadata"]["labels"].get("app", "?") for p in pods}
    for want in ("monitoring/prometheus", "monitoring/alertmanager", "monitoring/dashboards",
                 "monitoring/kube-state-metrics", "monitoring/node-exporter", "shop/frontend", "shop/cart"):  # fmt: skip
        assert want in names
    assert all(_ready(p) for p in pods), [p["metadata"]["name"] for p in pods if not _ready(p)]
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == len(ips) and all(ip.startswith("127.") for ip in ips)
    assert len([p for p in pods if p["metadata"]["labels"].get("app") == "node-exporter"]) == 3


def test_every_target_up_and_cluster_metrics_queryable(stack: Stack) -> None:
    def all_up() -> list[dict[str, Any]] | None:
        ts = stack.api("/api/v1/targets", state="active")["activeTargets"]
        jobs = {t["labels"]["job"] for t in ts}
        ok = {
            "prometheus",
            "alertmanager",
            "kube-state-metrics",
            "node-exporter",
            "kubelet",
            "apiserver",
            "frontend",
        }
        return ts if ok <= jobs and all(t["health"] == "up" for t in ts) else None

    wait_for("every target up", all_up, 90, 2)

    def pod_info_namespaces() -> set[str] | None:
        res = stack.api("/api/v1/query", query="kube_pod_info")["result"]
        nss = {r["metric"]["namespace"] for r in res}
        return nss if nss >= {"monitoring", "shop"} else None

    wait_for("kube_pod_info of every namespace", pod_info_namespaces, 60, 2)
    assert stack.api("/api/v1/query", query="sum(rate(http_requests_total[1m])) > 0")["result"] or wait_for(
        "shop traffic",
        lambda: stack.api("/api/v1/query", query="sum(rate(http_requests_total[1m])) > 0")["result"],
        60,
        2,
    )


def test_deleted_pod_is_recreated(stack: Stack) -> None:
    old = [p for p in stack.pods("shop") if p["metadata"]["labels"].get("app") == "cart"]
    stack.kubectl("delete", "pod", "-n", "shop", old[0]["metadata"]["name"], "--wait=false")

    def replaced() -> bool:
        now = [p for p in stack.pods("shop") if p["metadata"]["labels"].get("app") == "cart" and _ready(p)]
        return any(p["metadata"]["name"] != old[0]["metadata"]["name"] for p in now)

    wait_for("a new ready cart pod", replaced, 60)


def test_crash_fault_fires_alert_to_webhook_and_resolves(stack: Stack) -> None:
    stack.heron("cluster", "fault", "deployment/payments", "crash", "-n", "shop")

    def notified(status: str) -> Callable[[], bool]:
        def f() -> bool:
            return any(
                n.get("status") == status
                and any(
                    a["labels"].get("alertname") == "KubePodCrashLooping" and a["status"] == status
                    for a in n["alerts"]
                )  # fmt: skip
                for n in stack.notifications()
            )

        return f

    wait_for("KubePodCrashLooping at the webhook", notified("firing"), 240, 3)
    alerts = stack.api("/api/v1/alerts")["alerts"]
    crash = [a for a in alerts if a["labels"]["alertname"] == "KubePodCrashLooping"]
    assert crash and crash[0]["labels"]["namespace"] == "shop"
    stack.heron("cluster", "fault", "deployment/payments", "--clear", "-n", "shop")
    wait_for("KubePodCrashLooping resolved at the webhook", notified("resolved"), 300, 3)


def test_stopped_node_pods_are_rescheduled(stack: Stack) -> None:
    pods = stack.pods("shop")
    by_node: dict[str, list[str]] = {}
    for p in pods:
        by_node.setdefault(p["spec"]["nodeName"], []).append(p["metadata"]["name"])
    node = max(by_node, key=lambda n: len(by_node[n]))
    victims = set(by_node[node])
    stack.heron("cluster", "node", "stop", node)
    try:

        def moved() -> bool:
            now = stack.pods("shop")
            gone = not any(p["metadata"]["name"] in victims for p in now)
            ready_elsewhere = [p for p in now if p["spec"].get("nodeName") != node and _ready(p)]
            return gone and len(ready_elsewhere) >= len(pods)

        wait_for(f"pods of {node} rescheduled elsewhere", moved, 120, 2)
        status = json.loads(stack.kubectl("get", "node", node, "-o", "json"))["status"]
        ready = [c for c in status["conditions"] if c["type"] == "Ready"][0]
        assert ready["status"] != "True"
    finally:
        stack.heron("cluster", "node", "start", node)


def test_service_monitors_scraped_and_new_one_added_at_runtime(stack: Stack) -> None:
    def shop_pools() -> dict[str, list[dict[str, Any]]] | None:
        ts = stack.api("/api/v1/targets", state="active")["activeTargets"]
        pools: dict[str, list[dict[str, Any]]] = {}
        for t in ts:
            pools.setdefault(t["scrapePool"], []).append(t)
        want = {f"serviceMonitor/shop/{s}/0" for s in ("frontend", "cart", "payments")}
        want.add("serviceMonitor/monitoring/kube-state-metrics/0")
        ok = want <= set(pools) and all(t["health"] == "up" for p in want for t in pools[p])
        return pools if ok else None

    pools = wait_for("the ServiceMonitor jobs with every target up", shop_pools, 90, 2)
    front = pools["serviceMonitor/shop/frontend/0"][0]["labels"]
    assert front["job"] == "frontend" and front["namespace"] == "shop" and front["service"] == "frontend"
    assert front["endpoint"] == "http" and front["pod"].startswith("frontend-")
    # each shop pod is scraped once: the annotation job no longer covers it
    ts = stack.api("/api/v1/targets", state="active")["activeTargets"]
    addrs = [t["labels"]["instance"] for t in ts if t["labels"].get("namespace") == "shop"]
    assert len(addrs) == len(set(addrs)), addrs

    # A ServiceMonitor created at runtime turns into a scrape pool (the Prometheus Service itself).
    sm = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "prometheus-self", "namespace": "monitoring"},
        "spec": {"selector": {"matchLabels": {"app": "prometheus"}}, "endpoints": [{"port": "web"}]},
    }
    f = stack.data.parent / "sm.json"
    f.write_text(json.dumps(sm))
    t0 = time.monotonic()
    stack.kubectl("apply", "-f", str(f))

    def scraped() -> bool:
        ts = stack.api("/api/v1/targets", state="active")["activeTargets"]
        return any(
            t["scrapePool"] == "serviceMonitor/monitoring/prometheus-self/0" and t["health"] == "up"
            for t in ts
        )

    wait_for("a scrape pool for the new ServiceMonitor", scraped, 60, 0.5)
    print(f"ServiceMonitor created -> target up in {time.monotonic() - t0:.1f}s")
    stack.kubectl("delete", "-f", str(f))

    def gone() -> bool:
        ts = stack.api("/api/v1/targets", state="active")["activeTargets"]
        return not any(t["scrapePool"] == "serviceMonitor/monitoring/prometheus-self/0" for t in ts)

    wait_for("the scrape pool of the deleted ServiceMonitor to go", gone, 60, 0.5)
