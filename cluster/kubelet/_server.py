"""The kubelet's HTTP API on ``<node IP>:10250`` (plain HTTP).

Paths are the real kubelet's: ``/healthz``, ``/pods``,
``/containerLogs/<ns>/<pod>/<container>``, ``/metrics``, ``/metrics/cadvisor``,
``/metrics/resource``, ``/metrics/probes``, ``/stats/summary``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..metrics._expo import CONTENT_TYPE, Exposition
from ..metrics.cadvisor import render_cadvisor, render_resource

if TYPE_CHECKING:
    from ._kubelet import Kubelet
    from ._pod import PodWorker


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain")


def _metrics(body: str) -> web.Response:
    return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})


class KubeletServer:
    def __init__(self, k: Kubelet) -> None:
        self.k = k
        self.app = web.Application()
        r = self.app.router
        r.add_get("/healthz", self.healthz)
        r.add_get("/pods", self.pods)
        r.add_get("/containerLogs/{ns}/{pod}/{container}", self.logs)
        r.add_get("/metrics", self.metrics)
        r.add_get("/metrics/cadvisor", self.cadvisor)
        r.add_get("/metrics/resource", self.resource)
        r.add_get("/metrics/probes", self.probes)
        r.add_get("/stats/summary", self.summary)
        self.runner: web.AppRunner | None = None

    async def healthz(self, request: web.Request) -> web.Response:
        return _text("ok")

    async def cadvisor(self, request: web.Request) -> web.Response:
        return _metrics(render_cadvisor(self.k))

    async def resource(self, request: web.Request) -> web.Response:
        return _metrics(render_resource(self.k))

    async def start(self, host: str, port: int) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        site = web.SockSite(self.runner, sock)
        await site.start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def _find(self, ns: str, name: str) -> PodWorker | None:
        cands = [w for w in self.k.workers.values() if w.ns == ns and w.name == name]
        live = [w for w in cands if not w.terminating]
        best = live or cands
        return best[0] if best else None

    async def pods(self, request: web.Request) -> web.Response:
        items = []
        for w in list(self.k.workers.values()):
            p = dict(w.pod)
            p["status"] = w.status()
            items.append(p)
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    async def logs(self, request: web.Request) -> web.StreamResponse:
        ns, name, cname = (request.match_info[k] for k in ("ns", "pod", "container"))
        q = request.query
        w = self._find(ns, name)
        if w is None:
            return _text(f'pod "{name}" in namespace "{ns}" not found on node {self.k.node_name}', 404)
        c = next((c for c in w.init_containers + w.containers if c.name == cname), None)
        if c is None:
            return _text(f'container "{cname}" in pod "{name}" is not available', 400)
        previous = q.get("previous", "false").lower() in ("1", "true")
        n = c.restart_count - 1 if previous else c.restart_count
        path = w.log_path(cname, n)
        if previous and (n < 0 or not path.exists()):
            return _text(f'previous terminated container "{cname}" in pod "{name}" not found', 400)
        data = path.read_bytes() if path.exists() else b""
        if "tailLines" in q:
            t = int(q["tailLines"])
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-t:]) if t > 0 else b""
        if "limitBytes" in q:
            data = data[: int(q["limitBytes"])]
        follow = q.get("follow", "false").lower() in ("1", "true") and not previous
        if not follow:
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        await resp.write(data)
        pos = path.stat().st_size if path.exists() else 0
        proc = c.proc
        while True:
            await asyncio.sleep(0.2)
            if path.exists():
                with open(path, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
                if chunk:
                    pos += len(chunk)
                    await resp.write(chunk)
            if proc is None or not proc.running or c.restart_count != n:
                break
        return resp

    async def metrics(self, request: web.Request) -> web.Response:
        k = self.k
        ex = Exposition()
        ex.add(
            "kubelet_node_name",
            "gauge",
            "[ALPHA] The node's name. The count is always 1.",
            {"node": k.node_name},
            1,
        )
        running_pods = sum(
            1 for w in k.workers.values() if any(c.proc and c.proc.running for c in w.containers)
        )
        ex.add(
            "kubelet_running_pods",
            "gauge",
            "[ALPHA] Number of pods that have a running pod sandbox",
            {},
            running_pods,
        )
        states: dict[str, int] = {"running": 0, "exited": 0, "created": 0, "unknown": 0}
        for w in k.workers.values():
            for c in w.init_containers + w.containers:
                if "running" in c.state:
                    states["running"] += 1
                elif "terminated" in c.state or c.last_state:
                    states["exited"] += 1
                else:
                    states["created"] += 1
        ex.family("kubelet_running_containers", "gauge", "[ALPHA] Number of containers currently running")
        for s, v in states.items():
            ex.sample("kubelet_running_containers", {"container_state": s}, v)
        restarts = sum(c.restart_count for w in k.workers.values() for c in w.containers)
        ex.add(
            "kubelet_container_restarts_total",
            "counter",
            "Restarts of containers on this node (Heron).",
            {},
            restarts,
        )
        ex.add(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            {},
            k.started_at,
        )
        return _metrics(str(ex))

    async def probes(self, request: web.Request) -> web.Response:
        ex = Exposition()
        ex.family(
            "prober_probe_total",
            "counter",
            "[ALPHA] Cumulative number of a liveness, readiness or startup probe for a container by result.",
        )
        for (kind, result, cname, pod, ns, uid), v in sorted(self.k.probe_counts.items()):
            ex.sample(
                "prober_probe_total",
                {
                    "container": cname,
                    "namespace": ns,
                    "pod": pod,
                    "pod_uid": uid,
                    "probe_type": kind,
                    "result": result,
                },
                v,
            )
        return _metrics(str(ex))

    async def summary(self, request: web.Request) -> web.Response:
        return web.json_response(stats_summary(self.k), dumps=json.dumps)


def stats_summary(k: Kubelet) -> dict[str, Any]:
    """``/stats/summary`` in the kubelet's shape (node and per-pod cpu/memory)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    pods = []
    tot_cpu = tot_user = 0.0
    tot_mem = 0
    for w in list(k.workers.values()):
        containers = []
        p_cpu = p_user = 0.0
        p_mem = 0
        for c in w.init_containers + w.containers:
            if c.proc is None or not c.proc.running:
                continue
            u = c.usage
            containers.append(
                {
                    "name": c.name,
                    "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.proc.started_at)),
                    "cpu": {"time": now, "usageCoreNanoSeconds": int(u.cpu_total * 1e9)},
                    "memory": {"time": now, "workingSetBytes": u.rss, "rssBytes": u.rss, "usageBytes": u.rss},
                }
            )
            p_cpu += u.cpu_total
            p_user += u.cpu_user
            p_mem += u.rss
        pods.append(
            {
                "podRef": {"name": w.name, "namespace": w.ns, "uid": w.uid},
                "startTime": w.start_time,
                "containers": containers,
                "cpu": {"time": now, "usageCoreNanoSeconds": int(p_cpu * 1e9)},
                "memory": {"time": now, "workingSetBytes": p_mem, "rssBytes": p_mem, "usageBytes": p_mem},
            }
        )
        tot_cpu += p_cpu
        tot_user += p_user
        tot_mem += p_mem
    ret_user, ret_sys = k.cpu_retired
    from .quantity import parse_quantity

    mem_cap = int(parse_quantity(k.capacity["memory"]))
    return {
        "node": {
            "nodeName": k.node_name,
            "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(k.started_at)),
            "cpu": {
                "time": now,
                "usageCoreNanoSeconds": int((tot_cpu + ret_user + ret_sys) * 1e9),
                # Heron extension: user/system split for node_exporter's node_cpu_seconds_total
                "userCoreNanoSeconds": int((tot_user + ret_user) * 1e9),
            },
            # Heron extension: the simulated node's size, for node_exporter
            "heron": {"cpuCapacity": parse_quantity(k.capacity["cpu"]), "memoryCapacity": mem_cap},
            "memory": {
                "time": now,
                "availableBytes": max(mem_cap - tot_mem, 0),
                "usageBytes": tot_mem,
                "workingSetBytes": tot_mem,
                "rssBytes": tot_mem,
            },
        },
        "pods": pods,
    }
