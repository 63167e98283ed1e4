"""The rule manager: loading, scheduling with a fake clock, reloads, API shapes, notifications."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promql.engine import Engine
from promql.rules import RuleFileError
from promql.testing import MemStorage
from server.interface import RuleManager as RuleManagerProtocol
from server.notifier import NotifierAlert
from server.rulemanager import RuleManager, format_api_time_ns, send_alerts_func
from tests.promql.test_rules import FakeClock
from tsdb.interface import Labels, is_stale_nan

RULES = """
groups:
  - name: g1
    interval: 10s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 20s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} down, value {{ $value }}"
  - name: g2
    rules:
      - record: one
        expr: vector(1)
        labels:
          src: heron
"""


class Recorder:
    def __init__(self) -> None:
        self.sent: list[NotifierAlert] = []

    def send(self, alerts: list[NotifierAlert]) -> None:
        self.sent.extend(alerts)


def storage(start_s: float) -> MemStorage:
    st = MemStorage()
    t0 = int(start_s * 1000) - 600_000
    ts = np.arange(t0, t0 + 3_600_000, 5_000)
    st.add({"__name__": "up", "job": "j", "instance": "a"}, ts, np.zeros(len(ts)))
    st.add({"__name__": "up", "job": "j", "instance": "b"}, ts, np.ones(len(ts)))
    return st


def manager(st: MemStorage, clock: FakeClock, **kw: Any) -> RuleManager:
    return RuleManager(st, Engine(), clock=clock, sleep=clock.sleep, external_url="http://heron:9090", **kw)


def test_format_api_time() -> None:
    assert format_api_time_ns(None) == "0001-01-01T00:00:00Z"
    assert format_api_time_ns(1_700_000_000_000) == "2023-11-14T22:13:20Z"
    assert format_api_time_ns(1_700_000_000_120) == "2023-11-14T22:13:20.12Z"


async def test_loaded_but_not_evaluated_shape(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(RULES)
    clock = FakeClock(1_700_000_000.0)
    rm = manager(storage(clock.now), clock)
    assert isinstance(rm, RuleManagerProtocol)
    await rm.update(60_000, [str(tmp_path / "*.yml")], {})
    g1, g2 = rm.rule_groups()
    assert (g1["name"], g1["file"], g1["interval"], g1["limit"]) == ("g1", str(tmp_path / "r.yml"), 10, 0)
    assert g2["interval"] == 60  # the global evaluation_interval
    assert g1["lastEvaluation"] == "0001-01-01T00:00:00Z" and g1["evaluationTime"] == 0
    rec, alert = g1["rules"]
    assert rec == {
        "name": "job:up:sum",
        "query": "sum by (job) (up)",
        "health": "unknown",
        "evaluationTime": 0.0,
        "lastEvaluation": "0001-01-01T00:00:00Z",
        "type": "recording",
    }
    assert alert == {
        "state": "unknown",
        "name": "Down",
        "query": "up == 0",
        "duration": 20,
        "keepFiringFor": 0,
        "labels": {"severity": "page"},
        "annotations": {"summary": "{{ $labels.instance }} down, value {{ $value }}"},
        "alerts": [],
        "health": "unknown",
        "evaluationTime": 0.0,
        "lastEvaluation": "0001-01-01T00:00:00Z",
        "type": "alerting",
    }
    assert g2["rules"][0]["labels"] == {"src": "heron"}
    assert rm.alerts() == []


async def test_run_evaluates_on_schedule_and_notifies(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(RULES)
    clock = FakeClock(1_700_000_000.0)
    st = storage(clock.now)
    rec = Recorder()
    rm = manager(st, clock, notify_fn=send_alerts_func(rec, "http://heron:9090"))  # type: ignore[arg-type]
    await rm.update(60_000, [str(tmp_path / "r.yml")], {"dc": "eu"})
    task = asyncio.create_task(rm.run())
    try:
        await clock.advance(65)
    finally:
        rm.stop()
        await task
    g1 = rm.groups[f"{tmp_path / 'r.yml'};g1"]
    first = g1.eval_timestamp(1_700_000_000_000) + 10_000  # the slot depends on the file's path
    n_evals = (1_700_000_065_000 - first) // 10_000 + 1
    assert g1.metrics.iterations_scheduled == n_evals
    (alert,) = rm.alerts()
    assert alert == {
        "labels": {"alertname": "Down", "instance": "a", "job": "j", "severity": "page"},
        "annotations": {"summary": "a down, value 0"},
        "state": "firing",
        "activeAt": format_api_time_ns(first),
        "value": "0e+00",
    }
    rules = rm.rule_groups()[0]["rules"]
    assert rules[0]["health"] == "ok" and rules[1]["state"] == "firing"
    assert rules[1]["lastEvaluation"] != "0001-01-01T00:00:00Z"
    # firing from the third evaluation (20s) on; sent then, and no resend within 1m
    (sent,) = rec.sent
    assert sent.starts_at_ms == first + 20_000
    assert sent.ends_at_ms == first + 20_000 + 4 * 60_000  # 4 * max(resend 1m, interval 10s)
    assert sent.generator_url == "http://heron:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
    ts, vals = st.series(Labels.from_dict({"__name__": "job:up:sum", "job": "j"}))
    assert len(ts) == n_evals and vals.tolist() == [1.0] * n_evals


async def test_reload_keeps_unchanged_groups_and_alert_state(tmp_path: Path) -> None:
    f = tmp_path / "r.yml"
    f.write_text(RULES)
    clock = FakeClock(1_700_000_000.0)
    st = storage(clock.now)
    rm = manager(st, clock)
    await rm.update(10_000, [str(f)], {})
    task = asyncio.create_task(rm.run())
    try:
        await clock.advance(35)
        key1, key2 = f"{f};g1", f"{f};g2"
        g1_old, g2_old = rm.groups[key1], rm.groups[key2]
        active_before = rm.alerts()
        assert active_before and active_before[0]["state"] == "firing"
        # change g1 (new rule), drop g2
        f.write_text(RULES.split("  - name: g2")[0] + "      - record: extra\n        expr: vector(2)\n")
        await rm.update(10_000, [str(f)], {})
        assert key2 not in rm.groups and rm.groups[key1] is not g1_old
        assert rm.alerts() == active_before  # state carried over, still firing
        # an invalid file keeps everything as it is
        f.write_text("groups:\n- name: x\n  rules:\n  - record: bad name\n    expr: up\n")
        with pytest.raises(RuleFileError, match="invalid recording rule name"):
            await rm.update(10_000, [str(f)], {})
        assert set(rm.groups) == {key1} and rm.last_reload_error
        # unchanged reload: the very same group object keeps running
        g1_new = rm.groups[key1]
        f.write_text(RULES.split("  - name: g2")[0] + "      - record: extra\n        expr: vector(2)\n")
        await rm.update(10_000, [str(f)], {})
        assert rm.groups[key1] is g1_new
        # the removed group's series go stale two of its intervals later
        await clock.advance(125)
    finally:
        rm.stop()
        await task
    ts, vals = st.series(Labels.from_dict({"__name__": "one", "src": "heron"}))
    assert is_stale_nan(vals[-1]) and not any(is_stale_nan(v) for v in vals[:-1].tolist())
    assert g2_old.series_in_previous_eval == [set()]


async def test_first_load_restores_for_state(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(
        "groups:\n- name: slow\n  interval: 10s\n  rules:\n  - alert: Slow\n    expr: up == 0\n    for: 1h\n"
    )
    clock = FakeClock(1_700_000_000.0)
    st = storage(clock.now)
    # before the restart the alert had been pending for 50 minutes, until 60s ago
    down = 1_700_000_000_000 - 60_000
    st.add(
        {"__name__": "ALERTS_FOR_STATE", "alertname": "Slow", "instance": "a", "job": "j"},
        [down],
        [(down - 3_000_000) / 1000],
    )
    rm = manager(st, clock)
    await rm.update(60_000, [str(tmp_path / "r.yml")], {})
    task = asyncio.create_task(rm.run())
    try:
        await clock.advance(30)
    finally:
        rm.stop()
        await task
    (a,) = rm.alerts()
    (g,) = rm.groups.values()
    restore_time = g.eval_timestamp(1_700_000_000_000) + 20_000  # after the second evaluation
    # 10 minutes remained (>= grace period): activeAt moves forward by the downtime
    assert a["activeAt"] == format_api_time_ns(down - 3_000_000 + (restore_time - down))
    assert a["state"] == "pending"


async def test_executor_runs_evaluations_off_loop(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "r.yml").write_text(RULES)
    clock = FakeClock(1_700_000_000.0)
    st = storage(clock.now)
    with ThreadPoolExecutor(2) as pool:
        rm = manager(st, clock, executor=pool)
        await rm.update(60_000, [str(tmp_path / "r.yml")], {})
        task = asyncio.create_task(rm.run())
        try:
            for _ in range(4):
                await clock.advance(10)
                await asyncio.sleep(0.05)
        finally:
            rm.stop()
            await task
    assert rm.rule_groups()[0]["rules"][0]["health"] == "ok"
    assert sum(g.metrics.iterations_scheduled for g in rm.groups.values()) >= 3


async def test_plugged_into_server_app(tmp_path: Path) -> None:
    """The wiring recipe: RuleManager + Notifier as the server's rules and Alertmanager providers."""
    from aiohttp.test_utils import TestClient, TestServer

    from scraper.config import load_config_str
    from server.app import STATE, ServerFlags, create_app
    from server.notifier import Notifier
    from tsdb import open_db

    (tmp_path / "r.yml").write_text(RULES)
    cfg = load_config_str(
        f"rule_files: ['{tmp_path}/*.yml']\n"
        "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:1']\n"
    )
    db = open_db(tmp_path / "db")
    try:
        now = 1_700_000_000_000
        app_ = db.appender()
        for inst, v in (("a", 0.0), ("b", 1.0)):
            for k in range(20):
                app_.append(
                    None,
                    Labels.from_dict({"__name__": "up", "job": "j", "instance": inst}),
                    now - 95_000 + k * 5_000,
                    v,
                )
        app_.commit()
        notifier = Notifier(retries=0)
        notifier.apply_config(cfg)
        engine = Engine()
        rm = RuleManager(db, engine, notifier=notifier, external_url="http://heron:9090")
        app = create_app(db, engine, cfg, ServerFlags(), rules=rm, alertmanagers=notifier)
        rm.appendable = app[STATE].appendable  # rule results also go to remote write, as in Prometheus
        await rm.update(
            cfg.global_config.evaluation_interval,
            cfg.rule_file_paths(),
            dict(cfg.external_labels.pairs),
            rule_query_offset_ms=cfg.global_config.rule_query_offset,
        )
        for g in rm.groups.values():
            for k in range(3):
                g.eval_iteration(now + k * 10_000)
        async with TestClient(TestServer(app)) as c:
            r = await c.get("/api/v1/rules", params={"type": "alert"})
            body = await r.json()
            (grp,) = body["data"]["groups"]
            assert grp["name"] == "g1" and grp["interval"] == 10
            assert [x["name"] for x in grp["rules"]] == ["Down"] and grp["rules"][0]["state"] == "firing"
            alerts = (await (await c.get("/api/v1/alerts")).json())["data"]["alerts"]
            assert [a["labels"]["instance"] for a in alerts] == ["a"]
            ams = (await (await c.get("/api/v1/alertmanagers")).json())["data"]
            assert ams["activeAlertmanagers"] == [{"url": "http://127.0.0.1:1/api/v2/alerts"}]
            q = await (
                await c.get(
                    "/api/v1/query", params={"query": "job:up:sum", "time": str((now + 20_000) / 1000)}
                )
            ).json()
            assert q["data"]["result"][0]["value"][1] == "1"
        assert notifier.queue_length == 1  # the firing alert, waiting for the (unstarted) notifier
    finally:
        db.close()
