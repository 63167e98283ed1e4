"""Real Prometheus (Debian 2.42) with ``alerting.alertmanagers`` pointing at Heron's Alertmanager."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from tests.conftest import require_peer

from .util import Sink, free_port, http, start_am

RULES = """
groups:
  - name: always
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: page}
        annotations: {summary: "value {{ $value }}"}
      - alert: AlsoFiring
        expr: vector(2)
        labels: {severity: page}
"""


async def test_prometheus_alerts_arrive_and_group(tmp_path: Path) -> None:
    prom = require_peer("prometheus")
    sink = Sink()
    base = await sink.start()
    am = await asyncio.to_thread(
        start_am,
        "heron",
        tmp_path / "am",
        f"""
route:
  receiver: hook
  group_by: [severity]
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{{url: "{base}/hook"}}]
""",
    )
    am_port = am.url.rsplit(":", 1)[1]
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "prometheus.yml").write_text(
        f"""
global:
  evaluation_interval: 1s
  external_labels: {{cluster: test}}
rule_files: [{tmp_path / "rules.yml"}]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{am_port}']
"""
    )
    pport = free_port()
    proc = subprocess.Popen(
        [
            prom,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom'}",
            f"--web.listen-address=127.0.0.1:{pport}",
            # alerts evaluated before Alertmanager discovery has run (~5s) are only re-sent
            # after the resend delay (1m by default)
            "--rules.alert.resend-delay=1s",
        ],
        stdout=open(tmp_path / "prometheus.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not sink.received and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert sink.received, am.log() + (tmp_path / "prometheus.log").read_text()

        def seen() -> set[str]:
            return {a["labels"]["alertname"] for _, _, b in sink.received for a in b["alerts"]}

        # Prometheus posts each rule's alerts separately; their startsAt is older than
        # group_wait (evaluated before discovery), so the group may flush before the
        # second arrives and send it on the next group_interval tick, as Alertmanager does.
        while seen() != {"AlsoFiring", "AlwaysFiring"} and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        bodies = [b for _, _, b in sink.received]
        assert {b["groupKey"] for b in bodies} == {'{}:{severity="page"}'}
        body = bodies[-1]
        assert body["groupLabels"] == {"severity": "page"}
        assert body["status"] == "firing"
        assert body["commonLabels"] == {"cluster": "test", "severity": "page"}
        names = sorted(a["labels"]["alertname"] for a in body["alerts"])
        assert names == ["AlsoFiring", "AlwaysFiring"]
        a = next(a for a in body["alerts"] if a["labels"]["alertname"] == "AlwaysFiring")
        assert a["annotations"] == {"summary": "value 1"}
        assert a["generatorURL"].startswith("http://") and "g0.expr=vector%281%29" in a["generatorURL"]
        assert a["endsAt"] == "0001-01-01T00:00:00Z"
        # Prometheus keeps re-sending: nothing new to notify (repeat_interval 4h)
        n = len(sink.received)
        await asyncio.sleep(2.5)
        assert len(sink.received) == n
        st, alerts = await asyncio.to_thread(http, "GET", am.url + "/api/v2/alerts")
        assert st == 200 and len(alerts) == 2
        # Prometheus lists Heron as its active Alertmanager
        st, ams = await asyncio.to_thread(http, "GET", f"http://127.0.0.1:{pport}/api/v1/alertmanagers")
        assert ams["data"]["activeAlertmanagers"][0]["url"] == f"http://127.0.0.1:{am_port}/api/v2/alerts"
    finally:
        proc.terminate()
        proc.wait(10)
        am.stop()
        await sink.stop()
