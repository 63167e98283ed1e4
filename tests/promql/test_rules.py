"""Rule files, recording rules, the alert state machine, group evaluation, staleness and restore."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Sequence

import numpy as np
import pytest

from promql.engine import Engine
from promql.rules import (
    ALERTS_FOR_STATE_METRIC,
    Alert,
    AlertingRule,
    AlertState,
    Group,
    GroupOptions,
    RecordingRule,
    RuleEvalError,
    RuleFileError,
    RuleHealth,
    build_group,
    engine_query_func,
    load_rule_file,
    parse_rule_file,
)
from promql.testing import MemStorage
from tsdb.interface import Labels, is_stale_nan

MIN = 60_000


def L(**kv: str) -> Labels:  # noqa: N802
    return Labels.from_dict(kv)


class Script:
    """A query function returning a scripted vector per evaluation time."""

    def __init__(self) -> None:
        self.at: dict[int, list[tuple[Labels, float]]] = {}
        self.calls: list[int] = []

    def __call__(self, expr: object, t: int) -> list[tuple[Labels, float]]:
        self.calls.append(t)
        return self.at.get(t, [])


class FakeClock:
    """Seconds-based clock whose ``sleep`` waits until ``advance`` moves time past the deadline."""

    def __init__(self, start_s: float) -> None:
        self.now = start_s
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (self.now + max(s, 0.0), next(self._seq), fut))
        await fut

    async def _settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def advance(self, s: float) -> None:
        end = self.now + s
        await self._settle()
        while self._waiters and self._waiters[0][0] <= end:
            d, _, fut = heapq.heappop(self._waiters)
            self.now = max(self.now, d)
            if not fut.done():
                fut.set_result(None)
            await self._settle()
        self.now = end
        await self._settle()


# =========================================================================== rule files

GOOD = """
groups:
  - name: example
    interval: 30s
    limit: 5
    query_offset: 1m
    labels:
      team: infra
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        keep_firing_for: 2m
        labels:
          severity: page
          team: sre
        annotations:
          summary: "{{ $labels.instance }} down"
"""


def test_parse_good_rule_file() -> None:
    groups, errs = parse_rule_file(GOOD, "r.yml")
    assert errs == []
    (g,) = groups
    assert (g.name, g.interval_ms, g.limit, g.query_offset_ms, g.file) == ("example", 30_000, 5, MIN, "r.yml")
    rec, alert = g.rules
    assert rec.record == "job:up:sum" and rec.labels == {"team": "infra"}
    assert alert.alert == "InstanceDown" and alert.for_ms == 5 * MIN and alert.keep_firing_for_ms == 2 * MIN
    assert alert.labels == {"team": "sre", "severity": "page"}  # rule labels override group labels


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("groups:\n- name: a\n  bogus: 1\n", "line 3: field bogus not found in type rulefmt.RuleGroup"),
        (
            "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    expr: up\n",
            'line 6: mapping key "expr" already defined at line 5',
        ),
        (
            "groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(up\n",
            '5:11: group "a", rule 1, "x": could not parse expression: 1:7: parse error',
        ),
        (
            "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    for: 1m\n",
            "invalid field 'for' in recording rule",
        ),
        ("groups:\n- name: a\n  rules:\n  - record: 1x\n    expr: up\n", "invalid recording rule name: 1x"),
        (
            "groups:\n- name: a\n  rules: []\n- name: a\n  rules: []\n",
            '4:3: groupname: "a" is repeated in the same file',
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up\n    labels:\n      bad-name: x\n",
            "invalid label name: bad-name",
        ),
        (
            "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up\n    annotations:\n      s: '{{ nope }}'\n",
            'annotation "s": template: __alert_X:1: function "nope" not defined',
        ),
        ("groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up\n    for: 5x\n", "6:10: unknown unit"),
        (
            "groups:\n- name: a\n  rules:\n  - record: x\n    alert: y\n    expr: up\n",
            "only one of 'record' and 'alert' must be set",
        ),
        ("groups:\n- name: a\n  rules:\n  - expr: up\n", "one of 'record' or 'alert' must be set"),
        ("groups:\n- name: ''\n  rules: []\n", "2:3: Groupname must not be empty"),
        ("groups:\n- name: a\n  limit: x\n", "line 3: cannot unmarshal !!str `x` into int"),
    ],
)
def test_invalid_rule_files_name_file_and_line(text: str, needle: str) -> None:
    groups, errs = parse_rule_file(text, "bad.yml")
    assert groups == []
    assert any(e.startswith("bad.yml: ") and needle in e for e in errs), errs


def test_load_rule_file_collects_all_errors(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "r.yml"
    p.write_text("groups:\n- name: a\n  rules:\n  - record: 1x\n    expr: up(\n")
    with pytest.raises(RuleFileError) as ei:
        load_rule_file(p)
    assert len(ei.value.errors) == 2
    with pytest.raises(RuleFileError, match="no such file"):
        load_rule_file(tmp_path / "missing.yml")


# =========================================================================== recording rules


def test_recording_rule_renames_and_labels() -> None:
    q = Script()
    q.at[1000] = [(L(__name__="up", job="a"), 1.0), (L(__name__="up", job="b"), 0.0)]
    r = RecordingRule("job:up", "up", {"env": "prod"})
    out = r.eval(1000, q)
    assert [(s.labels, s.t, s.v) for s in out] == [
        (L(__name__="job:up", job="a", env="prod"), 1000, 1.0),
        (L(__name__="job:up", job="b", env="prod"), 1000, 0.0),
    ]
    q.at[2000 - MIN] = q.at[1000]
    assert r.eval(2000, q, query_offset_ms=MIN)[0].t == 2000 - MIN


def test_recording_rule_duplicate_labelset_and_limit() -> None:
    q = Script()
    q.at[0] = [(L(__name__="a", job="x"), 1.0), (L(__name__="b", job="x"), 2.0)]
    with pytest.raises(RuleEvalError, match="same labelset after applying rule labels"):
        RecordingRule("r", "a or b", {}).eval(0, q)
    q.at[0] = [(L(job="x"), 1.0), (L(job="y"), 2.0)]
    with pytest.raises(RuleEvalError, match="exceeded limit of 1 with 2 series"):
        RecordingRule("r", "x", {}).eval(0, q, limit=1)


# =========================================================================== alert state machine


def alert_samples(out: Sequence[object]) -> list[tuple[str, str, float]]:
    res = []
    for s in out:
        lb = s.labels  # type: ignore[attr-defined]
        res.append((lb.name, lb.get("alertstate"), s.v))  # type: ignore[attr-defined]
    return res


def test_alert_pending_firing_resolved_retention() -> None:
    q = Script()
    series = [(L(__name__="up", instance="a", job="j"), 0.0)]
    for t in range(0, 16 * MIN, MIN):
        q.at[t] = series
    r = AlertingRule("Down", "up == 0", hold_ms=10 * MIN, labels={"severity": "page"})
    assert r.state() == AlertState.UNKNOWN
    states = []
    kept: dict[int, list[Alert]] = {}
    for t in range(0, 40 * MIN, MIN):
        out = r.eval(t, q)
        r.last_evaluation_ms = t
        states.append((t // MIN, r.state(), alert_samples(out)))
        kept[t // MIN] = r.current_alerts()
    assert states[0] == (
        0,
        AlertState.PENDING,
        [("ALERTS", "pending", 1.0), (ALERTS_FOR_STATE_METRIC, "", 0.0)],
    )
    assert states[9][1] == AlertState.PENDING
    assert states[10] == (
        10,
        AlertState.FIRING,
        [("ALERTS", "firing", 1.0), (ALERTS_FOR_STATE_METRIC, "", 0.0)],
    )
    # series gone at 16m: resolved, no more ALERTS samples, kept for 15 minutes
    assert states[16] == (16, AlertState.INACTIVE, [])
    (a,) = kept[16]
    assert (a.resolved_at, a.fired_at, a.active_at) == (16 * MIN, 10 * MIN, 0)
    assert len(kept[31]) == 1  # 31m - 16m = 15m: still retained (sent as resolved)
    assert states[32][1] == AlertState.INACTIVE and kept[32] == []  # > 15m: dropped
    assert r.active_alerts() == []


def test_alert_labels_annotations_templated_and_for_state_value() -> None:
    q = Script()
    q.at[90_500] = [(L(__name__="load", instance="h1"), 3.14159)]
    r = AlertingRule(
        "HighLoad",
        "load > 1",
        labels={"severity": "{{ if gt $value 3.0 }}page{{ else }}ticket{{ end }}"},
        annotations={
            "summary": '{{ $labels.instance }}: {{ $value | printf "%.2f" }} ({{ $externalLabels.dc }})'
        },
        external_labels={"dc": "eu"},
    )
    out = r.eval(90_500, q)
    (a,) = r.active_alerts()
    assert a.labels == L(alertname="HighLoad", instance="h1", severity="page")
    assert a.annotations == L(summary="h1: 3.14 (eu)")
    alerts_s, for_s = out
    assert alerts_s.labels == L(
        __name__="ALERTS", alertname="HighLoad", alertstate="firing", instance="h1", severity="page"
    )
    assert for_s.labels == L(
        __name__="ALERTS_FOR_STATE", alertname="HighLoad", instance="h1", severity="page"
    )
    assert for_s.v == 90.0  # activeAt in unix seconds


def test_keep_firing_for() -> None:
    q = Script()
    s = [(L(__name__="x"), 1.0)]
    q.at[0] = q.at[MIN] = s
    r = AlertingRule("K", "x", keep_firing_for_ms=2 * MIN)
    r.eval(0, q)
    assert r.active_alerts()[0].state == AlertState.FIRING
    r.eval(MIN, q)
    out = r.eval(2 * MIN, q)  # gone: keeps firing since 2m
    (a,) = r.active_alerts()
    assert a.state == AlertState.FIRING and a.keep_firing_since == 2 * MIN
    assert alert_samples(out)[0] == ("ALERTS", "firing", 1.0)
    r.eval(3 * MIN, q)
    assert r.active_alerts()[0].state == AlertState.FIRING
    r.eval(4 * MIN, q)  # 4m - 2m >= keep_firing_for: resolved
    assert r.active_alerts() == [] and r.current_alerts()[0].resolved_at == 4 * MIN
    # comes back while retained: a new pending/firing instance replaces the resolved one
    q.at[5 * MIN] = s
    r.eval(5 * MIN, q)
    (a,) = r.active_alerts()
    assert a.active_at == 5 * MIN and a.resolved_at is None


def test_keep_firing_reset_when_condition_returns() -> None:
    q = Script()
    s = [(L(__name__="x"), 1.0)]
    q.at[0] = q.at[2 * MIN] = s
    r = AlertingRule("K", "x", keep_firing_for_ms=5 * MIN)
    r.eval(0, q)
    r.eval(MIN, q)
    assert r.active_alerts()[0].keep_firing_since == MIN
    r.eval(2 * MIN, q)
    assert r.active_alerts()[0].keep_firing_since is None


def test_pending_alert_dropped_when_condition_clears() -> None:
    q = Script()
    q.at[0] = [(L(__name__="x"), 1.0)]
    r = AlertingRule("P", "x", hold_ms=5 * MIN)
    r.eval(0, q)
    assert r.active_alerts()[0].state == AlertState.PENDING
    r.eval(MIN, q)
    assert r.current_alerts() == []


def test_alert_duplicate_labelset_after_alert_labels() -> None:
    q = Script()
    q.at[0] = [(L(__name__="a", job="x"), 1.0), (L(__name__="b", job="x"), 1.0)]
    r = AlertingRule("D", "a or b")
    with pytest.raises(
        RuleEvalError, match="vector contains metrics with the same labelset after applying alert labels"
    ):
        r.eval(0, q)
    assert r.active == {}


def test_alert_limit_clears_state() -> None:
    q = Script()
    q.at[0] = [(L(i="1"), 1.0), (L(i="2"), 1.0)]
    r = AlertingRule("Lim", "x")
    with pytest.raises(RuleEvalError, match="exceeded limit of 1 with 2 alerts"):
        r.eval(0, q, limit=1)
    assert r.active == {}
    r.eval(0, q, limit=2)
    assert len(r.active_alerts()) == 2


def test_not_restored_rule_writes_no_series() -> None:
    q = Script()
    q.at[0] = [(L(i="1"), 1.0)]
    r = AlertingRule("R", "x", restored=False)
    assert r.eval(0, q) == []
    assert len(r.active_alerts()) == 1


def test_alerts_to_send_resend_delay_and_valid_until() -> None:
    q = Script()
    for t in range(0, 10 * MIN, 15_000):
        q.at[t] = [(L(i="1"), 1.0)]
    r = AlertingRule("S", "x")
    sent_at = []
    for t in range(0, 10 * MIN, 15_000):
        r.eval(t, q)
        for a in r.alerts_to_send(t, MIN, 15_000):
            sent_at.append(t)
            assert a.valid_until == t + 4 * MIN
    # first at 0, then whenever last_sent + 1m < now (strictly): 75s, 150s, …
    assert sent_at[:3] == [0, 75_000, 150_000]
    r.eval(10 * MIN, q)  # resolved: sent at once
    (a,) = r.alerts_to_send(10 * MIN, MIN, 15_000)
    assert a.resolved_at == 10 * MIN
    pending = Alert(AlertState.PENDING, L(), L(), 1.0, 0)
    assert not pending.needs_sending(10**9, MIN)


# =========================================================================== groups


def make_group(storage: MemStorage, rules: list, interval_ms: int = MIN, **kw: object) -> Group:
    engine = Engine()
    opts = GroupOptions(
        appendable=storage,
        queryable=storage,
        query_fn=engine_query_func(engine, storage),
        clock=kw.pop("clock", lambda: 0.0),  # type: ignore[arg-type]
        sleep=kw.pop("sleep", asyncio.sleep),  # type: ignore[arg-type]
        notify_fn=kw.pop("notify_fn", None),  # type: ignore[arg-type]
    )
    return Group("g", "f.yml", interval_ms, rules, opts, **kw)  # type: ignore[arg-type]


def series_of(storage: MemStorage, **kv: str) -> tuple[list[int], list[float]]:
    ts, vals = storage.series(Labels.from_dict(kv))
    return ts.tolist(), vals.tolist()


def test_group_eval_writes_through_appendable_and_marks_stale() -> None:
    st = MemStorage()
    st.add({"__name__": "up", "job": "a"}, [0, MIN], [1, 1])
    st.add({"__name__": "up", "job": "b"}, [0], [0])
    g = make_group(st, [RecordingRule("job:up", "sum by (job) (up)", {}), AlertingRule("Down", "up == 0")])
    g.eval(0)
    assert series_of(st, __name__="job:up", job="a") == ([0], [1.0])
    assert series_of(st, __name__="ALERTS", alertname="Down", alertstate="firing", job="b") == ([0], [1.0])
    g.eval(MIN)  # job="b" sample is older than the 5m lookback? no: still visible at 1m
    g.eval(6 * MIN)  # now both up series are out of lookback (last samples at 0 and 1m; 6m-1m = 5m)
    ts, vals = series_of(st, __name__="job:up", job="b")
    assert ts == [0, MIN, 6 * MIN] and is_stale_nan(vals[-1])
    ts, vals = series_of(st, __name__="ALERTS", alertname="Down", alertstate="firing", job="b")
    assert ts[-1] == 6 * MIN and is_stale_nan(vals[-1])
    assert [r.health for r in g.rules] == [RuleHealth.GOOD, RuleHealth.GOOD]


def test_group_eval_records_failures_as_rule_health() -> None:
    st = MemStorage()
    st.add({"__name__": "x", "a": "1"}, [0], [1])
    st.add({"__name__": "y", "a": "1"}, [0], [1])
    g = make_group(st, [RecordingRule("r", "x", {})])
    g.rules.append(RecordingRule("bad", '"a string"', {}))
    g.series_in_previous_eval.append(set())
    g.eval(0)
    assert g.rules[1].health == RuleHealth.BAD
    assert g.rules[1].last_error == "rule result is not a vector or scalar"
    assert g.metrics.evaluation_failures == 1


def test_group_query_offset_shifts_samples() -> None:
    st = MemStorage()
    st.add({"__name__": "x"}, [0], [5])
    g = make_group(st, [RecordingRule("r", "x", {})], query_offset_ms=30_000)
    g.eval(60_000)
    assert series_of(st, __name__="r") == ([30_000], [5.0])


def test_eval_timestamp_is_slotted_and_stable() -> None:
    st = MemStorage()
    g = make_group(st, [], interval_ms=15_000)
    t0 = g.eval_timestamp(1_700_000_000_000)
    assert t0 <= 1_700_000_000_000 < t0 + 15_000
    assert (t0 - g.hash() % 15_000) % 15_000 == 0
    assert g.eval_timestamp(t0 + 14_999) == t0 and g.eval_timestamp(t0 + 15_000) == t0 + 15_000


def test_copy_state_keeps_alerts_and_stales_removed_rules() -> None:
    st = MemStorage()
    st.add({"__name__": "x", "i": "1"}, [0], [1])
    old = make_group(st, [AlertingRule("A", "x"), RecordingRule("gone", "x", {})])
    old.eval(0)
    new = make_group(st, [AlertingRule("A", "x")])
    new.copy_state(old)
    assert new.rules[0].active == old.rules[0].active  # type: ignore[attr-defined]
    assert new.stale_series == [Labels.from_dict({"__name__": "gone", "i": "1"})]
    new.eval(MIN)
    ts, vals = series_of(st, __name__="gone", i="1")
    assert ts == [0, MIN] and is_stale_nan(vals[1])
    assert not new.equals(old) and new.equals(make_group(st, [AlertingRule("A", "x")]))


def test_restore_for_state_after_restart() -> None:
    st = MemStorage()
    # Before the restart: alert pending since t=1000s, last ALERTS_FOR_STATE written at t=2800s.
    lbl = {"__name__": "ALERTS_FOR_STATE", "alertname": "Slow", "i": "1"}
    st.add(lbl, [1_000_000, 2_800_000], [1000.0, 1000.0])
    st.add({"__name__": "x", "i": "1"}, np.arange(3_000_000, 3_400_000, 60_000), [1.0] * 7)
    rule = AlertingRule("Slow", "x", hold_ms=3_600_000, restored=False)
    fast = AlertingRule("Fast", "x", hold_ms=MIN, restored=False)
    g = make_group(st, [rule, fast], should_restore=True)
    g.eval(3_000_000)
    assert rule.eval(3_060_000, g.opts.query_fn) == []  # not restored yet: no series written
    g.restore_for_state(3_060_000)
    assert rule.restored and fast.restored
    (a,) = rule.active_alerts()
    # 1800s spent pending before going down at 2800s; the remaining 1800s >= grace: shift by the downtime
    assert a.active_at == 1_000_000 + (3_060_000 - 2_800_000)
    # remaining below the grace period: fire ``grace`` after the restore
    st2 = MemStorage()
    st2.add(lbl, [4_100_000], [1000.0])  # 3100s of the 3600s spent: 500s left < 600s grace
    st2.add({"__name__": "x", "i": "1"}, [4_200_000], [1.0])
    r2 = AlertingRule("Slow", "x", hold_ms=3_600_000, restored=False)
    g2 = make_group(st2, [r2], should_restore=True)
    g2.eval(4_200_000)
    g2.restore_for_state(4_200_000)
    assert r2.active_alerts()[0].active_at == 4_200_000 + 600_000 - 3_600_000


def test_restore_ignores_stale_and_too_old_state() -> None:
    st = MemStorage()
    lbl = {"__name__": "ALERTS_FOR_STATE", "alertname": "Slow", "i": "1"}
    st.add(lbl, [1_000_000], [float("nan")])
    st.add({"__name__": "x", "i": "1"}, [9_000_000], [1.0])
    from tsdb.interface import STALE_NAN

    st.add(lbl, [2_000_000], [STALE_NAN])
    rule = AlertingRule("Slow", "x", hold_ms=3_600_000, restored=False)
    g = make_group(st, [rule], should_restore=True)
    g.eval(9_000_000)
    g.restore_for_state(9_000_000)  # outage tolerance 1h: the 2000s sample is out of range anyway
    assert rule.active_alerts()[0].active_at == 9_000_000


async def test_group_run_with_fake_clock_notifies_and_restores() -> None:
    st = MemStorage()
    st.add({"__name__": "x", "i": "1"}, np.arange(0, 3_600_000, 15_000), [1.0] * 240)
    clock = FakeClock(1000.0)
    sent: list[tuple[str, list[Alert]]] = []
    rule = AlertingRule("X", "x > 0", hold_ms=30_000, restored=False)
    g = make_group(
        st,
        [rule],
        interval_ms=15_000,
        clock=clock,
        sleep=clock.sleep,
        notify_fn=lambda expr, alerts: sent.append((expr, alerts)),
        should_restore=True,
    )
    task = asyncio.create_task(g.run())
    try:
        await clock.advance(120)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    first = g.eval_timestamp(1_000_000) + 15_000
    assert g.metrics.iterations_scheduled == 8
    assert g.last_eval_timestamp_ms == first + 7 * 15_000
    assert not g.should_restore and rule.restored
    (a,) = rule.active_alerts()
    assert a.state == AlertState.FIRING and a.fired_at == first + 30_000
    assert sent and sent[0][0] == "x > 0" and sent[0][1][0].state == AlertState.FIRING
    # ALERTS written only after the restore (third evaluation on)
    ts, _ = series_of(st, __name__="ALERTS", alertname="X", alertstate="firing", i="1")
    assert ts[0] == first + 2 * 15_000


async def test_group_run_counts_missed_iterations() -> None:
    st = MemStorage()
    clock = FakeClock(0.0)
    g = make_group(
        st, [RecordingRule("r", "vector(1)", {})], interval_ms=10_000, clock=clock, sleep=clock.sleep
    )
    first = g.eval_timestamp(0) + 10_000
    task = asyncio.create_task(g.run())
    try:
        await clock.advance(first / 1000 + 0.001)
        assert g.metrics.iterations_scheduled == 1
        clock.now += 35  # a stall: 3 slots missed
        await clock.advance(0)
        assert g.metrics.iterations_missed == 2
        assert g.last_eval_timestamp_ms == first + 30_000
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_build_group_from_spec_uses_default_interval() -> None:
    st = MemStorage()
    groups, errs = parse_rule_file("groups:\n- name: a\n  rules:\n  - record: r\n    expr: vector(1)\n", "f")
    assert not errs
    g = build_group(groups[0], make_group(st, []).opts, default_interval_ms=7_000)
    assert g.interval_ms == 7_000 and isinstance(g.rules[0], RecordingRule)
    g.eval(7_000)
    assert series_of(st, __name__="r") == ([7_000], [1.0])
    assert math.isclose(g.rules[0].evaluation_time_s, g.rules[0].evaluation_time_s)
