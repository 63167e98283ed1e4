"""Reconcile loops of the control plane (the kube-controller-manager and scheduler roles)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Context, Controller, ControllerManager
from .clock import Clock, FakeClock, RealClock

if TYPE_CHECKING:
    from cluster.controlplane import ControlPlane

__all__ = [
    "Clock",
    "Context",
    "Controller",
    "ControllerManager",
    "FakeClock",
    "RealClock",
    "build_manager",
]


def build_manager(ctx: Context, hpa_query: Any = None) -> ControllerManager:
    """Every controller plus the scheduler, fed by one store watch."""
    from cluster.scheduler import Scheduler

    from .daemonset import DaemonSetController
    from .deployment import DeploymentController
    from .endpoints import EndpointsController, EndpointSliceController
    from .gc import GarbageCollector
    from .hpa import HPAController
    from .namespace import EventTTLController, NamespaceController, ServiceAccountController, TokenController
    from .nodelifecycle import NodeLifecycleController
    from .replicaset import ReplicaSetController
    from .statefulset import StatefulSetController

    controllers: list[Controller] = [
        NamespaceController(ctx),
        ServiceAccountController(ctx),
        TokenController(ctx),
        Scheduler(ctx),
        DeploymentController(ctx),
        ReplicaSetController(ctx),
        StatefulSetController(ctx),
        DaemonSetController(ctx),
        EndpointsController(ctx),
        EndpointSliceController(ctx),
        NodeLifecycleController(ctx),
        GarbageCollector(ctx),
        HPAController(ctx, hpa_query),
        EventTTLController(ctx),
    ]
    return ControllerManager(ctx, controllers)


def build_controllers(cp: ControlPlane) -> list[Any]:
    """The runnable components for a control plane (one manager)."""
    ca = cp.ca_path.read_text() if cp.tls and cp.ca_path.exists() else ""
    ctx = Context(
        registry=cp.registry,
        clock=cp.clock,
        node_monitor_grace_period=cp.node_monitor_grace_period,
        prometheus_url=cp.prometheus_url,
        ca_pem=ca,
        issue_token=lambda ns, sa, uid: cp.authn.issue(ns, sa, uid, bound={"kind": "Secret", "name": sa})[0],
    )
    cp.manager = build_manager(ctx, cp.hpa_query)
    return [cp.manager]
