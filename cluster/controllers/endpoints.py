"""Endpoints and EndpointSlice controllers: the pods behind each Service's selector."""

from __future__ import annotations

import copy
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.apiserver.selectors import matches_labels, parse_label_selector
from cluster.store import Event

from .base import Controller, obj_key, split_key

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"


def _selected_pods(ctl: Controller, svc: dict[str, Any]) -> list[dict[str, Any]]:
    sel = (svc.get("spec") or {}).get("selector") or {}
    reqs = parse_label_selector(",".join(f"{k}={v}" for k, v in sel.items()))
    return sorted(
        (
            p
            for p in ctl.reg.refs("pods", svc["metadata"]["namespace"])
            if matches_labels(reqs, p["metadata"].get("labels"))
            and (p.get("status") or {}).get("podIP")
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ),
        key=lambda p: p["metadata"]["name"],
    )


def resolve_port(pod: dict[str, Any], sp: dict[str, Any]) -> int | None:
    """The pod port a service port targets (numeric or named)."""
    tp = sp.get("targetPort", sp.get("port"))
    if isinstance(tp, int):
        return tp
    if isinstance(tp, str) and tp.isdigit():
        return int(tp)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == tp and p.get("protocol", "TCP") == sp.get("protocol", "TCP"):
                return int(p["containerPort"])
    return None


class _ServiceController(Controller):
    watches = ("services", "pods")

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == "Service":
            self.queue.add(obj_key(ev.obj))
            return
        ns = ev.obj["metadata"].get("namespace")
        labels = [ev.obj["metadata"].get("labels") or {}]
        if ev.prev is not None:
            labels.append(ev.prev["metadata"].get("labels") or {})
        for svc in self.reg.refs("services", ns):
            sel = (svc.get("spec") or {}).get("selector")
            if not sel:
                continue
            if any(all(lb.get(k) == v for k, v in sel.items()) for lb in labels):
                self.queue.add(obj_key(svc))

    def initial_keys(self) -> list[str]:
        keys = [obj_key(s) for s in self.reg.refs("services")]
        return keys + self._orphan_keys()

    def _orphan_keys(self) -> list[str]:
        return []


class EndpointsController(_ServiceController):
    """core/v1 Endpoints for Services with a selector."""

    name = "endpoint-controller"

    def _orphan_keys(self) -> list[str]:
        svcs = {obj_key(s) for s in self.reg.refs("services")}
        return [obj_key(e) for e in self.reg.refs("endpoints") if obj_key(e) not in svcs]

    def sync(self, key: str) -> None:
        ns, name = split_key(key)
        svc = self.reg.try_get("services", ns, name)
        cur = self.reg.try_get("endpoints", ns, name)
        if svc is None:
            if cur is not None and name != "kubernetes":
                try:
                    self.reg.delete("endpoints", ns, name)
                except errors.APIError:
                    pass
            return
        sel = (svc.get("spec") or {}).get("selector")
        if not sel:
            return  # endpoints managed by the user
        publish_not_ready = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        subsets: dict[str, dict[str, Any]] = {}
        for pod in _selected_pods(self, svc):
            if pod["metadata"].get("deletionTimestamp") and not publish_not_ready:
                continue
            ports = []
            for sp in (svc.get("spec") or {}).get("ports") or []:
                pn = resolve_port(pod, sp)
                if pn is None:
                    continue
                ep: dict[str, Any] = {"port": pn, "protocol": sp.get("protocol", "TCP")}
                if sp.get("name"):
                    ep["name"] = sp["name"]
                if sp.get("appProtocol"):
                    ep["appProtocol"] = sp["appProtocol"]
                ports.append(ep)
            if not ports and (svc.get("spec") or {}).get("clusterIP") != "None":
                continue
            addr: dict[str, Any] = {
                "ip": pod["status"]["podIP"],
                "targetRef": {
                    "kind": "Pod",
                    "namespace": pod["metadata"]["namespace"],
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            if pod["spec"].get("nodeName"):
                addr["nodeName"] = pod["spec"]["nodeName"]
            if pod["spec"].get("hostname") and pod["spec"].get("subdomain") == name:
                addr["hostname"] = pod["spec"]["hostname"]
            k = repr(ports)
            ss = subsets.setdefault(k, {"ports": ports})
            ready = objects.pod_ready(pod) or publish_not_ready
            ss.setdefault("addresses" if ready else "notReadyAddresses", []).append(addr)
        out = []
        for ss in subsets.values():
            if not ss.get("ports"):
                ss.pop("ports")
            out.append(ss)
        labels = dict(svc["metadata"].get("labels") or {})
        labels["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
        desired: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
        }
        if out:
            desired["subsets"] = out
        if cur is None:
            try:
                self.reg.create("endpoints", ns, desired)
            except errors.APIError as e:
                if e.code != 409:
                    raise
            return
        if cur.get("subsets") != desired.get("subsets") or (cur["metadata"].get("labels") or {}) != labels:
            new = copy.deepcopy(cur)
            new["metadata"]["labels"] = labels
            if out:
                new["subsets"] = out
            else:
                new.pop("subsets", None)
            ann = new["metadata"].setdefault("annotations", {})
            ann["endpoints.kubernetes.io/last-change-trigger-time"] = self.reg.now()
            self.reg.update("endpoints", ns, name, new)


class EndpointSliceController(_ServiceController):
    """discovery.k8s.io/v1 EndpointSlices for Services with a selector."""

    name = "endpointslice-controller"

    def _orphan_keys(self) -> list[str]:
        svcs = {obj_key(s) for s in self.reg.refs("services")}
        out = []
        for s in self.reg.refs("endpointslices.discovery.k8s.io"):
            lb = s["metadata"].get("labels") or {}
            if lb.get(MANAGED_BY) == SLICE_CONTROLLER:
                k = f"{s['metadata']['namespace']}/{lb.get(SERVICE_NAME_LABEL)}"
                if k not in svcs:
                    out.append(k)
        return out

    def sync(self, key: str) -> None:
        ns, name = split_key(key)
        svc = self.reg.try_get("services", ns, name)
        mine = [
            s
            for s in self.reg.list_items("endpointslices.discovery.k8s.io", ns)
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) == name
            and (s["metadata"].get("labels") or {}).get(MANAGED_BY) == SLICE_CONTROLLER
        ]
        if svc is None or not (svc.get("spec") or {}).get("selector"):
            for s in mine:
                try:
                    self.reg.delete("endpointslices.discovery.k8s.io", ns, s["metadata"]["name"])
                except errors.APIError:
                    pass
            return
        spec = svc.get("spec") or {}
        publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
        ports: list[dict[str, Any]] | None = None
        endpoints = []
        for pod in _selected_pods(self, svc):
            pp = []
            for sp in spec.get("ports") or []:
                pn = resolve_port(pod, sp)
                if pn is None:
                    continue
                e: dict[str, Any] = {
                    "name": sp.get("name", ""),
                    "port": pn,
                    "protocol": sp.get("protocol", "TCP"),
                }
                if sp.get("appProtocol"):
                    e["appProtocol"] = sp["appProtocol"]
                pp.append(e)
            if ports is None:
                ports = pp
            terminating = bool(pod["metadata"].get("deletionTimestamp"))
            ready = objects.pod_ready(pod)
            ep: dict[str, Any] = {
                "addresses": [pod["status"]["podIP"]],
                "conditions": {
                    "ready": (ready and not terminating) or publish_not_ready,
                    "serving": ready,
                    "terminating": terminating,
                },
                "targetRef": {
                    "kind": "Pod",
                    "namespace": pod["metadata"]["namespace"],
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            if pod["spec"].get("nodeName"):
                ep["nodeName"] = pod["spec"]["nodeName"]
            if pod["spec"].get("hostname") and pod["spec"].get("subdomain") == name:
                ep["hostname"] = pod["spec"]["hostname"]
            endpoints.append(ep)
        labels = dict(svc["metadata"].get("labels") or {})
        labels[SERVICE_NAME_LABEL] = name
        labels[MANAGED_BY] = SLICE_CONTROLLER
        desired = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": name + "-",
                "namespace": ns,
                "labels": labels,
                "ownerReferences": [objects.owner_reference(svc)],
            },
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": ports if ports is not None else [],
        }
        if not mine:
            self.reg.create("endpointslices.discovery.k8s.io", ns, desired)
            return
        keep, rest = mine[0], mine[1:]
        for s in rest:
            try:
                self.reg.delete("endpointslices.discovery.k8s.io", ns, s["metadata"]["name"])
            except errors.APIError:
                pass
        if (
            keep.get("endpoints") != endpoints
            or keep.get("ports") != desired["ports"]
            or (keep["metadata"].get("labels") or {}) != labels
        ):
            new = copy.deepcopy(keep)
            new["endpoints"] = endpoints
            new["ports"] = desired["ports"]
            new["metadata"]["labels"] = labels
            self.reg.update("endpointslices.discovery.k8s.io", ns, keep["metadata"]["name"], new)
