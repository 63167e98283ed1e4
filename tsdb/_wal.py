"""Write-ahead log: numbered segment files of CRC-framed, numpy-columnar records.

Modelled on Prometheus's ``tsdb/wlog`` + ``tsdb/record``: the head logs one
call per commit (series records for new series, then a samples record);
:func:`replay` yields the records back after a restart, truncating a torn or
corrupt tail instead of failing; :func:`checkpoint` condenses old segments
when the head is truncated. The byte layout is in ``FORMAT.md`` ("WAL").
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import zstandard

from .labels import EMPTY_LABELS, Labels

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "REC_SAMPLES",
    "REC_SERIES",
    "REC_TOMBSTONES",
    "WAL",
    "Record",
    "ReplayStats",
    "SamplesRecord",
    "SeriesRecord",
    "TombstonesRecord",
    "WALCorruptionError",
    "WALError",
    "checkpoint",
    "decode_record",
    "encode_samples",
    "encode_series",
    "encode_tombstones",
    "last_checkpoint",
    "list_segments",
    "replay",
    "segment_name",
]

logger = logging.getLogger("heron.tsdb.wal")

DEFAULT_SEGMENT_SIZE = 128 << 20

REC_SERIES = 1
REC_SAMPLES = 2
REC_TOMBSTONES = 3

FLAG_ZSTD = 0x01

_FRAME = struct.Struct("<II")  # payload length, crc32
FRAME_HEADER_SIZE = _FRAME.size
_LEN = struct.Struct("<I")
_MIN_PAYLOAD = 2  # type + flags
MAX_RECORD_SIZE = (1 << 31) - 1
_COMPRESS_MIN_BODY = 512  # bodies smaller than this are never compressed
_ZSTD_LEVEL = 1

_U8 = np.dtype("<u8")
_I8 = np.dtype("<i8")
_F8 = np.dtype("<f8")

# Separators of the labels blob in a series record: the bytes 0xFE and 0xFF never
# occur in UTF-8, so they cannot collide with label text. In Python strings they
# are the lone surrogates that ``surrogateescape`` maps to those bytes.
_SERIES_SEP = "\udcfe"
_PAIR_SEP = "\udcff"

CHECKPOINT_PREFIX = "checkpoint."


class WALError(Exception):
    """Base class of WAL errors."""


class WALCorruptionError(WALError):
    """A segment holds a torn or corrupt record (raised where repair is not allowed)."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: {reason} at offset {offset}")
        self.path = path
        self.offset = offset
        self.reason = reason


# ---------------------------------------------------------------------------
# Records


@dataclass
class SeriesRecord:
    """New series: ``refs[i]`` names the series ``labels[i]``."""

    refs: np.ndarray  # uint64
    labels: list[Labels]


@dataclass
class SamplesRecord:
    """Samples, columnar; ``vals`` keeps NaN bit patterns (stale markers) exactly."""

    refs: np.ndarray  # uint64
    ts: np.ndarray  # int64 ms
    vals: np.ndarray  # float64


@dataclass
class TombstonesRecord:
    """Deleted intervals ``[mints[i], maxts[i]]`` (inclusive) of series ``refs[i]``."""

    refs: np.ndarray  # uint64
    mints: np.ndarray  # int64
    maxts: np.ndarray  # int64


Record = SeriesRecord | SamplesRecord | TombstonesRecord

_tls = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_tls, "c", None)
    if c is None:
        c = _tls.c = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_tls, "d", None)
    if d is None:
        d = _tls.d = zstandard.ZstdDecompressor()
    return d


def _payload(rtype: int, body: bytes, compress: bool) -> bytes:
    if compress and len(body) >= _COMPRESS_MIN_BODY:
        z = _compressor().compress(body)
        if len(z) < len(body):
            return bytes((rtype, FLAG_ZSTD)) + z
    return bytes((rtype, 0)) + body


def _u64(a: np.ndarray | Sequence[int]) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind == "i":
        return arr.astype(_I8, copy=False).view(_U8)
    return np.ascontiguousarray(arr, dtype=_U8)


def _i64(a: np.ndarray | Sequence[int]) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=_I8)


def _delta(a: np.ndarray) -> np.ndarray:
    """First value then successive differences, modulo 2**64 (exactly invertible)."""
    out = np.empty(len(a), dtype=_U8)
    if len(a):
        out[0] = a[0]
        np.subtract(a[1:], a[:-1], out=out[1:])
    return out


def _undelta(d: np.ndarray) -> np.ndarray:
    return np.cumsum(d, dtype=_U8)


def encode_series(
    refs: np.ndarray | Sequence[int], labels: Sequence[Labels], *, compress: bool = True
) -> bytes:
    """Encode a series record (one ref per label set)."""
    r = _u64(refs)
    n = len(r)
    if n != len(labels):
        raise ValueError(f"encode_series: {n} refs but {len(labels)} label sets")
    chain = itertools.chain.from_iterable
    text = _SERIES_SEP.join(_PAIR_SEP.join(chain(ls.pairs)) for ls in labels)
    try:
        blob = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as e:
        raise ValueError(f"encode_series: label text is not valid UTF-8: {e}") from None
    # A label string smuggling a lone surrogate would decode as a separator.
    npairs = sum(len(ls) for ls in labels)
    nonempty = sum(1 for ls in labels if len(ls))
    if blob.count(b"\xfe") != max(n - 1, 0) or blob.count(b"\xff") != 2 * npairs - nonempty:
        raise ValueError("encode_series: label text contains lone surrogates (invalid UTF-8)")
    body = _LEN.pack(n) + r.tobytes() + blob
    return _payload(REC_SERIES, body, compress)


def encode_samples(
    refs: np.ndarray | Sequence[int],
    ts: np.ndarray | Sequence[int],
    vals: np.ndarray | Sequence[float],
    *,
    compress: bool = True,
) -> bytes:
    """Encode a samples record; refs and timestamps are delta-coded, values kept bit-exact."""
    r = _u64(refs)
    t = _i64(ts)
    v = np.ascontiguousarray(vals, dtype=_F8)
    n = len(r)
    if len(t) != n or len(v) != n:
        raise ValueError(f"encode_samples: length mismatch refs={n} ts={len(t)} vals={len(v)}")
    body = b"".join((_LEN.pack(n), _delta(r).tobytes(), _delta(t.view(_U8)).tobytes(), v.tobytes()))
    return _payload(REC_SAMPLES, body, compress)


def encode_tombstones(
    refs: np.ndarray | Sequence[int],
    mints: np.ndarray | Sequence[int],
    maxts: np.ndarray | Sequence[int],
) -> bytes:
    """Encode a tombstones record: series ``refs[i]`` deleted in ``[mints[i], maxts[i]]``."""
    r = _u64(refs)
    lo = _i64(mints)
    hi = _i64(maxts)
    n = len(r)
    if len(lo) != n or len(hi) != n:
        raise ValueError("encode_tombstones: length mismatch")
    body = b"".join((_LEN.pack(n), r.tobytes(), lo.tobytes(), hi.tobytes()))
    return _payload(REC_TOMBSTONES, body, False)


class _UnknownRecord(Exception):
    pass


def _body(payload: bytes | memoryview) -> tuple[int, bytes | memoryview, int]:
    if len(payload) < _MIN_PAYLOAD:
        raise ValueError("record shorter than its type header")
    rtype, flags = payload[0], payload[1]
    body = payload[2:]
    if flags & ~FLAG_ZSTD:
        raise ValueError(f"unknown record flags 0x{flags:02x}")
    if flags & FLAG_ZSTD:
        body = _decompressor().decompress(body, max_output_size=MAX_RECORD_SIZE)
    if len(body) < 4:
        raise ValueError("record body too short")
    (n,) = _LEN.unpack_from(body, 0)
    return rtype, body, n


def decode_record(payload: bytes | memoryview) -> Record:
    """Decode one record payload (as returned by the ``encode_*`` functions).

    Arrays are read-only views of the payload (copy them to mutate). Raises
    ``ValueError`` on a malformed payload.
    """
    rtype, body, n = _body(payload)
    if rtype == REC_SAMPLES:
        if len(body) != 4 + 24 * n:
            raise ValueError("samples record has the wrong size")
        refs = _undelta(np.frombuffer(body, _U8, n, 4))
        ts = _undelta(np.frombuffer(body, _U8, n, 4 + 8 * n)).view(_I8)
        vals = np.frombuffer(body, _F8, n, 4 + 16 * n)
        return SamplesRecord(refs, ts, vals)
    if rtype == REC_SERIES:
        if len(body) < 4 + 8 * n:
            raise ValueError("series record too short")
        refs = np.frombuffer(body, _U8, n, 4)
        text = bytes(body[4 + 8 * n :]).decode("utf-8", "surrogateescape")
        chunks = text.split(_SERIES_SEP) if n else []
        if len(chunks) != n:
            raise ValueError("series record: label count mismatch")
        labels: list[Labels] = []
        for c in chunks:
            if not c:
                labels.append(EMPTY_LABELS)
                continue
            parts = c.split(_PAIR_SEP)
            if len(parts) % 2:
                raise ValueError("series record: odd number of label strings")
            labels.append(Labels(tuple(zip(parts[::2], parts[1::2], strict=True))))
        return SeriesRecord(refs, labels)
    if rtype == REC_TOMBSTONES:
        if len(body) != 4 + 24 * n:
            raise ValueError("tombstones record has the wrong size")
        return TombstonesRecord(
            np.frombuffer(body, _U8, n, 4),
            np.frombuffer(body, _I8, n, 4 + 8 * n),
            np.frombuffer(body, _I8, n, 4 + 16 * n),
        )
    raise _UnknownRecord(f"unknown record type {rtype}")


def _frame(records: Iterable[bytes]) -> bytes:
    parts: list[bytes] = []
    for rec in records:
        n = len(rec)
        if n < _MIN_PAYLOAD or n > MAX_RECORD_SIZE:
            raise ValueError(f"record size {n} out of range")
        parts.append(_FRAME.pack(n, zlib.crc32(rec, zlib.crc32(_LEN.pack(n)))))
        parts.append(rec)
    return b"".join(parts)


# ---------------------------------------------------------------------------
# Directory layout


def segment_name(index: int) -> str:
    return f"{index:08d}"


def list_segments(dir: str | os.PathLike[str]) -> list[int]:
    """Sorted indices of the segment files in ``dir``."""
    try:
        names = os.listdir(dir)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isfile(os.path.join(dir, n)))


class CheckpointRef(NamedTuple):
    path: str
    segment: int


def _list_checkpoints(dir: str) -> list[CheckpointRef]:
    out = []
    try:
        names = os.listdir(dir)
    except FileNotFoundError:
        return []
    for n in names:
        if not n.startswith(CHECKPOINT_PREFIX):
            continue
        suffix = n[len(CHECKPOINT_PREFIX) :]
        if suffix.isdigit() and os.path.isdir(os.path.join(dir, n)):
            out.append(CheckpointRef(os.path.join(dir, n), int(suffix)))
    return sorted(out, key=lambda c: c.segment)


def last_checkpoint(dir: str | os.PathLike[str]) -> CheckpointRef | None:
    """The newest complete ``checkpoint.NNNNNNNN`` directory, if any."""
    cps = _list_checkpoints(os.fspath(dir))
    return cps[-1] if cps else None


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# Writer


class WAL:
    """An append-only log of records in numbered segment files.

    Opening continues in a *new* segment after the last existing one (and after
    the newest checkpoint). ``log`` is thread-safe; each call is one ``write``.
    Replay a directory with :func:`replay` *before* opening a ``WAL`` on it.
    """

    def __init__(
        self, dir: str | os.PathLike[str], *, segment_size: int = DEFAULT_SEGMENT_SIZE, fsync: bool = False
    ) -> None:
        if segment_size <= FRAME_HEADER_SIZE:
            raise ValueError("segment_size too small")
        self.dir = os.fspath(dir)
        self.segment_size = segment_size
        self.fsync = fsync
        self._lock = threading.Lock()
        self._fd = -1
        self._seg = -1
        self._seg_bytes = 0
        self.records_written = 0
        self.bytes_written = 0
        self.fsyncs = 0
        os.makedirs(self.dir, exist_ok=True)
        cp = last_checkpoint(self.dir)
        segs = list_segments(self.dir)
        last = max(segs[-1] if segs else -1, cp.segment if cp else -1)
        self._open_segment(last + 1)

    # -- internals (lock held) --
    def _open_segment(self, index: int) -> None:
        path = os.path.join(self.dir, segment_name(index))
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self._seg = index
        self._seg_bytes = 0
        if self.fsync:
            _fsync_dir(self.dir)

    def _close_segment(self) -> None:
        if self._fd < 0:
            return
        try:
            if self.fsync:
                os.fsync(self._fd)
                self.fsyncs += 1
        finally:
            os.close(self._fd)
            self._fd = -1

    def _check_open(self) -> None:
        if self._fd < 0:
            raise WALError(f"WAL {self.dir} is closed")

    # -- public --
    @property
    def current_segment(self) -> int:
        """Index of the segment being written."""
        return self._seg

    def log(self, *records: bytes) -> None:
        """Append encoded records (one ``write`` syscall; fsync'd if ``fsync=True``).

        All records of one call go to the same segment: a new segment is cut
        first if they would overflow the current one (a call larger than
        ``segment_size`` gets a segment of its own).
        """
        if not records:
            return
        data = _frame(records)
        with self._lock:
            self._check_open()
            if self._seg_bytes and self._seg_bytes + len(data) > self.segment_size:
                self._cut()
            start = self._seg_bytes
            try:
                view = memoryview(data)
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
            except OSError:
                # Don't leave a torn record in front of later writes.
                try:
                    os.ftruncate(self._fd, start)
                except OSError:
                    pass
                raise
            self._seg_bytes += len(data)
            self.records_written += len(records)
            self.bytes_written += len(data)
            if self.fsync:
                os.fdatasync(self._fd)
                self.fsyncs += 1

    def sync(self) -> None:
        """fsync the current segment."""
        with self._lock:
            self._check_open()
            os.fsync(self._fd)
            self.fsyncs += 1

    def _cut(self) -> int:
        self._close_segment()
        self._open_segment(self._seg + 1)
        return self._seg

    def cut_segment(self) -> int:
        """Close the current segment and start the next; returns the new segment's index."""
        with self._lock:
            self._check_open()
            return self._cut()

    def segments(self) -> list[int]:
        """Indices of the segment files on disk, ascending (``[0]`` first, ``[-1]`` last)."""
        return list_segments(self.dir)

    def segment_range(self) -> tuple[int, int]:
        """``(first, last)`` segment index (the last is the one being written)."""
        segs = self.segments()
        return (segs[0], segs[-1]) if segs else (self._seg, self._seg)

    def truncate(self, before: int) -> None:
        """Delete segments with index < ``before`` (never the one being written)."""
        with self._lock:
            removed = False
            for s in list_segments(self.dir):
                if s >= before or s >= self._seg:
                    break
                os.remove(os.path.join(self.dir, segment_name(s)))
                removed = True
            if removed and self.fsync:
                _fsync_dir(self.dir)

    def size_bytes(self) -> int:
        """Bytes on disk of the segments and checkpoints."""
        total = 0
        for root, _dirs, files in os.walk(self.dir):
            for f in files:
                try:
                    total += os.path.getsize(os.path.join(root, f))
                except FileNotFoundError:
                    pass
        return total

    def close(self) -> None:
        """fsync and close the current segment (idempotent)."""
        with self._lock:
            if self._fd < 0:
                return
            try:
                os.fsync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = -1

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def __enter__(self) -> WAL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WAL({self.dir!r}, segment={self._seg})"


# ---------------------------------------------------------------------------
# Reader, replay and repair


@dataclass
class ReplayStats:
    """What :func:`replay` read and repaired."""

    checkpoint: int | None = None
    segments: int = 0
    records: int = 0
    series: int = 0
    samples: int = 0
    tombstones: int = 0
    unknown_records: int = 0
    corrupted_bytes: int = 0
    dropped_segments: int = 0
    warnings: list[str] = field(default_factory=list)


class _Bad(NamedTuple):
    offset: int
    reason: str
    torn: bool  # True: damage runs to the end of the file (a torn write)


def _read_segment(path: str, stats: ReplayStats) -> Iterator[Record | _Bad]:
    """Yield the records of one segment, then a ``_Bad`` if it stops at damage."""
    with open(path, "rb") as f:
        data = f.read()
    size = len(data)
    view = memoryview(data)
    off = 0
    unpack = _FRAME.unpack_from
    crc32 = zlib.crc32
    while off < size:
        rest = size - off
        if rest < FRAME_HEADER_SIZE:
            yield _Bad(off, "incomplete record header", True)
            return
        n, crc = unpack(data, off)
        if n < _MIN_PAYLOAD or n > MAX_RECORD_SIZE:
            yield _Bad(off, f"invalid record length {n}", data.count(0, off) == rest)
            return
        end = off + FRAME_HEADER_SIZE + n
        if end > size:
            yield _Bad(off, f"record of {n} bytes runs past the end of the file", True)
            return
        payload = view[off + FRAME_HEADER_SIZE : end]
        if crc32(payload, crc32(view[off : off + 4])) != crc:
            yield _Bad(
                off,
                "checksum mismatch",
                end == size or data.count(0, off + FRAME_HEADER_SIZE) == rest - FRAME_HEADER_SIZE,
            )
            return
        try:
            rec = decode_record(payload)
        except _UnknownRecord as e:
            stats.unknown_records += 1
            _warn(stats, f"{path}: skipping record at offset {off}: {e}")
            off = end
            continue
        except Exception as e:  # noqa: BLE001 - any decode failure is corruption
            yield _Bad(off, f"undecodable record ({e})", False)
            return
        off = end
        yield rec


def _warn(stats: ReplayStats, msg: str) -> None:
    stats.warnings.append(msg)
    logger.warning("%s", msg)


def _count(stats: ReplayStats, rec: Record) -> None:
    stats.records += 1
    if isinstance(rec, SamplesRecord):
        stats.samples += len(rec.refs)
    elif isinstance(rec, SeriesRecord):
        stats.series += len(rec.refs)
    else:
        stats.tombstones += len(rec.refs)


def replay(
    dir: str | os.PathLike[str], *, stats: ReplayStats | None = None, repair: bool = True
) -> Iterator[Record]:
    """Yield every record: the newest checkpoint, then each later segment in order.

    A torn tail (damage running to the end of a segment, as a crash leaves it)
    is truncated away with a warning and replay goes on with the next segment.
    Corruption in the middle of a segment truncates it there and deletes every
    later segment (as Prometheus's repair), with a warning. Warnings go to the
    ``heron.tsdb.wal`` logger and ``stats.warnings``. With ``repair=False``
    damage raises :class:`WALCorruptionError` instead and nothing is modified.
    Pass a :class:`ReplayStats` to collect counts.
    """
    d = os.fspath(dir)
    st = stats if stats is not None else ReplayStats()
    cp = last_checkpoint(d)
    if cp is not None:
        st.checkpoint = cp.segment
        for s in list_segments(cp.path):
            path = os.path.join(cp.path, segment_name(s))
            bad = None
            for item in _read_segment(path, st):
                if isinstance(item, _Bad):
                    bad = item
                    break
                _count(st, item)
                yield item
            if bad is not None:
                if not repair:
                    raise WALCorruptionError(path, bad.offset, bad.reason)
                _warn(st, f"checkpoint {path}: {bad.reason} at offset {bad.offset}; ignoring the rest of it")
                break
    segs = [s for s in list_segments(d) if cp is None or s > cp.segment]
    prev = None
    for i, s in enumerate(segs):
        if prev is not None and s != prev + 1:
            _warn(st, f"{d}: segments {prev + 1}..{s - 1} are missing")
        prev = s
        path = os.path.join(d, segment_name(s))
        st.segments += 1
        bad = None
        for item in _read_segment(path, st):
            if isinstance(item, _Bad):
                bad = item
                break
            _count(st, item)
            yield item
        if bad is None:
            continue
        if not repair:
            raise WALCorruptionError(path, bad.offset, bad.reason)
        size = os.path.getsize(path)
        _truncate_file(path, bad.offset)
        st.corrupted_bytes += size - bad.offset
        later = segs[i + 1 :]
        if bad.torn or not later:
            _warn(
                st,
                f"{path}: {bad.reason} at offset {bad.offset}; truncated {size - bad.offset} "
                "bytes of torn tail",
            )
            continue
        dropped = 0
        for s2 in later:
            p2 = os.path.join(d, segment_name(s2))
            dropped += os.path.getsize(p2)
            os.remove(p2)
        st.corrupted_bytes += dropped
        st.dropped_segments += len(later)
        _fsync_dir(d)
        _warn(
            st,
            f"{path}: {bad.reason} at offset {bad.offset}; truncated {size - bad.offset} bytes "
            f"and deleted {len(later)} later segment(s) ({dropped} bytes)",
        )
        return


def _truncate_file(path: str, size: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# Checkpoint

_FLUSH_SAMPLES = 1 << 20
_FLUSH_SERIES = 1 << 16


class _CheckpointBuffer:
    """Kept records, flushed series → samples → tombstones so refs stay defined before use."""

    def __init__(self, out: WAL) -> None:
        self.out = out
        self.series_refs: list[np.ndarray] = []
        self.series_labels: list[Labels] = []
        self.samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.nsamples = 0
        self.tombs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.ntombs = 0

    def add(self, rec: Record, keep_series: Callable[[np.ndarray], np.ndarray], mint: int) -> None:
        if isinstance(rec, SeriesRecord):
            mask = np.asarray(keep_series(rec.refs), dtype=bool)
            if mask.any():
                self.series_refs.append(rec.refs[mask])
                self.series_labels.extend(itertools.compress(rec.labels, mask.tolist()))
        elif isinstance(rec, SamplesRecord):
            mask = np.asarray(keep_series(rec.refs), dtype=bool) & (rec.ts >= mint)
            if mask.any():
                self.samples.append((rec.refs[mask], rec.ts[mask], rec.vals[mask]))
                self.nsamples += int(mask.sum())
        else:
            mask = np.asarray(keep_series(rec.refs), dtype=bool) & (rec.maxts >= mint)
            if mask.any():
                self.tombs.append((rec.refs[mask], rec.mints[mask], rec.maxts[mask]))
                self.ntombs += int(mask.sum())
        if self.nsamples >= _FLUSH_SAMPLES or len(self.series_labels) >= _FLUSH_SERIES:
            self.flush()

    def flush(self) -> None:
        recs: list[bytes] = []
        if self.series_labels:
            recs.append(encode_series(np.concatenate(self.series_refs), self.series_labels))
        if self.samples:
            r, t, v = (np.concatenate(c) for c in zip(*self.samples, strict=True))
            recs.append(encode_samples(r, t, v))
        if self.tombs:
            r, lo, hi = (np.concatenate(c) for c in zip(*self.tombs, strict=True))
            recs.append(encode_tombstones(r, lo, hi))
        if recs:
            self.out.log(*recs)
        self.series_refs, self.series_labels, self.samples, self.tombs = [], [], [], []
        self.nsamples = self.ntombs = 0


def checkpoint(
    dir: str | os.PathLike[str],
    from_seg: int,
    to_seg: int,
    keep_series: Callable[[np.ndarray], np.ndarray],
    mint: int,
    *,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> str:
    """Condense the previous checkpoint + segments ``[from_seg, to_seg]`` into ``checkpoint.<to_seg>``.

    Keeps series records whose ref passes ``keep_series`` (a vectorised
    predicate: uint64 refs → bool mask), their samples with ``t >= mint`` and
    their tombstones whose interval ends at or after ``mint``. Written to
    ``checkpoint.<to_seg>.tmp``, fsync'd and renamed; older checkpoints are then
    deleted. The caller then calls ``wal.truncate(to_seg + 1)``. Returns the
    checkpoint's path. Raises :class:`WALError` on a gap or damaged input.
    """
    d = os.fspath(dir)
    sources: list[str] = []
    cp = last_checkpoint(d)
    if cp is not None:
        if cp.segment >= to_seg:
            raise WALError(f"checkpoint {cp.path} already covers segment {to_seg}")
        if from_seg > cp.segment + 1:
            raise WALError(f"gap between checkpoint {cp.segment} and segment {from_seg}")
        from_seg = cp.segment + 1
        sources += [os.path.join(cp.path, segment_name(s)) for s in list_segments(cp.path)]
    segs = [s for s in list_segments(d) if from_seg <= s <= to_seg]
    if not segs or segs[-1] != to_seg or segs != list(range(segs[0], to_seg + 1)):
        raise WALError(f"{d}: segments {from_seg}..{to_seg} are not all present (found {segs})")
    if cp is not None and segs[0] != from_seg:
        raise WALError(f"{d}: segment {from_seg} after checkpoint {cp.segment} is missing")
    sources += [os.path.join(d, segment_name(s)) for s in segs]

    final = os.path.join(d, f"{CHECKPOINT_PREFIX}{segment_name(to_seg)}")
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    out = WAL(tmp, segment_size=segment_size)
    try:
        buf = _CheckpointBuffer(out)
        st = ReplayStats()
        for path in sources:
            for item in _read_segment(path, st):
                if isinstance(item, _Bad):
                    raise WALCorruptionError(path, item.offset, item.reason)
                buf.add(item, keep_series, mint)
        buf.flush()
        out.close()
    except BaseException:
        out.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for s in list_segments(tmp):
        _fsync_file(os.path.join(tmp, segment_name(s)))
    _fsync_dir(tmp)
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(d)
    # Older checkpoints and abandoned temporaries are now redundant.
    for name in os.listdir(d):
        if not name.startswith(CHECKPOINT_PREFIX):
            continue
        p = os.path.join(d, name)
        suffix = name[len(CHECKPOINT_PREFIX) :]
        if name.endswith(".tmp") or (suffix.isdigit() and int(suffix) < to_seg):
            shutil.rmtree(p, ignore_errors=True)
    return final
