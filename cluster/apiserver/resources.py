"""The resource types served: group, version, plural, kind, scope, verbs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class ResourceInfo:
    """One served resource (the APIResource of discovery plus storage facts)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    verbs: list[str] = field(default_factory=lambda: list(ALL_VERBS))
    subresources: list[str] = field(default_factory=list)
    singular: str = ""
    # CRD facts
    crd: dict[str, Any] | None = None
    storage: bool = True  # whether objects live in the store (reviews do not)
    list_kind: str = ""

    def __post_init__(self) -> None:
        if not self.singular:
            self.singular = self.kind.lower()
        if not self.list_kind:
            self.list_kind = self.kind + "List"

    @property
    def api_version(self) -> str:
        """``group/version`` or ``v1`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``plural.group`` or ``plural`` for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def prefix(self, namespace: str | None = None) -> str:
        """Store key prefix for a namespace (or all)."""
        base = f"/registry/{self.group or 'core'}/{self.plural}/"
        if self.namespaced and namespace:
            return base + namespace + "/"
        return base

    def key(self, namespace: str | None, name: str) -> str:
        """Store key of one object."""
        if self.namespaced:
            return f"/registry/{self.group or 'core'}/{self.plural}/{namespace}/{name}"
        return f"/registry/{self.group or 'core'}/{self.plural}/{name}"

    def discovery(self) -> list[dict[str, Any]]:
        """APIResource entries (the resource and its subresources)."""
        out: list[dict[str, Any]] = []
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        if self.storage:
            main["storageVersionHash"] = _hash(self.group_resource + self.version)
        out.append(main)
        for sub in self.subresources:
            entry: dict[str, Any] = {
                "name": f"{self.plural}/{sub}",
                "singularName": "",
                "namespaced": self.namespaced,
            }
            if sub == "status":
                entry.update(kind=self.kind, verbs=["get", "patch", "update"])
            elif sub == "scale":
                entry.update(
                    group="autoscaling", version="v1", kind="Scale", verbs=["get", "patch", "update"]
                )
            elif sub == "log":
                entry.update(kind="Pod", verbs=["get"])
            elif sub == "binding":
                entry.update(kind="Binding", verbs=["create"])
            elif sub == "eviction":
                entry.update(group="policy", version="v1", kind="Eviction", verbs=["create"])
            elif sub == "token":
                entry.update(
                    group="authentication.k8s.io", version="v1", kind="TokenRequest", verbs=["create"]
                )
            elif sub == "proxy":
                entry.update(kind="PodProxyOptions", verbs=["create", "delete", "get", "patch", "update"])
            else:
                entry.update(kind=self.kind, verbs=["get"])
            out.append(entry)
        return out


def _hash(s: str) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha256(s.encode()).digest()[:8]).decode()


def _r(group: str, version: str, plural: str, kind: str, **kw: Any) -> ResourceInfo:
    return ResourceInfo(group, version, plural, kind, **kw)


_RO = ["get", "list", "watch"]


def builtin_resources() -> list[ResourceInfo]:
    """The built-in resource types, in discovery order."""
    return [
        # core/v1
        _r("", "v1", "bindings", "Binding", verbs=["create"], storage=False),
        _r("", "v1", "configmaps", "ConfigMap", short_names=["cm"]),
        _r("", "v1", "endpoints", "Endpoints", short_names=["ep"], singular="endpoints"),
        _r("", "v1", "events", "Event", short_names=["ev"]),
        _r("", "v1", "limitranges", "LimitRange", short_names=["limits"]),
        _r(
            "",
            "v1",
            "namespaces",
            "Namespace",
            namespaced=False,
            short_names=["ns"],
            subresources=["finalize", "status"],
            verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
        ),
        _r("", "v1", "nodes", "Node", namespaced=False, short_names=["no"], subresources=["proxy", "status"]),
        _r(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            short_names=["pvc"],
            subresources=["status"],
        ),
        _r(
            "",
            "v1",
            "persistentvolumes",
            "PersistentVolume",
            namespaced=False,
            short_names=["pv"],
            subresources=["status"],
        ),
        _r(
            "",
            "v1",
            "pods",
            "Pod",
            short_names=["po"],
            categories=["all"],
            subresources=["binding", "eviction", "log", "status"],
        ),
        _r("", "v1", "podtemplates", "PodTemplate"),
        _r(
            "",
            "v1",
            "replicationcontrollers",
            "ReplicationController",
            short_names=["rc"],
            categories=["all"],
            subresources=["scale", "status"],
        ),
        _r("", "v1", "resourcequotas", "ResourceQuota", short_names=["quota"], subresources=["status"]),
        _r("", "v1", "secrets", "Secret"),
        _r("", "v1", "serviceaccounts", "ServiceAccount", short_names=["sa"], subresources=["token"]),
        _r(
            "",
            "v1",
            "services",
            "Service",
            short_names=["svc"],
            categories=["all"],
            subresources=["proxy", "status"],
            verbs=["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        ),
        # apps/v1
        _r("apps", "v1", "controllerrevisions", "ControllerRevision"),
        _r(
            "apps",
            "v1",
            "daemonsets",
            "DaemonSet",
            short_names=["ds"],
            categories=["all"],
            subresources=["status"],
        ),
        _r(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            short_names=["deploy"],
            categories=["all"],
            subresources=["scale", "status"],
        ),
        _r(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            short_names=["rs"],
            categories=["all"],
            subresources=["scale", "status"],
        ),
        _r(
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            short_names=["sts"],
            categories=["all"],
            subresources=["scale", "status"],
        ),
        # autoscaling
        _r(
            "autoscaling",
            "v2",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            short_names=["hpa"],
            categories=["all"],
            subresources=["status"],
        ),
        # batch (objects stored; no controller)
        _r("batch", "v1", "jobs", "Job", categories=["all"], subresources=["status"]),
        _r(
            "batch",
            "v1",
            "cronjobs",
            "CronJob",
            short_names=["cj"],
            categories=["all"],
            subresources=["status"],
        ),
        # coordination
        _r("coordination.k8s.io", "v1", "leases", "Lease"),
        # discovery
        _r("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
        # events.k8s.io shares storage with core events in Kubernetes; served separately here
        # networking
        _r("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False),
        _r("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=["ing"], subresources=["status"]),
        _r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short_names=["netpol"]),
        # policy
        _r(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            short_names=["pdb"],
            subresources=["status"],
        ),
        # rbac
        _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
        _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
        _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        _r("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        # authn/authz reviews (not stored)
        _r(
            "authentication.k8s.io",
            "v1",
            "selfsubjectreviews",
            "SelfSubjectReview",
            namespaced=False,
            verbs=["create"],
            storage=False,
        ),
        _r(
            "authentication.k8s.io",
            "v1",
            "tokenreviews",
            "TokenReview",
            namespaced=False,
            verbs=["create"],
            storage=False,
        ),
        _r(
            "authorization.k8s.io",
            "v1",
            "localsubjectaccessreviews",
            "LocalSubjectAccessReview",
            verbs=["create"],
            storage=False,
        ),
        _r(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            namespaced=False,
            verbs=["create"],
            storage=False,
        ),
        _r(
            "authorization.k8s.io",
            "v1",
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            namespaced=False,
            verbs=["create"],
            storage=False,
        ),
        _r(
            "authorization.k8s.io",
            "v1",
            "subjectaccessreviews",
            "SubjectAccessReview",
            namespaced=False,
            verbs=["create"],
            storage=False,
        ),
        # scheduling
        _r(
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            "PriorityClass",
            namespaced=False,
            short_names=["pc"],
        ),
        # apiextensions
        _r(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            namespaced=False,
            short_names=["crd", "crds"],
            categories=["api-extensions"],
            subresources=["status"],
        ),
    ]


# Preferred order of groups in /apis (as a real server lists them).
GROUP_ORDER = [
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
]


class ResourceTable:
    """All served resources, by group/version/plural, with CRD additions."""

    def __init__(self) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        self._by_gp: dict[tuple[str, str], ResourceInfo] = {}
        self._order: list[ResourceInfo] = []
        for r in builtin_resources():
            self.add(r)

    def add(self, r: ResourceInfo) -> None:
        """Serve a resource (replacing one with the same group/version/plural)."""
        k = (r.group, r.version, r.plural)
        if k in self._by_gvr:
            self._order = [x for x in self._order if (x.group, x.version, x.plural) != k]
        self._by_gvr[k] = r
        self._order.append(r)
        self._by_gp.setdefault((r.group, r.plural), r)

    def remove(self, group: str, plural: str) -> None:
        """Stop serving every version of group/plural."""
        for k in [k for k in self._by_gvr if k[0] == group and k[2] == plural]:
            del self._by_gvr[k]
        self._order = [x for x in self._order if not (x.group == group and x.plural == plural)]
        self._by_gp.pop((group, plural), None)

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        """Look up by group, version, plural."""
        return self._by_gvr.get((group, version, plural))

    def lookup(self, group: str, plural: str) -> ResourceInfo | None:
        """Any served version of group/plural."""
        return self._by_gp.get((group, plural))

    def find(self, name: str) -> ResourceInfo:
        """Look up by ``plural``, ``plural.group`` or kind (in-process clients)."""
        plural, _, group = name.partition(".")
        for r in self._order:
            if r.plural == plural and (not group or r.group == group):
                return r
        for r in self._order:
            if r.kind == name:
                return r
        raise KeyError(name)

    def by_kind(self, api_version: str, kind: str) -> ResourceInfo | None:
        """Look up by apiVersion and kind."""
        group, _, version = api_version.rpartition("/")
        for r in self._order:
            if r.group == group and r.version == version and r.kind == kind:
                return r
        return None

    def all(self) -> list[ResourceInfo]:
        """Every served resource."""
        return list(self._order)

    def groups(self) -> dict[str, list[str]]:
        """Group name -> versions (core group is ``""``)."""
        out: dict[str, list[str]] = {}
        for r in self._order:
            vs = out.setdefault(r.group, [])
            if r.version not in vs:
                vs.append(r.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        """Resources served under one group/version."""
        return [r for r in self._order if r.group == group and r.version == version]
