"""``amtool`` (Debian ``prometheus-alertmanager`` 0.25) driving Heron's Alertmanager."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_peer

from .util import AMProcess, http, start_am

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: [severity="page"]
      receiver: pager
      routes:
        - matchers: [team=~"db|storage"]
          receiver: db-pager
    - match: {team: web}
      receiver: web
      continue: true
receivers:
  - name: default
  - name: pager
  - name: db-pager
  - name: web
"""


@pytest.fixture(scope="module")
def heron(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AMProcess]:
    require_peer("amtool")
    p = start_am("heron", tmp_path_factory.mktemp("heron-am"), CONFIG)
    yield p
    p.stop()


def amtool(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_peer("amtool"), f"--alertmanager.url={url}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=check,
    )


def test_alert_add_and_query(heron: AMProcess) -> None:
    amtool(
        heron.url,
        "alert",
        "add",
        "alertname=DiskFull",
        "severity=page",
        "team=db",
        "--annotation=summary=disk full",
    )
    amtool(heron.url, "alert", "add", "alertname=Slow", "team=web")
    out = json.loads(amtool(heron.url, "alert", "query", "-o", "json").stdout)
    by_name = {a["labels"]["alertname"]: a for a in out}
    assert set(by_name) == {"DiskFull", "Slow"}
    assert by_name["DiskFull"]["annotations"] == {"summary": "disk full"}
    assert [r["name"] for r in by_name["DiskFull"]["receivers"]] == ["db-pager"]
    assert by_name["DiskFull"]["status"]["state"] == "active"
    # filters, as amtool passes them to /api/v2/alerts
    out = json.loads(amtool(heron.url, "alert", "query", "-o", "json", "severity=page").stdout)
    assert [a["labels"]["alertname"] for a in out] == ["DiskFull"]
    out = json.loads(amtool(heron.url, "alert", "query", "-o", "json", "--receiver=web").stdout)
    assert [a["labels"]["alertname"] for a in out] == ["Slow"]
    table = amtool(heron.url, "alert", "query").stdout
    assert "DiskFull" in table and "disk full" in table


def test_silence_add_query_expire(heron: AMProcess) -> None:
    amtool(heron.url, "alert", "add", "alertname=Noisy", "instance=a")
    sid = amtool(
        heron.url,
        "silence",
        "add",
        "alertname=Noisy",
        "--comment=maintenance",
        "--author=tester",
        "--duration=1h",
    ).stdout.strip()
    assert len(sid) == 36
    out = json.loads(amtool(heron.url, "silence", "query", "-o", "json").stdout)
    (s,) = [x for x in out if x["id"] == sid]
    assert s["createdBy"] == "tester" and s["comment"] == "maintenance" and s["status"]["state"] == "active"
    assert s["matchers"] == [{"isEqual": True, "isRegex": False, "name": "alertname", "value": "Noisy"}]
    q = amtool(heron.url, "silence", "query", "-q", "alertname=Noisy").stdout.split()
    assert q == [sid]
    # the alert shows as suppressed, and is hidden with --silenced=false (amtool's default)
    st, alerts = http("GET", heron.url + "/api/v2/alerts?filter=alertname%3DNoisy")
    assert alerts[0]["status"]["state"] == "suppressed" and alerts[0]["status"]["silencedBy"] == [sid]
    out = json.loads(amtool(heron.url, "alert", "query", "-o", "json", "alertname=Noisy").stdout)
    assert out == []
    out = json.loads(amtool(heron.url, "alert", "query", "-o", "json", "-s", "alertname=Noisy").stdout)
    assert len(out) == 1
    amtool(heron.url, "silence", "expire", sid)
    out = json.loads(amtool(heron.url, "silence", "query", "-o", "json", "--expired").stdout)
    assert [x["status"]["state"] for x in out if x["id"] == sid] == ["expired"]
    assert amtool(heron.url, "silence", "query", "-q").stdout.split() == []
    # expiring twice is an error, as in Alertmanager
    r = amtool(heron.url, "silence", "expire", sid, check=False)
    assert r.returncode != 0


def test_silence_import_update(heron: AMProcess) -> None:
    sid = amtool(heron.url, "silence", "add", "job=x", "--comment=c", "--duration=2h").stdout.strip()
    # amtool silence update changes the end time of an active silence in place
    amtool(heron.url, "silence", "update", sid, "--duration=3h")
    out = json.loads(amtool(heron.url, "silence", "query", "-o", "json", "job=x").stdout)
    assert [s["id"] for s in out] == [sid]


def test_config_show_and_routes(heron: AMProcess, tmp_path: Path) -> None:
    shown = amtool(heron.url, "config", "show").stdout
    assert "receiver: default" in shown and "group_by" in shown
    tree = amtool(heron.url, "config", "routes").stdout
    assert "db-pager" in tree and "pager" in tree
    # routes test against the running instance (amtool parses /api/v2/status config.original)
    out = amtool(heron.url, "config", "routes", "test", "severity=page", "team=db").stdout.strip()
    assert out == "db-pager"
    out = amtool(heron.url, "config", "routes", "test", "team=web").stdout.strip()
    assert out == "web"
    # and against the file: same answers
    cfgfile = tmp_path / "am.yml"
    cfgfile.write_text(CONFIG)
    out = amtool(
        heron.url, "config", "routes", "test", f"--config.file={cfgfile}", "severity=page"
    ).stdout.strip()
    assert out == "pager"


def test_cluster_show(heron: AMProcess) -> None:
    out = amtool(heron.url, "cluster", "show", "-o", "json").stdout
    assert json.loads(out)["status"] == "disabled"
