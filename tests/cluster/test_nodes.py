"""NodeSet: several kubelets plus proxy; node stop/start; nothing survives, even a SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from cluster.nodes import NodeSet, node_names
from tests.cluster.test_nodes_fakeapi import FakeAPI, free_port, http_pod, loopback_base, pids_alive, wait_for

REPO = str(Path(__file__).resolve().parents[2])


def _ready(api: FakeAPI, name: str) -> bool:
    p = api.get("v1", "pods", "default", name) or {}
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (p.get("status") or {}).get("conditions") or []
    )


async def test_nodeset_nodes_pods_and_node_stop(tmp_path: Path) -> None:
    api = FakeAPI()
    await api.start()
    base = loopback_base()
    ns = NodeSet(
        api.url,
        "tok",
        node_names(2),
        tmp_path,
        ip_base=base,
        ingress_listen=f"127.0.0.1:{free_port()}",
        ingress_metrics_listen=None,
        heartbeat=0.5,
    )
    await ns.start()
    pids: list[int] = []
    try:
        assert node_names(2) == ["node-1", "node-2"]
        for i, n in enumerate(ns.names, 1):
            node = api.get("v1", "nodes", "", n)
            assert node is not None and node["status"]["addresses"][0]["address"] == f"{base}.{i}.1"
        api.put("v1", "pods", http_pod("a", "node-1"))
        api.put("v1", "pods", http_pod("b", "node-2"))
        await wait_for(lambda: _ready(api, "a") and _ready(api, "b"), 15, what="pods ready")
        assert api.get("v1", "pods", "default", "b")["status"]["podIP"].startswith(f"{base}.2.")  # type: ignore[index]
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{ns.kubelet_url('node-2')}/healthz") as r:
                assert r.status == 200
        k2 = ns.kubelets["node-2"]
        n2_pids = [c.proc.pid for _, c in k2.running_containers()]  # type: ignore[union-attr]
        await ns.stop_node("node-2")
        assert "node-2" not in ns.kubelets and pids_alive(n2_pids) == []
        rv = api.get("v1", "nodes", "", "node-2")["metadata"]["resourceVersion"]  # type: ignore[index]
        await asyncio.sleep(1.2)
        assert api.get("v1", "nodes", "", "node-2")["metadata"]["resourceVersion"] == rv  # type: ignore[index]  # no heartbeats
        await ns.start_node("node-2")
        await wait_for(
            lambda: _ready(api, "b") and ns.kubelets["node-2"].running_containers(),
            15,
            what="pod back on node-2",
        )
        pids = [c.proc.pid for k in ns.kubelets.values() for _, c in k.running_containers()]  # type: ignore[union-attr]
        assert len(pids) == 2
    finally:
        await ns.stop()
        await api.stop()
    assert pids_alive(pids) == []


CHILD = r"""
import asyncio, sys, os
sys.path.insert(0, {repo!r})
from pathlib import Path
from tests.cluster.test_nodes_fakeapi import FakeAPI
from cluster.nodes import NodeSet

async def main():
    api = FakeAPI()
    await api.start()
    ns = NodeSet(api.url, None, ["node-1"], Path({data!r}), ip_base={base!r}, ingress_listen=None, proxy=False)
    await ns.start()
    api.put("v1", "pods", {{"metadata": {{"name": "p", "namespace": "default"}}, "spec": {{"nodeName": "node-1",
        "containers": [{{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 1000 & echo $! > grandchild; wait"]}}]}}}})
    k = ns.kubelets["node-1"]
    while not k.running_containers():
        await asyncio.sleep(0.05)
    print(k.running_containers()[0][1].proc.pid, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_no_orphans_when_the_cluster_process_is_killed(tmp_path: Path) -> None:
    """SIGKILL the process running the nodes: container processes, grandchildren included, die too."""
    script = CHILD.format(repo=REPO, data=str(tmp_path), base=loopback_base())
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip().isdigit(), line
        container = int(line)
        gfile = next(tmp_path.glob("node-1/pods/*/containers/c/rootfs/grandchild"), None)
        deadline = time.time() + 5
        while (gfile is None or not gfile.read_text().strip()) and time.time() < deadline:
            time.sleep(0.05)
            gfile = next(tmp_path.glob("node-1/pods/*/containers/c/rootfs/grandchild"), None)
        assert gfile is not None
        grandchild = int(gfile.read_text())
        assert pids_alive([container, grandchild]) == [container, grandchild]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        deadline = time.time() + 5
        while pids_alive([container, grandchild]) and time.time() < deadline:
            time.sleep(0.05)
        assert pids_alive([container, grandchild]) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
