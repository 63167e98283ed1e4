"""Metrics of the cluster, named as the real exporters name them.

- :mod:`cluster.metrics.kube_state` -- kube-state-metrics (``KubeStateMetrics``; ``python -m``)
- :mod:`cluster.metrics.cadvisor` -- container metrics served by each kubelet at ``/metrics/cadvisor``
- :mod:`cluster.metrics.node_exporter` -- node_exporter metrics per simulated node (``python -m``)
"""

from __future__ import annotations

from .kube_state import KubeStateMetrics
from .node_exporter import NodeExporter

__all__ = ["KubeStateMetrics", "NodeExporter"]

from pathlib import Path

MONITORING_MANIFEST = Path(__file__).parent / "manifests" / "monitoring.yaml"
