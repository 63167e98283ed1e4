"""Service proxy and ingress controller against the fake API and real loopback backends."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from cluster.kubelet import KubeClient
from cluster.proxy import IngressController, ServiceProxy, ServiceTable
from cluster.proxy.ingress import routes_of
from tests.cluster.test_nodes_fakeapi import FakeAPI, free_port, loopback_base, wait_for


async def _backend(ip: str, port: int, name: str) -> web.AppRunner:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(text=f"{name} {request.path} {request.headers.get('X-Forwarded-For', '')}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    r = web.AppRunner(app, access_log=None)
    await r.setup()
    await web.TCPSite(r, ip, port).start()
    return r


def _service(
    name: str, ip: str, port: int = 80, node_port: int | None = None, target: Any = "http"
) -> dict[str, Any]:
    p: dict[str, Any] = {"name": "http", "port": port, "targetPort": target, "protocol": "TCP"}
    spec: dict[str, Any] = {"clusterIP": ip, "selector": {"app": name}, "ports": [p], "type": "ClusterIP"}
    if node_port:
        p["nodePort"] = node_port
        spec["type"] = "NodePort"
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def _slice(name: str, eps: list[tuple[str, bool]], port: int = 8080) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{name}-abc",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ready}} for ip, ready in eps],
    }


class Net:
    def __init__(self, api: FakeAPI, client: KubeClient, base: str) -> None:
        self.api, self.client, self.base = api, client, base
        self.backends: list[web.AppRunner] = []
        self.ips = [f"{base}.9.{i}" for i in range(2, 5)]

    async def start_backends(self) -> None:
        for i, ip in enumerate(self.ips):
            self.backends.append(await _backend(ip, 8080, f"pod{i}"))


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    api = FakeAPI()
    await api.start()
    client = KubeClient(api.url)
    n = Net(api, client, loopback_base())
    await n.start_backends()
    try:
        yield n
    finally:
        for b in n.backends:
            await b.cleanup()
        await client.close()
        await api.stop()


async def _hits(url: str, n: int, headers: dict[str, str] | None = None) -> collections.Counter[str]:
    c: collections.Counter[str] = collections.Counter()
    # a new connection per request: kube-proxy balances connections, not requests
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
        for _ in range(n):
            try:
                async with s.get(url, headers=headers or {}) as r:
                    c[f"{r.status} {(await r.text()).split(' ')[0]}"] += 1
            except aiohttp.ClientError:
                c["error"] += 1
    return c


async def test_cluster_ip_and_node_port_round_robin_over_ready_endpoints(net: Net) -> None:
    vip = f"{net.base}.200.1"
    np_ = free_port()
    net.api.put("v1", "services", _service("web", vip, node_port=np_))
    net.api.put(
        "discovery.k8s.io/v1",
        "endpointslices",
        _slice("web", [(net.ips[0], True), (net.ips[1], True), (net.ips[2], False)]),
    )
    proxy = ServiceProxy(net.client, node_ips=[f"{net.base}.1.1"])
    await proxy.start()
    try:
        await wait_for(lambda: (vip, 80) in proxy.servers, 5, what="listener")
        c = await _hits(f"http://{vip}/", 10)
        assert c == {"200 pod0": 5, "200 pod1": 5}  # not-ready pod2 gets nothing
        c = await _hits(f"http://127.0.0.1:{np_}/", 4)
        assert c == {"200 pod0": 2, "200 pod1": 2}
        assert (await _hits(f"http://{net.base}.1.1:{np_}/", 2)).total() == 2
        # endpoints change: pod2 ready, pod0 gone
        net.api.put(
            "discovery.k8s.io/v1", "endpointslices", _slice("web", [(net.ips[1], True), (net.ips[2], True)])
        )
        await wait_for(
            lambda: len(net_ready(proxy, "web")) == 2 and net.ips[2] in str(net_ready(proxy, "web")),
            5,
            what="update",
        )
        assert await _hits(f"http://{vip}/", 4) == {"200 pod1": 2, "200 pod2": 2}
        # a dead backend listed as ready is skipped
        net.api.put(
            "discovery.k8s.io/v1",
            "endpointslices",
            _slice("web", [(f"{net.base}.9.99", True), (net.ips[1], True)]),
        )
        await wait_for(lambda: f"{net.base}.9.99" in str(net_ready(proxy, "web")), 5, what="update 2")
        assert await _hits(f"http://{vip}/", 4) == {"200 pod1": 4}
        # service deleted: listener closed
        net.api.remove("v1", "services", "default", "web")
        await wait_for(lambda: (vip, 80) not in proxy.servers, 5, what="listener closed")
        assert (await _hits(f"http://{vip}/", 1)) == {"error": 1}
    finally:
        await proxy.stop()


def net_ready(proxy: ServiceProxy, name: str) -> list[tuple[str, int]]:
    return proxy.table.ready_backends("default", name, "http")


async def test_endpoints_fallback_and_empty_service(net: Net) -> None:
    vip, vip2 = f"{net.base}.200.2", f"{net.base}.200.3"
    net.api.put("v1", "services", _service("old", vip))
    net.api.put("v1", "services", _service("empty", vip2))
    net.api.put(
        "v1",
        "endpoints",
        {
            "metadata": {"name": "old", "namespace": "default"},
            "subsets": [
                {
                    "addresses": [{"ip": net.ips[0]}],
                    "notReadyAddresses": [{"ip": net.ips[1]}],
                    "ports": [{"name": "http", "port": 8080}],
                }
            ],
        },
    )
    proxy = ServiceProxy(net.client)
    await proxy.start()
    try:
        await wait_for(
            lambda: (vip, 80) in proxy.servers and (vip2, 80) in proxy.servers, 5, what="listeners"
        )
        assert await _hits(f"http://{vip}/", 3) == {"200 pod0": 3}
        assert await _hits(f"http://{vip2}/", 1) == {"error": 1}  # no endpoints: connection closed
    finally:
        await proxy.stop()


async def test_ingress_routes_by_host_and_path_with_metrics(net: Net) -> None:
    net.api.put("v1", "services", _service("web", f"{net.base}.200.1"))
    net.api.put("v1", "services", _service("api", f"{net.base}.200.2"))
    net.api.put("v1", "services", _service("nobody", f"{net.base}.200.3"))
    net.api.put("discovery.k8s.io/v1", "endpointslices", _slice("web", [(net.ips[0], True)]))
    s2 = _slice("api", [(net.ips[1], True), (net.ips[2], True)])
    s2["metadata"]["name"] = "api-xyz"
    net.api.put("discovery.k8s.io/v1", "endpointslices", s2)

    def backend(svc: str) -> dict[str, Any]:
        return {"service": {"name": svc, "port": {"number": 80}}}

    net.api.put(
        "networking.k8s.io/v1",
        "ingresses",
        {
            "metadata": {"name": "shop", "namespace": "default"},
            "spec": {
                "rules": [
                    {
                        "host": "shop.example.com",
                        "http": {
                            "paths": [
                                {"path": "/", "pathType": "Prefix", "backend": backend("web")},
                                {"path": "/api", "pathType": "Prefix", "backend": backend("api")},
                                {"path": "/down", "pathType": "Exact", "backend": backend("nobody")},
                            ]
                        },
                    },
                    {"http": {"paths": [{"path": "/any", "pathType": "Prefix", "backend": backend("web")}]}},
                ]
            },
        },
    )
    net.api.put(
        "networking.k8s.io/v1",
        "ingresses",
        {
            "metadata": {"name": "other-class", "namespace": "default"},
            "spec": {
                "ingressClassName": "traefik",
                "rules": [
                    {"http": {"paths": [{"path": "/t", "pathType": "Prefix", "backend": backend("api")}]}}
                ],
            },
        },
    )
    port, mport = free_port(), free_port()
    ing = IngressController(net.client, listen=f"127.0.0.1:{port}", metrics_listen=f"127.0.0.1:{mport}")
    await ing.start()
    try:
        base = f"http://127.0.0.1:{port}"
        shop = {"Host": "shop.example.com"}
        assert await _hits(f"{base}/", 2, shop) == {"200 pod0": 2}
        assert await _hits(f"{base}/api/v1/x", 4, shop) == {"200 pod1": 2, "200 pod2": 2}
        assert await _hits(f"{base}/apix", 1, shop) == {"200 pod0": 1}  # /api does not prefix-match /apix
        assert await _hits(f"{base}/down", 1, shop) == {"503 503": 1}
        assert await _hits(f"{base}/any/thing", 1) == {"200 pod0": 1}
        assert await _hits(f"{base}/", 1) == {"404 default": 1}
        assert await _hits(f"{base}/t", 1) == {"404 default": 1}  # another controller's class
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/api/echo", headers=shop) as r:
                assert "127.0.0.1" in await r.text()  # X-Forwarded-For
            async with s.get(f"http://127.0.0.1:{mport}/metrics") as r:
                text = await r.text()
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        reqs = fams["nginx_ingress_controller_requests"]
        by = {(s.labels["path"], s.labels["status"], s.labels["service"]): s.value for s in reqs.samples}
        assert by[("/api", "200", "api")] == 5
        assert by[("/down", "503", "nobody")] == 1
        assert by[("", "404", "")] == 2
        sample = next(s for s in reqs.samples if s.labels.get("service") == "api")
        assert sample.labels["ingress"] == "shop" and sample.labels["namespace"] == "default"
        assert sample.labels["host"] == "shop.example.com" and sample.labels["method"] == "GET"
        assert {"controller_namespace", "controller_class", "controller_pod", "canary"} <= set(sample.labels)
        assert "nginx_ingress_controller_request_duration_seconds" in fams
        assert "nginx_ingress_controller_response_duration_seconds" in fams
    finally:
        await ing.stop()


def test_ingress_rules_precedence_and_rewrite() -> None:
    ing = {
        "metadata": {
            "name": "x",
            "namespace": "n",
            "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
        },
        "spec": {
            "rules": [
                {
                    "host": "*.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/a",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "wild", "port": {"name": "http"}}},
                            }
                        ]
                    },
                },
                {
                    "host": "x.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/a",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "exact", "port": {"number": 1}}},
                            }
                        ]
                    },
                },
            ],
            "defaultBackend": {"service": {"name": "dflt", "port": {"number": 2}}},
        },
    }
    ctl = IngressController.__new__(IngressController)
    ctl.routes = routes_of(ing)
    assert ctl.match("x.example.com", "/a/b").service == "exact"  # type: ignore[union-attr]
    assert ctl.match("y.example.com", "/a").service == "wild"  # type: ignore[union-attr]
    assert ctl.match("a.b.example.com", "/a").service == "dflt"  # type: ignore[union-attr]  (wildcard is one label)
    r = ctl.match("x.example.com", "/a/b/c")
    assert r is not None and r.rewritten("/a/b/c") == "/b/c" and r.rewritten("/a") == "/"


async def test_service_table_port_names(net: Net) -> None:
    t = ServiceTable(net.client)
    svc = _service("web", f"{net.base}.200.1")
    assert (
        t.port_name(svc, 80) == "http" and t.port_name(svc, "http") == "http" and t.port_name(svc, 81) is None
    )
    await asyncio.sleep(0)
