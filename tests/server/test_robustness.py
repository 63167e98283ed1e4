"""Malformed input gets 400 with a message while the server keeps serving; concurrent load."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from server._proto import (
    ReadQuery,
    decode_write_request,
    encode_labels,
    encode_read_request,
    encode_write_request,
)
from server.remote import snappy_compress, snappy_decompress
from tsdb.labels import Labels

from .util import Dataset, HeronServer, get_json, http, make_dataset, push


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HeronServer, Dataset]]:
    data = make_dataset(int(time.time() * 1000))
    with HeronServer(tmp_path_factory.mktemp("robust")) as heron:
        assert push(heron.url, data.write_body())[0] == 204
        yield heron, data


def _still_serving(heron: HeronServer, data: Dataset) -> None:
    assert http("GET", f"{heron.url}/-/healthy")[0] == 200
    t = f"{(data.t1 + 500) / 1000:.3f}"
    status, j = get_json(heron.url, "/api/v1/query", query="count(temperature_celsius)", time=t)
    assert status == 200 and j["data"]["result"][0]["value"][1] == "3"


def _wr(labels: list[Labels], ts: list[int], vals: list[float]) -> bytes:
    n = len(ts)
    return encode_write_request(labels, np.arange(n) % len(labels), np.array(ts, np.int64), np.array(vals))


BAD_WRITES = {
    "not snappy": b"definitely not snappy",
    "snappy of garbage": snappy_compress(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
    "truncated protobuf": snappy_compress(_wr([Labels.from_strings("__name__", "m")], [1000], [1.0])[:-3]),
    "wrong wire type": snappy_compress(b"\x0d\x00\x00\x00\x00"),
    "illegal tag 0": snappy_compress(b"\x00\x01"),
    "length past end": snappy_compress(b"\x0a\xff\xff\x03abc"),
    "huge decoded length": b"\xff\xff\xff\xff\x0f" + b"\x00" * 10,
    "series without name": snappy_compress(_wr([Labels.from_strings("job", "x")], [1000], [1.0])),
    "duplicate label names": snappy_compress(
        b"\x0a\x1e"  # TimeSeries
        + b"\x0a\x07\x0a\x01a\x12\x02v1"
        + b"\x0a\x07\x0a\x01a\x12\x02v2"
        + b"\x0a\x0a\x0a\x08__name__"
    ),
}


@pytest.mark.parametrize("name", list(BAD_WRITES))
def test_malformed_write_bodies(loaded: tuple[HeronServer, Dataset], name: str) -> None:
    heron, data = loaded
    status, out = push(heron.url, BAD_WRITES[name])
    assert status == 400, (name, out)
    assert out.strip(), "a 400 must say what is wrong"
    _still_serving(heron, data)


def test_huge_payload_rejected(loaded: tuple[HeronServer, Dataset]) -> None:
    heron, data = loaded
    status, out = push(heron.url, b"\x00" * (65 << 20))
    assert status == 400 and b"too large" in out
    _still_serving(heron, data)


def test_out_of_order_write_rejected_whole(loaded: tuple[HeronServer, Dataset]) -> None:
    heron, data = loaded
    ls = Labels.from_strings("__name__", "ooo_test")
    ok_body = snappy_compress(_wr([ls], [data.t1], [1.0]))
    assert push(heron.url, ok_body)[0] == 204
    bad = snappy_compress(
        _wr([ls, Labels.from_strings("__name__", "ooo_other")], [data.t1 - 60_000, data.t1], [2.0, 3.0])
    )
    status, out = push(heron.url, bad)
    assert status == 400 and b"out of order" in out
    # Nothing of the rejected request was committed.
    _, j = get_json(heron.url, "/api/v1/series", **{"match[]": "ooo_other"})
    assert j["data"] == []
    # Same timestamp and value again is fine (a sender retry).
    assert push(heron.url, ok_body)[0] == 204


def test_empty_write_is_fine(loaded: tuple[HeronServer, Dataset]) -> None:
    heron, _ = loaded
    assert push(heron.url, b"")[0] == 204


def test_bad_remote_read(loaded: tuple[HeronServer, Dataset]) -> None:
    heron, data = loaded
    hdr = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
    for body in (
        b"nonsense",
        snappy_compress(encode_read_request([ReadQuery(0, 1, [("=~", "__name__", "(")])])),
        snappy_compress(encode_read_request([ReadQuery(0, 1, [("=", "__name__", "x")])], accepted=[1])),
    ):
        status, out, _ = http("POST", f"{heron.url}/api/v1/read", body, hdr)
        assert status == 400 and out.strip(), out
    _still_serving(heron, data)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/query?query=sum(&time=1",
        "/api/v1/query?query=up&time=nope",
        "/api/v1/query_range?query=up&start=1&end=0&step=1",
        "/api/v1/query_range?query=up&start=1&end=2&step=-5",
        "/api/v1/series?match[]=%7B",
        "/api/v1/labels?limit=-1",
        "/api/v1/label/a-b/values",
        "/api/v1/query?query=up&limit=x",
        "/api/v1/query?query=up&lookback_delta=x",
    ],
)
def test_bad_params(loaded: tuple[HeronServer, Dataset], path: str) -> None:
    heron, data = loaded
    status, body, hdrs = http("GET", heron.url + path)
    assert status == 400
    j = json.loads(body)
    assert j["status"] == "error" and j["errorType"] == "bad_data" and j["error"]
    assert hdrs["Content-Type"].startswith("application/json")
    _still_serving(heron, data)


def test_parallel_range_queries(loaded: tuple[HeronServer, Dataset]) -> None:
    heron, data = loaded
    queries = [
        "rate(http_requests_total[5m])",
        "sum by (code) (rate(http_requests_total[5m]))",
        "avg_over_time(temperature_celsius[3m])",
        "histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[5m])))",
        "temperature_celsius > 20",
    ]
    start = f"{(data.t0 + 600_000) / 1000:.3f}"
    end = f"{data.t1 / 1000:.3f}"

    def one(i: int) -> tuple[int, str, float]:
        t0 = time.perf_counter()
        status, j = get_json(
            heron.url,
            "/api/v1/query_range",
            query=queries[i % len(queries)],
            start=start,
            end=end,
            step="15s",
        )
        return status, j["status"], time.perf_counter() - t0

    with ThreadPoolExecutor(50) as ex:
        results = list(ex.map(one, range(50)))
    assert all(r[0] == 200 and r[1] == "success" for r in results), results
    _still_serving(heron, data)


def test_query_timeout_and_limits(tmp_path: Path) -> None:
    data = make_dataset(int(time.time() * 1000))
    with HeronServer(tmp_path, query_max_samples=100) as heron:
        assert push(heron.url, data.write_body())[0] == 204
        t = f"{data.t1 / 1000:.3f}"
        status, j = get_json(
            heron.url, "/api/v1/query", query="sum_over_time(temperature_celsius[30m])", time=t
        )
        assert (status, j["errorType"]) == (422, "execution"), j
        assert "too many samples" in j["error"]
        status, j = get_json(heron.url, "/api/v1/query", query="temperature_celsius", time=t, timeout="1ms")
        assert status in (200, 503)
        if status == 503:
            assert j["errorType"] == "timeout"


def test_series_without_samples_not_created(loaded: tuple[HeronServer, Dataset]) -> None:
    heron, _ = loaded
    ls = Labels.from_strings("__name__", "never_sampled", "x", "y")
    lb = encode_labels(ls)
    body = snappy_compress(b"\x0a" + bytes([len(lb)]) + lb)
    assert decode_write_request(snappy_decompress(body)).labels == [ls]
    assert push(heron.url, body)[0] == 204
    _, j = get_json(heron.url, "/api/v1/label/__name__/values")
    assert "never_sampled" not in j["data"]
