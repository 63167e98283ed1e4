"""The database: a WAL-backed head plus immutable blocks, compaction and retention."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._blockapi import BlockReader, Interval
from ._head import Head, HeadAppender
from ._postings import postings_for_matchers
from ._querier import BlockQuerier, read_series
from .interface import StorageError
from .matchers import Matcher

log = logging.getLogger("heron.tsdb")

HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS


class DBLockedError(StorageError):
    """Another process holds the storage directory's lock."""


@dataclass
class DBOptions:
    """Options mirroring Prometheus's ``--storage.tsdb.*`` flags."""

    retention_ms: int = 15 * DAY_MS  # 0 = no time retention
    retention_bytes: int = 0  # 0 = no size retention
    block_range_ms: int = 2 * HOUR_MS  # min block duration
    max_block_range_ms: int | None = None  # default: 10% of retention, at most 31d
    ooo_window_ms: int = 0
    wal_fsync: bool = False
    wal_segment_size: int = 128 << 20
    no_lockfile: bool = False


def exponential_ranges(min_size: int, steps: int, factor: int) -> list[int]:
    return [min_size * factor**i for i in range(steps)]


class DB:
    """A Prometheus-style TSDB in one directory. ``Appendable`` and ``Queryable``.

    What goes into blocks and what retention deletes depends on sample
    timestamps, as in Prometheus; time only paces the background loop, whose
    ``sleep`` is injectable.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        options: DBOptions | None = None,
    ) -> None:
        from ._wal import WAL

        self.path = Path(path)
        self.opts = options or DBOptions()
        self.path.mkdir(parents=True, exist_ok=True)
        self._lockf = None
        if not self.opts.no_lockfile:
            self._lockf = open(self.path / "lock", "a+")  # noqa: SIM115
            try:
                fcntl.flock(self._lockf.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lockf.close()
                raise DBLockedError(
                    f"{self.path}: locked by another process (lock file {self.path / 'lock'})"
                ) from None
        self._remove_tmp_dirs()
        self._blocks: list = []
        self._load_blocks()
        self.head = Head(
            wal=None, chunk_range_ms=self.opts.block_range_ms, ooo_window_ms=self.opts.ooo_window_ms
        )
        if self._blocks:
            self.head.min_valid_time = max(b.meta.max_time for b in self._blocks)
        # Replay (and repair) before the WAL opens its next segment for writing.
        self.replay_stats = self._replay_wal()
        self.wal = WAL(self.path / "wal", segment_size=self.opts.wal_segment_size, fsync=self.opts.wal_fsync)
        self.head.wal = self.wal
        self._stop_requested = False
        mx = self.opts.max_block_range_ms
        if mx is None:
            mx = min(31 * DAY_MS, self.opts.retention_ms // 10) if self.opts.retention_ms else 31 * DAY_MS
        self.ranges = [
            r
            for r in exponential_ranges(self.opts.block_range_ms, 10, 3)
            if r <= max(mx, self.opts.block_range_ms)
        ]

    # ---- open / replay --------------------------------------------------------------

    def _remove_tmp_dirs(self) -> None:
        for p in self.path.iterdir():
            if p.is_dir() and (".tmp" in p.name) and p.name != "wal":
                shutil.rmtree(p, ignore_errors=True)

    def _load_blocks(self) -> None:
        from ._block import open_block

        blocks = []
        for p in sorted(self.path.iterdir()):
            if p.is_dir() and len(p.name) == 26 and (p / "meta.json").exists():
                try:
                    blocks.append(open_block(p))
                except StorageError as e:
                    log.error("skipping unreadable block %s: %s", p, e)
        deletable: set[str] = set()
        for b in blocks:
            deletable.update(b.meta.parents)
        keep = []
        for b in blocks:
            if b.meta.ulid in deletable:  # replaced by a finished compaction
                b.close()
                shutil.rmtree(b.dir, ignore_errors=True)
            else:
                keep.append(b)
        keep.sort(key=lambda b: (b.meta.min_time, b.meta.ulid))
        self._blocks = keep

    def _replay_wal(self) -> dict[str, int]:
        from ._wal import ReplayStats, SamplesRecord, SeriesRecord, TombstonesRecord, replay

        stats = {"series": 0, "samples": 0, "tombstones": 0, "dropped_old": 0}
        wal_stats = ReplayStats()
        head = self.head
        remap: dict[int, int] = {}
        start = time.monotonic()
        for rec in replay(self.path / "wal", stats=wal_stats):
            if isinstance(rec, SeriesRecord):
                refs = rec.refs.astype(np.int64)
                for r, ls in zip(refs.tolist(), rec.labels, strict=True):
                    existing = head.ref_of(ls)
                    if existing is not None and existing != r:
                        remap[r] = existing
                head.restore_series(refs, rec.labels)
                stats["series"] += len(refs)
            elif isinstance(rec, SamplesRecord):
                refs = rec.refs.astype(np.int64)
                if remap:
                    refs = np.array([remap.get(r, r) for r in refs.tolist()], dtype=np.int64)
                known = np.isin(refs, np.fromiter(head._labels, dtype=np.int64, count=len(head._labels)))
                keep = known & (rec.ts >= head.min_valid_time)
                stats["dropped_old"] += int((~keep).sum())
                head.apply(refs[keep], rec.ts[keep], rec.vals[keep])
                stats["samples"] += int(keep.sum())
            elif isinstance(rec, TombstonesRecord):
                for r, lo, hi in zip(rec.refs.tolist(), rec.mints.tolist(), rec.maxts.tolist(), strict=True):
                    head.add_tombstones([remap.get(r, r)], lo, hi)
                stats["tombstones"] += len(rec.refs)
        stats["duration_ms"] = int((time.monotonic() - start) * 1000)
        stats["corrupted_bytes_truncated"] = wal_stats.corrupted_bytes
        stats["dropped_segments"] = wal_stats.dropped_segments
        if stats["samples"]:
            log.info(
                "WAL replay: %d series, %d samples in %d ms",
                stats["series"],
                stats["samples"],
                stats["duration_ms"],
            )
        return stats

    # ---- Appendable / Queryable -------------------------------------------------------

    def appender(self) -> HeadAppender:
        return self.head.appender()

    def blocks(self) -> list:
        return list(self._blocks)

    def querier(self, mint: int, maxt: int) -> BlockQuerier:
        readers: list[BlockReader] = [*self._blocks, self.head]
        return BlockQuerier(readers, mint, maxt)

    @property
    def min_time(self) -> int | None:
        if self._blocks:
            return self._blocks[0].meta.min_time
        return self.head.min_time if len(self.head) and self.head.max_time > -(2**63) else None

    # ---- compaction -------------------------------------------------------------------

    def compact(self) -> list[str]:
        """Persist what the head has beyond 1.5 block ranges, merge blocks, apply retention.

        Returns the ULIDs of blocks written.
        """
        written = self._compact_head()
        while True:
            plan = self._plan()
            if not plan:
                break
            ulid = self._compact_blocks(plan)
            if ulid:
                written.append(ulid)
        self.apply_retention()
        return written

    def _compact_head(self) -> list[str]:
        from ._block import open_block

        written = []
        rng = self.opts.block_range_ms
        while True:
            h = self.head
            if h.max_time == -(2**63) or h.min_time > h.max_time:
                break
            if h.max_time - h.min_time <= rng * 3 // 2:
                break
            mint = (h.min_time // rng) * rng
            maxt = mint + rng
            meta = self._write_head_block(mint, maxt)
            if meta is not None:
                self._blocks.append(open_block(self.path / meta.ulid))
                self._blocks.sort(key=lambda b: (b.meta.min_time, b.meta.ulid))
                written.append(meta.ulid)
            self._truncate_head(maxt)
        return written

    def _write_head_block(self, mint: int, maxt: int, parent: Path | None = None):
        from ._block import write_block

        head = self.head
        tomb = head.tombstones()

        def series():
            for sid in head.series_refs():
                try:
                    labels, ts, vals = read_series(head, sid, mint, maxt - 1, tomb)
                except KeyError:
                    continue
                if len(ts):
                    yield labels, ts, vals

        return write_block(parent or self.path, series(), mint=mint, maxt=maxt, level=1)

    def _truncate_head(self, mint: int) -> None:
        from ._wal import checkpoint

        self.head.truncate(mint)
        wal = self.wal
        first, _last = wal.segment_range()
        cur = wal.cut_segment()
        if cur - 1 >= first:
            live = np.fromiter(self.head._labels, dtype=np.int64, count=len(self.head._labels))
            live.sort()

            def keep(refs: np.ndarray) -> np.ndarray:
                return np.isin(refs.astype(np.int64), live)

            checkpoint(self.path / "wal", first, cur - 1, keep, mint)
            wal.truncate(cur)

    def _plan(self) -> list:
        """Pick blocks to merge: overlapping blocks first, then aligned ranges."""
        blocks = sorted(self._blocks, key=lambda b: (b.meta.min_time, b.meta.ulid))
        # Vertical: overlapping blocks.
        for i in range(1, len(blocks)):
            group = [blocks[i - 1]]
            gmax = blocks[i - 1].meta.max_time
            j = i
            while j < len(blocks) and blocks[j].meta.min_time < gmax:
                group.append(blocks[j])
                gmax = max(gmax, blocks[j].meta.max_time)
                j += 1
            if len(group) > 1:
                return group
        if len(blocks) < 2:
            return []
        # As Prometheus's selectDirs: a window's blocks are merged when they span the
        # whole window, or when the window ends before the newest block starts.
        high = blocks[-1].meta.min_time
        for rng in self.ranges[1:]:
            windows: dict[int, list] = {}
            for b in blocks:
                w = b.meta.min_time // rng
                if (b.meta.max_time - 1) // rng != w:
                    continue  # spans windows: bigger than this range
                windows.setdefault(w, []).append(b)
            for _w, grp in sorted(windows.items()):
                if len(grp) < 2:
                    continue
                mint, maxt = grp[0].meta.min_time, max(b.meta.max_time for b in grp)
                if maxt - mint == rng or maxt <= high:
                    return grp
        return []

    def _compact_blocks(self, group: list) -> str | None:
        from ._block import open_block, write_block

        mint = min(b.meta.min_time for b in group)
        maxt = max(b.meta.max_time for b in group)

        def series():
            merged: dict = {}
            for b in group:
                ix = b.index()
                tomb = b.tombstones()
                for sid in ix.all_postings().tolist():
                    labels, ts, vals = read_series(b, sid, mint, maxt - 1, tomb)
                    if len(ts):
                        merged.setdefault(labels, []).append((ts, vals))
            from ._querier import merge_samples

            for labels in sorted(merged):
                parts = merged[labels]
                if len(parts) == 1:
                    yield labels, parts[0][0], parts[0][1]
                else:
                    ts, vals = merge_samples([p[0] for p in parts], [p[1] for p in parts])
                    yield labels, ts, vals

        sources: list[str] = []
        for b in group:
            sources.extend(b.meta.sources or [b.meta.ulid])
        level = max(b.meta.level for b in group) + 1
        meta = write_block(
            self.path,
            series(),
            mint=mint,
            maxt=maxt,
            level=level,
            sources=sorted(set(sources)),
            parents=[b.meta.ulid for b in group],
        )
        self._drop_blocks(group)
        if meta is None:
            return None
        self._blocks.append(open_block(self.path / meta.ulid))
        self._blocks.sort(key=lambda b: (b.meta.min_time, b.meta.ulid))
        return meta.ulid

    def _drop_blocks(self, group: Sequence) -> None:
        ids = {b.meta.ulid for b in group}
        self._blocks = [b for b in self._blocks if b.meta.ulid not in ids]
        for b in group:
            b.close()
            shutil.rmtree(b.dir, ignore_errors=True)

    # ---- retention --------------------------------------------------------------------

    def apply_retention(self) -> list[str]:
        """Delete blocks beyond the time or size retention; returns deleted ULIDs."""
        deleted: list[str] = []
        blocks = sorted(self._blocks, key=lambda b: b.meta.max_time)
        if not blocks:
            return deleted
        drop = []
        if self.opts.retention_ms > 0:
            newest = blocks[-1].meta.max_time
            drop = [b for b in blocks if newest - b.meta.max_time > self.opts.retention_ms]
        if self.opts.retention_bytes > 0:
            rest = [b for b in blocks if b not in drop]
            total = sum(b.size_bytes() for b in rest) + self.wal.size_bytes()
            for b in rest:
                if total <= self.opts.retention_bytes:
                    break
                drop.append(b)
                total -= b.size_bytes()
        if drop:
            deleted = [b.meta.ulid for b in drop]
            self._drop_blocks(drop)
            log.info("retention deleted blocks %s", deleted)
        return deleted

    def size_bytes(self) -> int:
        return sum(b.size_bytes() for b in self._blocks) + self.wal.size_bytes()

    # ---- deletion ---------------------------------------------------------------------

    def delete_series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> int:
        """Tombstone the matching series' samples in ``[mint, maxt]``; returns series hit."""
        from ._block import open_block, write_tombstones
        from ._wal import encode_tombstones

        hit = 0
        for i, b in enumerate(list(self._blocks)):
            if b.meta.max_time <= mint or b.meta.min_time > maxt:
                continue
            ids = postings_for_matchers(b.index(), matchers)
            if not len(ids):
                continue
            tomb = b.tombstones()
            for sid in ids.tolist():
                tomb.setdefault(sid, []).append(Interval(mint, maxt))
            write_tombstones(b.dir, tomb)
            b.close()
            self._blocks[i] = open_block(b.dir)
            hit += len(ids)
        ids = postings_for_matchers(self.head.index(), matchers)
        if len(ids):
            n = len(ids)
            self.wal.log(
                encode_tombstones(
                    ids.astype(np.uint64), np.full(n, mint, dtype=np.int64), np.full(n, maxt, dtype=np.int64)
                )
            )
            self.head.add_tombstones(ids.tolist(), mint, maxt)
            hit += n
        return hit

    def clean_tombstones(self) -> list[str]:
        """Rewrite every block that has tombstones without the deleted data."""
        from ._block import open_block, write_block

        written = []
        for b in list(self._blocks):
            tomb = b.tombstones()
            if not tomb:
                continue
            m = b.meta

            def series(b=b, tomb=tomb, m=m):
                ix = b.index()
                for sid in ix.all_postings().tolist():
                    labels, ts, vals = read_series(b, sid, m.min_time, m.max_time - 1, tomb)
                    if len(ts):
                        yield labels, ts, vals

            meta = write_block(
                self.path,
                series(),
                mint=m.min_time,
                maxt=m.max_time,
                level=m.level,
                sources=m.sources or [m.ulid],
                parents=[m.ulid],
            )
            self._drop_blocks([b])
            if meta is not None:
                self._blocks.append(open_block(self.path / meta.ulid))
                written.append(meta.ulid)
        self._blocks.sort(key=lambda b: (b.meta.min_time, b.meta.ulid))
        return written

    # ---- snapshots --------------------------------------------------------------------

    def snapshot(self, dest: str | os.PathLike[str], with_head: bool = True) -> Path:
        """Hard-link every block into ``dest`` and, optionally, flush the head to a block there."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for b in self._blocks:
            target = dest / b.meta.ulid
            for src in Path(b.dir).rglob("*"):
                rel = src.relative_to(b.dir)
                if src.is_dir():
                    (target / rel).mkdir(parents=True, exist_ok=True)
                else:
                    (target / rel).parent.mkdir(parents=True, exist_ok=True)
                    os.link(src, target / rel)
        if with_head and len(self.head) and self.head.max_time >= self.head.min_time:
            self._write_head_block(self.head.min_time, self.head.max_time + 1, parent=dest)
        return dest

    # ---- lifecycle --------------------------------------------------------------------

    async def run(self, interval_s: float = 60.0, sleep: Callable[[float], object] | None = None) -> None:
        """Compact and apply retention every ``interval_s`` until ``stop()``."""
        loop = asyncio.get_running_loop()
        sleeper = sleep or asyncio.sleep
        while not self._stop_requested:
            try:
                await loop.run_in_executor(None, self.compact)
            except Exception:  # keep the loop alive: a failed compaction is retried
                log.exception("compaction failed")
            await sleeper(interval_s)  # type: ignore[misc]

    def stop(self) -> None:
        self._stop_requested = True

    def close(self) -> None:
        self.wal.close()
        for b in self._blocks:
            b.close()
        if self._lockf is not None:
            fcntl.flock(self._lockf.fileno(), fcntl.LOCK_UN)
            self._lockf.close()
            self._lockf = None

    def __enter__(self) -> DB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_db(path: str | os.PathLike[str], options: DBOptions | None = None) -> DB:
    """Open (or create) a TSDB directory."""
    return DB(path, options)
