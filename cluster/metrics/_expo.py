"""Writing the Prometheus text exposition format (0.0.4) by hand."""

from __future__ import annotations

import math
from collections.abc import Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


class Exposition:
    """Accumulates metric families; ``str()`` gives the exposition text."""

    def __init__(self) -> None:
        self._families: dict[str, list[str]] = {}

    def family(self, name: str, mtype: str, help_text: str) -> None:
        if name not in self._families:
            self._families[name] = [f"# HELP {name} {help_text}\n# TYPE {name} {mtype}\n"]

    def sample(
        self,
        name: str,
        labels: Mapping[str, str],
        value: float,
        ts_ms: int | None = None,
        family: str | None = None,
    ) -> None:
        """One sample; it is filed under ``family`` (default: the family called ``name``)."""
        lbl = ",".join(f'{k}="{_esc(str(v))}"' for k, v in labels.items())
        line = f"{name}{{{lbl}}} {_num(value)}" if lbl else f"{name} {_num(value)}"
        if ts_ms is not None:
            line += f" {ts_ms}"
        self._families.setdefault(family or name, []).append(line + "\n")

    def add(self, name: str, mtype: str, help_text: str, labels: Mapping[str, str], value: float) -> None:
        self.family(name, mtype, help_text)
        self.sample(name, labels, value)

    def __str__(self) -> str:
        return "".join(line for lines in self._families.values() for line in lines)


def sanitize_label_name(name: str) -> str:
    """A Kubernetes label key as a Prometheus label name (``app.kubernetes.io/name`` -> ``app_kubernetes_io_name``)."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if out and out[0].isdigit():
        out = "_" + out
    return out


class _Child:
    __slots__ = ("value", "buckets", "sum", "count")

    def __init__(self, nbuckets: int) -> None:
        self.value = 0.0
        self.buckets = [0] * nbuckets
        self.sum = 0.0
        self.count = 0


class Family:
    """A labelled counter, gauge or histogram rendered under exactly its given name.

    (prometheus-client appends ``_total`` to counters; exporters such as ingress-nginx
    expose counters without it, and their users' queries depend on that.)
    """

    def __init__(
        self,
        name: str,
        mtype: str,
        help_text: str,
        labelnames: list[str],
        buckets: tuple[float, ...] = (),
    ) -> None:
        self.name, self.mtype, self.help = name, mtype, help_text
        self.labelnames = list(labelnames)
        self.bounds = tuple(sorted(buckets)) if mtype == "histogram" else ()
        self.children: dict[tuple[str, ...], _Child] = {}

    def labels(self, **kw: str) -> _Bound:
        key = tuple(str(kw[n]) for n in self.labelnames)
        ch = self.children.get(key)
        if ch is None:
            ch = self.children[key] = _Child(len(self.bounds))
        return _Bound(self, ch)

    def render(self, ex: Exposition) -> None:
        ex.family(self.name, self.mtype, self.help)
        for key, ch in self.children.items():
            lbl = dict(zip(self.labelnames, key, strict=True))
            if self.mtype != "histogram":
                ex.sample(self.name, lbl, ch.value)
                continue
            cum = 0
            for b, n in zip(self.bounds, ch.buckets, strict=True):
                cum += n
                ex.sample(f"{self.name}_bucket", {**lbl, "le": _num(b)}, cum, family=self.name)
            ex.sample(f"{self.name}_bucket", {**lbl, "le": "+Inf"}, ch.count, family=self.name)
            ex.sample(f"{self.name}_sum", lbl, ch.sum, family=self.name)
            ex.sample(f"{self.name}_count", lbl, ch.count, family=self.name)


class _Bound:
    __slots__ = ("f", "c")

    def __init__(self, f: Family, c: _Child) -> None:
        self.f, self.c = f, c

    def inc(self, v: float = 1.0) -> None:
        self.c.value += v

    def set(self, v: float) -> None:
        self.c.value = v

    def observe(self, v: float) -> None:
        c = self.c
        for i, b in enumerate(self.f.bounds):
            if v <= b:
                c.buckets[i] += 1
                break
        c.sum += v
        c.count += 1
