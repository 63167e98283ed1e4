"""``file_sd_configs``: YAML/JSON target files, re-read on change and every ``refresh_interval``."""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

import yaml

from . import SendFn, TargetGroup

__all__ = ["FileProvider", "parse_target_groups"]

log = logging.getLogger("heron.discovery.file")

_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class DiscoveryFileError(ValueError):
    """A target file that can't be used (its previous groups are kept)."""


def parse_target_groups(data: Any, source_prefix: str, meta: dict[str, str]) -> list[TargetGroup]:
    """Groups from the decoded ``[{targets: [...], labels: {...}}, ...]`` list (Prometheus's format)."""
    if data is None:
        return []
    if not isinstance(data, list):
        raise DiscoveryFileError("expected a list of target groups")
    out = []
    for i, g in enumerate(data):
        if not isinstance(g, dict):
            raise DiscoveryFileError(f"target group {i} is not a mapping")
        unknown = set(g) - {"targets", "labels"}
        if unknown:
            raise DiscoveryFileError(f"field {sorted(unknown)[0]} not found in type struct")
        targets = g.get("targets") or []
        labels = g.get("labels") or {}
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise DiscoveryFileError(f"target group {i}: targets must be a list of strings")
        if not isinstance(labels, dict):
            raise DiscoveryFileError(f"target group {i}: labels must be a mapping")
        lab: dict[str, str] = {}
        for k, v in labels.items():
            if not isinstance(k, str) or _LABEL_NAME_RE.fullmatch(k) is None:
                raise DiscoveryFileError(f'"{k}" is not a valid label name')
            if not isinstance(v, str):
                raise DiscoveryFileError(f"label {k}: value must be a string")
            lab[k] = v
        lab.update(meta)
        out.append(TargetGroup(f"{source_prefix}:{i}", [{"__address__": t} for t in targets], lab))
    return out


def _read(path: str) -> list[TargetGroup]:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        if path.lower().endswith(".json"):
            data = json.loads(raw)
        else:
            data = yaml.safe_load(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise DiscoveryFileError(str(e)) from None
    return parse_target_groups(data, path, {"__meta_filepath": path})


class FileProvider:
    """Watches the files matching ``cfg.files`` (polled for changes every ``poll_s``)."""

    def __init__(
        self,
        cfg: Any,
        *,
        poll_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.cfg = cfg
        self.poll_s = poll_s
        self.sleep = sleep
        self._groups: dict[str, list[TargetGroup]] = {}
        self._stamp: dict[str, tuple[float, int]] = {}

    def _paths(self) -> list[str]:
        out: list[str] = []
        for pat in self.cfg.files:
            for p in sorted(glob.glob(pat)):
                if p not in out:
                    out.append(p)
        return out

    def refresh(self, force: bool = False) -> bool:
        """Re-read changed files; True when the groups changed."""
        changed = False
        paths = self._paths()
        for p in list(self._groups):
            if p not in paths:
                del self._groups[p]
                self._stamp.pop(p, None)
                changed = True
        for p in paths:
            try:
                st = os.stat(p)
            except OSError:
                continue
            stamp = (st.st_mtime, st.st_size)
            if not force and self._stamp.get(p) == stamp:
                continue
            self._stamp[p] = stamp
            try:
                groups = _read(p)
            except (OSError, DiscoveryFileError) as e:
                log.error("error reading file %s (keeping its previous targets): %s", p, e)
                continue
            if self._groups.get(p) != groups:
                self._groups[p] = groups
                changed = True
        return changed

    def groups(self) -> list[TargetGroup]:
        return [g for p in sorted(self._groups) for g in self._groups[p]]

    async def run(self, send: SendFn) -> None:
        self.refresh(force=True)
        send(self.groups())
        refresh_s = max(self.cfg.refresh_interval / 1000, self.poll_s)
        since = 0.0
        while True:
            await self.sleep(self.poll_s)
            since += self.poll_s
            force = since >= refresh_s
            if force:
                since = 0.0
            if self.refresh(force=force):
                send(self.groups())
