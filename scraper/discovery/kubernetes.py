"""``kubernetes_sd_configs``: targets from a Kubernetes API server over list + watch.

Talks plain Kubernetes REST (``GET /api/v1/pods``, ``?watch=1&resourceVersion=…``)
to any API server: ``api_server`` with the config's auth/TLS, a
``kubeconfig_file``, or the in-cluster service account. Each resource kind is
mirrored by a reflector (list, then watch from the list's resourceVersion;
re-list after ``410 Gone`` or any error, with exponential backoff). Whenever a
mirror changes the role's target groups are rebuilt and pushed as a full set.

Target groups and ``__meta_kubernetes_*`` labels are built exactly as
Prometheus's ``discovery/kubernetes`` builds them for the roles ``pod``,
``service``, ``endpoints``, ``endpointslice``, ``node`` and ``ingress``
(see the ``build_*`` functions, which work on decoded API JSON objects).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yaml

from . import SendFn, TargetGroup

__all__ = [
    "KubernetesProvider",
    "build_endpoints",
    "build_endpointslice",
    "build_ingress",
    "build_node",
    "build_pod",
    "build_service",
]

log = logging.getLogger("heron.discovery.kubernetes")

META = "__meta_kubernetes_"
NAMESPACE_LABEL = META + "namespace"
PRESENT = "true"
_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

Obj = dict[str, Any]


def sanitize(name: str) -> str:
    """Prometheus's ``strutil.SanitizeLabelName``: invalid characters become ``_``."""
    return _SANITIZE.sub("_", name)


def _meta(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _ns_name(o: Obj) -> tuple[str, str]:
    m = _meta(o)
    return m.get("namespace", "") or "", m.get("name", "") or ""


def add_object_meta_labels(ls: dict[str, str], o: Obj, role: str) -> None:
    """``<role>_name``, ``<role>_label_*``, ``_labelpresent_*``, ``_annotation_*``, ``_annotationpresent_*``."""
    m = _meta(o)
    p = META + role
    ls[p + "_name"] = m.get("name", "") or ""
    for k, v in (m.get("labels") or {}).items():
        ln = sanitize(k)
        ls[p + "_label_" + ln] = v or ""
        ls[p + "_labelpresent_" + ln] = PRESENT
    for k, v in (m.get("annotations") or {}).items():
        ln = sanitize(k)
        ls[p + "_annotation_" + ln] = v or ""
        ls[p + "_annotationpresent_" + ln] = PRESENT


def _join_host_port(host: str, port: Any) -> str:
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


# ----------------------------------------------------------------------------- node


def node_address(node: Obj) -> tuple[str | None, dict[str, list[str]]]:
    """The node's scrape address by Prometheus's priority, and every address by type."""
    m: dict[str, list[str]] = {}
    for a in (node.get("status") or {}).get("addresses") or []:
        m.setdefault(a.get("type", ""), []).append(a.get("address", ""))
    for t in ("InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"):
        if t in m:
            return m[t][0], m
    return None, m


def node_labels(node: Obj) -> dict[str, str]:
    ls = {
        META + "node_provider_id": (node.get("spec") or {}).get("providerID", "") or "",
    }
    add_object_meta_labels(ls, node, "node")
    return ls


def build_node(node: Obj) -> TargetGroup:
    name = _meta(node).get("name", "")
    tg = TargetGroup("node/" + name)
    addr, addrs = node_address(node)
    if addr is None:
        log.warning("node %s: host address unknown", name)
        return tg
    port = ((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint", {}).get("Port", 0)
    t = {"__address__": _join_host_port(addr, port), "instance": name}
    for ty, a in addrs.items():
        t[sanitize(META + "node_address_" + ty)] = a[0]
    tg.targets.append(t)
    tg.labels = node_labels(node)
    return tg


# ----------------------------------------------------------------------------- pod


def _controller_of(o: Obj) -> Obj | None:
    for ref in _meta(o).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def pod_ready(pod: Obj) -> str:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("status", "")).lower()
    return "unknown"


def pod_labels(pod: Obj) -> dict[str, str]:
    st = pod.get("status") or {}
    spec = pod.get("spec") or {}
    ls = {
        META + "pod_ip": st.get("podIP", "") or "",
        META + "pod_ready": pod_ready(pod),
        META + "pod_phase": st.get("phase", "") or "",
        META + "pod_node_name": spec.get("nodeName", "") or "",
        META + "pod_host_ip": st.get("hostIP", "") or "",
        META + "pod_uid": _meta(pod).get("uid", "") or "",
    }
    add_object_meta_labels(ls, pod, "pod")
    ref = _controller_of(pod)
    if ref is not None:
        if ref.get("kind"):
            ls[META + "pod_controller_kind"] = ref["kind"]
        if ref.get("name"):
            ls[META + "pod_controller_name"] = ref["name"]
    return ls


def _containers(pod: Obj) -> tuple[list[Obj], int]:
    spec = pod.get("spec") or {}
    cs = list(spec.get("containers") or [])
    return cs + list(spec.get("initContainers") or []), len(cs)


def _container_id(c: Obj, statuses: Iterable[Obj]) -> str:
    for s in statuses:
        if s.get("name") == c.get("name"):
            return s.get("containerID", "") or ""
    return ""


def build_pod(pod: Obj, node_of: Callable[[str], Obj | None] | None = None) -> TargetGroup:
    ns, name = _ns_name(pod)
    tg = TargetGroup(f"pod/{ns}/{name}")
    st = pod.get("status") or {}
    ip = st.get("podIP", "") or ""
    if not ip:
        return tg
    tg.labels = pod_labels(pod)
    tg.labels[NAMESPACE_LABEL] = ns
    if node_of is not None:
        _add_node_labels(tg.labels, node_of, (pod.get("spec") or {}).get("nodeName", ""))
    containers, n_main = _containers(pod)
    for i, c in enumerate(containers):
        is_init = i >= n_main
        statuses = st.get("initContainerStatuses" if is_init else "containerStatuses") or []
        cid = _container_id(c, statuses)
        ports = c.get("ports") or []
        base = {
            META + "pod_container_name": c.get("name", "") or "",
            META + "pod_container_id": cid,
            META + "pod_container_image": c.get("image", "") or "",
            META + "pod_container_init": "true" if is_init else "false",
        }
        if not ports:
            tg.targets.append({"__address__": ip, **base})
            continue
        for p in ports:
            port = str(p.get("containerPort", 0))
            t = {"__address__": _join_host_port(ip, port), **base}
            t[META + "pod_container_port_number"] = port
            t[META + "pod_container_port_name"] = p.get("name", "") or ""
            t[META + "pod_container_port_protocol"] = p.get("protocol", "") or ""
            tg.targets.append(t)
    return tg


def _add_node_labels(ls: dict[str, str], node_of: Callable[[str], Obj | None], node_name: str) -> None:
    if not node_name:
        return
    node = node_of(node_name)
    if node is None:
        return
    ls.update(node_labels(node))


# ----------------------------------------------------------------------------- service


def service_labels(svc: Obj) -> dict[str, str]:
    ls = {NAMESPACE_LABEL: _meta(svc).get("namespace", "") or ""}
    add_object_meta_labels(ls, svc, "service")
    return ls


def build_service(svc: Obj) -> TargetGroup:
    ns, name = _ns_name(svc)
    tg = TargetGroup(f"svc/{ns}/{name}")
    tg.labels = service_labels(svc)
    spec = svc.get("spec") or {}
    typ = spec.get("type", "") or ""
    for p in spec.get("ports") or []:
        port = str(p.get("port", 0))
        t = {
            "__address__": _join_host_port(f"{name}.{ns}.svc", port),
            META + "service_port_name": p.get("name", "") or "",
            META + "service_port_number": port,
            META + "service_port_protocol": p.get("protocol", "") or "",
            META + "service_type": typ,
        }
        if typ == "ExternalName":
            t[META + "service_external_name"] = spec.get("externalName", "") or ""
        else:
            t[META + "service_cluster_ip"] = spec.get("clusterIP", "") or ""
        tg.targets.append(t)
    return tg


# ----------------------------------------------------------------------------- endpoints


class _Stores:
    """Lookups the endpoint roles need: services and pods by namespace/name, nodes by name."""

    def __init__(
        self,
        services: dict[tuple[str, str], Obj] | None = None,
        pods: dict[tuple[str, str], Obj] | None = None,
        nodes: dict[tuple[str, str], Obj] | None = None,
    ) -> None:
        self.services = services or {}
        self.pods = pods or {}
        self.nodes = nodes

    def pod_for(self, ref: Obj | None) -> Obj | None:
        if not ref or ref.get("kind") != "Pod":
            return None
        return self.pods.get((ref.get("namespace", "") or "", ref.get("name", "") or ""))

    def node(self, name: str) -> Obj | None:
        if self.nodes is None:
            return None
        return self.nodes.get(("", name))


def _container_port_labels(target: dict[str, str], pod: Obj, port: int, protocol: str | None) -> None:
    containers, n_main = _containers(pod)
    for i, c in enumerate(containers):
        for cp in c.get("ports") or []:
            if cp.get("containerPort") == port:
                target[META + "pod_container_name"] = c.get("name", "") or ""
                target[META + "pod_container_image"] = c.get("image", "") or ""
                target[META + "pod_container_port_name"] = cp.get("name", "") or ""
                target[META + "pod_container_port_number"] = str(port)
                target[META + "pod_container_port_protocol"] = (
                    protocol if protocol is not None else cp.get("protocol", "") or ""
                )
                target[META + "pod_container_init"] = "true" if i >= n_main else "false"
                return


def _uncovered_pod_targets(seen: dict[tuple[str, str], tuple[Obj, list[int]]]) -> list[dict[str, str]]:
    out = []
    for pod, ports in seen.values():
        ip = (pod.get("status") or {}).get("podIP", "") or ""
        if not ip:
            continue
        containers, n_main = _containers(pod)
        for i, c in enumerate(containers):
            for cp in c.get("ports") or []:
                cport = cp.get("containerPort", 0)
                if cport in ports:
                    continue
                t = {
                    "__address__": _join_host_port(ip, cport),
                    META + "pod_container_name": c.get("name", "") or "",
                    META + "pod_container_image": c.get("image", "") or "",
                    META + "pod_container_port_name": cp.get("name", "") or "",
                    META + "pod_container_port_number": str(cport),
                    META + "pod_container_port_protocol": cp.get("protocol", "") or "",
                    META + "pod_container_init": "true" if i >= n_main else "false",
                }
                t.update(pod_labels(pod))
                out.append(t)
    return out


def build_endpoints(eps: Obj, stores: _Stores | None = None) -> TargetGroup:
    """The ``endpoints`` role's group for one Endpoints object."""
    stores = stores or _Stores()
    ns, name = _ns_name(eps)
    tg = TargetGroup(f"endpoints/{ns}/{name}")
    tg.labels = {NAMESPACE_LABEL: ns, META + "endpoints_name": name}
    svc = stores.services.get((ns, name))
    if svc is not None:
        tg.labels.update(service_labels(svc))
    add_object_meta_labels(tg.labels, eps, "endpoints")
    seen: dict[tuple[str, str], tuple[Obj, list[int]]] = {}

    def add(addr: Obj, port: Obj, ready: str) -> None:
        pnum = port.get("port", 0)
        t = {
            "__address__": _join_host_port(addr.get("ip", ""), pnum),
            META + "endpoint_port_name": port.get("name", "") or "",
            META + "endpoint_port_protocol": port.get("protocol", "") or "",
            META + "endpoint_ready": ready,
        }
        ref = addr.get("targetRef")
        if ref:
            t[META + "endpoint_address_target_kind"] = ref.get("kind", "") or ""
            t[META + "endpoint_address_target_name"] = ref.get("name", "") or ""
        if addr.get("nodeName") is not None:
            t[META + "endpoint_node_name"] = addr["nodeName"]
        if addr.get("hostname"):
            t[META + "endpoint_hostname"] = addr["hostname"]
        if stores.nodes is not None:
            _add_node_labels(t, stores.node, addr.get("nodeName") or "")
        pod = stores.pod_for(ref)
        if pod is None:
            tg.targets.append(t)
            return
        key = _ns_name(pod)
        entry = seen.setdefault(key, (pod, []))
        t.update(pod_labels(pod))
        _container_port_labels(t, pod, pnum, port.get("protocol", "") or "")
        entry[1].append(pnum)
        tg.targets.append(t)

    for ss in eps.get("subsets") or []:
        for port in ss.get("ports") or []:
            for addr in ss.get("addresses") or []:
                add(addr, port, "true")
            for addr in ss.get("notReadyAddresses") or []:
                add(addr, port, "false")
    tg.targets.extend(_uncovered_pod_targets(seen))
    return tg


def build_endpointslice(es: Obj, stores: _Stores | None = None) -> TargetGroup:
    """The ``endpointslice`` role's group for one ``discovery.k8s.io/v1`` EndpointSlice."""
    stores = stores or _Stores()
    ns, name = _ns_name(es)
    tg = TargetGroup(f"endpointslice/{ns}/{name}")
    tg.labels = {NAMESPACE_LABEL: ns, META + "endpointslice_address_type": es.get("addressType", "") or ""}
    add_object_meta_labels(tg.labels, es, "endpointslice")
    svc_name = (_meta(es).get("labels") or {}).get("kubernetes.io/service-name")
    if svc_name is not None:
        svc = stores.services.get((ns, svc_name))
        if svc is not None:
            tg.labels.update(service_labels(svc))
    seen: dict[tuple[str, str], tuple[Obj, list[int]]] = {}
    P = META + "endpointslice_"

    def add(addr: str, ep: Obj, port: Obj) -> None:
        pnum = port.get("port")
        t = {"__address__": _join_host_port(addr, pnum) if pnum is not None else addr}
        if port.get("name") is not None:
            t[P + "port_name"] = port["name"]
        if port.get("protocol") is not None:
            t[P + "port_protocol"] = port["protocol"]
        if pnum is not None:
            t[P + "port"] = str(pnum)
        if port.get("appProtocol") is not None:
            t[P + "port_app_protocol"] = port["appProtocol"]
        cond = ep.get("conditions") or {}
        for c in ("ready", "serving", "terminating"):
            if cond.get(c) is not None:
                t[P + "endpoint_conditions_" + c] = "true" if cond[c] else "false"
        if ep.get("hostname") is not None:
            t[P + "endpoint_hostname"] = ep["hostname"]
        ref = ep.get("targetRef")
        if ref:
            t[P + "address_target_kind"] = ref.get("kind", "") or ""
            t[P + "address_target_name"] = ref.get("name", "") or ""
        if ep.get("nodeName") is not None:
            t[P + "endpoint_node_name"] = ep["nodeName"]
        if ep.get("zone") is not None:
            t[P + "endpoint_zone"] = ep["zone"]
        for k, v in (ep.get("deprecatedTopology") or {}).items():
            ln = sanitize(k)
            t[P + "endpoint_topology_" + ln] = v
            t[P + "endpoint_topology_present_" + ln] = PRESENT
        if stores.nodes is not None:
            _add_node_labels(t, stores.node, ep.get("nodeName") or "")
        pod = stores.pod_for(ref)
        if pod is None:
            tg.targets.append(t)
            return
        entry = seen.setdefault(_ns_name(pod), (pod, []))
        t.update(pod_labels(pod))
        if pnum is not None:
            _container_port_labels(t, pod, pnum, None)
        entry[1].append(pnum)
        tg.targets.append(t)

    for ep in es.get("endpoints") or []:
        for port in es.get("ports") or []:
            for addr in ep.get("addresses") or []:
                add(addr, ep, port)
    tg.targets.extend(_uncovered_pod_targets(seen))
    return tg


# ----------------------------------------------------------------------------- ingress


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*.") and host:
        return host.split(".", 1)[-1] == pattern[2:] and "." in host
    return pattern == host


def build_ingress(ing: Obj) -> TargetGroup:
    ns, name = _ns_name(ing)
    tg = TargetGroup(f"ingress/{ns}/{name}")
    spec = ing.get("spec") or {}
    tg.labels = {NAMESPACE_LABEL: ns}
    add_object_meta_labels(tg.labels, ing, "ingress")
    if spec.get("ingressClassName") is not None:
        tg.labels[META + "ingress_class_name"] = spec["ingressClassName"]
    tls_hosts = [h for t in spec.get("tls") or [] for h in t.get("hosts") or []]
    for rule in spec.get("rules") or []:
        host = rule.get("host", "") or ""
        scheme = "https" if any(_host_matches(p, host) for p in tls_hosts) else "http"
        http = rule.get("http")
        paths = ["/"] if http is None else [p.get("path") or "/" for p in http.get("paths") or []]
        for path in paths:
            tg.targets.append(
                {
                    "__address__": host,
                    META + "ingress_scheme": scheme,
                    META + "ingress_host": host,
                    META + "ingress_path": path,
                }
            )
    return tg


# ----------------------------------------------------------------------------- API access

_RESOURCES = {
    "pod": ("/api/v1", "pods"),
    "service": ("/api/v1", "services"),
    "endpoints": ("/api/v1", "endpoints"),
    "endpointslice": ("/apis/discovery.k8s.io/v1", "endpointslices"),
    "node": ("/api/v1", "nodes"),
    "ingress": ("/apis/networking.k8s.io/v1", "ingresses"),
}


class APIConfig:
    """Where and how to reach the API server."""

    def __init__(self, base_url: str, headers: dict[str, str], ssl_ctx: ssl.SSLContext | bool | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = headers
        self.ssl = ssl_ctx


def _write_tmp(data: bytes) -> str:
    f = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)  # noqa: SIM115
    f.write(data)
    f.close()
    return f.name


def load_kubeconfig(path: str) -> APIConfig:
    """The current context of a kubeconfig file (server, CA, token/basic/client-cert auth)."""
    with open(path) as f:
        kc = yaml.safe_load(f) or {}
    ctx_name = kc.get("current-context", "")
    ctxs = {c["name"]: c.get("context") or {} for c in kc.get("contexts") or []}
    ctx = ctxs.get(ctx_name) or (next(iter(ctxs.values())) if ctxs else {})
    clusters = {c["name"]: c.get("cluster") or {} for c in kc.get("clusters") or []}
    users = {u["name"]: u.get("user") or {} for u in kc.get("users") or []}
    cluster = clusters.get(ctx.get("cluster", ""), {})
    user = users.get(ctx.get("user", ""), {})
    base = os.path.dirname(os.path.abspath(path))

    def p(x: str) -> str:
        return x if os.path.isabs(x) else os.path.join(base, x)

    server = cluster.get("server", "")
    headers: dict[str, str] = {}
    sslctx: ssl.SSLContext | bool | None = None
    if server.startswith("https"):
        cafile = p(cluster["certificate-authority"]) if cluster.get("certificate-authority") else None
        cadata = (
            base64.b64decode(cluster["certificate-authority-data"]).decode()
            if cluster.get("certificate-authority-data")
            else None
        )
        c = ssl.create_default_context(cafile=cafile, cadata=cadata)
        if cluster.get("insecure-skip-tls-verify"):
            c.check_hostname = False
            c.verify_mode = ssl.CERT_NONE
        cert = user.get("client-certificate") and p(user["client-certificate"])
        key = user.get("client-key") and p(user["client-key"])
        if user.get("client-certificate-data"):
            cert = _write_tmp(base64.b64decode(user["client-certificate-data"]))
        if user.get("client-key-data"):
            key = _write_tmp(base64.b64decode(user["client-key-data"]))
        if cert:
            c.load_cert_chain(cert, key or None)
        sslctx = c
    if user.get("token"):
        headers["Authorization"] = "Bearer " + user["token"]
    elif user.get("tokenFile"):
        with open(p(user["tokenFile"])) as f:
            headers["Authorization"] = "Bearer " + f.read().strip()
    elif user.get("username"):
        cred = f"{user['username']}:{user.get('password', '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
    return APIConfig(server, headers, sslctx)


def api_config(cfg: Any) -> APIConfig:
    """API server access for a ``KubernetesSDConfig``."""
    from ..client import auth_headers, ssl_context

    if cfg.api_server:
        return APIConfig(cfg.api_server, auth_headers(cfg.http), ssl_context(cfg.http.tls_config))
    if cfg.kubeconfig_file:
        return load_kubeconfig(cfg.kubeconfig_file)
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise RuntimeError(
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
            "KUBERNETES_SERVICE_PORT must be defined"
        )
    headers = {}
    try:
        with open(os.path.join(SA_DIR, "token")) as f:
            headers["Authorization"] = "Bearer " + f.read().strip()
    except OSError:
        pass
    ca = os.path.join(SA_DIR, "ca.crt")
    sslctx = ssl.create_default_context(cafile=ca if os.path.exists(ca) else None)
    return APIConfig(f"https://{_join_host_port(host, port)}", headers, sslctx)


class GoneError(Exception):
    """The requested resourceVersion is too old (HTTP 410): re-list."""


class Reflector:
    """Mirrors one resource kind (in one namespace or all) into ``store`` by list + watch."""

    def __init__(
        self,
        api: APIConfig,
        session: aiohttp.ClientSession,
        kind: str,
        namespace: str,
        selectors: dict[str, str],
        on_change: Callable[[], None],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        watch_timeout_s: int = 300,
        backoff_s: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        self.api = api
        self.session = session
        self.kind = kind
        self.namespace = namespace
        self.selectors = selectors
        self.on_change = on_change
        self.sleep = sleep
        self.watch_timeout_s = watch_timeout_s
        self.backoff_s = backoff_s
        self.store: dict[tuple[str, str], Obj] = {}
        self.resource_version = ""
        self.lists = 0  # number of (re-)lists done, for tests and debugging
        self.synced = asyncio.Event()

    def _url(self, **params: str) -> str:
        prefix, res = _RESOURCES[self.kind]
        path = f"{prefix}/namespaces/{self.namespace}/{res}" if self.namespace else f"{prefix}/{res}"
        q = {k: v for k, v in self.selectors.items() if v}
        q.update(params)
        return self.api.base_url + path + ("?" + urlencode(q) if q else "")

    async def list(self) -> None:
        async with self.session.get(self._url(), headers=self.api.headers, ssl=self.api.ssl) as resp:
            if resp.status != 200:
                raise RuntimeError(f"list {self.kind}: HTTP {resp.status} {await resp.text()}")
            data = await resp.json(content_type=None)
        items = data.get("items") or []
        self.store = {_ns_name(o): o for o in items}
        self.resource_version = (data.get("metadata") or {}).get("resourceVersion", "") or ""
        self.lists += 1
        self.synced.set()
        self.on_change()

    async def watch(self) -> None:
        """One watch request; returns when the server ends it (timeout), raises on errors."""
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.watch_timeout_s),
        }
        if self.resource_version:
            params["resourceVersion"] = self.resource_version
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.watch_timeout_s + 30)
        async with self.session.get(
            self._url(**params), headers=self.api.headers, ssl=self.api.ssl, timeout=timeout
        ) as resp:
            if resp.status == 410:
                raise GoneError()
            if resp.status != 200:
                raise RuntimeError(f"watch {self.kind}: HTTP {resp.status}")
            buf = b""
            async for chunk in resp.content.iter_any():
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    line, buf = buf[:nl], buf[nl + 1 :]
                    if line.strip():
                        self._event(json.loads(line))
            if buf.strip():
                self._event(json.loads(buf))

    def _event(self, ev: Obj) -> None:
        typ = ev.get("type")
        obj = ev.get("object") or {}
        if typ == "ERROR":
            if obj.get("code") == 410:
                raise GoneError()
            raise RuntimeError(f"watch {self.kind}: {obj.get('message', obj)}")
        rv = _meta(obj).get("resourceVersion")
        if typ == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return
        key = _ns_name(obj)
        if typ in ("ADDED", "MODIFIED"):
            self.store[key] = obj
        elif typ == "DELETED":
            self.store.pop(key, None)
        else:
            return
        if rv:
            self.resource_version = rv
        self.on_change()

    async def run(self) -> None:
        delay = self.backoff_s[0]
        need_list = True
        while True:
            try:
                if need_list:
                    await self.list()
                    need_list = False
                await self.watch()
                delay = self.backoff_s[0]
            except asyncio.CancelledError:
                raise
            except GoneError:
                log.info("watch of %s: resourceVersion too old, re-listing", self.kind)
                need_list = True
            except Exception as e:  # connection errors, bad responses: back off, re-list
                log.warning("list/watch of %s failed (retrying in %.1fs): %s", self.kind, delay, e)
                need_list = True
                await self.sleep(delay)
                delay = min(delay * 2, self.backoff_s[1])


class KubernetesProvider:
    """One ``kubernetes_sd_configs`` entry: reflectors for the role's kinds, full groups on change."""

    def __init__(
        self,
        cfg: Any,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_s: tuple[float, float] = (0.2, 10.0),
        watch_timeout_s: int = 300,
    ) -> None:
        self.cfg = cfg
        self.sleep = sleep
        self.backoff_s = backoff_s
        self.watch_timeout_s = watch_timeout_s
        self.reflectors: dict[str, list[Reflector]] = {}
        self._changed_ev = asyncio.Event()

    def _namespaces(self, kind: str) -> list[str]:
        if kind == "node":
            return [""]
        ns = self.cfg.namespaces
        names = list(ns.names)
        if ns.own_namespace:
            try:
                with open(os.path.join(SA_DIR, "namespace")) as f:
                    names.append(f.read().strip())
            except OSError:
                log.warning("own_namespace: service account namespace file not found")
        return names or [""]

    def _selectors(self, kind: str) -> dict[str, str]:
        for s in self.cfg.selectors:
            if s.role == kind:
                return {"labelSelector": s.label, "fieldSelector": s.field}
        return {}

    def _kinds(self) -> list[str]:
        role = self.cfg.role
        kinds = {
            "pod": ["pod"],
            "service": ["service"],
            "endpoints": ["endpoints", "service", "pod"],
            "endpointslice": ["endpointslice", "service", "pod"],
            "node": ["node"],
            "ingress": ["ingress"],
        }[role]
        if self.cfg.attach_metadata.node and role in ("pod", "endpoints", "endpointslice"):
            kinds = [*kinds, "node"]
        return kinds

    def _store(self, kind: str) -> dict[tuple[str, str], Obj]:
        out: dict[tuple[str, str], Obj] = {}
        for r in self.reflectors.get(kind, []):
            out.update(r.store)
        return out

    def groups(self) -> list[TargetGroup]:
        """The role's target groups from the mirrored objects."""
        role = self.cfg.role
        nodes = self._store("node") if "node" in self.reflectors and role != "node" else None
        if role == "node":
            return [build_node(o) for o in self._store("node").values()]
        if role == "pod":
            node_of = None if nodes is None else (lambda n: nodes.get(("", n)))
            return [build_pod(o, node_of) for o in self._store("pod").values()]
        if role == "service":
            return [build_service(o) for o in self._store("service").values()]
        if role == "ingress":
            return [build_ingress(o) for o in self._store("ingress").values()]
        stores = _Stores(self._store("service"), self._store("pod"), nodes)
        if role == "endpoints":
            return [build_endpoints(o, stores) for o in self._store("endpoints").values()]
        return [build_endpointslice(o, stores) for o in self._store("endpointslice").values()]

    def _changed(self) -> None:
        self._changed_ev.set()

    async def run(self, send: SendFn) -> None:
        api = api_config(self.cfg)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks = []
            for kind in self._kinds():
                for ns in self._namespaces(kind):
                    r = Reflector(
                        api,
                        session,
                        kind,
                        ns,
                        self._selectors(kind),
                        self._changed,
                        sleep=self.sleep,
                        watch_timeout_s=self.watch_timeout_s,
                        backoff_s=self.backoff_s,
                    )
                    self.reflectors.setdefault(kind, []).append(r)
                    tasks.append(asyncio.create_task(r.run()))
            try:
                # Send once every reflector listed (as informers' HasSynced), then on changes.
                await asyncio.wait(
                    [asyncio.create_task(r.synced.wait()) for rs in self.reflectors.values() for r in rs],
                    timeout=30,
                )
                last: list[TargetGroup] | None = None
                while True:
                    self._changed_ev.clear()
                    groups = self.groups()
                    if groups != last:
                        send(groups)
                        last = groups
                    await self._changed_ev.wait()
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
