"""Heron server with real peers: remote write both ways with Prometheus, remote write into
VictoriaMetrics, and Prometheus federating from Heron."""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_peer

from .util import Dataset, HeronServer, Prometheus, free_port, get_json, http, make_dataset, push, wait_until

QUERIES = [
    "temperature_celsius",
    "http_requests_total",
    "sum by (code) (rate(http_requests_total[5m]))",
    "with_nans",
    "flappy",
    "big_and_small",
]


_NAMES = (
    "http_requests_total",
    "temperature_celsius",
    "req_duration_seconds_bucket",
    "req_duration_seconds_count",
    "with_nans",
    "flappy",
    "big_and_small",
)


def _count(url: str, t: float) -> int:
    """Samples stored over the data set's span, counted by the server itself."""
    total = 0
    for name in _NAMES:
        _, j = get_json(url, "/api/v1/query", query=f"sum(count_over_time({name}[1h]))", time=f"{t:.3f}")
        res = j["data"]["result"]
        total += int(float(res[0]["value"][1])) if res else 0
    return total


def _expected_count(data: Dataset) -> int:
    # Stale markers are stored but not counted by count_over_time.
    return int(len(data.vals) - np.sum(data.vals.view(np.uint64) == np.uint64(0x7FF0000000000002)))


def _compare(a_url: str, b_url: str, data: Dataset) -> None:
    t = f"{(data.t1 - 10 * data.step + data.step // 2) / 1000:.3f}"
    for q in QUERIES:
        _, ja = get_json(a_url, "/api/v1/query", query=q, time=t)
        _, jb = get_json(b_url, "/api/v1/query", query=q, time=t)
        ra = sorted(ja["data"]["result"], key=lambda r: json.dumps(r["metric"], sort_keys=True))
        rb = sorted(jb["data"]["result"], key=lambda r: json.dumps(r["metric"], sort_keys=True))
        assert ra == rb, q
    # Raw samples: every stored sample of every series, bit for bit (as JSON strings).
    t_end = f"{(data.t1 + 500) / 1000:.3f}"
    for name in _NAMES:
        _, ja = get_json(a_url, "/api/v1/query", query=f"{name}[55m]", time=t_end)
        _, jb = get_json(b_url, "/api/v1/query", query=f"{name}[55m]", time=t_end)
        key = lambda r: json.dumps(r["metric"], sort_keys=True)  # noqa: E731
        assert sorted(ja["data"]["result"], key=key) == sorted(jb["data"]["result"], key=key), name
    # Queries away from the series' start (where 2.42 and 3.x extrapolate rate() differently).
    start = f"{(data.t0 + 600_000 + 3_500) / 1000:.3f}"
    end = f"{(data.t1 + 3_500) / 1000:.3f}"
    for q in ("temperature_celsius", "rate(http_requests_total[5m])", "flappy"):
        args = dict(query=q, start=start, end=end, step="15s")
        _, ja = get_json(a_url, "/api/v1/query_range", **args)
        _, jb = get_json(b_url, "/api/v1/query_range", **args)
        assert sorted(ja["data"]["result"], key=lambda r: json.dumps(r["metric"], sort_keys=True)) == sorted(
            jb["data"]["result"], key=lambda r: json.dumps(r["metric"], sort_keys=True)
        ), q


def _rw_config(url: str) -> str:
    return (
        "remote_write:\n"
        f"  - url: {url}/api/v1/write\n"
        "    queue_config: {batch_send_deadline: 200ms, max_samples_per_send: 1000, min_backoff: 10ms}\n"
    )


@pytest.fixture(scope="module")
def prometheus_bin() -> str:
    return require_peer("prometheus")


def test_heron_remote_writes_into_prometheus(prometheus_bin: str, tmp_path: Path) -> None:
    data = make_dataset(int(time.time() * 1000))
    with (
        Prometheus(prometheus_bin, tmp_path / "prom") as prom,
        HeronServer(tmp_path / "heron", _rw_config(prom.url)) as heron,
    ):
        status, out = push(heron.url, data.write_body())
        assert status == 204, out
        t = (data.t1 + 1000) / 1000
        want = _expected_count(data)
        wait_until(lambda: _count(prom.url, t) == want, timeout=30)
        _compare(heron.url, prom.url, data)
        _, m = http("GET", f"{heron.url}/metrics")[:2]
        text = m.decode()
        assert "prometheus_remote_storage_samples_total" in text


def test_prometheus_remote_writes_into_heron(prometheus_bin: str, tmp_path: Path) -> None:
    with HeronServer(tmp_path / "heron") as heron:
        cfg = _rw_config(heron.url).replace("200ms", "1s")
        with Prometheus(prometheus_bin, tmp_path / "prom", cfg) as prom:
            # Prometheus forwards only samples newer than its remote-write queue's start:
            # the data set starts a few seconds from now.
            data = make_dataset(int(time.time() * 1000) + 51 * 60_000)
            assert data.t0 > time.time() * 1000
            status, out = push(prom.url, data.write_body())
            assert status == 204, out
            t = (data.t1 + 1000) / 1000
            want = _expected_count(data)
            wait_until(lambda: _count(heron.url, t) == want, timeout=60)
            _compare(prom.url, heron.url, data)


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[str]:
    binary = require_peer("victoria-metrics")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "vm.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            binary,
            f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={tmp_path / 'vm'}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: http("GET", f"{url}/health", timeout=2)[0] == 200, timeout=30)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def _vm_export(url: str, match: str) -> dict[str, tuple[list[int], list[float]]]:
    http("GET", f"{url}/internal/force_flush")
    status, body, _ = http("GET", f"{url}/api/v1/export?" + urllib.parse.urlencode({"match[]": match}))
    assert status == 200, body
    out = {}
    for line in body.decode().splitlines():
        d = json.loads(line)
        key = json.dumps(d["metric"], sort_keys=True)
        out[key] = (d["timestamps"], [float(v) if v is not None else math.nan for v in d["values"]])
    return out


def test_heron_remote_writes_into_victoriametrics(victoria: str, tmp_path: Path) -> None:
    """Samples arrive in VictoriaMetrics unchanged (VM keeps ~15 significant digits, drops NaN/stale markers)."""
    data = make_dataset(int(time.time() * 1000))
    with HeronServer(
        tmp_path / "heron", "global: {external_labels: {origin: heron}}\n" + _rw_config(victoria)
    ) as heron:
        status, out = push(heron.url, data.write_body())
        assert status == 204, out
        n = len(data.labels)

        def arrived() -> bool:
            got = _vm_export(
                victoria, '{__name__=~"temperature_celsius|http_requests_total|big_and_small|req_.*"}'
            )
            return len(got) == n - 2 and all(len(v[0]) == len(data.vals) // n for v in got.values())

        wait_until(arrived, timeout=60, interval=0.5)
        got = _vm_export(victoria, '{__name__=~".+"}')
        for i, ls in enumerate(data.labels):
            if ls.name in ("with_nans", "flappy"):
                continue
            key = json.dumps({**ls.to_dict(), "origin": "heron"}, sort_keys=True)
            ts, vals = got[key]
            m = data.series == i
            assert ts == data.ts[m].tolist(), key
            np.testing.assert_allclose(vals, data.vals[m], rtol=1e-12, err_msg=key)


def test_prometheus_federates_from_heron(prometheus_bin: str, tmp_path: Path) -> None:
    data = make_dataset(int(time.time() * 1000))
    with HeronServer(tmp_path / "heron", "global: {external_labels: {dc: heron1}}\n") as heron:
        assert push(heron.url, data.write_body())[0] == 204
        host = heron.url.removeprefix("http://")
        cfg = (
            "scrape_configs:\n"
            "  - job_name: federate\n"
            "    scrape_interval: 1s\n"
            "    honor_labels: true\n"
            "    metrics_path: /federate\n"
            "    params: {'match[]': ['{__name__=~\"temperature_celsius|http_requests_total|big_and_small|with_nans\"}']}\n"
            f"    static_configs: [{{targets: ['{host}']}}]\n"
        )
        with Prometheus(prometheus_bin, tmp_path / "prom", cfg) as prom:
            t = f"{(data.t1 + 500) / 1000:.3f}"

            def scraped() -> bool:
                _, j = get_json(prom.url, "/api/v1/query", query='up{job="federate"}')
                return (
                    bool(j["data"]["result"])
                    and j["data"]["result"][0]["value"][1] == "1"
                    and bool(
                        get_json(prom.url, "/api/v1/query", query="temperature_celsius", time=t)[1]["data"][
                            "result"
                        ]
                    )
                )

            wait_until(scraped, timeout=30)
            for q in ("temperature_celsius", "http_requests_total", "big_and_small", "with_nans"):
                _, jp = get_json(prom.url, "/api/v1/query", query=q, time=t)
                _, jh = get_json(heron.url, "/api/v1/query", query=q, time=t)
                hp = {json.dumps(r["metric"], sort_keys=True): r["value"] for r in jp["data"]["result"]}
                hh = {
                    json.dumps({"job": "federate", **r["metric"], "dc": "heron1"}, sort_keys=True): r["value"]
                    for r in jh["data"]["result"]
                }
                assert hp == hh, q


def test_heron_remote_reads_from_prometheus(prometheus_bin: str, tmp_path: Path) -> None:
    """Heron with ``remote_read`` from a real Prometheus answers queries with Prometheus's data."""
    data = make_dataset(int(time.time() * 1000))
    with Prometheus(prometheus_bin, tmp_path / "prom", "global: {external_labels: {site: p1}}\n") as prom:
        assert push(prom.url, data.write_body())[0] == 204
        cfg = (
            "global: {external_labels: {site: p1}}\n"
            f"remote_read:\n  - url: {prom.url}/api/v1/read\n    name: prom\n"
            f"  - url: {prom.url}/api/v1/read\n    name: only-for-kitchen\n"
            "    required_matchers: {room: kitchen}\n"
        )
        with HeronServer(tmp_path / "heron", cfg) as heron:
            t = f"{(data.t1 - 10 * data.step + data.step // 2) / 1000:.3f}"
            for q in QUERIES:
                _, jp = get_json(prom.url, "/api/v1/query", query=q, time=t)
                _, jh = get_json(heron.url, "/api/v1/query", query=q, time=t)
                key = lambda r: json.dumps(r["metric"], sort_keys=True)  # noqa: E731
                assert sorted(jh["data"]["result"], key=key) == sorted(jp["data"]["result"], key=key), q
            _, js = get_json(heron.url, "/api/v1/series", **{"match[]": "temperature_celsius"})
            assert len(js["data"]) == 3
