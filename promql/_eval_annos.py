"""PromQL annotations (warnings and infos), worded as Prometheus's ``util/annotations``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .ast import PosRange

WARNING = "warning"
INFO = "info"


def go_g(v: float) -> str:
    """Format a float like Go's ``%g`` verb (shortest representation)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(float(v))
    if "e" in r or "E" in r:
        mant, exp = r.split("e")
        if mant.endswith(".0"):
            mant = mant[:-2]
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-")
        if len(digits) < 2:
            digits = "0" + digits
        return f"{mant}e{sign}{digits}"
    if r.endswith(".0"):
        r = r[:-2]
    # Go switches to exponent form for exponents < -4 or >= 21 (shortest repr).
    f = float(v)
    if f != 0 and (abs(f) < 1e-4 or abs(f) >= 1e21):
        s = f"{f:e}"
        mant, exp = s.split("e")
        mant = mant.rstrip("0").rstrip(".")
        return f"{mant}e{exp[0]}{exp[1:].zfill(2)}"
    return r


def go_q(s: str) -> str:
    """Quote like Go's ``%q``."""
    from .ast import go_quote

    return go_quote(s)


@dataclass(frozen=True)
class Annotation:
    """One annotation: its kind (``warning``/``info``), message and source position."""

    kind: str
    message: str
    pos: PosRange | None = None

    def render(self, query: str) -> str:
        """The message with Prometheus's ``(line:col)`` suffix for ``query``."""
        if self.pos is None or not query:
            return self.message
        return f"{self.message} ({start_pos(query, self.pos[0])})"


def start_pos(query: str, offset: int) -> str:
    """``line:column`` (1-based) of a character offset, as Prometheus prints positions."""
    offset = max(0, min(offset, len(query)))
    before = query[:offset]
    line = before.count("\n") + 1
    col = offset - (before.rfind("\n") + 1) + 1
    return f"{line}:{col}"


class Annotations:
    """An ordered, de-duplicated set of annotations."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, PosRange | None], Annotation] = {}

    def add(self, a: Annotation) -> None:
        self._items.setdefault((a.kind, a.message, a.pos), a)

    def merge(self, other: Annotations) -> None:
        for a in other._items.values():
            self.add(a)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def render(self, query: str, kind: str) -> list[str]:
        out: list[str] = []
        seen: set[str] = set()
        for a in self._items.values():
            if a.kind != kind:
                continue
            s = a.render(query)
            if s not in seen:
                seen.add(s)
                out.append(s)
        return out


def _w(msg: str, pos: PosRange | None) -> Annotation:
    return Annotation(WARNING, "PromQL warning: " + msg, pos)


def _i(msg: str, pos: PosRange | None) -> Annotation:
    return Annotation(INFO, "PromQL info: " + msg, pos)


def _with_name(msg: str, metric_name: str) -> str:
    return msg if not metric_name else f"{msg} for metric name {go_q(metric_name)}"


def invalid_quantile(q: float, pos: PosRange | None) -> Annotation:
    return _w(f"quantile value should be between 0 and 1, got {go_g(q)}", pos)


def invalid_ratio(q: float, to: float, pos: PosRange | None) -> Annotation:
    return _w(f"ratio value should be between -1 and 1, got {go_g(q)}, capping to {go_g(to)}", pos)


def bad_bucket_label(metric_name: str, label: str, pos: PosRange | None) -> Annotation:
    msg = f'bucket label "le" is missing or has a malformed value of {go_q(label)}'
    return _w(_with_name(msg, metric_name), pos)


def possible_non_counter(metric_name: str, pos: PosRange | None) -> Annotation:
    return _i(
        f"metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {go_q(metric_name)}",
        pos,
    )


def possible_non_counter_label(metric_name: str, type_label: str, pos: PosRange | None) -> Annotation:
    return _i(
        'metric might not be a counter, __type__ label is not set to "counter" or "histogram", '
        f"got {go_q(type_label)}: {go_q(metric_name)}",
        pos,
    )


def forced_monotonicity(metric_name: str, pos: PosRange | None) -> Annotation:
    msg = (
        "input to histogram_quantile needed to be fixed for monotonicity "
        "(see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)"
    )
    return _i(_with_name(msg, metric_name), pos)


def sort_in_range_query(pos: PosRange | None) -> Annotation:
    return _w("sort is ineffective for range queries since results are always ordered by labels", pos)


def histogram_ignored_in_aggregation(aggr: str, pos: PosRange | None) -> Annotation:
    return _i(f"ignored histogram in {aggr} aggregation", pos)
