"""The notification log (``nflog``): what was last sent for each (group, receiver integration).

One entry per ``groupKey`` and receiver ``(name, integration, index)`` holding the time of
the last notification and the alerts (by hash) that were firing and resolved in it. Entries
expire after the retention period. Snapshots are JSON in ``<storage.path>/nflog``; ``merge``
takes an entry from a peer (newest timestamp wins).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .types import NS, Clock, now_ns

log = logging.getLogger("alertmanager.nflog")


@dataclass(frozen=True)
class ReceiverKey:
    group_name: str
    integration: str
    idx: int

    def __str__(self) -> str:
        return f"{self.group_name}/{self.integration}/{self.idx}"


@dataclass
class Entry:
    receiver: ReceiverKey
    group_key: str
    timestamp: int
    firing_alerts: list[int] = field(default_factory=list)
    resolved_alerts: list[int] = field(default_factory=list)
    expires_at: int = 0

    def key(self) -> str:
        return f"{self.group_key}:{self.receiver}"

    def is_firing_subset(self, subset: set[int]) -> bool:
        return subset <= set(self.firing_alerts)

    def is_resolved_subset(self, subset: set[int]) -> bool:
        return subset <= set(self.resolved_alerts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Entry:
        d = dict(d)
        d["receiver"] = ReceiverKey(**d["receiver"])
        return cls(**d)


class NotificationLog:
    """The notification log."""

    def __init__(
        self, clock: Clock, snapshot: str | Path | None = None, retention: float = 120 * 3600.0
    ) -> None:
        self.clock = clock
        self.retention = retention
        self.snapshot_path = Path(snapshot) if snapshot else None
        self._st: dict[str, Entry] = {}
        self.broadcast: Callable[[Entry], None] | None = None
        self.on_change: Callable[[], None] | None = None
        self.queries_total = 0
        self.snapshot_size = 0
        if self.snapshot_path and self.snapshot_path.exists():
            try:
                for d in json.loads(self.snapshot_path.read_text()):
                    e = Entry.from_json(d)
                    self._st[e.key()] = e
            except (ValueError, KeyError, TypeError) as e:
                log.warning("ignoring unreadable nflog snapshot %s: %s", self.snapshot_path, e)

    def log(self, receiver: ReceiverKey, group_key: str, firing: list[int], resolved: list[int]) -> None:
        """Record a notification sent now."""
        now = now_ns(self.clock)
        e = Entry(receiver, group_key, now, list(firing), list(resolved), now + int(self.retention * NS))
        prev = self._st.get(e.key())
        if prev is not None and prev.timestamp > now:
            return
        self._st[e.key()] = e
        if self.broadcast is not None:
            self.broadcast(e)
        if self.on_change is not None:
            self.on_change()

    def merge(self, e: Entry) -> bool:
        """Take an entry from a peer if it is newer than ours."""
        prev = self._st.get(e.key())
        if prev is not None and prev.timestamp >= e.timestamp:
            return False
        if e.expires_at and e.expires_at <= now_ns(self.clock):
            return False
        self._st[e.key()] = e
        if self.on_change is not None:
            self.on_change()
        return True

    def query(self, receiver: ReceiverKey, group_key: str) -> Entry | None:
        self.queries_total += 1
        return self._st.get(f"{group_key}:{receiver}")

    def all(self) -> list[Entry]:
        return list(self._st.values())

    def gc(self) -> int:
        now = now_ns(self.clock)
        gone = [k for k, e in self._st.items() if e.expires_at and e.expires_at <= now]
        for k in gone:
            del self._st[k]
        return len(gone)

    def snapshot(self) -> int:
        if self.snapshot_path is None:
            return 0
        data = json.dumps([e.to_json() for e in self._st.values()]).encode()
        tmp = self.snapshot_path.with_name(self.snapshot_path.name + f".{os.getpid()}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.snapshot_path)
        self.snapshot_size = len(data)
        return len(data)
