"""A small asyncio Kubernetes REST client and list/watch informer.

Used by the kubelet, the service proxy, the ingress controller and
kube-state-metrics. It speaks only the public Kubernetes API (JSON over HTTP,
``?watch=1`` streams), so every component built on it works against a real
API server as well as Heron's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ApiError(Exception):
    """A non-2xx answer from the API server, with its ``Status`` body."""

    def __init__(self, status: int, body: Any, method: str = "", path: str = "") -> None:
        self.status = status
        self.body = body
        msg = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"{method} {path}: {status} {msg}")

    @property
    def reason(self) -> str:
        return self.body.get("reason", "") if isinstance(self.body, dict) else ""


def api_prefix(api_version: str) -> str:
    """``v1`` -> ``/api/v1``; ``apps/v1`` -> ``/apis/apps/v1``."""
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def path_for(
    api_version: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """REST path of a collection or an object."""
    p = api_prefix(api_version)
    if namespace:
        p += f"/namespaces/{namespace}"
    p += f"/{resource}"
    if name:
        p += f"/{name}"
        if subresource:
            p += f"/{subresource}"
    return p


def pod_root(path: str) -> str:
    """Resolve an absolute in-container path when running inside a Heron pod.

    Heron pods share the host's filesystem; the kubelet sets ``HERON_ROOT`` to
    the directory that stands for the container's ``/``.
    """
    root = os.environ.get("HERON_ROOT")
    if root and path.startswith("/"):
        cand = os.path.join(root, path.lstrip("/"))
        if os.path.exists(cand):
            return cand
    return path


class KubeClient:
    """Async client for one API server (bearer token auth, JSON)."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        ca_file: str | None = None,
        ca_data: str | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
        user_agent: str = "heron-node/0.1",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._ssl: Any = None
        self.ca_pem: str | None = ca_data
        if ca_file and not ca_data:
            with contextlib.suppress(OSError):
                self.ca_pem = Path(ca_file).read_text()
        if self.base_url.startswith("https"):
            import ssl

            if insecure:
                self._ssl = False
            elif self.ca_pem:
                self._ssl = ssl.create_default_context(cadata=self.ca_pem)
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None

    # -- construction helpers -------------------------------------------------
    @classmethod
    def from_kubeconfig(cls, path: str | Path, context: str | None = None) -> KubeClient:
        """Client for the current (or named) context of a kubeconfig file."""
        cfg = yaml.safe_load(Path(path).read_text())
        ctx_name = context or cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user: dict[str, Any] = next(
            (u["user"] for u in cfg.get("users", []) if u["name"] == ctx.get("user")), {}
        )
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = Path(user["tokenFile"]).read_text().strip()
        ca = cluster.get("certificate-authority")
        ca_data = cluster.get("certificate-authority-data")
        if ca and not os.path.isabs(ca):
            ca = str(Path(path).parent / ca)
        return cls(
            cluster["server"],
            token,
            ca_file=ca,
            ca_data=base64.b64decode(ca_data).decode() if ca_data else None,
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
        )

    @classmethod
    def in_cluster(cls) -> KubeClient:
        """Client from the pod environment (``KUBERNETES_SERVICE_HOST``/``_PORT`` + SA token)."""
        host = os.environ["KUBERNETES_SERVICE_HOST"]
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        token_file = pod_root(f"{SA_DIR}/token")
        token = Path(token_file).read_text().strip() if os.path.exists(token_file) else None
        ca = pod_root(f"{SA_DIR}/ca.crt")
        scheme = "https" if os.path.exists(ca) else "http"
        if ":" in host:
            host = f"[{host}]"
        return cls(f"{scheme}://{host}:{port}", token, ca_file=ca if scheme == "https" else None)

    @classmethod
    def from_args(cls, apiserver: str | None, kubeconfig: str | None, token: str | None = None) -> KubeClient:
        """The usual precedence of Kubernetes tools: flags, kubeconfig, in-cluster."""
        if apiserver:
            if not token and kubeconfig:
                token = cls.from_kubeconfig(kubeconfig).token
            return cls(apiserver, token)
        if kubeconfig or os.environ.get("KUBECONFIG"):
            return cls.from_kubeconfig(kubeconfig or os.environ["KUBECONFIG"].split(os.pathsep)[0])
        return cls.in_cluster()

    # -- plumbing ---------------------------------------------------------------
    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(limit=64, ssl=self._ssl),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        raw: bool = False,
    ) -> Any:
        """One request; JSON in and out. Raises :class:`ApiError` on non-2xx."""
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        q = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in (params or {}).items()}
        async with self._sess().request(
            method,
            self.base_url + path,
            params=q,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as resp:
            text = await resp.read()
            if resp.status >= 300:
                try:
                    err = json.loads(text)
                except ValueError:
                    err = {"message": text.decode(errors="replace")}
                raise ApiError(resp.status, err, method, path)
            if raw:
                return text
            return json.loads(text) if text else {}

    async def get(self, path: str, **params: Any) -> Obj:
        return await self.request("GET", path, params=params)

    async def list(self, path: str, **params: Any) -> Obj:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, obj: Obj) -> Obj:
        return await self.request("POST", path, body=obj)

    async def replace(self, path: str, obj: Obj) -> Obj:
        return await self.request("PUT", path, body=obj)

    async def patch(self, path: str, patch: Any, kind: str = "merge") -> Obj:
        ct = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[kind]
        return await self.request("PATCH", path, body=patch, content_type=ct)

    async def delete(self, path: str, body: Obj | None = None, **params: Any) -> Obj:
        return await self.request("DELETE", path, body=body, params=params)

    async def watch(
        self,
        path: str,
        resource_version: str | None = None,
        *,
        timeout_s: int | None = None,
        params: dict[str, str] | None = None,
    ) -> AsyncIterator[Obj]:
        """Yield watch events (``{"type": ..., "object": ...}``) until the stream ends."""
        q: dict[str, str] = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_s or random.randint(240, 360)),
        }
        if resource_version:
            q["resourceVersion"] = resource_version
        q.update(params or {})
        async with self._sess().get(
            self.base_url + path,
            params=q,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=None),
        ) as resp:
            if resp.status >= 300:
                text = await resp.read()
                try:
                    err = json.loads(text)
                except ValueError:
                    err = {"message": text.decode(errors="replace")}
                raise ApiError(resp.status, err, "WATCH", path)
            buf = b""
            async for chunk in resp.content.iter_any():
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
            if buf.strip():
                yield json.loads(buf)


def obj_key(obj: Obj) -> tuple[str, str]:
    md = obj.get("metadata", {})
    return (md.get("namespace", ""), md.get("name", ""))


EventHandler = Callable[[str, Obj, "Obj | None"], None]


class Informer:
    """List then watch one resource, keeping a cache and calling ``handler(type, obj, old)``.

    ``type`` is ``ADDED``, ``MODIFIED`` or ``DELETED``. A relist after a lost or
    expired watch (410 Gone) emits the differences as ordinary events.
    """

    def __init__(
        self,
        client: KubeClient,
        api_version: str,
        resource: str,
        *,
        namespace: str | None = None,
        field_selector: str | None = None,
        label_selector: str | None = None,
        handler: EventHandler | None = None,
        name: str | None = None,
    ) -> None:
        self.client = client
        self.path = path_for(api_version, resource, namespace)
        self.params: dict[str, str] = {}
        if field_selector:
            self.params["fieldSelector"] = field_selector
        if label_selector:
            self.params["labelSelector"] = label_selector
        self.handlers: list[EventHandler] = [handler] if handler else []
        self.cache: dict[tuple[str, str], Obj] = {}
        self.synced = asyncio.Event()
        self.available = True  # False when the API server does not serve this resource
        self.name = name or resource
        self._task: asyncio.Task[None] | None = None
        self.resource_version: str | None = None

    def add_handler(self, handler: EventHandler) -> None:
        self.handlers.append(handler)

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.cache.get((namespace, name))

    def items(self, namespace: str | None = None) -> list[Obj]:
        if namespace is None:
            return list(self.cache.values())
        return [o for (ns, _), o in self.cache.items() if ns == namespace]

    def _emit(self, etype: str, obj: Obj, old: Obj | None) -> None:
        for h in self.handlers:
            try:
                h(etype, obj, old)
            except Exception:  # a handler bug must not kill the informer
                log.exception("informer %s handler failed", self.name)

    async def _relist(self) -> None:
        lst = await self.client.list(self.path, **self.params)
        self.resource_version = lst.get("metadata", {}).get("resourceVersion")
        fresh = {obj_key(o): o for o in lst.get("items") or []}
        old = self.cache
        self.cache = fresh
        for k, o in fresh.items():
            prev = old.get(k)
            if prev is None:
                self._emit("ADDED", o, None)
            elif prev.get("metadata", {}).get("resourceVersion") != o.get("metadata", {}).get(
                "resourceVersion"
            ):
                self._emit("MODIFIED", o, prev)
        for k, o in old.items():
            if k not in fresh:
                self._emit("DELETED", o, o)

    async def run(self) -> None:
        """Run until cancelled."""
        backoff = 0.2
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                    self.available = True
                    self.synced.set()
                async for ev in self.client.watch(self.path, self.resource_version, params=self.params):
                    backoff = 0.2
                    et = ev.get("type")
                    o = ev.get("object") or {}
                    if et == "ERROR":
                        if o.get("code") == 410:
                            need_list = True
                        else:
                            log.debug("watch %s error: %s", self.name, o)
                            need_list = True
                        break
                    rv = o.get("metadata", {}).get("resourceVersion")
                    if rv:
                        self.resource_version = rv
                    if et == "BOOKMARK":
                        continue
                    k = obj_key(o)
                    prev = self.cache.get(k)
                    if et == "DELETED":
                        self.cache.pop(k, None)
                        self._emit("DELETED", o, prev)
                    elif et in ("ADDED", "MODIFIED"):
                        self.cache[k] = o
                        self._emit("MODIFIED" if prev is not None else "ADDED", o, prev)
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.status == 410:
                    need_list = True
                    continue
                if e.status in (401, 403, 404, 405) and need_list:
                    # not served (or not allowed): report synced-but-unavailable, retry slowly
                    if self.available:
                        log.warning("informer %s: %s", self.name, e)
                    self.available = False
                    self.synced.set()
                    await asyncio.sleep(5.0)
                    continue
                log.debug("informer %s: %s", self.name, e)
                need_list = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as e:
                log.debug("informer %s: %s", self.name, e)
                need_list = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer-{self.name}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
