"""Kubernetes-compatible API server: registry (storage logic) and HTTP front end."""

from __future__ import annotations

from .errors import APIError
from .registry import Registry, WatchEvent
from .resources import ResourceInfo, ResourceTable
from .server import APIServer

__all__ = ["APIError", "APIServer", "Registry", "ResourceInfo", "ResourceTable", "WatchEvent"]
