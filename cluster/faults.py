"""The fault switch: inject latency, errors, crashes, memory leaks, CPU burn or a node failure.

Faults travel through the Kubernetes API as the annotation ``heron.dev/fault``,
so they are visible (``kubectl describe``), durable, and work from any client:

- on **pods**: the demo services read their own annotations through a
  downward-API volume (``FAULT_FILE``) within a second. Specs, combinable with
  commas: ``latency=300ms``, ``errors=0.2`` (ratio of HTTP 500s), ``crash``
  (the process exits 1 and keeps doing so: CrashLoopBackOff), ``leak=5MB/s``,
  ``cpu=0.8`` (fraction of a core), ``none``.
- on a **node**: ``down`` makes its kubelet behave like a dead machine (every
  process killed, no heartbeats) until the annotation is removed.

Library use::

    await inject(client, "deployment/payments", "errors=0.5", namespace="shop")
    await clear(client, "deployment/payments", namespace="shop")
    await inject(client, "node/node-2", "down")

Command line (what ``heron cluster fault`` runs)::

    python -m cluster.faults deployment/payments errors=0.5 -n shop [--kubeconfig F]
    python -m cluster.faults deployment/payments --clear -n shop
    python -m cluster.faults node/node-2 down
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from .kubelet.client import ApiError, KubeClient, path_for

FAULT_ANNOTATION = "heron.dev/fault"
Obj = dict[str, Any]

_WORKLOADS = {
    "deployment": ("apps/v1", "deployments"),
    "deploy": ("apps/v1", "deployments"),
    "statefulset": ("apps/v1", "statefulsets"),
    "sts": ("apps/v1", "statefulsets"),
    "daemonset": ("apps/v1", "daemonsets"),
    "ds": ("apps/v1", "daemonsets"),
    "replicaset": ("apps/v1", "replicasets"),
    "rs": ("apps/v1", "replicasets"),
    "service": ("v1", "services"),
    "svc": ("v1", "services"),
}


class FaultError(Exception):
    """The target or the spec is not valid."""


def validate(spec: str, node: bool = False) -> str:
    """Check a fault spec (raises :class:`FaultError`)."""
    if node:
        if spec.strip().lower() not in ("down", "up", "none", ""):
            raise FaultError(f"node faults are 'down' or 'up', not {spec!r}")
        return spec.strip().lower()
    from .workloads._common import Fault

    try:
        Fault.parse(spec)
    except ValueError as e:
        raise FaultError(str(e)) from None
    return spec.strip()


def _selector(match_labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


async def target_pods(client: KubeClient, target: str, namespace: str) -> list[Obj]:
    """Pods named by ``pod/NAME``, ``deployment/NAME``, ``service/NAME``, ... or a label selector ``-l``-style ``app=x``."""
    kind, _, name = target.partition("/")
    kind = kind.lower()
    if not name and "=" in kind:
        lst = await client.list(path_for("v1", "pods", namespace), labelSelector=target)
        return list(lst.get("items") or [])
    if kind in ("pod", "pods", "po"):
        return [await client.get(path_for("v1", "pods", namespace, name))]
    if kind not in _WORKLOADS:
        raise FaultError(
            f"unknown target kind {kind!r} (pod, deployment, statefulset, daemonset, service, node)"
        )
    gv, res = _WORKLOADS[kind]
    obj = await client.get(path_for(gv, res, namespace, name))
    spec = obj.get("spec") or {}
    labels = spec.get("selector") if res == "services" else (spec.get("selector") or {}).get("matchLabels")
    if not labels:
        raise FaultError(f"{target} has no label selector")
    lst = await client.list(path_for("v1", "pods", namespace), labelSelector=_selector(labels))
    return list(lst.get("items") or [])


async def _annotate(
    client: KubeClient, gv: str, res: str, ns: str | None, name: str, value: str | None
) -> None:
    await client.patch(path_for(gv, res, ns, name), {"metadata": {"annotations": {FAULT_ANNOTATION: value}}})


async def inject(client: KubeClient, target: str, spec: str, namespace: str = "default") -> list[str]:
    """Set the fault on the target's pods (or node); returns what was annotated."""
    kind, _, name = target.partition("/")
    if kind.lower() in ("node", "nodes", "no"):
        s = validate(spec, node=True)
        await _annotate(client, "v1", "nodes", None, name, None if s in ("up", "none", "") else s)
        return [f"node/{name}"]
    spec = validate(spec)
    value = None if spec.lower() in ("", "none", "clear", "off") else spec
    done = []
    for pod in await target_pods(client, target, namespace):
        md = pod["metadata"]
        await _annotate(client, "v1", "pods", md.get("namespace", namespace), md["name"], value)
        done.append(f"pod/{md['name']}")
    return done


async def clear(client: KubeClient, target: str, namespace: str = "default") -> list[str]:
    """Remove the fault from the target's pods (or bring the node back)."""
    kind, _, name = target.partition("/")
    if kind.lower() in ("node", "nodes", "no"):
        return await inject(client, target, "up", namespace)
    return await inject(client, target, "none", namespace)


async def set_node_down(client: KubeClient, node: str, down: bool = True) -> None:
    """``heron cluster node stop|start NAME``: the node's kubelet dies (processes killed,
    no heartbeats, so the control plane marks it NotReady and evicts) or comes back."""
    await inject(client, f"node/{node}", "down" if down else "up")


DEFAULT_KUBECONFIG = "./heron-data/cluster/kubeconfig"


def build_parser(p: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = p or argparse.ArgumentParser(prog="heron cluster fault", description="Inject or clear a fault.")
    p.add_argument(
        "target", help="deployment/NAME, pod/NAME, service/NAME, statefulset/NAME, node/NAME or app=LABEL"
    )
    p.add_argument(
        "spec",
        nargs="?",
        default="",
        help="latency=300ms, errors=0.2, crash, leak=5MB/s, cpu=0.8, none; node: down|up",
    )
    p.add_argument("--clear", action="store_true", help="remove the fault")
    p.add_argument("-n", "--namespace", default="default")
    p.add_argument("--kubeconfig", help=f"default: $KUBECONFIG, else {DEFAULT_KUBECONFIG}")
    p.add_argument("--server")
    p.add_argument("--token")
    return p


def client_from_args(args: argparse.Namespace) -> KubeClient:
    """``--server/--token``, ``--kubeconfig``, ``$KUBECONFIG``, then Heron's default kubeconfig."""
    import os

    kubeconfig = args.kubeconfig
    if (
        not args.server
        and not kubeconfig
        and not os.environ.get("KUBECONFIG")
        and os.path.exists(DEFAULT_KUBECONFIG)
    ):
        kubeconfig = DEFAULT_KUBECONFIG
    return KubeClient.from_args(args.server, kubeconfig, args.token)


async def run(args: argparse.Namespace) -> int:
    """Run the parsed ``heron cluster fault`` command."""
    client = client_from_args(args)
    try:
        if args.clear:
            done = await clear(client, args.target, args.namespace)
        else:
            if not args.spec:
                print("a fault spec is required (or --clear)", file=sys.stderr)
                return 2
            done = await inject(client, args.target, args.spec, args.namespace)
    except (FaultError, ApiError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        await client.close()
    verb = "cleared" if args.clear else f"set {args.spec!r} on"
    print(f"fault {verb} {', '.join(done) if done else 'no pods'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
