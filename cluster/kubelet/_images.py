"""Built-in image names: what runs when a container gives an image but no command."""

from __future__ import annotations

import hashlib
import sys

# image repository (no registry, no tag) -> entrypoint; "{python}" is this interpreter
BUILTIN_IMAGES: dict[str, list[str]] = {
    "heron/shop-frontend": ["{python}", "-m", "cluster.workloads.frontend"],
    "heron/shop-cart": ["{python}", "-m", "cluster.workloads.cart"],
    "heron/shop-payments": ["{python}", "-m", "cluster.workloads.payments"],
    "heron/shop-loadgen": ["{python}", "-m", "cluster.workloads.loadgen"],
    "heron/nginx": ["{python}", "-m", "cluster.workloads.nginx"],
    "nginx": ["{python}", "-m", "cluster.workloads.nginx"],
    "heron/kube-state-metrics": ["{python}", "-m", "cluster.metrics.kube_state"],
    "heron/node-exporter": ["{python}", "-m", "cluster.metrics.node_exporter"],
    "heron/ingress-controller": ["{python}", "-m", "cluster.proxy.ingress"],
    "heron/heron": ["{python}", "-m", "heron.cli"],
    "heron/server": ["{python}", "-m", "heron.cli", "server"],
    "heron/prometheus": ["{python}", "-m", "heron.cli", "server"],
    "heron/alertmanager": ["{python}", "-m", "heron.cli", "alertmanager"],
    "heron/dashboards": ["{python}", "-m", "heron.cli", "dashboards"],
    "python": ["{python}"],
    "busybox": ["/bin/sh"],
}

# default args (when the container gives none): the pod IP and the first container port
DEFAULT_ARGS: dict[str, list[str]] = {
    "nginx": ["--bind", "{pod_ip}", "--port", "{port}"],
    "heron/nginx": ["--bind", "{pod_ip}", "--port", "{port}"],
    "heron/shop-frontend": ["--listen", "{pod_ip}:{port}"],
    "heron/shop-cart": ["--listen", "{pod_ip}:{port}"],
    "heron/shop-payments": ["--listen", "{pod_ip}:{port}"],
    "heron/shop-loadgen": ["--listen", "{pod_ip}:{port}"],
    "heron/kube-state-metrics": ["--host", "{pod_ip}", "--port", "{port}"],
    "heron/node-exporter": ["--web.listen-address={pod_ip}:{port}"],
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
    if command:
        argv = list(command)
        if argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        return argv + list(args or [])
    ep = BUILTIN_IMAGES.get(repo)
    if ep is None:
        raise ImageError(f'image "{image}" is not a Heron built-in image and the container has no command')
    argv = [a.format(**subst) for a in ep]
    if args is not None:
        return argv + list(args)
    return argv + [a.format(**subst) for a in DEFAULT_ARGS.get(repo, [])]
