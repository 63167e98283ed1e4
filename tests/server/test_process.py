"""``heron server`` as a process: flags, reload (SIGHUP and /-/reload) keeping the old config on
error, /-/quit, SIGTERM, and data surviving a restart."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from .util import free_port, get_json, http, make_dataset, push, wait_until

REPO = Path(__file__).resolve().parents[2]


def _start(tmp: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    log = open(tmp / f"heron-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "heron.server_cli",
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            *extra,
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"heron server exited with {proc.returncode}")
        return http("GET", f"{url}/-/ready", timeout=2)[0] == 200

    wait_until(ready, timeout=30)
    return proc


def _reload_metric(url: str) -> str:
    text = http("GET", f"{url}/metrics")[1].decode()
    line = next(ln for ln in text.splitlines() if ln.startswith("prometheus_config_last_reload_successful "))
    return line.split()[1]


def test_lifecycle_reload_and_restart(tmp_path: Path) -> None:
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 15s\n  external_labels: {gen: one}\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(
        tmp_path,
        port,
        "--web.enable-lifecycle",
        "--query.lookback-delta=10m",
        "--storage.tsdb.retention.time=30d",
    )
    try:
        _, flags = get_json(url, "/api/v1/status/flags")
        assert flags["data"]["query.lookback-delta"] == "10m"
        assert flags["data"]["storage.tsdb.retention.time"] == "30d"
        assert flags["data"]["web.enable-lifecycle"] == "true"
        data = make_dataset(int(time.time() * 1000))
        assert push(url, data.write_body())[0] == 204

        # A bad config is reported and the old one stays (SIGHUP and POST /-/reload).
        cfg.write_text("global:\n  scrape_intervall: 15s\n")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: float(_reload_metric(url)) == 0, timeout=10)
        status, body, _ = http("POST", f"{url}/-/reload", b"")
        assert status == 500 and b"scrape_intervall" in body
        _, j = get_json(url, "/api/v1/status/config")
        assert "gen: one" in j["data"]["yaml"]
        _, j = get_json(url, "/api/v1/status/runtimeinfo")
        assert j["data"]["reloadConfigSuccess"] is False

        # A good config is applied.
        cfg.write_text("global:\n  scrape_interval: 30s\n  external_labels: {gen: two}\n")
        assert http("POST", f"{url}/-/reload", b"")[0] == 200
        _, j = get_json(url, "/api/v1/status/config")
        assert "gen: two" in j["data"]["yaml"] and "scrape_interval: 30s" in j["data"]["yaml"]
        assert float(_reload_metric(url)) == 1
        fed = http("GET", f"{url}/federate?match[]=temperature_celsius")[1].decode()
        assert 'gen="two"' in fed

        status, body, _ = http("POST", f"{url}/-/quit", b"")
        assert status == 200
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Restart on the same directory: the WAL brings the data back; SIGTERM exits cleanly.
    proc = _start(tmp_path, port)
    try:
        t = f"{(data.t1 + 500) / 1000:.3f}"
        _, j = get_json(url, "/api/v1/query", query="count(temperature_celsius)", time=t)
        assert j["data"]["result"][0]["value"][1] == "3"
        _, j = get_json(url, "/api/v1/query", query="temperature_celsius[55m]", time=t)
        assert sum(len(r["values"]) for r in j["data"]["result"]) == 3 * (len(data.ts) // len(data.labels))
        # Lifecycle endpoints are off without the flag.
        assert http("POST", f"{url}/-/quit", b"")[0] == 403
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_invalid_config_fails_start(tmp_path: Path) -> None:
    (tmp_path / "prometheus.yml").write_text("scrape_configs:\n  - job_name: a\n    scrape_interval: 5\n")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "heron.server_cli",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{free_port()}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1
    assert "prometheus.yml:3" in r.stderr and "not a valid duration string" in r.stderr


def test_bad_flag_values(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "heron.server_cli", "--storage.tsdb.retention.time=forever"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "not a valid duration string" in r.stderr


def test_rules_evaluated_and_alerts_sent_to_alertmanager(tmp_path: Path) -> None:
    """The wired process: rule files from prometheus.yml evaluate, record, and alert a real Alertmanager."""
    from tests.conftest import require_peer

    am_bin = require_peer("prometheus-alertmanager")
    amtool = require_peer("amtool")
    am_port = free_port()
    (tmp_path / "am.yml").write_text("route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n")
    am = subprocess.Popen(
        [
            am_bin,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: http("GET", f"http://127.0.0.1:{am_port}/-/ready", timeout=2)[0] == 200, timeout=30
        )
        (tmp_path / "rules.yml").write_text(
            "groups:\n- name: g\n  interval: 1s\n  rules:\n"
            "  - record: job:one:sum\n    expr: vector(1)\n"
            "  - alert: AlwaysFiring\n    expr: vector(1)\n    labels: {severity: page}\n"
            "    annotations: {summary: 'value is {{ $value }}'}\n"
        )
        (tmp_path / "prometheus.yml").write_text(
            "global: {evaluation_interval: 1s}\nrule_files: [rules.yml]\n"
            f"alerting:\n  alertmanagers:\n  - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start(tmp_path, port)
        try:
            wait_until(
                lambda: get_json(url, "/api/v1/query", query="job:one:sum")[1]["data"]["result"], timeout=20
            )
            alerts = get_json(url, "/api/v1/alerts")[1]["data"]["alerts"]
            assert alerts[0]["labels"] == {"alertname": "AlwaysFiring", "severity": "page"}
            assert alerts[0]["annotations"] == {"summary": "value is 1"}

            def in_am() -> bool:
                out = subprocess.run(
                    [
                        amtool,
                        "alert",
                        "query",
                        f"--alertmanager.url=http://127.0.0.1:{am_port}",
                        "-o",
                        "json",
                    ],
                    capture_output=True,
                    text=True,
                ).stdout
                return "AlwaysFiring" in out

            wait_until(in_am, timeout=20)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    finally:
        am.terminate()
        am.wait(timeout=10)


def test_rule_and_notifier_figures_in_own_metrics(tmp_path: Path) -> None:
    """/metrics carries prometheus_rule_* per group and prometheus_notifications_*, as Prometheus."""
    (tmp_path / "rules.yml").write_text(
        "groups:\n- name: g\n  interval: 1s\n  rules:\n  - record: one\n    expr: vector(1)\n"
    )
    (tmp_path / "prometheus.yml").write_text("global: {evaluation_interval: 1s}\nrule_files: [rules.yml]\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(tmp_path, port)
    try:

        def evaluated() -> bool:
            text = http("GET", f"{url}/metrics")[1].decode()
            line = next(
                (ln for ln in text.splitlines() if ln.startswith("prometheus_rule_evaluations_total{")), ""
            )
            return 'rule_group="' in line and float(line.split()[-1]) >= 1

        wait_until(evaluated, timeout=20)
        text = http("GET", f"{url}/metrics")[1].decode()
        assert "prometheus_rule_group_last_duration_seconds{" in text
        assert "prometheus_notifications_queue_capacity " in text
        assert "prometheus_notifications_dropped_total " in text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
