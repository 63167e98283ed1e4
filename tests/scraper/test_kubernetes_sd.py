"""Kubernetes SD: label sets per role (as Prometheus names them) and list/watch against a fake API server.

The fake API server (aiohttp) serves real-shaped list and watch responses:
lists with a resourceVersion, watch streams of ADDED/MODIFIED/DELETED/BOOKMARK
events, and ``410 Gone`` (as a watch ERROR event and as an HTTP status) that
must make the provider re-list.
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
from aiohttp import web

from scraper.config import load_config_str
from scraper.discovery import TargetGroup
from scraper.discovery.kubernetes import (
    KubernetesProvider,
    _Stores,
    build_endpoints,
    build_endpointslice,
    build_ingress,
    build_node,
    build_pod,
    build_service,
)
from tests.scraper import k8s_fixtures as fx

M = "__meta_kubernetes_"


def _pod_group_labels() -> dict[str, str]:
    return {
        M + "namespace": "shop",
        M + "pod_name": "web-7d4b9c-x2x9z",
        M + "pod_ip": "10.244.0.5",
        M + "pod_ready": "true",
        M + "pod_phase": "Running",
        M + "pod_node_name": "node-1",
        M + "pod_host_ip": "172.18.0.2",
        M + "pod_uid": "0f3b6c2e-1111-4c4c-8e8e-000000000001",
        M + "pod_label_app_kubernetes_io_name": "web",
        M + "pod_labelpresent_app_kubernetes_io_name": "true",
        M + "pod_label_pod_template_hash": "7d4b9c",
        M + "pod_labelpresent_pod_template_hash": "true",
        M + "pod_annotation_prometheus_io_scrape": "true",
        M + "pod_annotationpresent_prometheus_io_scrape": "true",
        M + "pod_annotation_prometheus_io_port": "8080",
        M + "pod_annotationpresent_prometheus_io_port": "true",
        M + "pod_controller_kind": "ReplicaSet",
        M + "pod_controller_name": "web-7d4b9c",
    }


def test_pod_role() -> None:
    tg = build_pod(fx.POD)
    assert tg.source == "pod/shop/web-7d4b9c-x2x9z"
    assert tg.labels == _pod_group_labels()
    assert tg.targets == [
        {
            "__address__": "10.244.0.5:8080",
            M + "pod_container_name": "web",
            M + "pod_container_id": "containerd://abc123",
            M + "pod_container_image": "shop/web:1.0",
            M + "pod_container_init": "false",
            M + "pod_container_port_number": "8080",
            M + "pod_container_port_name": "http",
            M + "pod_container_port_protocol": "TCP",
        },
        {
            "__address__": "10.244.0.5:9090",
            M + "pod_container_name": "web",
            M + "pod_container_id": "containerd://abc123",
            M + "pod_container_image": "shop/web:1.0",
            M + "pod_container_init": "false",
            M + "pod_container_port_number": "9090",
            M + "pod_container_port_name": "metrics",
            M + "pod_container_port_protocol": "TCP",
        },
        {
            "__address__": "10.244.0.5",
            M + "pod_container_name": "sidecar",
            M + "pod_container_id": "containerd://def456",
            M + "pod_container_image": "envoy:1.29",
            M + "pod_container_init": "false",
        },
        {
            "__address__": "10.244.0.5",
            M + "pod_container_name": "init",
            M + "pod_container_id": "containerd://init0",
            M + "pod_container_image": "busybox:1.36",
            M + "pod_container_init": "true",
        },
    ]
    # A pod without an IP yields an empty group (its source still reported).
    empty = build_pod(fx.PENDING_POD)
    assert empty.source == "pod/shop/pending" and empty.targets == [] and empty.labels == {}


def test_pod_role_attach_node_metadata() -> None:
    tg = build_pod(fx.POD, lambda name: fx.NODE if name == "node-1" else None)
    assert tg.labels[M + "node_name"] == "node-1"
    assert tg.labels[M + "node_label_kubernetes_io_hostname"] == "node-1"
    assert tg.labels[M + "node_provider_id"] == "kind://docker/kind/node-1"


def test_node_role() -> None:
    tg = build_node(fx.NODE)
    assert tg.source == "node/node-1"
    assert tg.targets == [
        {
            "__address__": "172.18.0.2:10250",
            "instance": "node-1",
            M + "node_address_InternalIP": "172.18.0.2",
            M + "node_address_Hostname": "node-1",
        }
    ]
    assert tg.labels == {
        M + "node_name": "node-1",
        M + "node_provider_id": "kind://docker/kind/node-1",
        M + "node_label_kubernetes_io_hostname": "node-1",
        M + "node_labelpresent_kubernetes_io_hostname": "true",
        M + "node_label_node_role_kubernetes_io_control_plane": "",
        M + "node_labelpresent_node_role_kubernetes_io_control_plane": "true",
        M + "node_annotation_node_alpha_kubernetes_io_ttl": "0",
        M + "node_annotationpresent_node_alpha_kubernetes_io_ttl": "true",
    }


def _service_labels() -> dict[str, str]:
    return {
        M + "namespace": "shop",
        M + "service_name": "web",
        M + "service_label_app_kubernetes_io_name": "web",
        M + "service_labelpresent_app_kubernetes_io_name": "true",
        M + "service_annotation_prometheus_io_scrape": "true",
        M + "service_annotationpresent_prometheus_io_scrape": "true",
    }


def test_service_role() -> None:
    tg = build_service(fx.SERVICE)
    assert tg.source == "svc/shop/web"
    assert tg.labels == _service_labels()
    assert tg.targets[0] == {
        "__address__": "web.shop.svc:80",
        M + "service_port_name": "http",
        M + "service_port_number": "80",
        M + "service_port_protocol": "TCP",
        M + "service_type": "ClusterIP",
        M + "service_cluster_ip": "10.96.12.34",
    }
    ext = build_service(fx.EXTERNAL_SERVICE)
    assert ext.targets == [
        {
            "__address__": "ext.shop.svc:443",
            M + "service_port_name": "",
            M + "service_port_number": "443",
            M + "service_port_protocol": "TCP",
            M + "service_type": "ExternalName",
            M + "service_external_name": "example.com",
        }
    ]


def _stores() -> _Stores:
    return _Stores({("shop", "web"): fx.SERVICE}, {("shop", "web-7d4b9c-x2x9z"): fx.POD})


def test_endpoints_role() -> None:
    tg = build_endpoints(fx.ENDPOINTS, _stores())
    assert tg.source == "endpoints/shop/web"
    want_group = {
        **_service_labels(),
        M + "endpoints_name": "web",
        M + "endpoints_label_app_kubernetes_io_name": "web",
        M + "endpoints_labelpresent_app_kubernetes_io_name": "true",
    }
    assert tg.labels == want_group
    pod_target = {
        "__address__": "10.244.0.5:8080",
        M + "endpoint_port_name": "http",
        M + "endpoint_port_protocol": "TCP",
        M + "endpoint_ready": "true",
        M + "endpoint_address_target_kind": "Pod",
        M + "endpoint_address_target_name": "web-7d4b9c-x2x9z",
        M + "endpoint_node_name": "node-1",
        **{k: v for k, v in _pod_group_labels().items() if k != M + "namespace"},
        M + "pod_container_name": "web",
        M + "pod_container_image": "shop/web:1.0",
        M + "pod_container_port_name": "http",
        M + "pod_container_port_number": "8080",
        M + "pod_container_port_protocol": "TCP",
        M + "pod_container_init": "false",
    }
    not_ready = {
        "__address__": "10.244.0.9:8080",
        M + "endpoint_port_name": "http",
        M + "endpoint_port_protocol": "TCP",
        M + "endpoint_ready": "false",
        M + "endpoint_hostname": "web-9",
    }
    # The pod's other container port (9090) not covered by the endpoints gets a target too.
    extra = {
        "__address__": "10.244.0.5:9090",
        M + "pod_container_name": "web",
        M + "pod_container_image": "shop/web:1.0",
        M + "pod_container_port_name": "metrics",
        M + "pod_container_port_number": "9090",
        M + "pod_container_port_protocol": "TCP",
        M + "pod_container_init": "false",
        **{k: v for k, v in _pod_group_labels().items() if k != M + "namespace"},
    }
    assert tg.targets == [pod_target, not_ready, extra]


def test_endpointslice_role() -> None:
    tg = build_endpointslice(fx.ENDPOINTSLICE, _stores())
    assert tg.source == "endpointslice/shop/web-abcde"
    assert tg.labels == {
        **_service_labels(),
        M + "endpointslice_address_type": "IPv4",
        M + "endpointslice_name": "web-abcde",
        M + "endpointslice_label_kubernetes_io_service_name": "web",
        M + "endpointslice_labelpresent_kubernetes_io_service_name": "true",
        M + "endpointslice_label_endpointslice_kubernetes_io_managed_by": "x",
        M + "endpointslice_labelpresent_endpointslice_kubernetes_io_managed_by": "true",
    }
    t = tg.targets[0]
    assert {k: v for k, v in t.items() if k.startswith(M + "endpointslice")} == {
        M + "endpointslice_port_name": "http",
        M + "endpointslice_port_protocol": "TCP",
        M + "endpointslice_port": "8080",
        M + "endpointslice_port_app_protocol": "http",
        M + "endpointslice_endpoint_conditions_ready": "true",
        M + "endpointslice_endpoint_conditions_serving": "true",
        M + "endpointslice_endpoint_conditions_terminating": "false",
        M + "endpointslice_address_target_kind": "Pod",
        M + "endpointslice_address_target_name": "web-7d4b9c-x2x9z",
        M + "endpointslice_endpoint_node_name": "node-1",
        M + "endpointslice_endpoint_zone": "zone-a",
    }
    assert t["__address__"] == "10.244.0.5:8080" and t[M + "pod_container_port_name"] == "http"
    assert [x["__address__"] for x in tg.targets] == ["10.244.0.5:8080", "10.244.0.5:9090"]


def test_ingress_role() -> None:
    tg = build_ingress(fx.INGRESS)
    assert tg.source == "ingress/shop/shop"
    assert tg.labels == {
        M + "namespace": "shop",
        M + "ingress_name": "shop",
        M + "ingress_class_name": "nginx",
    }
    assert tg.targets == [
        {
            "__address__": "shop.example.com",
            M + "ingress_scheme": "https",
            M + "ingress_host": "shop.example.com",
            M + "ingress_path": "/api",
        },
        {
            "__address__": "shop.example.com",
            M + "ingress_scheme": "https",
            M + "ingress_host": "shop.example.com",
            M + "ingress_path": "/",
        },
        {
            "__address__": "plain.test",
            M + "ingress_scheme": "http",
            M + "ingress_host": "plain.test",
            M + "ingress_path": "/",
        },
    ]


# ----------------------------------------------------------------------------- list + watch


class FakeAPIServer:
    """Lists and watches for pods, services, endpoints, endpointslices, nodes and ingresses."""

    PATHS = {
        "/api/v1/pods": ("pods", "PodList"),
        "/api/v1/services": ("services", "ServiceList"),
        "/api/v1/endpoints": ("endpoints", "EndpointsList"),
        "/apis/discovery.k8s.io/v1/endpointslices": ("endpointslices", "EndpointSliceList"),
        "/api/v1/nodes": ("nodes", "NodeList"),
        "/apis/networking.k8s.io/v1/ingresses": ("ingresses", "IngressList"),
    }

    def __init__(self) -> None:
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {
            r: {} for r, _ in self.PATHS.values()
        }
        self.rv = 100
        self.queues: dict[str, list[asyncio.Queue[dict[str, Any] | None]]] = {r: [] for r in self.objects}
        self.lists: dict[str, int] = {r: 0 for r in self.objects}
        self.watches: list[tuple[str, str]] = []  # (resource, resourceVersion asked)
        self.gone_http: set[str] = set()
        self.queries: list[dict[str, str]] = []

    def put(self, res: str, obj: dict[str, Any], typ: str = "ADDED", notify: bool = True) -> None:
        obj = copy.deepcopy(obj)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if typ == "DELETED":
            self.objects[res].pop(key, None)
        else:
            self.objects[res][key] = obj
        if notify:
            for q in self.queues[res]:
                q.put_nowait({"type": typ, "object": obj})

    def gone(self, res: str) -> None:
        """End current watches of ``res`` with a 410 ERROR event (as an expired resourceVersion)."""
        for q in self.queues[res]:
            q.put_nowait(
                {
                    "type": "ERROR",
                    "object": {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "message": "too old resource version: 1 (200)",
                        "reason": "Expired",
                        "code": 410,
                    },
                }
            )
            q.put_nowait(None)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        ns = None
        parts = path.split("/")
        if "namespaces" in parts:
            i = parts.index("namespaces")
            ns = parts[i + 1]
            path = "/".join(parts[:i] + parts[i + 2 :])
        res, kind = self.PATHS[path]
        self.queries.append(dict(request.query))
        items = [o for (n, _), o in sorted(self.objects[res].items()) if ns is None or n == ns]
        if request.query.get("watch") not in ("1", "true"):
            self.lists[res] += 1
            body = {
                "kind": kind,
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self.rv)},
                "items": items,
            }
            return web.json_response(body)
        self.watches.append((res, request.query.get("resourceVersion", "")))
        if res in self.gone_http:
            self.gone_http.discard(res)
            return web.json_response({"kind": "Status", "code": 410, "reason": "Expired"}, status=410)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.queues[res].append(q)
        await resp.write(
            json.dumps(
                {
                    "type": "BOOKMARK",
                    "object": {"kind": kind[:-4], "metadata": {"resourceVersion": str(self.rv)}},
                }
            ).encode()
            + b"\n"
        )
        try:
            while True:
                ev = await q.get()
                if ev is None:
                    break
                await resp.write(json.dumps(ev).encode() + b"\n")
        finally:
            self.queues[res].remove(q)
        return resp


@pytest.fixture
async def api():
    fake = FakeAPIServer()
    app = web.Application()
    app.router.add_get("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield fake
    # End the open watch streams so the server shuts down at once.
    for qs in fake.queues.values():
        for q in list(qs):
            q.put_nowait(None)
    await runner.cleanup()


def _sd(url: str, role: str, extra: str = "") -> Any:
    text = (
        f"scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: {role}\n"
        f"        api_server: {url}\n" + extra
    )
    return load_config_str(text).scrape_configs[0].sd.kubernetes_sd_configs[0]


class Collector:
    def __init__(self) -> None:
        self.sent: list[list[TargetGroup]] = []
        self.ev = asyncio.Event()

    def __call__(self, groups: list[TargetGroup]) -> None:
        self.sent.append(groups)
        self.ev.set()

    async def next(self, pred: Any = lambda g: True, timeout: float = 5.0) -> list[TargetGroup]:
        async def wait() -> list[TargetGroup]:
            while True:
                if self.sent and pred(self.sent[-1]):
                    return self.sent[-1]
                self.ev.clear()
                await self.ev.wait()

        return await asyncio.wait_for(wait(), timeout)


def _addrs(groups: list[TargetGroup]) -> set[str]:
    return {t["__address__"] for g in groups for t in g.targets}


async def test_pod_list_watch_and_relist_after_410(api: FakeAPIServer) -> None:
    api.put("pods", fx.POD)
    prov = KubernetesProvider(_sd(api.url, "pod"), backoff_s=(0.05, 0.2))  # type: ignore[attr-defined]
    col = Collector()
    task = asyncio.create_task(prov.run(col))
    try:
        groups = await col.next(lambda g: bool(g))
        assert groups == [build_pod(api.objects["pods"][("shop", "web-7d4b9c-x2x9z")])]
        # A watch event: a new pod.
        pod2 = copy.deepcopy(fx.POD)
        pod2["metadata"]["name"] = "web-2"
        pod2["status"]["podIP"] = "10.244.0.6"
        api.put("pods", pod2)
        await col.next(lambda g: "10.244.0.6:8080" in _addrs(g))
        # The watch expires (410 event); meanwhile a pod is deleted without an event: a re-list finds out.
        api.put("pods", pod2, "DELETED", notify=False)
        api.gone("pods")
        await col.next(lambda g: "10.244.0.6:8080" not in _addrs(g))
        assert api.lists["pods"] == 2
        # HTTP 410 on a watch request also re-lists.
        api.gone_http.add("pods")
        api.gone("pods")
        await asyncio.sleep(0.3)
        assert api.lists["pods"] >= 3
        # Watches resume from the list's resourceVersion.
        assert all(rv for _, rv in api.watches)
        # Deleting the last pod empties the groups.
        api.put("pods", fx.POD, "DELETED")
        await col.next(lambda g: g == [])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_endpoints_role_follows_services_and_pods(api: FakeAPIServer) -> None:
    api.put("endpoints", fx.ENDPOINTS)
    prov = KubernetesProvider(_sd(api.url, "endpoints"), backoff_s=(0.05, 0.2))  # type: ignore[attr-defined]
    col = Collector()
    task = asyncio.create_task(prov.run(col))
    try:
        g = await col.next(lambda g: bool(g))
        assert M + "service_name" not in g[0].labels
        api.put("services", fx.SERVICE)
        api.put("pods", fx.POD)
        g = await col.next(lambda g: M + "service_name" in g[0].labels and len(g[0].targets) == 3)
        assert (
            g == [build_endpoints(fx.ENDPOINTS, _stores())]
            or g[0].targets[0][M + "pod_name"] == "web-7d4b9c-x2x9z"
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_namespaces_and_selectors(api: FakeAPIServer) -> None:
    api.put("pods", fx.POD)
    other = copy.deepcopy(fx.POD)
    other["metadata"]["namespace"] = "other"
    api.put("pods", other)
    extra = (
        "        namespaces: {names: [shop]}\n"
        "        selectors: [{role: pod, label: 'app.kubernetes.io/name=web', field: 'status.phase=Running'}]\n"
    )
    prov = KubernetesProvider(_sd(api.url, "pod", extra), backoff_s=(0.05, 0.2))  # type: ignore[attr-defined]
    col = Collector()
    task = asyncio.create_task(prov.run(col))
    try:
        g = await col.next(lambda g: bool(g))
        assert [x.source for x in g] == ["pod/shop/web-7d4b9c-x2x9z"]
        q = api.queries[0]
        assert (
            q["labelSelector"] == "app.kubernetes.io/name=web"
            and q["fieldSelector"] == "status.phase=Running"
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_node_and_service_roles_over_http(api: FakeAPIServer) -> None:
    api.put("nodes", fx.NODE)
    api.put("services", fx.SERVICE)
    api.put("ingresses", fx.INGRESS)
    api.put("endpointslices", fx.ENDPOINTSLICE)
    for role, want in (
        ("node", {"172.18.0.2:10250"}),
        ("service", {"web.shop.svc:80", "web.shop.svc:9090"}),
        ("ingress", {"shop.example.com", "plain.test"}),
        ("endpointslice", {"10.244.0.5:8080"}),
    ):
        prov = KubernetesProvider(_sd(api.url, role), backoff_s=(0.05, 0.2))  # type: ignore[attr-defined]
        col = Collector()
        task = asyncio.create_task(prov.run(col))
        try:
            g = await col.next(lambda g: bool(g))
            assert _addrs(g) == want, role
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
