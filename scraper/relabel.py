"""Relabeling: Prometheus's ``model/relabel.Process`` as a pure function.

:func:`relabel` applies a sequence of relabel steps (``relabel_configs``,
``metric_relabel_configs``, ``alert_relabel_configs``,
``write_relabel_configs``) to a label set and returns the new set, or None
when a step drops it. A step is anything with the attributes of
:class:`scraper.config.RelabelConfig` (``source_labels``, ``separator``,
``regex``, ``modulus``, ``target_label``, ``replacement``, ``action``).

Semantics follow Prometheus exactly:

* the regex is fully anchored (``^(?s:regex)$``);
* ``replace``: no match leaves the set unchanged; the target label name and
  the replacement are expanded with ``$1``/``${1}``/``$name``/``${name}``
  (unknown groups expand to ''); an expanded target name that is not a
  valid label name is ignored; an empty result deletes the (unexpanded)
  ``target_label``; the fast path (empty source value, default regex, no
  ``$`` in target or replacement) sets the target to the literal replacement;
* ``lowercase``/``uppercase`` set the target to the joined source value;
* ``hashmod``: the low 64 bits (big-endian bytes 8..15) of the MD5 of the
  joined source value, modulo ``modulus``;
* ``keep``/``drop`` match the joined source value, ``keepequal``/``dropequal``
  compare it with the value of ``target_label``;
* ``labelmap`` copies each matching label to the name given by the
  replacement (expanded against the name), ``labeldrop``/``labelkeep``
  drop/keep labels whose names match;
* labels set to the empty string disappear.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

from tsdb.labels import Labels, LabelsBuilder
from tsdb.matchers import re2_to_python

__all__ = ["RelabelStep", "compile_anchored", "expand", "hashmod", "relabel", "relabel_builder"]

DEFAULT_REGEX = "(.*)"
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_GO_TEMPLATE = re.compile(r"\$(?:\{(\w+)\}|(\w+)|(\$))")


class RelabelStep(Protocol):
    """The fields of one relabel step (``scraper.config.RelabelConfig``)."""

    source_labels: list[str]
    separator: str
    regex: str
    modulus: int
    target_label: str
    replacement: str
    action: str


_RE_CACHE: dict[str, re.Pattern[str]] = {}


def compile_anchored(s: str) -> re.Pattern[str]:
    """The regex ``s`` anchored at both ends, as Prometheus's ``relabel.NewRegexp``."""
    p = _RE_CACHE.get(s)
    if p is None:
        try:
            body = re2_to_python(s)
        except Exception:  # noqa: BLE001 - fall back to the pattern as written
            body = s
        p = _RE_CACHE[s] = re.compile("(?s:" + body + r")\Z")
    return p


def expand(template: str, m: re.Match[str]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``$$``; unknown groups give ''."""
    if "$" not in template:
        return template

    def sub(mm: re.Match[str]) -> str:
        if mm.group(3):
            return "$"
        name = mm.group(1) or mm.group(2)
        try:
            return m.group(int(name) if name.isdigit() else name) or ""
        except IndexError:
            return ""

    return _GO_TEMPLATE.sub(sub, template)


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's ``hashmod``: ``sum64(md5(value)) % modulus`` (bytes 8..15, big-endian)."""
    h = hashlib.md5(value.encode()).digest()
    return int.from_bytes(h[8:], "big") % modulus


def relabel(labels: Labels, cfgs: Sequence[RelabelStep]) -> Labels | None:
    """Apply relabel steps in order (Prometheus's ``relabel.Process``); None if dropped."""
    if not cfgs:
        return labels
    lb = LabelsBuilder(labels)
    if not relabel_builder(lb, cfgs):
        return None
    return lb.labels()


def relabel_builder(lb: LabelsBuilder, cfgs: Sequence[RelabelStep]) -> bool:
    """Apply relabel steps to a builder in place; False when the set is dropped."""
    for cfg in cfgs:
        if not _relabel_one(cfg, lb):
            return False
    return True


def _relabel_one(cfg: RelabelStep, lb: LabelsBuilder) -> bool:
    src = cfg.source_labels
    if len(src) == 1:
        val = lb.get(src[0])
    else:
        val = cfg.separator.join([lb.get(n) for n in src])
    a = cfg.action
    if a == "drop":
        return compile_anchored(cfg.regex).match(val) is None
    if a == "keep":
        return compile_anchored(cfg.regex).match(val) is not None
    if a == "dropequal":
        return lb.get(cfg.target_label) != val
    if a == "keepequal":
        return lb.get(cfg.target_label) == val
    if a == "replace":
        if (
            val == ""
            and cfg.regex == DEFAULT_REGEX
            and "$" not in cfg.target_label
            and "$" not in cfg.replacement
        ):
            lb.set(cfg.target_label, cfg.replacement)
            return True
        m = compile_anchored(cfg.regex).match(val)
        if m is None:
            return True
        target = expand(cfg.target_label, m)
        if _LABEL_NAME_RE.fullmatch(target) is None:
            return True
        res = expand(cfg.replacement, m)
        if not res:
            lb.delete(cfg.target_label)
        else:
            lb.set(target, res)
        return True
    if a == "lowercase":
        lb.set(cfg.target_label, val.lower())
    elif a == "uppercase":
        lb.set(cfg.target_label, val.upper())
    elif a == "hashmod":
        lb.set(cfg.target_label, str(hashmod(val, cfg.modulus)))
    elif a in ("labelmap", "labeldrop", "labelkeep"):
        rx = compile_anchored(cfg.regex)
        for name, value in lb.labels().pairs:
            hit = rx.match(name)
            if a == "labelmap":
                if hit is not None:
                    lb.set(expand(cfg.replacement, hit), value)
            elif a == "labeldrop":
                if hit is not None:
                    lb.delete(name)
            elif hit is None:
                lb.delete(name)
    else:
        raise ValueError(f"relabel: unknown action {a!r}")
    return True
