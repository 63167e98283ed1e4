"""End to end with the real Alertmanager: Heron's rules fire, the notifier posts, ``amtool`` shows them."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promql.engine import Engine
from promql.testing import MemStorage
from scraper.config import load_config_str
from server.notifier import Notifier
from server.rulemanager import RuleManager
from tests.conftest import require_peer

RULES = """
groups:
  - name: demo
    interval: 15s
    rules:
      - alert: ServiceDown
        expr: up == 0
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of job {{ $labels.job }} is down"
          value: "{{ $value | humanize }}"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_peer("prometheus-alertmanager")
    d = tmp_path_factory.mktemp("am")
    (d / "am.yml").write_text("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={d / 'am.yml'}",
            f"--storage.path={d / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("alertmanager did not become ready")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def amtool_query(url: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [require_peer("amtool"), "alert", "query", f"--alertmanager.url={url}", "-o", "json", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(out.stdout)


async def test_heron_alerts_reach_real_alertmanager(alertmanager: str, tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    port = alertmanager.rsplit(":", 1)[1]
    cfg = load_config_str(
        f"""
global:
  external_labels:
    cluster: heron-test
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{port}']
"""
    )
    st = MemStorage()
    # evaluate slightly in the past so that the resolution time is already over for Alertmanager
    now_ms = int(time.time() * 1000) - 30_000
    ts = np.arange(now_ms - 600_000, now_ms + 120_000, 15_000)
    st.add({"__name__": "up", "job": "shop", "instance": "cart:8080"}, ts, np.zeros(len(ts)))
    st.add({"__name__": "up", "job": "shop", "instance": "pay:8080"}, ts, np.ones(len(ts)))
    notifier = Notifier()
    notifier.apply_config(cfg)
    rm = RuleManager(st, Engine(), notifier=notifier, external_url="http://heron.example:9090")
    await rm.update(60_000, [str(tmp_path / "rules.yml")], dict(cfg.external_labels.pairs))
    (group,) = rm.groups.values()
    ntask = asyncio.create_task(notifier.run())
    try:
        group.eval_iteration(now_ms)  # for: 0 -> firing at once, sent at once
        url = f"http://127.0.0.1:{port}/api/v2/alerts"
        for _ in range(200):
            if notifier.sent_total.get(url):
                break
            await asyncio.sleep(0.02)
        assert notifier.sent_total[url] == 1 and notifier.errors_total[url] == 0

        alerts = await asyncio.to_thread(amtool_query, alertmanager)
        (a,) = alerts
        assert a["labels"] == {
            "alertname": "ServiceDown",
            "severity": "page",
            "job": "shop",
            "instance": "cart:8080",
            "cluster": "heron-test",
        }
        assert a["annotations"] == {"summary": "cart:8080 of job shop is down", "value": "0"}
        assert a["status"]["state"] == "active"
        assert a["generatorURL"] == "http://heron.example:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        # endsAt = eval time + 4 * max(resend delay 1m, interval 15s)
        assert a["endsAt"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime((now_ms + 240_000) / 1000)))

        # the plain table form users look at
        table = await asyncio.to_thread(
            subprocess.run,
            [require_peer("amtool"), "alert", "query", f"--alertmanager.url={alertmanager}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "ServiceDown" in table.stdout and "cart:8080 of job shop is down" in table.stdout

        # resolve: the series recovers; the resolved alert is sent at once and drops out of the query
        st.add({"__name__": "up", "job": "shop", "instance": "cart:8080"}, [now_ms + 15_000], [1.0])
        group.eval_iteration(now_ms + 15_000)
        for _ in range(200):
            if notifier.sent_total[url] == 2:
                break
            await asyncio.sleep(0.02)
        for _ in range(100):
            left = await asyncio.to_thread(amtool_query, alertmanager)
            if not left:
                break
            await asyncio.sleep(0.1)
        assert left == []
    finally:
        notifier.stop()
        await asyncio.wait_for(ntask, 10)
