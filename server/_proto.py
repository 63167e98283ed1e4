"""Protobuf wire codec for remote write 1.0 and remote read (``prompb``), vectorized.

Hand-written against the wire format rather than generated classes so that
samples never become Python objects: a ``WriteRequest`` decodes into a list of
label sets plus ``int64``/``float64`` numpy arrays, and encodes from the same.

* Per series, Python walks the tags of the ``TimeSeries`` message and decodes
  the labels (cached by their raw bytes: the same series arrives in every
  request). The runs of ``Sample`` sub-messages are located for all series at
  once (a vectorized walk, plus a fixed-stride fast path for long runs) and
  their fields decoded with numpy gathers.
* Anything unusual (exemplars, histograms, fields out of the usual order,
  unknown fields, truncated input) goes through a careful generic decoder that
  gives the same result or a :class:`ProtoError` naming the problem.

Messages (from ``prompb/types.proto`` and ``remote.proto``)::

    WriteRequest { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
    TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2;
                   repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
    Label        { string name = 1; string value = 2; }
    Sample       { double value = 1; int64 timestamp = 2; }
    ReadRequest  { repeated Query queries = 1; repeated ResponseType accepted_response_types = 2; }
    Query        { int64 start_timestamp_ms = 1; int64 end_timestamp_ms = 2;
                   repeated LabelMatcher matchers = 3; ReadHints hints = 4; }
    LabelMatcher { Type type = 1; string name = 2; string value = 3; }   // EQ, NEQ, RE, NRE
    ReadResponse { repeated QueryResult results = 1; }
    QueryResult  { repeated TimeSeries timeseries = 1; }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tsdb.labels import Labels

__all__ = [
    "ProtoError",
    "ReadQuery",
    "WriteBatch",
    "decode_read_request",
    "decode_write_request",
    "encode_read_request",
    "encode_read_response",
    "encode_write_request",
]


class ProtoError(ValueError):
    """A malformed protobuf message."""


@dataclass
class WriteBatch:
    """A decoded ``WriteRequest``: ``labels[series[i]]`` owns sample ``(ts[i], vals[i])``.

    ``errors`` lists series skipped for invalid labels (empty name, duplicate name…).
    """

    labels: list[Labels]
    series: np.ndarray  # int64 index into ``labels`` per sample
    ts: np.ndarray
    vals: np.ndarray
    errors: list[str] = field(default_factory=list)
    histograms: int = 0
    exemplars: int = 0

    def __len__(self) -> int:
        return len(self.ts)


# =========================================================================== varints


def _uvarint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    b = buf[pos] if pos < end else -1
    if 0 <= b < 0x80:
        return b, pos + 1
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise ProtoError("unexpected EOF")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise ProtoError("proto: integer overflow")


def _to_int64(u: int) -> int:
    return u - (1 << 64) if u >= 1 << 63 else u


def _skip(buf: bytes, pos: int, end: int, wire: int) -> int:
    if wire == 0:
        _, pos = _uvarint(buf, pos, end)
    elif wire == 1:
        pos += 8
    elif wire == 2:
        n, pos = _uvarint(buf, pos, end)
        pos += n
    elif wire == 5:
        pos += 4
    else:
        raise ProtoError(f"proto: illegal wireType {wire}")
    if pos > end:
        raise ProtoError("unexpected EOF")
    return pos


def _enc_uvarint(v: int) -> bytes:
    v &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


# =========================================================================== labels

_LABEL_CACHE: dict[bytes, Labels | str] = {}
_LABEL_CACHE_MAX = 1 << 20


def _decode_labels(buf: bytes, spans: list[tuple[int, int]]) -> Labels | str:
    """Labels from ``Label`` sub-message spans; an error string for invalid label sets."""
    pairs: list[tuple[str, str]] = []
    for start, end in spans:
        name = value = b""
        p = start
        while p < end:
            tag = buf[p]
            p += 1
            if tag == 0x0A or tag == 0x12:
                n, p = _uvarint(buf, p, end)
                if p + n > end:
                    raise ProtoError("unexpected EOF")
                if tag == 0x0A:
                    name = buf[p : p + n]
                else:
                    value = buf[p : p + n]
                p += n
            else:
                if tag & 7 == 4 or tag & 7 == 3 or tag == 0:
                    raise ProtoError(f"proto: Label: illegal tag {tag >> 3} (wire type {tag & 7})")
                p = _skip(buf, p, end, tag & 7)
        try:
            pairs.append((name.decode(), value.decode()))
        except UnicodeDecodeError:
            return "invalid UTF-8 in label"
    names = [k for k, _ in pairs]
    if any(not k for k in names):
        return "invalid label name: empty"
    if len(set(names)) != len(names):
        dup = next(k for k in names if names.count(k) > 1)
        return f"duplicate label with name: {dup}"
    if not any(k == "__name__" and v for k, v in pairs):
        return "invalid metric name: series without __name__"
    return Labels.from_pairs(pairs)


# =========================================================================== write request


def decode_write_request(buf: bytes) -> WriteBatch:
    """Decode a (decompressed) ``WriteRequest``.

    Raises :class:`ProtoError` for malformed input.
    """
    try:
        return _decode_write_fast(buf)
    except _Fallback:
        return _decode_write_slow(buf)
    except IndexError:
        raise ProtoError("unexpected EOF") from None


class _Fallback(Exception):
    pass


def _decode_write_fast(buf: bytes) -> WriteBatch:
    n = len(buf)
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    # Top level: the TimeSeries records (metadata skipped; anything else -> slow path).
    while pos < n:
        tag = buf[pos]
        if tag == 0x0A:
            b1 = buf[pos + 1]
            if b1 < 0x80:
                ln = b1
                pos += 2
            else:
                ln, pos = _uvarint(buf, pos + 1, n)
            starts.append(pos)
            pos += ln
            ends.append(pos)
        elif tag == 0x1A:  # metadata: not stored
            ln, pos = _uvarint(buf, pos + 1, n)
            pos += ln
        else:
            raise _Fallback
    if pos > n:
        raise ProtoError("unexpected EOF")
    if not starts:
        return _batch([], [], [], [], [])
    b = np.frombuffer(buf, dtype=np.uint8)
    st = np.array(starts, dtype=np.int64)
    en = np.array(ends, dtype=np.int64)
    lend = _label_ends(b, st, en)
    # Labels per series, cached by their raw bytes (the same series come in every request).
    cache = _LABEL_CACHE
    labels: list[Labels] = []
    errors: list[str] = []
    for s0, s1 in zip(starts, lend.tolist(), strict=True):
        key = buf[s0:s1]
        ls = cache.get(key)
        if ls is None:
            spans = []
            q = s0
            while q < s1:
                ll, q = _uvarint(buf, q + 1, s1)
                spans.append((q, q + ll))
                q += ll
            ls = _decode_labels(buf, spans)
            if len(cache) >= _LABEL_CACHE_MAX:
                cache.clear()
            cache[key] = ls
        if isinstance(ls, str):
            errors.append(ls)
            labels.append(_NO_LABELS)
        else:
            labels.append(ls)
    has = np.flatnonzero(lend < en)
    if not len(has):
        return _batch(labels, [], [], [], errors)
    offs, sids = _sample_offsets(b, lend[has], en[has], has.astype(np.int64))
    ts, vals = _decode_samples(b, offs)
    return _batch(labels, [sids], [ts], [vals], errors)


_NO_LABELS = Labels(())


def _label_ends(b: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Where each series' leading run of ``Label`` records ends (vectorized over series)."""
    bp = np.concatenate([b, np.zeros(4, dtype=np.uint8)])
    pos = starts.copy()
    out = ends.copy()
    active = np.arange(len(starts))
    while len(active):
        p = pos[active]
        e = ends[active]
        is_label = (p < e) & (bp[p] == 0x0A)
        ln = bp[p + 1].astype(np.int64)
        hdr = np.full(len(p), 2, dtype=np.int64)
        two = is_label & (ln >= 0x80)
        if two.any():
            hi = bp[p[two] + 2].astype(np.int64)
            if (hi >= 0x80).any():
                raise _Fallback  # labels of 16 KiB and more
            ln[two] = (ln[two] & 0x7F) | (hi << 7)
            hdr[two] = 3
        done = ~is_label
        out[active[done]] = p[done]
        nxt = p + hdr + ln
        if (nxt[is_label] > e[is_label]).any():
            raise ProtoError("unexpected EOF")
        pos[active[is_label]] = nxt[is_label]
        active = active[is_label]
    return out


def _batch(
    labels: list[Labels],
    sids: list[np.ndarray],
    ts: list[np.ndarray],
    vals: list[np.ndarray],
    errors: list[str],
) -> WriteBatch:
    def cat(parts: list[np.ndarray], dt: type) -> np.ndarray:
        return np.concatenate(parts).astype(dt, copy=False) if parts else np.zeros(0, dtype=dt)

    return WriteBatch(labels, cat(sids, np.int64), cat(ts, np.int64), cat(vals, np.float64), errors)


def _sample_offsets(
    b: np.ndarray, starts: np.ndarray, ends: np.ndarray, series: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of every ``Sample`` record (its 0x12 tag) in the runs ``[starts, ends)``."""
    out_o: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    # Long runs of equal-length records (the common case for backfills): stride check.
    long = np.flatnonzero(ends - starts > 256)
    handled = np.zeros(len(starts), dtype=bool)
    for i in long.tolist():
        s, e = int(starts[i]), int(ends[i])
        stride = 2 + int(b[s + 1])
        if b[s + 1] >= 0x80 or (e - s) % stride:
            continue
        o = np.arange(s, e, stride, dtype=np.int64)
        if (b[o] == 0x12).all() and (b[o + 1] == b[s + 1]).all():
            out_o.append(o)
            out_s.append(np.full(len(o), series[i], dtype=np.int64))
            handled[i] = True
    pos = starts[~handled].copy()
    end = ends[~handled]
    sid = series[~handled]
    while len(pos):
        if (b[pos] != 0x12).any():
            raise _Fallback  # exemplars/histograms/other fields after samples
        ln = b[pos + 1].astype(np.int64)
        if (ln >= 0x80).any():
            raise _Fallback
        out_o.append(pos.copy())
        out_s.append(sid.copy())
        pos = pos + 2 + ln
        if (pos > end).any():
            raise ProtoError("unexpected EOF")
        more = pos < end
        pos, end, sid = pos[more], end[more], sid[more]
    o = np.concatenate(out_o)
    s_ = np.concatenate(out_s)
    order = np.argsort(o, kind="stable")
    return o[order], s_[order]


_W8 = np.arange(8, dtype=np.int64)
_W10 = np.arange(10, dtype=np.int64)


def _decode_samples(b: np.ndarray, offs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized decode of ``Sample`` messages whose records start at ``offs``."""
    n = len(offs)
    bp = np.concatenate([b, np.zeros(16, dtype=np.uint8)])  # padding for gathers
    cur = offs + 2
    pend = cur + b[offs + 1].astype(np.int64)
    vals = np.zeros(n, dtype=np.float64)
    ts = np.zeros(n, dtype=np.int64)
    for _ in range(3):
        act = np.flatnonzero(cur < pend)
        if not len(act):
            break
        c = cur[act]
        tag = bp[c]
        isv = tag == 0x09
        ist = tag == 0x10
        if not (isv | ist).all():
            raise _Fallback
        if isv.any():
            iv = act[isv]
            cv = c[isv]
            raw = bp[cv[:, None] + 1 + _W8]
            vals[iv] = np.ascontiguousarray(raw).view("<f8").ravel()
            cur[iv] = cv + 9
        if ist.any():
            it = act[ist]
            ct = c[ist]
            w = bp[ct[:, None] + 1 + _W10].astype(np.uint64)
            cont = w >= 0x80
            stop = ~cont
            if not stop.any(axis=1).all():
                raise ProtoError("proto: integer overflow")
            length = stop.argmax(axis=1) + 1
            keep = _W10[None, :] < length[:, None]
            shifts = (7 * _W10).astype(np.uint64)
            u = np.where(keep, (w & np.uint64(0x7F)) << shifts[None, :], np.uint64(0)).sum(
                axis=1, dtype=np.uint64
            )
            ts[it] = u.view(np.int64)
            cur[it] = ct + 1 + length
    if (cur != pend).any():
        raise _Fallback
    return ts, vals


def _decode_write_slow(buf: bytes) -> WriteBatch:
    """Generic decoder: any field order, unknown fields skipped, exemplars/histograms counted."""
    n = len(buf)
    labels: list[Labels] = []
    errors: list[str] = []
    sids: list[int] = []
    tss: list[int] = []
    vals_b: list[bytes] = []
    hist = ex = 0
    pos = 0
    while pos < n:
        key, pos = _uvarint(buf, pos, n)
        fnum, wire = key >> 3, key & 7
        if fnum == 0:
            raise ProtoError(f"proto: WriteRequest: illegal tag 0 (wire type {wire})")
        if fnum in (1, 3) and wire != 2:
            raise ProtoError(
                f"proto: wrong wireType = {wire} for field {'Timeseries' if fnum == 1 else 'Metadata'}"
            )
        if fnum != 1:
            pos = _skip(buf, pos, n, wire)
            continue
        ln, pos = _uvarint(buf, pos, n)
        end = pos + ln
        if end > n:
            raise ProtoError("unexpected EOF")
        spans: list[tuple[int, int]] = []
        samples: list[tuple[int, bytes]] = []
        p = pos
        while p < end:
            key, p = _uvarint(buf, p, end)
            f, w = key >> 3, key & 7
            if f == 0:
                raise ProtoError(f"proto: TimeSeries: illegal tag 0 (wire type {w})")
            if f in (1, 2, 3, 4) and w != 2:
                raise ProtoError(
                    f"proto: wrong wireType = {w} for field {('Labels', 'Samples', 'Exemplars', 'Histograms')[f - 1]}"
                )
            if f not in (1, 2, 3, 4):
                p = _skip(buf, p, end, w)
                continue
            ll, p = _uvarint(buf, p, end)
            if p + ll > end:
                raise ProtoError("unexpected EOF")
            if f == 1:
                spans.append((p, p + ll))
            elif f == 2:
                samples.append(_decode_sample(buf, p, p + ll))
            elif f == 3:
                ex += 1
            else:
                hist += 1
            p += ll
        ls = _decode_labels(buf, spans)
        if isinstance(ls, str):
            errors.append(ls)
            ls = Labels(())
        labels.append(ls)
        for t, v in samples:
            sids.append(len(labels) - 1)
            tss.append(t)
            vals_b.append(v)
        pos = end
    batch = WriteBatch(
        labels,
        np.array(sids, dtype=np.int64),
        np.array(tss, dtype=np.int64),
        np.frombuffer(b"".join(vals_b), dtype="<f8").astype(np.float64) if vals_b else np.zeros(0),
        errors,
    )
    batch.histograms, batch.exemplars = hist, ex
    return batch


_ZERO8 = bytes(8)


def _decode_sample(buf: bytes, p: int, end: int) -> tuple[int, bytes]:
    t = 0
    v = _ZERO8
    while p < end:
        key, p = _uvarint(buf, p, end)
        f, w = key >> 3, key & 7
        if f == 1:
            if w != 1:
                raise ProtoError(f"proto: wrong wireType = {w} for field Value")
            if p + 8 > end:
                raise ProtoError("unexpected EOF")
            v = bytes(buf[p : p + 8])
            p += 8
        elif f == 2:
            if w != 0:
                raise ProtoError(f"proto: wrong wireType = {w} for field Timestamp")
            u, p = _uvarint(buf, p, end)
            t = _to_int64(u)
        elif f == 0:
            raise ProtoError(f"proto: Sample: illegal tag 0 (wire type {w})")
        else:
            p = _skip(buf, p, end, w)
    return t, v


# --------------------------------------------------------------------------- encoding

_LABELS_ENC: dict[Labels, bytes] = {}


def _enc_string_field(tag: int, s: bytes) -> bytes:
    return bytes((tag,)) + _enc_uvarint(len(s)) + s


def encode_labels(labels: Labels) -> bytes:
    """The ``Label`` records of a ``TimeSeries`` (cached per label set)."""
    out = _LABELS_ENC.get(labels)
    if out is None:
        parts = []
        for k, v in labels.pairs:
            inner = _enc_string_field(0x0A, k.encode()) + _enc_string_field(0x12, v.encode())
            parts.append(b"\x0a" + _enc_uvarint(len(inner)) + inner)
        out = b"".join(parts)
        if len(_LABELS_ENC) > 200_000:
            _LABELS_ENC.clear()
        _LABELS_ENC[labels] = out
    return out


def encode_samples(ts: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Sample`` records for all samples as one uint8 array, plus each record's end offset."""
    n = len(ts)
    u = np.asarray(ts, dtype=np.int64).view(np.uint64)
    vlen = np.ones(n, dtype=np.int64)
    for k in range(1, 10):
        vlen += (u >> np.uint64(7 * k)) != 0
    rec = 2 + 1 + 8 + 1 + vlen  # tag, len, 0x09, 8 bytes, 0x10, varint
    ends = np.cumsum(rec)
    off = ends - rec
    out = np.zeros(int(ends[-1]) if n else 0, dtype=np.uint8)
    if not n:
        return out, ends
    out[off] = 0x12
    out[off + 1] = (rec - 2).astype(np.uint8)
    out[off + 2] = 0x09
    vb = np.ascontiguousarray(np.asarray(vals, dtype="<f8")).view(np.uint8).reshape(n, 8)
    out[off[:, None] + 3 + _W8] = vb
    out[off + 11] = 0x10
    for k in range(int(vlen.max())):
        m = vlen > k
        byte = ((u[m] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        byte |= np.where(vlen[m] > k + 1, 0x80, 0).astype(np.uint8)
        out[off[m] + 12 + k] = byte
    return out, ends


def encode_timeseries(
    labels: Sequence[Labels], series: np.ndarray, ts: np.ndarray, vals: np.ndarray, tag: int = 0x0A
) -> bytes:
    """``TimeSeries`` fields (with ``tag``) for samples grouped by ``series`` (indexes into ``labels``).

    Samples of one series must be contiguous and in time order.
    """
    parts: list[bytes] = []
    if len(ts):
        rec, ends = encode_samples(ts, vals)
        starts = ends - (ends - np.r_[0, ends[:-1]])
        change = np.flatnonzero(np.r_[True, series[1:] != series[:-1]])
        bounds = np.r_[change, len(series)]
        raw = rec.tobytes()
        st = starts.tolist()
        en = ends.tolist()
        for a, z in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            body = encode_labels(labels[int(series[a])]) + raw[st[a] : en[z - 1]]
            parts.append(bytes((tag,)) + _enc_uvarint(len(body)) + body)
    return b"".join(parts)


def encode_write_request(
    labels: Sequence[Labels], series: np.ndarray, ts: np.ndarray, vals: np.ndarray
) -> bytes:
    """A ``WriteRequest`` (uncompressed) for the given samples."""
    return encode_timeseries(labels, np.asarray(series, dtype=np.int64), ts, vals)


# =========================================================================== remote read

MATCH_TYPES = {0: "=", 1: "!=", 2: "=~", 3: "!~"}


@dataclass
class ReadQuery:
    start_ms: int
    end_ms: int
    matchers: list[tuple[str, str, str]]  # (op, name, value)
    hints: dict[str, int | str] = field(default_factory=dict)


def decode_read_request(buf: bytes) -> tuple[list[ReadQuery], list[int]]:
    """``(queries, accepted_response_types)`` of a ``ReadRequest``."""
    n = len(buf)
    queries: list[ReadQuery] = []
    types: list[int] = []
    pos = 0
    try:
        while pos < n:
            key, pos = _uvarint(buf, pos, n)
            f, w = key >> 3, key & 7
            if f == 1 and w == 2:
                ln, pos = _uvarint(buf, pos, n)
                if pos + ln > n:
                    raise ProtoError("unexpected EOF")
                queries.append(_decode_query(buf, pos, pos + ln))
                pos += ln
            elif f == 2 and w == 0:
                v, pos = _uvarint(buf, pos, n)
                types.append(v)
            elif f == 2 and w == 2:  # packed
                ln, pos = _uvarint(buf, pos, n)
                end = pos + ln
                while pos < end:
                    v, pos = _uvarint(buf, pos, end)
                    types.append(v)
            elif f == 0:
                raise ProtoError(f"proto: ReadRequest: illegal tag 0 (wire type {w})")
            else:
                pos = _skip(buf, pos, n, w)
    except IndexError:
        raise ProtoError("unexpected EOF") from None
    return queries, types


def _decode_query(buf: bytes, p: int, end: int) -> ReadQuery:
    q = ReadQuery(0, 0, [])
    while p < end:
        key, p = _uvarint(buf, p, end)
        f, w = key >> 3, key & 7
        if f in (1, 2) and w == 0:
            u, p = _uvarint(buf, p, end)
            if f == 1:
                q.start_ms = _to_int64(u)
            else:
                q.end_ms = _to_int64(u)
        elif f == 3 and w == 2:
            ln, p = _uvarint(buf, p, end)
            q.matchers.append(_decode_matcher(buf, p, p + ln))
            p += ln
        elif f == 4 and w == 2:
            ln, p = _uvarint(buf, p, end)
            q.hints = _decode_hints(buf, p, p + ln)
            p += ln
        elif f == 0:
            raise ProtoError(f"proto: Query: illegal tag 0 (wire type {w})")
        else:
            p = _skip(buf, p, end, w)
    return q


def _decode_matcher(buf: bytes, p: int, end: int) -> tuple[str, str, str]:
    typ, name, value = 0, "", ""
    while p < end:
        key, p = _uvarint(buf, p, end)
        f, w = key >> 3, key & 7
        if f == 1 and w == 0:
            typ, p = _uvarint(buf, p, end)
        elif f in (2, 3) and w == 2:
            ln, p = _uvarint(buf, p, end)
            s = bytes(buf[p : p + ln]).decode(errors="replace")
            p += ln
            if f == 2:
                name = s
            else:
                value = s
        else:
            p = _skip(buf, p, end, w)
    if typ not in MATCH_TYPES:
        raise ProtoError(f"invalid matcher type {typ}")
    return MATCH_TYPES[typ], name, value


def _decode_hints(buf: bytes, p: int, end: int) -> dict[str, int | str]:
    names = {1: "step_ms", 2: "func", 3: "start_ms", 4: "end_ms", 5: "grouping", 6: "by", 7: "range_ms"}
    out: dict[str, int | str] = {}
    while p < end:
        key, p = _uvarint(buf, p, end)
        f, w = key >> 3, key & 7
        if w == 0:
            u, p = _uvarint(buf, p, end)
            if f in names:
                out[names[f]] = _to_int64(u)
        elif w == 2:
            ln, p = _uvarint(buf, p, end)
            if f in names:
                out[names[f]] = bytes(buf[p : p + ln]).decode(errors="replace")
            p += ln
        else:
            p = _skip(buf, p, end, w)
    return out


def encode_read_request(queries: Sequence[ReadQuery], accepted: Sequence[int] = (0,)) -> bytes:
    """A ``ReadRequest`` (for clients and tests)."""
    rev = {v: k for k, v in MATCH_TYPES.items()}
    out = bytearray()
    for q in queries:
        body = bytearray()
        body += b"\x08" + _enc_uvarint(q.start_ms) + b"\x10" + _enc_uvarint(q.end_ms)
        for op, name, value in q.matchers:
            m = (
                b"\x08"
                + _enc_uvarint(rev[op])
                + _enc_string_field(0x12, name.encode())
                + _enc_string_field(0x1A, value.encode())
            )
            body += b"\x1a" + _enc_uvarint(len(m)) + m
        out += b"\x0a" + _enc_uvarint(len(body)) + body
    for t in accepted:
        out += b"\x10" + _enc_uvarint(t)
    return bytes(out)


def encode_read_response(results: Sequence[bytes]) -> bytes:
    """A ``ReadResponse`` from per-query ``TimeSeries`` field bytes (see ``encode_timeseries``)."""
    return b"".join(b"\x0a" + _enc_uvarint(len(r)) + r for r in results)


def decode_read_response(buf: bytes) -> list[WriteBatch]:
    """Each ``QueryResult`` of a ``ReadResponse`` decoded like a write request (clients, tests)."""
    out = []
    n = len(buf)
    pos = 0
    while pos < n:
        key, pos = _uvarint(buf, pos, n)
        if key != 0x0A:
            pos = _skip(buf, pos, n, key & 7)
            continue
        ln, pos = _uvarint(buf, pos, n)
        out.append(decode_write_request(bytes(buf[pos : pos + ln])))
        pos += ln
    return out
