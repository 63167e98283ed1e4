"""Go text/template + Prometheus template functions: outputs as Prometheus documents and tests them."""

from __future__ import annotations

import math

import pytest

from promql.templates import (
    QuerySample,
    TemplateError,
    TemplateExecError,
    TemplateParseError,
    expand_alert_template,
    go_sprintf,
    humanize,
    humanize1024,
    humanize_duration,
    humanize_percentage,
    humanize_timestamp,
    parse,
    parse_alert_template,
    prometheus_funcs,
)

EXT_URL = "http://testhost:9090/path/prefix"


def run(text: str, data: object = None, result: list[tuple[dict[str, str], float]] | None = None) -> str:
    def q(_q: str, _t: int) -> list[tuple[dict[str, str], float]]:
        return list(result or [])

    return parse(text, "test", prometheus_funcs(q, 0, EXT_URL)).execute(data)


METRIC_A = [({"__name__": "metric", "instance": "a"}, 11.0)]

# Prometheus's template/template_test.go scenarios (text mode).
CASES = [
    ("plain text", None, None, "plain text"),
    ("{{ 1 }}", None, None, "1"),
    ('{{ "<b>" }}', None, None, "<b>"),
    ('{{define "x"}}{{.arg0}} {{.arg1}}{{end}}{{template "x" (args 1 "2")}}', None, None, "1 2"),
    ('{{ query "1.5" | first | value }}', None, [({}, 1.5)], "1.5"),
    ("{{ query \"metric{instance='a'}\" | first | value }}", None, METRIC_A, "11"),
    ('{{ query "metric{instance=\'a\'}" | first | label "instance" }}', None, METRIC_A, "a"),
    ('{{ query "metric{instance=\'a\'}" | first | label "foo" }}', None, METRIC_A, ""),
    ('{{ $x := query "metric" | first }}{{ $x.Labels.foo }}', None, METRIC_A, ""),
    (
        '{{ range query "metric" | sortByLabel "instance" }}{{.Labels.instance}}:{{.Value}}: {{end}}',
        None,
        [({"__name__": "metric", "instance": "b"}, 21.0), ({"__name__": "metric", "instance": "a"}, 11.0)],
        "a:11: b:21: ",
    ),
    ('{{ reReplaceAll "(a)b" "x$1" "ab" }}', None, None, "xa"),
    ("{{ range . }}{{ humanize . }}:{{ end }}", [0.0, 1.0, 1234567.0, 0.12], None, "0:1:1.235M:120m:"),
    ("{{ range . }}{{ humanize1024 . }}:{{ end }}", [0.0, 1.0, 1048576.0, 0.12], None, "0:1:1Mi:0.12:"),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5), 899.99],
        None,
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
    ),
    (
        "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
        [0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345],
        None,
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
    ),
    (
        "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
        [math.inf, -math.inf, math.nan],
        None,
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
    ),
    (
        "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:"
        "{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
        None,
        None,
        "-22.22%:0%:12.35%:123.5%",
    ),
    ("{{ 1435065584.128 | humanizeTimestamp }}", None, None, "2015-06-23 13:19:44.128 +0000 UTC"),
    ('{{ "1435065584.128" | humanizeTimestamp }}', None, None, "2015-06-23 13:19:44.128 +0000 UTC"),
    ('{{ "aa bb CC" | title }}', None, None, "Aa Bb CC"),
    ('{{ "aa bb CC" | toUpper }}', None, None, "AA BB CC"),
    ('{{ "aA bB CC" | toLower }}', None, None, "aa bb cc"),
    ('{{ match "a+" "aa" }} {{ match "a+" "b" }}', None, None, "true false"),
    ('{{ graphLink "up" }}', None, None, "/graph?g0.expr=up&g0.tab=0"),
    ('{{ tableLink "up" }}', None, None, "/graph?g0.expr=up&g0.tab=1"),
    ("{{ pathPrefix }}", None, None, "/path/prefix"),
    ("{{ externalURL }}", None, None, EXT_URL),
    ('{{ "  x " | trimSpace }}', None, None, "x"),
    (
        '{{ stripPort "foo.example.com:9090" }} {{ stripDomain "foo.example.com:9090" }}',
        None,
        None,
        "foo.example.com foo:9090",
    ),
    ('{{ parseDuration "1h2m10ms" }}', None, None, "3720.01"),
    ("{{ toDuration 3661.5 }} {{ (toTime 1435065584.128).Unix }}", None, None, "1h1m1.5s 1435065584"),
    ('{{ "a b&c" | urlQueryEscape }}', None, None, "a+b%26c"),
]


@pytest.mark.parametrize(("text", "data", "result", "want"), CASES)
def test_prometheus_template_scenarios(
    text: str, data: object, result: list[tuple[dict[str, str], float]] | None, want: str
) -> None:
    assert run(text, data, result) == want


@pytest.mark.parametrize(
    ("text", "data", "want"),
    [
        ("{{ if gt . 80.0 }}high{{ else }}low{{ end }}", 90.0, "high"),
        ("{{ if lt . 80.0 }}low{{ else if lt . 95.0 }}mid{{ else }}high{{ end }}", 90.0, "mid"),
        ("{{ with .a }}{{ . }}{{ else }}none{{ end }}", {"a": "z"}, "z"),
        ("{{ with .b }}{{ . }}{{ else }}none{{ end }}", {"a": "z"}, "none"),
        ("{{ range $i, $e := . }}{{ $i }}={{ $e }};{{ end }}", ["x", "y"], "0=x;1=y;"),
        ("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", {"b": "2", "a": "1"}, "a=1;b=2;"),
        ("{{ range . }}{{ . }}{{ else }}empty{{ end }}", [], "empty"),
        ('{{ range . }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}', ["a", "b", "c"], "a"),
        ('{{ range . }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}', ["a", "b", "c"], "ac"),
        ("{{ . }}", {"b": "2", "a": "1"}, "map[a:1 b:2]"),
        ('{{ len . }} {{ index . "a" }} [{{ index . "zz" }}]', {"b": "2", "a": "1"}, "2 1 []"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", None, "2"),
        ("{{ 'a' }} {{ 0x10 }} {{ 1_000 }} {{ -3 }} {{ 1.0 }}", None, "97 16 1000 -3 1"),
        ("{{/* comment */}}a{{- /* trimmed */ -}} b", None, "ab"),
        ('{{- " x " -}}  {{ 3 }}   {{- 4 }}', None, " x 34"),
        ('{{ and 1 0 }} {{ or 0 "" "x" }} {{ not true }}', None, "0 x false"),
        ('{{ print 1 2 "a" 3 }}', None, "1 2a3"),
        (
            '{{ printf "%.2f|%d|%s|%5.1f%%|%v|%q" 3.14159 42 "s" 90.12 1e6 "q" }}',
            None,
            '3.14||s| 90.1%|1e+06|"q"'.replace("||", "|42|"),
        ),
        (
            '{{ printf "%d" 1.5 }} {{ printf "%s" 1.5 }} {{ printf "%d" }}',
            None,
            "%!d(float64=1.5) %!s(float64=1.5) %!d(MISSING)",
        ),
        (
            "{{ . }} {{ 1234567.0 }} {{ 1e-5 }} {{ 100000.0 }} {{ 0.0001 }}",
            0.5,
            "0.5 1.234567e+06 1e-05 100000 0.0001",
        ),
        (
            '{{ html "<a href=\'x\'>" }} {{ js "a\'b" }} {{ urlquery "a b" }}',
            None,
            "&lt;a href=&#39;x&#39;&gt; a\\'b a+b",
        ),
        ('{{ slice "abcdef" 1 3 }} {{ index . 1 }}', ["p", "q"], "bc q"),
        (
            '{{ define "t" }}[{{ . }}]{{ end }}{{ template "t" "x" }}{{ block "b" 2 }}<{{ . }}>{{ end }}',
            None,
            "[x]<2>",
        ),
        ('{{ ge 2 2 }} {{ le 1 2 }} {{ ne "a" "b" }} {{ eq 1 2 3 1 }}', None, "true true true true"),
    ],
)
def test_go_template_semantics(text: str, data: object, want: str) -> None:
    assert run(text, data) == want


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("{{", "template: test:1: unclosed action"),
        ("{{ foo }}", 'template: test:1: function "foo" not defined'),
        ("{{ $nope }}", 'template: test:1: undefined variable "$nope"'),
        ("{{ if 1 }}x", "template: test:1: unexpected EOF"),
        ("{{ end }}", "template: test:1: unexpected {{end}}"),
        ("{{ else }}", "template: test:1: unexpected {{else}}"),
        ("{{ if }}{{ end }}", "template: test:1: missing value for if"),
        ("{{ }}", "template: test:1: missing value for command"),
        ("{{ 1 | 2 }}", "template: test:1: non executable command in pipeline stage 2"),
        ('{{ "abc }}', "template: test:1: unterminated quoted string"),
        ("{{ .a.b$ }}", "template: test:1: bad character U+0024 '$'"),
        ("a\n{{ break }}", "template: test:2: {{break}} outside {{range}}"),
        ("{{ 3x }}", 'template: test:1: bad number syntax: "3x"'),
        ("{{ (1 }}", "template: test:1: unclosed left paren"),
        ("{{ /* x */ }}", 'template: test:1: unexpected "/" in command'),
        ("{{/* x */ y }}", "template: test:1: comment ends before closing delimiter"),
        ("{{\u00a0}}", "template: test:1: unrecognized character in action: U+00A0"),
    ],
)
def test_parse_errors_read_like_go(text: str, msg: str) -> None:
    with pytest.raises(TemplateParseError) as ei:
        run(text)
    assert str(ei.value) == msg


@pytest.mark.parametrize(
    ("text", "data", "msg"),
    [
        (
            '{{ query "missing" | first }}',
            None,
            'template: test:1:21: executing "test" at <first>: error calling first: '
            "first() called on vector with no elements",
        ),
        (
            "{{ if gt . 80 }}x{{ end }}",
            90.0,
            'template: test:1:6: executing "test" at <gt>: error calling gt: incompatible types for comparison',
        ),
        (
            "{{ toUpper . }}",
            1.0,
            'template: test:1:11: executing "test" at <.>: wrong type for value; expected string; got float64',
        ),
        (
            '{{ humanize "x" }}',
            None,
            'template: test:1:3: executing "test" at <humanize>: error calling humanize: '
            'strconv.ParseFloat: parsing "x": invalid syntax',
        ),
        (
            '{{ template "nope" }}',
            None,
            'template: test:1:12: executing "test" at <{{template "nope"}}>: template "nope" not defined',
        ),
        ("{{ .Foo }}", QuerySample({}, 1.0), "can't evaluate field Foo in type *template.sample"),
    ],
)
def test_exec_errors_read_like_go(text: str, data: object, msg: str) -> None:
    with pytest.raises(TemplateExecError) as ei:
        run(text, data)
    assert msg in str(ei.value)


@pytest.mark.parametrize(
    ("fn", "arg", "want"),
    [
        (humanize, 1234567, "1.235M"),
        (humanize, 0.000012, "12u"),
        (humanize, -1500, "-1.5k"),
        (humanize1024, 1536, "1.5ki"),
        (humanize_duration, 3661, "1h 1m 1s"),
        (humanize_duration, 90061, "1d 1h 1m 1s"),
        (humanize_percentage, 0.5, "50%"),
        (humanize_timestamp, 0, "1970-01-01 00:00:00 +0000 UTC"),
    ],
)
def test_humanize_functions(fn: object, arg: float, want: str) -> None:
    assert fn(arg) == want  # type: ignore[operator]


def test_alert_template_variables() -> None:
    text = (
        "{{ $labels.instance }} of {{ .Labels.job }} at {{ $value | humanize }} "
        "({{ .Value }}) in {{ $externalLabels.dc }} see {{ $externalURL }}"
    )
    out = expand_alert_template(
        text,
        "Down",
        {"instance": "a:9100", "job": "node"},
        1234567.0,
        external_labels={"dc": "eu1"},
        external_url="http://prom:9090",
    )
    assert out == "a:9100 of node at 1.235M (1.234567e+06) in eu1 see http://prom:9090"


def test_alert_template_query_uses_callback_at_eval_time() -> None:
    seen: list[tuple[str, int]] = []

    def q(expr: str, t: int) -> list[tuple[dict[str, str], float]]:
        seen.append((expr, t))
        return [({"__name__": "up", "job": "x"}, 0.0)]

    out = expand_alert_template(
        '{{ with query "up == 0" }}{{ . | first | label "job" }} down{{ end }}',
        "A",
        {},
        1.0,
        timestamp_ms=5000,
        query_fn=q,
    )
    assert out == "x down"
    assert seen == [("up == 0", 5000)]


def test_alert_template_errors_are_embedded_not_raised() -> None:
    out = expand_alert_template("{{ $labels.x | toUpper | nope }}", "A", {}, 1.0)
    assert out.startswith(
        "<error expanding template: error parsing template __alert_A: template: __alert_A:1:"
    )
    out = expand_alert_template('{{ query "x" | first }}', "A", {}, 1.0, query_fn=lambda q, t: [])
    assert "first() called on vector with no elements" in out and out.startswith("<error expanding template")


def test_parse_alert_template_reports_template_text_name() -> None:
    with pytest.raises(TemplateParseError) as ei:
        parse_alert_template("{{ foo }}", "HighLoad")
    assert str(ei.value) == 'template: __alert_HighLoad:1: function "foo" not defined'
    assert isinstance(ei.value, TemplateError)


def test_sprintf_widths_and_flags() -> None:
    assert go_sprintf("%05d|%-4s|%+.1f|%x|%X|%o|%e", 42, "ab", 2.25, 255, 255, 8, 123456.0) == (
        "00042|ab  |+2.2|ff|FF|10|1.234560e+05"
    )
    assert go_sprintf("%s", "a", 1) == "a%!(EXTRA int=1)"
    assert go_sprintf("%v %v %v", True, None, [1, "a"]) == "true <nil> [1 a]"
