"""A tiny in-memory Kubernetes REST API for node-side unit tests (and its own tests).

Generic over resources: list (label selector ``k=v``, field selectors
``spec.nodeName``/``metadata.name``/``metadata.namespace``), watch with
resourceVersion, get, create, replace, merge patch, delete (graceful for pods
bound to a node), ``status`` subresource. Enough to drive the kubelet, proxy and
kube-state-metrics the way the real API server does.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import time
import uuid
from typing import Any

from aiohttp import web

Obj = dict[str, Any]

KINDS = {
    "pods": "Pod",
    "nodes": "Node",
    "services": "Service",
    "endpoints": "Endpoints",
    "endpointslices": "EndpointSlice",
    "configmaps": "ConfigMap",
    "secrets": "Secret",
    "events": "Event",
    "ingresses": "Ingress",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "namespaces": "Namespace",
    "leases": "Lease",
}
CLUSTER_SCOPED = {"nodes", "namespaces"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _merge(a: Any, b: Any) -> Any:
    if not isinstance(b, dict) or not isinstance(a, dict):
        return copy.deepcopy(b)
    out = dict(a)
    for k, v in b.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(a.get(k), v)
    return out


def _get_field(o: Obj, path: str) -> str:
    cur: Any = o
    for p in path.split("."):
        cur = cur.get(p) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


class FakeAPI:
    """Start with ``await api.start()``; ``api.url``; objects in ``api.objects``."""

    def __init__(self) -> None:
        self.rv = 100
        self.objects: dict[tuple[str, str, str, str], Obj] = {}  # (group/version, resource, ns, name)
        self.watchers: list[tuple[str, str, str | None, dict[str, str], asyncio.Queue[Obj]]] = []
        self.requests: list[tuple[str, str]] = []
        self.history: list[tuple[int, str, str, str, str, Obj]] = []  # rv, gv, resource, ns, type, obj
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner: web.AppRunner | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auto_delete_pods = False

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        for *_, q in self.watchers:
            q.put_nowait({"type": "_CLOSE"})
        if self.runner:
            await self.runner.cleanup()

    # -- direct manipulation (as controllers would) ---------------------------------
    def put(self, gv: str, resource: str, obj: Obj, etype: str | None = None) -> Obj:
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        ns = "" if resource in CLUSTER_SCOPED else md.setdefault("namespace", "default")
        key = (gv, resource, ns, md["name"])
        prev = self.objects.get(key)
        md.setdefault("uid", prev["metadata"]["uid"] if prev else str(uuid.uuid4()))
        md.setdefault(
            "creationTimestamp",
            prev["metadata"].get("creationTimestamp")
            if prev
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        self.rv += 1
        md["resourceVersion"] = str(self.rv)
        obj.setdefault("kind", KINDS.get(resource, resource))
        obj.setdefault("apiVersion", gv)
        self.objects[key] = obj
        self._notify(gv, resource, ns, etype or ("MODIFIED" if prev else "ADDED"), obj)
        return obj

    def remove(self, gv: str, resource: str, ns: str, name: str) -> Obj | None:
        obj = self.objects.pop((gv, resource, ns, name), None)
        if obj is not None:
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._notify(gv, resource, ns, "DELETED", obj)
        return obj

    def get(self, gv: str, resource: str, ns: str, name: str) -> Obj | None:
        return self.objects.get((gv, resource, ns, name))

    def _match(self, o: Obj, sel: dict[str, str]) -> bool:
        for k, v in sel.items():
            if k == "labelSelector":
                for term in filter(None, v.split(",")):
                    lk, _, lv = term.partition("=")
                    if (o["metadata"].get("labels") or {}).get(lk) != lv:
                        return False
            elif k == "fieldSelector":
                for term in filter(None, v.split(",")):
                    fk, _, fv = term.partition("=")
                    if _get_field(o, fk) != fv:
                        return False
        return True

    def _notify(self, gv: str, resource: str, ns: str, etype: str, obj: Obj) -> None:
        self.history.append((self.rv, gv, resource, ns, etype, copy.deepcopy(obj)))
        for wgv, wres, wns, sel, q in self.watchers:
            if wgv == gv and wres == resource and (wns is None or wns == ns) and self._match(obj, sel):
                q.put_nowait({"type": etype, "object": copy.deepcopy(obj)})

    # -- HTTP ---------------------------------------------------------------------------------
    def _parse(self, path: str) -> tuple[str, str, str | None, str | None, str | None]:
        parts = [p for p in path.split("/") if p]
        if parts[0] == "api":
            gv, rest = parts[1], parts[2:]
        else:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        ns = None
        if rest and rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        resource = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return gv, resource, ns, name, sub

    async def handle(self, req: web.Request) -> web.StreamResponse:
        self.requests.append((req.method, req.path))
        try:
            gv, resource, ns, name, sub = self._parse(req.path)
        except IndexError:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        if resource in CLUSTER_SCOPED:
            ns = ""
        q = req.query
        sel = {k: q[k] for k in ("labelSelector", "fieldSelector") if k in q}
        if req.method == "GET" and name is None:
            if q.get("watch") in ("1", "true"):
                return await self._watch(req, gv, resource, ns, sel)
            items = [
                copy.deepcopy(o)
                for (g, r, n, _), o in sorted(self.objects.items())
                if g == gv and r == resource and (ns is None or n == ns) and self._match(o, sel)
            ]
            return web.json_response(
                {
                    "kind": KINDS.get(resource, resource) + "List",
                    "apiVersion": gv,
                    "metadata": {"resourceVersion": str(self.rv)},
                    "items": items,
                }
            )
        ns = ns or ""
        key = (gv, resource, ns, name or "")
        if req.method == "GET":
            o = self.objects.get(key)
            if o is None:
                return self._404(resource, name)
            return web.json_response(o)
        if req.method == "POST":
            body = await req.json()
            if sub == "token":
                return web.json_response({"status": {"token": f"fake-token-{ns}-{name}"}}, status=201)
            body.setdefault("metadata", {})
            if resource not in CLUSTER_SCOPED:
                body["metadata"]["namespace"] = ns or body["metadata"].get("namespace", "default")
            k2 = (gv, resource, body["metadata"].get("namespace", ""), body["metadata"]["name"])
            if resource in CLUSTER_SCOPED:
                k2 = (gv, resource, "", body["metadata"]["name"])
            if k2 in self.objects:
                return web.json_response(
                    {"kind": "Status", "code": 409, "reason": "AlreadyExists"}, status=409
                )
            return web.json_response(self.put(gv, resource, body), status=201)
        if req.method in ("PUT", "PATCH"):
            cur = self.objects.get(key)
            if cur is None:
                return self._404(resource, name)
            body = await req.json()
            if req.method == "PUT":
                rv = body.get("metadata", {}).get("resourceVersion")
                if rv and rv != cur["metadata"]["resourceVersion"]:
                    return web.json_response(
                        {"kind": "Status", "code": 409, "reason": "Conflict"}, status=409
                    )
                new = copy.deepcopy(cur)
                if sub == "status":
                    new["status"] = body.get("status", {})
                else:
                    new = body
                    new["metadata"]["uid"] = cur["metadata"]["uid"]
            else:
                new = _merge(cur, body)
                if sub == "status":
                    new = {**cur, "status": new.get("status", {})}
            return web.json_response(self.put(gv, resource, new))
        if req.method == "DELETE":
            cur = self.objects.get(key)
            if cur is None:
                return self._404(resource, name)
            opts = {}
            if req.can_read_body:
                opts = await req.json()
            grace = opts.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
            if (
                resource == "pods"
                and cur.get("spec", {}).get("nodeName")
                and (grace is None or int(grace) > 0)
            ):
                if grace is None:
                    grace = cur["spec"].get("terminationGracePeriodSeconds", 30)
                if not cur["metadata"].get("deletionTimestamp"):
                    new = copy.deepcopy(cur)
                    new["metadata"]["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    new["metadata"]["deletionGracePeriodSeconds"] = int(grace)
                    return web.json_response(self.put(gv, resource, new))
                return web.json_response(cur)
            return web.json_response(self.remove(gv, resource, ns, name or ""))
        return web.json_response({"kind": "Status", "code": 405}, status=405)

    def _404(self, resource: str, name: str | None) -> web.Response:
        return web.json_response(
            {
                "kind": "Status",
                "code": 404,
                "reason": "NotFound",
                "message": f'{resource} "{name}" not found',
            },
            status=404,
        )

    async def _watch(
        self, req: web.Request, gv: str, resource: str, ns: str | None, sel: dict[str, str]
    ) -> web.StreamResponse:
        q: asyncio.Queue[Obj] = asyncio.Queue()
        w = (gv, resource, ns, sel, q)
        self.watchers.append(w)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(req)
        since = int(req.query.get("resourceVersion") or 0)
        # replay the events after `since`, like the API server's watch cache
        for rv, g, r, n, et, o in list(self.history):
            if rv > since and g == gv and r == resource and (ns is None or n == ns) and self._match(o, sel):
                q.put_nowait({"type": et, "object": copy.deepcopy(o)})
        try:
            while True:
                ev = await q.get()
                if ev["type"] == "_CLOSE":
                    break
                await resp.write(json.dumps(ev).encode() + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.remove(w)
        return resp


async def test_fake_api_list_watch_roundtrip() -> None:
    from cluster.kubelet.client import Informer, KubeClient

    api = FakeAPI()
    await api.start()
    client = KubeClient(api.url)
    seen: list[tuple[str, str]] = []
    inf = Informer(
        client, "v1", "configmaps", handler=lambda t, o, old: seen.append((t, o["metadata"]["name"]))
    )
    try:
        api.put("v1", "configmaps", {"metadata": {"name": "a", "namespace": "x"}, "data": {"k": "1"}})
        inf.start()
        await asyncio.wait_for(inf.synced.wait(), 5)
        api.put("v1", "configmaps", {"metadata": {"name": "b", "namespace": "x"}})
        api.remove("v1", "configmaps", "x", "a")
        for _ in range(50):
            if len(seen) >= 3:
                break
            await asyncio.sleep(0.05)
        assert seen == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
        assert inf.get("x", "b") is not None and inf.get("x", "a") is None
    finally:
        await inf.stop()
        await client.close()
        await api.stop()


# -- helpers shared by the node-side tests ----------------------------------------------------

_used_octets: set[int] = set()


def loopback_base() -> str:
    """A ``127.<n>`` prefix no other test in this run uses (pods get ``127.<n>.<node>.<k>``)."""
    import random

    while True:
        n = random.SystemRandom().randint(20, 90)
        if n not in _used_octets:
            _used_octets.add(n)
            return f"127.{n}"


async def wait_for(pred, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll ``pred()`` (sync or async) until truthy; return its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while True:
        last = pred()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


def http_pod(
    name: str, node: str, *, ns: str = "default", labels: dict[str, str] | None = None, **spec: Any
) -> Obj:
    """A pod running ``python3 -m http.server 8080 --bind $(POD_IP)`` with a readiness probe."""
    c = {
        "name": "web",
        "image": "python:3.11",
        "command": ["python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    }
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": "web"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 3, "containers": [c], **spec},
    }


def pids_alive(pids: list[int]) -> list[int]:
    """The pids that still exist (and are not zombies)."""
    out = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(p)
        except OSError:
            pass
    return out
