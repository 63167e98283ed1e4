"""The embedded control plane: store, API server, scheduler and controllers in one process.

Usage::

    cp = ControlPlane(Path("heron-data/cluster"))
    await cp.start()          # serves the API, writes <data>/kubeconfig
    ...                       # cp.url, cp.admin_token, cp.kubeconfig_path, cp.registry
    await cp.stop()

Kubelets (``cluster.nodes``) talk to it only over the Kubernetes REST API.
Contract for a kubelet, as with a real API server:

- register ``Node`` objects (POST /api/v1/nodes) with ``status.addresses``
  (``InternalIP``), ``status.daemonEndpoints.kubeletEndpoint.Port``,
  capacity/allocatable and a ``Ready`` condition; heartbeat either by PATCHing
  ``/api/v1/nodes/<n>/status`` (``lastHeartbeatTime`` of the conditions) or by
  renewing the ``Lease`` ``kube-node-lease/<n>`` (coordination.k8s.io/v1).
- watch pods with ``fieldSelector=spec.nodeName=<n>``, update ``pods/<p>/status``.
- a pod deleted with a grace period gets ``deletionTimestamp``; the kubelet stops
  it and confirms with ``DELETE ...?gracePeriodSeconds=0`` (which removes it).
- the API is served over HTTPS with the cluster CA at ``<data>/pki/ca.crt``
  (``cp.ca_path``, embedded in the kubeconfig; ``NodeSet(..., ca_file=...)``);
  :func:`load_kubeconfig` gives URL, token and an ``ssl.SSLContext`` for aiohttp.
- when a node goes silent its pods' ``Ready`` condition is set to False
  (MarkPodsNotReady) so Endpoints drop them before eviction.
- ``kubectl logs`` is proxied to ``GET http://<InternalIP>:<kubelet port>/containerLogs/<ns>/<pod>/<container>``
  with the query parameters ``follow``, ``previous``, ``tailLines``, ``sinceSeconds``,
  ``sinceTime``, ``timestamps``, ``limitBytes``; ``/api/v1/nodes/<n>/proxy/<path>``
  is proxied to ``http://<InternalIP>:<kubelet port>/<path>``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
import secrets
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from cluster.apiserver import errors
from cluster.apiserver.certs import ensure_serving_certs
from cluster.apiserver.registry import Registry
from cluster.apiserver.resources import ResourceTable
from cluster.apiserver.server import APIServer
from cluster.auth import TokenAuthenticator, User, load_or_create_key
from cluster.controllers.clock import Clock, RealClock
from cluster.rbac import Authorizer, bootstrap_policy
from cluster.store import Store

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

NodeFactory = Callable[["ControlPlane", int], Any]
"""``node_factory(cp, index)`` returns a node handle with ``start()``/``stop()`` (sync or async).

Without a factory, ``nodes=N`` starts ``cluster.nodes.NodeSet`` (real kubelets, service
proxy, ingress; ``node_options`` are passed to it) when that module is present, and
hollow nodes (:mod:`cluster.controllers.hollow`) otherwise."""


class ControlPlane:
    """API server + store + scheduler + controllers, embeddable in any asyncio program."""

    def __init__(
        self,
        data_dir: Path,
        listen: str = "127.0.0.1:6443",
        clock: Clock | None = None,
        nodes: int = 0,
        *,
        node_factory: NodeFactory | None = None,
        prometheus_url: str | None = None,
        service_cidr: str = "127.96.0.0/16",
        node_monitor_grace_period: float = 40.0,
        pod_eviction_timeout: float = 300.0,
        controllers: bool = True,
        sync_period: float = 30.0,
        tls: bool = True,
        hpa_query: Any = None,
        node_options: dict[str, Any] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        host, _, port = listen.rpartition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port or 6443)
        self.clock: Clock = clock or RealClock()
        self.nodes = nodes
        self.node_factory = node_factory
        self.prometheus_url = prometheus_url
        self.service_cidr = service_cidr
        self.node_monitor_grace_period = node_monitor_grace_period
        self.pod_eviction_timeout = pod_eviction_timeout
        self.run_controllers = controllers
        self.sync_period = sync_period
        self.tls = tls
        self.hpa_query = hpa_query
        self.node_options = dict(node_options or {})
        self.nodeset: Any = None
        self.manager: Any = None
        self.store: Store | None = None
        self.registry: Registry
        self.server: APIServer
        self.authn: TokenAuthenticator
        self.admin_token = ""
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.controllers: list[Any] = []
        self.node_handles: list[Any] = []

    # ---- public surface ------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the API server (``https://127.0.0.1:6443``; http with ``tls=False``)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ca_path(self) -> Path:
        """The cluster CA certificate (``<data_dir>/pki/ca.crt``)."""
        return self.data_dir / "pki" / "ca.crt"

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """An SSL context trusting the cluster CA (None without TLS)."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_path))

    @property
    def kubeconfig_path(self) -> Path:
        """``<data_dir>/kubeconfig`` (admin, bearer token)."""
        return self.data_dir / "kubeconfig"

    async def start(self) -> None:
        """Open the store, bootstrap, start controllers and serve; then write the kubeconfig."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(
            self.data_dir / "store",
            encrypt_prefixes=("/registry/core/secrets/",),
            key_file=self.data_dir / "encryption.key",
        )
        self.store = store
        self.registry = Registry(
            store,
            ResourceTable(),
            self.clock,
            service_cidr=self.service_cidr,
            default_toleration_seconds=int(self.pod_eviction_timeout),
        )
        sa_key = load_or_create_key(self.data_dir / "sa.key")
        self.authn = TokenAuthenticator(
            self.data_dir / "tokens.csv",
            signing_key=sa_key,
            sa_lookup=lambda ns, n: self.registry.try_get("serviceaccounts", ns, n),
            clock=self.clock.now,
        )
        self.admin_token = self._admin_token()
        self.server = APIServer(self.registry, self.authn, Authorizer(self.registry))
        self._bootstrap()
        if self.tls:
            ensure_serving_certs(self.data_dir / "pki", [self.host, "127.0.0.1"])
        if self.run_controllers:
            self._start_controllers()
        self._runner = web.AppRunner(self.server.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        ssl_ctx = None
        if self.tls:
            _, crt, key = ensure_serving_certs(self.data_dir / "pki", [self.host, "127.0.0.1"])
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_ctx.load_cert_chain(str(crt), str(key))
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, ssl_context=ssl_ctx)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._update_kubernetes_endpoints()
        self._write_kubeconfig()
        log.info("control plane serving at %s (kubeconfig %s)", self.url, self.kubeconfig_path)
        if self.nodes:
            await self._start_nodes()

    async def _start_nodes(self) -> None:
        if self.node_factory is not None:
            for i in range(self.nodes):
                h = self.node_factory(self, i)
                if asyncio.iscoroutine(h):
                    h = await h
                start = getattr(h, "start", None)
                if start is not None:
                    res = start()
                    if asyncio.iscoroutine(res):
                        await res
                self.node_handles.append(h)
            return
        try:
            from cluster.nodes import NodeSet, node_names
        except ImportError:
            from cluster.controllers.hollow import hollow_node_factory

            self.node_factory = hollow_node_factory
            await self._start_nodes()
            return
        params = inspect.signature(NodeSet).parameters
        kw: dict[str, Any] = dict(self.node_options)
        if self.tls and "ca_file" in params:
            kw["ca_file"] = str(self.ca_path)
        nodeset = NodeSet(self.url, self.admin_token, node_names(self.nodes), self.data_dir / "nodes", **kw)
        if self.tls and "ca_file" not in params:
            from cluster.kubelet import KubeClient

            nodeset.client = KubeClient(self.url, self.admin_token, ca_file=str(self.ca_path))
        self.nodeset = nodeset
        await nodeset.start()
        self.node_handles.append(nodeset)

    async def stop(self) -> None:
        """Stop nodes, controllers and the server; persist the store."""
        for h in reversed(self.node_handles):
            stop = getattr(h, "stop", None)
            if stop is not None:
                with contextlib.suppress(Exception):
                    res = stop()
                    if asyncio.iscoroutine(res):
                        await res
        self.node_handles.clear()
        for c in self.controllers:
            stop = getattr(c, "stop", None)
            if stop is not None:
                stop()
        if hasattr(self, "server"):
            self.server.shutdown()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.store is not None:
            self.store.close()
            self.store = None

    async def __aenter__(self) -> ControlPlane:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def add_token(self, token: str, user: str, groups: list[str] | None = None) -> None:
        """Add a static bearer token (persisted in ``<data>/tokens.csv``)."""
        self.authn.add_static(token, User(user, user, tuple(groups or ())))

    def write_kubeconfig(self, path: Path, user: str, token: str, namespace: str = "default") -> Path:
        """Write a kubeconfig for another user/token."""
        path.write_text(yaml.safe_dump(self._kubeconfig(user, token, namespace), sort_keys=False))
        path.chmod(0o600)
        return path

    # ---- internals ----------------------------------------------------------
    def _admin_token(self) -> str:
        for tok, u in self.authn._static.items():  # noqa: SLF001
            if u.name == "admin":
                return tok
        tok = secrets.token_urlsafe(32)
        self.authn.add_static(tok, User("admin", "admin", ("system:masters",)))
        return tok

    def _kubeconfig(self, user: str, token: str, namespace: str = "default") -> dict[str, Any]:
        ca = self.ca_path.read_bytes() if self.tls else None
        return kubeconfig(self.url, user, token, namespace, ca)

    def _write_kubeconfig(self) -> None:
        tmp = self.kubeconfig_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(self._kubeconfig("admin", self.admin_token), sort_keys=False))
        tmp.chmod(0o600)
        tmp.replace(self.kubeconfig_path)

    def _ensure(self, res: str, ns: str | None, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if self.registry.try_get(res, ns, name) is None:
            try:
                self.registry.create(res, ns, obj)
            except errors.APIError as e:
                log.warning("bootstrap of %s %s failed: %s", res, name, e.message)

    def _bootstrap(self) -> None:
        for ns in SYSTEM_NAMESPACES:
            self._ensure(
                "namespaces", None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            )
        for obj in bootstrap_policy():
            res = "clusterroles" if obj["kind"] == "ClusterRole" else "clusterrolebindings"
            cur = self.registry.try_get(res, None, obj["metadata"]["name"])
            if cur is None:
                self._ensure(res, None, obj)
            elif (cur["metadata"].get("annotations") or {}).get(
                "rbac.authorization.kubernetes.io/autoupdate"
            ) == "true":
                obj["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
                with contextlib.suppress(errors.APIError):
                    self.registry.update(res, None, obj["metadata"]["name"], obj)
        for crd in default_crds():
            self._ensure("customresourcedefinitions", None, crd)
        self._ensure(
            "ingressclasses",
            None,
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": {
                    "name": "heron",
                    "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
                },
                "spec": {"controller": "heron.dev/ingress"},
            },
        )
        self._ensure(
            "services",
            "default",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kubernetes",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "type": "ClusterIP",
                    "clusterIP": str(next(self.registry.service_net.hosts())),
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.port}],
                },
            },
        )

    def _update_kubernetes_endpoints(self) -> None:
        ep = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
            },
            "subsets": [
                {
                    "addresses": [{"ip": self.host}],
                    "ports": [{"name": "https", "port": self.port, "protocol": "TCP"}],
                }
            ],
        }
        cur = self.registry.try_get("endpoints", "default", "kubernetes")
        if cur is None:
            self.registry.create("endpoints", "default", ep)
        elif cur.get("subsets") != ep["subsets"]:
            cur["subsets"] = ep["subsets"]
            self.registry.update("endpoints", "default", "kubernetes", cur)
        svc = self.registry.try_get("services", "default", "kubernetes")
        if svc is not None and svc["spec"]["ports"][0].get("targetPort") != self.port:
            svc["spec"]["ports"][0]["targetPort"] = self.port
            self.registry.update("services", "default", "kubernetes", svc)

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until the controllers have processed every pending change (tests)."""
        if self.manager is not None:
            await self.manager.settle(timeout)

    def _start_controllers(self) -> None:
        from cluster.controllers import build_controllers

        self.controllers = build_controllers(self)
        if self.manager is not None:
            self.server.metrics.registry.register(self.manager)
        for c in self.controllers:
            self._tasks.append(asyncio.create_task(c.run(), name=type(c).__name__))


def kubeconfig(
    server: str, user: str, token: str, namespace: str = "default", ca_pem: bytes | None = None
) -> dict[str, Any]:
    """A kubeconfig document for a bearer token."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "heron", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {"name": f"{user}@heron", "context": {"cluster": "heron", "user": user, "namespace": namespace}}
        ],
        "current-context": f"{user}@heron",
        "preferences": {},
    }


def load_kubeconfig(path: Path) -> tuple[str, str, ssl.SSLContext | None]:
    """(server URL, bearer token, SSL context trusting its CA) of a kubeconfig's current context."""
    doc = yaml.safe_load(Path(path).read_text())
    ctx_name = doc.get("current-context")
    ctx: dict[str, Any] = next((c["context"] for c in doc.get("contexts") or [] if c["name"] == ctx_name), {})
    cl: dict[str, Any] = next(
        (c["cluster"] for c in doc.get("clusters") or [] if c["name"] == ctx.get("cluster")), {}
    )
    us: dict[str, Any] = next((u["user"] for u in doc.get("users") or [] if u["name"] == ctx.get("user")), {})
    ssl_ctx = None
    if cl.get("server", "").startswith("https"):
        if cl.get("certificate-authority-data"):
            ssl_ctx = ssl.create_default_context(
                cadata=base64.b64decode(cl["certificate-authority-data"]).decode()
            )
        elif cl.get("certificate-authority"):
            ssl_ctx = ssl.create_default_context(cafile=cl["certificate-authority"])
        else:
            ssl_ctx = ssl.create_default_context()
    return cl.get("server", ""), us.get("token", ""), ssl_ctx


def _monitor_crd(plural: str, kind: str, short: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.monitoring.coreos.com",
            "annotations": {"heron.dev/bootstrap": "true"},
        },
        "spec": {
            "group": "monitoring.coreos.com",
            "names": {
                "plural": plural,
                "singular": kind.lower(),
                "kind": kind,
                "listKind": kind + "List",
                "shortNames": [short],
                "categories": ["prometheus-operator"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                            "required": ["spec"],
                        }
                    },
                }
            ],
        },
    }


def default_crds() -> list[dict[str, Any]]:
    """CRDs installed by default: ServiceMonitor and PodMonitor (monitoring.coreos.com/v1)."""
    return [
        _monitor_crd("servicemonitors", "ServiceMonitor", "smon"),
        _monitor_crd("podmonitors", "PodMonitor", "pmon"),
    ]
