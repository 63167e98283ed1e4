"""Persisted blocks: one immutable directory per time range.

``write_block`` turns series into ``<ULID>/`` with ``meta.json`` (Prometheus's
field names), ``index`` (``tsdb._index``), ``chunks/000001…`` segment files and
``tombstones``, atomically: everything is written and fsynced under
``<ULID>.tmp-for-creation`` and renamed into place. ``open_block`` returns a
:class:`Block`, which implements ``BlockReader``. Byte layouts: ``tsdb/FORMAT.md``
("Blocks, meta.json and tombstones").
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import _chunkenc
from ._blockapi import BlockMeta, BlockStats, ChunkMeta, Interval
from ._chunkenc import ChunkDecodeError, get_uvarint, get_varint, put_uvarint, put_varint
from ._index import CorruptBlockError, IndexReader, IndexWriter
from .labels import Labels

__all__ = [
    "Block",
    "ChunkSegmentReader",
    "CorruptBlockError",
    "new_ulid",
    "open_block",
    "read_tombstones",
    "write_block",
    "write_tombstones",
]

META_FILE = "meta.json"
INDEX_FILE = "index"
CHUNKS_DIR = "chunks"
TOMBSTONES_FILE = "tombstones"
TMP_SUFFIX = ".tmp-for-creation"

SEGMENT_MAGIC = b"HRNCHNK1"  # 8 bytes: magic + format version
TOMBSTONES_MAGIC = b"HRNTOMB1"
DEFAULT_SEGMENT_SIZE = 512 * 1024 * 1024
DEFAULT_MAX_SAMPLES_PER_CHUNK = 2048
_FLUSH_SAMPLES = 1 << 20  # samples buffered before chunks are encoded and written
_TS_CACHE = 2048  # decoded shared timestamp columns kept per open block


# ---------------------------------------------------------------------------- ULIDs

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ulid_lock = threading.Lock()
_ulid_last = (0, 0)


def new_ulid(ms: int | None = None, rand: Callable[[int], bytes] = os.urandom) -> str:
    """A 26-character Crockford base32 ULID: 48-bit milliseconds + 80 random bits.

    Monotonic within the process: in the same millisecond the random part is
    incremented, so ULIDs sort in creation order.
    """
    global _ulid_last
    if ms is None:
        ms = time.time_ns() // 1_000_000
    if not 0 <= ms < 1 << 48:
        raise ValueError(f"ULID time {ms} out of range")
    with _ulid_lock:
        last_ms, last_r = _ulid_last
        if ms <= last_ms and last_r + 1 < 1 << 80:
            ms, r = last_ms, last_r + 1
        else:
            r = int.from_bytes(rand(10), "big")
        _ulid_last = (ms, r)
    v = ms << 80 | r
    return "".join(_CROCKFORD[(v >> (5 * i)) & 31] for i in range(25, -1, -1))


def ulid_time(ulid: str) -> int:
    """The millisecond timestamp of a ULID."""
    v = 0
    for ch in ulid.upper():
        v = v << 5 | _CROCKFORD.index(ch)
    return v >> 80


# ---------------------------------------------------------------------------- small file helpers


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _replace_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data`` (temp file, fsync, rename, fsync dir)."""
    tmp = path.with_name(path.name + ".tmp")
    _write_file(tmp, data)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


# ---------------------------------------------------------------------------- meta.json


def _meta_json(meta: BlockMeta, parent_descs: list[dict] | None = None) -> bytes:
    compaction: dict = {"level": meta.level, "sources": list(meta.sources)}
    if meta.parents:
        compaction["parents"] = parent_descs or [{"ulid": p} for p in meta.parents]
    d = {
        "ulid": meta.ulid,
        "minTime": meta.min_time,
        "maxTime": meta.max_time,
        "stats": {
            "numSamples": meta.stats.num_samples,
            "numSeries": meta.stats.num_series,
            "numChunks": meta.stats.num_chunks,
            "numTombstones": meta.stats.num_tombstones,
        },
        "compaction": compaction,
        "version": meta.version,
    }
    return (json.dumps(d, indent="\t") + "\n").encode()


def read_meta(block_dir: str | os.PathLike[str]) -> BlockMeta:
    """Parse ``<block_dir>/meta.json``."""
    path = Path(block_dir) / META_FILE
    try:
        d = json.loads(path.read_bytes())
        stats = d.get("stats", {})
        comp = d.get("compaction", {})
        parents = [p["ulid"] if isinstance(p, dict) else str(p) for p in comp.get("parents") or []]
        meta = BlockMeta(
            ulid=str(d["ulid"]),
            min_time=int(d["minTime"]),
            max_time=int(d["maxTime"]),
            stats=BlockStats(
                num_samples=int(stats.get("numSamples", 0)),
                num_series=int(stats.get("numSeries", 0)),
                num_chunks=int(stats.get("numChunks", 0)),
                num_tombstones=int(stats.get("numTombstones", 0)),
            ),
            level=int(comp.get("level", 1)),
            sources=[str(s) for s in comp.get("sources") or []],
            parents=parents,
            version=int(d.get("version", 1)),
        )
    except FileNotFoundError:
        raise CorruptBlockError(f"block {path.parent}: {META_FILE} is missing") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CorruptBlockError(f"block {path.parent}: {META_FILE} is malformed: {e}") from None
    if meta.version != 1:
        raise CorruptBlockError(f"block {path.parent}: {META_FILE}: unsupported version {meta.version}")
    return meta


# ---------------------------------------------------------------------------- tombstones


def _normalize(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or adjacent intervals."""
    out: list[Interval] = []
    for a, b in sorted((int(a), int(b)) for a, b in intervals):
        if b < a:
            continue
        if out and a <= out[-1].maxt + 1:
            if b > out[-1].maxt:
                out[-1] = Interval(out[-1].mint, b)
        else:
            out.append(Interval(a, b))
    return out


def _encode_tombstones(tombstones: dict[int, list[Interval]]) -> tuple[bytes, int]:
    body = bytearray()
    entries = [(sid, _normalize(ivs)) for sid, ivs in sorted(tombstones.items())]
    entries = [(sid, ivs) for sid, ivs in entries if ivs]
    put_uvarint(body, len(entries))
    total = 0
    for sid, ivs in entries:
        if sid < 0:
            raise ValueError(f"negative series id {sid} in tombstones")
        put_uvarint(body, sid)
        put_uvarint(body, len(ivs))
        for iv in ivs:
            put_varint(body, iv.mint)
            put_uvarint(body, iv.maxt - iv.mint)
        total += len(ivs)
    return TOMBSTONES_MAGIC + bytes(body) + struct.pack("<I", zlib.crc32(body)), total


def read_tombstones(block_dir: str | os.PathLike[str]) -> dict[int, list[Interval]]:
    """Deleted intervals per series id of a block (empty if it has no tombstones file)."""
    path = Path(block_dir) / TOMBSTONES_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    where = f"block {path.parent}: {TOMBSTONES_FILE}"
    if len(data) < len(TOMBSTONES_MAGIC) + 5 or not data.startswith(TOMBSTONES_MAGIC):
        raise CorruptBlockError(f"{where}: bad header")
    body = data[len(TOMBSTONES_MAGIC) : -4]
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(body) != crc:
        raise CorruptBlockError(f"{where}: checksum mismatch")
    out: dict[int, list[Interval]] = {}
    try:
        n, p = get_uvarint(body, 0)
        for _ in range(n):
            sid, p = get_uvarint(body, p)
            k, p = get_uvarint(body, p)
            ivs = []
            for _ in range(k):
                a, p = get_varint(body, p)
                span, p = get_uvarint(body, p)
                ivs.append(Interval(a, a + span))
            out[sid] = ivs
    except ChunkDecodeError as e:
        raise CorruptBlockError(f"{where}: {e}") from None
    if p != len(body):
        raise CorruptBlockError(f"{where}: trailing bytes")
    return out


def write_tombstones(block_dir: str | os.PathLike[str], tombstones: dict[int, list[Interval]]) -> None:
    """Atomically replace a block's tombstones (and its meta.json's ``numTombstones``)."""
    block_dir = Path(block_dir)
    data, total = _encode_tombstones(tombstones)
    meta = read_meta(block_dir)  # validates it
    _replace_file(block_dir / TOMBSTONES_FILE, data)
    if meta.stats.num_tombstones != total:
        # Rewrite meta.json with only the count changed (other fields kept as they are).
        d = json.loads((block_dir / META_FILE).read_bytes())
        d.setdefault("stats", {})["numTombstones"] = total
        _replace_file(block_dir / META_FILE, (json.dumps(d, indent="\t") + "\n").encode())


# ---------------------------------------------------------------------------- writing


class _SegmentWriter:
    """Appends framed chunks to ``chunks/NNNNNN`` files; ref = segment << 32 | offset."""

    def __init__(self, dir: Path, max_size: int) -> None:
        self.dir = dir
        self.max_size = max_size
        self.seq = 0
        self.f: BinaryIO | None = None
        self.size = 0

    def _cut(self) -> None:
        self.close()
        self.seq += 1
        f = self.f = open(self.dir / f"{self.seq:06d}", "wb")  # noqa: SIM115 - closed in close()
        f.write(SEGMENT_MAGIC)
        self.size = len(SEGMENT_MAGIC)

    def write(self, chunks: list[bytes]) -> list[int]:
        refs = []
        buf = bytearray()
        for c in chunks:
            entry = bytearray()
            put_uvarint(entry, len(c))
            n = len(entry) + len(c) + 4
            if self.f is None or (self.size + len(buf) + n > self.max_size and self.size + len(buf) > 8):
                if self.f is not None:
                    self.f.write(buf)
                    self.size += len(buf)
                    buf = bytearray()
                self._cut()
            if self.size + len(buf) >= 1 << 32:
                raise ValueError("chunk segment offset overflows 32 bits")
            refs.append(self.seq << 32 | (self.size + len(buf)))
            buf += entry
            buf += c
            buf += struct.pack("<I", zlib.crc32(c))
        if buf:
            assert self.f is not None
            self.f.write(buf)
            self.size += len(buf)
        return refs

    def close(self) -> None:
        if self.f is not None:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()
            self.f = None


class _ChunkBuffer:
    """Collects chunks of many series, then encodes them in numpy batches.

    Timestamp columns that several series share are stored once (a TS_ONLY
    chunk) and referenced from the series' chunks.
    """

    def __init__(self, seg: _SegmentWriter) -> None:
        self.seg = seg
        self.pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # (series index, ts, vals)
        self.samples = 0
        # cheap key -> [(timestamp column, ref of its TS_ONLY chunk)]
        self.ts_refs: dict[tuple[int, int, int, int], list[tuple[np.ndarray, int]]] = {}
        self.metas: list[list[ChunkMeta]] = []
        self.num_chunks = 0

    def add(self, series_index: int, ts: np.ndarray, vals: np.ndarray) -> None:
        self.pending.append((series_index, ts, vals))
        self.samples += len(ts)
        if self.samples >= _FLUSH_SAMPLES:
            self.flush()

    def _shared_ref(self, key: tuple[int, int, int, int], t: np.ndarray) -> int | None:
        for arr, ref in self.ts_refs.get(key, ()):
            if (arr == t).all():
                return ref
        return None

    def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending, self.samples = self.pending, [], 0
        # Group chunks with identical timestamp columns (cheap key, then exact compare).
        classes: dict[tuple[int, int, int, int], list[list[int]]] = {}
        for i, (_, t, _) in enumerate(pending):
            n = len(t)
            key = (n, int(t[0]), int(t[-1]), int(t[n >> 1]))
            cls = classes.setdefault(key, [])
            for c in cls:
                if (pending[c[0]][1] == t).all():
                    c.append(i)
                    break
            else:
                cls.append([i])
        ts_ref: list[int | None] = [None] * len(pending)
        new: list[tuple[tuple[int, int, int, int], list[int]]] = []
        for key, cls in classes.items():
            for c in cls:
                ref = self._shared_ref(key, pending[c[0]][1])
                if ref is not None:
                    for i in c:
                        ts_ref[i] = ref
                elif len(c) >= 2 and key[0] >= 2:
                    new.append((key, c))
        by_len: dict[int, list[tuple[tuple[int, int, int, int], list[int]]]] = {}
        for kc in new:
            by_len.setdefault(kc[0][0], []).append(kc)
        for group in by_len.values():
            cols = [pending[c[0]][1] for _, c in group]
            tblobs = _chunkenc.encode_timestamps(np.stack(cols))
            for (key, c), col, ref in zip(group, cols, self.seg.write(tblobs), strict=True):
                self.ts_refs.setdefault(key, []).append((col, ref))
                for i in c:
                    ts_ref[i] = ref
        shared = [(i, r) for i, r in enumerate(ts_ref) if r is not None]
        inline = [i for i, r in enumerate(ts_ref) if r is None]
        blobs: list[bytes] = [b""] * len(pending)
        if shared:
            enc = _chunkenc.encode_many(
                [(pending[i][1], pending[i][2]) for i, _ in shared], ts_refs=[r for _, r in shared]
            )
            for (i, _), b in zip(shared, enc, strict=True):
                blobs[i] = b
        if inline:
            enc = _chunkenc.encode_many([(pending[i][1], pending[i][2]) for i in inline])
            for i, b in zip(inline, enc, strict=True):
                blobs[i] = b
        refs = self.seg.write(blobs)
        for (si, t, _), ref in zip(pending, refs, strict=True):
            self.metas[si].append(ChunkMeta(ref, int(t[0]), int(t[-1])))
        self.num_chunks += len(pending)


def _parent_descs(parent_dir: Path, parents: list[str]) -> list[dict]:
    """Prometheus's ``BlockDesc`` for each parent, with its time range when still readable."""
    out = []
    for p in parents:
        desc: dict = {"ulid": p}
        try:
            pm = read_meta(parent_dir / p)
            desc["minTime"], desc["maxTime"] = pm.min_time, pm.max_time
        except CorruptBlockError:
            pass
        out.append(desc)
    return out


def write_block(
    parent_dir: str | os.PathLike[str],
    series: Iterable[tuple[Labels, np.ndarray, np.ndarray]],
    *,
    mint: int,
    maxt: int,
    level: int = 1,
    sources: list[str] | None = None,
    parents: list[str] | None = None,
    tombstones: dict[int, list[Interval]] | None = None,
    max_samples_per_chunk: int = DEFAULT_MAX_SAMPLES_PER_CHUNK,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    ulid: str | None = None,
) -> BlockMeta | None:
    """Write the samples of ``series`` within ``[mint, maxt)`` as a new block under ``parent_dir``.

    ``series`` yields ``(labels, ts, vals)`` with strictly increasing int64
    ``ts``, in any label order (each label set at most once). Series left
    without samples are dropped; if none remain, nothing is written and None is
    returned. ``sources`` defaults to the new block's own ULID; ``tombstones``
    (keyed by the new block's series ids) are stored as given.
    """
    if maxt <= mint:
        raise ValueError(f"empty block range [{mint}, {maxt})")
    if max_samples_per_chunk < 1:
        raise ValueError("max_samples_per_chunk must be positive")
    parent = Path(parent_dir)
    ulid = ulid or new_ulid()
    tmp = parent / (ulid + TMP_SUFFIX)
    final = parent / ulid
    if final.exists():
        raise FileExistsError(f"block {final} already exists")
    try:
        meta = _write_block_dir(
            tmp,
            ulid,
            series,
            mint=mint,
            maxt=maxt,
            level=level,
            sources=sources,
            parents=parents or [],
            tombstones=tombstones or {},
            max_samples=max_samples_per_chunk,
            segment_size=segment_size,
            parent=parent,
        )
        if meta is None:
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        os.rename(tmp, final)
        _fsync_dir(parent)
        return meta
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_block_dir(
    tmp: Path,
    ulid: str,
    series: Iterable[tuple[Labels, np.ndarray, np.ndarray]],
    *,
    mint: int,
    maxt: int,
    level: int,
    sources: list[str] | None,
    parents: list[str],
    tombstones: dict[int, list[Interval]],
    max_samples: int,
    segment_size: int,
    parent: Path,
) -> BlockMeta | None:
    tmp.mkdir(parents=True)
    (tmp / CHUNKS_DIR).mkdir()
    seg = _SegmentWriter(tmp / CHUNKS_DIR, segment_size)
    buf = _ChunkBuffer(seg)
    labels_list: list[Labels] = []
    num_samples = 0
    try:
        for labels, ts, vals in series:
            ts = np.asarray(ts, dtype=np.int64)
            vals = np.asarray(vals, dtype=np.float64)
            if ts.shape != vals.shape or ts.ndim != 1:
                raise ValueError(f"series {labels}: ts and vals differ in shape")
            if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
                raise ValueError(f"series {labels}: timestamps are not strictly increasing")
            if len(ts) and (ts[0] < mint or ts[-1] >= maxt):
                lo, hi = np.searchsorted(ts, [mint, maxt], side="left")
                ts, vals = ts[lo:hi], vals[lo:hi]
            if not len(ts):
                continue
            si = len(labels_list)
            labels_list.append(labels)
            buf.metas.append([])
            num_samples += len(ts)
            if len(ts) <= max_samples:
                buf.add(si, ts, vals)
                continue
            cuts = _chunkenc.chunk_splits(len(ts), max_samples).tolist()
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                buf.add(si, ts[a:b], vals[a:b])
        buf.flush()
    finally:
        seg.close()
    if not labels_list:
        return None
    order = sorted(range(len(labels_list)), key=labels_list.__getitem__)
    for a, b in zip(order[:-1], order[1:], strict=False):
        if labels_list[a] == labels_list[b]:
            raise ValueError(f"duplicate series {labels_list[a]}")
    symbols = {s for ls in labels_list for kv in ls.pairs for s in kv}
    with IndexWriter(tmp / INDEX_FILE, symbols) as w:
        for i in order:
            w.add_series(labels_list[i], buf.metas[i])
    tomb_bytes, n_tomb = _encode_tombstones(tombstones)
    _write_file(tmp / TOMBSTONES_FILE, tomb_bytes)
    meta = BlockMeta(
        ulid=ulid,
        min_time=mint,
        max_time=maxt,
        stats=BlockStats(
            num_samples=num_samples,
            num_series=len(labels_list),
            num_chunks=buf.num_chunks,
            num_tombstones=n_tomb,
        ),
        level=level,
        sources=list(sources) if sources else [ulid],
        parents=list(parents),
    )
    _write_file(tmp / META_FILE, _meta_json(meta, _parent_descs(parent, meta.parents)))
    _fsync_dir(tmp / CHUNKS_DIR)
    _fsync_dir(tmp)
    return meta


# ---------------------------------------------------------------------------- reading


class ChunkSegmentReader:
    """Reads chunks from a block's ``chunks/`` segments (mmapped on first use)."""

    def __init__(self, block_dir: Path) -> None:
        self.block_dir = block_dir
        self.dir = block_dir / CHUNKS_DIR
        self._lock = threading.Lock()
        self._segs: dict[int, mmap.mmap] = {}
        self._ts_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        if not self.dir.is_dir():
            raise CorruptBlockError(f"block {block_dir}: {CHUNKS_DIR}/ is missing")

    def _err(self, seq: int, msg: str) -> CorruptBlockError:
        return CorruptBlockError(f"block {self.block_dir}: {CHUNKS_DIR}/{seq:06d}: {msg}")

    def _segment(self, seq: int) -> mmap.mmap:
        mm = self._segs.get(seq)
        if mm is not None:
            return mm
        with self._lock:
            mm = self._segs.get(seq)
            if mm is not None:
                return mm
            path = self.dir / f"{seq:06d}"
            try:
                with open(path, "rb") as f:
                    if os.fstat(f.fileno()).st_size < len(SEGMENT_MAGIC):
                        raise self._err(seq, "segment too short")
                    mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except FileNotFoundError:
                raise self._err(seq, "segment file is missing") from None
            if mm[: len(SEGMENT_MAGIC)] != SEGMENT_MAGIC:
                mm.close()
                raise self._err(seq, "bad segment header")
            self._segs[seq] = mm
            return mm

    def chunk_bytes(self, ref: int) -> bytes:
        """The encoded chunk stored at ``ref`` (CRC-checked)."""
        seq, off = ref >> 32, ref & 0xFFFFFFFF
        mm = self._segment(seq)
        if off < len(SEGMENT_MAGIC) or off >= len(mm):
            raise self._err(seq, f"chunk offset {off} out of range")
        try:
            n, p = get_uvarint(mm, off)  # type: ignore[arg-type]  # mmap indexes like bytes
        except ChunkDecodeError:
            raise self._err(seq, f"chunk at offset {off}: bad length") from None
        if p + n + 4 > len(mm):
            raise self._err(seq, f"chunk at offset {off}: truncated")
        data = mm[p : p + n]
        (crc,) = struct.unpack_from("<I", mm, p + n)
        if zlib.crc32(data) != crc:
            raise self._err(seq, f"chunk at offset {off}: checksum mismatch")
        return data

    def _timestamps(self, ref: int) -> np.ndarray:
        with self._lock:
            ts = self._ts_cache.get(ref)
            if ts is not None:
                self._ts_cache.move_to_end(ref)
                return ts
        try:
            ts = _chunkenc.decode_timestamps(self.chunk_bytes(ref))
        except ChunkDecodeError as e:
            raise self._err(ref >> 32, f"timestamps at offset {ref & 0xFFFFFFFF}: {e}") from None
        ts.flags.writeable = False
        with self._lock:
            self._ts_cache[ref] = ts
            if len(self._ts_cache) > _TS_CACHE:
                self._ts_cache.popitem(last=False)
        return ts

    def chunk(self, ref: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded ``(ts, vals)`` of the chunk at ``ref``; ``ts`` may be shared and read-only."""
        data = self.chunk_bytes(ref)
        try:
            return _chunkenc.decode(data, self._timestamps)
        except ChunkDecodeError as e:
            raise self._err(ref >> 32, f"chunk at offset {ref & 0xFFFFFFFF}: {e}") from None

    def chunk_many(self, refs: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Decoded chunks at ``refs``, decoded together (faster than one ``chunk`` call each).

        The returned arrays may be views of shared batch matrices.
        """
        datas = [self.chunk_bytes(r) for r in refs]
        try:
            return _chunkenc.decode_batch(datas, self._timestamps)
        except ChunkDecodeError:
            return [self.chunk(r) for r in refs]  # pinpoints the bad chunk in the error

    def close(self) -> None:
        with self._lock:
            segs, self._segs = self._segs, {}
            self._ts_cache.clear()
        for mm in segs.values():
            try:
                mm.close()
            except BufferError:
                pass


class Block:
    """An opened block directory; implements ``BlockReader``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.dir = Path(path)
        if not self.dir.is_dir():
            raise CorruptBlockError(f"block {self.dir}: directory is missing")
        self._meta = read_meta(self.dir)
        if not (self.dir / INDEX_FILE).exists():
            raise CorruptBlockError(f"block {self.dir}: {INDEX_FILE} is missing")
        self._index = IndexReader(self.dir / INDEX_FILE)  # IndexCorruptError names the file
        try:
            self._chunks = ChunkSegmentReader(self.dir)
            self._tombstones = read_tombstones(self.dir)
        except BaseException:
            self._index.close()
            raise

    @property
    def meta(self) -> BlockMeta:
        return self._meta

    def index(self) -> IndexReader:
        return self._index

    def chunks(self) -> ChunkSegmentReader:
        return self._chunks

    def tombstones(self) -> dict[int, list[Interval]]:
        """Deleted intervals per series id (a copy: callers may modify it)."""
        return {sid: list(ivs) for sid, ivs in self._tombstones.items()}

    def size_bytes(self) -> int:
        """Bytes on disk of every file in the block directory."""
        total = 0
        for root, _, files in os.walk(self.dir):
            for name in files:
                try:
                    total += os.stat(os.path.join(root, name)).st_size
                except FileNotFoundError:
                    pass
        return total

    def close(self) -> None:
        self._chunks.close()
        self._index.close()

    def __enter__(self) -> Block:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        m = self._meta
        return f"Block({m.ulid}, [{m.min_time}, {m.max_time}), {m.stats.num_series} series)"


def open_block(path: str | os.PathLike[str]) -> Block:
    """Open a block directory; raises :class:`CorruptBlockError` naming the bad file."""
    return Block(path)
