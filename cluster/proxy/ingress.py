"""An HTTP ingress controller: routes by Ingress host and path rules to Service endpoints.

Requests are balanced round-robin over the ready endpoints of the backend
service (like ingress-nginx, which bypasses the ClusterIP). Request metrics use
ingress-nginx's names and labels (``nginx_ingress_controller_requests``,
``nginx_ingress_controller_request_duration_seconds``, ...), served on a
separate metrics listener (``/metrics``, default port 10254).

Run standalone (or as the built-in image ``heron/ingress-controller``)::

    python -m cluster.proxy.ingress --listen 127.0.0.1:8080 --metrics-listen 127.0.0.1:10254 \
        [--apiserver URL --token T | --kubeconfig FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from ..kubelet.client import Informer, KubeClient
from ..metrics._expo import CONTENT_TYPE, Exposition, Family
from ._endpoints import ServiceTable

log = logging.getLogger(__name__)
Obj = dict[str, Any]

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-encoding",
}
LABELS = ["host", "status", "method", "path", "namespace", "ingress", "service", "canary"]
TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
LENGTH_BUCKETS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
SIZE_BUCKETS = (10, 100, 1000, 10000, 100000, 1e6, 1e7)


@dataclass(frozen=True)
class Route:
    host: str  # "" = any host; "*.example.com" = wildcard
    path: str
    path_type: str  # Exact | Prefix | ImplementationSpecific
    namespace: str
    ingress: str
    service: str
    port: int | str
    rewrite: str = ""  # nginx.ingress.kubernetes.io/rewrite-target
    regex: bool = False  # nginx.ingress.kubernetes.io/use-regex (or a rewrite with $n)

    def rewritten(self, path: str) -> str:
        """The upstream path after ``rewrite-target`` (ingress-nginx semantics)."""
        if not self.rewrite:
            return path
        if self.regex:
            m = re.match(self.path, path)
            if m is None:
                return path
            out = re.sub(
                r"\$(\d+)",
                lambda g: m.group(int(g.group(1))) or "" if int(g.group(1)) <= (m.re.groups) else "",
                self.rewrite,
            )
            return out or "/"
        rest = path[len(self.path.rstrip("/")) :]
        return (self.rewrite.rstrip("/") + "/" + rest.lstrip("/")) if rest.strip("/") else self.rewrite

    def host_rank(self, host: str) -> int:
        """2 = exact host, 1 = wildcard, 0 = any host, -1 = no match."""
        if not self.host:
            return 0
        if self.host == host:
            return 2
        if (
            self.host.startswith("*.")
            and host.endswith(self.host[1:])
            and host.count(".") == self.host.count(".")
        ):
            return 1
        return -1

    def path_match(self, path: str) -> bool:
        if self.regex:
            return re.match(self.path, path) is not None
        if self.path_type == "Exact":
            return path == self.path
        p = self.path.rstrip("/")
        if not p:
            return True
        return path == p or path.startswith(p + "/")


def routes_of(ing: Obj) -> list[Route]:
    md, spec = ing["metadata"], ing.get("spec") or {}
    ns, name = md.get("namespace", "default"), md["name"]
    ann = md.get("annotations") or {}
    rewrite = ann.get("nginx.ingress.kubernetes.io/rewrite-target", "")
    regex = ann.get("nginx.ingress.kubernetes.io/use-regex") == "true" or "$" in rewrite
    out: list[Route] = []
    for rule in spec.get("rules") or []:
        for p in (rule.get("http") or {}).get("paths") or []:
            svc = (p.get("backend") or {}).get("service")
            if not svc:
                continue
            port = svc.get("port") or {}
            out.append(
                Route(
                    rule.get("host", ""),
                    p.get("path") or "/",
                    p.get("pathType") or "Prefix",
                    ns,
                    name,
                    svc["name"],
                    port["number"] if port.get("number") is not None else str(port.get("name", "")),
                    rewrite,
                    regex,
                )
            )
    db = (spec.get("defaultBackend") or {}).get("service")
    if db:
        port = db.get("port") or {}
        out.append(Route("", "/", "Prefix", ns, name, db["name"], port.get("number") or port.get("name", "")))
    return out


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


class IngressController:
    """HTTP reverse proxy driven by Ingress objects."""

    def __init__(
        self,
        client: KubeClient,
        *,
        listen: str = "127.0.0.1:8080",
        metrics_listen: str | None = "127.0.0.1:10254",
        table: ServiceTable | None = None,
        classes: tuple[str, ...] = ("heron", "nginx"),
        controller_namespace: str | None = None,
        controller_pod: str | None = None,
        upstream_timeout: float = 60.0,
    ) -> None:
        self.client = client
        self.listen = listen
        self.metrics_listen = metrics_listen
        self.table = table or ServiceTable(client)
        self._own_table = table is None
        self.classes = classes
        self.ingresses = Informer(
            client, "networking.k8s.io/v1", "ingresses", handler=self._changed, name="ingresses"
        )
        self.routes: list[Route] = []
        self.upstream_timeout = upstream_timeout
        const = {
            "controller_namespace": controller_namespace or os.environ.get("POD_NAMESPACE", "heron-system"),
            "controller_class": "k8s.io/ingress-nginx",
            "controller_pod": controller_pod or os.environ.get("POD_NAME", "heron-ingress"),
        }
        self._const = const
        lbl = list(const) + LABELS
        ns = "nginx_ingress_controller"

        def hist(name: str, help_text: str, buckets: tuple[float, ...]) -> Family:
            return Family(f"{ns}_{name}", "histogram", help_text, lbl, buckets)

        self.m_requests = Family(f"{ns}_requests", "counter", "The total number of client requests", lbl)
        self.m_req_time = hist(
            "request_duration_seconds", "The request processing time in milliseconds", TIME_BUCKETS
        )
        self.m_resp_time = hist(
            "response_duration_seconds",
            "The time spent on receiving the response from the upstream server",
            TIME_BUCKETS,
        )
        self.m_connect = hist(
            "connect_duration_seconds",
            "The time spent on establishing a connection with the upstream server",
            TIME_BUCKETS,
        )
        self.m_resp_size = hist(
            "response_size",
            "The response length (including request line, header, and request body)",
            LENGTH_BUCKETS,
        )
        self.m_req_size = hist(
            "request_size",
            "The request length (including request line, header, and request body)",
            LENGTH_BUCKETS,
        )
        self.m_reload_ok = Family(
            f"{ns}_config_last_reload_successful",
            "gauge",
            "Whether the last configuration reload attempt was successful",
            list(const),
        )
        self.m_reload_ts = Family(
            f"{ns}_config_last_reload_successful_timestamp_seconds",
            "gauge",
            "Timestamp of the last successful configuration reload.",
            list(const),
        )
        self.m_reloads = Family(
            f"{ns}_success",
            "counter",
            "Cumulative number of Ingress controller reload operations",
            list(const),
        )
        self.families = [
            self.m_requests,
            self.m_req_time,
            self.m_resp_time,
            self.m_connect,
            self.m_resp_size,
            self.m_req_size,
            self.m_reload_ok,
            self.m_reload_ts,
            self.m_reloads,
        ]
        self.m_reload_ok.labels(**const).set(1)
        self._session: aiohttp.ClientSession | None = None
        self._runners: list[web.AppRunner] = []

    def _accepts(self, ing: Obj) -> bool:
        cls = (ing.get("spec") or {}).get("ingressClassName") or (
            (ing["metadata"].get("annotations") or {}).get("kubernetes.io/ingress.class")
        )
        return not cls or cls in self.classes

    def _changed(self, etype: str = "", obj: Obj | None = None, old: Obj | None = None) -> None:
        routes: list[Route] = []
        for ing in self.ingresses.items():
            if self._accepts(ing):
                routes.extend(routes_of(ing))
        self.routes = routes
        self.m_reloads.labels(**self._const).inc()
        self.m_reload_ts.labels(**self._const).set(time.time())

    def match(self, host: str, path: str) -> Route | None:
        """The best route: most specific host, then Exact over Prefix, then longest path."""
        best: tuple[int, int, int] | None = None
        found: Route | None = None
        for r in self.routes:
            hr = r.host_rank(host)
            if hr < 0 or not r.path_match(path):
                continue
            score = (hr, 1 if r.path_type == "Exact" else 0, len(r.path.rstrip("/")))
            if best is None or score > best:
                best, found = score, r
        return found

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=self.upstream_timeout, sock_connect=5),
            connector=aiohttp.TCPConnector(limit=256),
        )
        if self._own_table:
            await self.table.start()
        self.ingresses.start()
        await self.ingresses.synced.wait()
        self._changed()
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        await self._serve(app, self.listen)
        if self.metrics_listen:
            mapp = web.Application()
            mapp.router.add_get("/metrics", self.metrics)
            mapp.router.add_get("/healthz", _ok)
            await self._serve(mapp, self.metrics_listen)

    async def _serve(self, app: web.Application, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host or "127.0.0.1", int(port), reuse_address=True).start()
        self._runners.append(runner)

    async def stop(self) -> None:
        for r in self._runners:
            await r.cleanup()
        self._runners.clear()
        await self.ingresses.stop()
        if self._own_table:
            await self.table.stop()
        if self._session is not None:
            await self._session.close()

    async def metrics(self, request: web.Request) -> web.Response:
        ex = Exposition()
        for f in self.families:
            f.render(ex)
        return web.Response(body=str(ex).encode(), headers={"Content-Type": CONTENT_TYPE})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        host = (
            (request.host or "").rsplit(":", 1)[0]
            if not (request.host or "").startswith("[")
            else request.host
        )
        route = self.match(host, request.path)
        lbl = dict(self._const, host=host, method=request.method, canary="")
        if route is None:
            return self._record(web.Response(status=404, text="default backend - 404\n"), lbl, t0, request)
        lbl.update(path=route.path, namespace=route.namespace, ingress=route.ingress, service=route.service)
        svc = self.table.service(route.namespace, route.service)
        pname = self.table.port_name(svc, route.port) if svc else None
        backends = self.table.pick(route.namespace, route.service, pname) if pname is not None else []
        if not backends:
            return self._record(
                web.Response(status=503, text="503 Service Temporarily Unavailable\n"), lbl, t0, request
            )
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"
        }
        peer = request.remote or ""
        xff = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{xff}, {peer}" if xff else peer
        headers["X-Real-IP"] = peer
        headers["X-Forwarded-Host"] = request.host or ""
        headers["X-Forwarded-Proto"] = request.scheme
        headers.setdefault("X-Request-ID", uuid.uuid4().hex)
        headers["Host"] = request.host or route.service
        assert self._session is not None
        last_err = ""
        for ip, port in backends[:3]:
            upath = route.rewritten(request.path)
            qs = f"?{request.query_string}" if request.query_string else ""
            url = f"http://{ip}:{port}{upath}{qs}"
            tc = time.perf_counter()
            try:
                async with self._session.request(
                    request.method, url, headers=headers, data=body, allow_redirects=False
                ) as up:
                    connect = time.perf_counter() - tc
                    resp = web.StreamResponse(status=up.status, reason=up.reason)
                    for k, v in up.headers.items():
                        if k.lower() not in HOP_BY_HOP:
                            resp.headers.add(k, v)
                    if "Content-Encoding" in up.headers:
                        resp.headers["Content-Encoding"] = up.headers["Content-Encoding"]
                    await resp.prepare(request)
                    size = 0
                    async for chunk in up.content.iter_any():
                        size += len(chunk)
                        await resp.write(chunk)
                    await resp.write_eof()
                    lbl["status"] = str(up.status)
                    up_time = time.perf_counter() - tc
                    self.m_connect.labels(**lbl).observe(connect)
                    self.m_resp_time.labels(**lbl).observe(up_time)
                    self._observe(lbl, t0, request, size)
                    return resp
            except (TimeoutError, aiohttp.ClientConnectorError) as e:
                last_err = str(e)
                continue
            except aiohttp.ClientError as e:
                last_err = str(e)
                break
        log.debug("ingress upstream failed: %s", last_err)
        return self._record(web.Response(status=502, text="502 Bad Gateway\n"), lbl, t0, request)

    def _record(
        self, resp: web.Response, lbl: dict[str, str], t0: float, request: web.Request
    ) -> web.Response:
        lbl.setdefault("path", "")
        lbl.setdefault("namespace", "")
        lbl.setdefault("ingress", "")
        lbl.setdefault("service", "")
        lbl["status"] = str(resp.status)
        self._observe(lbl, t0, request, len(resp.body or b""))  # type: ignore[arg-type]
        return resp

    def _observe(self, lbl: dict[str, str], t0: float, request: web.Request, size: int) -> None:
        self.m_requests.labels(**lbl).inc()
        self.m_req_time.labels(**lbl).observe(time.perf_counter() - t0)
        self.m_resp_size.labels(**lbl).observe(size)
        self.m_req_size.labels(**lbl).observe(request.content_length or 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ingress-controller", description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default=os.environ.get("INGRESS_LISTEN", "127.0.0.1:8080"))
    p.add_argument("--metrics-listen", default="127.0.0.1:10254")
    p.add_argument("--apiserver")
    p.add_argument("--token")
    p.add_argument("--kubeconfig")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def run() -> None:
        client = KubeClient.from_args(a.apiserver, a.kubeconfig, a.token)
        ctl = IngressController(client, listen=a.listen, metrics_listen=a.metrics_listen or None)
        await ctl.start()
        log.info("ingress controller listening on %s", a.listen)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        await ctl.stop()
        await client.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
