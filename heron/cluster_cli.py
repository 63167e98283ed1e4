"""``heron cluster``: the embedded Kubernetes control plane in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:  # type: ignore[type-arg]
    """Add ``heron cluster`` to the ``heron`` command's subparsers."""
    p = sub.add_parser(
        "cluster",
        help="run the embedded Kubernetes control plane (API server, scheduler, controllers)",
        description=(
            "Run Heron's Kubernetes-compatible control plane in the foreground. An admin kubeconfig is "
            "written to DIR/kubeconfig once the API is ready (use it with kubectl)."
        ),
    )
    p.add_argument(
        "--data", default="./heron-data/cluster", help="state directory (default ./heron-data/cluster)"
    )
    p.add_argument("--listen", default="127.0.0.1:6443", help="API server address (default 127.0.0.1:6443)")
    p.add_argument("--nodes", type=int, default=0, help="number of nodes (kubelets) to start (default 0)")
    p.add_argument(
        "--hollow-nodes",
        action="store_true",
        help="simulate nodes without running pod processes (pods are reported Running at once)",
    )
    p.add_argument(
        "--prometheus-url", default=None, help="Prometheus-compatible URL the HPA reads metrics from"
    )
    p.add_argument(
        "--pod-eviction-timeout",
        type=float,
        default=300.0,
        help="seconds pods stay on an unreachable node before eviction (default 300, as Kubernetes)",
    )
    p.add_argument(
        "--node-monitor-grace-period",
        type=float,
        default=40.0,
        help="seconds without a heartbeat before a node is NotReady (default 40)",
    )
    p.add_argument("--insecure-http", action="store_true", help="serve plain HTTP instead of HTTPS")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=_cmd_cluster)
    _register_node_commands(p)
    return p


def _register_node_commands(p: argparse.ArgumentParser) -> None:
    """``heron cluster fault ...`` and ``heron cluster node stop|start NAME`` (node side, cluster.faults)."""
    try:
        from cluster import faults
    except ImportError:  # node side not present
        return
    sub = p.add_subparsers(dest="cluster_command", metavar="{fault,node}")
    f = sub.add_parser("fault", help="inject or clear a fault (latency, errors, crash, leak, node down)")
    faults.build_parser(f)
    f.set_defaults(func=_cmd_fault)
    n = sub.add_parser("node", help="stop or start a node's kubelet (its pods move elsewhere)")
    n.add_argument("action", choices=["stop", "start"])
    n.add_argument("name", help="node name, e.g. node-2")
    n.add_argument("--kubeconfig", help="default: $KUBECONFIG, else ./heron-data/cluster/kubeconfig")
    n.add_argument("--server")
    n.add_argument("--token")
    n.set_defaults(func=_cmd_node)


def _cmd_fault(args: argparse.Namespace) -> int:
    from cluster import faults

    return asyncio.run(faults.run(args))


def _cmd_node(args: argparse.Namespace) -> int:
    from cluster import faults

    async def go() -> int:
        client = faults.client_from_args(args)
        try:
            await faults.set_node_down(client, args.name, args.action == "stop")
        except Exception as e:  # noqa: BLE001 - report, do not trace
            print(f"error: {e}", file=sys.stderr)
            return 1
        finally:
            await client.close()
        print(f"node {args.name}: {'stopped' if args.action == 'stop' else 'started'}")
        return 0

    return asyncio.run(go())


def _cmd_cluster(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        pass
    return 0


async def _run(args: argparse.Namespace) -> None:
    from cluster.controlplane import ControlPlane

    factory = None
    if args.hollow_nodes:
        from cluster.controllers.hollow import hollow_node_factory

        factory = hollow_node_factory
    cp = ControlPlane(
        Path(args.data),
        listen=args.listen,
        nodes=args.nodes,
        node_factory=factory,
        prometheus_url=args.prometheus_url,
        tls=not args.insecure_http,
        pod_eviction_timeout=args.pod_eviction_timeout,
        node_monitor_grace_period=args.node_monitor_grace_period,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await cp.start()
    print(
        f"heron cluster: API server at {cp.url}\n"
        f"  export KUBECONFIG={cp.kubeconfig_path.resolve()}\n"
        "  Ctrl-C stops the cluster (state is kept in the data directory).",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        print("heron cluster: stopping", file=sys.stderr, flush=True)
        await cp.stop()
