"""The HTTP API server: Kubernetes REST paths, discovery, watch streams, authn/authz."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import yaml
from aiohttp import ClientSession, ClientTimeout, web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from cluster.auth import ANONYMOUS, TokenAuthenticator, User
from cluster.rbac import Attributes, Authorizer, forbidden_message

from . import errors
from .registry import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, Registry
from .resources import GROUP_ORDER, ResourceInfo
from .tables import CREATED_AT, PRINTERS, crd_printer, partial_metadata, to_table

log = logging.getLogger(__name__)

GIT_VERSION = "v1.32.0-heron"
_SUBRESOURCE_HANDLERS = {"status", "scale", "log", "binding", "eviction", "token", "finalize", "proxy"}


class APIMetrics:
    """apiserver_* metrics in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, group, version, resource and HTTP response code.",
            ["verb", "group", "version", "resource", "subresource", "scope", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, group, version, resource and subresource.",
            ["verb", "group", "version", "resource", "subresource", "scope"],
            buckets=(0.005, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60),
            registry=self.registry,
        )
        self.watchers = Gauge(
            "apiserver_registered_watchers",
            "Number of currently registered watchers for a given resources",
            ["group", "version", "kind"],
            registry=self.registry,
        )
        self.longrunning = Gauge(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.",
            ["verb", "group", "version", "resource", "scope"],
            registry=self.registry,
        )
        self.storage_objects = Gauge(
            "apiserver_storage_objects",
            "Number of stored objects at the time of last check split by kind.",
            ["resource"],
            registry=self.registry,
        )
        self.revision = Gauge(
            "etcd_current_revision", "Current global revision of the store.", registry=self.registry
        )


class _Req:
    """Parsed resource request."""

    def __init__(self) -> None:
        self.resource: ResourceInfo | None = None
        self.namespace: str | None = None
        self.name: str = ""
        self.subresource: str = ""
        self.rest: str = ""  # path after proxy
        self.verb: str = ""
        self.group = ""
        self.version = ""
        self.plural = ""


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _wants_partial(request: web.Request) -> bool:
    acc = request.headers.get("Accept", "")
    return "as=PartialObjectMetadata" in acc


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(obj, separators=(",", ":")).encode() + b"\n",
        status=status,
        content_type="application/json",
    )


def _error(e: errors.APIError) -> web.Response:
    return _json(e.status(), e.code)


def _boolq(v: str | None) -> bool:
    return v is not None and v.lower() in ("1", "true", "t", "yes")


class APIServer:
    """aiohttp application serving the Kubernetes API over a :class:`Registry`."""

    def __init__(
        self,
        registry: Registry,
        authenticator: TokenAuthenticator,
        authorizer: Authorizer | None = None,
        *,
        anonymous: bool = True,
    ) -> None:
        self.registry = registry
        self.authn = authenticator
        self.authz = authorizer or Authorizer(registry)
        self.anonymous = anonymous
        self.metrics = APIMetrics()
        self._shutdown = asyncio.Event()
        self._client: ClientSession | None = None
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.app.on_cleanup.append(self._cleanup)

    async def _cleanup(self, app: web.Application) -> None:
        self._shutdown.set()
        if self._client is not None:
            await self._client.close()

    def shutdown(self) -> None:
        """End every open watch."""
        self._shutdown.set()

    # ---- entry ---------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        req = _Req()
        code = 500
        try:
            user = self._impersonate(request, self._authenticate(request))
            resp = await self._route(request, user, req)
            code = resp.status
            return resp
        except errors.APIError as e:
            code = e.code
            return _error(e)
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # noqa: BLE001 - the server keeps running
            log.exception("internal error serving %s %s", request.method, request.path)
            code = 500
            return _error(errors.internal(str(e)))
        finally:
            if req.verb and req.verb != "watch":
                labels = self._labels(req)
                self.metrics.requests.labels(*labels, str(code)).inc()
                self.metrics.latency.labels(*labels).observe(time.perf_counter() - t0)

    def _labels(self, req: _Req) -> tuple[str, ...]:
        scope = "resource" if req.name else ("namespace" if req.namespace else "cluster")
        return (
            req.verb.upper() if req.verb in ("watch",) else req.verb.upper(),
            req.group,
            req.version,
            req.plural,
            req.subresource,
            scope,
        )

    def _authenticate(self, request: web.Request) -> User:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:].strip()
            user = self.authn.authenticate(token)
            if user is None:
                raise errors.unauthorized()
            return user
        if self.anonymous:
            return ANONYMOUS
        raise errors.unauthorized()

    def _impersonate(self, request: web.Request, user: User) -> User:
        """Apply ``Impersonate-User``/``-Group``/``-Uid`` headers (the requester needs ``impersonate``)."""
        name = request.headers.get("Impersonate-User")
        groups = request.headers.getall("Impersonate-Group", [])
        if not name and not groups:
            return user
        if not name:
            raise errors.bad_request("requested impersonation of groups without impersonating a user")
        if name.startswith("system:serviceaccount:"):
            _, _, rest = name.partition("system:serviceaccount:")
            sa_ns, _, sa_name = rest.partition(":")
            self._authorize(user, Attributes("impersonate", "", "serviceaccounts", "", sa_ns, sa_name))
            groups = [*groups, "system:serviceaccounts", f"system:serviceaccounts:{sa_ns}"]
        else:
            self._authorize(user, Attributes("impersonate", "", "users", "", "", name))
        for g in request.headers.getall("Impersonate-Group", []):
            self._authorize(user, Attributes("impersonate", "", "groups", "", "", g))
        uid = request.headers.get("Impersonate-Uid", "")
        if uid:
            self._authorize(user, Attributes("impersonate", "authentication.k8s.io", "uids", "", "", uid))
        if name != "system:anonymous" and "system:authenticated" not in groups:
            groups.append("system:authenticated")
        return User(name, uid, tuple(groups))

    def _authorize(self, user: User, a: Attributes) -> None:
        ok, _ = self.authz.authorize(user, a)
        if not ok:
            kind = a.resource
            raise errors.forbidden(forbidden_message(user, a), a.name, a.api_group, kind)

    async def _route(self, request: web.Request, user: User, req: _Req) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            return await self._non_resource(request, user, path)
        if parts[0] == "api":
            if len(parts) == 1:
                self._authorize(user, Attributes("get", path="/api"))
                return _json(self._api_versions(request))
            group, version, rest = "", parts[1], parts[2:]
            if version != "v1":
                raise errors.not_found("", "", "", "")
        else:
            if len(parts) == 1:
                self._authorize(user, Attributes("get", path="/apis"))
                return _json(self._api_group_list())
            if len(parts) == 2:
                self._authorize(user, Attributes("get", path=path))
                g = self._api_group(parts[1])
                if g is None:
                    raise _page_not_found()
                return _json(g)
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            self._authorize(user, Attributes("get", path=path))
            rl = self._resource_list(group, version)
            if rl is None:
                raise _page_not_found()
            return _json(rl)
        watch_path = False
        if rest[0] == "watch":
            watch_path = True
            rest = rest[1:]
        self._parse_resource_path(group, version, rest, req)
        assert req.resource is not None
        r = req.resource
        q = request.query
        m = request.method
        if m == "GET":
            if req.subresource and req.subresource not in ("status", "scale", "log", "proxy"):
                raise errors.method_not_allowed()
            if req.name and not req.subresource and not watch_path:
                req.verb = "get"
            elif watch_path or _boolq(q.get("watch")):
                req.verb = "watch"
            elif req.name and req.subresource:
                req.verb = "get"
            else:
                req.verb = "list"
        elif m == "POST":
            req.verb = "create"
        elif m == "PUT":
            req.verb = "update"
        elif m == "PATCH":
            req.verb = "patch"
        elif m == "DELETE":
            req.verb = "delete" if req.name else "deletecollection"
        else:
            raise errors.method_not_allowed()
        if req.verb not in r.verbs and not req.subresource:
            if not (req.verb == "watch" and "list" in r.verbs and r.storage):
                raise errors.method_not_allowed()
        attrs = Attributes(
            req.verb,
            r.group,
            r.plural,
            req.subresource,
            req.namespace or "",
            req.name,
        )
        if req.subresource == "proxy" or (
            r.plural in ("pods", "nodes", "services") and req.subresource == "proxy"
        ):
            attrs = Attributes(
                "get" if m == "GET" else req.verb, r.group, r.plural, "proxy", req.namespace or "", req.name
            )
        self._authorize(user, attrs)
        return await self._resource(request, user, req)

    def _parse_resource_path(self, group: str, version: str, rest: list[str], req: _Req) -> None:
        reg = self.registry
        req.group, req.version = group, version

        def find(plural: str) -> ResourceInfo:
            r = reg.resources.get(group, version, plural)
            if r is None:
                raise _page_not_found()
            return r

        if (
            rest[0] == "namespaces"
            and len(rest) >= 3
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))
        ):
            ns = rest[1]
            r = find(rest[2])
            if not r.namespaced:
                raise _page_not_found()
            req.resource, req.namespace = r, ns
            if len(rest) >= 4:
                req.name = rest[3]
            if len(rest) >= 5:
                req.subresource = rest[4]
                req.rest = "/".join(rest[5:])
        else:
            r = find(rest[0])
            req.resource = r
            if len(rest) >= 2:
                req.name = rest[1]
                if r.namespaced:
                    # GET /api/v1/pods/x is not a valid path
                    raise _page_not_found()
            if len(rest) >= 3:
                req.subresource = rest[2]
                req.rest = "/".join(rest[3:])
        req.plural = req.resource.plural
        sub = req.subresource
        if sub:
            if sub not in req.resource.subresources and not (
                sub == "status" and req.resource.crd is None and False
            ):
                raise _page_not_found()
        if req.name and ":" in req.name and sub == "proxy":
            pass

    # ---- non-resource ----------------------------------------------------
    async def _non_resource(self, request: web.Request, user: User, path: str) -> web.StreamResponse:
        verb = request.method.lower()
        if verb == "head":
            verb = "get"
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            self._authorize(user, Attributes(verb, path=path))
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            self._authorize(user, Attributes(verb, path=path))
            return _json(version_info())
        if path == "/metrics":
            self._authorize(user, Attributes(verb, path=path))
            self._refresh_metrics()
            return web.Response(
                body=generate_latest(self.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )
        if path == "/openapi/v2" or path == "/swagger.json":
            self._authorize(user, Attributes(verb, path=path))
            if "protobuf" in request.headers.get("Accept", ""):
                # an empty openapi_v2.Document: kubectl then falls back to its compiled-in types
                return web.Response(body=b"", headers={"Content-Type": "application/octet-stream"})
            return _json(
                {
                    "swagger": "2.0",
                    "info": {"title": "Kubernetes", "version": GIT_VERSION},
                    "paths": {},
                    "definitions": {},
                }
            )
        if path == "/":
            self._authorize(user, Attributes(verb, path=path))
            paths = [
                "/api",
                "/api/v1",
                "/apis",
                "/healthz",
                "/livez",
                "/metrics",
                "/openapi/v2",
                "/readyz",
                "/version",
            ]
            for g, vs in self.registry.resources.groups().items():
                if g:
                    paths.append(f"/apis/{g}")
                    paths += [f"/apis/{g}/{v}" for v in vs]
            return _json({"paths": sorted(paths)})
        self._authorize(user, Attributes(verb, path=path))
        raise _page_not_found()

    def _refresh_metrics(self) -> None:
        self.metrics.revision.set(self.registry.store.revision)
        for r in self.registry.resources.all():
            if r.storage:
                self.metrics.storage_objects.labels(r.group_resource).set(
                    self.registry.store.count(r.prefix())
                )

    # ---- discovery -------------------------------------------------------
    def _api_versions(self, request: web.Request) -> dict[str, Any]:
        host = request.host
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }

    def _groups_sorted(self) -> list[tuple[str, list[str]]]:
        groups = [(g, vs) for g, vs in self.registry.resources.groups().items() if g]

        def order(item: tuple[str, list[str]]) -> tuple[int, str]:
            g = item[0]
            return (GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER), g)

        return sorted(groups, key=order)

    def _group_doc(self, g: str, vs: list[str]) -> dict[str, Any]:
        versions = sorted(vs, key=_version_priority)
        vlist = [{"groupVersion": f"{g}/{v}", "version": v} for v in versions]
        return {"name": g, "versions": vlist, "preferredVersion": vlist[0]}

    def _api_group_list(self) -> dict[str, Any]:
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._group_doc(g, vs) for g, vs in self._groups_sorted()],
        }

    def _api_group(self, group: str) -> dict[str, Any] | None:
        vs = self.registry.resources.groups().get(group)
        if not vs or not group:
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(group, vs)}

    def _resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        rs = self.registry.resources.in_group_version(group, version)
        if not rs:
            return None
        resources: list[dict[str, Any]] = []
        for r in sorted(rs, key=lambda x: x.plural):
            resources += r.discovery()
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    # ---- resources -------------------------------------------------------
    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        ct = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
        if not raw.strip():
            return None
        if ct in ("application/yaml", "application/apply-patch+yaml", "text/yaml"):
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as e:
                raise errors.bad_request(f"error converting YAML to JSON: {e}") from None
        if ct == "application/vnd.kubernetes.protobuf":
            from .protobuf import ProtobufError, decode

            try:
                return decode(raw)
            except ProtobufError as e:
                raise errors.APIError(
                    415, "UnsupportedMediaType", f"protobuf body not supported ({e}); send application/json"
                ) from None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None

    async def _resource(self, request: web.Request, user: User, req: _Req) -> web.StreamResponse:
        reg = self.registry
        r = req.resource
        assert r is not None
        q = request.query
        ns, name, sub = req.namespace, req.name, req.subresource
        dry = q.get("dryRun") == "All"
        if sub == "log":
            return await self._logs(request, req)
        if sub == "proxy":
            return await self._proxy(request, req)
        if req.verb == "watch":
            return await self._watch(request, req)
        if req.verb == "list":
            lst = reg.list(
                r,
                ns,
                label_selector=q.get("labelSelector"),
                field_selector=q.get("fieldSelector"),
                limit=int(q.get("limit") or 0),
                continue_=q.get("continue"),
            )
            if _wants_table(request):
                return _json(
                    to_table(
                        self._printer(r),
                        lst["items"],
                        reg.clock.now(),
                        resource_version=lst["metadata"]["resourceVersion"],
                        continue_=lst["metadata"].get("continue", ""),
                        include_object=q.get("includeObject", "Metadata"),
                    )
                )
            if _wants_partial(request):
                lst = {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": lst["metadata"],
                    "items": [partial_metadata(o) for o in lst["items"]],
                }
            return _json(lst)
        if req.verb == "get":
            if sub == "scale":
                return _json(reg.get_scale(r, ns, name))
            obj = reg.get(r, ns, name)
            if _wants_table(request):
                return _json(
                    to_table(
                        self._printer(r),
                        [obj],
                        reg.clock.now(),
                        include_object=q.get("includeObject", "Metadata"),
                    )
                )
            if _wants_partial(request):
                return _json(partial_metadata(obj))
            return _json(obj)
        if req.verb == "create":
            body = await self._body(request)
            if sub:
                return await self._create_sub(request, user, req, body)
            if r.plural == "bindings":
                return self._bind(ns, body)
            if not r.storage:
                return self._review(user, req, body)
            return _json(reg.create(r, ns, body, dry_run=dry), 201)
        if req.verb == "update":
            body = await self._body(request)
            if sub == "scale":
                return _json(reg.update_scale(r, ns, name, body or {}, dry))
            if not isinstance(body, dict):
                raise errors.bad_request("the body of the request must be an object")
            return _json(reg.update(r, ns, name, body, subresource=sub, dry_run=dry))
        if req.verb == "patch":
            ct = request.headers.get("Content-Type", "").split(";")[0].strip()
            if ct not in (MERGE_PATCH, STRATEGIC_PATCH, JSON_PATCH, APPLY_PATCH):
                raise errors.unsupported_media(ct)
            body = await self._body(request)
            if body is None:
                raise errors.bad_request("the body of the request was empty")
            return _json(
                reg.patch(r, ns, name, body, ct, subresource=sub, dry_run=dry, force=_boolq(q.get("force")))
            )
        if req.verb == "delete":
            body = await self._body(request) or {}
            if not isinstance(body, dict):
                raise errors.bad_request("DeleteOptions must be an object")
            for k in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
                if k in q:
                    v: Any = q[k]
                    if k == "gracePeriodSeconds":
                        v = int(v)
                    elif k == "orphanDependents":
                        v = _boolq(v)
                    body.setdefault(k, v)
            if dry:
                body["dryRun"] = ["All"]
            obj, done = reg.delete(r, ns, name, body)
            if r.kind in ("Event",) and False:
                pass
            return _json(obj, 200 if done else 202 if r.kind != "Pod" else 200)
        if req.verb == "deletecollection":
            body = await self._body(request) or {}
            lst = reg.delete_collection(
                r, ns, body, label_selector=q.get("labelSelector"), field_selector=q.get("fieldSelector")
            )
            return _json(lst)
        raise errors.method_not_allowed()

    def _printer(self, r: ResourceInfo) -> Any:
        if r.crd is not None:
            return crd_printer(r.crd)
        return PRINTERS.get(r.kind, CREATED_AT)

    # ---- subresources ------------------------------------------------------
    async def _create_sub(self, request: web.Request, user: User, req: _Req, body: Any) -> web.StreamResponse:
        reg = self.registry
        r = req.resource
        assert r is not None
        if req.subresource == "binding" and r.plural == "pods":
            if isinstance(body, dict):
                body.setdefault("metadata", {}).setdefault("name", req.name)
            return self._bind(req.namespace, body)
        if req.subresource == "eviction" and r.plural == "pods":
            opts = (body or {}).get("deleteOptions") or {}
            reg.delete(r, req.namespace, req.name, opts)
            return _json(errors.status_success(), 201)
        if req.subresource == "token" and r.plural == "serviceaccounts":
            return _json(self._token_request(req.namespace or "", req.name, body or {}), 201)
        raise errors.method_not_allowed()

    def _bind(self, namespace: str | None, body: Any) -> web.Response:
        reg = self.registry
        if not isinstance(body, dict):
            raise errors.bad_request("Binding must be an object")
        name = (body.get("metadata") or {}).get("name", "")
        target = (body.get("target") or {}).get("name")
        if not target:
            raise errors.invalid(
                "Binding",
                name,
                [{"reason": "FieldValueRequired", "message": "Required value", "field": "target.name"}],
            )
        bind_pod(reg, namespace or "", name, target)
        return _json(errors.status_success(), 201)

    def _token_request(self, ns: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        sa = self.registry.get("serviceaccounts", ns, name)
        spec = body.get("spec") or {}
        exp_s = int(spec.get("expirationSeconds") or 3600)
        bound = spec.get("boundObjectRef")
        token, exp = self.authn.issue(
            ns,
            name,
            sa["metadata"]["uid"],
            audiences=spec.get("audiences"),
            expiration_seconds=exp_s,
            bound=bound,
        )
        from cluster.objects import now_rfc3339

        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": {
                "audiences": spec.get("audiences") or ["https://kubernetes.default.svc.cluster.local"],
                "expirationSeconds": exp_s,
                "boundObjectRef": bound,
            },
            "status": {"token": token, "expirationTimestamp": now_rfc3339(exp)},
        }

    def _review(self, user: User, req: _Req, body: Any) -> web.Response:
        r = req.resource
        assert r is not None
        if not isinstance(body, dict):
            raise errors.bad_request("review must be an object")
        spec = body.get("spec") or {}
        out = {
            "kind": r.kind,
            "apiVersion": r.api_version,
            "metadata": {"creationTimestamp": None},
            "spec": spec,
        }
        if r.kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
            subject = user
            if r.kind != "SelfSubjectAccessReview":
                subject = User(spec.get("user", ""), spec.get("uid", ""), tuple(spec.get("groups") or ()))
            ra = spec.get("resourceAttributes")
            nra = spec.get("nonResourceAttributes")
            if ra:
                a = Attributes(
                    ra.get("verb", ""),
                    ra.get("group", ""),
                    ra.get("resource", ""),
                    ra.get("subresource", ""),
                    ra.get("namespace", "") or (req.namespace or ""),
                    ra.get("name", ""),
                )
            elif nra:
                a = Attributes(nra.get("verb", ""), path=nra.get("path", ""))
            else:
                raise errors.invalid(
                    r.kind,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                            "field": "spec.resourceAttributes",
                        }
                    ],
                    r.group,
                )
            allowed, reason = self.authz.authorize(subject, a)
            status: dict[str, Any] = {"allowed": allowed}
            if reason:
                status["reason"] = reason
            out["status"] = status
            return _json(out, 201)
        if r.kind == "SelfSubjectRulesReview":
            out["status"] = self.authz.rules_review(user, spec.get("namespace") or "")
            return _json(out, 201)
        if r.kind == "SelfSubjectReview":
            out["status"] = {"userInfo": user.info()}
            out.pop("spec")
            return _json(out, 201)
        if r.kind == "TokenReview":
            u = self.authn.authenticate(spec.get("token", ""))
            out["status"] = {
                "authenticated": u is not None,
                **({"user": u.info()} if u else {}),
                "audiences": spec.get("audiences") or [],
            }
            return _json(out, 201)
        raise errors.method_not_allowed()

    # ---- watch -------------------------------------------------------------
    async def _watch(self, request: web.Request, req: _Req) -> web.StreamResponse:
        reg = self.registry
        r = req.resource
        assert r is not None
        q = request.query
        field_selector = q.get("fieldSelector")
        if req.name:
            fs = f"metadata.name={req.name}"
            field_selector = f"{field_selector},{fs}" if field_selector else fs
        timeout = float(q.get("timeoutSeconds") or 1800)
        table = _wants_table(request)
        partial = _wants_partial(request)
        printer = self._printer(r) if table else None
        sie = q.get("sendInitialEvents")
        send_initial = None if sie is None else _boolq(sie)
        gen = reg.watch(
            r,
            req.namespace,
            resource_version=q.get("resourceVersion"),
            label_selector=q.get("labelSelector"),
            field_selector=field_selector,
            send_initial_events=send_initial,
            bookmarks=_boolq(q.get("allowWatchBookmarks")),
            stop=self._shutdown,
        )
        resp = web.StreamResponse(
            status=200, headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        gl = (r.group, r.version, r.kind)
        self.metrics.watchers.labels(*gl).inc()
        lr = (r.group, r.version, r.plural, "namespace" if req.namespace else "cluster")
        self.metrics.longrunning.labels("WATCH", *lr).inc()
        self.metrics.requests.labels("WATCH", r.group, r.version, r.plural, "", lr[3], "200").inc()
        first = True
        include = q.get("includeObject", "Metadata")
        try:
            async with asyncio.timeout(timeout):
                async for ev in gen:
                    obj = ev.object
                    if ev.type != "BOOKMARK":
                        if printer is not None:
                            obj = to_table(
                                printer, [obj], reg.clock.now(), include_object=include, no_headers=not first
                            )
                            obj["metadata"]["resourceVersion"] = ev.object["metadata"].get(
                                "resourceVersion", ""
                            )
                            first = False
                        elif partial:
                            obj = partial_metadata(obj)
                    line = (
                        json.dumps({"type": ev.type, "object": obj}, separators=(",", ":")).encode() + b"\n"
                    )
                    await resp.write(line)
        except errors.APIError as e:
            with contextlib.suppress(ConnectionResetError):
                await resp.write(json.dumps({"type": "ERROR", "object": e.status()}).encode() + b"\n")
        except TimeoutError:
            pass
        except ConnectionResetError:
            pass
        finally:
            # also on cancellation (the client went away): the store watcher must go
            await gen.aclose()
            self.metrics.watchers.labels(*gl).dec()
            self.metrics.longrunning.labels("WATCH", *lr).dec()
        with contextlib.suppress(ConnectionResetError, RuntimeError):
            await resp.write_eof()
        return resp

    # ---- logs and proxy ------------------------------------------------------
    def _session(self) -> ClientSession:
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=None, sock_connect=5))
        return self._client

    def _kubelet_base(self, node_name: str) -> str:
        node = self.registry.get("nodes", None, node_name)
        st = node.get("status") or {}
        port = ((st.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
        addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
        ip = addrs.get("InternalIP") or addrs.get("Hostname")
        if not port or not ip:
            raise errors.APIError(
                500, "InternalError", f'Internal error occurred: node "{node_name}" has no kubelet endpoint'
            )
        return f"http://{ip}:{port}"

    async def _logs(self, request: web.Request, req: _Req) -> web.StreamResponse:
        pod = self.registry.get("pods", req.namespace, req.name)
        q = request.query
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init_names = [c["name"] for c in spec.get("initContainers") or []]
        container = q.get("container")
        if not container:
            dflt = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
            if dflt in names:
                container = dflt
            elif len(names) == 1:
                container = names[0]
            else:
                raise errors.bad_request(
                    f"a container name must be specified for pod {req.name}, choose one of: [{' '.join(names)}]"
                    + (f" or one of the init containers: [{' '.join(init_names)}]" if init_names else "")
                )
        if container not in names and container not in init_names:
            raise errors.bad_request(f"container {container} is not valid for pod {req.name}")
        node = spec.get("nodeName")
        if not node:
            raise errors.bad_request(
                f'container "{container}" in pod "{req.name}" is waiting to start: ContainerCreating'
            )
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        statuses += (pod.get("status") or {}).get("initContainerStatuses") or []
        st = next((s for s in statuses if s.get("name") == container), None)
        previous = _boolq(q.get("previous"))
        if st is not None and not previous:
            state = st.get("state") or {}
            if "waiting" in state and not (st.get("lastState") or {}).get("terminated"):
                raise errors.bad_request(
                    f'container "{container}" in pod "{req.name}" is waiting to start: {state["waiting"].get("reason", "ContainerCreating")}'
                )
        elif st is None and not previous:
            raise errors.bad_request(
                f'container "{container}" in pod "{req.name}" is waiting to start: ContainerCreating'
            )
        base = self._kubelet_base(node)
        params = {
            k: v
            for k, v in q.items()
            if k
            in ("follow", "previous", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "limitBytes")
        }
        url = f"{base}/containerLogs/{req.namespace}/{req.name}/{container}"
        if params:
            url += "?" + urlencode(params)
        return await self._stream_from(request, "GET", url, text_plain=True)

    async def _proxy(self, request: web.Request, req: _Req) -> web.StreamResponse:
        r = req.resource
        assert r is not None
        name, _, port = req.name.partition(":")
        if r.plural == "nodes":
            base = self._kubelet_base(name)
        elif r.plural == "pods":
            pod = self.registry.get("pods", req.namespace, name)
            ip = (pod.get("status") or {}).get("podIP")
            if not ip:
                raise errors.bad_request(f'pod "{name}" has no IP address')
            if not port:
                ports = [
                    p.get("containerPort")
                    for c in pod["spec"].get("containers") or []
                    for p in c.get("ports") or []
                ]
                port = str(ports[0]) if ports else "80"
            base = f"http://{ip}:{port}"
        elif r.plural == "services":
            svc = self.registry.get("services", req.namespace, name)
            ip = (svc.get("spec") or {}).get("clusterIP")
            sp = (svc.get("spec") or {}).get("ports") or []
            if not port and sp:
                port = str(sp[0].get("port"))
            elif port and not port.isdigit():
                port = str(next((p.get("port") for p in sp if p.get("name") == port), port))
            base = f"http://{ip}:{port or 80}"
        else:
            raise errors.method_not_allowed()
        url = f"{base}/{req.rest}"
        if request.query_string:
            url += "?" + request.query_string
        return await self._stream_from(request, request.method, url, body=await request.read())

    async def _stream_from(
        self,
        request: web.Request,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        text_plain: bool = False,
    ) -> web.StreamResponse:
        try:
            async with self._session().request(method, url, data=body or None) as up:
                if up.status >= 400 and text_plain:
                    text = await up.text()
                    raise errors.APIError(
                        up.status,
                        "BadRequest"
                        if up.status == 400
                        else "NotFound"
                        if up.status == 404
                        else "InternalError",
                        text.strip() or f"kubelet returned {up.status}",
                    )
                resp = web.StreamResponse(status=up.status)
                resp.content_type = (
                    "text/plain"
                    if text_plain
                    else up.headers.get("Content-Type", "application/octet-stream").split(";")[0]
                )
                resp.enable_chunked_encoding()
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
                with contextlib.suppress(ConnectionResetError, RuntimeError):
                    await resp.write_eof()
                return resp
        except errors.APIError:
            raise
        except (TimeoutError, OSError) as e:
            raise errors.APIError(
                500, "InternalError", f"Internal error occurred: error dialing backend: {e}"
            ) from None


def bind_pod(reg: Registry, namespace: str, name: str, node: str) -> dict[str, Any]:
    """Assign a pod to a node (the Binding subresource)."""
    return reg.bind(namespace, name, node)


def _page_not_found() -> errors.APIError:
    return errors.APIError(404, "NotFound", "the server could not find the requested resource", details={})


def _version_priority(v: str) -> tuple[int, int, int]:
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (9, 0, 0)
    major = int(m.group(1))
    kind = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (kind, -major, -minor)


def version_info() -> dict[str, str]:
    """The /version document."""
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.4",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
