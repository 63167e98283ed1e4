"""Built-in image names: what runs when a container gives an image but no command."""

from __future__ import annotations

import hashlib
import sys

_PY = ["{python}", "-m"]
_LISTEN = ["--listen", "{pod_ip}:{port}"]

# image repository (no registry, no tag) -> (ENTRYPOINT, CMD), Docker semantics:
# a container's ``command`` replaces the entrypoint (and drops CMD), its ``args`` replace CMD.
# "{python}" is this interpreter, "{pod_ip}"/"{port}" the pod IP and the first container port.
BUILTIN_IMAGES: dict[str, tuple[list[str], list[str]]] = {
    "heron/shop-frontend": (_PY + ["cluster.workloads.frontend"], _LISTEN),
    "heron/shop-cart": (_PY + ["cluster.workloads.cart"], _LISTEN),
    "heron/shop-payments": (_PY + ["cluster.workloads.payments"], _LISTEN),
    "heron/shop-loadgen": (_PY + ["cluster.workloads.loadgen"], _LISTEN),
    "heron/nginx": (_PY + ["cluster.workloads.nginx"], ["--bind", "{pod_ip}", "--port", "{port}"]),
    "nginx": (_PY + ["cluster.workloads.nginx"], ["--bind", "{pod_ip}", "--port", "{port}"]),
    "heron/kube-state-metrics": (
        _PY + ["cluster.metrics.kube_state"],
        ["--host", "{pod_ip}", "--port", "{port}"],
    ),
    "heron/node-exporter": (
        _PY + ["cluster.metrics.node_exporter"],
        ["--web.listen-address={pod_ip}:{port}"],
    ),
    "heron/ingress-controller": (_PY + ["cluster.proxy.ingress"], []),
    "heron/heron": (_PY + ["heron.cli"], []),
    "heron/server": (_PY + ["heron.cli", "server"], []),
    "heron/prometheus": (_PY + ["heron.cli", "server"], []),
    "heron/alertmanager": (_PY + ["heron.cli", "alertmanager"], []),
    "heron/dashboards": (_PY + ["heron.cli", "dashboards"], []),
    "python": ([], ["python3"]),
    "busybox": ([], ["sh"]),
    "alpine": ([], ["/bin/sh"]),
    "debian": ([], ["bash"]),
    "ubuntu": ([], ["bash"]),
}
DEFAULT_PORT: dict[str, int] = {
    "nginx": 80,
    "heron/nginx": 80,
    "heron/shop-loadgen": 8089,
    "heron/node-exporter": 9100,
}


def repository(image: str) -> str:
    """``docker.io/library/nginx:1.14.2`` -> ``nginx``; ``heron/shop-cart:v1`` -> ``heron/shop-cart``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "library/", "ghcr.io/", "quay.io/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def image_id(image: str) -> str:
    digest = hashlib.sha256(repository(image).encode()).hexdigest()
    return f"heron://{repository(image)}@sha256:{digest}"


class ImageError(Exception):
    """The image cannot be run (no command and not a built-in)."""


def entrypoint(
    image: str, command: list[str] | None, args: list[str] | None, pod_ip: str, port: int | None
) -> list[str]:
    """The argv for a container, Docker-style: command replaces the entrypoint, args the cmd."""
    repo = repository(image)
    subst = {"python": sys.executable, "pod_ip": pod_ip, "port": str(port or DEFAULT_PORT.get(repo, 8080))}
    builtin = BUILTIN_IMAGES.get(repo)
    if command:
        argv = list(command) + list(args or [])
    elif builtin is None:
        if args:
            argv = list(args)  # no entrypoint known: run the args (like an image with an empty entrypoint)
        else:
            raise ImageError(
                f'image "{image}" is not a Heron built-in image and the container has no command'
            )
    else:
        ep, cmd = builtin
        argv = [a.format(**subst) for a in ep] + (
            list(args) if args is not None else [a.format(**subst) for a in cmd]
        )
    if not argv:
        raise ImageError(f'image "{image}": nothing to run')
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv
