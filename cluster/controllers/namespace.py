"""Namespace lifecycle, default ServiceAccounts and root CA ConfigMaps, event TTL."""

from __future__ import annotations

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.store import Event

from .base import Context, Controller, split_key

ROOT_CA = "kube-root-ca.crt"


class NamespaceController(Controller):
    """Deletes the content of terminating namespaces, then the namespace."""

    name = "namespace-controller"
    watches = ("namespaces",)

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if ev.type != "DELETED":
            self.queue.add(ev.obj["metadata"]["name"])

    def initial_keys(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.reg.refs("namespaces")]

    def sync(self, key: str) -> float | None:
        _, name = split_key(key)
        ns = self.reg.try_get("namespaces", None, name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        for r in self.reg.resources.all():
            if not r.namespaced or not r.storage:
                continue
            if self.reg.resources.lookup(r.group, r.plural) is not r:
                continue  # one version per resource
            for _, o in list(self.reg.store.list_refs(r.prefix(name))):
                if not o["metadata"].get("deletionTimestamp"):
                    try:
                        self.reg.delete(r, name, o["metadata"]["name"], {"propagationPolicy": "Background"})
                    except errors.APIError:
                        pass
        left = sum(
            self.reg.store.count(r.prefix(name))
            for r in self.reg.resources.all()
            if r.namespaced and r.storage and self.reg.resources.lookup(r.group, r.plural) is r
        )
        if left:
            st = ns.setdefault("status", {})
            objects.set_condition(
                st,
                "NamespaceContentRemaining",
                "True",
                "SomeResourcesRemain",
                f"Some resources are remaining: {left} objects",
                self.reg.now(),
            )
            return 1.0
        ns["spec"]["finalizers"] = [f for f in ns["spec"].get("finalizers") or [] if f != "kubernetes"]
        self.reg.update("namespaces", None, name, ns, subresource="finalize")
        return None


class ServiceAccountController(Controller):
    """A ``default`` ServiceAccount and the ``kube-root-ca.crt`` ConfigMap in every namespace."""

    name = "serviceaccount-controller"
    watches = ("namespaces", "serviceaccounts", "configmaps")

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == "Namespace":
            if ev.type != "DELETED":
                self.queue.add(ev.obj["metadata"]["name"])
        elif ev.type == "DELETED":
            n = ev.obj["metadata"]["name"]
            if (r.kind == "ServiceAccount" and n == "default") or (r.kind == "ConfigMap" and n == ROOT_CA):
                self.queue.add(ev.obj["metadata"]["namespace"])

    def initial_keys(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.reg.refs("namespaces")]

    def sync(self, key: str) -> None:
        _, ns = split_key(key)
        nso = self.reg.try_get("namespaces", None, ns)
        if nso is None or nso["metadata"].get("deletionTimestamp"):
            return
        if self.reg.try_get("serviceaccounts", ns, "default") is None:
            try:
                self.reg.create(
                    "serviceaccounts",
                    ns,
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
                )
            except errors.APIError:
                pass
        if self.ctx.ca_pem and self.reg.try_get("configmaps", ns, ROOT_CA) is None:
            try:
                self.reg.create(
                    "configmaps",
                    ns,
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {
                            "name": ROOT_CA,
                            "annotations": {
                                "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
                            },
                        },
                        "data": {"ca.crt": self.ctx.ca_pem},
                    },
                )
            except errors.APIError:
                pass


class EventTTLController(Controller):
    """Deletes events older than ``ttl`` seconds (1 h, like the API server's event TTL)."""

    name = "event-ttl"
    resync = 300.0

    def __init__(self, ctx: Context, ttl: float = 3600.0) -> None:
        super().__init__(ctx)
        self.ttl = ttl

    def initial_keys(self) -> list[str]:
        return ["all"]

    def sync(self, key: str) -> None:
        now = self.clock.now()
        for e in list(self.reg.refs("events")):
            t = objects.parse_time(e.get("lastTimestamp") or e["metadata"].get("creationTimestamp"))
            if t is not None and now - t > self.ttl:
                try:
                    self.reg.delete("events", e["metadata"]["namespace"], e["metadata"]["name"])
                except errors.APIError:
                    pass


SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANN = "kubernetes.io/service-account.name"
SA_UID_ANN = "kubernetes.io/service-account.uid"


class TokenController(Controller):
    """Fills legacy ``kubernetes.io/service-account-token`` Secrets (token, ca.crt, namespace)."""

    name = "tokens-controller"
    watches = ("secrets", "serviceaccounts")

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if r.kind == "Secret":
            if ev.type != "DELETED" and ev.obj.get("type") == SA_TOKEN_TYPE:
                self.queue.add(f"{ev.obj['metadata']['namespace']}/{ev.obj['metadata']['name']}")
        elif ev.type == "DELETED":
            # tokens of a deleted account are deleted with it
            ns, sa = ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"]
            for s in self.reg.refs("secrets", ns):
                if (
                    s.get("type") == SA_TOKEN_TYPE
                    and (s["metadata"].get("annotations") or {}).get(SA_NAME_ANN) == sa
                ):
                    self.queue.add(f"{ns}/{s['metadata']['name']}")

    def initial_keys(self) -> list[str]:
        return [
            f"{s['metadata']['namespace']}/{s['metadata']['name']}"
            for s in self.reg.refs("secrets")
            if s.get("type") == SA_TOKEN_TYPE
        ]

    def sync(self, key: str) -> None:
        import base64

        ns, name = split_key(key)
        secret = self.reg.try_get("secrets", ns, name)
        if secret is None or self.ctx.issue_token is None:
            return
        ann = secret["metadata"].get("annotations") or {}
        sa = self.reg.try_get("serviceaccounts", ns, ann.get(SA_NAME_ANN, ""))
        if sa is None or (ann.get(SA_UID_ANN) and ann[SA_UID_ANN] != sa["metadata"]["uid"]):
            try:
                self.reg.delete("secrets", ns, name)
            except errors.APIError:
                pass
            return
        data = secret.get("data") or {}
        if data.get("token"):
            return
        token = self.ctx.issue_token(ns or "", sa["metadata"]["name"], sa["metadata"]["uid"])
        data = dict(data)
        data["token"] = base64.b64encode(token.encode()).decode()
        data["namespace"] = base64.b64encode((ns or "").encode()).decode()
        if self.ctx.ca_pem:
            data["ca.crt"] = base64.b64encode(self.ctx.ca_pem.encode()).decode()
        secret["data"] = data
        secret["metadata"].setdefault("annotations", {})[SA_UID_ANN] = sa["metadata"]["uid"]
        self.reg.update("secrets", ns, name, secret)
