"""Chunk encoding: vectorized, bit-exact compression of ``(ts int64, vals float64)``.

Timestamps and decimal mantissas go through one integer-sequence coder (first
value + offset / delta / delta-of-delta / linear residuals, zigzag, patched
bit-packing); floats are turned into decimal mantissas with a common exponent
when that round-trips bit-exactly, the rest become exceptions or the whole
chunk falls back to XOR + byte-shuffled raw bits. zstd is applied on top when
it helps. The byte layout is documented in ``tsdb/FORMAT.md`` ("Chunks").

Everything is numpy bulk work over 2-D batches of equal-length chunks
(``encode_many``); Python runs per chunk (headers), never per sample.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import zstandard

__all__ = [
    "ChunkDecodeError",
    "chunk_splits",
    "decode",
    "decode_batch",
    "decode_many",
    "encode",
    "encode_batch",
    "encode_many",
    "encode_timestamps",
    "decode_timestamps",
    "shared_ts_ref",
    "get_uvarint",
    "get_varint",
    "num_samples",
    "put_uvarint",
    "put_varint",
]

VERSION = 1
FLAG_ZSTD = 0x80  # body is one zstd frame
FLAG_SHARED_TS = 0x40  # no timestamps inside: they live in a timestamp chunk (by ref)
FLAG_TS_ONLY = 0x20  # a timestamp-only chunk
_VERSION_MASK = 0x1F
MAX_SAMPLES = 1 << 24  # per chunk (a sanity bound for decoding)

SEQ_OFFSET = 0
SEQ_DELTA = 1
SEQ_DOD = 2
SEQ_LINEAR = 3
SEQ_FOR = 0x10  # flag: residuals stored relative to their minimum, not zigzagged

VAL_DECIMAL = 0
VAL_RAW = 1

_MAX_SCALE = 22  # 10**22 is the largest power of ten that is an exact float64
_MAX_MANT = 1 << 53  # mantissas must be exact float64 integers
_DIGITS = 15  # significant decimal digits tried per value (10**15 < 2**53)
_ZSTD_MIN = 48  # don't try zstd on bodies shorter than this (nor below 1 byte/sample)
_ZSTD_LEVEL = 3

_P10F = np.array([10.0**k for k in range(_MAX_SCALE + 1)], dtype=np.float64)
_P10I = np.array([10**k for k in range(19)], dtype=np.int64)
# Largest m such that m * 10**d <= 2**53, for d = 0..18.
_MANT_LIMIT = np.array([_MAX_MANT // 10**d for d in range(19)], dtype=np.int64)
_U64 = np.uint64
_TWO53 = _U64(1 << 53)
_BIG = np.iinfo(np.int64).max
_NO_SCALE = 1000  # sentinel scale for "no decimal value in this row"
_BATCH_SAMPLES = 1 << 16  # samples per 2-D encoding batch (bounds temporary memory)
_DECODE_BATCH_SAMPLES = 1 << 15  # samples per 2-D decoding batch (small temporaries stay in cache)
_SCORE_SAMPLES = 32  # residuals per row used to choose a sequence kind
_NEG_ZERO = _U64(1 << 63)


class ChunkDecodeError(ValueError):
    """A chunk's bytes are malformed (truncated, unknown version or mode)."""


# ----------------------------------------------------------------------------- varints


def put_uvarint(out: bytearray, x: int) -> None:
    """Append ``x`` (0 <= x < 2**64) as an LEB128 unsigned varint."""
    if x < 0x80:
        out.append(x)
        return
    while x >= 0x80:
        out.append((x & 0x7F) | 0x80)
        x >>= 7
    out.append(x)


def put_varint(out: bytearray, x: int) -> None:
    """Append signed ``x`` (int64 range) zigzag-encoded as an LEB128 varint."""
    put_uvarint(out, ((x << 1) ^ (x >> 63)) & 0xFFFFFFFFFFFFFFFF)


def get_uvarint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Read an unsigned varint at ``pos``; returns ``(value, new_pos)``."""
    if pos < len(buf):
        b = buf[pos]
        if b < 0x80:  # one byte: the common case
            return b, pos + 1
    x = 0
    shift = 0
    while True:
        try:
            b = buf[pos]
        except IndexError:
            raise ChunkDecodeError("truncated varint") from None
        pos += 1
        x |= (b & 0x7F) << shift
        if b < 0x80:
            if x >> 64:
                raise ChunkDecodeError("varint overflows 64 bits")
            return x, pos
        shift += 7
        if shift > 63:
            raise ChunkDecodeError("varint overflows 64 bits")


def get_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Read a zigzag signed varint at ``pos``; returns ``(value, new_pos)``."""
    if pos < len(buf):
        b = buf[pos]
        if b < 0x80:
            return (b >> 1) ^ -(b & 1), pos + 1
    u, pos = get_uvarint(buf, pos)
    return (u >> 1) ^ -(u & 1), pos


# ----------------------------------------------------------------------------- bit packing


def _bitlen(u: np.ndarray) -> np.ndarray:
    """Bit length of each uint64 (0 for 0), as int64, from the float64 exponent."""
    i = u.view(np.int64)
    e = i.astype(np.float64).view(np.int64)
    e >>= 52
    e -= 1022
    np.maximum(e, 0, out=e)
    if u.size and u.max() >= _TWO53:
        # Negative int64 views are >= 2**63: 64 bits. Conversion may also round
        # up to the next power of two from 2**53 on: fix those.
        big = u >= _TWO53
        ub = u[big]
        eb = np.where(i[big] < 0, 64, e[big] & 0x7FF)
        eb -= (ub >> (eb - 1).astype(_U64)) == 0
        e[big] = eb
    return e


def _int_bitlen(x: int) -> int:
    return int(x).bit_length()


@functools.lru_cache(maxsize=4096)
def _layout(c: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Where value ``i`` of ``c`` packed ``w``-bit values lives in a stream of uint64 words.

    Returns ``(word, shift, first_of_word, straddlers, their_shift_back, n_words)``.
    """
    bit = np.arange(c, dtype=np.int64) * w
    word = bit >> 6
    shift = (bit & 63).astype(_U64)
    first = np.flatnonzero(np.diff(word, prepend=-1))
    strad = np.flatnonzero((bit & 63) + w > 64)
    back = _U64(64) - shift[strad]
    return word, shift, first, strad, back, (c * w + 63) >> 6


def _pack2d(u: np.ndarray, w: int) -> np.ndarray:
    """Pack the low ``w`` bits of each row of uint64 ``u`` (rows, c), LSB first.

    ``u`` must hold values below ``2**w``. Returns (rows, ceil(c*w/8)) uint8.
    """
    g, c = u.shape
    if w == 0 or c == 0:
        return np.zeros((g, 0), dtype=np.uint8)
    if w in (8, 16, 32, 64):
        return u.astype(f"<u{w // 8}").view(np.uint8).reshape(g, c * (w // 8))
    word, shift, first, strad, back, nw = _layout(c, w)
    words = np.add.reduceat(u << shift, first, axis=1)  # bits don't overlap: sum == or
    if words.shape[1] < nw:
        words = np.concatenate([words, np.zeros((g, nw - words.shape[1]), dtype=_U64)], axis=1)
    if len(strad):
        words[:, word[strad] + 1] |= u[:, strad] >> back
    return words.astype("<u8").view(np.uint8)[:, : (c * w + 7) >> 3]


def _pack(u: np.ndarray, w: int) -> bytes:
    """Pack the low ``w`` bits of each uint64 of ``u`` (values below ``2**w``), LSB first."""
    if w == 0 or len(u) == 0:
        return b""
    return _pack2d(u[None, :], w).tobytes()


def _unpack(buf: bytes | memoryview, pos: int, c: int, w: int) -> tuple[np.ndarray, int]:
    """Inverse of :func:`_pack`: ``c`` values of ``w`` bits at byte ``pos``."""
    if w == 0 or c == 0:
        return np.zeros(c, dtype=_U64), pos
    nbytes = (c * w + 7) >> 3
    if pos + nbytes > len(buf):
        raise ChunkDecodeError("truncated bit-packed data")
    if w in (8, 16, 32, 64):
        return np.frombuffer(buf, dtype=f"<u{w // 8}", count=c, offset=pos).astype(_U64), pos + nbytes
    word, shift, _, strad, back, nw = _layout(c, w)
    raw = np.zeros(nw * 8, dtype=np.uint8)
    raw[:nbytes] = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=pos)
    words = raw.view("<u8").astype(_U64)
    v = words[word] >> shift
    if len(strad):
        v[strad] |= words[word[strad] + 1] << back
    v &= _U64((1 << w) - 1)
    return v, pos + nbytes


def _pack_rows(vals: np.ndarray, counts: np.ndarray, widths: np.ndarray) -> tuple[bytes, list[int]]:
    """Bit-pack ragged rows at once: row ``r`` is the next ``counts[r]`` values of ``vals``
    at ``widths[r]`` bits, each row starting on a byte boundary.

    Returns the packed bytes and the ``rows + 1`` byte offsets of the rows in it.
    """
    g = len(counts)
    nbytes = (counts * widths + 7) >> 3
    starts = np.zeros(g + 1, dtype=np.int64)
    np.cumsum(nbytes, out=starts[1:])
    total = int(starts[-1])
    if total == 0:
        return b"", starts.tolist()
    row = np.repeat(np.arange(g), counts)
    first = np.zeros(g, dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    idx = np.arange(len(vals)) - first[row]
    wrow = widths[row]
    maxw = int(widths.max())
    j = np.arange(maxw)
    bits = ((vals[:, None] >> j.astype(_U64)) & _U64(1)).astype(np.uint8)
    valid = j < wrow[:, None]
    out = np.zeros(total * 8, dtype=np.uint8)
    out[((starts[row] * 8 + idx * wrow)[:, None] + j)[valid]] = bits[valid]
    return np.packbits(out, bitorder="little").tobytes(), starts.tolist()


# ----------------------------------------------------------------------------- patched packing


def _pfor_plan(bl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plan a patched packing of each row of bit lengths: ``(width, n_exceptions, cost_bits)``."""
    k, c = bl.shape
    rk = np.arange(k)
    hist = np.bincount((bl + (65 * rk)[:, None]).ravel(), minlength=65 * k).reshape(k, 65)
    exc = c - np.cumsum(hist, axis=1)
    maxbl = bl.max(axis=1)[:, None]
    ws = np.arange(65)
    cost = c * ws + exc * (_int_bitlen(c - 1) + maxbl - ws) + np.where(exc > 0, 16, 0)
    cost = np.where(ws <= maxbl, cost, _BIG)
    w = np.argmin(cost, axis=1)
    return w, exc[rk, w], cost[rk, w]


def _pfor_encode(
    u: np.ndarray, bl: np.ndarray, plan: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> list[bytes]:
    """Patched bit-packing of each row of uint64 ``u`` (rows, c >= 1) given its bit lengths."""
    k, c = u.shape
    w, nexc, _ = plan if plan is not None else _pfor_plan(bl)
    lows: list[bytes] = [b""] * k
    for wv in np.unique(w).tolist():
        rows = np.flatnonzero(w == wv)
        sub = u[rows]
        if wv < 64 and (nexc[rows] > 0).any():
            sub = sub & _U64((1 << wv) - 1)
        packed = _pack2d(sub, wv)
        for i, r in enumerate(rows.tolist()):
            lows[r] = packed[i].tobytes()
    ws = w.tolist()
    ne = nexc.tolist()
    out = [bytes((ws[r], 0)) + lows[r] if ne[r] == 0 else b"" for r in range(k)]
    erows = np.flatnonzero(nexc)
    if len(erows):
        sbl = bl[erows]
        sw = w[erows]
        ri, ci = np.nonzero(sbl > sw[:, None])
        counts = nexc[erows]
        first = np.zeros(len(erows), dtype=np.int64)
        np.cumsum(counts[:-1], out=first[1:])
        hw = np.maximum.reduceat(sbl[ri, ci], first) - sw
        highs = u[erows[ri], ci] >> sw[ri].astype(_U64)
        pbuf, pst = _pack_rows(ci.astype(_U64), counts, np.full(len(erows), _int_bitlen(c - 1)))
        hbuf, hst = _pack_rows(highs, counts, hw)
        hws = hw.tolist()
        for i, r in enumerate(erows.tolist()):
            head = bytearray((ws[r],))
            put_uvarint(head, ne[r])
            head.append(hws[i])
            out[r] = b"".join((head, lows[r], pbuf[pst[i] : pst[i + 1]], hbuf[hst[i] : hst[i + 1]]))
    return out


def _pfor_read(buf: bytes | memoryview, pos: int, c: int) -> tuple[np.ndarray, int]:
    if pos + 2 > len(buf):
        raise ChunkDecodeError("truncated packed block")
    w = buf[pos]
    if w > 64:
        raise ChunkDecodeError(f"bad bit width {w}")
    e, pos = get_uvarint(buf, pos + 1)
    if e > c:
        raise ChunkDecodeError("more exceptions than values")
    hw = 0
    if e:
        if pos >= len(buf):
            raise ChunkDecodeError("truncated packed block")
        hw = buf[pos]
        pos += 1
        if hw == 0 or w + hw > 64:
            raise ChunkDecodeError(f"bad exception width {hw}")
    u, pos = _unpack(buf, pos, c, w)
    if e:
        idx, pos = _unpack(buf, pos, e, _int_bitlen(c - 1))
        hi, pos = _unpack(buf, pos, e, hw)
        if int(idx.max()) >= c:
            raise ChunkDecodeError("exception position out of range")
        u[idx.astype(np.int64)] |= hi << _U64(w)
    return u, pos


# ----------------------------------------------------------------------------- int sequences


def _zigzag(r: np.ndarray) -> np.ndarray:
    """``(r << 1) ^ (r >> 63)`` as uint64 (in place where possible: fewer big temporaries)."""
    out = np.left_shift(r, 1)
    tmp = np.right_shift(r, 63)
    np.bitwise_xor(out, tmp, out=out)
    return out.view(_U64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_zigzag`: ``(u >> 1) ^ -(u & 1)`` as int64."""
    out = np.right_shift(u, _U64(1))
    tmp = np.bitwise_and(u, _U64(1)).view(np.int64)
    np.negative(tmp, out=tmp)
    np.bitwise_xor(out.view(np.int64), tmp, out=out.view(np.int64))
    return out.view(np.int64)


def _mean_bits(r: np.ndarray) -> np.ndarray:
    return _bitlen(_zigzag(r)).mean(axis=-1)


def _mean_bits_for(r: np.ndarray) -> np.ndarray:
    return _bitlen((r - r.min(axis=-1, keepdims=True)).view(_U64)).mean(axis=-1)


def _seq_encode(x: np.ndarray) -> list[bytes]:
    """Encode each row of int64 ``x`` (rows, n) as a sequence of its cheapest kind.

    Arithmetic wraps modulo 2**64, so every int64 round-trips exactly. The kind
    is chosen on a strided sample of at most ~64 residuals per row; then the
    residuals are either zigzagged or taken relative to their minimum
    (frame of reference), whichever packs smaller.
    """
    k, n = x.shape
    x0s = x[:, 0].tolist() if n else [0] * k
    if n <= 1:
        outs = []
        for r in range(k):
            out = bytearray((SEQ_OFFSET,))
            if n:
                put_varint(out, x0s[r])
            outs.append(bytes(out))
        return outs
    d = np.diff(x, axis=1)
    step = max(1, (n - 1) // _SCORE_SAMPLES)
    ds = d[:, ::step]
    h = ds.shape[1] // 2
    b = np.partition(ds, h, axis=1)[:, h]  # (approximate) median delta
    with np.errstate(all="ignore"):
        slope = np.rint((x[:, -1] - x[:, 0]).astype(np.float64) / (n - 1))
    slope = np.where(np.abs(slope) < 2.0**62, slope, 0).astype(np.int64)
    cols = np.arange(1, n, step)
    off = x[:, cols] - x[:, :1]
    cand = np.empty((4, k, len(cols)), dtype=np.int64)
    cand[SEQ_DELTA] = ds - b[:, None]
    cand[SEQ_OFFSET] = off
    cand[SEQ_LINEAR] = off - cols * slope[:, None]
    c2 = np.maximum(cols, 2) if n >= 3 else cols
    cand[SEQ_DOD] = d[:, c2 - 1] - d[:, c2 - 2] if n >= 3 else 0
    scores = np.minimum(_mean_bits(cand), _mean_bits_for(cand))
    # Ties go to DELTA (robust to outliers), then OFFSET, LINEAR, DOD.
    pref = np.array([SEQ_DELTA, SEQ_OFFSET, SEQ_LINEAR, SEQ_DOD])
    choice = pref[np.argmin(scores[pref], axis=0)]
    base = np.where(choice == SEQ_LINEAR, slope, b)
    kinds_present = np.unique(choice).tolist()
    if kinds_present == [SEQ_DELTA]:
        res = d - b[:, None]
    else:
        res = np.empty((k, n - 1), dtype=np.int64)
        for kind in kinds_present:
            rows = np.flatnonzero(choice == kind)
            if kind == SEQ_DELTA:
                res[rows] = d[rows] - b[rows, None]
            elif kind == SEQ_OFFSET:
                res[rows] = x[rows, 1:] - x[rows, :1]
            elif kind == SEQ_DOD:
                res[rows, 0] = d[rows, 0] - b[rows]
                res[rows, 1:] = np.diff(d[rows], axis=1)
            else:
                res[rows] = x[rows, 1:] - x[rows, :1] - np.arange(1, n) * slope[rows, None]
    # Frame of reference beats zigzag when the residuals sit on one side of zero.
    ref = res.min(axis=1)
    top = res.max(axis=1)
    span = _bitlen((top - ref).view(_U64))
    zz = _bitlen(_zigzag(np.where(top >= -(ref + 1), top, ref)))
    use_for = span < zz
    if use_for.all():
        u = (res - ref[:, None]).view(_U64)
    elif use_for.any():
        u = np.where(use_for[:, None], (res - ref[:, None]).view(_U64), _zigzag(res))
    else:
        u = _zigzag(res)
    parts = _pfor_encode(u, _bitlen(u))
    kinds = (choice | np.where(use_for, SEQ_FOR, 0)).tolist()
    bases = base.tolist()
    refs = ref.tolist()
    outs = []
    for r in range(k):
        kind = kinds[r]
        out = bytearray((kind,))
        put_varint(out, x0s[r])
        if kind & ~SEQ_FOR != SEQ_OFFSET:
            put_varint(out, bases[r])
        if kind & SEQ_FOR:
            put_varint(out, refs[r])
        out += parts[r]
        outs.append(bytes(out))
    return outs


def _varint_len(x: np.ndarray) -> np.ndarray:
    """Byte length of each int64 of ``x`` as a zigzag varint."""
    return np.maximum(1, (_bitlen(_zigzag(x)) + 6) // 7)


def _seq_read(buf: bytes | memoryview, pos: int, n: int) -> tuple[np.ndarray, int]:
    if pos >= len(buf):
        raise ChunkDecodeError("truncated sequence")
    kind = buf[pos]
    pos += 1
    use_for = kind & SEQ_FOR
    kind &= ~SEQ_FOR
    if kind > SEQ_LINEAR:
        raise ChunkDecodeError(f"unknown sequence kind {kind}")
    x0, pos = get_varint(buf, pos)
    if n == 1:
        return np.array([x0], dtype=np.int64), pos
    base = ref = 0
    if kind != SEQ_OFFSET:
        base, pos = get_varint(buf, pos)
    if use_for:
        ref, pos = get_varint(buf, pos)
    u, pos = _pfor_read(buf, pos, n - 1)
    # (integer array arithmetic wraps silently, as the format wants)
    r = u.view(np.int64) + np.int64(ref) if use_for else _unzigzag(u)
    x = np.empty(n, dtype=np.int64)
    x[0] = x0
    if kind == SEQ_OFFSET:
        np.add(r, np.int64(x0), out=x[1:])
    elif kind == SEQ_DELTA:
        np.add(r, np.int64(base), out=x[1:])
        np.cumsum(x, out=x)
    elif kind == SEQ_DOD:
        np.cumsum(r, out=x[1:])
        x[1:] += np.int64(base)
        np.cumsum(x, out=x)
    else:
        x[1:] = r + np.int64(x0) + np.arange(1, n, dtype=np.int64) * np.int64(base)
    return x, pos


# ----------------------------------------------------------------------------- values


def _decimal_analyse(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per value: ``(ok, zero, m, kmin)`` with ``v == m / 10**kmin`` bit-exactly where ok.

    ``m`` has its trailing decimal zeros stripped (``kmin`` minimal); ``+0.0``
    is flagged in ``zero`` and is representable at any scale.
    """
    bits = v.view(_U64)
    zero = bits == 0
    with np.errstate(all="ignore"):
        lg = np.floor(np.log10(np.abs(v)))
        fin = np.isfinite(lg)  # excludes 0.0, -0.0, NaN, ±Inf
        kmax = np.clip(np.where(fin, _DIGITS - 1 - lg, 0.0), -_MAX_SCALE, _MAX_SCALE).astype(np.int64)
        pw = _P10F[np.abs(kmax)]
        pos = kmax >= 0
        mf = np.rint(np.where(pos, v * pw, v / pw))
        ok = fin & (np.abs(mf) <= _MAX_MANT)
        mf = np.where(ok, mf, 0.0)
        dec = np.where(pos, mf / pw, mf * pw)
    ok &= dec.view(_U64) == bits
    m = mf.astype(np.int64)
    kmin = kmax
    # Strip trailing decimal zeros (m < 10**15, so at most 15 of them).
    for p in (8, 4, 2, 1):
        can = ok & (m % _P10I[p] == 0) & (kmin - p >= -_MAX_SCALE)
        if can.any():
            m = np.where(can, m // _P10I[p], m)
            kmin = kmin - can * p
    kmin = np.where(zero, -_MAX_SCALE, kmin)
    ok |= zero
    return ok, zero, m, kmin


def _decimal_at(
    v: np.ndarray, ok: np.ndarray, zero: np.ndarray, m: np.ndarray, kmin: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mantissas of each row at its common scale ``k[row]`` and the mask of values that fit."""
    kc = k[:, None]
    d = np.where(zero, 0, kc - kmin)
    dc = np.clip(d, 0, 18)
    fit = ok & (d >= 0) & (d <= 15) & (np.abs(m) <= _MANT_LIMIT[dc])
    mant = np.where(fit, m * _P10I[dc], 0)
    # Belt and braces: confirm the decode formula reproduces the bits.
    fit &= _from_decimal(mant, kc).view(_U64) == v.view(_U64)
    return mant, fit


def _from_decimal(mant: np.ndarray, k: np.ndarray | int) -> np.ndarray:
    """``mant / 10**k`` (``mant * 10**-k`` for negative k), correctly rounded float64."""
    pw = _P10F[np.abs(k)]
    with np.errstate(all="ignore"):
        return np.where(np.asarray(k) >= 0, mant / pw, mant * pw)


def _ffill(mant: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Replace non-fitting slots by the previous fitting mantissa (the first one at the start)."""
    if fit.all():
        return mant
    n = mant.shape[1]
    idx = np.where(fit, np.arange(n), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    np.maximum(idx, np.argmax(fit, axis=1)[:, None], out=idx)
    return np.take_along_axis(mant, idx, axis=1)


def _delta_bits(mant: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Rough size in bits of each row's mantissas (delta coded) plus its exceptions."""
    n = mant.shape[1]
    nexc = n - np.count_nonzero(fit, axis=1)
    return _bitlen(_zigzag(np.diff(_ffill(mant, fit), axis=1))).sum(axis=1) + nexc * 72


def _strip_common_zeros(m: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide rows of integer mantissas by the largest common power of ten (lowering ``k``)."""
    cand = (m % 10 == 0).all(axis=1) & m.any(axis=1)
    if not cand.any():
        return m, k
    m = m.copy()
    k = k.copy()
    rows = np.flatnonzero(cand)
    sub, ks = m[rows], k[rows]
    for p in (8, 4, 2, 1):
        can = (sub % _P10I[p] == 0).all(axis=1) & (ks - p >= -_MAX_SCALE)
        sub = np.where(can[:, None], sub // _P10I[p], sub)
        ks = ks - can * p
    m[rows], k[rows] = sub, ks
    return m, k


def _values_raw(v: np.ndarray) -> list[bytes]:
    """Raw-mode value blocks: bits XOR previous bits, split into byte planes."""
    g, n = v.shape
    bits = v.view(_U64).astype("<u8")
    x = bits.copy()
    x[:, 1:] ^= bits[:, :-1]
    planes = x.view(np.uint8).reshape(g, n, 8).transpose(0, 2, 1)
    present: np.ndarray = np.asarray(planes.any(axis=2))
    masks = (present * (1 << np.arange(8))).sum(axis=1).tolist()
    return [bytes((VAL_RAW, masks[r])) + planes[r][present[r]].tobytes() for r in range(g)]


def _values_encode(v: np.ndarray, ts: np.ndarray | None = None) -> tuple[list[bytes], list[bytes]]:
    """Encode each row of float64 ``v`` (rows, n >= 1) as a value block.

    Rows of ``ts`` (int64, same length), if given, are encoded as sequences in
    the same pass (one batch of numpy work); returns ``(value_blocks, ts_seqs)``.
    """
    k, n = v.shape
    bits = v.view(_U64)
    with np.errstate(all="ignore"):
        isint = (np.rint(v) == v) & (np.abs(v) <= _MAX_MANT) & (bits != _NEG_ZERO)
    introw = isint.all(axis=1)
    scale = np.zeros(k, dtype=np.int64)
    mant = np.zeros((k, n), dtype=np.int64)
    fit = np.ones((k, n), dtype=bool)
    raw = np.zeros(k, dtype=bool)
    rows = np.flatnonzero(introw)
    if len(rows):
        # Integer rows (counters, most gauges): no per-value analysis needed.
        m, ks = _strip_common_zeros(v[rows].astype(np.int64), scale[rows])
        mant[rows], scale[rows] = m, ks
    rows = np.flatnonzero(~introw)
    if len(rows):
        sv = v[rows]
        ok, zero, m, kmin = _decimal_analyse(sv)
        sraw = np.count_nonzero(ok, axis=1) * 2 < n
        raw[rows] = sraw
        km = np.where(ok & ~zero, kmin, -_NO_SCALE)
        k1 = km.max(axis=1)
        k1 = np.where(k1 == -_NO_SCALE, 0, k1)
        m1, f1 = _decimal_at(sv, ok, zero, m, kmin, k1)
        # A lower scale that leaves a few (expensive) values as exceptions may win.
        allowed = n // 32
        if allowed:
            p = n - 1 - allowed
            k2 = np.partition(km, p, axis=1)[:, p]
            alt = np.flatnonzero((k2 < k1) & (k2 > -_NO_SCALE) & ~sraw)
            if len(alt):
                m2, f2 = _decimal_at(sv[alt], ok[alt], zero[alt], m[alt], kmin[alt], k2[alt])
                better = _delta_bits(m2, f2) < _delta_bits(m1[alt], f1[alt])
                alt = alt[better]
                m1[alt], f1[alt], k1[alt] = m2[better], f2[better], k2[alt]
        mant[rows], fit[rows], scale[rows] = m1, f1, k1
    outs: list[bytes] = [b""] * k
    rows = np.flatnonzero(~raw)
    nts = 0 if ts is None else len(ts)
    todo = [] if ts is None else [ts]
    if len(rows):
        todo.append(_ffill(mant[rows], fit[rows]))
    allseqs = _seq_encode(np.concatenate(todo) if len(todo) > 1 else todo[0]) if todo else []
    tseqs, seqs = allseqs[:nts], allseqs[nts:]
    if len(rows):
        sfit = fit[rows]
        nexc = n - np.count_nonzero(sfit, axis=1)
        erows = np.flatnonzero(nexc)
        exc: dict[int, bytes] = {}
        if len(erows):
            ri, ci = np.nonzero(~sfit[erows])
            counts = nexc[erows]
            pbuf, pst = _pack_rows(ci.astype(_U64), counts, np.full(len(erows), _int_bitlen(n - 1)))
            rawv = v[rows[erows[ri]], ci].astype("<f8").tobytes()
            vst = np.zeros(len(erows) + 1, dtype=np.int64)
            np.cumsum(counts * 8, out=vst[1:])
            vs = vst.tolist()
            for i, r in enumerate(erows.tolist()):
                exc[r] = pbuf[pst[i] : pst[i + 1]] + rawv[vs[i] : vs[i + 1]]
        ks = scale[rows].tolist()
        ne = nexc.tolist()
        for i, r in enumerate(rows.tolist()):
            out = bytearray((VAL_DECIMAL,))
            put_varint(out, ks[i])
            out += seqs[i]
            put_uvarint(out, ne[i])
            if ne[i]:
                out += exc[i]
            outs[r] = bytes(out)
        # Many exceptions: raw bits may do better once compressed; compare.
        many = rows[nexc * 8 > n]
        if len(many):
            zc = _compressor()
            for r, rp in zip(many.tolist(), _values_raw(v[many]), strict=True):
                if len(zc.compress(rp)) < len(zc.compress(outs[r])):
                    outs[r] = rp
    rows = np.flatnonzero(raw)
    if len(rows):
        for r, rp in zip(rows.tolist(), _values_raw(v[rows]), strict=True):
            outs[r] = rp
    return outs, tseqs


def _values_read(buf: bytes | memoryview, pos: int, n: int) -> tuple[np.ndarray, int]:
    if pos >= len(buf):
        raise ChunkDecodeError("truncated values")
    mode = buf[pos]
    pos += 1
    if mode == VAL_DECIMAL:
        k, pos = get_varint(buf, pos)
        if abs(k) > _MAX_SCALE:
            raise ChunkDecodeError(f"bad decimal scale {k}")
        mant, pos = _seq_read(buf, pos, n)
        v = mant.astype(np.float64)
        if k > 0:
            v /= _P10F[k]
        elif k < 0:
            v *= _P10F[-k]
        e, pos = get_uvarint(buf, pos)
        if e:
            if e > n:
                raise ChunkDecodeError("more exceptions than values")
            idx, pos = _unpack(buf, pos, e, _int_bitlen(n - 1))
            if pos + 8 * e > len(buf):
                raise ChunkDecodeError("truncated exceptions")
            if int(idx.max()) >= n:
                raise ChunkDecodeError("exception position out of range")
            v.view(_U64)[idx.astype(np.int64)] = np.frombuffer(buf, dtype="<u8", count=e, offset=pos)
            pos += 8 * e
        return v, pos
    if mode == VAL_RAW:
        if pos >= len(buf):
            raise ChunkDecodeError("truncated values")
        mask = buf[pos]
        pos += 1
        planes = np.zeros((n, 8), dtype=np.uint8)
        present = [j for j in range(8) if mask >> j & 1]
        if present:
            cnt = len(present) * n
            if pos + cnt > len(buf):
                raise ChunkDecodeError("truncated raw values")
            planes[:, present] = np.frombuffer(buf, dtype=np.uint8, count=cnt, offset=pos).reshape(-1, n).T
            pos += cnt
        x = planes.view("<u8").reshape(n)
        return np.bitwise_xor.accumulate(x).astype(_U64).view(np.float64), pos
    raise ChunkDecodeError(f"unknown value mode {mode}")


# ----------------------------------------------------------------------------- chunks

_tls = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_tls, "c", None)
    if c is None:
        c = _tls.c = zstandard.ZstdCompressor(
            level=_ZSTD_LEVEL, write_content_size=False, write_checksum=False, write_dict_id=False
        )
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_tls, "d", None)
    if d is None:
        d = _tls.d = zstandard.ZstdDecompressor()
    return d


def encode_batch(
    ts: np.ndarray | None, vals: np.ndarray, ts_refs: Sequence[int] | None = None
) -> list[bytes]:
    """Encode each row of ``ts`` (rows, n) int64 / ``vals`` (rows, n) float64 as one chunk.

    With ``ts_refs`` (one per row) the chunks don't carry their timestamps but
    refer to a timestamp chunk (see :func:`encode_timestamps`) stored elsewhere
    under that ref; ``decode`` then needs a resolver.
    """
    vals = np.ascontiguousarray(vals, dtype=np.float64)
    k, n = vals.shape if vals.ndim == 2 else (0, -1)
    if n > MAX_SAMPLES:
        raise ValueError(f"chunks hold at most {MAX_SAMPLES} samples, got {n}")
    if ts_refs is None:
        if ts is None:
            raise ValueError("encode_batch needs ts or ts_refs")
        ts = np.ascontiguousarray(ts, dtype=np.int64)
        if ts.ndim != 2 or ts.shape != vals.shape:
            raise ValueError(f"encode_batch needs 2-D arrays of one shape, got {ts.shape} and {vals.shape}")
    elif vals.ndim != 2 or len(ts_refs) != k:
        raise ValueError("encode_batch needs 2-D vals and one ts ref per row")
    if n == 0:
        return [b"\x01\x00"] * k
    if ts_refs is None:
        with np.errstate(over="ignore"):
            vparts, tparts = _values_encode(vals, ts)
    else:
        vparts, _ = _values_encode(vals)
    zc = _compressor()
    zmin = max(_ZSTD_MIN, n)
    outs = []
    for r in range(k):
        head = bytearray((VERSION,))
        put_uvarint(head, n)
        if ts_refs is None:
            body = tparts[r] + vparts[r]
        else:
            head[0] |= FLAG_SHARED_TS
            put_uvarint(head, ts_refs[r])
            body = vparts[r]
        # Bit-packed residuals rarely compress further: try zstd on dense bodies only.
        if len(body) >= zmin:
            z = zc.compress(body)
            if len(z) + 3 < len(body):
                zh = bytearray(head)
                zh[0] |= FLAG_ZSTD
                put_uvarint(zh, len(body))
                if len(z) + len(zh) < len(head) + len(body):
                    outs.append(bytes(zh) + z)
                    continue
        outs.append(bytes(head) + body)
    return outs


def encode_timestamps(ts: np.ndarray) -> list[bytes]:
    """Encode each row of int64 ``ts`` (rows, n) as a timestamp-only chunk.

    Many series scraped together share their timestamps: a block stores them
    once and its chunks refer to them (``encode_batch(..., ts_refs=...)``).
    """
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    k, n = ts.shape
    if n > MAX_SAMPLES:
        raise ValueError(f"chunks hold at most {MAX_SAMPLES} samples, got {n}")
    head = bytearray((VERSION | FLAG_TS_ONLY,))
    put_uvarint(head, n)
    if n == 0:
        return [bytes(head)] * k
    with np.errstate(over="ignore"):
        return [bytes(head) + s for s in _seq_encode(ts)]


def encode(ts: np.ndarray, vals: np.ndarray) -> bytes:
    """Encode one chunk. ``ts`` int64 (normally increasing), ``vals`` float64, same length.

    Every timestamp and every float bit pattern round-trips exactly.
    """
    ts = np.asarray(ts, dtype=np.int64)
    vals = np.asarray(vals, dtype=np.float64)
    if ts.shape != vals.shape or ts.ndim != 1:
        raise ValueError(f"ts and vals must be 1-D of one length, got {ts.shape} and {vals.shape}")
    return encode_batch(ts[None, :], vals[None, :])[0]


def encode_many(
    chunks: Sequence[tuple[np.ndarray, np.ndarray]], ts_refs: Sequence[int] | None = None
) -> list[bytes]:
    """Encode many chunks, batching those of equal length into 2-D numpy work.

    With ``ts_refs`` (one per chunk) the chunks refer to shared timestamp chunks
    instead of carrying their timestamps (see :func:`encode_batch`).
    """
    out: list[bytes] = [b""] * len(chunks)
    groups: dict[int, list[int]] = {}
    for i, (t, _) in enumerate(chunks):
        groups.setdefault(len(t), []).append(i)
    for n, idx in groups.items():
        step = max(1, _BATCH_SAMPLES // max(n, 1))
        for s in range(0, len(idx), step):
            part = idx[s : s + step]
            vs = np.stack([np.asarray(chunks[i][1], dtype=np.float64) for i in part])
            if ts_refs is None:
                ts = np.stack([np.asarray(chunks[i][0], dtype=np.int64) for i in part])
                enc = encode_batch(ts, vs)
            else:
                enc = encode_batch(None, vs, [ts_refs[i] for i in part])
            for i, b in zip(part, enc, strict=True):
                out[i] = b
    return out


class _Header(NamedTuple):
    flags: int
    n: int
    ts_ref: int
    rawlen: int
    pos: int


def _header(buf: bytes | memoryview) -> _Header:
    if len(buf) < 2:
        raise ChunkDecodeError("chunk too short")
    flags = buf[0]
    if flags & _VERSION_MASK != VERSION:
        raise ChunkDecodeError(f"unknown chunk version {flags & _VERSION_MASK}")
    n, pos = get_uvarint(buf, 1)
    if n > MAX_SAMPLES:
        raise ChunkDecodeError(f"chunk claims {n} samples (more than {MAX_SAMPLES})")
    ts_ref = rawlen = -1
    if flags & FLAG_SHARED_TS:
        ts_ref, pos = get_uvarint(buf, pos)
    if flags & FLAG_ZSTD:
        rawlen, pos = get_uvarint(buf, pos)
        if rawlen > 64 * MAX_SAMPLES:
            raise ChunkDecodeError(f"chunk claims a {rawlen}-byte body")
    return _Header(flags, n, ts_ref, rawlen, pos)


def num_samples(buf: bytes | memoryview) -> int:
    """Sample count of an encoded chunk, from its header only."""
    return _header(buf).n


def shared_ts_ref(buf: bytes | memoryview) -> int | None:
    """The timestamp-chunk ref a chunk refers to, or None if it carries its own timestamps."""
    h = _header(buf)
    return h.ts_ref if h.flags & FLAG_SHARED_TS else None


def _body(buf: bytes | memoryview, h: _Header) -> tuple[bytes | memoryview, int]:
    if not h.flags & FLAG_ZSTD:
        return buf, h.pos
    try:
        body = _decompressor().decompress(bytes(buf[h.pos :]), max_output_size=h.rawlen)
    except (zstandard.ZstdError, MemoryError) as e:  # a corrupt frame may claim a huge size
        raise ChunkDecodeError(f"zstd: {e}") from None
    if len(body) != h.rawlen:
        raise ChunkDecodeError("decompressed length mismatch")
    return body, 0


def decode(
    buf: bytes | memoryview, resolve_ts: Callable[[int], np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one chunk into ``(ts int64, vals float64)``.

    ``vals`` is a fresh array. For a chunk with shared timestamps,
    ``resolve_ts(ref)`` supplies them (the returned array is passed through,
    so it may be shared and read-only).
    """
    h = _header(buf)
    if h.flags & FLAG_TS_ONLY:
        raise ChunkDecodeError("timestamp-only chunk: use decode_timestamps")
    if h.n == 0:
        if h.pos != len(buf):
            raise ChunkDecodeError("trailing bytes in empty chunk")
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    body, pos = _body(buf, h)
    try:
        if h.flags & FLAG_SHARED_TS:
            if resolve_ts is None:
                raise ChunkDecodeError(
                    f"chunk refers to shared timestamps {h.ts_ref} but no resolver was given"
                )
            ts = resolve_ts(h.ts_ref)
            if len(ts) != h.n:
                raise ChunkDecodeError(
                    f"shared timestamps {h.ts_ref} hold {len(ts)} samples, chunk has {h.n}"
                )
        else:
            ts, pos = _seq_read(body, pos, h.n)
        vals, pos = _values_read(body, pos, h.n)
    except ChunkDecodeError:
        raise
    except (IndexError, ValueError, OverflowError) as e:
        raise ChunkDecodeError(f"malformed chunk: {e}") from None
    if pos != len(body):
        raise ChunkDecodeError(f"{len(body) - pos} trailing bytes in chunk")
    return ts, vals


def decode_timestamps(buf: bytes | memoryview) -> np.ndarray:
    """Decode a timestamp-only chunk (from :func:`encode_timestamps`)."""
    h = _header(buf)
    if not h.flags & FLAG_TS_ONLY:
        raise ChunkDecodeError("not a timestamp-only chunk")
    if h.n == 0:
        return np.empty(0, dtype=np.int64)
    body, pos = _body(buf, h)
    try:
        ts, pos = _seq_read(body, pos, h.n)
    except ChunkDecodeError:
        raise
    except (IndexError, ValueError, OverflowError) as e:
        raise ChunkDecodeError(f"malformed timestamp chunk: {e}") from None
    if pos != len(body):
        raise ChunkDecodeError(f"{len(body) - pos} trailing bytes in timestamp chunk")
    return ts


# ----------------------------------------------------------------------------- batched decoding


class _SeqJob(NamedTuple):
    """A parsed sequence header: where its packed residuals live in ``buf``."""

    buf: bytes | memoryview
    kind: int
    use_for: bool
    x0: int
    base: int
    ref: int
    w: int
    e: int
    hw: int
    lows: int  # byte offset of the low bits
    exc: int  # byte offset of the exception positions


def _parse_seq(buf: bytes | memoryview, pos: int, n: int) -> tuple[_SeqJob, int]:
    """Parse a sequence header (no numpy) and skip over its packed data."""
    kind = buf[pos]
    pos += 1
    use_for = bool(kind & SEQ_FOR)
    kind &= ~SEQ_FOR
    if kind > SEQ_LINEAR:
        raise ChunkDecodeError(f"unknown sequence kind {kind}")
    x0, pos = get_varint(buf, pos)
    base = ref = w = e = hw = 0
    lows = exc = pos
    if n > 1:
        if kind != SEQ_OFFSET:
            base, pos = get_varint(buf, pos)
        if use_for:
            ref, pos = get_varint(buf, pos)
        w = buf[pos]
        e, pos = get_uvarint(buf, pos + 1)
        if w > 64 or e > n - 1:
            raise ChunkDecodeError("bad packed block header")
        if e:
            hw = buf[pos]
            pos += 1
            if hw == 0 or w + hw > 64:
                raise ChunkDecodeError(f"bad exception width {hw}")
        lows = pos
        exc = pos = pos + (((n - 1) * w + 7) >> 3)
        if e:
            pos += ((e * _int_bitlen(n - 2) + 7) >> 3) + ((e * hw + 7) >> 3)
        if pos > len(buf):
            raise ChunkDecodeError("truncated packed block")
    return _SeqJob(buf, kind, use_for, x0, base, ref, w, e, hw, lows, exc), pos


def _unpack2d(rows: np.ndarray, c: int, w: int) -> np.ndarray:
    """Inverse of :func:`_pack2d` for a (g, ceil(c*w/8)) uint8 matrix."""
    g = rows.shape[0]
    if w == 0:
        return np.zeros((g, c), dtype=_U64)
    if w in (8, 16, 32, 64):
        return rows.view(f"<u{w // 8}").astype(_U64)
    word, shift, _, strad, back, nw = _layout(c, w)
    padded = np.zeros((g, nw * 8), dtype=np.uint8)
    padded[:, : rows.shape[1]] = rows
    words = padded.view("<u8").astype(_U64)
    v = words[:, word] >> shift
    if len(strad):
        v[:, strad] |= words[:, word[strad] + 1] << back
    v &= _U64((1 << w) - 1)
    return v


def _unpack_rows(blobs: list[bytes], counts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_pack_rows`: ``counts[r]`` values of ``widths[r]`` bits from each blob."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=_U64)
    bits = np.unpackbits(np.frombuffer(b"".join(blobs), dtype=np.uint8), bitorder="little")
    nbytes = (counts * widths + 7) >> 3
    start = (np.cumsum(nbytes) - nbytes) * 8
    row = np.repeat(np.arange(len(counts)), counts)
    j = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    wrow = widths[row]
    maxw = int(widths.max())
    jj = np.arange(maxw)
    valid = jj < wrow[:, None]
    idx = np.where(valid, (start[row] + j * wrow)[:, None] + jj, 0)
    b = bits[idx].astype(_U64) * valid
    return (b << jj.astype(_U64)).sum(axis=1, dtype=_U64)


def _decode_seqs(jobs: list[_SeqJob], n: int) -> np.ndarray:
    """Decode parsed sequences of one length ``n`` into a (len(jobs), n) int64 matrix."""
    k = len(jobs)
    x = np.empty((k, n), dtype=np.int64)
    x[:, 0] = [j.x0 for j in jobs]
    if n == 1:
        return x
    c = n - 1
    u = np.empty((k, c), dtype=_U64)
    groups: dict[int, list[int]] = {}
    for i, j in enumerate(jobs):
        groups.setdefault(j.w, []).append(i)
    nbytes_of = {w: (c * w + 7) >> 3 for w in groups}
    for w, idx in groups.items():
        nb = nbytes_of[w]
        if nb:
            raw = b"".join(bytes(jobs[i].buf[jobs[i].lows : jobs[i].lows + nb]) for i in idx)
            u[idx] = _unpack2d(np.frombuffer(raw, dtype=np.uint8).reshape(len(idx), nb), c, w)
        else:
            u[idx] = 0
    erows = [i for i, j in enumerate(jobs) if j.e]
    if erows:
        pw = _int_bitlen(c - 1)
        counts = np.array([jobs[i].e for i in erows], dtype=np.int64)
        hws = np.array([jobs[i].hw for i in erows], dtype=np.int64)
        pblobs, hblobs = [], []
        for i in erows:
            j = jobs[i]
            a = j.exc + ((j.e * pw + 7) >> 3)
            pblobs.append(bytes(j.buf[j.exc : a]))
            hblobs.append(bytes(j.buf[a : a + ((j.e * j.hw + 7) >> 3)]))
        where = _unpack_rows(pblobs, counts, np.full(len(erows), pw)).astype(np.int64)
        highs = _unpack_rows(hblobs, counts, hws)
        if len(where) and int(where.max()) >= c:
            raise ChunkDecodeError("exception position out of range")
        lw = np.array([jobs[i].w for i in erows], dtype=_U64)
        u[np.repeat(np.array(erows), counts), where] |= highs << np.repeat(lw, counts)
    use_for = np.array([j.use_for for j in jobs])
    r = _unzigzag(u)
    if use_for.any():
        refs = np.array([j.ref for j in jobs], dtype=np.int64)[:, None]
        r = np.where(use_for[:, None], u.view(np.int64) + refs, r)
    kinds = np.array([j.kind for j in jobs])
    base = np.array([j.base for j in jobs], dtype=np.int64)[:, None]
    for kind in np.unique(kinds).tolist():
        rows: np.ndarray | slice = slice(None)
        if len(kinds) > 1 and not (kinds == kind).all():
            rows = np.flatnonzero(kinds == kind)
        rr = r[rows]
        if kind == SEQ_OFFSET:
            x[rows, 1:] = rr + x[rows, :1]
        elif kind == SEQ_DELTA:
            x[rows, 1:] = np.cumsum(rr + base[rows], axis=1) + x[rows, :1]
        elif kind == SEQ_DOD:
            x[rows, 1:] = np.cumsum(np.cumsum(rr, axis=1) + base[rows], axis=1) + x[rows, :1]
        else:
            x[rows, 1:] = rr + x[rows, :1] + np.arange(1, n, dtype=np.int64) * base[rows]
    return x


def decode_batch(
    bufs: Sequence[bytes | memoryview], resolve_ts: Callable[[int], np.ndarray] | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Decode many chunks at once (same results as :func:`decode` on each).

    Headers are parsed per chunk; the bit unpacking and sequence reconstruction
    run as 2-D numpy work over chunks of equal length. Returned arrays may be
    views of shared batch matrices (or shared, read-only timestamp arrays).
    """
    try:
        return _decode_batch(bufs, resolve_ts)
    except Exception:
        # Find the offending chunk and report it exactly as decode() does.
        return [decode(b, resolve_ts) for b in bufs]


def _decode_batch(
    bufs: Sequence[bytes | memoryview], resolve_ts: Callable[[int], np.ndarray] | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(bufs)
    # n -> [(chunk index, ts job | None, ts array | None, value job, scale, exc (pos, count) | None)]
    plan: dict[int, list[tuple[int, _SeqJob | None, np.ndarray | None, _SeqJob, int, tuple[int, int]]]] = {}
    for i, buf in enumerate(bufs):
        h = _header(buf)
        if h.flags & FLAG_TS_ONLY:
            raise ChunkDecodeError("timestamp-only chunk: use decode_timestamps")
        if h.n == 0:
            out[i] = decode(buf)
            continue
        body, pos = _body(buf, h)
        tjob: _SeqJob | None = None
        ts: np.ndarray | None = None
        if h.flags & FLAG_SHARED_TS:
            if resolve_ts is None:
                raise ChunkDecodeError("chunk refers to shared timestamps but no resolver was given")
            ts = resolve_ts(h.ts_ref)
            if len(ts) != h.n:
                raise ChunkDecodeError("shared timestamps of the wrong length")
        else:
            tjob, pos = _parse_seq(body, pos, h.n)
        if body[pos] != VAL_DECIMAL:
            out[i] = decode(buf, resolve_ts)  # raw values: rare, decode alone
            continue
        k, pos = get_varint(body, pos + 1)
        if abs(k) > _MAX_SCALE:
            raise ChunkDecodeError(f"bad decimal scale {k}")
        vjob, pos = _parse_seq(body, pos, h.n)
        e, pos = get_uvarint(body, pos)
        end = pos + ((e * _int_bitlen(h.n - 1) + 7) >> 3) + 8 * e
        if end != len(body) or e > h.n:
            raise ChunkDecodeError("malformed chunk")
        plan.setdefault(h.n, []).append((i, tjob, ts, vjob, k, (pos, e)))
    for n, all_items in plan.items():
        step = max(1, _DECODE_BATCH_SAMPLES // n)
        for s0 in range(0, len(all_items), step):
            _decode_group(all_items[s0 : s0 + step], n, out)
    return out  # type: ignore[return-value]


def _decode_group(
    items: list[tuple[int, _SeqJob | None, np.ndarray | None, _SeqJob, int, tuple[int, int]]],
    n: int,
    out: list[tuple[np.ndarray, np.ndarray] | None],
) -> None:
    tjobs = [(row, it[1]) for row, it in enumerate(items) if it[1] is not None]
    tmat = _decode_seqs([j for _, j in tjobs], n) if tjobs else None
    trow = {row: r for r, (row, _) in enumerate(tjobs)}
    mant = _decode_seqs([it[3] for it in items], n)
    vals = mant.astype(np.float64)
    scale = np.array([it[4] for it in items])
    pos_rows = np.flatnonzero(scale > 0)
    if len(pos_rows):
        vals[pos_rows] /= _P10F[scale[pos_rows]][:, None]
    neg_rows = np.flatnonzero(scale < 0)
    if len(neg_rows):
        vals[neg_rows] *= _P10F[-scale[neg_rows]][:, None]
    erows = [row for row, it in enumerate(items) if it[5][1]]
    if erows:
        pw = _int_bitlen(n - 1)
        counts = np.array([items[r][5][1] for r in erows], dtype=np.int64)
        pblobs, vblobs = [], []
        for r in erows:
            body, (p, e) = items[r][3].buf, items[r][5]
            a = p + ((e * pw + 7) >> 3)
            pblobs.append(bytes(body[p:a]))
            vblobs.append(bytes(body[a : a + 8 * e]))
        where = _unpack_rows(pblobs, counts, np.full(len(erows), pw)).astype(np.int64)
        if len(where) and int(where.max()) >= n:
            raise ChunkDecodeError("exception position out of range")
        raw = np.frombuffer(b"".join(vblobs), dtype="<u8")
        vals.view(_U64)[np.repeat(np.array(erows), counts), where] = raw
    for row, (i, _, ts, _, _, _) in enumerate(items):
        t = ts if ts is not None else tmat[trow[row]]  # type: ignore[index]
        out[i] = (t, vals[row])


def decode_many(bufs: Sequence[bytes | memoryview]) -> tuple[np.ndarray, np.ndarray]:
    """Decode consecutive chunks of one series and concatenate them."""
    if not bufs:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    if len(bufs) == 1:
        return decode(bufs[0])
    parts = [decode(b) for b in bufs]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def chunk_splits(n: int, max_samples: int) -> np.ndarray:
    """Boundaries cutting ``n`` samples into equal-sized chunks of at most ``max_samples``.

    Returns ``k + 1`` offsets ``[0, ..., n]`` (``[0]`` for ``n == 0``).
    """
    if max_samples <= 0:
        raise ValueError("max_samples must be positive")
    if 0 < n <= max_samples:
        return np.array([0, n], dtype=np.int64)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    k = -(-n // max_samples)
    return (np.arange(k + 1, dtype=np.int64) * n) // k
