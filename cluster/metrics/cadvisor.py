"""cAdvisor-named container metrics, measured from the real pod processes (/proc).

Served by each kubelet at ``/metrics/cadvisor`` (and the smaller
``/metrics/resource``) exactly where a real kubelet serves them, with the same
names and labels (``container``, ``id``, ``image``, ``name``, ``namespace``,
``pod``); pod-level (``container=""``) and root (``id="/"``) series included.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..kubelet._pod import qos_class
from ..kubelet._proc import Usage
from ..kubelet.quantity import parse_quantity
from ._expo import Exposition

if TYPE_CHECKING:
    from ..kubelet._kubelet import Kubelet

H = {
    "container_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed in seconds."),
    "container_cpu_user_seconds_total": ("counter", "Cumulative user cpu time consumed in seconds."),
    "container_cpu_system_seconds_total": ("counter", "Cumulative system cpu time consumed in seconds."),
    "container_memory_working_set_bytes": ("gauge", "Current working set in bytes."),
    "container_memory_rss": ("gauge", "Size of RSS in bytes."),
    "container_memory_usage_bytes": (
        "gauge",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
    ),
    "container_memory_cache": ("gauge", "Number of bytes of page cache memory."),
    "container_memory_swap": ("gauge", "Container swap usage in bytes."),
    "container_oom_events_total": ("counter", "Count of out of memory events observed for the container"),
    "container_threads": ("gauge", "Number of threads running inside the container"),
    "container_processes": ("gauge", "Number of processes running inside the container."),
    "container_file_descriptors": ("gauge", "Number of open file descriptors for the container."),
    "container_start_time_seconds": ("gauge", "Start time of the container since unix epoch in seconds."),
    "container_last_seen": ("gauge", "Last time a container was seen by the exporter"),
    "container_spec_memory_limit_bytes": ("gauge", "Memory limit for the container."),
    "container_spec_cpu_period": ("gauge", "CPU period of the container."),
    "container_spec_cpu_quota": ("gauge", "CPU quota of the container."),
    "container_spec_cpu_shares": ("gauge", "CPU share of the container."),
}


def _res(spec: dict, kind: str, name: str) -> float:
    try:
        return parse_quantity(((spec.get("resources") or {}).get(kind) or {}).get(name))
    except ValueError:
        return 0.0


def render_cadvisor(k: Kubelet) -> str:
    """The kubelet's ``/metrics/cadvisor`` page."""
    ex = Exposition()
    now = time.time()

    def emit(name: str, labels: dict[str, str], v: float) -> None:
        mtype, help_text = H[name]
        ex.add(name, mtype, help_text, labels, v)

    root = Usage()
    for w in list(k.workers.values()):
        qos = qos_class(w.pod).lower()
        pod_id = f"/kubepods/{qos}/pod{w.uid}" if qos != "guaranteed" else f"/kubepods/pod{w.uid}"
        pod_u = Usage()
        pod_oom = 0
        any_running = False
        for c in w.init_containers + w.containers:
            if c.proc is None or not c.proc.running:
                continue
            any_running = True
            u = c.usage
            cid = c.container_id.split("://", 1)[-1]
            lbl = {
                "container": c.name,
                "id": f"{pod_id}/{cid}",
                "image": c.spec.get("image", ""),
                "name": cid,
                "namespace": w.ns,
                "pod": w.name,
            }
            oom = k.oom_events.get((w.ns, w.name, c.name), 0)
            _emit_usage(emit, lbl, u, oom, c.proc.started_at, now)
            emit("container_spec_memory_limit_bytes", lbl, _res(c.spec, "limits", "memory"))
            emit("container_spec_cpu_period", lbl, 100000)
            cpu_lim = _res(c.spec, "limits", "cpu")
            if cpu_lim:
                emit("container_spec_cpu_quota", lbl, int(cpu_lim * 100000))
            emit("container_spec_cpu_shares", lbl, max(int(_res(c.spec, "requests", "cpu") * 1024), 2))
            for f in ("cpu_user", "cpu_system", "rss", "threads", "processes", "fds"):
                setattr(pod_u, f, getattr(pod_u, f) + getattr(u, f))
            pod_oom += oom
        if any_running:
            lbl = {"container": "", "id": pod_id, "image": "", "name": "", "namespace": w.ns, "pod": w.name}
            st = min(
                (c.proc.started_at for c in w.containers if c.proc is not None and c.proc.running),
                default=now,
            )
            _emit_usage(emit, lbl, pod_u, pod_oom, st, now)
            for f in ("cpu_user", "cpu_system", "rss", "threads", "processes", "fds"):
                setattr(root, f, getattr(root, f) + getattr(pod_u, f))
    lbl = {"container": "", "id": "/", "image": "", "name": "", "namespace": "", "pod": ""}
    _emit_usage(emit, lbl, root, sum(k.oom_events.values()), k.started_at, now)
    ex.add(
        "machine_cpu_cores", "gauge", "Number of logical CPU cores.", {}, parse_quantity(k.capacity["cpu"])
    )
    ex.add(
        "machine_memory_bytes",
        "gauge",
        "Amount of memory installed on the machine.",
        {},
        parse_quantity(k.capacity["memory"]),
    )
    return str(ex)


def _emit_usage(emit, lbl: dict[str, str], u: Usage, oom: int, started: float, now: float) -> None:  # type: ignore[no-untyped-def]
    emit("container_cpu_usage_seconds_total", lbl, round(u.cpu_total, 6))
    emit("container_cpu_user_seconds_total", lbl, round(u.cpu_user, 6))
    emit("container_cpu_system_seconds_total", lbl, round(u.cpu_system, 6))
    emit("container_memory_working_set_bytes", lbl, u.rss)
    emit("container_memory_rss", lbl, u.rss)
    emit("container_memory_usage_bytes", lbl, u.rss)
    emit("container_memory_cache", lbl, 0)
    emit("container_memory_swap", lbl, 0)
    emit("container_oom_events_total", lbl, oom)
    emit("container_threads", lbl, u.threads)
    emit("container_processes", lbl, u.processes)
    emit("container_file_descriptors", lbl, u.fds)
    emit("container_start_time_seconds", lbl, round(started, 3))
    emit("container_last_seen", lbl, round(now, 3))


def render_resource(k: Kubelet) -> str:
    """The kubelet's ``/metrics/resource`` page (what metrics-server reads)."""
    ex = Exposition()
    ts = int(time.time() * 1000)
    node_cpu = 0.0
    node_mem = 0
    for w, c in k.running_containers():
        lbl = {"container": c.name, "namespace": w.ns, "pod": w.name}
        ex.family(
            "container_cpu_usage_seconds_total",
            "counter",
            "[STABLE] Cumulative cpu time consumed by the container in core-seconds",
        )
        ex.sample("container_cpu_usage_seconds_total", lbl, round(c.usage.cpu_total, 6), ts)
        ex.family(
            "container_memory_working_set_bytes",
            "gauge",
            "[STABLE] Current working set of the container in bytes",
        )
        ex.sample("container_memory_working_set_bytes", lbl, c.usage.rss, ts)
        ex.family(
            "container_start_time_seconds",
            "gauge",
            "[STABLE] Start time of the container since unix epoch in seconds",
        )
        assert c.proc is not None
        ex.sample("container_start_time_seconds", lbl, round(c.proc.started_at, 3), ts)
        node_cpu += c.usage.cpu_total
        node_mem += c.usage.rss
    pods: dict[tuple[str, str], tuple[float, int]] = {}
    for w, c in k.running_containers():
        cpu, mem = pods.get((w.ns, w.name), (0.0, 0))
        pods[(w.ns, w.name)] = (cpu + c.usage.cpu_total, mem + c.usage.rss)
    for (ns, pod), (cpu, mem) in pods.items():
        ex.family(
            "pod_cpu_usage_seconds_total",
            "counter",
            "[STABLE] Cumulative cpu time consumed by the pod in core-seconds",
        )
        ex.sample("pod_cpu_usage_seconds_total", {"namespace": ns, "pod": pod}, round(cpu, 6), ts)
        ex.family("pod_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the pod in bytes")
        ex.sample("pod_memory_working_set_bytes", {"namespace": ns, "pod": pod}, mem, ts)
    ex.family(
        "node_cpu_usage_seconds_total",
        "counter",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
    )
    ex.sample("node_cpu_usage_seconds_total", {}, round(node_cpu, 6), ts)
    ex.family("node_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the node in bytes")
    ex.sample("node_memory_working_set_bytes", {}, node_mem, ts)
    ex.add(
        "scrape_error",
        "gauge",
        "[ALPHA] 1 if there was an error while getting container metrics, 0 otherwise",
        {},
        0,
    )
    return str(ex)
