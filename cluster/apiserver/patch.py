"""JSON merge patch (RFC 7386), JSON patch (RFC 6902), and strategic merge patch.

Strategic merge follows Kubernetes' patch strategies for the built-in types'
common fields: lists merged by key (containers by name, ports by
containerPort/port, conditions by type, ...), primitive lists merged as sets
(finalizers), everything else replaced; directives ``$patch``
(replace/delete/merge), ``$setElementOrder/<f>``, ``$deleteFromPrimitiveList/<f>``
and ``$retainKeys`` are honoured.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import APIError, bad_request

# field name -> merge key (lists of objects merged by that key)
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "addresses": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "readinessGates": "conditionType",
}
# primitive lists merged as sets
SET_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _ports_key(items: list[Any]) -> str:
    for it in items:
        if isinstance(it, dict):
            if "containerPort" in it:
                return "containerPort"
            if "port" in it:
                return "port"
    return "port"


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return _ports_key(items)
    return MERGE_KEYS.get(field)


def strategic_merge(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch (common built-in strategies)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target)
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    deletes: dict[str, list[Any]] = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            deletes[k.split("/", 1)[1]] = v
            continue
        if v is None:
            out.pop(k, None)
            continue
        cur = out.get(k)
        if isinstance(v, dict):
            merged = strategic_merge(cur, v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list):
            out[k] = _merge_list(k, cur if isinstance(cur, list) else [], v)
        else:
            out[k] = v
    for f, vals in deletes.items():
        if isinstance(out.get(f), list):
            out[f] = [x for x in out[f] if x not in vals]
    for f, order in orders.items():
        cur = out.get(f)
        if isinstance(cur, list):
            out[f] = _apply_order(f, cur, order)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(field: str, cur: list[Any], patch: list[Any]) -> list[Any]:
    if field in SET_LISTS:
        out = list(cur)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    key = _merge_key(field, cur + patch)
    if key is None or not all(isinstance(x, dict) for x in patch):
        # replace, but honour a lone {"$patch": "replace"} style element
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    out = [copy.deepcopy(x) for x in cur]
    for item in patch:
        d = item.get("$patch")
        if d == "replace":
            return [copy.deepcopy(x) for x in patch if x.get("$patch") != "replace"]
        kv = item.get(key)
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == kv), None)
        if d == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(strategic_merge({}, item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def _apply_order(field: str, cur: list[Any], order: list[Any]) -> list[Any]:
    if not order:
        return cur
    if all(not isinstance(x, dict) for x in order):
        pos = {v: i for i, v in enumerate(order)}
        return sorted(cur, key=lambda x: pos.get(x, len(pos)))
    key = _merge_key(field, order + cur)
    if key is None:
        return cur
    pos = {x.get(key): i for i, x in enumerate(order) if isinstance(x, dict)}
    indexed = list(enumerate(cur))
    indexed.sort(key=lambda p: pos.get(p[1].get(key) if isinstance(p[1], dict) else None, len(pos) + p[0]))
    return [x for _, x in indexed]


# ---- JSON patch --------------------------------------------------------------
def _ptr(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise _pe(f"unable to find index {p}") from None
        elif isinstance(cur, dict):
            if p not in cur:
                raise _pe(f"doc is missing path: {p}")
            cur = cur[p]
        else:
            raise _pe(f"cannot traverse into {p}")
    return cur


def _pe(msg: str) -> APIError:
    return APIError(422, "Invalid", f"the server rejected our request due to an error in our request: {msg}")


def _add(doc: Any, parts: list[str], value: Any, replace: bool = False) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            if replace:
                raise _pe("replace with '-'")
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise _pe(f"invalid index {last}") from None
            if replace:
                if i >= len(parent):
                    raise _pe(f"replace operation does not apply: doc is missing key: {last}")
                parent[i] = value
            else:
                if i > len(parent):
                    raise _pe(f"add operation does not apply: index {i} out of bounds")
                parent.insert(i, value)
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise _pe(f"replace operation does not apply: doc is missing key: {'/' + '/'.join(parts)}")
        parent[last] = value
    else:
        raise _pe("add to a non-container")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise _pe("cannot remove the root")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError):
            raise _pe(f"remove operation does not apply: index {last}") from None
    if isinstance(parent, dict):
        if last not in parent:
            raise _pe(f"remove operation does not apply: doc is missing path: {'/' + '/'.join(parts)}")
        return parent.pop(last)
    raise _pe("remove from a non-container")


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise bad_request("invalid json patch operation")
        kind = op["op"]
        parts = _ptr(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            v = _remove(doc, _ptr(op["from"]))
            doc = _add(doc, parts, v)
        elif kind == "copy":
            v = copy.deepcopy(_walk(doc, _ptr(op["from"])))
            doc = _add(doc, parts, v)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise _pe(f"testing value {op.get('path')} failed")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc
