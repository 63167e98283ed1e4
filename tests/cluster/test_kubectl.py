"""Real kubectl (1.32) against the embedded control plane, with the kubeconfig it writes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cluster.controllers.hollow import hollow_node_factory
from cluster.controlplane import ControlPlane
from tests.conftest import require_peer

POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  containers:
  - name: nginx
    image: nginx:1.14.2
    ports:
    - containerPort: 80
"""

DEPLOY_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
"""


class Kubectl:
    def __init__(self, binary: str, kubeconfig: Path, workdir: Path) -> None:
        self.binary = binary
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(workdir)}
        self.workdir = workdir

    async def run(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 30
    ) -> tuple[int, str, str]:
        p = await asyncio.create_subprocess_exec(
            self.binary,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=self.workdir,
        )
        out, err = await asyncio.wait_for(
            p.communicate(stdin.encode() if stdin is not None else None), timeout
        )
        rc = p.returncode or 0
        if check and rc != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({rc}):\n{out.decode()}\n{err.decode()}")
        return rc, out.decode(), err.decode()

    async def ok(self, *args: str, stdin: str | None = None) -> str:
        return (await self.run(*args, stdin=stdin))[1]

    async def json(self, *args: str) -> Any:
        return json.loads(await self.ok(*args, "-o", "json"))


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[ControlPlane, Kubectl]]:
    binary = require_peer("kubectl")
    cp = ControlPlane(tmp_path / "cp", listen="127.0.0.1:0", nodes=2, node_factory=hollow_node_factory)
    await cp.start()
    try:
        yield cp, Kubectl(binary, cp.kubeconfig_path, tmp_path)
    finally:
        await cp.stop()


async def test_apply_get_describe_delete_and_outputs(
    cluster: tuple[ControlPlane, Kubectl], tmp_path: Path
) -> None:
    cp, k = cluster
    (tmp_path / "pod.yaml").write_text(POD_YAML)
    (tmp_path / "deploy.yaml").write_text(DEPLOY_YAML)
    assert "pod/nginx created" in await k.ok("apply", "-f", "pod.yaml")
    assert "pod/nginx unchanged" in await k.ok("apply", "-f", "pod.yaml")
    assert "deployment.apps/nginx-deployment created" in await k.ok("apply", "-f", "deploy.yaml")
    await k.ok("rollout", "status", "deployment/nginx-deployment", "--timeout=20s")
    out = await k.ok("get", "pods")
    header = out.splitlines()[0].split()
    assert header == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert (
        len([ln for ln in out.splitlines() if ln.startswith("nginx-deployment-") and " Running " in ln]) == 3
    )
    wide = await k.ok("get", "pods", "-o", "wide")
    assert wide.splitlines()[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert "127.20." in wide and "node-" in wide
    nodes = await k.ok("get", "nodes")
    assert "node-1" in nodes and "Ready" in nodes
    d = await k.json("get", "deployment", "nginx-deployment")
    assert d["kind"] == "Deployment" and d["status"]["readyReplicas"] == 3
    y = await k.ok("get", "pod", "nginx", "-o", "yaml")
    assert "kind: Pod" in y and "restartPolicy: Always" in y
    assert (
        await k.ok(
            "get", "deploy", "nginx-deployment", "-o", "jsonpath={.spec.template.spec.containers[0].image}"
        )
        == "nginx:1.14.2"
    )
    # apply a change: strategic merge patch computed by kubectl from last-applied
    (tmp_path / "deploy.yaml").write_text(DEPLOY_YAML.replace("replicas: 3", "replicas: 2"))
    assert "configured" in await k.ok("apply", "-f", "deploy.yaml")
    await cp.settle()
    assert (await k.json("get", "deploy", "nginx-deployment"))["spec"]["replicas"] == 2
    desc = await k.ok("describe", "pod", "nginx")
    assert "Name:             nginx" in desc and "Node:" in desc and "Events:" in desc and "Scheduled" in desc
    desc = await k.ok("describe", "deployment", "nginx-deployment")
    assert "NewReplicaSet:" in desc and "ScalingReplicaSet" in desc
    desc = await k.ok("describe", "node", "node-1")
    assert "Non-terminated Pods:" in desc
    ev = await k.ok("get", "events")
    assert "Scheduled" in ev and "ScalingReplicaSet" in ev
    assert 'pod "nginx" deleted' in await k.ok("delete", "pod", "nginx", "--timeout=20s")
    rc, _, err = await k.run("get", "pod", "nginx", check=False)
    assert rc != 0 and 'pods "nginx" not found' in err
    await k.ok("delete", "-f", "deploy.yaml", "--timeout=20s")
    await cp.settle()
    assert "No resources found" in (await k.run("get", "pods"))[2]


async def test_scale_rollout_history_undo(cluster: tuple[ControlPlane, Kubectl], tmp_path: Path) -> None:
    cp, k = cluster
    (tmp_path / "deploy.yaml").write_text(DEPLOY_YAML)
    await k.ok("apply", "-f", "deploy.yaml")
    await k.ok("rollout", "status", "deployment/nginx-deployment", "--timeout=20s")
    assert "scaled" in await k.ok("scale", "deployment/nginx-deployment", "--replicas=5")
    await k.ok("rollout", "status", "deployment/nginx-deployment", "--timeout=20s")
    assert len((await k.json("get", "pods", "-l", "app=nginx"))["items"]) == 5
    await k.ok("set", "image", "deployment/nginx-deployment", "nginx=nginx:1.16.1")
    out = await k.ok("rollout", "status", "deployment/nginx-deployment", "--timeout=20s")
    assert 'deployment "nginx-deployment" successfully rolled out' in out
    hist = await k.ok("rollout", "history", "deployment/nginx-deployment")
    assert [ln.split()[0] for ln in hist.splitlines()[2:] if ln.strip()] == ["1", "2"]
    rev2 = await k.ok("rollout", "history", "deployment/nginx-deployment", "--revision=2")
    assert "nginx:1.16.1" in rev2
    assert "rolled back" in await k.ok("rollout", "undo", "deployment/nginx-deployment")
    await k.ok("rollout", "status", "deployment/nginx-deployment", "--timeout=20s")
    d = await k.json("get", "deploy", "nginx-deployment")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.14.2"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    hist = await k.ok("rollout", "history", "deployment/nginx-deployment")
    assert [ln.split()[0] for ln in hist.splitlines()[2:] if ln.strip()] == ["2", "3"]
    images = {
        p["spec"]["containers"][0]["image"] for p in (await k.json("get", "pods", "-l", "app=nginx"))["items"]
    }
    assert images == {"nginx:1.14.2"}
    await k.ok("rollout", "pause", "deployment/nginx-deployment")
    assert (await k.json("get", "deploy", "nginx-deployment"))["spec"]["paused"] is True
    await k.ok("rollout", "resume", "deployment/nginx-deployment")


async def test_get_watch_streams_changes(cluster: tuple[ControlPlane, Kubectl], tmp_path: Path) -> None:
    cp, k = cluster
    p = await asyncio.create_subprocess_exec(
        k.binary,
        "get",
        "pods",
        "-w",
        "--output-watch-events",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=k.env,
        cwd=k.workdir,
    )
    try:
        await asyncio.sleep(1.0)
        (tmp_path / "pod.yaml").write_text(POD_YAML)
        await k.ok("apply", "-f", "pod.yaml")
        await cp.settle()
        await k.ok("delete", "pod", "nginx", "--timeout=20s")
        lines: list[str] = []

        async def read() -> None:
            assert p.stdout is not None
            while True:
                ln = (await p.stdout.readline()).decode()
                if not ln:
                    return
                lines.append(ln)
                if ln.startswith("DELETED"):
                    return

        await asyncio.wait_for(read(), 15)
    finally:
        p.send_signal(signal.SIGINT)
        await p.wait()
    events = [ln.split()[0] for ln in lines if ln.split()]
    assert events[0] == "EVENT" and "ADDED" in events and events[-1] == "DELETED"
    assert any("Running" in ln for ln in lines)


async def test_logs_are_proxied_to_the_kubelet(cluster: tuple[ControlPlane, Kubectl], tmp_path: Path) -> None:
    cp, k = cluster
    seen: list[str] = []

    async def logs(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.Response(text="hello from nginx\nsecond line\n")

    app = web.Application()
    app.router.add_get("/containerLogs/{ns}/{pod}/{c}", logs)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        # point node-1's kubelet endpoint at the fake kubelet
        node = cp.registry.get("nodes", None, "node-1")
        node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = port
        node["status"]["addresses"] = [{"type": "InternalIP", "address": "127.0.0.1"}]
        cp.registry.update_status("nodes", None, "node-1", node)
        (tmp_path / "pod.yaml").write_text(POD_YAML.replace("spec:\n", "spec:\n  nodeName: node-1\n", 1))
        await k.ok("apply", "-f", "pod.yaml")
        await cp.settle()
        out = await k.ok("logs", "nginx", "--tail=2")
        assert out == "hello from nginx\nsecond line\n"
        assert seen and seen[0].startswith("/containerLogs/default/nginx/nginx") and "tailLines=2" in seen[0]
        rc, _, err = await k.run("logs", "nginx", "-c", "nope", check=False)
        assert rc != 0 and "container nope is not valid for pod nginx" in err
    finally:
        await runner.cleanup()


async def test_status_errors_reach_kubectl(cluster: tuple[ControlPlane, Kubectl], tmp_path: Path) -> None:
    cp, k = cluster
    rc, _, err = await k.run("get", "widgets", check=False)
    assert rc != 0 and 'the server doesn\'t have a resource type "widgets"' in err
    bad = POD_YAML.replace("name: nginx\nspec", "name: Bad_Name\nspec")
    (tmp_path / "bad.yaml").write_text(bad)
    rc, _, err = await k.run("apply", "-f", "bad.yaml", check=False)
    assert rc != 0 and 'Pod "Bad_Name" is invalid' in err
    (tmp_path / "pod.yaml").write_text(POD_YAML)
    await k.ok("create", "-f", "pod.yaml")
    rc, _, err = await k.run("create", "-f", "pod.yaml", check=False)
    assert rc != 0 and 'pods "nginx" already exists' in err
    # kubectl create with typed (protobuf) clients
    assert "namespace/team created" in await k.ok("create", "namespace", "team")
    assert "created" in await k.ok(
        "create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", "team"
    )
    assert "created" in await k.ok("create", "configmap", "cfg", "--from-literal=a=b")
    api = await k.ok("api-resources")
    assert "deployments" in api and "servicemonitors" in api
    assert "apps/v1" in await k.ok("api-versions")


async def test_namespace_restricted_user_and_auth_can_i(
    cluster: tuple[ControlPlane, Kubectl], tmp_path: Path
) -> None:
    cp, k = cluster
    await k.ok("create", "namespace", "dev")
    await k.ok("create", "serviceaccount", "alice", "-n", "dev")
    await k.ok("create", "role", "pod-reader", "-n", "dev", "--verb=get,list,watch", "--resource=pods")
    await k.ok(
        "create", "rolebinding", "alice-read", "-n", "dev", "--role=pod-reader", "--serviceaccount=dev:alice"
    )
    token = (await k.ok("create", "token", "alice", "-n", "dev")).strip()
    assert token.count(".") == 2
    # a static-token user bound with a RoleBinding
    cp.add_token("bob-token", "bob")
    rb = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "bob-view", "namespace": "dev"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}],
    }
    await k.ok("apply", "-f", "-", stdin=json.dumps(rb))
    bob = Kubectl(
        k.binary, cp.write_kubeconfig(tmp_path / "bob.kubeconfig", "bob", "bob-token", "dev"), tmp_path
    )
    assert "No resources found in dev namespace." in (await bob.run("get", "pods"))[2]
    assert (await bob.ok("get", "deployments")) == ""
    rc, _, err = await bob.run("get", "pods", "-n", "default", check=False)
    assert rc != 0
    assert (
        'Error from server (Forbidden): pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"'
        in err
    )
    rc, _, err = await bob.run("get", "nodes", check=False)
    assert (
        'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope'
        in err
    )
    rc, _, err = await bob.run("delete", "pod", "x", check=False)
    assert (
        'pods "x" is forbidden: User "bob" cannot delete resource "pods" in API group "" in the namespace "dev"'
        in err
    )
    assert (await bob.ok("auth", "can-i", "list", "pods")).strip() == "yes"
    rc, out, _ = await bob.run("auth", "can-i", "create", "pods", check=False)
    assert rc != 0 and out.strip() == "no"
    assert (await bob.run("auth", "can-i", "list", "pods", "-n", "default", check=False))[1].strip() == "no"
    who = await bob.ok("auth", "whoami")
    assert "bob" in who and "system:authenticated" in who
    # the service account token
    rc, out, err = await k.run("--token", token, "get", "pods", "-n", "dev")
    assert rc == 0
    rc, _, err = await k.run("--token", token, "get", "secrets", "-n", "dev", check=False)
    assert (
        'secrets is forbidden: User "system:serviceaccount:dev:alice" cannot list resource "secrets"' in err
    )
    assert (
        await k.ok("auth", "can-i", "list", "pods", "-n", "dev", "--as=system:serviceaccount:dev:alice")
    ).strip() == "yes"
    assert (
        await k.run(
            "auth",
            "can-i",
            "list",
            "pods",
            "-n",
            "kube-system",
            "--as=system:serviceaccount:dev:alice",
            check=False,
        )
    )[1].strip() == "no"
    assert (await k.ok("auth", "can-i", "*", "*")).strip() == "yes"
    # deleting the service account revokes its tokens
    await k.ok("delete", "serviceaccount", "alice", "-n", "dev")
    rc, _, err = await k.run("--token", token, "get", "pods", "-n", "dev", check=False)
    assert rc != 0 and "Unauthorized" in err


async def test_heron_cluster_command_runs_in_the_foreground(tmp_path: Path) -> None:
    binary = require_peer("kubectl")
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runner = (
        "import argparse, sys\n"
        "from heron import cluster_cli\n"
        "p = argparse.ArgumentParser(prog='heron'); sub = p.add_subparsers(); cluster_cli.register(sub)\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    data = tmp_path / "data"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        runner,
        "cluster",
        "--data",
        str(data),
        "--listen",
        f"127.0.0.1:{port}",
        "--nodes",
        "2",
        "--hollow-nodes",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    try:
        for _ in range(200):
            if (data / "kubeconfig").exists():
                break
            await asyncio.sleep(0.05)
        k = Kubectl(binary, data / "kubeconfig", tmp_path)
        for _ in range(50):
            rc, out, _ = await k.run("get", "nodes", check=False)
            if rc == 0 and out.count(" Ready ") == 2:
                break
            await asyncio.sleep(0.1)
        assert out.count(" Ready ") == 2, out
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    assert b"API server at https://127.0.0.1:" in err and b"stopping" in err
