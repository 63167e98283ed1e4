"""A deterministic OpenMetrics data set shaped like a small cluster under ``heron up``.

Metric names and labels are the ones kube-state-metrics, cAdvisor, node_exporter, a
prometheus-client web service, Prometheus and Alertmanager expose, so the shipped dashboards
(and real-world Grafana dashboards) find data. Used by the browser tests and the benchmark.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

NODES = [("node-1", "10.0.0.1"), ("node-2", "10.0.0.2")]
# namespace, deployment, replicas, containers, cpu request (cores), memory request (bytes)
WORKLOADS = [
    ("shop", "frontend", 2, ["frontend"], 0.2, 128 << 20),
    ("shop", "cart", 2, ["cart"], 0.1, 96 << 20),
    ("shop", "checkout", 1, ["checkout"], 0.1, 96 << 20),
    ("shop", "loadgen", 1, ["loadgen"], 0.05, 64 << 20),
    ("monitoring", "heron-server", 1, ["server"], 0.5, 512 << 20),
    ("monitoring", "alertmanager", 1, ["alertmanager"], 0.05, 64 << 20),
    ("monitoring", "dashboards", 1, ["dashboards"], 0.1, 128 << 20),
    ("monitoring", "kube-state-metrics", 1, ["kube-state-metrics"], 0.05, 64 << 20),
    ("kube-system", "coredns", 2, ["coredns"], 0.1, 70 << 20),
]
SERVICES = ["frontend", "cart", "checkout"]
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]


@dataclass
class Pod:
    namespace: str
    deployment: str
    name: str
    node: str
    ip: str
    containers: list[str]
    cpu: float
    mem: int


def pods() -> list[Pod]:
    out = []
    n = 0
    for ns, dep, replicas, containers, cpu, mem in WORKLOADS:
        for r in range(replicas):
            node = NODES[n % len(NODES)][0]
            name = f"{dep}-7d9f{n:02d}c5b-{'abcdefgh'[r]}x{r}z"
            out.append(Pod(ns, dep, name, node, f"10.244.{n % 2}.{10 + n}", containers, cpu, mem))
            n += 1
    return out


def _lab(d: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}"


class _Writer:
    def __init__(self, times: list[float]) -> None:
        self.times = times
        self.lines: list[str] = []

    def family(self, name: str, mtype: str, help_: str = "") -> None:
        self.lines.append(f"# TYPE {name} {mtype}")
        if help_:
            self.lines.append(f"# HELP {name} {help_}")

    def series(self, name: str, labels: dict[str, str], values: list[float]) -> None:
        lab = _lab(labels)
        self.lines.extend(f"{name}{lab} {_fmt(v)} {t:.3f}" for t, v in zip(self.times, values, strict=True))

    def const(self, name: str, labels: dict[str, str], v: float) -> None:
        self.series(name, labels, [v] * len(self.times))


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def _counter(
    rng: random.Random, n: int, rate: float, step: float, wave: float = 0.3, phase: float = 0.0
) -> list[float]:
    total = rng.uniform(0, rate * 1000)
    out = []
    for i in range(n):
        r = rate * (1 + wave * math.sin(i / 40 + phase)) * rng.uniform(0.85, 1.15)
        total += max(r, 0) * step
        out.append(round(total, 3))
    return out


def _gauge(
    rng: random.Random, n: int, base: float, amp: float, phase: float = 0.0, integer: bool = False
) -> list[float]:
    out = []
    for i in range(n):
        v = base + amp * math.sin(i / 30 + phase) + rng.uniform(-amp, amp) * 0.2
        out.append(float(round(v)) if integer else round(v, 3))
    return out


def generate(end_s: float, hours: float = 6.0, step_s: float = 30.0, seed: int = 7) -> str:
    """OpenMetrics text with ``hours`` of data ending at ``end_s`` (seconds)."""
    rng = random.Random(seed)
    n = int(hours * 3600 / step_s)
    start = math.floor(end_s / step_s) * step_s - (n - 1) * step_s
    times = [start + i * step_s for i in range(n)]
    w = _Writer(times)
    all_pods = pods()
    ksm = {"job": "kube-state-metrics", "instance": "10.244.0.20:8080"}

    w.family("kube_node_info", "gauge")
    for node, ip in NODES:
        w.const("kube_node_info", {**ksm, "node": node, "internal_ip": ip, "kubelet_version": "v1.32.0"}, 1)
    for fam, vals in (
        ("kube_node_status_allocatable", {"cpu": 4, "memory": 8 << 30, "pods": 110}),
        ("kube_node_status_capacity", {"cpu": 4, "memory": 8 << 30, "pods": 110}),
    ):
        w.family(fam, "gauge")
        for node, _ in NODES:
            for res, v in vals.items():
                unit = {"cpu": "core", "memory": "byte", "pods": "integer"}[res]
                w.const(fam, {**ksm, "node": node, "resource": res, "unit": unit}, v)
    w.family("kube_namespace_status_phase", "gauge")
    for ns in sorted({p.namespace for p in all_pods}):
        w.const("kube_namespace_status_phase", {**ksm, "namespace": ns, "phase": "Active"}, 1)
    w.family("kube_pod_info", "gauge")
    for p in all_pods:
        w.const(
            "kube_pod_info",
            {
                **ksm,
                "namespace": p.namespace,
                "pod": p.name,
                "node": p.node,
                "pod_ip": p.ip,
                "created_by_kind": "ReplicaSet",
                "created_by_name": p.name.rsplit("-", 1)[0],
            },
            1,
        )
    w.family("kube_pod_owner", "gauge")
    for p in all_pods:
        w.const(
            "kube_pod_owner",
            {
                **ksm,
                "namespace": p.namespace,
                "pod": p.name,
                "owner_kind": "ReplicaSet",
                "owner_name": p.name.rsplit("-", 1)[0],
                "owner_is_controller": "true",
            },
            1,
        )
    w.family("kube_pod_status_phase", "gauge")
    for p in all_pods:
        for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown"):
            w.const(
                "kube_pod_status_phase",
                {**ksm, "namespace": p.namespace, "pod": p.name, "phase": phase},
                1 if phase == "Running" else 0,
            )
    w.family("kube_pod_container_info", "gauge")
    for p in all_pods:
        for c in p.containers:
            w.const(
                "kube_pod_container_info",
                {
                    **ksm,
                    "namespace": p.namespace,
                    "pod": p.name,
                    "container": c,
                    "image": f"heron/{c}:latest",
                },
                1,
            )
    for fam, factor in (
        ("kube_pod_container_resource_requests", 1.0),
        ("kube_pod_container_resource_limits", 2.0),
    ):
        w.family(fam, "gauge")
        for p in all_pods:
            for c in p.containers:
                w.const(
                    fam,
                    {
                        **ksm,
                        "namespace": p.namespace,
                        "pod": p.name,
                        "container": c,
                        "node": p.node,
                        "resource": "cpu",
                        "unit": "core",
                    },
                    p.cpu * factor,
                )
                w.const(
                    fam,
                    {
                        **ksm,
                        "namespace": p.namespace,
                        "pod": p.name,
                        "container": c,
                        "node": p.node,
                        "resource": "memory",
                        "unit": "byte",
                    },
                    p.mem * factor,
                )
    w.family("kube_pod_container_status_restarts", "counter")
    for i, p in enumerate(all_pods):
        for c in p.containers:
            restarts = [float(min(k // 300, 2)) if i % 4 == 1 else 0.0 for k in range(n)]
            w.series(
                "kube_pod_container_status_restarts_total",
                {**ksm, "namespace": p.namespace, "pod": p.name, "container": c},
                restarts,
            )
    w.family("kube_pod_container_status_ready", "gauge")
    for p in all_pods:
        for c in p.containers:
            w.const(
                "kube_pod_container_status_ready",
                {**ksm, "namespace": p.namespace, "pod": p.name, "container": c},
                1,
            )
    deployments: dict[tuple[str, str], int] = {}
    for ns, dep, replicas, *_ in WORKLOADS:
        deployments[(ns, dep)] = replicas
    for fam in (
        "kube_deployment_spec_replicas",
        "kube_deployment_status_replicas",
        "kube_deployment_status_replicas_available",
    ):
        w.family(fam, "gauge")
        for (ns, dep), r in deployments.items():
            w.const(fam, {**ksm, "namespace": ns, "deployment": dep}, r)

    # cAdvisor (kubelet /metrics/cadvisor)
    def cad(p: Pod, c: str) -> dict[str, str]:
        return {
            "job": "kubelet",
            "metrics_path": "/metrics/cadvisor",
            "instance": dict(NODES)[p.node] + ":10250",
            "node": p.node,
            "namespace": p.namespace,
            "pod": p.name,
            "container": c,
            "image": f"heron/{c}:latest",
            "id": f"/kubepods/{p.name}/{c}",
        }

    w.family("container_cpu_usage_seconds", "counter")
    for i, p in enumerate(all_pods):
        for c in p.containers:
            w.series(
                "container_cpu_usage_seconds_total", cad(p, c), _counter(rng, n, p.cpu * 0.6, step_s, phase=i)
            )
    w.family("container_memory_working_set_bytes", "gauge")
    for i, p in enumerate(all_pods):
        for c in p.containers:
            w.series(
                "container_memory_working_set_bytes",
                cad(p, c),
                _gauge(rng, n, p.mem * 0.7, p.mem * 0.1, phase=i, integer=True),
            )
    for fam in ("container_network_receive_bytes", "container_network_transmit_bytes"):
        w.family(fam, "counter")
        for i, p in enumerate(all_pods):
            labels = {k: v for k, v in cad(p, "POD").items() if k not in ("container", "image")}
            labels["interface"] = "eth0"
            w.series(fam + "_total", labels, _counter(rng, n, 20_000 + 5_000 * i, step_s, phase=i))

    # node_exporter
    def ne(node: str, ip: str) -> dict[str, str]:
        return {"job": "node-exporter", "instance": f"{ip}:9100", "node": node}

    w.family("node_cpu_seconds", "counter")
    for j, (node, ip) in enumerate(NODES):
        for cpu in range(4):
            for mode, rate in (
                ("idle", 0.55),
                ("user", 0.25),
                ("system", 0.12),
                ("iowait", 0.03),
                ("irq", 0.01),
                ("softirq", 0.01),
                ("steal", 0.0),
            ):
                w.series(
                    "node_cpu_seconds_total",
                    {**ne(node, ip), "cpu": str(cpu), "mode": mode},
                    _counter(rng, n, rate, step_s, wave=0.2, phase=j + cpu),
                )
    for fam, base in (("node_load1", 1.2), ("node_load5", 1.0), ("node_load15", 0.9)):
        w.family(fam, "gauge")
        for j, (node, ip) in enumerate(NODES):
            w.series(fam, ne(node, ip), _gauge(rng, n, base, 0.4, phase=j))
    mem_total = 8 << 30
    for fam, frac in (
        ("node_memory_MemTotal_bytes", None),
        ("node_memory_MemAvailable_bytes", 0.45),
        ("node_memory_MemFree_bytes", 0.2),
        ("node_memory_Cached_bytes", 0.2),
        ("node_memory_Buffers_bytes", 0.05),
    ):
        w.family(fam, "gauge")
        for j, (node, ip) in enumerate(NODES):
            if frac is None:
                w.const(fam, ne(node, ip), mem_total)
            else:
                w.series(
                    fam,
                    ne(node, ip),
                    _gauge(rng, n, mem_total * frac, mem_total * 0.03, phase=j, integer=True),
                )
    for fam in ("node_filesystem_size_bytes", "node_filesystem_avail_bytes"):
        w.family(fam, "gauge")
        for j, (node, ip) in enumerate(NODES):
            for dev, mp, size in (("/dev/sda1", "/", 100 << 30), ("/dev/sdb1", "/var/lib/heron", 200 << 30)):
                lab = {**ne(node, ip), "device": dev, "mountpoint": mp, "fstype": "ext4"}
                if fam.endswith("size_bytes"):
                    w.const(fam, lab, size)
                else:
                    w.series(fam, lab, _gauge(rng, n, size * (0.6 - 0.2 * j), size * 0.01, integer=True))
    for fam, rate in (
        ("node_disk_read_bytes", 200_000),
        ("node_disk_written_bytes", 500_000),
        ("node_disk_io_time_seconds", 0.05),
    ):
        w.family(fam, "counter")
        for j, (node, ip) in enumerate(NODES):
            for dev in ("sda", "sdb"):
                w.series(
                    fam + "_total", {**ne(node, ip), "device": dev}, _counter(rng, n, rate, step_s, phase=j)
                )
    for fam, rate in (
        ("node_network_receive_bytes", 150_000),
        ("node_network_transmit_bytes", 90_000),
        ("node_network_receive_errs", 0.01),
        ("node_network_transmit_errs", 0.0),
    ):
        w.family(fam, "counter")
        for j, (node, ip) in enumerate(NODES):
            for dev in ("eth0", "lo"):
                w.series(
                    fam + "_total", {**ne(node, ip), "device": dev}, _counter(rng, n, rate, step_s, phase=j)
                )
    w.family("node_uname_info", "gauge")
    for node, ip in NODES:
        w.const(
            "node_uname_info",
            {
                **ne(node, ip),
                "nodename": node,
                "release": "6.1.0-heron",
                "machine": "x86_64",
                "sysname": "Linux",
            },
            1,
        )
    w.family("node_boot_time_seconds", "gauge")
    for j, (node, ip) in enumerate(NODES):
        w.const("node_boot_time_seconds", ne(node, ip), start - 86400 * (3 + j))
    w.family("node_time_seconds", "gauge")
    for node, ip in NODES:
        w.series("node_time_seconds", ne(node, ip), list(times))

    # the shop: prometheus-client web services
    shop = [p for p in all_pods if p.namespace == "shop" and p.deployment in SERVICES]
    w.family("http_requests", "counter", "Total HTTP requests.")
    for i, p in enumerate(shop):
        base = {
            "job": p.deployment,
            "namespace": "shop",
            "service": p.deployment,
            "pod": p.name,
            "instance": f"{p.ip}:8080",
        }
        for method, code, rate in (
            ("GET", "200", 12.0),
            ("POST", "200", 3.0),
            ("GET", "404", 0.3),
            ("GET", "500", 0.2 + 0.1 * i),
        ):
            w.series(
                "http_requests_total",
                {**base, "method": method, "code": code},
                _counter(rng, n, rate, step_s, phase=i),
            )
    w.family("http_request_duration_seconds", "histogram", "HTTP request latency.")
    for i, p in enumerate(shop):
        base = {
            "job": p.deployment,
            "namespace": "shop",
            "service": p.deployment,
            "pod": p.name,
            "instance": f"{p.ip}:8080",
        }
        rate = 15.0
        cum = [0.0] * n
        totals = []
        fracs = [0.05, 0.15, 0.35, 0.6, 0.8, 0.93, 0.97, 0.99, 0.997, 0.999, 1.0]
        count_series = _counter(rng, n, rate, step_s, phase=i)
        for le, frac in zip(BUCKETS, fracs, strict=True):
            vals = [round(c * frac * (1 + 0.01 * i)) if frac < 1 else round(c) for c in count_series]
            vals = [min(v, round(c)) for v, c in zip(vals, count_series, strict=True)]
            w.series(
                "http_request_duration_seconds_bucket", {**base, "le": _fmt(le)}, [float(v) for v in vals]
            )
            cum = vals
        totals = [float(round(c)) for c in count_series]
        w.series("http_request_duration_seconds_bucket", {**base, "le": "+Inf"}, totals)
        w.series("http_request_duration_seconds_count", base, totals)
        w.series("http_request_duration_seconds_sum", base, [round(c * 0.08, 3) for c in count_series])
        del cum

    # Prometheus / Heron server self-metrics
    srv = {"job": "heron-server", "instance": "10.244.0.14:9090"}
    w.family("prometheus_build_info", "gauge")
    w.const(
        "prometheus_build_info",
        {**srv, "version": "0.1.0", "branch": "main", "revision": "heron", "goversion": "python3.11"},
        1,
    )
    w.family("prometheus_tsdb_head_series", "gauge")
    w.series("prometheus_tsdb_head_series", srv, _gauge(rng, n, 12000, 800, integer=True))
    w.family("prometheus_tsdb_head_chunks", "gauge")
    w.series("prometheus_tsdb_head_chunks", srv, _gauge(rng, n, 36000, 2000, integer=True))
    w.family("prometheus_tsdb_head_samples_appended", "counter")
    w.series(
        "prometheus_tsdb_head_samples_appended_total", {**srv, "type": "float"}, _counter(rng, n, 800, step_s)
    )
    w.family("prometheus_tsdb_blocks_loaded", "gauge")
    w.series("prometheus_tsdb_blocks_loaded", srv, [float(3 + k // 240) for k in range(n)])
    w.family("prometheus_engine_query_duration_seconds", "summary")
    for slc in ("inner_eval", "prepare_time", "queue_time", "result_sort"):
        c = _counter(rng, n, 2.0, step_s)
        w.series("prometheus_engine_query_duration_seconds_count", {**srv, "slice": slc}, c)
        w.series(
            "prometheus_engine_query_duration_seconds_sum",
            {**srv, "slice": slc},
            [round(x * 0.004, 4) for x in c],
        )
    w.family("prometheus_http_request_duration_seconds", "histogram")
    for handler in ("/api/v1/query", "/api/v1/query_range", "/api/v1/write"):
        c = _counter(rng, n, 3.0, step_s)
        for le, frac in zip(
            [0.1, 0.2, 0.4, 1, 3, 8, 20, 60, 120], [0.6, 0.8, 0.9, 0.97, 0.99, 1, 1, 1, 1], strict=True
        ):
            w.series(
                "prometheus_http_request_duration_seconds_bucket",
                {**srv, "handler": handler, "le": _fmt(le)},
                [float(round(x * frac)) for x in c],
            )
        w.series(
            "prometheus_http_request_duration_seconds_bucket",
            {**srv, "handler": handler, "le": "+Inf"},
            [float(round(x)) for x in c],
        )
    w.family("prometheus_rule_group_last_duration_seconds", "gauge")
    for g in ("heron.rules", "shop.alerts"):
        w.series(
            "prometheus_rule_group_last_duration_seconds",
            {**srv, "rule_group": f"/etc/heron/rules.yml;{g}"},
            _gauge(rng, n, 0.02, 0.01),
        )
    for fam, rate in (("prometheus_rule_evaluations", 0.4), ("prometheus_rule_evaluation_failures", 0.0)):
        w.family(fam, "counter")
        for g in ("heron.rules", "shop.alerts"):
            w.series(
                fam + "_total",
                {**srv, "rule_group": f"/etc/heron/rules.yml;{g}"},
                _counter(rng, n, rate, step_s) if rate else [0.0] * n,
            )
    w.family("process_resident_memory_bytes", "gauge")
    w.series("process_resident_memory_bytes", srv, _gauge(rng, n, 300 << 20, 20 << 20, integer=True))
    w.family("up", "gauge")
    targets = [
        ("heron-server", "10.244.0.14:9090"),
        ("alertmanager", "10.244.0.15:9093"),
        ("kube-state-metrics", "10.244.0.20:8080"),
    ]
    targets += [("node-exporter", f"{ip}:9100") for _, ip in NODES] + [
        (p.deployment, f"{p.ip}:8080") for p in shop
    ]
    for job, inst in targets:
        w.const("up", {"job": job, "instance": inst}, 1)
    w.family("scrape_duration_seconds", "gauge")
    for job, inst in targets:
        w.series("scrape_duration_seconds", {"job": job, "instance": inst}, _gauge(rng, n, 0.01, 0.004))

    # Alertmanager
    am = {"job": "alertmanager", "instance": "10.244.0.15:9093"}
    w.family("alertmanager_alerts", "gauge")
    for st, base in (("active", 3), ("suppressed", 1), ("unprocessed", 0)):
        w.series(
            "alertmanager_alerts", {**am, "state": st}, _gauge(rng, n, base, 1 if base else 0, integer=True)
        )
    w.family("alertmanager_alerts_received", "counter")
    for status, rate in (("firing", 0.2), ("resolved", 0.05)):
        w.series(
            "alertmanager_alerts_received_total",
            {**am, "status": status, "version": "v2"},
            _counter(rng, n, rate, step_s),
        )
    for fam, rate in (("alertmanager_notifications", 0.05), ("alertmanager_notifications_failed", 0.002)):
        w.family(fam, "counter")
        w.series(fam + "_total", {**am, "integration": "webhook"}, _counter(rng, n, rate, step_s))
    w.family("alertmanager_notification_latency_seconds", "histogram")
    c = _counter(rng, n, 0.05, step_s)
    for le, frac in zip([1, 5, 10, 15, 20], [0.9, 0.99, 1, 1, 1], strict=True):
        w.series(
            "alertmanager_notification_latency_seconds_bucket",
            {**am, "integration": "webhook", "le": _fmt(le)},
            [float(round(x * frac, 3)) for x in c],
        )
    w.series(
        "alertmanager_notification_latency_seconds_bucket", {**am, "integration": "webhook", "le": "+Inf"}, c
    )
    w.family("alertmanager_silences", "gauge")
    for st, v in (("active", 1), ("expired", 2), ("pending", 0)):
        w.const("alertmanager_silences", {**am, "state": st}, v)
    w.lines.append("# EOF")
    return "\n".join(w.lines) + "\n"


def write(path: Path, end_s: float, hours: float = 6.0, step_s: float = 30.0) -> Path:
    """Write :func:`generate` output to ``path``."""
    path.write_text(generate(end_s, hours, step_s))
    return path


def metric_names(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            yield line.split()[2]
