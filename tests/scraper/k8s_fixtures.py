"""Kubernetes API objects shaped as a real API server returns them (v1 / discovery.k8s.io/v1 / networking.k8s.io/v1)."""

from __future__ import annotations

import copy
from typing import Any

NODE = {
    "kind": "Node",
    "apiVersion": "v1",
    "metadata": {
        "name": "node-1",
        "uid": "5c1e8a0f-7c1a-4a56-9d55-b1c5e5f0a001",
        "resourceVersion": "10",
        "labels": {"kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/control-plane": ""},
        "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
    },
    "spec": {"providerID": "kind://docker/kind/node-1", "podCIDR": "10.244.0.0/24"},
    "status": {
        "addresses": [
            {"type": "InternalIP", "address": "172.18.0.2"},
            {"type": "Hostname", "address": "node-1"},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}

POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {
        "name": "web-7d4b9c-x2x9z",
        "generateName": "web-7d4b9c-",
        "namespace": "shop",
        "uid": "0f3b6c2e-1111-4c4c-8e8e-000000000001",
        "resourceVersion": "20",
        "labels": {"app.kubernetes.io/name": "web", "pod-template-hash": "7d4b9c"},
        "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d4b9c",
                "uid": "aaaa",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {
        "nodeName": "node-1",
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "containers": [
            {
                "name": "web",
                "image": "shop/web:1.0",
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
                ],
            },
            {"name": "sidecar", "image": "envoy:1.29"},
        ],
    },
    "status": {
        "phase": "Running",
        "hostIP": "172.18.0.2",
        "podIP": "10.244.0.5",
        "podIPs": [{"ip": "10.244.0.5"}],
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
        ],
        "initContainerStatuses": [{"name": "init", "containerID": "containerd://init0", "ready": True}],
        "containerStatuses": [
            {"name": "web", "containerID": "containerd://abc123", "ready": True},
            {"name": "sidecar", "containerID": "containerd://def456", "ready": True},
        ],
    },
}

PENDING_POD = {
    "kind": "Pod",
    "metadata": {"name": "pending", "namespace": "shop", "uid": "u2", "resourceVersion": "21"},
    "spec": {"containers": [{"name": "c", "image": "i"}]},
    "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False"}]},
}

SERVICE = {
    "kind": "Service",
    "apiVersion": "v1",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "s1",
        "resourceVersion": "30",
        "labels": {"app.kubernetes.io/name": "web"},
        "annotations": {"prometheus.io/scrape": "true"},
    },
    "spec": {
        "type": "ClusterIP",
        "clusterIP": "10.96.12.34",
        "ports": [
            {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
        ],
    },
}

EXTERNAL_SERVICE = {
    "kind": "Service",
    "metadata": {"name": "ext", "namespace": "shop", "uid": "s2", "resourceVersion": "31"},
    "spec": {
        "type": "ExternalName",
        "externalName": "example.com",
        "ports": [{"port": 443, "protocol": "TCP"}],
    },
}

ENDPOINTS = {
    "kind": "Endpoints",
    "apiVersion": "v1",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "resourceVersion": "40",
        "labels": {"app.kubernetes.io/name": "web"},
    },
    "subsets": [
        {
            "addresses": [
                {
                    "ip": "10.244.0.5",
                    "nodeName": "node-1",
                    "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-7d4b9c-x2x9z", "uid": "u"},
                }
            ],
            "notReadyAddresses": [{"ip": "10.244.0.9", "hostname": "web-9"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        }
    ],
}

ENDPOINTSLICE = {
    "kind": "EndpointSlice",
    "apiVersion": "discovery.k8s.io/v1",
    "metadata": {
        "name": "web-abcde",
        "namespace": "shop",
        "resourceVersion": "50",
        "labels": {"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "x"},
    },
    "addressType": "IPv4",
    "endpoints": [
        {
            "addresses": ["10.244.0.5"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": "node-1",
            "zone": "zone-a",
            "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-7d4b9c-x2x9z", "uid": "u"},
        }
    ],
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}],
}

INGRESS = {
    "kind": "Ingress",
    "apiVersion": "networking.k8s.io/v1",
    "metadata": {"name": "shop", "namespace": "shop", "resourceVersion": "60"},
    "spec": {
        "ingressClassName": "nginx",
        "tls": [{"hosts": ["*.example.com"]}],
        "rules": [
            {"host": "shop.example.com", "http": {"paths": [{"path": "/api"}, {"path": ""}]}},
            {"host": "plain.test"},
        ],
    },
}


def lst(kind: str, items: list[dict[str, Any]], rv: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv},
        "items": copy.deepcopy(items),
    }
