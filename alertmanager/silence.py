"""Silences (``silence.Silences``): create/update/expire, state, matching, snapshots, merging.

Snapshots are JSON written atomically to ``<storage.path>/silences``; expired silences
are kept for the retention period (``--data.retention``), then garbage collected.
``merge`` takes a silence from a peer (newest ``updatedAt`` wins), which is what the
HA gossip uses.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .labels import LabelSet, compile_regex, valid_label_name
from .types import NS, Clock, now_ns

log = logging.getLogger("alertmanager.silence")

EQUAL, REGEXP, NOT_EQUAL, NOT_REGEXP = "EQUAL", "REGEXP", "NOT_EQUAL", "NOT_REGEXP"


class SilenceError(ValueError):
    """A silence that cannot be stored."""


class SilenceNotFound(SilenceError):
    def __init__(self) -> None:
        super().__init__("silence not found")


@dataclass
class SilenceMatcher:
    name: str
    pattern: str
    type: str = EQUAL

    def matches(self, ls: LabelSet) -> bool:
        v = ls.get(self.name, "")
        if self.type == EQUAL:
            return v == self.pattern
        if self.type == NOT_EQUAL:
            return v != self.pattern
        m = compile_regex(self.pattern).match(v) is not None
        return m if self.type == REGEXP else not m


@dataclass
class Silence:
    id: str
    matchers: list[SilenceMatcher]
    starts_at: int
    ends_at: int
    updated_at: int = 0
    created_by: str = ""
    comment: str = ""
    expires_at: int = 0

    def state(self, now: int) -> str:
        if now < self.starts_at:
            return "pending"
        if now < self.ends_at:
            return "active"
        return "expired"

    def matches(self, ls: LabelSet) -> bool:
        return all(m.matches(ls) for m in self.matchers)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Silence:
        d = dict(d)
        d["matchers"] = [SilenceMatcher(**m) for m in d["matchers"]]
        return cls(**d)

    def clone(self) -> Silence:
        return Silence.from_json(self.to_json())


def _matches_empty(m: SilenceMatcher) -> bool:
    if m.type == EQUAL:
        return m.pattern == ""
    if m.type == REGEXP:
        try:
            return re.search(m.pattern, "") is not None
        except re.error:
            return False
    return False


def validate(s: Silence) -> None:
    """``validateSilence``."""
    if not s.id:
        raise SilenceError("ID missing")
    if not s.matchers:
        raise SilenceError("at least one matcher required")
    all_empty = True
    for i, m in enumerate(s.matchers):
        if not valid_label_name(m.name):
            raise SilenceError(f'invalid label matcher {i}: invalid label name "{m.name}"')
        if m.type in (REGEXP, NOT_REGEXP):
            try:
                compile_regex(m.pattern)
            except ValueError as e:
                raise SilenceError(
                    f'invalid label matcher {i}: invalid regular expression "{m.pattern}": {e}'
                ) from None
        all_empty = all_empty and _matches_empty(m)
    if all_empty:
        raise SilenceError("at least one matcher must not match the empty string")
    if s.ends_at < s.starts_at:
        raise SilenceError("end time must not be before start time")


class Silences:
    """The silence store."""

    def __init__(
        self,
        clock: Clock,
        snapshot: str | Path | None = None,
        retention: float = 120 * 3600.0,
    ) -> None:
        self.clock = clock
        self.retention = retention
        self.snapshot_path = Path(snapshot) if snapshot else None
        self._st: dict[str, Silence] = {}
        self.version = 0
        self.broadcast: Callable[[Silence], None] | None = None
        self.on_change: Callable[[], None] | None = None
        self.queries_total = 0
        self.snapshot_size = 0
        if self.snapshot_path and self.snapshot_path.exists():
            self._load()

    # --- persistence --------------------------------------------------------------------

    def _load(self) -> None:
        assert self.snapshot_path is not None
        try:
            data = json.loads(self.snapshot_path.read_text())
            for d in data:
                s = Silence.from_json(d)
                self._st[s.id] = s
        except (ValueError, KeyError, TypeError) as e:
            log.warning("ignoring unreadable silences snapshot %s: %s", self.snapshot_path, e)
        self.version += 1

    def snapshot(self) -> int:
        """Write the state to the snapshot file; returns its size in bytes."""
        if self.snapshot_path is None:
            return 0
        data = json.dumps([s.to_json() for s in self._st.values()]).encode()
        tmp = self.snapshot_path.with_name(self.snapshot_path.name + f".{os.getpid()}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.snapshot_path)
        self.snapshot_size = len(data)
        return len(data)

    def gc(self) -> int:
        """Delete silences whose retention has run out."""
        now = now_ns(self.clock)
        gone = [k for k, s in self._st.items() if s.expires_at and s.expires_at <= now]
        for k in gone:
            del self._st[k]
        return len(gone)

    # --- state ------------------------------------------------------------------------

    def _set(self, s: Silence, now: int) -> None:
        s.updated_at = now
        validate(s)
        s.expires_at = s.ends_at + int(self.retention * NS)
        self._st[s.id] = s
        self.version += 1
        if self.broadcast is not None:
            self.broadcast(s)
        if self.on_change is not None:
            self.on_change()

    def merge(self, s: Silence) -> bool:
        """Take a silence from a peer: kept if new or newer than ours."""
        cur = self._st.get(s.id)
        if cur is not None and cur.updated_at >= s.updated_at:
            return False
        if s.expires_at and s.expires_at <= now_ns(self.clock):
            return False
        self._st[s.id] = s
        self.version += 1
        if self.on_change is not None:
            self.on_change()
        return True

    def all(self) -> list[Silence]:
        return [s.clone() for s in self._st.values()]

    def get(self, sid: str) -> Silence | None:
        s = self._st.get(sid)
        return s.clone() if s else None

    def set(self, sil: Silence) -> str:
        """``Silences.Set``: update in place when allowed, else expire and create anew."""
        now = now_ns(self.clock)
        prev = self._st.get(sil.id) if sil.id else None
        if sil.id and prev is None:
            raise SilenceNotFound()
        if prev is not None:
            if _can_update(prev, sil, now):
                s = sil.clone()
                self._set(s, now)
                return s.id
            if prev.state(now) != "expired":
                self._expire(prev.id, now)
        s = sil.clone()
        s.id = str(uuid.uuid4())
        if s.starts_at < now:
            s.starts_at = now
        self._set(s, now)
        return s.id

    def expire(self, sid: str) -> None:
        self._expire(sid, now_ns(self.clock))

    def _expire(self, sid: str, now: int) -> None:
        cur = self._st.get(sid)
        if cur is None:
            raise SilenceNotFound()
        s = cur.clone()
        st = s.state(now)
        if st == "expired":
            raise SilenceError(f"silence {sid} already expired")
        if st == "active":
            s.ends_at = now
        else:
            s.starts_at = s.ends_at = now
        self._set(s, now)

    def query(self, states: Iterable[str] | None = None, labels: LabelSet | None = None) -> list[Silence]:
        """Silences in the given states matching the label set."""
        self.queries_total += 1
        now = now_ns(self.clock)
        want = set(states) if states is not None else None
        out = []
        for s in self._st.values():
            if want is not None and s.state(now) not in want:
                continue
            if labels is not None and not s.matches(labels):
                continue
            out.append(s)
        return out

    def count(self) -> dict[str, int]:
        now = now_ns(self.clock)
        c = {"active": 0, "pending": 0, "expired": 0}
        for s in self._st.values():
            c[s.state(now)] += 1
        return c


def _can_update(a: Silence, b: Silence, now: int) -> bool:
    if [(m.name, m.pattern, m.type) for m in a.matchers] != [(m.name, m.pattern, m.type) for m in b.matchers]:
        return False
    st = a.state(now)
    if st == "active":
        return b.starts_at // NS == a.starts_at // NS and b.ends_at >= now
    if st == "pending":
        return b.starts_at >= now
    return False


class Silencer:
    """The silence muter: marks alerts silenced (or active) and says whether to mute them."""

    def __init__(self, silences: Silences, marker: Any) -> None:
        self.silences = silences
        self.marker = marker

    def mutes(self, ls: LabelSet, fp: int) -> bool:
        ids = sorted(s.id for s in self.silences.query(("active",), ls))
        self.marker.set_silenced(fp, ids)
        return bool(ids)
