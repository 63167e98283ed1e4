"""Differential: real Prometheus and ``heron server`` scrape the same real targets with one config.

Targets: Debian's ``prometheus-node-exporter``, a ``prometheus_client`` app (it
answers both servers with OpenMetrics), a port nobody listens on, and a
target that ``relabel_configs`` drop. Both servers get the same
``prometheus.yml`` (relabeling with ``drop``, ``replace`` with ``${1}``,
``hashmod``; ``metric_relabel_configs`` with ``drop`` and ``labeldrop``) and
scrape every second; after a few scrapes the label sets of every current
series (``up`` and ``scrape_*`` included), the active targets' labels, URLs
and health, and the dropped targets' discovered labels must be identical.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_peer
from tests.server.util import HeronServer, Prometheus, free_port, get_json, http, wait_until

APP = textwrap.dedent(
    """
    import sys, time
    from prometheus_client import Counter, Gauge, Histogram, Info, Summary, Enum, start_http_server
    reqs = Counter("app_requests", "Requests.", ["method", "code", "handler"])
    lat = Histogram("app_latency_seconds", "Latency.", ["handler"])
    temp = Gauge("app_temperature_celsius", "Temperature.", unit="celsius")
    size = Summary("app_payload_bytes", "Payload sizes.")
    Info("app_build", "Build.").info({"version": "1.2.3"})
    Enum("app_state", "State.", states=["up", "down"]).state("up")
    start_http_server(int(sys.argv[1]), addr="127.0.0.1")
    i = 0
    while True:
        i += 1
        reqs.labels("GET", "200", "/a").inc()
        reqs.labels("POST", "500", "/b").inc(2)
        lat.labels("/a").observe(0.01 * (i % 7))
        temp.set(20 + i % 3)
        size.observe(i)
        time.sleep(0.2)
    """
)

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  external_labels: {{}}
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:{node}']
        labels: {{env: test}}
  - job_name: app
    static_configs:
      - targets: ['127.0.0.1:{app}', '127.0.0.1:{dead}']
        labels: {{team: a}}
      - targets: ['localhost:{app}']
        labels: {{team: drop-me}}
    relabel_configs:
      - source_labels: [team]
        regex: drop-me
        action: drop
      - source_labels: [__address__]
        regex: '(.*):(\\d+)'
        target_label: host
        replacement: '${{1}}'
      - source_labels: [__address__]
        modulus: 4
        target_label: shard
        action: hashmod
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: 'python_gc_.*'
        action: drop
      - regex: 'handler'
        action: labeldrop
"""


def _proc(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    f = open(log, "wb")  # noqa: SIM115
    return subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)


def _stop(p: subprocess.Popen[bytes]) -> None:
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    prom_bin = require_peer("prometheus")
    node_bin = require_peer("prometheus-node-exporter")
    d = tmp_path_factory.mktemp("scrape-diff")
    node_port, app_port, dead = free_port(), free_port(), free_port()
    node = _proc(
        [
            node_bin,
            f"--web.listen-address=127.0.0.1:{node_port}",
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.meminfo",
            "--collector.loadavg",
            "--collector.time",
            "--collector.uname",
            "--collector.stat",
        ],
        d / "node.log",
    )
    (d / "app.py").write_text(APP)
    app = _proc([sys.executable, str(d / "app.py"), str(app_port)], d / "app.log")
    procs = [node, app]
    try:
        for port in (node_port, app_port):
            wait_until(lambda p=port: http("GET", f"http://127.0.0.1:{p}/metrics", timeout=2)[0] == 200, 20)
        config = CONFIG.format(node=node_port, app=app_port, dead=dead)
        with Prometheus(prom_bin, d / "prom", config) as prom, HeronServer(d / "heron", config) as heron:
            for base in (prom.url, heron.url):
                wait_until(lambda b=base: _scrapes(b) >= 4, timeout=40, interval=0.25)
            yield prom.url, heron.url
    finally:
        for p in procs:
            _stop(p)


def _scrapes(base: str) -> int:
    """Fewest samples of ``up`` over the targets in the last 10 minutes (0 until all are there)."""
    st, data = get_json(base, "/api/v1/query", query="count_over_time(up[10m])")
    res = data["data"]["result"] if st == 200 else []
    if len(res) != 3:
        return 0
    return min(int(float(r["value"][1])) for r in res)


def _series(base: str) -> set[frozenset[tuple[str, str]]]:
    st, data = get_json(base, "/api/v1/query", query='{job=~"node|app"}')
    assert st == 200, data
    return {frozenset(r["metric"].items()) for r in data["data"]["result"]}


def _targets(base: str) -> tuple[list[Any], list[Any]]:
    st, data = get_json(base, "/api/v1/targets")
    assert st == 200
    d = data["data"]
    active = sorted(
        (
            t["scrapePool"],
            sorted(t["labels"].items()),
            t["scrapeUrl"],
            t["health"],
            t["scrapeInterval"],
            t["scrapeTimeout"],
            sorted(t["discoveredLabels"].items()),
        )
        for t in d["activeTargets"]
    )
    dropped = sorted(sorted(t["discoveredLabels"].items()) for t in d["droppedTargets"])
    return active, dropped


# Series whose presence depends on timing inside one process, not on the scraper.
_VOLATILE = ("node_scrape_collector", "process_", "go_")


def _stable(s: set[frozenset[tuple[str, str]]]) -> set[frozenset[tuple[str, str]]]:
    return {ls for ls in s if not dict(ls)["__name__"].startswith(_VOLATILE)}


def test_same_series_label_sets(servers: tuple[str, str]) -> None:
    prom, heron = servers
    p, h = _series(prom), _series(heron)
    names = {dict(ls)["__name__"] for ls in h}
    for n in (
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "app_requests_total",
        "node_load1",
        "app_latency_seconds_bucket",
    ):
        assert n in names, n
    assert not any(dict(ls)["__name__"].startswith("python_gc_") for ls in h)
    assert not any("handler" in dict(ls) for ls in h)
    assert _stable(p) == _stable(h), (
        sorted(_stable(p) - _stable(h))[:10],
        sorted(_stable(h) - _stable(p))[:10],
    )
    # The volatile families exist in both with the same names.
    assert {dict(ls)["__name__"] for ls in p} == names


def test_same_targets(servers: tuple[str, str]) -> None:
    prom, heron = servers
    pa, pd = _targets(prom)
    ha, hd = _targets(heron)
    assert pa == ha
    assert pd == hd
    assert len(ha) == 3 and len(hd) == 1
    assert [t[3] for t in ha].count("down") == 1


def test_up_and_report_values(servers: tuple[str, str]) -> None:
    prom, heron = servers
    for base in (prom, heron):
        st, data = get_json(base, "/api/v1/query", query="up")
        ups = sorted(float(r["value"][1]) for r in data["data"]["result"])
        assert ups == [0.0, 1.0, 1.0]
    # Same sample counts for the (static) app payload after relabeling.
    q = 'scrape_samples_post_metric_relabeling{job="app"} > 0'
    vals = []
    for base in (prom, heron):
        st, data = get_json(base, "/api/v1/query", query=q)
        vals.append([r["value"][1] for r in data["data"]["result"]])
    assert vals[0] == vals[1]


@pytest.mark.skipif(os.environ.get("HERON_SCRAPE_DIFF_DEBUG") != "1", reason="debug dump")
def test_dump(servers: tuple[str, str]) -> None:  # pragma: no cover
    prom, heron = servers
    print(get_json(prom, "/api/v1/targets"))
    print(get_json(heron, "/api/v1/targets"))
    time.sleep(0)
