"""Services and their ready endpoints, from EndpointSlices (or Endpoints)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..kubelet.client import Informer, KubeClient

Obj = dict[str, Any]
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class ServiceTable:
    """Watches Services, EndpointSlices and Endpoints; answers "where are the ready backends?".

    EndpointSlices win for a service that has any; otherwise its Endpoints object is used,
    so the table works whichever of the two the API server's controllers maintain.
    """

    def __init__(self, client: KubeClient) -> None:
        self.services = Informer(client, "v1", "services", handler=self._changed, name="svc")
        self.slices = Informer(
            client, "discovery.k8s.io/v1", "endpointslices", handler=self._changed, name="slices"
        )
        self.endpoints = Informer(client, "v1", "endpoints", handler=self._changed, name="endpoints")
        self.listeners: list[Callable[[], None]] = []
        self._rr: dict[tuple[str, str, str], int] = {}

    def _changed(self, etype: str, obj: Obj, old: Obj | None) -> None:
        for cb in self.listeners:
            cb()

    async def start(self) -> None:
        for inf in (self.services, self.slices, self.endpoints):
            inf.start()
        await asyncio.gather(*(i.synced.wait() for i in (self.services, self.slices, self.endpoints)))

    async def stop(self) -> None:
        for inf in (self.services, self.slices, self.endpoints):
            await inf.stop()

    def service(self, ns: str, name: str) -> Obj | None:
        return self.services.get(ns, name)

    def ready_backends(self, ns: str, name: str, port_name: str) -> list[tuple[str, int]]:
        """Ready ``(ip, port)`` pairs for one named (or unnamed: ``""``) service port."""
        slices = [
            s
            for s in self.slices.items(ns)
            if (s.get("metadata", {}).get("labels") or {}).get(SERVICE_NAME_LABEL) == name
        ]
        out: list[tuple[str, int]] = []
        if slices:
            for s in slices:
                port = next(
                    (p.get("port") for p in s.get("ports") or [] if (p.get("name") or "") == port_name),
                    None,
                )
                if port is None:
                    continue
                for ep in s.get("endpoints") or []:
                    cond = ep.get("conditions") or {}
                    if cond.get("ready") is False or cond.get("terminating"):
                        continue
                    for addr in ep.get("addresses") or []:
                        out.append((addr, int(port)))
            return sorted(set(out))
        ep_obj = self.endpoints.get(ns, name)
        for subset in (ep_obj or {}).get("subsets") or []:
            port = next(
                (p.get("port") for p in subset.get("ports") or [] if (p.get("name") or "") == port_name),
                None,
            )
            if port is None:
                continue
            for a in subset.get("addresses") or []:
                out.append((a["ip"], int(port)))
        return sorted(set(out))

    def port_name(self, svc: Obj, port: int | str) -> str | None:
        """The name of the service port given by number or name (``None`` if absent)."""
        for p in svc.get("spec", {}).get("ports") or []:
            if (isinstance(port, int) and p.get("port") == port) or (
                isinstance(port, str) and (p.get("name") == port or str(p.get("port")) == port)
            ):
                return p.get("name") or ""
        return None

    def pick(self, ns: str, name: str, port_name: str) -> list[tuple[str, int]]:
        """Ready backends rotated round-robin: try them in the returned order."""
        b = self.ready_backends(ns, name, port_name)
        if not b:
            return []
        key = (ns, name, port_name)
        i = self._rr.get(key, 0) % len(b)
        self._rr[key] = i + 1
        return b[i:] + b[:i]
