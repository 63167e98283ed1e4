"""``promtool test rules`` files evaluated by both promtool and Heron's ``run_rule_unit_tests``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from promql.rules import run_rule_unit_tests
from tests.conftest import require_peer

RULES = """
groups:
  - name: recording
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - record: job:inflight:sum
        expr: sum by (job) (inflight)
  - name: alerts
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 3m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} down"
          value: "{{ $value | humanize }}"
      - alert: JobDegraded
        expr: job:up:sum < 2
        for: 1m
        labels:
          severity: "{{ if lt $value 1.0 }}page{{ else }}ticket{{ end }}"
        annotations:
          summary: "{{ $labels.job }} has {{ $value }} of 2 up ({{ $externalLabels.region }})"
      - alert: Busy
        expr: job:inflight:sum > 100
        keep_firing_for: 2m
"""

PASSING = """
rule_files:
  - rules.yml
evaluation_interval: 1m
group_eval_order: [recording, alerts]
tests:
  - name: outage
    interval: 1m
    external_labels:
      region: eu
    input_series:
      - series: 'up{job="api", instance="a"}'
        values: '1 1 0 0 0 0 0 1 1 1'
      - series: 'up{job="api", instance="b"}'
        values: '1x9'
      - series: 'inflight{job="api", instance="a"}'
        values: '0+30x3 90+60x2 10+0x5'
      - series: 'inflight{job="api", instance="b"}'
        values: '5x9'
    alert_rule_test:
      - eval_time: 2m
        alertname: InstanceDown
      - eval_time: 5m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: page, job: api, instance: a}
            exp_annotations:
              summary: a of api down
              value: "0"
      - eval_time: 3m
        alertname: JobDegraded
        exp_alerts:
          - exp_labels: {severity: ticket, job: api}
            exp_annotations:
              summary: api has 1 of 2 up (eu)
      - eval_time: 8m
        alertname: InstanceDown
      - eval_time: 5m
        alertname: Busy
        exp_alerts:
          - exp_labels: {job: api}
      - eval_time: 7m
        alertname: Busy
        exp_alerts:
          - exp_labels: {job: api}
      - eval_time: 9m
        alertname: Busy
    promql_expr_test:
      - expr: job:up:sum
        eval_time: 4m
        exp_samples:
          - labels: 'job:up:sum{job="api"}'
            value: 1
      - expr: job:inflight:sum
        eval_time: 5m
        exp_samples:
          - labels: 'job:inflight:sum{job="api"}'
            value: 155
      - expr: scalar(job:up:sum)
        eval_time: 9m
        exp_samples:
          - labels: '{}'
            value: 2
"""

FAILING = """
rule_files:
  - rules.yml
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="api", instance="a"}'
        values: '0x5'
    alert_rule_test:
      - eval_time: 4m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {severity: ticket, job: api, instance: a}
    promql_expr_test:
      - expr: job:up:sum
        eval_time: 1m
        exp_samples:
          - labels: 'job:up:sum{job="api"}'
            value: 3
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "pass.yml").write_text(PASSING)
    (tmp_path / "fail.yml").write_text(FAILING)
    return tmp_path


def promtool_test(path: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [require_peer("promtool"), "test", "rules", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stderr


def test_passing_unit_tests(files: Path) -> None:
    assert run_rule_unit_tests(files / "pass.yml") == []


def test_failing_unit_tests_report_like_promtool(files: Path) -> None:
    failures = run_rule_unit_tests(files / "fail.yml")
    assert len(failures) == 2
    assert "alertname: InstanceDown, time: 4m" in failures[0] and 'severity="ticket"' in failures[0]
    assert failures[1].startswith('    expr: "job:up:sum", time: 1m,')


@pytest.mark.parametrize("name", ["pass.yml", "fail.yml"])
def test_same_verdict_and_messages_as_promtool(files: Path, name: str) -> None:
    rc, stderr = promtool_test(files / name)
    ours = run_rule_unit_tests(files / name)
    assert (rc == 0) == (ours == [])
    for msg in ours:
        assert msg in stderr, f"heron:\n{msg}\npromtool:\n{stderr}"
