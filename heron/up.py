"""``heron up``: the embedded cluster plus the monitoring stack, in one command.

Starts the control plane and its nodes (``cluster/``), then installs the stack
into the cluster through the Kubernetes API the way ``helm install
kube-prometheus-stack`` would (``heron/stack/*.yaml``): Prometheus (a heron
server pod discovering everything through ``kubernetes_sd_configs``),
Alertmanager, dashboards, kube-state-metrics, a node-exporter per node, a
webhook receiver that logs notifications, and — unless ``--no-demo`` — the shop
demo (``cluster/workloads/manifests/shop.yaml``). The web UIs are forwarded to
fixed host ports like ``kubectl port-forward`` would. State lives under
``--data``; a second ``heron up`` resumes it. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("heron.up")

Obj = dict[str, Any]

# kind -> (resource plural, namespaced)
_KINDS: dict[str, tuple[str, bool]] = {
    "Namespace": ("namespaces", False),
    "ServiceAccount": ("serviceaccounts", True),
    "ClusterRole": ("clusterroles", False),
    "ClusterRoleBinding": ("clusterrolebindings", False),
    "Role": ("roles", True),
    "RoleBinding": ("rolebindings", True),
    "Secret": ("secrets", True),
    "ConfigMap": ("configmaps", True),
    "Service": ("services", True),
    "Deployment": ("deployments", True),
    "StatefulSet": ("statefulsets", True),
    "DaemonSet": ("daemonsets", True),
    "Ingress": ("ingresses", True),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "ServiceMonitor": ("servicemonitors", True),
    "PodMonitor": ("podmonitors", True),
}


@dataclass
class UpOptions:
    data: Path
    nodes: int = 3
    demo: bool = True
    api_listen: str = "127.0.0.1:6443"
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    dashboards_port: int = 3000
    ingress_listen: str = "127.0.0.1:8080"
    ready_timeout: float = 180.0
    # Faster than Kubernetes' 40 s / 300 s so that a node failure shows within a minute.
    node_monitor_grace_period: float = 15.0
    pod_eviction_timeout: float = 15.0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "up",
        help="start the cluster and the monitoring stack (Prometheus, Alertmanager, dashboards)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("--data", default="heron-data", help="state directory (default ./heron-data)")
    p.add_argument("--nodes", type=int, default=3, help="number of simulated nodes (default 3)")
    p.add_argument("--no-demo", action="store_true", help="do not install the shop demo workloads")
    p.add_argument("--api-listen", default="127.0.0.1:6443", help="Kubernetes API server address")
    p.add_argument("--prometheus-port", type=int, default=9090, help="host port of the Prometheus API")
    p.add_argument("--alertmanager-port", type=int, default=9093, help="host port of the Alertmanager API")
    p.add_argument("--dashboards-port", type=int, default=3000, help="host port of the dashboards")
    p.add_argument("--ingress-listen", default="127.0.0.1:8080", help="ingress controller address")
    p.add_argument("--ready-timeout", type=float, default=180.0, help="seconds to wait for the stack")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=_cmd_up)


def _cmd_up(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    opts = UpOptions(
        data=Path(args.data).resolve(),
        nodes=args.nodes,
        demo=not args.no_demo,
        api_listen=args.api_listen,
        prometheus_port=args.prometheus_port,
        alertmanager_port=args.alertmanager_port,
        dashboards_port=args.dashboards_port,
        ingress_listen=args.ingress_listen,
        ready_timeout=args.ready_timeout,
    )
    try:
        return asyncio.run(up(opts))
    except KeyboardInterrupt:
        return 0
    except OSError as e:
        print(f"heron up: {e}", file=sys.stderr)
        return 1


# ---- manifests ---------------------------------------------------------------------------


def _stack_text(name: str) -> str:
    return resources.files("heron").joinpath("stack", name).read_text(encoding="utf-8")


_VAR = re.compile(r"\$\{([A-Z_]+)\}")


def render(text: str, **values: str) -> str:
    """Fill ``${NAME}`` placeholders; other ``$`` (``$(POD_IP)``, ``$1``) are left alone."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"no value for placeholder ${{{m.group(1)}}}")
        return values[m.group(1)]

    return _VAR.sub(sub, text)


def _indent(text: str, n: int = 4) -> str:
    pad = " " * n
    return "\n".join(pad + line if line else "" for line in text.splitlines())


def monitoring_manifests(opts: UpOptions, api_url: str, webhook_host: str) -> list[Obj]:
    """The monitoring stack's objects, rendered for this data dir and API server."""
    host, _, port = opts.api_listen.rpartition(":")
    prom = render(_stack_text("prometheus.yml"), API_URL=api_url, API_HOSTPORT=f"{host}:{port}")
    am = render(_stack_text("alertmanager.yml"), WEBHOOK_HOST=webhook_host)
    text = render(
        _stack_text("monitoring.yaml"),
        PROMETHEUS_YML=_indent(prom),
        RULES_YML=_indent(_stack_text("rules.yml")),
        ALERTMANAGER_YML=_indent(am),
        DATA_DIR=str(opts.data),
        PROMETHEUS_EXTERNAL_URL=f"http://127.0.0.1:{opts.prometheus_port}",
        ALERTMANAGER_EXTERNAL_URL=f"http://127.0.0.1:{opts.alertmanager_port}",
    )
    return [d for d in yaml.safe_load_all(text) if d]


def demo_manifests() -> list[Obj]:
    text = resources.files("cluster.workloads").joinpath("manifests", "shop.yaml").read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if d]


def object_path(obj: Obj, with_name: bool = True) -> str:
    from cluster.kubelet.client import path_for

    kind = obj["kind"]
    if kind not in _KINDS:
        raise ValueError(f"heron up does not know how to install kind {kind!r}")
    plural, namespaced = _KINDS[kind]
    md = obj["metadata"]
    ns = md.get("namespace", "default") if namespaced else None
    return path_for(obj["apiVersion"], plural, ns, md["name"] if with_name else None)


async def apply(client: Any, obj: Obj) -> Obj:
    """Create ``obj``, or replace the existing object (kept fields: resourceVersion, clusterIP)."""
    from cluster.kubelet.client import ApiError

    try:
        return await client.create(object_path(obj, with_name=False), obj)
    except ApiError as e:
        if e.status != 409:
            raise
    cur = await client.get(object_path(obj))
    new = dict(obj)
    new["metadata"] = {**obj["metadata"], "resourceVersion": cur["metadata"]["resourceVersion"]}
    if obj["kind"] == "Service":
        spec = dict(obj.get("spec", {}))
        for keep in ("clusterIP", "clusterIPs"):
            if keep in cur.get("spec", {}):
                spec[keep] = cur["spec"][keep]
        new["spec"] = spec
    return await client.replace(object_path(obj), new)


# ---- port forwarding -------------------------------------------------------------------


class PortForward:
    """Forward ``127.0.0.1:local`` to a Service's ClusterIP, like ``kubectl port-forward svc/...``."""

    def __init__(self, local_port: int, target_host: str, target_port: int) -> None:
        self.local_port = local_port
        self.target = (target_host, target_port)
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.local_port, reuse_address=True
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            try:
                ur, uw = await asyncio.open_connection(*self.target)
            except OSError:
                writer.close()
                return

            async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                    while data := await r.read(65536):
                        w.write(data)
                        await w.drain()
                with contextlib.suppress(Exception):
                    w.close()

            await asyncio.gather(pipe(reader, uw), pipe(ur, writer))
        finally:
            self._conns.discard(task)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for t in list(self._conns):
                t.cancel()
            await asyncio.gather(*self._conns, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


# ---- the command -------------------------------------------------------------------------


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def _pods_state(client: Any, namespaces: list[str]) -> tuple[int, int, list[str]]:
    total = ready = 0
    waiting: list[str] = []
    for ns in namespaces:
        pods = (await client.list(f"/api/v1/namespaces/{ns}/pods")).get("items", [])
        for p in pods:
            total += 1
            conds = {c.get("type"): c.get("status") for c in p.get("status", {}).get("conditions", [])}
            if p.get("status", {}).get("phase") == "Running" and conds.get("Ready") == "True":
                ready += 1
            else:
                waiting.append(f"{ns}/{p['metadata']['name']}")
    return total, ready, waiting


async def install(client: Any, opts: UpOptions, api_url: str) -> dict[str, str]:
    """Install the stack; returns the ClusterIPs of the forwarded Services."""
    # Services first: their ClusterIPs go into the configs of what follows.
    first = [
        o for o in monitoring_manifests(opts, api_url, "0.0.0.0") if o["kind"] in ("Namespace", "Service")
    ]
    for obj in first:
        await apply(client, obj)
    ips = {}
    for name in ("prometheus", "alertmanager", "dashboards", "webhook-logger"):
        svc = await client.get(f"/api/v1/namespaces/monitoring/services/{name}")
        ips[name] = svc["spec"]["clusterIP"]
    stack = monitoring_manifests(opts, api_url, ips["webhook-logger"])
    # The stack's objects in the demo's namespace (its ServiceMonitors) come with the demo.
    for obj in stack:
        if obj["metadata"].get("namespace") != "shop":
            await apply(client, obj)
    if opts.demo:
        for obj in demo_manifests():
            await apply(client, obj)
        for obj in stack:
            if obj["metadata"].get("namespace") == "shop":
                await apply(client, obj)
    return ips


async def up(
    opts: UpOptions, *, started: asyncio.Event | None = None, stop: asyncio.Event | None = None
) -> int:
    """Run the whole stack until ``stop`` is set (or SIGINT/SIGTERM); returns an exit code."""
    from cluster.controlplane import ControlPlane
    from cluster.kubelet.client import KubeClient

    opts.data.mkdir(parents=True, exist_ok=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    t0 = time.monotonic()
    _say(f"heron up: data in {opts.data}")
    cp = ControlPlane(
        opts.data / "cluster",
        listen=opts.api_listen,
        nodes=opts.nodes,
        prometheus_url=f"http://127.0.0.1:{opts.prometheus_port}",
        node_options={"ingress_listen": opts.ingress_listen},
        node_monitor_grace_period=opts.node_monitor_grace_period,
        pod_eviction_timeout=opts.pod_eviction_timeout,
    )
    forwards: list[PortForward] = []
    client = None
    try:
        await cp.start()
        _say(f"  cluster: API server {cp.url}, {opts.nodes} nodes ({time.monotonic() - t0:.1f}s)")
        client = KubeClient.from_kubeconfig(cp.kubeconfig_path)
        ips = await install(client, opts, cp.url)
        _say(f"  installed the monitoring stack{' and the shop demo' if opts.demo else ''}")
        for port, name, tport in (
            (opts.prometheus_port, "prometheus", 9090),
            (opts.alertmanager_port, "alertmanager", 9093),
            (opts.dashboards_port, "dashboards", 3000),
        ):
            fw = PortForward(port, ips[name], tport)
            await fw.start()
            forwards.append(fw)
        namespaces = ["monitoring"] + (["shop"] if opts.demo else [])
        deadline = time.monotonic() + opts.ready_timeout
        last = ""
        while not stop.is_set():
            total, ready, waiting = await _pods_state(client, namespaces)
            line = f"  pods ready: {ready}/{total}"
            if line != last:
                _say(
                    line
                    + (
                        f"  (waiting: {', '.join(waiting[:4])}{' …' if len(waiting) > 4 else ''})"
                        if waiting
                        else ""
                    )
                )
                last = line
            if total and ready == total:
                break
            if time.monotonic() > deadline:
                _say(f"  still waiting after {opts.ready_timeout:.0f}s; continuing (see kubectl get pods -A)")
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        if stop.is_set():
            return 0
        _say(
            f"\nHeron is up ({time.monotonic() - t0:.0f}s):\n"
            f"  Prometheus API   http://127.0.0.1:{opts.prometheus_port}\n"
            f"  Alertmanager     http://127.0.0.1:{opts.alertmanager_port}\n"
            f"  Dashboards       http://127.0.0.1:{opts.dashboards_port}\n"
            f"  Kubernetes API   {cp.url}   export KUBECONFIG={cp.kubeconfig_path}\n"
            + (f"  Shop (ingress)   http://{opts.ingress_listen}/\n" if opts.demo else "")
            + f"  Notifications    {opts.data / 'notifications' / 'notifications.jsonl'}\n"
            "Ctrl-C stops everything; `heron up` again resumes with the same data."
        )
        if started is not None:
            started.set()
        await stop.wait()
        return 0
    finally:
        _say("heron up: stopping")
        for fw in forwards:
            await fw.stop()
        if client is not None:
            await client.close()
        await cp.stop()
        _say("heron up: stopped")
