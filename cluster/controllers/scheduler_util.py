"""Predicates shared by the scheduler and the DaemonSet controller."""

from __future__ import annotations

from typing import Any

from cluster.objects import parse_quantity


def tolerates(tol: dict[str, Any], taint: dict[str, Any]) -> bool:
    """Whether one toleration tolerates one taint."""
    if tol.get("effect") and tol.get("effect") != taint.get("effect"):
        return False
    op = tol.get("operator", "Equal")
    if not tol.get("key"):
        return op == "Exists"
    if tol.get("key") != taint.get("key"):
        return False
    if op == "Exists":
        return True
    return (tol.get("value") or "") == (taint.get("value") or "")


def tolerates_all(tols: list[dict[str, Any]], taints: list[dict[str, Any]]) -> bool:
    """Whether every taint is tolerated."""
    return all(any(tolerates(t, taint) for t in tols) for taint in taints)


def untolerated(
    tols: list[dict[str, Any]], taints: list[dict[str, Any]], effects: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Taints with one of ``effects`` not tolerated."""
    return [t for t in taints if t.get("effect") in effects and not any(tolerates(x, t) for x in tols)]


def _match_expr(e: dict[str, Any], value: str | None) -> bool:
    op = e.get("operator")
    vals = e.get("values") or []
    if op == "In":
        return value is not None and value in vals
    if op == "NotIn":
        return value is None or value not in vals
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        try:
            v, ref = int(value or ""), int(vals[0])
        except (ValueError, IndexError):
            return False
        return v > ref if op == "Gt" else v < ref
    return False


def term_matches(term: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether a NodeSelectorTerm matches a node."""
    labels = node["metadata"].get("labels") or {}
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    for e in exprs:
        if not _match_expr(e, labels.get(e.get("key", ""))):
            return False
    for f in fields:
        val = node["metadata"]["name"] if f.get("key") == "metadata.name" else None
        if not _match_expr(f, val):
            return False
    return True


def node_matches_affinity(spec: dict[str, Any], node: dict[str, Any]) -> bool:
    """Required node affinity of a pod spec."""
    req = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
    ) or {}
    terms = req.get("nodeSelectorTerms")
    if not terms:
        return True
    return any(term_matches(t, node) for t in terms)


def preferred_affinity_score(spec: dict[str, Any], node: dict[str, Any]) -> int:
    """Sum of weights of matching preferred node affinity terms."""
    pref = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    ) or []
    return sum(int(p.get("weight", 0)) for p in pref if term_matches(p.get("preference") or {}, node))


def pod_requests(spec: dict[str, Any]) -> dict[str, float]:
    """Effective cpu/memory requests of a pod (max of init containers vs sum of containers)."""
    tot = {"cpu": 0.0, "memory": 0.0}
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        for k in tot:
            v = req.get(k, lim.get(k))
            if v is not None:
                try:
                    tot[k] += parse_quantity(v)
                except ValueError:
                    pass
    for c in spec.get("initContainers") or []:
        req = (c.get("resources") or {}).get("requests") or {}
        for k in tot:
            try:
                tot[k] = max(tot[k], parse_quantity(req.get(k)))
            except ValueError:
                pass
    return tot
