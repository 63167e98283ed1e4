"""Kubelet against the in-test fake API: real processes, probes, restarts, logs, termination."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cluster.kubelet import KubeClient, Kubelet
from cluster.kubelet._env import ConfigError, container_env, expand, service_env
from cluster.kubelet._images import ImageError, entrypoint, repository
from tests.cluster.test_nodes_fakeapi import FakeAPI, http_pod, loopback_base, pids_alive, wait_for

NODE = "n1"


class Env:
    def __init__(self, api: FakeAPI, kubelet: Kubelet, base: str) -> None:
        self.api, self.k, self.base = api, kubelet, base
        self.kubelet_url = f"http://{kubelet.node_ip}:{kubelet.port}"

    def pod(self, name: str, ns: str = "default") -> dict[str, Any]:
        return self.api.get("v1", "pods", ns, name) or {}

    def cstatus(self, name: str, idx: int = 0) -> dict[str, Any]:
        cs = (self.pod(name).get("status") or {}).get("containerStatuses") or [{}]
        return cs[idx]

    def ready(self, name: str) -> bool:
        conds = (self.pod(name).get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conds)

    def pids(self) -> list[int]:
        return [c.proc.pid for w in self.k.workers.values() for c in w.containers if c.proc]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    api = FakeAPI()
    await api.start()
    base = loopback_base()
    client = KubeClient(api.url)
    k = Kubelet(
        client,
        NODE,
        tmp_path / NODE,
        node_ip=f"{base}.1.1",
        pod_prefix=f"{base}.1",
        port=10250,
        heartbeat=0.5,
        backoff_initial=0.4,
        backoff_max=3.0,
        stop_grace=2.0,
    )
    await k.start()
    e = Env(api, k, base)
    pids: list[int] = []
    try:
        yield e
    finally:
        pids = e.pids()
        await k.stop()
        await client.close()
        await api.stop()
    assert pids_alive(pids) == [], "container processes outlived the kubelet"


# -- pure functions ----------------------------------------------------------------------------


def test_expand_like_kubernetes() -> None:
    env = {"A": "1", "POD_IP": "127.0.0.9"}
    assert expand("$(A)-$(B)-$$(A)-$(POD_IP)", env) == "1-$(B)-$(A)-127.0.0.9"
    assert expand("$(A", env) == "$(A"
    assert expand("cost $5", env) == "cost $5"


def test_service_env_vars() -> None:
    svc = {
        "metadata": {"name": "redis-primary"},
        "spec": {"clusterIP": "127.96.0.7", "ports": [{"name": "tcp", "port": 6379, "protocol": "TCP"}]},
    }
    headless = {"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 1}]}}
    env = service_env([svc, headless])
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "127.96.0.7"
    assert env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"
    assert env["REDIS_PRIMARY_SERVICE_PORT_TCP"] == "6379"
    assert env["REDIS_PRIMARY_PORT"] == "tcp://127.96.0.7:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "127.96.0.7"
    assert not any(k.startswith("H_") for k in env)


def test_container_env_sources() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "x"}},
        "spec": {
            "nodeName": "n9",
            "containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}],
        },
    }
    cms = {("ns", "cfg"): {"data": {"MODE": "fast", "bad key": "x"}}}
    secs = {("ns", "s"): {"data": {"password": base64.b64encode(b"hunter2").decode()}}}
    c = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
        "env": [
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}},
            {
                "name": "MEM_MI",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "URL", "value": "http://$(IP):80/$(CFG_MODE)"},
        ],
    }
    env = container_env(
        pod,
        c,
        pod_ip="127.1.2.3",
        host_ip="127.1.2.1",
        configmaps=lambda ns, n: cms.get((ns, n)),
        secrets=lambda ns, n: secs.get((ns, n)),
    )
    assert env["CFG_MODE"] == "fast" and "CFG_bad key" not in env
    assert env["IP"] == "127.1.2.3" and env["NODE"] == "n9" and env["APP"] == "x"
    assert env["PW"] == "hunter2" and env["MEM_MI"] == "64"
    assert env["URL"] == "http://127.1.2.3:80/fast"
    missing = {
        "name": "c",
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}],
    }
    with pytest.raises(ConfigError, match='configmap "nope" not found'):
        container_env(
            pod, missing, pod_ip="", host_ip="", configmaps=lambda *_: None, secrets=lambda *_: None
        )


def test_images() -> None:
    assert repository("docker.io/library/nginx:1.14.2") == "nginx"
    assert repository("heron/shop-cart:v2") == "heron/shop-cart"
    assert repository("localhost:5000/app@sha256:abc") == "localhost:5000/app"
    argv = entrypoint("nginx:1.14.2", None, None, "127.0.0.5", 80)
    assert argv[1:] == ["-m", "cluster.workloads.nginx", "--bind", "127.0.0.5", "--port", "80"]
    assert entrypoint("x", ["python3", "-c", "1"], ["a"], "", None)[1:] == ["-c", "1", "a"]
    with pytest.raises(ImageError):
        entrypoint("quay.io/unknown/thing:1", None, None, "", None)


# -- the kubelet ------------------------------------------------------------------------------


async def test_node_registration_and_heartbeat(env: Env) -> None:
    node = env.api.get("v1", "nodes", "", NODE)
    assert node is not None
    st = node["status"]
    assert {"type": "InternalIP", "address": env.k.node_ip} in st["addresses"]
    assert st["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    assert st["capacity"]["cpu"] == "4" and st["allocatable"]["pods"] == "110"
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    rv = node["metadata"]["resourceVersion"]
    await wait_for(
        lambda: env.api.get("v1", "nodes", "", NODE)["metadata"]["resourceVersion"] != rv, 3, what="heartbeat"
    )
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE


async def test_pods_run_ready_with_own_ips_and_logs(env: Env) -> None:
    for n in ("a", "b"):
        env.api.put("v1", "pods", http_pod(n, NODE))
    await wait_for(lambda: env.ready("a") and env.ready("b"), 15, what="pods ready")
    pa, pb = env.pod("a")["status"], env.pod("b")["status"]
    assert pa["phase"] == "Running" and pa["podIP"] != pb["podIP"]
    assert pa["podIP"].startswith(env.base + ".1.") and pa["hostIP"] == env.k.node_ip
    assert pa["qosClass"] == "BestEffort"
    cs = pa["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and "running" in cs["state"] and cs["restartCount"] == 0
    async with aiohttp.ClientSession() as s:
        for st in (pa, pb):
            async with s.get(f"http://{st['podIP']}:8080/") as r:
                assert r.status == 200
        async with s.get(f"{env.kubelet_url}/containerLogs/default/a/web") as r:
            assert f"Serving HTTP on {pa['podIP']} port 8080" in await r.text()
        async with s.get(f"{env.kubelet_url}/containerLogs/default/a/web?previous=true") as r:
            assert r.status == 400
        async with s.get(f"{env.kubelet_url}/pods") as r:
            assert {p["metadata"]["name"] for p in (await r.json())["items"]} == {"a", "b"}
    reasons = [o["reason"] for (_, res, _, _), o in env.api.objects.items() if res == "events"]
    assert "Started" in reasons


async def test_killed_container_restarts_and_previous_logs(env: Env) -> None:
    env.api.put("v1", "pods", http_pod("a", NODE))
    await wait_for(lambda: env.ready("a"), 15, what="ready")
    w = next(iter(env.k.workers.values()))
    old_pid = w.containers[0].proc.pid  # type: ignore[union-attr]
    os.kill(old_pid, signal.SIGKILL)
    await wait_for(lambda: env.cstatus("a").get("restartCount") == 1 and env.ready("a"), 15, what="restart")
    cs = env.cstatus("a")
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert w.containers[0].proc.pid != old_pid  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{env.kubelet_url}/containerLogs/default/a/web?previous=true") as r:
            assert r.status == 200 and "Serving HTTP" in await r.text()


async def test_crash_loop_backoff_grows(env: Env) -> None:
    pod = {
        "metadata": {"name": "crash", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo boom; exit 3"]}],
        },
    }
    env.api.put("v1", "pods", pod)
    messages: list[str] = []

    def seen() -> bool:
        w = (env.cstatus("crash").get("state") or {}).get("waiting") or {}
        if w.get("reason") == "CrashLoopBackOff" and w["message"] not in messages:
            messages.append(w["message"])
        return len(messages) >= 3

    await wait_for(seen, 20, what="three back-offs")
    delays = [float(m.split()[1].rstrip("s")) for m in messages]
    assert delays == sorted(delays) and delays[0] < delays[-1], delays
    assert "restarting failed container=c pod=crash_default(" in messages[0]
    cs = env.cstatus("crash")
    assert cs["restartCount"] >= 2
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert env.pod("crash")["status"]["phase"] == "Running"  # restartPolicy Always


async def test_graceful_deletion_then_confirmed(env: Env) -> None:
    script = "import signal,sys,time\nsignal.signal(signal.SIGTERM, lambda *a: (print('got TERM', flush=True), sys.exit(0)))\nprint('up', flush=True)\nwhile True: time.sleep(0.1)"
    pod = {
        "metadata": {"name": "g", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": "c", "image": "python", "command": ["python3", "-c", script]}],
        },
    }
    env.api.put("v1", "pods", pod)
    await wait_for(lambda: "running" in (env.cstatus("g").get("state") or {}), 10, what="running")
    log = env.k.workers[env.pod("g")["metadata"]["uid"]].log_path("c", 0)
    await wait_for(lambda: log.exists() and "up" in log.read_text(), 5, what="started")
    async with aiohttp.ClientSession() as s:
        async with s.delete(f"{env.api.url}/api/v1/namespaces/default/pods/g") as r:
            assert r.status == 200
    await wait_for(
        lambda: env.api.get("v1", "pods", "default", "g") is None, 8, what="pod removed by kubelet"
    )
    assert env.k.workers == {}


async def test_probes_liveness_restarts_and_readiness_gates(env: Env) -> None:
    pod = http_pod("p", NODE)
    c = pod["spec"]["containers"][0]
    c["readinessProbe"] = {
        "httpGet": {"path": "/ready.txt", "port": 8080},
        "periodSeconds": 0.2,
        "failureThreshold": 1,
    }
    c["livenessProbe"] = {
        "tcpSocket": {"port": 8080},
        "periodSeconds": 0.2,
        "failureThreshold": 2,
        "initialDelaySeconds": 1,
    }
    c["terminationGracePeriodSeconds"] = 1
    env.api.put("v1", "pods", pod)
    await wait_for(lambda: "running" in (env.cstatus("p").get("state") or {}), 10, what="running")
    await asyncio.sleep(0.8)
    assert not env.ready("p")  # readiness file absent -> 404 -> not ready
    w = next(iter(env.k.workers.values()))
    rootfs = Path(w.containers[0].proc.cwd)  # type: ignore[union-attr]
    (rootfs / "ready.txt").write_text("ok")
    await wait_for(lambda: env.ready("p"), 5, what="ready after file appears")
    (rootfs / "ready.txt").unlink()
    await wait_for(lambda: not env.ready("p"), 5, what="unready again")
    assert any(k[1] == "failed" and k[0] == "Readiness" for k in env.k.probe_counts)


async def test_exec_liveness_failure_restarts(env: Env) -> None:
    pod = {
        "metadata": {"name": "l", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["sh", "-c", "touch alive; sleep 1; rm alive; exec sleep 1000"],
                    "livenessProbe": {
                        "exec": {"command": ["test", "-f", "alive"]},
                        "periodSeconds": 0.3,
                        "failureThreshold": 2,
                    },
                }
            ],
        },
    }
    env.api.put("v1", "pods", pod)
    await wait_for(lambda: env.cstatus("l").get("restartCount", 0) >= 1, 15, what="liveness restart")
    kinds = [(o["reason"], o["message"]) for (_, r, _, _), o in env.api.objects.items() if r == "events"]
    assert any(r == "Killing" and "failed liveness probe" in m for r, m in kinds)


async def test_memory_limit_oomkilled(env: Env) -> None:
    pod = {
        "metadata": {"name": "oom", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": "python",
                    "command": [
                        "python3",
                        "-c",
                        "import time\nx = bytearray(200 * 2**20)\nx[::4096] = b'1' * len(x[::4096])\ntime.sleep(30)",
                    ],
                    "resources": {"limits": {"memory": "64Mi"}},
                }
            ],
        },
    }
    env.api.put("v1", "pods", pod)
    await wait_for(lambda: "terminated" in (env.cstatus("oom").get("state") or {}), 15, what="oom kill")
    t = env.cstatus("oom")["state"]["terminated"]
    assert t["reason"] == "OOMKilled" and t["exitCode"] == 137
    await wait_for(lambda: env.pod("oom")["status"]["phase"] == "Failed", 5, what="Failed phase")


async def test_volumes_init_containers_and_completion(env: Env) -> None:
    env.api.put(
        "v1",
        "configmaps",
        {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"greeting": "hello"}},
    )
    pod = {
        "metadata": {"name": "v", "namespace": "default", "annotations": {"a": "1"}},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": "OnFailure",
            "initContainers": [
                {
                    "name": "init",
                    "image": "busybox",
                    "command": ["sh", "-c", "echo init > /work/out.txt"],
                    "volumeMounts": [{"name": "work", "mountPath": "/work"}],
                }
            ],
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": [
                        "sh",
                        "-c",
                        "cat /work/out.txt /etc/cfg/greeting /etc/info/annotations; sleep 1.5; cat /etc/cfg/greeting",
                    ],
                    "volumeMounts": [
                        {"name": "work", "mountPath": "/work"},
                        {"name": "cfg", "mountPath": "/etc/cfg"},
                        {"name": "info", "mountPath": "/etc/info"},
                    ],
                }
            ],
            "volumes": [
                {"name": "work", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "cfg"}},
                {
                    "name": "info",
                    "downwardAPI": {
                        "items": [{"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]
                    },
                },
            ],
        },
    }
    env.api.put("v1", "pods", pod)
    await wait_for(
        lambda: "running" in (env.cstatus("v").get("state") or {}), 10, what="main container running"
    )
    env.api.put(
        "v1",
        "configmaps",
        {"metadata": {"name": "cfg", "namespace": "default"}, "data": {"greeting": "bonjour"}},
    )
    await wait_for(lambda: env.pod("v")["status"]["phase"] == "Succeeded", 10, what="Succeeded")
    st = env.pod("v")["status"]
    assert st["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert st["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    w = next(iter(env.k.workers.values()))
    out = w.log_path("c", 0).read_text()
    assert out.startswith("init\nhello") and 'a="1"' in out and out.endswith("bonjour")


async def test_missing_configmap_waits_then_starts(env: Env) -> None:
    pod = {
        "metadata": {"name": "m", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["sh", "-c", "echo $X; sleep 100"],
                    "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "x"}}}],
                }
            ],
        },
    }
    env.api.put("v1", "pods", pod)
    await wait_for(
        lambda: (
            (env.cstatus("m").get("state") or {}).get("waiting", {}).get("reason")
            == "CreateContainerConfigError"
        ),
        5,
        what="config error",
    )
    assert env.pod("m")["status"]["phase"] == "Pending"
    env.api.put(
        "v1", "configmaps", {"metadata": {"name": "late", "namespace": "default"}, "data": {"x": "42"}}
    )
    await wait_for(
        lambda: "running" in (env.cstatus("m").get("state") or {}), 8, what="started once configmap exists"
    )


async def test_unknown_image_without_command(env: Env) -> None:
    env.api.put(
        "v1",
        "pods",
        {
            "metadata": {"name": "i", "namespace": "default"},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "example.com/nothing:1"}]},
        },
    )
    await wait_for(
        lambda: (
            (env.cstatus("i").get("state") or {}).get("waiting", {}).get("reason")
            in ("ErrImagePull", "ImagePullBackOff")
        ),
        5,
        what="image error",
    )


async def test_node_fault_annotation_crashes_and_recovers(env: Env) -> None:
    env.api.put("v1", "pods", http_pod("a", NODE))
    await wait_for(lambda: env.ready("a"), 15, what="ready")
    pids = env.pids()
    node = env.api.get("v1", "nodes", "", NODE)
    node["metadata"].setdefault("annotations", {})["heron.dev/fault"] = "down"
    env.api.put("v1", "nodes", node)
    await wait_for(lambda: env.k.crashed and not pids_alive(pids), 5, what="node crash")
    node = env.api.get("v1", "nodes", "", NODE)
    del node["metadata"]["annotations"]["heron.dev/fault"]
    env.api.put("v1", "nodes", node)
    await wait_for(
        lambda: (
            not env.k.crashed
            and env.pids()
            and env.cstatus("a").get("restartCount", 0) >= 1
            and env.ready("a")
        ),
        15,
        what="recovery",
    )


async def test_missing_executable_is_a_start_error(env: Env) -> None:
    pod = {
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "containers": [{"name": "c", "image": "busybox", "command": ["no-such-binary-heron"]}],
        },
    }
    env.api.put("v1", "pods", pod)

    def start_error() -> bool:
        last = (env.cstatus("x").get("lastState") or {}).get("terminated") or {}
        return last.get("reason") == "StartError" and last.get("exitCode") == 128

    await wait_for(start_error, 10, what="StartError")
    assert (
        'executable file not found in $PATH: "no-such-binary-heron"'
        in env.cstatus("x")["lastState"]["terminated"]["message"]
    )


async def test_logs_follow_and_tail(env: Env) -> None:
    pod = {
        "metadata": {"name": "f", "namespace": "default"},
        "spec": {
            "nodeName": NODE,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["sh", "-c", "echo one; echo two; sleep 0.6; echo three"],
                }
            ],
        },
    }
    env.api.put("v1", "pods", pod)
    await wait_for(lambda: "running" in (env.cstatus("f").get("state") or {}), 10, what="running")
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{env.kubelet_url}/containerLogs/default/f/c?follow=true") as r:
            text = await asyncio.wait_for(r.text(), 10)  # ends when the container exits
        assert text == "one\ntwo\nthree\n"
        async with s.get(f"{env.kubelet_url}/containerLogs/default/f/c?tailLines=1") as r:
            assert await r.text() == "three\n"
