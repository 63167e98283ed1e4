"""``alertmanager.yml`` loading: valid and invalid files, messages, and ``amtool check-config`` agreement."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alertmanager import config as cfg
from alertmanager.labels import MatcherError, fingerprint, fp_str, labelset_str, parse_matchers
from alertmanager.route import Route
from tests.conftest import require_peer

R = "receivers: [{name: r, webhook_configs: [{url: 'http://127.0.0.1:1/'}]}]\n"

VALID = {
    "minimal": "route: {receiver: r}\n" + R,
    "full": """
global:
  resolve_timeout: 1m
  http_config:
    basic_auth: {username: u, password: p}
route:
  receiver: r
  group_by: ['...']
  group_wait: 1s
  group_interval: 1m
  repeat_interval: 2h
  routes:
    - match: {severity: page}
      match_re: {service: "api|web"}
      receiver: r
      continue: true
    - matchers: ['team = "db"', 'env!~"dev|test"', instance!=""]
      mute_time_intervals: [nights]
      active_time_intervals: [weekdays]
      group_by: [alertname, cluster]
      routes:
        - matchers: ['{a="1", b=~"x.*"}']
inhibit_rules:
  - source_match: {severity: critical}
    target_match_re: {severity: warning|info}
    equal: [alertname]
  - source_matchers: [severity=critical]
    target_matchers: [severity=warning]
receivers:
  - name: r
    webhook_configs:
      - url: http://127.0.0.1:1/x
        send_resolved: false
        max_alerts: 5
        http_config:
          authorization: {credentials: tok}
          tls_config: {insecure_skip_verify: true}
  - name: blackhole
templates: ['/nonexistent/*.tmpl']
time_intervals:
  - name: nights
    time_intervals:
      - times: [{start_time: "00:00", end_time: "06:00"}]
        location: Europe/Berlin
  - name: weekdays
    time_intervals:
      - weekdays: ['monday:friday']
        days_of_month: ['1:10', '-3:-1']
        months: ['january:march', '12']
        years: ['2020:2030']
""",
    "legacy_mute_time_intervals": """
route:
  receiver: r
  routes: [{receiver: r, mute_time_intervals: [x]}]
mute_time_intervals:
  - name: x
    time_intervals: [{weekdays: [saturday, sunday]}]
"""
    + R,
    "unquoted_times": """
route: {receiver: r, routes: [{receiver: r, mute_time_intervals: [x]}]}
time_intervals:
  - name: x
    time_intervals:
      - times: [{start_time: 18:00, end_time: 23:59}]
        days_of_month: [1:5]
"""
    + R,
    "email_with_global": """
global: {smtp_smarthost: 'localhost:25', smtp_from: 'am@example.com'}
route: {receiver: m}
receivers: [{name: m, email_configs: [{to: 'x@example.com'}]}]
""",
}

INVALID = {
    "empty": ("", "no route provided in config"),
    "no_receiver_on_root": ("route: {group_by: [a]}\n" + R, "root route must specify a default receiver"),
    "undefined_receiver": (
        "route: {receiver: r, routes: [{receiver: nope}]}\n" + R,
        'undefined receiver "nope" used in route',
    ),
    "unknown_field": ("route: {receiver: r, foo: 1}\n" + R, "field foo not found"),
    "bad_duration": ("route: {receiver: r, group_wait: 1x}\n" + R, 'not a valid duration string: "1x"'),
    "zero_group_interval": (
        "route: {receiver: r, group_interval: 0s}\n" + R,
        "group_interval cannot be zero",
    ),
    "zero_repeat_interval": (
        "route: {receiver: r, repeat_interval: 0}\n" + R,
        "repeat_interval cannot be zero",
    ),
    "root_matchers": ("route: {receiver: r, matchers: [a=b]}\n" + R, "root route must not have any matchers"),
    "root_continue": ("route: {receiver: r, continue: true}\n" + R, "cannot have continue in root route"),
    "dup_receiver": (
        "route: {receiver: r}\nreceivers: [{name: r}, {name: r}]\n",
        'notification config name "r" is not unique',
    ),
    "missing_receiver_name": (
        "route: {receiver: r}\nreceivers: [{name: r}, {}]\n",
        "missing name in receiver",
    ),
    "bad_matcher": ("route: {receiver: r, routes: [{matchers: ['a=\"b']}]}\n" + R, "unescaped double quote"),
    "bad_regex": ("route: {receiver: r, routes: [{match_re: {a: 'x('}}]}\n" + R, "missing"),
    "bad_label_in_match": (
        "route: {receiver: r, routes: [{match: {'a-b': x}}]}\n" + R,
        'invalid label name "a-b"',
    ),
    "group_by_dup": ("route: {receiver: r, group_by: [a, a]}\n" + R, 'duplicated label "a" in group_by'),
    "group_by_mixed": ("route: {receiver: r, group_by: ['...', a]}\n" + R, "cannot have wildcard group_by"),
    "group_by_invalid": (
        "route: {receiver: r, group_by: ['a-b']}\n" + R,
        'invalid label name "a-b" in group_by list',
    ),
    "webhook_no_url": (
        "route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{}]}]\n",
        "one of url or url_file",
    ),
    "webhook_bad_scheme": (
        "route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'ftp://x/'}]}]\n",
        'unsupported scheme "ftp" for URL',
    ),
    "webhook_no_host": (
        "route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http:///x'}]}]\n",
        "missing host for URL",
    ),
    "undefined_time_interval": (
        "route: {receiver: r, routes: [{mute_time_intervals: [x]}]}\n" + R,
        'undefined time interval "x" used in route',
    ),
    "root_mute": (
        "route: {receiver: r, mute_time_intervals: [x]}\n" + R,
        "root route must not have any mute",
    ),
    "bad_time": (
        "route: {receiver: r}\n"
        + R
        + "time_intervals: [{name: x, time_intervals: [{times: [{start_time: '25:00', end_time: '26:00'}]}]}]\n",
        "couldn't parse timestamp 25:00",
    ),
    "bad_weekday": (
        "route: {receiver: r}\n"
        + R
        + "time_intervals: [{name: x, time_intervals: [{weekdays: [funday]}]}]\n",
        "funday is not a valid weekday",
    ),
    "dup_time_interval": (
        "route: {receiver: r}\n" + R + "time_intervals: [{name: x}, {name: x}]\n",
        'time interval "x" is not unique',
    ),
    "http_two_auths": (
        "route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http://a/', http_config: "
        "{basic_auth: {username: u}, bearer_token: t}}]}]\n",
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
    ),
    "email_without_smarthost": (
        "route: {receiver: m}\nreceivers: [{name: m, email_configs: [{to: 'x@example.com'}]}]\n",
        "no global SMTP smarthost set",
    ),
    "wrong_type": ("route: {receiver: r, group_by: abc}\n" + R, "cannot unmarshal !!str `abc` into []string"),
    "bad_yaml": ("route: {receiver: r\n", "yaml:"),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid(name: str) -> None:
    c = cfg.load(VALID[name])
    # the normalised form served by /api/v2/status loads again to the same tree
    again = cfg.load(c.original)
    assert again.original == c.original


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid(name: str) -> None:
    text, msg = INVALID[name]
    with pytest.raises(cfg.ConfigError) as ei:
        cfg.load(text, "am.yml")
    assert msg in str(ei.value)
    assert str(ei.value).startswith("am.yml")


def test_error_has_line() -> None:
    with pytest.raises(cfg.ConfigError) as ei:
        cfg.load("route:\n  receiver: r\n  routes:\n    - receiver: nope\n" + R)
    assert ei.value.line == 4


def _amtool(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_peer("amtool"), "check-config", str(path)], capture_output=True, text=True, timeout=30
    )


def test_amtool_check_config_agrees(tmp_path: Path) -> None:
    """Every file above: amtool and Heron agree on valid/invalid."""
    disagreements = []
    for kind, cases in (("valid", {k: (v, "") for k, v in VALID.items()}), ("invalid", INVALID)):
        for name, (text, _) in cases.items():
            p = tmp_path / f"{name}.yml"
            p.write_text(text)
            real_ok = _amtool(p).returncode == 0
            try:
                cfg.load_file(p)
                heron_ok = True
            except cfg.ConfigError:
                heron_ok = False
            if real_ok != heron_ok or real_ok != (kind == "valid"):
                disagreements.append((name, real_ok, heron_ok))
    assert disagreements == []


def test_route_keys_and_inheritance() -> None:
    c = cfg.load(VALID["full"])
    root = Route(c.route)
    a, b = root.routes
    assert root.key() == "{}"
    assert a.key() == '{}/{service=~"^(?:api|web)$",severity="page"}'
    assert b.key() == '{}/{env!~"dev|test",instance!="",team="db"}'
    assert b.routes[0].key() == b.key() + '/{a="1",b=~"x.*"}'
    assert a.opts.group_by_all and a.opts.group_wait == 1 and a.opts.repeat_interval == 7200
    assert b.opts.group_by == {"alertname", "cluster"} and not b.opts.group_by_all
    assert b.routes[0].opts.group_by == {"alertname", "cluster"}
    assert b.opts.mute_time_intervals == ["nights"] and b.routes[0].opts.mute_time_intervals == []
    ls = {"severity": "page", "service": "api", "team": "db", "instance": "i"}
    assert [r.key() for r in root.match(ls)] == [a.key(), b.key()]
    assert root.match({"x": "y"}) == [root]


def test_matchers_parse() -> None:
    ms = parse_matchers('{foo="bar", baz=~"a,b", qux!="x\\"y", n!~"\\\\d+"}')
    assert [str(m) for m in ms] == ['foo="bar"', 'baz=~"a,b"', 'qux!="x\\"y"', 'n!~"\\\\d+"']
    assert [str(m) for m in parse_matchers("a=b,c=~d.*")] == ['a="b"', 'c=~"d.*"']
    assert ms[1].matches("a,b") and not ms[1].matches("xa,b")
    for bad in ['a="b', "=b", "a b"]:
        with pytest.raises(MatcherError):
            parse_matchers(bad)


def test_fingerprint_and_labelset_str() -> None:
    # Values as Alertmanager / Prometheus compute them (model.LabelSet.Fingerprint).
    assert fp_str(fingerprint({})) == "cbf29ce484222325"
    assert labelset_str({"b": 'x"y', "a": "1"}) == '{a="1", b="x\\"y"}'
