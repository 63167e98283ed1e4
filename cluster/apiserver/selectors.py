"""Label and field selectors (string syntax and ``metav1.LabelSelector``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import bad_request

Requirement = tuple[str, str, tuple[str, ...]]  # key, op, values
_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|!|[^\s(),!=]+)")


def _tokens(s: str) -> list[str]:
    out = []
    pos = 0
    s = s.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m:
            raise bad_request(f"unable to parse requirement: {s!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(s) and s[pos].isspace():
            pos += 1
    return out


def parse_label_selector(s: str | None) -> list[Requirement]:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h``."""
    if not s or not s.strip():
        return []
    toks = _tokens(s)
    reqs: list[Requirement] = []
    i = 0

    def need(cond: bool, what: str) -> None:
        if not cond:
            raise bad_request(f"unable to parse requirement: found '{what}', expected: identifier in {s!r}")

    while i < len(toks):
        if toks[i] == "!":
            need(i + 1 < len(toks), "end")
            reqs.append((toks[i + 1], "!", ()))
            i += 2
        else:
            key = toks[i]
            need(key not in "(),=!", key)
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append((key, "exists", ()))
            elif toks[i] in ("=", "==", "!="):
                op = "!=" if toks[i] == "!=" else "="
                i += 1
                val = ""
                if i < len(toks) and toks[i] != ",":
                    val = toks[i]
                    i += 1
                reqs.append((key, op, (val,)))
            elif toks[i] in ("in", "notin"):
                op = toks[i]
                i += 1
                need(i < len(toks) and toks[i] == "(", toks[i] if i < len(toks) else "end")
                i += 1
                vals: list[str] = []
                while i < len(toks) and toks[i] != ")":
                    if toks[i] != ",":
                        vals.append(toks[i])
                    i += 1
                need(i < len(toks), "end")
                i += 1
                reqs.append((key, op, tuple(vals)))
            else:
                need(False, toks[i])
        if i < len(toks):
            need(toks[i] == ",", toks[i])
            i += 1
    for key, _, _ in reqs:
        _check_key(key)
    return reqs


def _check_key(key: str) -> None:
    if not re.fullmatch(r"([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r}")


def matches_labels(reqs: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` satisfy every requirement."""
    labels = labels or {}
    for key, op, vals in reqs:
        has = key in labels
        v = labels.get(key)
        if op == "=":
            if v != vals[0]:
                return False
        elif op == "!=":
            if has and v == vals[0]:
                return False
        elif op == "in":
            if not has or v not in vals:
                return False
        elif op == "notin":
            if has and v in vals:
                return False
        elif op == "exists":
            if not has:
                return False
        elif op == "!":
            if has:
                return False
    return True


def selector_requirements(sel: Mapping[str, Any] | None) -> list[Requirement] | None:
    """Requirements of a ``metav1.LabelSelector``; None means "matches nothing" (null)."""
    if sel is None:
        return None
    reqs: list[Requirement] = [(k, "=", (str(v),)) for k, v in (sel.get("matchLabels") or {}).items()]
    for e in sel.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}.get(
            e.get("operator", "")
        )
        if op is None:
            raise bad_request(f"{e.get('operator')!r} is not a valid label selector operator")
        reqs.append((e["key"], op, tuple(e.get("values") or ())))
    return reqs


def label_selector_matches(sel: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether a ``metav1.LabelSelector`` matches; an empty selector matches all, null none."""
    reqs = selector_requirements(sel)
    if reqs is None:
        return False
    return matches_labels(reqs, labels)


def selector_to_string(sel: Mapping[str, Any] | None) -> str:
    """The string form of a ``metav1.LabelSelector`` (as in Scale status)."""
    if not sel:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = e.get("operator")
        vals = ",".join(sorted(e.get("values") or []))
        if op == "In":
            parts.append(f"{e['key']} in ({vals})")
        elif op == "NotIn":
            parts.append(f"{e['key']} notin ({vals})")
        elif op == "Exists":
            parts.append(e["key"])
        elif op == "DoesNotExist":
            parts.append("!" + e["key"])
    return ",".join(parts)


def map_to_selector_string(labels: Mapping[str, str] | None) -> str:
    """``k=v,...`` of a plain label map (Service selectors)."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items()))


FieldReq = tuple[str, str, str]  # path, op ('=' or '!='), value


def parse_field_selector(s: str | None) -> list[FieldReq]:
    """Parse ``metadata.name=x,spec.nodeName!=,status.phase==Running``."""
    if not s or not s.strip():
        return []
    out: list[FieldReq] = []
    for part in _split_unescaped(s):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"([^=!]+)(==|!=|=)(.*)", part)
        if not m:
            raise bad_request(f"invalid selector: '{s}'; can't understand '{part}'")
        op = "!=" if m.group(2) == "!=" else "="
        out.append((m.group(1).strip(), op, _unescape(m.group(3))))
    return out


def _split_unescaped(s: str) -> list[str]:
    parts, cur, esc = [], [], False
    for ch in s:
        if esc:
            cur.append("\\" + ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == ",":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", r"\1", v)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """String value of a dotted path in an object ('' when absent)."""
    cur: Any = obj
    for p in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(p)
        else:
            return ""
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, dict | list):
        return ""
    return str(cur)


def matches_fields(reqs: list[FieldReq], obj: Mapping[str, Any]) -> bool:
    """Whether an object satisfies every field requirement."""
    for path, op, val in reqs:
        v = field_value(obj, path)
        if (v == val) != (op == "="):
            return False
    return True


def compile_filter(
    label_selector: str | None, field_selector: str | None
) -> Callable[[Mapping[str, Any]], bool] | None:
    """One predicate for both selectors, or None if there are none."""
    lr = parse_label_selector(label_selector)
    fr = parse_field_selector(field_selector)
    if not lr and not fr:
        return None

    def pred(obj: Mapping[str, Any]) -> bool:
        return matches_labels(lr, obj.get("metadata", {}).get("labels")) and matches_fields(fr, obj)

    return pred
