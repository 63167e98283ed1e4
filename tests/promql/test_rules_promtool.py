"""Differential test: rule files accepted/rejected alike by ``promtool check rules`` and Heron.

Every case is checked by the real promtool (Debian's 2.42) and by
``promql.rules.parse_rule_file``: both must accept or both reject, and where
both reject, promtool's messages (positions removed) must be among Heron's.
Cases avoid what postdates Prometheus 2.42 (group ``query_offset``/``labels``,
newer PromQL and template functions), which Heron accepts as Prometheus 3 does.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from promql.rules import parse_rule_file
from tests.conftest import require_peer

VALID = {
    "full": """
groups:
  - name: node
    interval: 30s
    limit: 10
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: infra
      - record: instance:cpu:rate5m
        expr: rate(node_cpu_seconds_total{mode!="idle"}[5m])
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} down"
          description: "{{ $value | humanize }} {{ humanizeDuration 90 }} {{ printf \\"%.2f\\" $value }}"
  - name: other
    rules:
      - alert: HighLatency
        expr: histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.5
        annotations:
          text: >-
            {{ if gt $value 1.0 }}very {{ else }}a bit {{ end }}slow
            {{ range query "up" }}{{ .Labels.job }}{{ end }}
            {{ with $externalLabels.dc }}{{ . }}{{ end }}
""",
    "empty": "",
    "no_groups": "groups:\n",
    "no_rules": "groups:\n- name: a\n",
    "numeric_name": "groups:\n- name: 123\n  rules:\n  - record: x\n    expr: 5\n",
    "float_limit": "groups:\n- name: a\n  limit: 1.5\n  rules: []\n",
    "bool_name": "groups:\n- name: true\n  rules: []\n",
    "null_labels": "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels:\n    for: 0s\n",
    "zero_interval": "groups:\n- name: a\n  interval: 0s\n  rules: []\n",
    "record_for_zero": "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    for: 0s\n",
    "alert_any_name": 'groups:\n- name: a\n  rules:\n  - alert: "bad name!"\n    expr: up\n',
    "empty_label_value": 'groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    labels:\n      a: ""\n',
    "multi_doc": "groups:\n- name: a\n  rules: []\n---\ngroups:\n- name: a\n  rules: []\n",
    "null_items": "groups:\n- name: a\n  rules:\n  - \n- \n",
    "durations": "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: 1h30m\n    keep_firing_for: 500ms\n",
    "template_exec_only": (
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations:\n"
        "      a: '{{ template \"nope\" }}'\n      b: '{{ $labels.x.y.z }}'\n"
    ),
    "define_block": (
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations:\n"
        '      a: \'{{ define "t" }}t{{ end }}{{ template "t" }}{{ block "b" . }}b{{ end }}\'\n'
    ),
}

INVALID = {
    "unknown_group_field": "groups:\n- name: a\n  foo: 1\n  rules: []\n",
    "unknown_rule_field": "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    bogus: 1\n",
    "unknown_top_field": "foo: 1\ngroups: []\n",
    "dup_key": "groups:\n- name: a\n  name: b\n  rules: []\n",
    "dup_expr": "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    expr: up\n",
    "bad_expr": "groups:\n- name: a\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up\n",
    "bad_expr_eoi": "groups:\n- name: a\n  rules:\n  - record: x\n    expr: 1 +\n",
    "record_for": "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    for: 5m\n",
    "record_annotations_kff": (
        "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    annotations:\n      a: b\n    keep_firing_for: 1m\n"
    ),
    "bad_record_name": 'groups:\n- name: a\n  rules:\n  - record: "1abc"\n    expr: up\n',
    "int_record_name": "groups:\n- name: a\n  rules:\n  - record: 5\n    expr: up\n",
    "dup_group": "groups:\n- name: g1\n  rules: []\n- name: g1\n  rules: []\n",
    "empty_group_name": 'groups:\n- name: ""\n  rules: []\n',
    "bad_label_name": 'groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up\n    labels:\n      "bad-name": x\n',
    "name_label": "groups:\n- name: a\n  rules:\n  - record: x\n    expr: up\n    labels:\n      __name__: b\n",
    "bad_annotation_name": 'groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    annotations:\n      "a-b": x\n',
    "template_func": "groups:\n- name: a\n  rules:\n  - alert: X\n    expr: up\n    annotations:\n      s: '{{ foo }}'\n",
    "template_errors": (
        "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels:\n      s: '{{ if }}'\n"
        "    annotations:\n      d: '{{ .Foo | bar }}'\n      e: '{{ $nope }}'\n      f: '{{ end }}'\n"
        "      g: '{{ 1 | 2 }}'\n      h: '{{ range . }}'\n      i: '{{ \"x }}'\n"
    ),
    "both": "groups:\n- name: a\n  rules:\n  - record: x\n    alert: y\n    expr: up\n",
    "neither": "groups:\n- name: a\n  rules:\n  - expr: up\n",
    "no_expr": "groups:\n- name: a\n  rules:\n  - record: x\n",
    "seq_expr": "groups:\n- name: a\n  rules:\n  - record: x\n    expr: [a]\n",
    "bad_duration": "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: 5x\n",
    "int_duration": "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    for: 300\n",
    "neg_interval": "groups:\n- name: a\n  interval: -1m\n  rules: []\n",
    "bad_limit": "groups:\n- name: a\n  limit: abc\n  rules: []\n",
    "seq_label": "groups:\n- name: a\n  rules:\n  - alert: x\n    expr: up\n    labels:\n      a: [1]\n",
    "map_name": "groups:\n- name: {a: b}\n  rules: []\n",
    "scalar_groups": "groups: 5\n",
    "scalar_group": "groups:\n- a\n",
    "map_rules": "groups:\n- name: a\n  rules: {a: 1}\n",
    "top_scalar": "hello\n",
    "top_list": "- a\n- b\n",
    "yaml_syntax": "groups:\n- name: a\n  rules: [\n",
    "yaml_tab": "groups:\n\t- name: a\n",
}

# Both reject, but promtool 2.42's wording differs from Prometheus 3 (which Heron follows) or
# comes from Go's YAML parser: only acceptance is compared for these.
WORDING_DIFFERS = {"bad_duration", "yaml_syntax", "yaml_tab", "top_scalar", "top_list"}

_POS = re.compile(r"^(?:\d+:\d+: )+")


def _norm(lines: list[str], fname: str) -> set[str]:
    out = set()
    for ln in lines:
        ln = ln.strip()
        if ln.startswith(fname + ": "):
            ln = ln[len(fname) + 2 :]
        ln = _POS.sub("", ln)
        # promtool decodes twice; the second pass's errors name its private types
        if ln and "yaml.Node" not in ln and "rulefmt.ruleGroups" not in ln:
            out.add(ln)
    return out


def _promtool(path: Path) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [require_peer("promtool"), "check", "rules", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and ln.strip() != "FAILED:"]
    return proc.returncode, lines


@pytest.fixture(scope="module")
def promtool_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, list[str]]]:
    require_peer("promtool")
    d = tmp_path_factory.mktemp("rules")
    paths = {}
    for name, text in {**VALID, **INVALID}.items():
        p = d / f"{name}.yml"
        p.write_text(text)
        paths[name] = p
    with ThreadPoolExecutor(max_workers=8) as ex:
        res = dict(zip(paths, ex.map(_promtool, paths.values()), strict=True))
    return res


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_rule_files_accepted_by_both(
    name: str, promtool_results: dict[str, tuple[int, list[str]]]
) -> None:
    rc, lines = promtool_results[name]
    assert rc == 0, f"promtool rejected {name}: {lines}"
    groups, errs = parse_rule_file(VALID[name], f"{name}.yml")
    assert errs == []


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_rule_files_rejected_by_both(
    name: str, promtool_results: dict[str, tuple[int, list[str]]]
) -> None:
    rc, lines = promtool_results[name]
    assert rc == 1, f"promtool accepted {name}"
    fname = f"{name}.yml"
    groups, errs = parse_rule_file(INVALID[name], fname)
    assert groups == [] and errs
    if name in WORDING_DIFFERS:
        return
    theirs = _norm(lines, fname)
    ours = _norm("\n".join(errs).splitlines(), fname)
    assert theirs <= ours, f"promtool: {sorted(theirs)}\nheron:    {sorted(ours)}"
