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
