"""Dispatcher, aggregation-group timers and the pipeline stages, on a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertmanager.silence import Silence, SilenceMatcher
from alertmanager.types import NS, ZERO, FakeClock, now_ns

from .util import Harness

BASE = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 5m
  routes:
    - matchers: [team="db"]
      receiver: db
      continue: true
    - matchers: [team=~"db|web"]
      receiver: ops
      group_by: [alertname, instance]
receivers:
  - name: default
    webhook_configs: [{url: "http://x/default"}]
  - name: db
    webhook_configs: [{url: "http://x/db"}, {url: "http://x/db2", send_resolved: false}]
  - name: ops
    webhook_configs: [{url: "http://x/ops"}]
"""


@pytest.fixture
async def h() -> Harness:
    hh = Harness(BASE)
    hh.start()
    yield hh
    await hh.stop()


def names(alerts: list) -> list[str]:
    return [a.labels.get("instance", "") for a in alerts]


async def test_group_wait_then_group_interval(h: Harness) -> None:
    c = h.clock
    t0 = c.now()
    h.post({"alertname": "A", "instance": "1"})
    await c.advance(5)
    h.post({"alertname": "A", "instance": "2"})
    assert h.sent("default") == []
    await c.advance(5)  # group_wait over: one notification with both alerts
    (n1,) = h.sent("default")
    assert n1[0] == t0 + 10
    assert names(n1[2]) == ["1", "2"]
    assert n1[1].group_key == '{}:{alertname="A"}'
    assert all(a.ends_at == ZERO for a in n1[2])  # firing alerts are sent without endsAt
    # a new alert in the group waits for the next group_interval tick
    await c.advance(10)
    h.post({"alertname": "A", "instance": "3"})
    await c.advance(49)
    assert len(h.sent("default")) == 1
    await c.advance(1)
    assert len(h.sent("default")) == 2
    assert names(h.sent("default")[1][2]) == ["1", "2", "3"]
    assert h.sent("default")[1][0] == t0 + 70


async def test_repeat_interval_and_nothing_changed(h: Harness) -> None:
    c = h.clock
    h.post({"alertname": "A"}, resolve_in=3600)
    await c.advance(10)
    assert len(h.sent("default")) == 1
    # ticks at 70 ... 310 send nothing (at 310 the last send is exactly 5m old, not older);
    # 370 repeats, as in Alertmanager where the log entry is written after the send
    await c.advance(300)
    assert len(h.sent("default")) == 1
    await c.advance(60)
    assert len(h.sent("default")) == 2
    assert h.sent("default")[1][0] == pytest.approx(c.now())


async def test_resolved_sent_and_group_emptied(h: Harness) -> None:
    c = h.clock
    a = h.post({"alertname": "A"}, resolve_in=3600)
    await c.advance(10)
    # resolve explicitly (as Prometheus does): endsAt = now
    h.alerts.put(a.copy(ends_at=now_ns(c), updated_at=now_ns(c)))
    await c.advance(60)
    sent = h.sent("default")
    assert len(sent) == 2
    (ra,) = sent[1][2]
    assert ra.resolved_at(now_ns(c)) and ra.ends_at != ZERO
    # the resolved alert left the group: no more notifications, group is garbage collected
    await c.advance(600)
    assert len(h.sent("default")) == 2
    assert h.dispatcher.num_groups() == 0


async def test_resolve_timeout_resolves(h: Harness) -> None:
    c = h.clock
    h.post({"alertname": "A"}, resolve_in=30)  # e.g. resolve_timeout of 30s and no updates
    await c.advance(10)
    await c.advance(60)
    sent = h.sent("default")
    assert [s[1].group_key for s in sent] == ['{}:{alertname="A"}'] * 2
    assert sent[1][2][0].resolved_at(now_ns(c))


async def test_fired_and_resolved_within_interval_not_sent(h: Harness) -> None:
    c = h.clock
    h.post({"alertname": "A"}, resolve_in=2)
    await c.advance(10)
    assert h.sent("default") == []


async def test_old_alert_flushes_immediately(h: Harness) -> None:
    c = h.clock
    h.post({"alertname": "B"}, starts_at=now_ns(c) - 60 * NS)
    await c.advance(0.001)
    assert len(h.sent("default")) == 1


async def test_continue_and_group_by_per_route(h: Harness) -> None:
    c = h.clock
    h.post({"alertname": "Disk", "team": "db", "instance": "a"})
    h.post({"alertname": "Disk", "team": "db", "instance": "b"})
    await c.advance(10)
    assert len(h.sent("db", 0)) == 1 and len(h.sent("db", 1)) == 1
    assert [s[1].group_key for s in h.sent("ops")] == [
        '{}/{team=~"db|web"}:{alertname="Disk", instance="a"}',
        '{}/{team=~"db|web"}:{alertname="Disk", instance="b"}',
    ] or sorted(s[1].group_key for s in h.sent("ops")) == [
        '{}/{team=~"db|web"}:{alertname="Disk", instance="a"}',
        '{}/{team=~"db|web"}:{alertname="Disk", instance="b"}',
    ]
    assert h.sent("db")[0][1].group_key == '{}/{team="db"}:{alertname="Disk"}'
    assert h.sent("default") == []


async def test_send_resolved_false(h: Harness) -> None:
    c = h.clock
    a = h.post({"alertname": "Disk", "team": "db"}, resolve_in=3600)
    await c.advance(10)
    h.alerts.put(a.copy(ends_at=now_ns(c), updated_at=now_ns(c)))
    await c.advance(60)
    assert len(h.sent("db", 0)) == 2
    assert len(h.sent("db", 1)) == 1  # resolved-only notification suppressed, but logged
    entry = h.nflog.query(h.nflog.all()[0].receiver, h.nflog.all()[0].group_key)
    assert entry is not None


async def test_retry_until_receiver_back(h: Harness) -> None:
    c = h.clock
    rec = h.recorders["default"][0]
    rec.fail = 3
    h.post({"alertname": "A"}, resolve_in=3600)
    await c.advance(10)
    await c.advance(5)  # backoff 0.5s * 1.5^n with jitter stays well within 5s for 3 failures
    assert rec.attempts == 4
    assert len(rec.sent) == 1
    await c.advance(60)
    assert len(rec.sent) == 1  # not duplicated


async def test_retry_gives_up_then_next_flush_delivers(h: Harness) -> None:
    c = h.clock
    rec = h.recorders["default"][0]
    rec.fail = 10_000
    h.post({"alertname": "A"}, resolve_in=3600)
    await c.advance(10)
    await c.advance(60)  # the whole first flush (timeout = group_interval) fails
    assert rec.sent == []
    rec.fail = 0
    await c.advance(60)
    assert len(rec.sent) == 1


async def test_silence_and_expire(h: Harness) -> None:
    c = h.clock
    now = now_ns(c)
    sid = h.silences.set(
        Silence("", [SilenceMatcher("alertname", "A")], now, now + 3600 * NS, created_by="t", comment="c")
    )
    h.post({"alertname": "A"}, resolve_in=7200)
    await c.advance(10)
    assert h.sent("default") == []
    st = h.marker.status(next(iter(h.alerts.list())).fingerprint)
    assert st.state == "suppressed" and st.silenced_by == [sid]
    h.silences.expire(sid)
    await c.advance(60)
    assert len(h.sent("default")) == 1


async def test_inhibition() -> None:
    h = Harness(
        """
route: {receiver: r, group_by: [alertname], group_wait: 1s, group_interval: 10s}
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
receivers:
  - name: r
    webhook_configs: [{url: "http://x/"}]
"""
    )
    h.start()
    c = h.clock
    h.post({"alertname": "Crit", "severity": "critical", "cluster": "a"})
    h.post({"alertname": "Warn", "severity": "warning", "cluster": "a"})
    h.post({"alertname": "Warn2", "severity": "warning", "cluster": "b"})
    await c.advance(1)
    keys = sorted(s[1].group_key for s in h.sent("r"))
    assert keys == ['{}:{alertname="Crit"}', '{}:{alertname="Warn2"}']
    await h.stop()


async def test_mute_and_active_time_intervals() -> None:
    # 2023-11-14 is a Tuesday; FakeClock starts at 1_700_000_000 = 2023-11-14T22:13:20Z
    h = Harness(
        """
route:
  receiver: r
  group_by: [alertname]
  group_wait: 1s
  group_interval: 10s
  routes:
    - matchers: [kind="muted"]
      mute_time_intervals: [evening]
    - matchers: [kind="office"]
      active_time_intervals: [office]
time_intervals:
  - name: evening
    time_intervals: [{times: [{start_time: "22:00", end_time: "23:00"}], weekdays: ["tuesday"]}]
  - name: office
    time_intervals: [{times: [{start_time: "09:00", end_time: "17:00"}], weekdays: ["monday:friday"]}]
receivers:
  - name: r
    webhook_configs: [{url: "http://x/"}]
""",
        clock=FakeClock(1_700_000_000.0),
    )
    h.start()
    c = h.clock
    h.post({"alertname": "M", "kind": "muted"}, resolve_in=7200)
    h.post({"alertname": "O", "kind": "office"}, resolve_in=7200)
    h.post({"alertname": "P", "kind": "plain"}, resolve_in=7200)
    await c.advance(1)
    assert [s[1].group_labels for s in h.sent("r")] == [{"alertname": "P"}]
    await c.advance(47 * 60)  # 23:00 passed: the muted route sends
    assert sorted(s[1].group_labels["alertname"] for s in h.sent("r")) == ["M", "P"]
    await h.stop()


async def test_nflog_persists_across_restart(tmp_path: Path) -> None:
    h = Harness(BASE, tmp=tmp_path)
    h.start()
    h.post({"alertname": "A"}, resolve_in=3600)
    await h.clock.advance(10)
    assert len(h.sent("default")) == 1
    h.nflog.snapshot()
    await h.stop()
    # a new process with the same storage and the alert re-sent: no duplicate notification
    h2 = Harness(BASE, clock=h.clock, tmp=tmp_path)
    h2.start()
    h2.post({"alertname": "A"}, resolve_in=3600, starts_at=now_ns(h.clock) - 20 * NS)
    await h2.clock.advance(61)
    assert h2.sent("default") == []
    await h2.stop()


async def test_max_alerts_payload() -> None:
    from alertmanager.notify import webhook_message
    from alertmanager.types import Alert

    alerts = [Alert({"alertname": "A", "i": str(i)}, starts_at=0, ends_at=ZERO) for i in range(5)]
    m = webhook_message("my-recv", "{}:{}", {}, alerts, "http://am/", 10, max_alerts=2)
    assert m["truncatedAlerts"] == 3 and len(m["alerts"]) == 2
    assert m["receiver"] == "my_recv"
    assert list(m) == [
        "receiver",
        "status",
        "alerts",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "version",
        "groupKey",
        "truncatedAlerts",
    ]
