"""RBAC authorization: Roles/ClusterRoles and their bindings; deny by default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cluster.auth import User

if TYPE_CHECKING:
    from cluster.apiserver.registry import Registry

RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Attributes:
    """What a request wants to do."""

    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # non-resource requests

    @property
    def is_resource(self) -> bool:
        """Whether this is a resource (not a path) request."""
        return bool(self.resource)


def forbidden_message(user: User, a: Attributes) -> str:
    """The Kubernetes 403 message."""
    if not a.is_resource:
        return f'forbidden: User "{user.name}" cannot {a.verb} path "{a.path}"'
    res = a.resource + (f"/{a.subresource}" if a.subresource else "")
    gr = a.resource + (f".{a.api_group}" if a.api_group else "")
    head = f'{gr} "{a.name}" is forbidden' if a.name else f"{gr} is forbidden"
    scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return f'{head}: User "{user.name}" cannot {a.verb} resource "{res}" in API group "{a.api_group}" {scope}'


def _has(items: list[str] | None, v: str) -> bool:
    items = items or []
    return "*" in items or v in items


def rule_allows(rule: dict[str, Any], a: Attributes) -> bool:
    """Whether one PolicyRule allows the request."""
    if not _has(rule.get("verbs"), a.verb):
        return False
    if not a.is_resource:
        for u in rule.get("nonResourceURLs") or []:
            if u == "*" or u == a.path or (u.endswith("*") and a.path.startswith(u[:-1])):
                return True
        return False
    if not _has(rule.get("apiGroups"), a.api_group):
        return False
    res = rule.get("resources") or []
    full = a.resource + (f"/{a.subresource}" if a.subresource else "")
    ok = (
        "*" in res
        or full in res
        or (a.subresource and f"*/{a.subresource}" in res)
        or (not a.subresource and a.resource in res)
    )
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def _subject_matches(s: dict[str, Any], user: User, binding_ns: str) -> bool:
    kind = s.get("kind")
    if kind == "User":
        return s.get("name") == user.name
    if kind == "Group":
        return s.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = s.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{s.get('name')}"
    return False


class Authorizer:
    """Evaluates RBAC objects in the registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _cluster_role_rules(self, name: str, seen: set[str] | None = None) -> list[dict[str, Any]]:
        cr = self.registry.store.get_ref(self.registry.resources.find("clusterroles").key(None, name))
        if cr is None:
            return []
        rules = list(cr.get("rules") or [])
        agg = cr.get("aggregationRule")
        if agg:
            from cluster.apiserver.selectors import label_selector_matches

            seen = seen or {name}
            for other in self.registry.refs("clusterroles"):
                oname = other["metadata"]["name"]
                if oname in seen:
                    continue
                labels = other["metadata"].get("labels") or {}
                if any(label_selector_matches(sel, labels) for sel in agg.get("clusterRoleSelectors") or []):
                    seen.add(oname)
                    rules += self._cluster_role_rules(oname, seen)
        return rules

    def _role_rules(self, ref: dict[str, Any], ns: str) -> list[dict[str, Any]]:
        if ref.get("kind") == "ClusterRole":
            return self._cluster_role_rules(ref.get("name", ""))
        role = self.registry.store.get_ref(self.registry.resources.find("roles").key(ns, ref.get("name", "")))
        return list((role or {}).get("rules") or [])

    def rules_for(self, user: User, namespace: str) -> list[dict[str, Any]]:
        """Every rule that applies to a user in a namespace (cluster-wide ones included)."""
        out: list[dict[str, Any]] = []
        if "system:masters" in user.groups:
            out.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
            out.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
        for crb in self.registry.refs("clusterrolebindings"):
            if any(_subject_matches(s, user, "") for s in crb.get("subjects") or []):
                out += self._role_rules(crb.get("roleRef") or {}, "")
        if namespace:
            for rb in self.registry.refs("rolebindings", namespace):
                if any(_subject_matches(s, user, namespace) for s in rb.get("subjects") or []):
                    out += self._role_rules(rb.get("roleRef") or {}, namespace)
        return out

    def authorize(self, user: User, a: Attributes) -> tuple[bool, str]:
        """(allowed, reason)."""
        if "system:masters" in user.groups:
            return True, ""
        for crb in self.registry.refs("clusterrolebindings"):
            if any(_subject_matches(s, user, "") for s in crb.get("subjects") or []):
                for rule in self._role_rules(crb.get("roleRef") or {}, ""):
                    if rule_allows(rule, a):
                        name = crb["metadata"]["name"]
                        return (
                            True,
                            f'RBAC: allowed by ClusterRoleBinding "{name}" of ClusterRole "{crb["roleRef"]["name"]}" to User "{user.name}"',
                        )
        if a.namespace:
            for rb in self.registry.refs("rolebindings", a.namespace):
                if any(_subject_matches(s, user, a.namespace) for s in rb.get("subjects") or []):
                    for rule in self._role_rules(rb.get("roleRef") or {}, a.namespace):
                        if rule_allows(rule, a):
                            name = rb["metadata"]["name"]
                            return (
                                True,
                                f'RBAC: allowed by RoleBinding "{name}/{a.namespace}" of {rb["roleRef"]["kind"]} "{rb["roleRef"]["name"]}" to User "{user.name}"',
                            )
        return False, ""

    def rules_review(self, user: User, namespace: str) -> dict[str, Any]:
        """SelfSubjectRulesReview status."""
        rr: list[dict[str, Any]] = []
        nr: list[dict[str, Any]] = []
        for rule in self.rules_for(user, namespace):
            if rule.get("nonResourceURLs"):
                nr.append({"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]})
            else:
                d = {
                    "verbs": rule.get("verbs") or [],
                    "apiGroups": rule.get("apiGroups") or [],
                    "resources": rule.get("resources") or [],
                }
                if rule.get("resourceNames"):
                    d["resourceNames"] = rule["resourceNames"]
                rr.append(d)
        return {"resourceRules": rr, "nonResourceRules": nr, "incomplete": False}


_RO = ["get", "list", "watch"]
_RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _cr(
    name: str,
    rules: list[dict[str, Any]],
    labels: dict[str, str] | None = None,
    agg: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    md: dict[str, Any] = {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }
    o: dict[str, Any] = {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRole",
        "metadata": md,
        "rules": rules,
    }
    if agg:
        o["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": m} for m in agg]}
    return o


def _crb(name: str, role: str, subjects: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC_GROUP, **s} for s in subjects],
    }


_CORE_NS = [
    "configmaps",
    "endpoints",
    "persistentvolumeclaims",
    "pods",
    "replicationcontrollers",
    "services",
    "serviceaccounts",
    "secrets",
    "events",
    "limitranges",
    "resourcequotas",
    "podtemplates",
]


def bootstrap_policy() -> list[dict[str, Any]]:
    """Default ClusterRoles and ClusterRoleBindings (a subset of Kubernetes' bootstrap policy)."""
    view_rules = [
        {
            "apiGroups": [""],
            "resources": [r for r in _CORE_NS if r != "secrets"]
            + [
                "pods/log",
                "pods/status",
                "services/status",
                "namespaces",
                "namespaces/status",
                "replicationcontrollers/scale",
                "replicationcontrollers/status",
                "resourcequotas/status",
                "bindings",
            ],
            "verbs": _RO,
        },
        {
            "apiGroups": ["apps"],
            "resources": [
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
            "verbs": _RO,
        },
        {
            "apiGroups": ["autoscaling"],
            "resources": ["horizontalpodautoscalers", "horizontalpodautoscalers/status"],
            "verbs": _RO,
        },
        {
            "apiGroups": ["batch"],
            "resources": ["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
            "verbs": _RO,
        },
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses", "ingresses/status", "networkpolicies"],
            "verbs": _RO,
        },
        {
            "apiGroups": ["policy"],
            "resources": ["poddisruptionbudgets", "poddisruptionbudgets/status"],
            "verbs": _RO,
        },
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _RO},
        {
            "apiGroups": ["monitoring.coreos.com"],
            "resources": ["servicemonitors", "podmonitors"],
            "verbs": _RO,
        },
    ]
    edit_rules = [
        {
            "apiGroups": [""],
            "resources": [
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "pods/eviction",
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
                "serviceaccounts/token",
            ],
            "verbs": _RW,
        },
        {
            "apiGroups": ["apps"],
            "resources": [
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
            "verbs": _RW,
        },
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _RW},
        {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": _RW},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"], "verbs": _RW},
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _RW},
        {
            "apiGroups": ["monitoring.coreos.com"],
            "resources": ["servicemonitors", "podmonitors"],
            "verbs": _RW,
        },
    ]
    admin_rules = [
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["localsubjectaccessreviews"],
            "verbs": ["create"],
        },
        {"apiGroups": [RBAC_GROUP], "resources": ["rolebindings", "roles"], "verbs": _RW},
    ]
    discovery_urls = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ]
    return [
        _cr(
            "cluster-admin",
            [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
            {"kubernetes.io/bootstrapping": "rbac-defaults"},
        ),
        _cr("admin", [], agg=[{"rbac.authorization.k8s.io/aggregate-to-admin": "true"}]),
        _cr(
            "edit",
            [],
            {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
            agg=[{"rbac.authorization.k8s.io/aggregate-to-edit": "true"}],
        ),
        _cr(
            "view",
            [],
            {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
            agg=[{"rbac.authorization.k8s.io/aggregate-to-view": "true"}],
        ),
        _cr(
            "system:aggregate-to-admin", admin_rules, {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}
        ),
        _cr("system:aggregate-to-edit", edit_rules, {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}),
        _cr("system:aggregate-to-view", view_rules, {"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
        _cr(
            "system:basic-user",
            [
                {
                    "apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    "verbs": ["create"],
                },
                {
                    "apiGroups": ["authentication.k8s.io"],
                    "resources": ["selfsubjectreviews"],
                    "verbs": ["create"],
                },
            ],
        ),
        _cr("system:discovery", [{"nonResourceURLs": discovery_urls, "verbs": ["get"]}]),
        _cr(
            "system:public-info-viewer",
            [
                {
                    "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"],
                    "verbs": ["get"],
                }
            ],
        ),
        _cr(
            "system:node",
            [
                {
                    "apiGroups": [""],
                    "resources": [
                        "nodes",
                        "nodes/status",
                        "pods",
                        "pods/status",
                        "events",
                        "configmaps",
                        "secrets",
                        "services",
                        "endpoints",
                        "serviceaccounts/token",
                        "persistentvolumeclaims",
                    ],
                    "verbs": _RW,
                },
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": _RW},
                {"apiGroups": ["discovery.k8s.io", "networking.k8s.io"], "resources": ["*"], "verbs": _RO},
            ],
        ),
        _cr(
            "system:heron-prometheus",
            [
                {
                    "apiGroups": [""],
                    "resources": ["nodes", "nodes/metrics", "services", "endpoints", "pods", "namespaces"],
                    "verbs": _RO,
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": _RO},
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": _RO},
                {"apiGroups": ["monitoring.coreos.com"], "resources": ["*"], "verbs": _RO},
                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
            ],
        ),
        _crb("cluster-admin", "cluster-admin", [{"kind": "Group", "name": "system:masters"}]),
        _crb("system:basic-user", "system:basic-user", [{"kind": "Group", "name": "system:authenticated"}]),
        _crb("system:discovery", "system:discovery", [{"kind": "Group", "name": "system:authenticated"}]),
        _crb(
            "system:public-info-viewer",
            "system:public-info-viewer",
            [
                {"kind": "Group", "name": "system:authenticated"},
                {"kind": "Group", "name": "system:unauthenticated"},
            ],
        ),
        _crb("system:node", "system:node", [{"kind": "Group", "name": "system:nodes"}]),
    ]
