"""Heron's kubelet: runs the pods bound to a simulated node as real processes.

Public surface: :class:`Kubelet` (one node), :class:`KubeClient` and
:class:`Informer` (the REST client every node-side component uses).
"""

from __future__ import annotations

from ._kubelet import FAULT_ANNOTATION, IPAM, Kubelet
from .client import ApiError, Informer, KubeClient, path_for

__all__ = ["Kubelet", "IPAM", "KubeClient", "Informer", "ApiError", "path_for", "FAULT_ANNOTATION"]
