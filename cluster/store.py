"""Versioned key-value store with one global revision (the etcd role).

Every write bumps one global revision; an object's ``resourceVersion`` is the
revision of its last write. Watches are fed from a bounded history of events,
so a watch from a revision older than the history answers ``Gone`` (HTTP 410).

Persistence: a snapshot (``snapshot.json``) plus an append-only log
(``wal.jsonl``) of writes since the snapshot, both under the store directory.
A torn last line of the log is dropped on open. Values under prefixes listed
in ``encrypt_prefixes`` (Secrets) are encrypted at rest with a key kept in the
data directory (``encryption.key``): HMAC-SHA256 in counter mode as the stream
cipher, encrypt-then-MAC with HMAC-SHA256 (stdlib only).
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import builtins
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

_ENC_PREFIX = "k8s:enc:heron-hmacctr:v1:key1:"


class StoreError(Exception):
    """Base of store errors."""


class NotFound(StoreError):
    """The key does not exist."""


class AlreadyExists(StoreError):
    """Create of a key that exists."""


class Conflict(StoreError):
    """The expected revision does not match the stored one."""


class Gone(StoreError):
    """The requested revision has been compacted away."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


@dataclass(frozen=True)
class Event:
    """One change: ``type`` is ADDED, MODIFIED or DELETED; ``obj`` is read-only."""

    type: str
    key: str
    obj: dict[str, Any]
    rev: int
    prev: dict[str, Any] | None = None


class Cipher:
    """Authenticated stream cipher from HMAC-SHA256 (CTR keystream + MAC)."""

    def __init__(self, key: bytes) -> None:
        self._ek = hmac.new(key, b"heron-enc", hashlib.sha256).digest()
        self._mk = hmac.new(key, b"heron-mac", hashlib.sha256).digest()

    def _stream(self, nonce: bytes, n: int) -> bytes:
        out = bytearray()
        i = 0
        while len(out) < n:
            out += hmac.new(self._ek, nonce + i.to_bytes(8, "big"), hashlib.sha256).digest()
            i += 1
        return bytes(out[:n])

    def encrypt(self, data: bytes) -> str:
        """Encrypt to a printable token."""
        nonce = secrets.token_bytes(16)
        ks = self._stream(nonce, len(data))
        ct = bytes(a ^ b for a, b in zip(data, ks, strict=True))
        tag = hmac.new(self._mk, nonce + ct, hashlib.sha256).digest()
        return _ENC_PREFIX + base64.b64encode(nonce + ct + tag).decode()

    def decrypt(self, token: str) -> bytes:
        """Decrypt a token from :meth:`encrypt`; raises StoreError when tampered."""
        if not token.startswith(_ENC_PREFIX):
            raise StoreError("unknown encryption format")
        raw = base64.b64decode(token[len(_ENC_PREFIX) :])
        nonce, ct, tag = raw[:16], raw[16:-32], raw[-32:]
        want = hmac.new(self._mk, nonce + ct, hashlib.sha256).digest()
        if not hmac.compare_digest(tag, want):
            raise StoreError("encrypted value failed authentication")
        ks = self._stream(nonce, len(ct))
        return bytes(a ^ b for a, b in zip(ct, ks, strict=True))


@dataclass
class _Watcher:
    prefix: str
    queue: asyncio.Queue[Event | None]
    closed: bool = False


@dataclass
class _Entry:
    obj: dict[str, Any]
    text: str
    rev: int


@dataclass
class StoreStats:
    """Counters for metrics."""

    writes: int = 0
    watchers: int = 0
    compactions: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Store:
    """In-memory versioned store, optionally persisted to ``path``."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        history: int = 20000,
        encrypt_prefixes: Iterable[str] = (),
        key_file: Path | None = None,
        snapshot_every: int = 20000,
        fsync: bool = False,
        watch_queue_limit: int = 100000,
    ) -> None:
        self.path = path
        self._data: dict[str, _Entry] = {}
        self._keys: list[str] = []  # sorted
        self._rev = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._compacted = 0  # events with rev <= this are gone
        self._watchers: list[_Watcher] = []
        self._encrypt = tuple(encrypt_prefixes)
        self._cipher: Cipher | None = None
        self._snapshot_every = snapshot_every
        self._fsync = fsync
        self._wal: Any = None
        self._wal_lines = 0
        self._watch_queue_limit = watch_queue_limit
        self.stats = StoreStats()
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            kf = key_file or (path / "encryption.key")
            self._cipher = Cipher(_load_or_create_key(kf))
            self._load()
        elif self._encrypt:
            self._cipher = Cipher(secrets.token_bytes(32))

    # ---- persistence -------------------------------------------------
    def _encode(self, key: str, text: str) -> dict[str, Any]:
        if self._cipher is not None and key.startswith(self._encrypt):
            return {"e": self._cipher.encrypt(text.encode())}
        return {"v": text}

    def _decode(self, rec: dict[str, Any]) -> str:
        if "e" in rec:
            assert self._cipher is not None
            return self._cipher.decrypt(rec["e"]).decode()
        return rec["v"]

    def _load(self) -> None:
        assert self.path is not None
        snap = self.path / "snapshot.json"
        if snap.exists():
            doc = json.loads(snap.read_text())
            self._rev = int(doc["rev"])
            for item in doc["items"]:
                text = self._decode(item)
                self._data[item["k"]] = _Entry(json.loads(text), text, int(item["r"]))
        wal = self.path / "wal.jsonl"
        good = 0
        if wal.exists():
            with open(wal, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        log.warning("store: dropping torn last log record at offset %d", good)
                        break
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        log.warning("store: dropping corrupt log record at offset %d", good)
                        break
                    good += len(line)
                    self._wal_lines += 1
                    rev = int(rec["r"])
                    if rev <= self._rev:
                        continue
                    self._rev = rev
                    if rec.get("d"):
                        self._data.pop(rec["k"], None)
                    else:
                        text = self._decode(rec)
                        self._data[rec["k"]] = _Entry(json.loads(text), text, rev)
            if good != wal.stat().st_size:
                with open(wal, "r+b") as f:
                    f.truncate(good)
        self._keys = sorted(self._data)
        self._compacted = self._rev
        self._wal = open(wal, "ab")  # noqa: SIM115

    def _append(self, key: str, rev: int, text: str | None) -> None:
        if self._wal is None:
            return
        rec: dict[str, Any] = {"r": rev, "k": key}
        if text is None:
            rec["d"] = 1
        else:
            rec.update(self._encode(key, text))
        self._wal.write(json.dumps(rec, separators=(",", ":")).encode() + b"\n")
        self._wal.flush()
        if self._fsync:
            os.fsync(self._wal.fileno())
        self._wal_lines += 1
        if self._wal_lines >= self._snapshot_every:
            self.snapshot()

    def snapshot(self) -> None:
        """Write a snapshot of the current state and truncate the log."""
        if self.path is None:
            return
        items = []
        for k in self._keys:
            e = self._data[k]
            item = {"k": k, "r": e.rev}
            item.update(self._encode(k, e.text))
            items.append(item)
        tmp = self.path / "snapshot.json.tmp"
        with open(tmp, "w") as f:
            json.dump({"rev": self._rev, "items": items}, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / "snapshot.json")
        if self._wal is not None:
            self._wal.close()
        self._wal = open(self.path / "wal.jsonl", "wb")  # noqa: SIM115
        self._wal_lines = 0
        self.stats.compactions += 1

    def close(self) -> None:
        """Flush, snapshot and close; end all watches."""
        for w in list(self._watchers):
            self._end_watch(w)
        if self._wal is not None:
            self.snapshot()
            self._wal.close()
            self._wal = None

    def raw_record(self, key: str) -> str | None:
        """The at-rest form of a key's value (for tests: Secrets are ciphertext)."""
        e = self._data.get(key)
        if e is None:
            return None
        return json.dumps(self._encode(key, e.text))

    # ---- reads -------------------------------------------------------
    @property
    def revision(self) -> int:
        """The current global revision."""
        return self._rev

    @property
    def oldest_watchable(self) -> int:
        """Watches must start at or after this revision."""
        return self._compacted

    def get(self, key: str) -> dict[str, Any]:
        """A copy of the object at ``key``."""
        e = self._data.get(key)
        if e is None:
            raise NotFound(key)
        return json.loads(e.text)

    def get_ref(self, key: str) -> dict[str, Any] | None:
        """The stored object itself (read-only!), or None."""
        e = self._data.get(key)
        return None if e is None else e.obj

    def list_refs(self, prefix: str, start_after: str = "") -> Iterable[tuple[str, dict[str, Any]]]:
        """(key, read-only object) pairs under ``prefix`` in key order."""
        lo = (
            bisect.bisect_right(self._keys, start_after)
            if start_after
            else bisect.bisect_left(self._keys, prefix)
        )
        keys = self._keys
        for i in range(lo, len(keys)):
            k = keys[i]
            if not k.startswith(prefix):
                if k > prefix:
                    break
                continue
            yield k, self._data[k].obj

    def list(self, prefix: str) -> tuple[list[dict[str, Any]], int]:
        """Copies of all objects under ``prefix`` and the current revision."""
        return [json.loads(self._data[k].text) for k, _ in self.list_refs(prefix)], self._rev

    def count(self, prefix: str) -> int:
        """Number of keys under ``prefix``."""
        return sum(1 for _ in self.list_refs(prefix))

    # ---- writes ------------------------------------------------------
    def _commit(self, typ: str, key: str, obj: dict[str, Any], prev: dict[str, Any] | None) -> dict[str, Any]:
        self._rev += 1
        rev = self._rev
        obj.setdefault("metadata", {})["resourceVersion"] = str(rev)
        text = json.dumps(obj, separators=(",", ":"))
        stored = json.loads(text)
        if typ == DELETED:
            self._data.pop(key, None)
            i = bisect.bisect_left(self._keys, key)
            if i < len(self._keys) and self._keys[i] == key:
                del self._keys[i]
            self._append(key, rev, None)
        else:
            if key not in self._data:
                bisect.insort(self._keys, key)
            self._data[key] = _Entry(stored, text, rev)
            self._append(key, rev, text)
        ev = Event(typ, key, stored, rev, prev)
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rev
        self._history.append(ev)
        self.stats.writes += 1
        for w in list(self._watchers):
            if key.startswith(w.prefix):
                if w.queue.qsize() >= self._watch_queue_limit:
                    log.warning("store: watcher on %s fell behind; closing it", w.prefix)
                    self._end_watch(w)
                    continue
                w.queue.put_nowait(ev)
        return json.loads(text)

    def create(self, key: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; raises AlreadyExists."""
        if key in self._data:
            raise AlreadyExists(key)
        return self._commit(ADDED, key, obj, None)

    def update(self, key: str, obj: dict[str, Any], expect_rev: int | None = None) -> dict[str, Any]:
        """Replace an object; with ``expect_rev``, only if its revision matches."""
        e = self._data.get(key)
        if e is None:
            raise NotFound(key)
        if expect_rev is not None and expect_rev != e.rev:
            raise Conflict(key)
        return self._commit(MODIFIED, key, obj, e.obj)

    def delete(self, key: str, expect_rev: int | None = None) -> dict[str, Any]:
        """Remove an object; returns its last state (with the deletion revision)."""
        e = self._data.get(key)
        if e is None:
            raise NotFound(key)
        if expect_rev is not None and expect_rev != e.rev:
            raise Conflict(key)
        obj = json.loads(e.text)
        return self._commit(DELETED, key, obj, e.obj)

    # ---- watch -------------------------------------------------------
    def _end_watch(self, w: _Watcher) -> None:
        if not w.closed:
            w.closed = True
            w.queue.put_nowait(None)
        if w in self._watchers:
            self._watchers.remove(w)
            self.stats.watchers = len(self._watchers)

    def history_since(self, prefix: str, rev: int) -> builtins.list[Event]:
        """Events under ``prefix`` after ``rev``; raises Gone if compacted."""
        if rev < self._compacted:
            raise Gone(rev, self._compacted + 1)
        out: builtins.list[Event] = []
        if self._history and rev < self._history[-1].rev:
            idx = bisect.bisect_right([e.rev for e in self._history], rev)
            for i in range(idx, len(self._history)):
                ev = self._history[i]
                if ev.key.startswith(prefix):
                    out.append(ev)
        return out

    def subscribe(self, prefix: str, since: int) -> _Watcher:
        """Register a watcher primed with history after ``since`` (Gone if too old)."""
        backlog = self.history_since(prefix, since)
        w = _Watcher(prefix, asyncio.Queue())
        for ev in backlog:
            w.queue.put_nowait(ev)
        self._watchers.append(w)
        self.stats.watchers = len(self._watchers)
        return w

    def unsubscribe(self, w: _Watcher) -> None:
        """Stop a watcher."""
        self._end_watch(w)

    async def watch(self, prefix: str, since: int) -> AsyncIterator[Event]:
        """Events under ``prefix`` after revision ``since``, until the store closes."""
        w = self.subscribe(prefix, since)
        try:
            while True:
                ev = await w.queue.get()
                if ev is None:
                    return
                yield ev
        finally:
            self.unsubscribe(w)


def _load_or_create_key(path: Path) -> bytes:
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(key).decode() + "\n")
    return key
