"""Heron's Alertmanager in-process: API v2, reload, metrics, persistence, delivery retries."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alertmanager.main import Alertmanager, Options

from .util import Sink, free_port, start_am

CONFIG = """
global:
  resolve_timeout: 1m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 500ms
  repeat_interval: 1h
  routes:
    - matchers: [team="db"]
      receiver: db
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
receivers:
  - name: default
    webhook_configs: [{url: "SINK/default"}]
  - name: db
    webhook_configs:
      - url: "SINK/db"
        http_config: {basic_auth: {username: u, password: pw}}
"""


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Env:
    def __init__(self, tmp: Path, sink: Sink, base: str) -> None:
        self.tmp = tmp
        self.sink = sink
        self.base = base
        self.cfg = tmp / "am.yml"
        self.cfg.write_text(CONFIG.replace("SINK", base))
        self.am: Alertmanager | None = None
        self.url = ""
        self.session = aiohttp.ClientSession()

    async def start(self) -> Alertmanager:
        port = free_port()
        self.am = Alertmanager(
            Options(
                config_file=str(self.cfg),
                storage_path=str(self.tmp / "data"),
                listen_address=f"127.0.0.1:{port}",
                external_url="http://am.example/",
            )
        )
        await self.am.start()
        self.url = f"http://127.0.0.1:{port}"
        return self.am

    async def stop(self) -> None:
        if self.am is not None:
            await self.am.shutdown()
            self.am = None

    async def req(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, json=body) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text) if text else None
            except ValueError:
                return r.status, text


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    sink = Sink()
    base = await sink.start()
    e = Env(tmp_path, sink, base)
    await e.start()
    yield e
    await e.stop()
    await e.session.close()
    await sink.stop()


async def wait_for(fn: Any, timeout: float = 10.0) -> Any:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        v = fn()
        if v:
            return v
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met")


def alert(labels: dict[str, str], **kw: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    a = {"labels": labels, "startsAt": iso(now), "endsAt": iso(now + timedelta(hours=1))}
    a.update(kw)
    return a


async def test_alerts_filters_and_groups(env: Env) -> None:
    st, _ = await env.req(
        "POST",
        "/api/v2/alerts",
        [
            alert({"alertname": "Crit", "severity": "critical", "cluster": "a"}),
            alert({"alertname": "Warn", "severity": "warning", "cluster": "a"}),
            alert({"alertname": "DB", "team": "db"}),
        ],
    )
    assert st == 200
    st, alerts = await env.req("GET", "/api/v2/alerts")
    by = {a["labels"]["alertname"]: a for a in alerts}
    assert by["Warn"]["status"]["state"] == "suppressed" and len(by["Warn"]["status"]["inhibitedBy"]) == 1
    assert by["Warn"]["status"]["inhibitedBy"] == [by["Crit"]["fingerprint"]]
    assert [a["fingerprint"] for a in alerts] == sorted(a["fingerprint"] for a in alerts)
    _, alerts = await env.req("GET", "/api/v2/alerts?inhibited=false")
    assert sorted(a["labels"]["alertname"] for a in alerts) == ["Crit", "DB"]
    _, alerts = await env.req("GET", "/api/v2/alerts?active=false")
    assert [a["labels"]["alertname"] for a in alerts] == ["Warn"]
    _, alerts = await env.req("GET", "/api/v2/alerts?receiver=d.")
    assert [a["labels"]["alertname"] for a in alerts] == ["DB"]
    _, alerts = await env.req("GET", "/api/v2/alerts?filter=severity%3D~%22crit.*%22")
    assert [a["labels"]["alertname"] for a in alerts] == ["Crit"]
    st, err = await env.req("GET", "/api/v2/alerts?filter=%3D%3D")
    assert st == 400 and "bad matcher format" in err
    _, groups = await env.req("GET", "/api/v2/alerts/groups")
    assert [(g["receiver"]["name"], g["labels"]) for g in groups] == [
        ("default", {"alertname": "Crit"}),
        ("db", {"alertname": "DB"}),
        ("default", {"alertname": "Warn"}),
    ]
    _, recv = await env.req("GET", "/api/v2/receivers")
    assert recv == [{"name": "default"}, {"name": "db"}]
    # notifications: the inhibited alert is not sent; basic auth on the db webhook
    await wait_for(lambda: len(env.sink.received) >= 2)
    await asyncio.sleep(0.6)
    paths = sorted(p for _, p, _ in env.sink.received)
    assert paths == ["/db", "/default"]
    i = [p for _, p, _ in env.sink.received].index("/db")
    assert env.sink.headers[i]["Authorization"] == "Basic dTpwdw=="
    assert env.sink.headers[i]["User-Agent"].startswith("Alertmanager/")


async def test_silences_crud(env: Env) -> None:
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "alertname", "value": "X", "isRegex": False}],
        "startsAt": iso(now),
        "endsAt": iso(now + timedelta(hours=1)),
        "createdBy": "me",
        "comment": "c",
    }
    st, res = await env.req("POST", "/api/v2/silences", body)
    assert st == 200
    sid = res["silenceID"]
    st, s = await env.req("GET", f"/api/v2/silence/{sid}")
    assert st == 200 and s["status"]["state"] == "active" and s["matchers"][0]["isEqual"] is True
    # update in place (same matchers, later end)
    st, res = await env.req(
        "POST",
        "/api/v2/silences",
        dict(body, id=sid, startsAt=s["startsAt"], endsAt=iso(now + timedelta(hours=2))),
    )
    assert st == 200 and res["silenceID"] == sid
    # changing matchers expires the old one and creates a new one
    body2 = dict(
        body, id=sid, matchers=[{"name": "alertname", "value": "Y", "isRegex": True, "isEqual": False}]
    )
    st, res = await env.req("POST", "/api/v2/silences", body2)
    assert st == 200 and res["silenceID"] != sid
    new = res["silenceID"]
    _, sils = await env.req("GET", "/api/v2/silences")
    assert [(x["id"], x["status"]["state"]) for x in sils] == [(new, "active"), (sid, "expired")]
    _, sils = await env.req("GET", "/api/v2/silences?filter=alertname%3DX")
    assert [x["id"] for x in sils] == [sid]
    st, _ = await env.req("DELETE", f"/api/v2/silence/{new}")
    assert st == 200
    st, msg = await env.req("DELETE", f"/api/v2/silence/{new}")
    assert st == 500 and "already expired" in msg
    st, _ = await env.req("GET", "/api/v2/silence/00000000-0000-0000-0000-000000000000")
    assert st == 404
    st, msg = await env.req("POST", "/api/v2/silences", dict(body, id="00000000-0000-0000-0000-000000000000"))
    assert st == 404 and msg == "silence not found"
    st, msg = await env.req(
        "POST",
        "/api/v2/silences",
        dict(body, endsAt=iso(now - timedelta(hours=1)), startsAt=iso(now - timedelta(hours=2))),
    )
    assert st == 400 and msg == "Failed to create silence: end time can't be in the past"
    st, msg = await env.req(
        "POST", "/api/v2/silences", dict(body, matchers=[{"name": "a", "value": ".*", "isRegex": True}])
    )
    assert st == 400 and msg == "silence invalid: at least one matcher must not match the empty string"


async def test_reload_keeps_old_config_on_error(env: Env) -> None:
    good = env.cfg.read_text()
    env.cfg.write_text(good + "\nbogus: 1\n")
    st, msg = await env.req("POST", "/-/reload")
    assert st == 500 and "field bogus not found" in msg
    _, recv = await env.req("GET", "/api/v2/receivers")
    assert [r["name"] for r in recv] == ["default", "db"]
    _, metrics = await env.req("GET", "/metrics")
    assert "alertmanager_config_last_reload_successful 0" in metrics
    env.cfg.write_text(good.replace("name: db", "name: dbx").replace("receiver: db", "receiver: dbx"))
    st, _ = await env.req("POST", "/-/reload")
    assert st == 200
    _, recv = await env.req("GET", "/api/v2/receivers")
    assert [r["name"] for r in recv] == ["default", "dbx"]
    _, metrics = await env.req("GET", "/metrics")
    assert "alertmanager_config_last_reload_successful 1" in metrics
    _, status = await env.req("GET", "/api/v2/status")
    assert "dbx" in status["config"]["original"]


async def test_metrics_names(env: Env) -> None:
    await env.req("POST", "/api/v2/alerts", [alert({"alertname": "M"})])
    await env.req("POST", "/api/v2/alerts", [{"labels": {}}])
    await wait_for(lambda: env.sink.received)
    _, text = await env.req("GET", "/metrics")
    for name in (
        'alertmanager_alerts{state="active"} 1',
        'alertmanager_alerts_received_total{status="firing",version="v2"} 2',
        'alertmanager_alerts_invalid_total{version="v2"} 1',
        'alertmanager_notifications_total{integration="webhook"} 1',
        'alertmanager_notifications_failed_total{integration="webhook"} 0',
        "alertmanager_notification_latency_seconds_bucket",
        'alertmanager_silences{state="active"} 0',
        "alertmanager_dispatcher_aggregation_groups 1",
        "alertmanager_config_hash",
        "alertmanager_cluster_enabled 0",
        "alertmanager_nflog_queries_total",
        "alertmanager_build_info{",
    ):
        assert name in text, name


async def test_receiver_down_then_up_delivered_once(env: Env) -> None:
    env.sink.status = 503
    await env.req("POST", "/api/v2/alerts", [alert({"alertname": "Down"})])
    await asyncio.sleep(1.5)
    assert env.sink.received == []
    env.sink.status = 200
    await wait_for(lambda: env.sink.received, timeout=15)
    await asyncio.sleep(1.5)
    assert len(env.sink.received) == 1
    _, text = await env.req("GET", "/metrics")
    failed = [
        ln
        for ln in text.splitlines()
        if ln.startswith('alertmanager_notifications_failed_total{integration="webhook"}')
    ]
    assert float(failed[0].split()[-1]) >= 1


async def test_state_survives_restart(env: Env) -> None:
    now = datetime.now(UTC)
    st, res = await env.req(
        "POST",
        "/api/v2/silences",
        {
            "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": False}],
            "startsAt": iso(now),
            "endsAt": iso(now + timedelta(hours=1)),
            "createdBy": "me",
            "comment": "c",
        },
    )
    sid = res["silenceID"]
    a = alert({"alertname": "Once"})
    await env.req("POST", "/api/v2/alerts", [a])
    await wait_for(lambda: env.sink.received)
    await env.stop()
    assert (env.tmp / "data" / "silences").exists() and (env.tmp / "data" / "nflog").exists()
    await env.start()
    _, sils = await env.req("GET", "/api/v2/silences")
    assert [s["id"] for s in sils] == [sid]
    # Prometheus re-sends the alert after the restart: no second notification
    await env.req("POST", "/api/v2/alerts", [a])
    await asyncio.sleep(1.2)
    assert len(env.sink.received) == 1


async def test_sighup_reload(tmp_path: Path) -> None:
    cfg = "route: {receiver: a}\nreceivers: [{name: a}]\n"
    p = await asyncio.to_thread(start_am, "heron", tmp_path, cfg)
    try:
        p.config_path.write_text("route: {receiver: b}\nreceivers: [{name: b}]\n")
        os.kill(p.proc.pid, signal.SIGHUP)
        async with aiohttp.ClientSession() as s:
            for _ in range(100):
                async with s.get(p.url + "/api/v2/receivers") as r:
                    names = [x["name"] for x in await r.json()]
                if names == ["b"]:
                    break
                await asyncio.sleep(0.05)
            assert names == ["b"]
            p.config_path.write_text("route: {receiver: nope}\nreceivers: [{name: b}]\n")
            os.kill(p.proc.pid, signal.SIGHUP)
            await asyncio.sleep(0.5)
            async with s.get(p.url + "/api/v2/receivers") as r:
                assert [x["name"] for x in await r.json()] == ["b"]
        assert 'undefined receiver \\"nope\\"' in p.log() or 'undefined receiver "nope"' in p.log()
    finally:
        p.stop()
