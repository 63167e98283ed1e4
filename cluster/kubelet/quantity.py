"""Kubernetes resource quantities (``500m``, ``128Mi``, ``1.5G``, ``2e3``)."""

from __future__ import annotations

import re

_SUFFIX = {
    "": 1.0,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}
_RE = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")


def parse_quantity(q: str | int | float | None) -> float:
    """Value of a quantity in base units (cores, bytes). Raises ``ValueError``."""
    if q is None:
        return 0.0
    if isinstance(q, int | float):
        return float(q)
    m = _RE.match(str(q).strip())
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"invalid quantity {q!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def format_bytes(n: float) -> str:
    """Bytes as a ``Ki`` quantity, the way kubelets report memory capacity."""
    return f"{int(n) // 1024}Ki"
