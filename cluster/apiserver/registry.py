"""The API's storage logic: admission, defaults, validation, versioned writes, watch.

Both the HTTP server and the in-process controllers go through :class:`Registry`,
so an object written by a controller is defaulted, validated and watched exactly
like one written by ``kubectl``.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import copy
import ipaddress
import json
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cluster import objects
from cluster.store import ADDED, DELETED, MODIFIED, AlreadyExists, Conflict, Gone, NotFound, Store

from . import errors
from .patch import json_patch, merge_patch, strategic_merge
from .resources import ResourceInfo, ResourceTable
from .selectors import compile_filter, selector_to_string

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Wall-clock time source (seconds since the epoch)."""

    def now(self) -> float: ...


class _WallClock:
    def now(self) -> float:
        return time.time()


MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
SCALE_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "ReplicationController"}


@dataclass
class WatchEvent:
    """One event of a watch: type and object (read-only)."""

    type: str
    object: dict[str, Any]


def generate_name(prefix: str) -> str:
    """``prefix`` plus five random characters, like the API server's name generator."""
    return prefix + "".join(random.choice(_NAME_CHARS) for _ in range(5))


class Registry:
    """CRUD + watch over the store for every served resource."""

    def __init__(
        self,
        store: Store,
        resources: ResourceTable | None = None,
        clock: Clock | None = None,
        *,
        service_cidr: str = "127.96.0.0/16",
        node_port_range: tuple[int, int] = (30000, 32767),
        default_toleration_seconds: int = 300,
    ) -> None:
        self.store = store
        self.resources = resources or ResourceTable()
        self.clock = clock or _WallClock()
        self.service_net = ipaddress.ip_network(service_cidr)
        self.node_port_range = node_port_range
        self.default_toleration_seconds = default_toleration_seconds
        # hooks: kind -> callables run after a successful write (CRDs registering resources)
        self.after_write: list[Callable[[str, ResourceInfo, dict[str, Any]], None]] = []
        self.crd_changed: list[Callable[[], None]] = []
        self._event_seq = 0
        self._event_index: dict[tuple[Any, ...], str] = {}
        self._restore_crds()

    # ---- helpers -----------------------------------------------------
    def info(self, res: str | ResourceInfo) -> ResourceInfo:
        """Resolve ``pods``, ``deployments.apps``, a kind, or a ResourceInfo."""
        if isinstance(res, ResourceInfo):
            return res
        try:
            return self.resources.find(res)
        except KeyError:
            raise errors.APIError(
                404, "NotFound", f"the server could not find the requested resource ({res})"
            ) from None

    def now(self) -> str:
        """The clock's time as an RFC 3339 timestamp."""
        return objects.now_rfc3339(self.clock.now())

    def _nf(self, r: ResourceInfo, name: str) -> errors.APIError:
        return errors.not_found(r.group_resource, name, r.group, r.plural)

    def _stored(self, r: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        if r.crd is not None:
            obj["apiVersion"] = r.api_version
        return obj

    def get(self, res: str | ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        """One object (a private copy)."""
        r = self.info(res)
        try:
            return self._stored(r, self.store.get(r.key(namespace, name)))
        except NotFound:
            raise self._nf(r, name) from None

    def try_get(self, res: str | ResourceInfo, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One object or None."""
        try:
            return self.get(res, namespace, name)
        except errors.APIError as e:
            if e.code == 404:
                return None
            raise

    def list(
        self,
        res: str | ResourceInfo,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        continue_: str | None = None,
    ) -> dict[str, Any]:
        """A ``<Kind>List`` of matching objects (private copies)."""
        r = self.info(res)
        pred = compile_filter(label_selector, field_selector)
        prefix = r.prefix(namespace)
        start_after = ""
        rev = self.store.revision
        if continue_:
            try:
                tok = json.loads(base64.urlsafe_b64decode(continue_ + "=" * (-len(continue_) % 4)))
                start_after, rev = tok["start"], int(tok["rv"])
            except (ValueError, KeyError, TypeError):
                raise errors.bad_request("continue key is not valid: illegal base64 data") from None
            if rev < self.store.oldest_watchable:
                raise errors.gone(
                    "The provided continue parameter is too old to display a consistent list result. You can "
                    "start a new list without the continue parameter, or use the continue token in this "
                    "response to retrieve the remainder of the results."
                )
        items: builtins.list[dict[str, Any]] = []
        last_key = ""
        more = False
        remaining = 0
        for k, o in self.store.list_refs(prefix, start_after):
            if pred is not None and not pred(o):
                continue
            if limit and len(items) >= limit:
                more = True
                remaining += 1
                continue
            items.append(self._stored(r, json.loads(json.dumps(o))))
            last_key = k
        meta: dict[str, Any] = {"resourceVersion": str(rev)}
        if more:
            meta["continue"] = (
                base64.urlsafe_b64encode(json.dumps({"rv": rev, "start": last_key}).encode())
                .decode()
                .rstrip("=")
            )
            if pred is None:
                meta["remainingItemCount"] = remaining
        return {"kind": r.list_kind, "apiVersion": r.api_version, "metadata": meta, "items": items}

    def list_items(
        self, res: str | ResourceInfo, namespace: str | None = None, **kw: Any
    ) -> builtins.list[dict[str, Any]]:
        """Just the items of :meth:`list`."""
        return self.list(res, namespace, **kw)["items"]

    def refs(self, res: str | ResourceInfo, namespace: str | None = None) -> builtins.list[dict[str, Any]]:
        """Read-only stored objects (no copies; controllers must not mutate them)."""
        r = self.info(res)
        return [o for _, o in self.store.list_refs(r.prefix(namespace))]

    # ---- create ------------------------------------------------------
    def _check_kind(self, r: ResourceInfo, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise errors.bad_request("the object provided is not a JSON object")
        kind = obj.get("kind") or r.kind
        api_version = obj.get("apiVersion") or r.api_version
        if kind != r.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({r.api_version})"
                if api_version != r.api_version
                else f"the kind in the data ({kind}) does not match the expected kind ({r.kind})"
            )
        if api_version != r.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({r.api_version})"
            )
        obj["kind"] = r.kind
        obj["apiVersion"] = r.api_version
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = {}
        elif not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        return obj

    def _check_namespace(
        self, r: ResourceInfo, namespace: str | None, obj: dict[str, Any], creating: bool
    ) -> None:
        meta = obj["metadata"]
        if not r.namespaced:
            meta.pop("namespace", None)
            return
        if not namespace:
            raise errors.bad_request("the namespace of the object must be set")
        ons = meta.get("namespace")
        if ons and ons != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = namespace
        if creating:
            ns = self.store.get_ref(self.resources.find("namespaces").key(None, namespace))
            if ns is None:
                raise errors.not_found("namespaces", namespace, "", "namespaces")
            if ns.get("metadata", {}).get("deletionTimestamp") and r.kind != "Event":
                raise errors.forbidden(
                    f'{r.plural} "{meta.get("name") or meta.get("generateName", "")}" is forbidden: unable to create new '
                    f"content in namespace {namespace} because it is being terminated",
                    meta.get("name", ""),
                    r.group,
                    r.plural,
                )

    def create(
        self,
        res: str | ResourceInfo,
        namespace: str | None,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Create an object (admission, defaults, validation); returns the stored object."""
        r = self.info(res)
        if not r.storage:
            raise errors.method_not_allowed()
        obj = self._check_kind(r, copy.deepcopy(obj))
        self._check_namespace(r, namespace, obj, creating=True)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generate_name(str(meta["generateName"]))
        for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(f, None)
        meta["uid"] = objects.new_uid()
        meta["creationTimestamp"] = self.now()
        if r.kind in objects.GENERATION_KINDS or r.crd is not None:
            meta["generation"] = 1
        if "status" in r.subresources and r.kind not in ("Node", "Namespace", "Pod", "Service"):
            obj.pop("status", None)
        if r.kind == "Pod":
            obj["status"] = {}
        objects.apply_defaults(obj, self.default_toleration_seconds)
        causes = objects.validate(obj, r.namespaced)
        if r.kind == "CustomResourceDefinition":
            causes += self._validate_crd(obj)
        if causes:
            raise errors.invalid(r.kind, str(meta.get("name") or ""), causes, r.group)
        self._admit_create(r, obj)
        if dry_run:
            return obj
        key = r.key(namespace, meta["name"])
        try:
            out = self.store.create(key, obj)
        except AlreadyExists:
            raise errors.already_exists(r.group_resource, meta["name"], r.group, r.plural) from None
        self._after(ADDED, r, out)
        return self._stored(r, out)

    def _admit_create(self, r: ResourceInfo, obj: dict[str, Any]) -> None:
        if r.kind == "Service":
            self._allocate_service(obj, None)
        elif r.kind == "CustomResourceDefinition":
            self._crd_status(obj)

    # ---- service IPs and node ports -------------------------------------
    def _allocate_service(self, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        spec = obj["spec"]
        t = spec.get("type", "ClusterIP")
        svc_r = self.resources.find("services")
        if t == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
            return
        used_ips: set[str] = set()
        used_ports: set[int] = set()
        for _, s in self.store.list_refs(svc_r.prefix()):
            if old is not None and s["metadata"]["uid"] == old["metadata"]["uid"]:
                continue
            ip = s.get("spec", {}).get("clusterIP")
            if ip:
                used_ips.add(ip)
            for p in s.get("spec", {}).get("ports") or []:
                if p.get("nodePort"):
                    used_ports.add(int(p["nodePort"]))
        ip = spec.get("clusterIP") or (old or {}).get("spec", {}).get("clusterIP")
        if ip and ip != "None":
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                raise errors.invalid(
                    "Service",
                    obj["metadata"]["name"],
                    [
                        objects.invalid_value(
                            "spec.clusterIPs[0]",
                            ip,
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        )
                    ],
                ) from None
            if ip in used_ips:
                raise errors.invalid(
                    "Service",
                    obj["metadata"]["name"],
                    [
                        objects.invalid_value(
                            "spec.clusterIPs",
                            [ip],
                            "failed to allocate IP " + ip + ": provided IP is already allocated",
                        )
                    ],
                )
            if addr not in self.service_net:
                raise errors.invalid(
                    "Service",
                    obj["metadata"]["name"],
                    [
                        objects.invalid_value(
                            "spec.clusterIPs",
                            [ip],
                            f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {self.service_net}",
                        )
                    ],
                )
        elif not ip:
            for cand in self.service_net.hosts():
                cs = str(cand)
                if cs.endswith(".0.1") and obj["metadata"]["name"] != "kubernetes":
                    continue
                if cs not in used_ips:
                    ip = cs
                    break
            else:
                raise errors.internal("failed to allocate a serviceIP: range is full")
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        if t in ("NodePort", "LoadBalancer"):
            old_ports = {
                (p.get("port"), p.get("protocol")): p.get("nodePort")
                for p in (old or {}).get("spec", {}).get("ports") or []
            }
            lo, hi = self.node_port_range
            for p in spec.get("ports") or []:
                np_ = p.get("nodePort") or old_ports.get((p.get("port"), p.get("protocol")))
                if np_:
                    if np_ in used_ports:
                        raise errors.invalid(
                            "Service",
                            obj["metadata"]["name"],
                            [
                                objects.invalid_value(
                                    "spec.ports[0].nodePort", np_, "provided port is already allocated"
                                )
                            ],
                        )
                else:
                    free = [x for x in range(lo, hi + 1) if x not in used_ports]
                    if not free:
                        raise errors.internal("failed to allocate a nodePort: range is full")
                    np_ = random.choice(free)
                p["nodePort"] = np_
                used_ports.add(int(np_))
        else:
            for p in spec.get("ports") or []:
                p.pop("nodePort", None)

    # ---- update ------------------------------------------------------
    def update(
        self,
        res: str | ResourceInfo,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Replace an object (optimistic concurrency on metadata.resourceVersion)."""
        r = self.info(res)
        if not r.storage:
            raise errors.method_not_allowed()
        obj = self._check_kind(r, copy.deepcopy(obj))
        self._check_namespace(r, namespace, obj, creating=False)
        key = r.key(namespace, name)
        try:
            old = self.store.get(key)
        except NotFound:
            raise self._nf(r, name) from None
        return self._update(r, namespace, name, old, obj, subresource=subresource, dry_run=dry_run)

    def _update(
        self,
        r: ResourceInfo,
        namespace: str | None,
        name: str,
        old: dict[str, Any],
        obj: dict[str, Any],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        meta["name"] = name
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(r.group_resource, name, r.group, r.plural)
        omd = old["metadata"]
        for f in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if f in omd:
                meta[f] = omd[f]
            else:
                meta.pop(f, None)
        if r.kind == "Namespace" and subresource != "finalize":
            obj.setdefault("spec", {})["finalizers"] = old.get("spec", {}).get("finalizers", [])
        if subresource == "status":
            new = copy.deepcopy(old)
            new["status"] = obj.get("status", {})
            nm = new["metadata"]
            for f in ("labels", "annotations"):
                if f in meta:
                    nm[f] = meta[f]
            obj = new
        elif subresource == "finalize":
            new = copy.deepcopy(old)
            new.setdefault("spec", {})["finalizers"] = (obj.get("spec") or {}).get("finalizers") or []
            obj = new
        elif "status" in r.subresources and r.kind != "Namespace":
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)
        elif r.kind == "Namespace":
            obj["status"] = old.get("status", {})
        objects.apply_defaults(obj, self.default_toleration_seconds)
        if r.kind in objects.GENERATION_KINDS or r.crd is not None:
            if _strip_for_generation(old) != _strip_for_generation(obj):
                meta = obj["metadata"]
                meta["generation"] = int(omd.get("generation") or 1) + 1
        causes = objects.validate(obj, r.namespaced) + objects.validate_update(old, obj)
        if r.kind == "CustomResourceDefinition":
            causes += self._validate_crd(obj)
        if causes:
            raise errors.invalid(r.kind, name, causes, r.group)
        if r.kind == "Service":
            self._allocate_service(obj, old)
        if r.kind == "CustomResourceDefinition":
            self._crd_status(obj)
        if omd.get("deletionTimestamp"):
            # adding finalizers is forbidden on terminating objects; removing the last one deletes
            if set(obj["metadata"].get("finalizers") or []) - set(omd.get("finalizers") or []):
                raise errors.invalid(
                    r.kind,
                    name,
                    [
                        objects.forbidden_field(
                            "metadata.finalizers",
                            "no new finalizers can be added if the object is being deleted",
                        )
                    ],
                    r.group,
                )
        obj["metadata"]["resourceVersion"] = omd["resourceVersion"]
        if obj == old:
            return self._stored(r, old)
        if dry_run:
            return obj
        key = r.key(namespace, name)
        if (
            omd.get("deletionTimestamp")
            and not obj["metadata"].get("finalizers")
            and not (r.kind == "Namespace" and obj.get("spec", {}).get("finalizers"))
            and not (r.kind == "Pod" and _pod_waits_for_kubelet(obj))
        ):
            out = self.store.delete(key)
            self._after(DELETED, r, out)
            return self._stored(r, out)
        try:
            out = self.store.update(key, obj, int(omd["resourceVersion"]))
        except Conflict:
            raise errors.conflict(r.group_resource, name, r.group, r.plural) from None
        self._after(MODIFIED, r, out)
        return self._stored(r, out)

    def update_status(
        self, res: str | ResourceInfo, namespace: str | None, name: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT the status subresource."""
        return self.update(res, namespace, name, obj, subresource="status")

    # ---- patch -------------------------------------------------------
    def patch(
        self,
        res: str | ResourceInfo,
        namespace: str | None,
        name: str,
        patch: Any,
        patch_type: str = MERGE_PATCH,
        *,
        subresource: str = "",
        dry_run: bool = False,
        force: bool = False,
    ) -> dict[str, Any]:
        """Patch an object (merge, strategic merge, JSON patch, or apply)."""
        r = self.info(res)
        key = r.key(namespace, name)
        try:
            old = self._stored(r, self.store.get(key))
        except NotFound:
            if patch_type == APPLY_PATCH:
                return self.create(r, namespace, patch, dry_run=dry_run)
            raise self._nf(r, name) from None
        if subresource == "scale":
            return self._patch_scale(r, namespace, name, old, patch, patch_type, dry_run)
        base = copy.deepcopy(old)
        if patch_type == MERGE_PATCH:
            if not isinstance(patch, dict):
                raise errors.bad_request("merge patch must be a JSON object")
            new = merge_patch(base, patch)
        elif patch_type == STRATEGIC_PATCH:
            if r.crd is not None:
                raise errors.APIError(
                    415, "UnsupportedMediaType", "strategic merge patch is not supported for custom resources"
                )
            if not isinstance(patch, dict):
                raise errors.bad_request("strategic merge patch must be a JSON object")
            new = strategic_merge(base, patch)
        elif patch_type == JSON_PATCH:
            new = json_patch(base, patch)
        elif patch_type == APPLY_PATCH:
            if not isinstance(patch, dict):
                raise errors.bad_request("apply patch must be an object")
            new = strategic_merge(base, patch) if r.crd is None else merge_patch(base, patch)
        else:
            raise errors.unsupported_media(patch_type)
        if not isinstance(new, dict):
            raise errors.bad_request("patch produced a non-object")
        if patch_type != JSON_PATCH and isinstance(patch, dict):
            prv = (patch.get("metadata") or {}).get("resourceVersion")
            if prv and prv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(r.group_resource, name, r.group, r.plural)
        new.setdefault("metadata", {})["resourceVersion"] = old["metadata"]["resourceVersion"]
        new = self._check_kind(r, new)
        self._check_namespace(r, namespace, new, creating=False)
        return self._update(
            r, namespace, name, self.store.get(key), new, subresource=subresource, dry_run=dry_run
        )

    # ---- scale -------------------------------------------------------
    def _scale_paths(self, r: ResourceInfo) -> tuple[str, str, str | None]:
        if r.crd is not None:
            sc = (r.crd.get("subresources") or {}).get("scale") or {}
            return (
                sc.get("specReplicasPath", ".spec.replicas"),
                sc.get("statusReplicasPath", ".status.replicas"),
                sc.get("labelSelectorPath"),
            )
        return ".spec.replicas", ".status.replicas", None

    def get_scale(self, res: str | ResourceInfo, namespace: str | None, name: str) -> dict[str, Any]:
        """The ``autoscaling/v1`` Scale of a workload."""
        r = self.info(res)
        if "scale" not in r.subresources:
            raise errors.not_found(r.group_resource + "/scale", name)
        return self._to_scale(r, self.get(r, namespace, name))

    def _to_scale(self, r: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
        sp, stp, selp = self._scale_paths(r)
        m = obj["metadata"]
        if r.crd is None:
            sel = obj.get("spec", {}).get("selector")
            if r.kind == "ReplicationController":
                selector = ",".join(f"{k}={v}" for k, v in sorted((sel or {}).items()))
            else:
                selector = selector_to_string(sel)
        else:
            selector = str(_path_get(obj, selp) or "") if selp else ""
        status: dict[str, Any] = {"replicas": int(_path_get(obj, stp) or 0)}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": m["name"],
                "namespace": m.get("namespace"),
                "uid": m["uid"],
                "resourceVersion": m["resourceVersion"],
                "creationTimestamp": m["creationTimestamp"],
            },
            "spec": {"replicas": int(_path_get(obj, sp) or 0)},
            "status": status,
        }

    def update_scale(
        self,
        res: str | ResourceInfo,
        namespace: str | None,
        name: str,
        scale: dict[str, Any],
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PUT a Scale: sets the workload's replicas."""
        r = self.info(res)
        if "scale" not in r.subresources:
            raise errors.not_found(r.group_resource + "/scale", name)
        obj = self.get(r, namespace, name)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(r.group_resource, name, r.group, r.plural)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                "Scale",
                name,
                [objects.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")],
                "autoscaling",
            )
        sp, _, _ = self._scale_paths(r)
        _path_set(obj, sp, replicas)
        out = self._update(r, namespace, name, self.store.get(r.key(namespace, name)), obj, dry_run=dry_run)
        return self._to_scale(r, out)

    def _patch_scale(
        self,
        r: ResourceInfo,
        namespace: str | None,
        name: str,
        old: dict[str, Any],
        patch: Any,
        patch_type: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        if "scale" not in r.subresources:
            raise errors.not_found(r.group_resource + "/scale", name)
        scale = self._to_scale(r, old)
        if patch_type == JSON_PATCH:
            new = json_patch(scale, patch)
        elif patch_type == STRATEGIC_PATCH:
            new = strategic_merge(scale, patch)
        else:
            new = merge_patch(scale, patch)
        return self.update_scale(r, namespace, name, new, dry_run)

    # ---- delete ------------------------------------------------------
    def delete(
        self,
        res: str | ResourceInfo,
        namespace: str | None,
        name: str,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Delete (or start deleting) an object; returns (object, finished)."""
        r = self.info(res)
        options = options or {}
        key = r.key(namespace, name)
        try:
            obj = self._stored(r, self.store.get(key))
        except NotFound:
            raise self._nf(r, name) from None
        meta = obj["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise errors.conflict(
                r.group_resource,
                name,
                r.group,
                r.plural,
                why=f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(
                r.group_resource,
                name,
                r.group,
                r.plural,
                why=f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, ResourceVersion in object meta: {meta['resourceVersion']}",
            )
        dry = bool(options.get("dryRun"))
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.invalid(
                "DeleteOptions",
                "",
                [
                    objects.unsupported(
                        "propagationPolicy", policy, ["Foreground", "Background", "Orphan", "nil"]
                    )
                ],
            )
        finalizers = list(meta.get("finalizers") or [])
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        grace = options.get("gracePeriodSeconds")
        if r.kind == "Namespace":
            if name in ("default", "kube-system", "kube-public", "kube-node-lease") and not dry:
                raise errors.forbidden(
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    name,
                    "",
                    "namespaces",
                )
            if dry:
                return obj, False
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = self.now()
                meta["deletionGracePeriodSeconds"] = 0
                obj.setdefault("status", {})["phase"] = "Terminating"
                meta["finalizers"] = finalizers or meta.get("finalizers") or []
                if not meta["finalizers"]:
                    meta.pop("finalizers")
                out = self.store.update(key, obj)
                self._after(MODIFIED, r, out)
                return out, False
            return obj, False
        graceful = False
        if r.kind == "Pod":
            spec = obj.get("spec", {})
            phase = obj.get("status", {}).get("phase")
            if grace is None:
                grace = spec.get("terminationGracePeriodSeconds", 30)
            if (
                meta.get("deletionGracePeriodSeconds") is not None
                and grace > meta["deletionGracePeriodSeconds"]
            ):
                grace = meta["deletionGracePeriodSeconds"]
            graceful = bool(spec.get("nodeName")) and phase not in ("Succeeded", "Failed") and int(grace) > 0
        if graceful or finalizers:
            if dry:
                return obj, False
            changed = False
            if not meta.get("deletionTimestamp"):
                g = int(grace) if graceful and grace is not None else 0
                meta["deletionTimestamp"] = objects.now_rfc3339(self.clock.now() + g)
                meta["deletionGracePeriodSeconds"] = g
                changed = True
            elif (
                r.kind == "Pod"
                and grace is not None
                and int(grace) < int(meta.get("deletionGracePeriodSeconds") or 0)
            ):
                meta["deletionGracePeriodSeconds"] = int(grace)
                meta["deletionTimestamp"] = objects.now_rfc3339(self.clock.now() + int(grace))
                changed = True
            if finalizers != list(meta.get("finalizers") or []):
                meta["finalizers"] = finalizers
                changed = True
            if changed:
                out = self.store.update(key, obj)
                self._after(MODIFIED, r, out)
                return self._stored(r, out), False
            return obj, False
        if dry:
            return obj, True
        out = self.store.delete(key)
        self._after(DELETED, r, out)
        return self._stored(r, out), True

    def delete_collection(
        self,
        res: str | ResourceInfo,
        namespace: str | None,
        options: dict[str, Any] | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict[str, Any]:
        """Delete every matching object; returns the list of (last states of) deleted objects."""
        r = self.info(res)
        lst = self.list(r, namespace, label_selector=label_selector, field_selector=field_selector)
        items = []
        for o in lst["items"]:
            try:
                out, _ = self.delete(r, o["metadata"].get("namespace"), o["metadata"]["name"], options)
                items.append(out)
            except errors.APIError as e:
                if e.code != 404:
                    raise
        lst["items"] = items
        return lst

    # ---- binding -----------------------------------------------------
    def bind(self, namespace: str, name: str, node: str) -> dict[str, Any]:
        """Assign a pod to a node (``pods/binding``): sets spec.nodeName and PodScheduled."""
        r = self.info("pods")
        key = r.key(namespace, name)
        try:
            pod = self.store.get(key)
        except NotFound:
            raise self._nf(r, name) from None
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods", name, why="pod is being deleted, cannot be assigned to a host")
        cur = (pod.get("spec") or {}).get("nodeName")
        if cur:
            raise errors.conflict("pods/binding", name, why=f'pod {name} is already assigned to node "{cur}"')
        pod["spec"]["nodeName"] = node
        conds = pod.setdefault("status", {}).setdefault("conditions", [])
        conds[:] = [c for c in conds if c.get("type") != "PodScheduled"]
        conds.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": self.now(),
            }
        )
        out = self.store.update(key, pod, int(pod["metadata"]["resourceVersion"]))
        self._after(MODIFIED, r, out)
        return out

    # ---- hooks -------------------------------------------------------
    def _after(self, typ: str, r: ResourceInfo, obj: dict[str, Any]) -> None:
        if r.kind == "CustomResourceDefinition":
            if typ == DELETED:
                self._unregister_crd(obj)
            else:
                self._register_crd(obj)
        for fn in self.after_write:
            try:
                fn(typ, r, obj)
            except Exception:  # noqa: BLE001 - hooks must never fail a write
                log.exception("after-write hook failed")

    # ---- CRDs --------------------------------------------------------
    def _validate_crd(self, obj: dict[str, Any]) -> builtins.list[objects.Cause]:
        out: builtins.list[objects.Cause] = []
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group") or ""
        if not group:
            out.append(objects.required("spec.group"))
        if not names.get("plural"):
            out.append(objects.required("spec.names.plural"))
        if not names.get("kind"):
            out.append(objects.required("spec.names.kind"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            out.append(objects.unsupported("spec.scope", spec.get("scope", ""), ["Cluster", "Namespaced"]))
        want = f"{names.get('plural')}.{group}"
        if obj["metadata"].get("name") != want:
            out.append(
                objects.invalid_value(
                    "metadata.name", obj["metadata"].get("name"), 'must be spec.names.plural+"."+spec.group'
                )
            )
        versions = spec.get("versions") or []
        if not versions:
            out.append(
                objects.required("spec.versions", "must have exactly one version marked as storage version")
            )
        elif sum(1 for v in versions if v.get("storage")) != 1:
            out.append(
                objects.invalid_value(
                    "spec.versions",
                    [v.get("name") for v in versions],
                    "must have exactly one version marked as storage version",
                )
            )
        return out

    def _crd_status(self, obj: dict[str, Any]) -> None:
        spec = obj["spec"]
        names = dict(spec.get("names") or {})
        names.setdefault("singular", names.get("kind", "").lower())
        names.setdefault("listKind", names.get("kind", "") + "List")
        spec["names"] = names
        now = self.now()
        obj["status"] = {
            "acceptedNames": names,
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now,
                },
            ],
            "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")],
        }

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group", "")
        self.resources.remove(group, names.get("plural", ""))
        if crd["metadata"].get("deletionTimestamp"):
            return
        for v in spec.get("versions") or []:
            if not v.get("served", True):
                continue
            subs = []
            sub = v.get("subresources") or {}
            if "status" in sub:
                subs.append("status")
            if "scale" in sub:
                subs.append("scale")
            self.resources.add(
                ResourceInfo(
                    group,
                    v["name"],
                    names["plural"],
                    names["kind"],
                    namespaced=spec.get("scope") == "Namespaced",
                    short_names=list(names.get("shortNames") or []),
                    categories=list(names.get("categories") or []),
                    singular=names.get("singular") or names["kind"].lower(),
                    subresources=subs,
                    crd={**v, "crdName": crd["metadata"]["name"]},
                    list_kind=names.get("listKind") or names["kind"] + "List",
                )
            )
        for fn in self.crd_changed:
            fn()

    def _unregister_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        # delete all instances (customresourcecleanup)
        prefix = f"/registry/{group}/{plural}/"
        for k, _ in list(self.store.list_refs(prefix)):
            self.store.delete(k)
        self.resources.remove(group, plural)
        for fn in self.crd_changed:
            fn()

    def _restore_crds(self) -> None:
        r = self.resources.find("customresourcedefinitions")
        for _, crd in self.store.list_refs(r.prefix()):
            self._register_crd(crd)

    # ---- watch -------------------------------------------------------
    async def watch(
        self,
        res: str | ResourceInfo,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        send_initial_events: bool | None = None,
        bookmarks: bool = False,
        bookmark_interval: float = 60.0,
        stop: asyncio.Event | None = None,
    ) -> AsyncGenerator[WatchEvent, None]:
        """Watch events; ``resource_version`` None/"0" starts with the current objects as ADDED.

        Raises :class:`errors.APIError` 410 if the version is too old (HTTP callers turn this
        into an ERROR event, as the real server does once the stream has started).
        """
        r = self.info(res)
        pred = compile_filter(label_selector, field_selector)
        prefix = r.prefix(namespace)
        initial: builtins.list[dict[str, Any]] = []
        if resource_version in (None, "", "0") or send_initial_events:
            since = self.store.revision
            if send_initial_events is not False:
                initial = [o for _, o in self.store.list_refs(prefix) if pred is None or pred(o)]
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {resource_version}") from None
        try:
            w = self.store.subscribe(prefix, since)
        except Gone as e:
            raise errors.gone(f"too old resource version: {e.requested} ({e.oldest})") from None
        try:
            for o in initial:
                yield WatchEvent(ADDED, self._stored(r, o) if r.crd is None else self._stored(r, dict(o)))
            if send_initial_events:
                yield WatchEvent(
                    "BOOKMARK",
                    {
                        "kind": r.kind,
                        "apiVersion": r.api_version,
                        "metadata": {
                            "resourceVersion": str(since),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                )
            last_rev = since
            while True:
                timeout = bookmark_interval if bookmarks else None
                get = asyncio.ensure_future(w.queue.get())
                waits: set[asyncio.Future[Any]] = {get}
                stopper = None
                if stop is not None:
                    stopper = asyncio.ensure_future(stop.wait())
                    waits.add(stopper)
                done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if stopper is not None and not stopper.done():
                    stopper.cancel()
                if get not in done:
                    get.cancel()
                    if stop is not None and stop.is_set():
                        return
                    if bookmarks and w.queue.empty():
                        last_rev = max(last_rev, self.store.revision)
                        yield WatchEvent(
                            "BOOKMARK",
                            {
                                "kind": r.kind,
                                "apiVersion": r.api_version,
                                "metadata": {"resourceVersion": str(last_rev)},
                            },
                        )
                    continue
                ev = get.result()
                if ev is None:
                    return
                last_rev = ev.rev
                obj = ev.obj
                if r.crd is not None:
                    obj = self._stored(r, dict(obj))
                if pred is None:
                    yield WatchEvent(ev.type, obj)
                    continue
                cur = ev.type != DELETED and pred(ev.obj)
                was = ev.prev is not None and pred(ev.prev)
                if ev.type == DELETED:
                    if pred(ev.obj) or was:
                        yield WatchEvent(DELETED, obj)
                elif cur and was:
                    yield WatchEvent(MODIFIED, obj)
                elif cur:
                    yield WatchEvent(ADDED, obj)
                elif was:
                    yield WatchEvent(DELETED, obj)
        finally:
            self.store.unsubscribe(w)

    # ---- events ------------------------------------------------------
    def record_event(
        self,
        involved: dict[str, Any],
        type_: str,
        reason: str,
        message: str,
        component: str,
        host: str = "",
    ) -> None:
        """Record (or aggregate into) a core/v1 Event about an object."""
        meta = involved.get("metadata", {})
        ns = meta.get("namespace") or "default"
        ref = {
            "kind": involved.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": involved.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if not ref["namespace"]:
            ref.pop("namespace")
        now = self.now()
        micro = objects.now_micro(self.clock.now())
        ev_r = self.resources.find("events")
        source = {"component": component}
        if host:
            source["host"] = host
        agg_key = (ns, ref["uid"], reason, message, type_, component)
        known = self._event_index.get(agg_key)
        if known is not None:
            e = self.store.get_ref(ev_r.key(ns, known))
            if e is not None:
                upd = json.loads(json.dumps(e))
                upd["count"] = int(upd.get("count") or 1) + 1
                upd["lastTimestamp"] = now
                try:
                    self.store.update(ev_r.key(ns, known), upd)
                except (NotFound, Conflict):
                    pass
                return
            del self._event_index[agg_key]
        if len(self._event_index) > 50000:
            self._event_index.clear()
        self._event_seq += 1
        name = f"{meta.get('name')}.{int(self.clock.now() * 1e9) + self._event_seq:x}"
        ev = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        _ = micro
        try:
            self.create(ev_r, ns, ev)
            self._event_index[agg_key] = name
        except errors.APIError as e:
            log.debug("event not recorded: %s", e.message)


def _strip_for_generation(o: dict[str, Any]) -> Any:
    return {k: v for k, v in o.items() if k not in ("metadata", "status")}


def _pod_waits_for_kubelet(obj: dict[str, Any]) -> bool:
    return int(obj["metadata"].get("deletionGracePeriodSeconds") or 0) > 0


def _path_get(obj: Any, path: str | None) -> Any:
    if not path:
        return None
    cur = obj
    for p in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def _path_set(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    cur = obj
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
