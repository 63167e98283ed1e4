"""prometheus.yml model: defaults, errors with file:line, relabeling, and a differential
accept/reject test against the real ``promtool check config``."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from scraper.config import (
    ConfigError,
    RelabelConfig,
    format_duration,
    load_config,
    load_config_str,
    parse_duration,
    parse_size,
    relabel,
)
from tests.conftest import require_peer
from tsdb.labels import Labels

# (name, yaml, valid). Every case is checked against promtool too.
CASES: list[tuple[str, str, bool]] = [
    ("empty", "", True),
    ("minimal", "global: {scrape_interval: 15s}\n", True),
    (
        "full",
        """
        global:
          scrape_interval: 15s
          scrape_timeout: 5s
          evaluation_interval: 30s
          query_log_file: q.log
          external_labels: {cluster: eu1, replica: "a"}
        rule_files: ["rules/*.yml", "other.yml"]
        scrape_configs:
          - job_name: prometheus
            honor_labels: true
            honor_timestamps: false
            params: {module: [http_2xx]}
            metrics_path: /probe
            scheme: https
            sample_limit: 1000
            basic_auth: {username: u, password: p}
            tls_config: {insecure_skip_verify: true, server_name: x}
            static_configs:
              - targets: ["localhost:9090", "127.0.0.1:9100"]
                labels: {env: prod}
            relabel_configs:
              - source_labels: [__address__]
                regex: "(.*):.*"
                target_label: host
              - action: labelmap
                regex: "__meta_(.+)"
              - action: hashmod
                source_labels: [__address__]
                modulus: 4
                target_label: shard
              - action: keep
                source_labels: [shard]
                regex: "0|1"
            metric_relabel_configs:
              - action: labeldrop
                regex: "tmp_.*"
          - job_name: files
            file_sd_configs:
              - files: ["targets/*.json"]
                refresh_interval: 1m
        alerting:
          alert_relabel_configs:
            - action: labeldrop
              regex: replica
          alertmanagers:
            - static_configs: [{targets: ["am:9093"]}]
              path_prefix: /am
              scheme: http
              timeout: 5s
              api_version: v2
        remote_write:
          - url: http://remote:9201/api/v1/write
            name: rw1
            remote_timeout: 10s
            headers: {X-Scope-OrgID: tenant}
            authorization: {credentials: secret}
            write_relabel_configs:
              - action: drop
                source_labels: [__name__]
                regex: "go_.*"
            queue_config: {capacity: 500, max_shards: 2, max_samples_per_send: 100, batch_send_deadline: 1s}
        remote_read:
          - url: http://remote:9201/api/v1/read
            read_recent: true
            required_matchers: {job: x}
        storage:
          tsdb: {out_of_order_time_window: 30m}
        """,
        True,
    ),
    ("unknown global field", "global:\n  scrape_intervall: 10s\n", False),
    ("unknown top field", "globals: {}\n", False),
    ("unknown scrape field", "scrape_configs:\n  - job_name: a\n    intervall: 5s\n", False),
    ("bad duration int", "global:\n  scrape_interval: 15\n", False),
    ("bad duration unit", "global:\n  scrape_interval: 15x\n", False),
    ("bad duration order", "global:\n  scrape_interval: 1s1m\n", False),
    ("duration compound", "global:\n  scrape_interval: 1m30s\n  scrape_timeout: 1m\n", True),
    ("duration zero", "global:\n  scrape_timeout: 0\n", True),
    ("timeout > interval global", "global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n", False),
    (
        "timeout > interval job",
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n",
        False,
    ),
    ("job timeout default capped", "global: {scrape_interval: 5s}\nscrape_configs:\n  - job_name: a\n", True),
    ("duplicate job", "scrape_configs:\n  - job_name: a\n  - job_name: a\n", False),
    ("empty job name", "scrape_configs:\n  - scrape_interval: 5s\n", False),
    ("null scrape config", "scrape_configs:\n  -\n", False),
    ("duplicate key", "global:\n  scrape_interval: 5s\n  scrape_interval: 6s\n", False),
    ("bool type", "scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n", False),
    ("uint negative", "scrape_configs:\n  - job_name: a\n    sample_limit: -1\n", False),
    ("uint string", "scrape_configs:\n  - job_name: a\n    sample_limit: many\n", False),
    ("string given map", "scrape_configs:\n  - job_name: {a: b}\n", False),
    ("list given scalar", "rule_files: foo.yml\n", False),
    (
        "url in target",
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['http://h:80']}]\n",
        False,
    ),
    ("bad label name", "global:\n  external_labels: {'1x': y}\n", False),
    (
        "bad static label name",
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: [], labels: {'a-b': c}}]\n",
        False,
    ),
    (
        "relabel no target",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{source_labels: [a]}]\n",
        False,
    ),
    (
        "relabel bad action",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{action: explode}]\n",
        False,
    ),
    (
        "relabel action case",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{action: DROP, regex: x}]\n",
        True,
    ),
    (
        "relabel bad regex",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{action: drop, regex: 'a('}]\n",
        False,
    ),
    (
        "relabel lookahead",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{action: drop, regex: 'a(?=b)'}]\n",
        False,
    ),
    (
        "hashmod no modulus",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{action: hashmod, target_label: x}]\n",
        False,
    ),
    (
        "labeldrop extra field",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{action: labeldrop, regex: x, target_label: y}]\n",
        False,
    ),
    (
        "labelmap bad replacement",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{action: labelmap, regex: x, replacement: '-'}]\n",
        False,
    ),
    (
        "replace templated target",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{regex: '(.*)', target_label: 'x_${1}'}]\n",
        True,
    ),
    (
        "replace invalid target",
        "scrape_configs:\n  - job_name: a\n    relabel_configs: [{regex: '(.*)', target_label: 'x-y'}]\n",
        False,
    ),
    ("null relabel", "scrape_configs:\n  - job_name: a\n    relabel_configs: [null]\n", False),
    (
        "basic auth + bearer",
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    bearer_token: t\n",
        False,
    ),
    (
        "password and file",
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n",
        False,
    ),
    (
        "authorization basic",
        "scrape_configs:\n  - job_name: a\n    authorization: {type: Basic, credentials: x}\n",
        False,
    ),
    (
        "authorization + basic",
        "scrape_configs:\n  - job_name: a\n    authorization: {credentials: x}\n    basic_auth: {username: u}\n",
        False,
    ),
    ("bearer token", "scrape_configs:\n  - job_name: a\n    bearer_token: t\n", True),
    ("tls bad version", "scrape_configs:\n  - job_name: a\n    tls_config: {min_version: TLS99}\n", False),
    (
        "file sd no files",
        "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{refresh_interval: 1m}]\n",
        False,
    ),
    (
        "file sd bad ext",
        "scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: ['a.txt']}]\n",
        False,
    ),
    (
        "http sd",
        "scrape_configs:\n  - job_name: a\n    http_sd_configs: [{url: 'http://sd:80/targets'}]\n",
        True,
    ),
    (
        "http sd bad scheme",
        "scrape_configs:\n  - job_name: a\n    http_sd_configs: [{url: 'ftp://sd/targets'}]\n",
        False,
    ),
    (
        "dns sd",
        "scrape_configs:\n  - job_name: a\n    dns_sd_configs: [{names: ['_x._tcp.example.org']}]\n",
        True,
    ),
    (
        "dns sd A needs port",
        "scrape_configs:\n  - job_name: a\n    dns_sd_configs: [{names: ['x.org'], type: A}]\n",
        False,
    ),
    ("rule file bad glob", "rule_files: ['a/*/b/*.yml']\n", False),
    ("remote write no url", "remote_write:\n  - name: x\n", False),
    ("remote write bad url", "remote_write:\n  - url: '://x'\n", False),
    (
        "remote write reserved header",
        "remote_write:\n  - url: http://x/\n    headers: {Content-Type: x}\n",
        False,
    ),
    (
        "remote write auth header",
        "remote_write:\n  - url: http://x/\n    headers: {Authorization: x}\n",
        False,
    ),
    (
        "remote write dup names",
        "remote_write:\n  - {url: 'http://x/', name: a}\n  - {url: 'http://y/', name: a}\n",
        False,
    ),
    (
        "remote write same url no names",
        "remote_write:\n  - {url: 'http://x/'}\n  - {url: 'http://y/'}\n",
        True,
    ),
    (
        "remote write queue unknown",
        "remote_write:\n  - url: http://x/\n    queue_config: {shards: 3}\n",
        False,
    ),
    ("remote read", "remote_read:\n  - url: http://x/read\n    remote_timeout: 10s\n", True),
    ("remote read no url", "remote_read:\n  - read_recent: true\n", False),
    ("null remote write", "remote_write:\n  -\n", False),
    (
        "alertmanager bad target",
        "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['http://am:9093']}]\n",
        False,
    ),
    (
        "alertmanager unknown field",
        "alerting:\n  alertmanagers:\n    - static_configs: []\n      pathprefix: /x\n",
        False,
    ),
    ("alert relabel", "alerting:\n  alert_relabel_configs: [{action: labeldrop, regex: replica}]\n", True),
    ("ooo window", "storage:\n  tsdb:\n    out_of_order_time_window: 1h\n", True),
    ("ooo window bad", "storage:\n  tsdb:\n    out_of_order_time_window: soon\n", False),
    ("storage unknown", "storage:\n  tsdb:\n    retention_time: 1d\n", False),
    ("exemplars", "storage:\n  exemplars:\n    max_exemplars: 10\n", True),
    ("yaml syntax", "global: [\n", False),
    ("tabs", "global:\n\tscrape_interval: 5s\n", False),
    ("anchors", "x_defaults: &d {scrape_interval: 5s}\nglobal: *d\n", False),
    (
        "merge keys",
        "scrape_configs:\n  - &base {job_name: a, scrape_interval: 5s}\n  - <<: *base\n    job_name: b\n",
        True,
    ),
    ("tracing", "tracing:\n  endpoint: localhost:4317\n  client_type: grpc\n", True),
    ("tracing no endpoint", "tracing:\n  client_type: grpc\n", False),
    ("tracing bad client", "tracing:\n  endpoint: x\n  client_type: carrier-pigeon\n", False),
]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / (name.replace(" ", "_").replace(">", "gt") + ".yml")
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize("name,text,valid", CASES, ids=[c[0] for c in CASES])
def test_heron_accepts_or_rejects(tmp_path: Path, name: str, text: str, valid: bool) -> None:
    p = _write(tmp_path, name, text)
    if valid:
        load_config(p)
    else:
        with pytest.raises(ConfigError) as ei:
            load_config(p)
        # Every rejection names the file, and a line where one applies.
        assert str(ei.value).startswith(str(p))


def test_differential_promtool(tmp_path: Path) -> None:
    """promtool and Heron agree on every case (and the cases' expectations are right)."""
    promtool = require_peer("promtool")
    mismatches = []
    for name, text, valid in CASES:
        p = _write(tmp_path, name, text)
        r = subprocess.run(
            [promtool, "check", "config", "--syntax-only", str(p)], capture_output=True, text=True
        )
        prom_ok = r.returncode == 0
        try:
            load_config(p)
            heron_ok = True
        except ConfigError:
            heron_ok = False
        if prom_ok != heron_ok or prom_ok != valid:
            mismatches.append((name, prom_ok, heron_ok, valid, r.stdout + r.stderr))
    assert not mismatches, mismatches


# Cases promtool cannot judge: Debian builds Prometheus without Kubernetes service discovery.
K8S_CASES: list[tuple[str, str, bool]] = [
    (
        "k8s roles",
        "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: node}, {role: endpoints}, {role: service}]\n",
        True,
    ),
    (
        "k8s bad role",
        "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{role: banana}]\n",
        False,
    ),
    (
        "k8s no role",
        "scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: [{api_server: 'http://x'}]\n",
        False,
    ),
]


@pytest.mark.parametrize("name,text,valid", K8S_CASES, ids=[c[0] for c in K8S_CASES])
def test_kubernetes_sd(tmp_path: Path, name: str, text: str, valid: bool) -> None:
    test_heron_accepts_or_rejects(tmp_path, name, text, valid)


# Prometheus 3.x decisions that promtool 2.42 (Debian's) does not share; checked on Heron only.
def test_v3_only_rules() -> None:
    with pytest.raises(ConfigError, match="api version"):
        load_config_str("alerting:\n  alertmanagers:\n    - api_version: v1\n")
    # 3.x skips the "URL in a static target" check when relabeling may rewrite the address.
    load_config_str(
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['http://h:80']}]\n"
        "    relabel_configs: [{source_labels: [__address__], target_label: x}]\n"
    )
    c = load_config_str("scrape_configs:\n  - job_name: a\n    scrape_protocols: [PrometheusText0.0.4]\n")
    assert c.scrape_configs[0].scrape_protocols == ["PrometheusText0.0.4"]
    with pytest.raises(ConfigError, match="unknown scrape protocol"):
        load_config_str("scrape_configs:\n  - job_name: a\n    scrape_protocols: [Carrier]\n")


def test_errors_have_lines() -> None:
    with pytest.raises(ConfigError) as ei:
        load_config_str("global:\n  scrape_interval: 15s\n  scrape_intervall: 10s\n")
    assert str(ei.value) == "prometheus.yml:3: field scrape_intervall not found in type config.GlobalConfig"
    with pytest.raises(ConfigError) as ei:
        load_config_str("scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n", "p.yml")
    assert str(ei.value) == "p.yml:3: cannot unmarshal !!str `maybe` into bool"
    with pytest.raises(ConfigError) as ei:
        load_config_str("global:\n  scrape_interval: 15\n")
    assert str(ei.value) == 'prometheus.yml:2: not a valid duration string: "15"'
    with pytest.raises(ConfigError) as ei:
        load_config_str("scrape_configs:\n  - job_name: a\n  - job_name: a\n")
    assert str(ei.value) == 'prometheus.yml:3: found multiple scrape configs with job name "a"'
    with pytest.raises(ConfigError) as ei:
        load_config_str("global: [\n")
    assert "yaml:" in str(ei.value)


def test_defaults_applied() -> None:
    c = load_config_str(
        "global: {scrape_interval: 5s}\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 1m\n"
        "remote_write: [{url: 'http://x/'}]\nalerting: {alertmanagers: [{static_configs: [{targets: [am:9093]}]}]}\n"
    )
    g = c.global_config
    assert (g.scrape_interval, g.scrape_timeout, g.evaluation_interval) == (5000, 5000, 60000)
    a, b = c.scrape_configs
    assert (a.scrape_interval, a.scrape_timeout) == (5000, 5000)
    assert (b.scrape_interval, b.scrape_timeout) == (60000, 5000)
    assert a.metrics_path == "/metrics" and a.scheme == "http" and a.honor_timestamps
    rw = c.remote_write[0]
    assert rw.remote_timeout == 30000 and rw.queue_config.max_samples_per_send == 2000
    assert rw.queue_config.capacity == 10000 and rw.queue_config.min_backoff == 30
    am = c.alerting.alertmanagers[0]
    assert am.api_version == "v2" and am.timeout == 10000
    assert am.static_urls() == ["http://am:9093/api/v2/alerts"]


def test_paths_resolved_against_config_dir(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text("groups: []\n")
    (tmp_path / "rules" / "b.yml").write_text("groups: []\n")
    p = tmp_path / "prometheus.yml"
    p.write_text(
        "rule_files: ['rules/*.yml']\nscrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: [t/*.json]}]\n"
    )
    c = load_config(p)
    assert c.rule_file_paths() == [str(tmp_path / "rules" / "a.yml"), str(tmp_path / "rules" / "b.yml")]
    assert c.scrape_configs[0].sd.file_sd_configs[0].files == [str(tmp_path / "t" / "*.json")]


def test_secrets_redacted_in_yaml() -> None:
    c = load_config_str(
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: hunter2}\n"
        "remote_write: [{url: 'http://x/', authorization: {credentials: tok}}]\n"
    )
    y = c.to_yaml()
    assert "hunter2" not in y and "tok" not in y and "<secret>" in y
    assert load_config_str(y.replace("<secret>", "x")).scrape_configs[0].job_name == "a"


def test_bearer_token_becomes_authorization() -> None:
    c = load_config_str("scrape_configs:\n  - job_name: a\n    bearer_token: t0k\n")
    assert c.scrape_configs[0].http.auth_header() == "Bearer t0k"


def test_durations_and_sizes() -> None:
    assert parse_duration("1h30m") == 5_400_000
    assert parse_duration("0") == 0
    assert parse_duration("1y") == 365 * 86_400_000
    for bad in ("", "1.5s", "1m1h", "5", "-1s"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(90_000) == "1m30s"
    assert format_duration(90 * 86_400_000) == "90d"
    assert format_duration(14 * 86_400_000) == "2w"
    assert format_duration(0) == "0s"
    assert format_duration(1500) == "1s500ms"
    assert parse_size("512MB") == 512 << 20
    assert parse_size("1GiB") == 1 << 30


def _rl(**kw: object) -> RelabelConfig:
    c = load_config_str(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - "
        + "{"
        + ", ".join(
            f"{k}: {v!r}" if not isinstance(v, list) else f"{k}: [{', '.join(v)}]" for k, v in kw.items()
        )
        + "}\n"
    )
    return c.scrape_configs[0].relabel_configs[0]


def test_relabel_process() -> None:
    ls = Labels.from_dict({"__address__": "host:9100", "__meta_kubernetes_pod_name": "p1", "job": "x"})
    out = relabel(ls, [_rl(source_labels=["__address__"], regex="(.*):.*", target_label="host")])
    assert out is not None and out["host"] == "host"
    out = relabel(ls, [_rl(action="labelmap", regex="__meta_kubernetes_(.+)")])
    assert out is not None and out["pod_name"] == "p1"
    assert relabel(ls, [_rl(action="drop", source_labels=["job"], regex="x")]) is None
    assert relabel(ls, [_rl(action="keep", source_labels=["job"], regex="x")]) == ls
    out = relabel(ls, [_rl(action="labeldrop", regex="__meta_.*")])
    assert out is not None and "__meta_kubernetes_pod_name" not in out
    out = relabel(ls, [_rl(action="hashmod", source_labels=["__address__"], modulus=8, target_label="s")])
    assert out is not None and 0 <= int(out["s"]) < 8
    out = relabel(ls, [_rl(action="uppercase", source_labels=["job"], target_label="J")])
    assert out is not None and out["J"] == "X"
    out = relabel(ls, [_rl(source_labels=["job"], regex="(.*)", target_label="t_${1}", replacement="v")])
    assert out is not None and out["t_x"] == "v"
    # An empty replacement result deletes the target label.
    out = relabel(ls, [_rl(source_labels=["job"], regex="x", target_label="job", replacement="")])
    assert out is not None and "job" not in out
