"""The index file of a block: symbols, series, label values and postings.

Columnar and numpy-friendly (the byte layout is in ``tsdb/FORMAT.md``,
"Index"): every string is stored once in a sorted symbol table, series are
numbered densely in label order, and each ``(name, value)`` pair owns a slice
of one big little-endian ``uint32`` postings array that the reader maps with
``np.frombuffer``. The reader works over ``mmap`` and decodes lazily: nothing
per series is materialised at open.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ._blockapi import ChunkMeta
from ._chunkenc import ChunkDecodeError, get_uvarint, get_varint, put_uvarint, put_varint
from .interface import StorageError
from .labels import Labels

__all__ = ["CorruptBlockError", "IndexCorruptError", "IndexReader", "IndexWriter", "write_index"]

MAGIC = b"HRNINDEX"
VERSION = 1
_HEADER = struct.Struct("<8sBxxxxxxx")  # magic, version, 7 bytes padding
_TOC = struct.Struct("<12QI4x")  # (offset, length) of 6 sections, crc32 of the 96 bytes before
_NSECTIONS = 6
S_SYMBOLS, S_SYMBOL_OFFSETS, S_SERIES, S_SERIES_OFFSETS, S_LABELS, S_POSTINGS = range(_NSECTIONS)
_SECTION_NAMES = ("symbols", "symbol offsets", "series", "series offsets", "label index", "postings")
_U32_MAX = 2**32 - 1
_CACHE = 4096  # decoded symbols kept per reader
_VALUE_CACHE = 64  # per-label value dictionaries kept per reader


class CorruptBlockError(StorageError):
    """A block file is missing, truncated, fails a checksum or is malformed.

    The message names the block directory and the file. (Defined here so the
    index reader can raise it; ``tsdb._block`` re-exports it.)
    """


class IndexCorruptError(CorruptBlockError):
    """The index file is truncated, fails a checksum or is otherwise malformed."""


def _pad8(n: int) -> int:
    return -n % 8


class IndexWriter:
    """Writes an index file from series added in strictly increasing label order.

    ``symbols`` must contain every label name and value that will be added.
    Series ids are assigned densely from 0 in the order of ``add_series``.
    """

    def __init__(self, path: str | os.PathLike[str], symbols: Iterable[str]) -> None:
        self.path = Path(path)
        syms = sorted(set(symbols))
        self._sym_ref = {s: i for i, s in enumerate(syms)}
        self._pair_cache: dict[tuple[str, str], tuple[bytes, int]] = {}
        self._f = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._pos = 0
        self._toc: list[tuple[int, int]] = []
        self._write(_HEADER.pack(MAGIC, VERSION))
        # Symbols: concatenated UTF-8, then u32 end offsets (a separate section).
        blobs = [s.encode() for s in syms]
        ends = np.cumsum([len(b) for b in blobs], dtype=np.int64) if blobs else np.zeros(0, np.int64)
        if len(ends) and ends[-1] > _U32_MAX:
            raise ValueError("symbol table larger than 4 GiB")
        self._section(b"".join(blobs))
        self._section(np.concatenate([[0], ends]).astype("<u4").tobytes())
        # Series entries are streamed; their offsets, the label index and the
        # postings are written at close().
        self._series_start = self._pos
        self._series_crc = 0
        self._series_offsets = array("Q", [0])
        self._keys = array("Q")  # name_ref << 32 | value_ref, one per label of each series
        self._key_sids = array("Q")
        self._prev: Labels | None = None
        self._buf = bytearray()
        self.num_series = 0
        self._closed = False

    def _write(self, b: bytes | bytearray | memoryview) -> None:
        self._f.write(b)
        self._pos += len(b)

    def _section(self, payload: bytes) -> None:
        """Write one whole section: payload, crc32, padding to 8 bytes."""
        start = self._pos
        self._write(payload)
        self._toc.append((start, len(payload)))
        self._write(struct.pack("<I", zlib.crc32(payload)))
        self._write(b"\0" * _pad8(self._pos))

    def add_series(self, labels: Labels, chunks: Sequence[ChunkMeta]) -> int:
        """Add the next series (labels sorted after the previous one's); returns its id."""
        if self._prev is not None and not self._prev < labels:
            raise ValueError(f"series out of order: {labels} after {self._prev}")
        self._prev = labels
        sid = self.num_series
        e = bytearray()
        put_uvarint(e, len(labels))
        pc = self._pair_cache
        for kv in labels.pairs:
            hit = pc.get(kv)
            if hit is None:
                try:
                    kr, vr = self._sym_ref[kv[0]], self._sym_ref[kv[1]]
                except KeyError as err:
                    raise ValueError(f"label string {err.args[0]!r} missing from the symbol table") from None
                b = bytearray()
                put_uvarint(b, kr)
                put_uvarint(b, vr)
                hit = pc[kv] = (bytes(b), kr << 32 | vr)
            e += hit[0]
            self._keys.append(hit[1])
            self._key_sids.append(sid)
        put_uvarint(e, len(chunks))
        prev_maxt = prev_ref = 0
        for i, c in enumerate(chunks):
            if c.maxt < c.mint:
                raise ValueError(f"chunk maxt {c.maxt} < mint {c.mint}")
            if i == 0:
                put_varint(e, c.mint)
                put_uvarint(e, c.maxt - c.mint)
                put_uvarint(e, c.ref)
            else:
                put_varint(e, c.mint - prev_maxt)
                put_uvarint(e, c.maxt - c.mint)
                put_varint(e, c.ref - prev_ref)
            prev_maxt, prev_ref = c.maxt, c.ref
        e += struct.pack("<I", zlib.crc32(e))
        self._series_crc = zlib.crc32(e, self._series_crc)
        self._buf += e
        if len(self._buf) >= 1 << 20:
            self._write(self._buf)
            self._buf = bytearray()
        self._series_offsets.append(self._series_offsets[-1] + len(e))
        self.num_series += 1
        return sid

    def close(self) -> None:
        """Finish the file: series offsets, label index, postings, TOC; fsync."""
        if self._closed:
            return
        self._closed = True
        try:
            self._write(self._buf)
            self._buf = bytearray()
            length = self._pos - self._series_start
            self._toc.append((self._series_start, length))
            self._write(struct.pack("<I", self._series_crc))
            self._write(b"\0" * _pad8(self._pos))
            self._section(np.array(self._series_offsets, dtype=np.uint64).astype("<u8").tobytes())
            self._write_postings()
            toc = struct.pack("<12Q", *[x for se in self._toc for x in se])
            self._write(toc + struct.pack("<I4x", zlib.crc32(toc)))
            self._f.flush()
            os.fsync(self._f.fileno())
        finally:
            self._f.close()

    def _write_postings(self) -> None:
        keys = np.array(self._keys, dtype=np.uint64)
        sids = np.array(self._key_sids, dtype=np.uint64)
        order = np.argsort(keys, kind="stable")  # sids stay ascending within a key
        keys, sids = keys[order], sids[order]
        if len(sids) and int(sids.max()) > _U32_MAX:
            raise ValueError("more than 2**32 series in one block")
        first = _run_starts(keys)
        pair_keys = keys[first]
        pair_names = pair_keys >> np.uint64(32)
        pair_values = (pair_keys & np.uint64(_U32_MAX)).astype("<u4")
        name_first = _run_starts(pair_names)
        names = pair_names[name_first].astype("<u4")
        name_start = np.append(name_first, len(pair_keys)).astype("<u8")
        post_start = np.append(first, len(keys)).astype("<u8")
        parts = [
            struct.pack("<QQ", len(names), len(pair_keys)),
            names.tobytes(),
            b"\0" * _pad8(4 * len(names)),
            name_start.tobytes(),
            pair_values.tobytes(),
            b"\0" * _pad8(4 * len(pair_keys)),
            post_start.tobytes(),
        ]
        self._section(b"".join(parts))
        self._section(sids.astype("<u4").tobytes())

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and not self._closed:
            self._closed = True
            self._f.close()
            return
        self.close()


def write_index(path: str | os.PathLike[str], series: Iterable[tuple[Labels, Sequence[ChunkMeta]]]) -> int:
    """Write an index for ``series`` (sorted by labels); returns the number of series."""
    series = list(series)
    symbols = {s for ls, _ in series for kv in ls.pairs for s in kv}
    with IndexWriter(path, symbols) as w:
        for ls, metas in series:
            w.add_series(ls, metas)
    return len(series)


_SERIES_CACHE = 1 << 18  # parsed series entries kept per open index


class IndexReader:
    """Reads an index file through mmap; implements the ``IndexReader`` protocol.

    Also offers ``value_postings(name)`` (the fast path of ``tsdb._postings``),
    ``num_series``, ``symbols()`` and ``verify()``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < _HEADER.size + _TOC.size:
                raise IndexCorruptError(f"{self.path}: file too short ({size} bytes)")
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            self._open(size)
        except IndexCorruptError:
            self.close()
            raise
        except (ValueError, struct.error) as e:
            self.close()
            raise IndexCorruptError(f"{self.path}: {e}") from None
        # FIFO caches (thread-safe: a lock around mutation, lock-free reads).
        self._lock = threading.Lock()
        self._sym_cache: OrderedDict[int, str] = OrderedDict()
        self._value_cache: OrderedDict[str, tuple[list[str], dict[str, int], int]] = OrderedDict()
        self._names: list[str] | None = None
        self._series_cache: dict[int, tuple[Labels, list[ChunkMeta]]] = {}

    def _open(self, size: int) -> None:
        mm = self._mm
        magic, version = _HEADER.unpack_from(mm, 0)
        if magic != MAGIC:
            raise IndexCorruptError(f"{self.path}: bad magic {magic!r}")
        if version != VERSION:
            raise IndexCorruptError(f"{self.path}: unsupported index version {version}")
        *toc, crc = _TOC.unpack_from(mm, size - _TOC.size)
        if zlib.crc32(mm[size - _TOC.size : size - 8]) != crc:
            raise IndexCorruptError(f"{self.path}: table of contents checksum mismatch")
        self._sections = [(toc[2 * i], toc[2 * i + 1]) for i in range(_NSECTIONS)]
        for name, (off, ln) in zip(_SECTION_NAMES, self._sections, strict=True):
            if off < _HEADER.size or off + ln + 4 > size - _TOC.size:
                raise IndexCorruptError(f"{self.path}: {name} section out of bounds")
        for i in (S_SYMBOLS, S_SYMBOL_OFFSETS, S_SERIES_OFFSETS, S_LABELS, S_POSTINGS):
            self._check_crc(i)
        off, ln = self._sections[S_SYMBOL_OFFSETS]
        self._sym_ends = np.frombuffer(mm, dtype="<u4", count=ln // 4, offset=off)
        self.num_symbols = len(self._sym_ends) - 1
        self._sym_base = self._sections[S_SYMBOLS][0]
        if self.num_symbols < 0 or int(self._sym_ends[-1]) != self._sections[S_SYMBOLS][1]:
            raise IndexCorruptError(f"{self.path}: symbol offsets don't match the symbol table")
        off, ln = self._sections[S_SERIES_OFFSETS]
        self._series_offsets = np.frombuffer(mm, dtype="<u8", count=ln // 8, offset=off)
        self.num_series = len(self._series_offsets) - 1
        if self.num_series < 0 or int(self._series_offsets[-1]) != self._sections[S_SERIES][1]:
            raise IndexCorruptError(f"{self.path}: series offsets don't match the series section")
        off, ln = self._sections[S_LABELS]
        n_names, n_pairs = struct.unpack_from("<QQ", mm, off)
        p = off + 16
        need = 16 + 4 * n_names + _pad8(4 * n_names) + 8 * (n_names + 1)
        need += 4 * n_pairs + _pad8(4 * n_pairs) + 8 * (n_pairs + 1)
        if need != ln:
            raise IndexCorruptError(f"{self.path}: label index size mismatch")
        self._names_refs = np.frombuffer(mm, dtype="<u4", count=n_names, offset=p)
        p += 4 * n_names + _pad8(4 * n_names)
        self._name_start = np.frombuffer(mm, dtype="<u8", count=n_names + 1, offset=p)
        p += 8 * (n_names + 1)
        self._pair_values = np.frombuffer(mm, dtype="<u4", count=n_pairs, offset=p)
        p += 4 * n_pairs + _pad8(4 * n_pairs)
        self._post_start = np.frombuffer(mm, dtype="<u8", count=n_pairs + 1, offset=p)
        off, ln = self._sections[S_POSTINGS]
        self._postings = np.frombuffer(mm, dtype="<u4", count=ln // 4, offset=off)
        if int(self._post_start[-1]) != len(self._postings) or int(self._name_start[-1]) != n_pairs:
            raise IndexCorruptError(f"{self.path}: postings offsets don't match the postings section")

    def _check_crc(self, i: int) -> None:
        off, ln = self._sections[i]
        (crc,) = struct.unpack_from("<I", self._mm, off + ln)
        if zlib.crc32(self._mm[off : off + ln]) != crc:
            raise IndexCorruptError(f"{self.path}: {_SECTION_NAMES[i]} checksum mismatch")

    def verify(self) -> None:
        """Check every checksum, including the whole series section."""
        for i in range(_NSECTIONS):
            self._check_crc(i)

    def close(self) -> None:
        for attr in ("_sym_ends", "_series_offsets", "_names_refs", "_name_start", "_pair_values"):
            self.__dict__.pop(attr, None)
        self.__dict__.pop("_post_start", None)
        self.__dict__.pop("_postings", None)
        mm = self.__dict__.pop("_mm", None)
        if mm is not None:
            try:
                mm.close()
            except BufferError:  # a caller still holds a view; the GC will unmap it
                pass

    def __enter__(self) -> IndexReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- symbols

    def symbol(self, ref: int) -> str:
        """The string with symbol ref ``ref``."""
        s = self._sym_cache.get(ref)
        if s is not None:
            return s
        if not 0 <= ref < self.num_symbols:
            raise IndexCorruptError(f"{self.path}: symbol ref {ref} out of range")
        a, b = int(self._sym_ends[ref]), int(self._sym_ends[ref + 1])
        try:
            s = self._mm[self._sym_base + a : self._sym_base + b].decode()
        except UnicodeDecodeError:
            raise IndexCorruptError(f"{self.path}: symbol {ref} is not UTF-8") from None
        with self._lock:
            self._sym_cache[ref] = s
            if len(self._sym_cache) > _CACHE:
                self._sym_cache.popitem(last=False)
        return s

    def symbols(self) -> list[str]:
        """Every symbol, sorted."""
        return [self.symbol(i) for i in range(self.num_symbols)]

    def _lookup(self, s: str) -> int:
        """Symbol ref of ``s``, or -1 (binary search over the sorted table)."""
        key = s.encode()
        ends = self._sym_ends
        base = self._sym_base
        mm = self._mm
        lo, hi = 0, self.num_symbols
        while lo < hi:
            mid = (lo + hi) >> 1
            cur = mm[base + int(ends[mid]) : base + int(ends[mid + 1])]
            if cur < key:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.num_symbols and mm[base + int(ends[lo]) : base + int(ends[lo + 1])] == key:
            return lo
        return -1

    # ---- label index

    def _name_index(self, name: str) -> int:
        ref = self._lookup(name)
        if ref < 0:
            return -1
        i = int(np.searchsorted(self._names_refs, ref))
        return i if i < len(self._names_refs) and int(self._names_refs[i]) == ref else -1

    def _values(self, name: str) -> tuple[list[str], dict[str, int], int]:
        """Sorted values of ``name``, value -> pair index, and the first pair index."""
        hit = self._value_cache.get(name)
        if hit is not None:
            return hit
        i = self._name_index(name)
        if i < 0:
            out: tuple[list[str], dict[str, int], int] = ([], {}, 0)
        else:
            s, e = int(self._name_start[i]), int(self._name_start[i + 1])
            vals = [self.symbol(int(r)) for r in self._pair_values[s:e]]
            out = (vals, {v: s + j for j, v in enumerate(vals)}, s)
        with self._lock:
            self._value_cache[name] = out
            if len(self._value_cache) > _VALUE_CACHE:
                self._value_cache.popitem(last=False)
        return out

    def label_names(self) -> list[str]:
        if self._names is None:
            self._names = [self.symbol(int(r)) for r in self._names_refs]
        return list(self._names)

    def label_values(self, name: str) -> list[str]:
        return list(self._values(name)[0])

    def postings(self, name: str, values: Sequence[str]) -> np.ndarray:
        _, index, _ = self._values(name)
        if not index:
            return np.zeros(0, dtype=np.int64)
        pairs = sorted({index[v] for v in values if v in index})
        if not pairs:
            return np.zeros(0, dtype=np.int64)
        ps = self._post_start
        if len(pairs) == 1:
            p = pairs[0]
            return self._postings[int(ps[p]) : int(ps[p + 1])].astype(np.int64)
        idx = np.array(pairs, dtype=np.int64)
        starts = ps[idx].astype(np.int64)
        lens = ps[idx + 1].astype(np.int64) - starts
        return np.unique(self._postings[_ragged(starts, lens)]).astype(np.int64)

    def value_postings(self, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """All values of ``name`` with their postings: ``(values, offsets, ids)``."""
        vals, _, first = self._values(name)
        if not vals:
            return [], np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        ps = self._post_start[first : first + len(vals) + 1].astype(np.int64)
        ids = self._postings[int(ps[0]) : int(ps[-1])].astype(np.int64)
        return vals, ps - ps[0], ids

    def all_postings(self) -> np.ndarray:
        return np.arange(self.num_series, dtype=np.int64)

    # ---- series

    def series(self, sid: int) -> tuple[Labels, list[ChunkMeta]]:
        hit = self._series_cache.get(sid)
        if hit is not None:
            return hit[0], list(hit[1])
        labels, metas = self._read_series(sid)
        cache = self._series_cache
        if len(cache) >= _SERIES_CACHE:
            with self._lock:
                cache.clear()
        cache[sid] = (labels, metas)
        return labels, list(metas)

    def _read_series(self, sid: int) -> tuple[Labels, list[ChunkMeta]]:
        if not 0 <= sid < self.num_series:
            raise KeyError(f"series {sid} not in index {self.path}")
        base = self._sections[S_SERIES][0]
        a = base + int(self._series_offsets[sid])
        b = base + int(self._series_offsets[sid + 1])
        if b - a < 5:
            raise IndexCorruptError(f"{self.path}: series {sid} entry too short")
        entry = self._mm[a:b]
        (crc,) = struct.unpack_from("<I", entry, len(entry) - 4)
        if zlib.crc32(entry[:-4]) != crc:
            raise IndexCorruptError(f"{self.path}: series {sid} checksum mismatch")
        try:
            nl, p = get_uvarint(entry, 0)
            pairs = []
            sym = self.symbol
            for _ in range(nl):
                kr, p = get_uvarint(entry, p)
                vr, p = get_uvarint(entry, p)
                pairs.append((sym(kr), sym(vr)))
            nc, p = get_uvarint(entry, p)
            metas = []
            maxt = ref = 0
            for i in range(nc):
                dm, p = get_varint(entry, p)
                span, p = get_uvarint(entry, p)
                if i == 0:
                    mint = dm
                    ref, p = get_uvarint(entry, p)
                else:
                    mint = maxt + dm
                    dr, p = get_varint(entry, p)
                    ref += dr
                maxt = mint + span
                metas.append(ChunkMeta(ref, mint, maxt))
        except ChunkDecodeError as e:
            raise IndexCorruptError(f"{self.path}: series {sid}: {e}") from None
        if p != len(entry) - 4:
            raise IndexCorruptError(f"{self.path}: series {sid} entry has trailing bytes")
        return Labels(tuple(pairs)), metas


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Indices where a new run of equal values begins in a sorted array."""
    if not len(sorted_keys):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))


def _ragged(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Indices ``concat(range(s, s + l) for s, l in zip(starts, lens))``, vectorized."""
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.cumsum(lens) - lens
    return np.repeat(starts - offs, lens) + np.arange(total)
