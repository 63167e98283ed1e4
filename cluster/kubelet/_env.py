"""Container environment: env/envFrom, downward API, $(VAR) expansion, service links."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .quantity import parse_quantity

Obj = dict[str, Any]
Lookup = Callable[[str, str], "Obj | None"]

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """The container cannot be configured yet (``CreateContainerConfigError``)."""


def expand(s: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion; ``$$`` escapes; unknown references stay as written."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            j = s.find(")", i + 2)
            if j < 0:
                out.append(s[i:])
                break
            name = s[i + 2 : j]
            out.append(env[name] if name in env else s[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def service_env(services: list[Obj]) -> dict[str, str]:
    """``<NAME>_SERVICE_HOST``/``_PORT`` and the Docker-link variables, as the kubelet injects."""
    env: dict[str, str] = {}
    for svc in sorted(services, key=lambda s: s["metadata"]["name"]):
        spec = svc.get("spec", {})
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        ports = spec.get("ports") or []
        if not ports:
            continue
        name = svc["metadata"]["name"].upper().replace("-", "_")
        env[f"{name}_SERVICE_HOST"] = ip
        env[f"{name}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                env[f"{name}_SERVICE_PORT_{p['name'].upper().replace('-', '_')}"] = str(p["port"])
        p0 = ports[0]
        proto = (p0.get("protocol") or "TCP").lower()
        env[f"{name}_PORT"] = f"{proto}://{ip}:{p0['port']}"
        for p in ports:
            proto = (p.get("protocol") or "TCP").lower()
            pre = f"{name}_PORT_{p['port']}_{proto.upper()}"
            env[pre] = f"{proto}://{ip}:{p['port']}"
            env[f"{pre}_PROTO"] = proto
            env[f"{pre}_PORT"] = str(p["port"])
            env[f"{pre}_ADDR"] = ip
    return env


_SUBSCRIPT = re.compile(r"^(metadata\.(?:labels|annotations))\['(.*)'\]$")


def _format_map(m: Mapping[str, str]) -> str:
    import json

    return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(m.items()))


def field_value(pod: Obj, path: str, pod_ip: str, host_ip: str) -> str:
    """Value of a downward-API ``fieldRef`` path."""
    md = pod.get("metadata", {})
    spec = pod.get("spec", {})
    m = _SUBSCRIPT.match(path)
    if m:
        which = m.group(1).split(".")[1]
        return str((md.get(which) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": md.get("name", ""),
        "metadata.namespace": md.get("namespace", ""),
        "metadata.uid": md.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    if path == "metadata.labels":
        return _format_map(md.get("labels") or {})
    if path == "metadata.annotations":
        return _format_map(md.get("annotations") or {})
    raise ConfigError(f'unsupported fieldPath "{path}"')


def resource_value(pod: Obj, container_name: str, ref: Obj, node_allocatable: Mapping[str, Any]) -> str:
    """Value of a ``resourceFieldRef`` (limits default to node allocatable)."""
    c = next(
        (c for c in pod["spec"].get("containers", []) if c["name"] == container_name),
        None,
    )
    if c is None:
        raise ConfigError(f'container "{container_name}" not found')
    kind, _, res = ref["resource"].partition(".")
    rr = (c.get("resources") or {}).get(kind) or {}
    if res in rr:
        val = parse_quantity(rr[res])
    elif kind == "limits":
        val = parse_quantity(node_allocatable.get(res, 0))
    else:
        val = 0.0
    div = parse_quantity(ref.get("divisor") or "1") or 1.0
    return str(int(math.ceil(val / div)))


def _decode(secret: Obj, key: str) -> str | None:
    if key in (secret.get("data") or {}):
        return base64.b64decode(secret["data"][key]).decode(errors="replace")
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    return None


def container_env(
    pod: Obj,
    container: Obj,
    *,
    pod_ip: str,
    host_ip: str,
    configmaps: Lookup,
    secrets: Lookup,
    services: Mapping[str, str] | None = None,
    node_allocatable: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The container's declared environment, resolved in Kubernetes order."""
    ns = pod["metadata"].get("namespace", "default")
    svc_env = dict(services or {})
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix", "")
        if "configMapRef" in src:
            ref = src["configMapRef"]
            cm = configmaps(ns, ref["name"])
            if cm is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'configmap "{ref["name"]}" not found')
            for k, v in (cm.get("data") or {}).items():
                if _ENV_NAME.match(prefix + k):
                    env[prefix + k] = str(v)
        elif "secretRef" in src:
            ref = src["secretRef"]
            sec = secrets(ns, ref["name"])
            if sec is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'secret "{ref["name"]}" not found')
            for k in list((sec.get("data") or {}).keys()) + list((sec.get("stringData") or {}).keys()):
                v = _decode(sec, k)
                if v is not None and _ENV_NAME.match(prefix + k):
                    env[prefix + k] = v
    for e in container.get("env") or []:
        name = e["name"]
        if "value" in e or "valueFrom" not in e:
            env[name] = expand(str(e.get("value", "")), {**svc_env, **env})
            continue
        vf = e["valueFrom"]
        if "fieldRef" in vf:
            env[name] = field_value(pod, vf["fieldRef"]["fieldPath"], pod_ip, host_ip)
        elif "resourceFieldRef" in vf:
            ref = vf["resourceFieldRef"]
            env[name] = resource_value(
                pod, ref.get("containerName") or container["name"], ref, node_allocatable or {}
            )
        elif "configMapKeyRef" in vf:
            ref = vf["configMapKeyRef"]
            cm = configmaps(ns, ref["name"])
            val = None if cm is None else (cm.get("data") or {}).get(ref["key"])
            if val is None:
                if ref.get("optional"):
                    continue
                what = f'configmap "{ref["name"]}"'
                raise ConfigError(f"couldn't find key {ref['key']} in {what}" if cm else f"{what} not found")
            env[name] = str(val)
        elif "secretKeyRef" in vf:
            ref = vf["secretKeyRef"]
            sec = secrets(ns, ref["name"])
            val = None if sec is None else _decode(sec, ref["key"])
            if val is None:
                if ref.get("optional"):
                    continue
                what = f'secret "{ref["name"]}"'
                raise ConfigError(f"couldn't find key {ref['key']} in {what}" if sec else f"{what} not found")
            env[name] = val
    return {**svc_env, **env}
