"""Service networking: kube-proxy equivalent (ClusterIP/NodePort over loopback) and an ingress controller.

Public surface: :class:`ServiceProxy`, :class:`IngressController`, :class:`ServiceTable`.
"""

from __future__ import annotations

from ._endpoints import ServiceTable
from ._service import ServiceProxy
from .ingress import IngressController, Route, routes_of

__all__ = ["ServiceProxy", "IngressController", "ServiceTable", "Route", "routes_of"]
