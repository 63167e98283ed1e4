"""The protobuf wire codec against the protobuf package, and Prometheus's number formatting."""

from __future__ import annotations

import math
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from server._proto import (
    ProtoError,
    ReadQuery,
    decode_read_request,
    decode_read_response,
    decode_write_request,
    encode_read_request,
    encode_read_response,
    encode_timeseries,
    encode_write_request,
)
from server.jsonfmt import format_float, format_floats, format_go_g, format_ts, format_tss, json_str
from tsdb.interface import STALE_NAN
from tsdb.labels import Labels

from .prompb import ReadRequest, ReadResponse, WriteRequest

label_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
ints64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@st.composite
def write_requests(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[list[tuple[int, float]]]]:
    n = draw(st.integers(0, 6))
    series = []
    samples = []
    for i in range(n):
        extra = draw(
            st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), label_text, max_size=3)
        )
        extra.pop("__name__", None)
        series.append({"__name__": f"m{i}", **extra})
        samples.append(draw(st.lists(st.tuples(ints64, floats), max_size=40)))
    return series, samples


def _pb(series: list[dict[str, str]], samples: list[list[tuple[int, float]]]) -> bytes:
    wr = WriteRequest()
    for ls, ss in zip(series, samples, strict=True):
        ts = wr.timeseries.add()
        for k, v in sorted(ls.items()):
            lab = ts.labels.add()
            lab.name, lab.value = k, v
        for t, v in ss:
            s = ts.samples.add()
            s.timestamp, s.value = t, v
    return wr.SerializeToString()


def _same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    return a.view(np.uint64).tolist() == np.asarray(b, dtype=np.float64).view(np.uint64).tolist()


@settings(max_examples=150, deadline=None)
@given(write_requests())
def test_decode_matches_protobuf(req: tuple[list[dict[str, str]], list[list[tuple[int, float]]]]) -> None:
    series, samples = req
    batch = decode_write_request(_pb(series, samples))
    assert [ls.to_dict() for ls in batch.labels] == [{k: v for k, v in s.items() if v} for s in series]
    flat = [(i, t, v) for i, ss in enumerate(samples) for t, v in ss]
    assert batch.series.tolist() == [i for i, _, _ in flat]
    assert batch.ts.tolist() == [t for _, t, _ in flat]
    assert _same_floats(batch.vals, np.array([v for _, _, v in flat], dtype=np.float64))


@settings(max_examples=150, deadline=None)
@given(write_requests())
def test_encode_parses_with_protobuf(req: tuple[list[dict[str, str]], list[list[tuple[int, float]]]]) -> None:
    series, samples = req
    labels = [Labels.from_dict(s) for s in series]
    sid = np.array([i for i, ss in enumerate(samples) for _ in ss], dtype=np.int64)
    ts = np.array([t for ss in samples for t, _ in ss], dtype=np.int64)
    vals = np.array([v for ss in samples for _, v in ss], dtype=np.float64)
    wr = WriteRequest.FromString(encode_write_request(labels, sid, ts, vals))
    got = [
        (dict((lab.name, lab.value) for lab in t.labels), [(s.timestamp, s.value) for s in t.samples])
        for t in wr.timeseries
    ]
    want = [(labels[i].to_dict(), ss) for i, ss in enumerate(samples) if ss]
    assert [g[0] for g in got] == [w[0] for w in want]
    for (_, gs), (_, ws) in zip(got, want, strict=True):
        assert [t for t, _ in gs] == [t for t, _ in ws]
        assert _same_floats(np.array([v for _, v in gs]), np.array([v for _, v in ws]))


def test_stale_marker_bits_survive() -> None:
    labels = [Labels.from_strings("__name__", "x")]
    body = encode_write_request(
        labels, np.zeros(2, np.int64), np.array([1, 2]), np.array([STALE_NAN, math.nan])
    )
    b = decode_write_request(body)
    assert b.vals.view(np.uint64)[0] == 0x7FF0000000000002


def test_slow_path_handles_unusual_layouts() -> None:
    # Samples before labels, an unknown field, a sample with timestamp first, an exemplar.
    sample = b"\x10\x02\x09" + struct.pack("<d", 2.5)
    label = b"\x0a\x08__name__\x12\x01y"
    exemplar = b"\x12\x09\x09" + struct.pack("<d", 1.0)
    ts = (
        b"\x12"
        + bytes([len(sample)])
        + sample
        + b"\x0a"
        + bytes([len(label)])
        + label
        + b"\x1a"
        + bytes([len(exemplar)])
        + exemplar
    )
    body = b"\x0a" + bytes([len(ts)]) + ts + b"\x7a\x00"  # field 15 (unknown) at the end
    b = decode_write_request(body)
    assert b.labels == [Labels.from_strings("__name__", "y")]
    assert b.ts.tolist() == [2] and b.vals.tolist() == [2.5] and b.exemplars == 1


def test_malformed_raise_proto_error() -> None:
    good = encode_write_request(
        [Labels.from_strings("__name__", "x")], np.zeros(1, np.int64), np.array([5]), np.array([1.0])
    )
    for bad in (good[:-1], good[:3], b"\x0a\xff", b"\x00\x00", b"\x0f", b"\x0a\x02\x12\xff"):
        try:
            decode_write_request(bad)
        except ProtoError:
            continue
        raise AssertionError(f"{bad!r} decoded")


def test_read_request_and_response_roundtrip() -> None:
    rr = ReadRequest()
    q = rr.queries.add()
    q.start_timestamp_ms, q.end_timestamp_ms = 1000, 2000
    m = q.matchers.add()
    m.type, m.name, m.value = 2, "job", "a.*"
    rr.accepted_response_types.append(0)
    queries, types = decode_read_request(rr.SerializeToString())
    assert types == [0] and queries[0].matchers == [("=~", "job", "a.*")]
    assert (queries[0].start_ms, queries[0].end_ms) == (1000, 2000)
    mine = encode_read_request([ReadQuery(1000, 2000, [("=~", "job", "a.*")])])
    assert ReadRequest.FromString(mine) == rr
    labels = [Labels.from_strings("__name__", "a"), Labels.from_strings("__name__", "b")]
    res = encode_timeseries(labels, np.array([0, 0, 1]), np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0]))
    body = encode_read_response([res, b""])
    pb = ReadResponse.FromString(body)
    assert len(pb.results) == 2 and [len(t.samples) for t in pb.results[0].timeseries] == [2, 1]
    dec = decode_read_response(body)
    assert dec[0].labels == labels and dec[0].ts.tolist() == [1, 2, 3] and len(dec[1].labels) == 0


def test_json_floats_like_prometheus() -> None:
    # Checked against Prometheus 2.42's API output.
    cases = {
        1e6: "1000000",
        1e-7: "1e-07",
        1e21: "1e+21",
        1.2345678901234568e17: "123456789012345680",
        -0.0: "-0",
        math.nan: "NaN",
        math.inf: "+Inf",
        -math.inf: "-Inf",
        1e-5: "0.00001",
        0.1: "0.1",
        1.5e16: "15000000000000000",
        -2.5e-7: "-2.5e-07",
        3.0: "3",
        0.1 + 0.2: "0.30000000000000004",
    }
    for v, s in cases.items():
        assert format_float(v) == s, v
    arr = np.array(list(cases))
    assert format_floats(arr) == [format_float(v) for v in arr.tolist()]
    assert format_floats(np.array([1.0, 2.0, -3.0])) == ["1", "2", "-3"]


@settings(max_examples=300, deadline=None)
@given(floats)
def test_json_float_roundtrips(v: float) -> None:
    s = format_float(v)
    back = float(s.replace("+Inf", "inf").replace("-Inf", "-inf"))
    assert (math.isnan(v) and math.isnan(back)) or back == v
    assert format_floats(np.array([v])) == [s]


def test_go_g_and_timestamps() -> None:
    assert [format_go_g(v) for v in (1e6, 123456.0, 1234567.0, 1e-5, 0.0001, -0.0, 2.5, 1e21)] == [
        "1e+06",
        "123456",
        "1.234567e+06",
        "1e-05",
        "0.0001",
        "0",
        "2.5",
        "1e+21",
    ]
    assert [format_ts(t) for t in (1000, 1500, 1780, -1500, 0, 5)] == [
        "1",
        "1.500",
        "1.780",
        "-1.500",
        "0",
        "0.005",
    ]
    assert format_tss(np.array([1000, 2000])) == ["1", "2"]
    assert format_tss(np.array([1000, 2001])) == ["1", "2.001"]
    assert json_str("a<b>&\u2028") == '"a\\u003cb\\u003e\\u0026\\u2028"'
