from __future__ import annotations

import io
import math
import random
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraper.exposition import (
    NO_TIMESTAMP,
    NORMAL_NAN_BITS,
    ExpositionError,
    MetricMetadata,
    Parser,
    is_openmetrics,
    iter_parse,
    parse,
)
from tests.conftest import require_peer
from tsdb.labels import Labels

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def L(name: str, **kv: str) -> Labels:
    return Labels.from_dict({"__name__": name, **kv})


def _bits(a: np.ndarray) -> list[int]:
    return [int(x) for x in a.view(np.uint64)]


# -- text format ---------------------------------------------------------------------


def test_text_basic() -> None:
    text = (
        "# HELP http_requests_total The total number of HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="post",code="200"} 1027 1395066363000\n'
        'http_requests_total{method="post",code="400"}    3 1395066363000\n'
        "\n"
        "# A normal comment.\n"
        "metric_without_timestamp_and_labels 12.47\n"
        "# TYPE x untyped\n"
        "x{} -Inf\n"
    )
    r = parse(text)
    assert r.series == [
        'http_requests_total{method="post",code="200"}',
        'http_requests_total{method="post",code="400"}',
        "metric_without_timestamp_and_labels",
        "x{}",
    ]
    assert r.labels == [
        L("http_requests_total", method="post", code="200"),
        L("http_requests_total", method="post", code="400"),
        L("metric_without_timestamp_and_labels"),
        L("x"),
    ]
    assert r.values.dtype == np.float64 and r.timestamps.dtype == np.int64
    assert r.values.tolist() == [1027.0, 3.0, 12.47, -math.inf]
    assert r.timestamps.tolist() == [1395066363000, 1395066363000, NO_TIMESTAMP, NO_TIMESTAMP]
    assert r.metadata == {
        "http_requests_total": MetricMetadata("counter", "The total number of HTTP requests.", ""),
        "x": MetricMetadata("unknown", "", ""),
    }
    assert len(r) == 4


def test_text_default_timestamp() -> None:
    r = parse(b"a 1\nb 2 -5\n", default_timestamp_ms=1234)
    assert r.timestamps.tolist() == [1234, -5]


def test_text_escapes_and_help() -> None:
    text = (
        '# HELP m Help with \\\\ backslash and \\n newline, "quotes" kept.\n'
        'm{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1\n'
        'm{a="b}c",d="e # f",g="h\\",i"} 2\n'
        'm{u="ünïcödé ☃",tab="a\tb"} 3\n'
    )
    r = parse(text)
    assert r.labels[0] == L("m", path="C:\\DIR\\FILE.TXT", error='Cannot find file:\n"FILE.TXT"')
    assert r.labels[1] == L("m", a="b}c", d="e # f", g='h",i')
    assert r.labels[2] == L("m", u="ünïcödé ☃", tab="a\tb")
    assert r.metadata["m"].help == 'Help with \\ backslash and \n newline, "quotes" kept.'


def test_text_whitespace_variants() -> None:
    text = (
        '  a{b="c"} 1\n'
        'a {b="d"} 2\n'
        'a{ b = "e" , } 3\n'
        'a{b="f",}\t4\t5\n'
        "a\t6\n"
        'a{b="g"}7\n'
        "a 8 9   \n"
        "\t\n"
        "   # indented comment\n"
    )
    r = parse(text)
    assert r.values.tolist() == [1, 2, 3, 4, 6, 7, 8]
    assert r.timestamps.tolist()[3] == 5 and r.timestamps.tolist()[6] == 9
    assert [x.get("b") for x in r.labels] == ["c", "d", "e", "f", "", "g", ""]
    assert r.series[0] == 'a{b="c"}' and r.series[1] == 'a {b="d"}'


def test_empty_label_value_dropped_and_empty_input() -> None:
    r = parse('a{b="",c="d"} 1\n')
    assert r.labels == [L("a", c="d")]
    r = parse("")
    assert len(r) == 0 and r.values.shape == (0,)
    r = parse("# just a comment\n\n")
    assert len(r) == 0


@pytest.mark.parametrize(
    ("tok", "bits"),
    [
        ("NaN", NORMAL_NAN_BITS),
        ("nan", NORMAL_NAN_BITS),
        ("+Inf", 0x7FF0000000000000),
        ("Inf", 0x7FF0000000000000),
        ("inf", 0x7FF0000000000000),
        ("+infinity", 0x7FF0000000000000),
        ("-Inf", 0xFFF0000000000000),
        ("-0", 0x8000000000000000),
        ("1e-400", 0),
        ("1.7976931348623157e308", 0x7FEFFFFFFFFFFFFF),
        (".5", 0x3FE0000000000000),
        ("5.", 0x4014000000000000),
        ("+1E+3", 0x408F400000000000),
    ],
)
def test_values_like_go_parsefloat(tok: str, bits: int) -> None:
    for text, ct in ((f"a {tok}\n", "text/plain"), (f"a {tok}\n# EOF\n", OM)):
        r = parse(text, content_type=ct)
        assert _bits(r.values) == [bits]


@pytest.mark.parametrize(
    "tok",
    ["0x10", "0x1p3", "1_000", "+NaN", "-nan", "1e400", "-1e400", "١", "1.2.3", "e5", "Infx", "--1", "1e"],
)
def test_values_rejected(tok: str) -> None:
    with pytest.raises(ExpositionError):
        parse(f"a {tok}\n")
    with pytest.raises(ExpositionError):
        parse(f"a {tok}\n# EOF\n", content_type=OM)


def test_many_values_bulk_path_normalises_nan() -> None:
    vals = [repr(random.Random(i).random()) for i in range(1000)] + ["NaN"] * 10
    r = parse("".join(f'm{{i="{i}"}} {v}\n' for i, v in enumerate(vals)))
    assert _bits(r.values[-10:]) == [NORMAL_NAN_BITS] * 10
    assert r.values[:1000].tolist() == [float(v) for v in vals[:1000]]


@pytest.mark.parametrize(
    ("text", "lineno", "msg"),
    [
        ("a 1\nb 2\nfoo{bar=1} 2\n", 3, "line 3: expected label value in quotes at column 9: 'foo{bar=1} 2'"),
        ("foo{bar=1} 2\n", 1, "line 1: expected label value in quotes"),
        ('a{b="c} 1\n', 1, "unterminated label value"),
        ('a{b="c"', 1, "expected ',' or '}'"),
        ('a{b="c" d="e"} 1\n', 1, "expected ',' or '}'"),
        ('a{b="c",,} 1\n', 1, "expected label name"),
        ("a{,} 1\n", 1, "expected label name"),
        ('a{1b="c"} 1\n', 1, "expected label name"),
        ('a{b.c="d"} 1\n', 1, "expected '='"),
        ('a{b="c",b="d"} 1\n', 1, "duplicate label name 'b'"),
        ('a{__name__="x"} 1\n', 1, "duplicate label name '__name__'"),
        ('{b="c"} 1\n', 1, "expected metric name"),
        ('a{b="\\t"} 1\n', 1, "invalid escape sequence"),
        ("a\n", 1, "expected value"),
        ('a{b="c"}\n', 1, "expected value"),
        ("a 1 2 3\n", 1, "unexpected text after timestamp"),
        ("a 1 1.5\n", 1, "invalid timestamp '1.5'"),
        ("a 1 99999999999999999999\n", 1, "out of range"),
        ("a-b 1\n", 1, "invalid character in metric name"),
        ("a 1\r\n", 1, "invalid"),
        ("a 1", 1, "must end with a newline"),
        ("# TYPE a foo\n", 1, "invalid metric type 'foo'"),
        ("# TYPE 1a counter\n", 1, "expected metric name after TYPE"),
        ("# HELP a-b x\n", 1, "invalid character in metric name"),
        ("a 1{\n", 1, "invalid timestamp"),
    ],
)
def test_text_errors(text: str, lineno: int, msg: str) -> None:
    with pytest.raises(ExpositionError) as ei:
        parse(text)
    assert ei.value.lineno == lineno
    assert msg in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_error_reports_column_and_line() -> None:
    with pytest.raises(ExpositionError) as ei:
        parse('ok 1\nok 2\nm{a="b",c=d} 1\n')
    e = ei.value
    assert (e.lineno, e.column, e.line) == (3, 11, 'm{a="b",c=d} 1')


def test_invalid_utf8_reports_line() -> None:
    with pytest.raises(ExpositionError) as ei:
        parse(b'a 1\nb{c="\xff"} 1\n')
    assert ei.value.lineno == 2 and "UTF-8" in str(ei.value)


def test_cache_reuses_labels() -> None:
    p = Parser()
    text = 'a{b="c"} 1\nd 2\n'
    r1 = p.parse(text)
    r2 = p.parse(text.replace("1", "5"))
    assert r1.labels[0] is r2.labels[0] and r1.labels[1] is r2.labels[1]
    assert r2.values.tolist() == [5.0, 2.0]
    small = Parser(cache_size=1)
    for i in range(5):
        assert small.parse(f'a{{i="{i}"}} 1\nb 2\n').labels[0] == L("a", i=str(i))


# -- OpenMetrics --------------------------------------------------------------------------

OM_EXAMPLE = """\
# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo histogram
foo_bucket{le="0.0"} 0
foo_bucket{le="1e-05"} 0
foo_bucket{le="0.1"} 8 # {trace_id="KOO5S4vxi0o"} 0.67
foo_bucket{le="1.0"} 11 1520879607.789 # {trace_id="oHg5SJYRHA0",span="x"} 9.8 1520879602.5
foo_bucket{le="+Inf"} 17
foo_count 17
foo_sum 324789.3
foo_created 1520430000.123
# TYPE go_goroutines gauge
# HELP go_goroutines Number of goroutines that currently exist.
go_goroutines 69
# TYPE build info
build_info{version="1.0",revision="abc"} 1
# TYPE state stateset
state{state="a"} 1
state{state="b"} 0
# TYPE req counter
req_total{code="200"} 1.0e3 1520879607
req_created{code="200"} 1520000000
# EOF
"""


def test_openmetrics_example() -> None:
    r = parse(OM_EXAMPLE, content_type=OM, default_timestamp_ms=42)
    assert len(r) == 17
    assert r.labels[0] == L("acme_http_router_request_seconds_sum", path="/api/v1", method="GET")
    assert r.metadata["acme_http_router_request_seconds"] == MetricMetadata(
        "summary", "Latency though all of ACME's HTTP request router.", "seconds"
    )
    assert r.metadata["foo"].type == "histogram" and r.metadata["build"].type == "info"
    i = r.series.index('foo_bucket{le="1.0"}')
    assert r.timestamps[i] == 1520879607789 and r.values[i] == 11
    assert [tuple(e) for e in r.exemplars] == [
        (r.series.index('foo_bucket{le="0.1"}'), Labels.from_dict({"trace_id": "KOO5S4vxi0o"}), 0.67, None),
        (i, Labels.from_dict({"trace_id": "oHg5SJYRHA0", "span": "x"}), 9.8, 1520879602500),
    ]
    assert r.timestamps[r.series.index('req_total{code="200"}')] == 1520879607000
    assert r.values[r.series.index('req_total{code="200"}')] == 1000.0
    assert r.timestamps[0] == 42


def test_openmetrics_timestamp_truncates_like_prometheus() -> None:
    toks = ["1520879608.0005", "1520879609.9999", "0.001", "-1.5", "1e3", "1520879610.3", "1.0005"]
    text = "".join(f"m {i} {t}\n" for i, t in enumerate(toks)) + "# EOF\n"
    r = parse(text, content_type=OM)
    assert r.timestamps.tolist() == [int(float(t) * 1000.0) for t in toks]
    assert r.timestamps.tolist()[:2] == [1520879608000, 1520879609999]


@pytest.mark.parametrize(
    ("text", "lineno", "msg"),
    [
        ("a 1\n", 2, "data does not end with # EOF"),
        ("", 1, "data does not end with # EOF"),
        ("a 1\n# EOF\na 2\n", 3, "unexpected data after # EOF"),
        ("# EOF\n\n", 2, "unexpected data after # EOF"),
        ("a 1\n\n# EOF\n", 2, "blank lines are not allowed"),
        ("# some comment\n# EOF\n", 1, "expected '# HELP'"),
        ("#TYPE a gauge\n# EOF\n", 1, "expected '# HELP'"),
        ("# TYPE a untyped\n# EOF\n", 1, "invalid metric type 'untyped'"),
        ("# HELP a\n# EOF\n", 1, "expected a space and text"),
        ("# UNIT a_seconds bytes\n# EOF\n", 1, "not a suffix"),
        ("a  1\n# EOF\n", 1, "expected value"),
        ("a\t1\n# EOF\n", 1, "expected a single space"),
        (" a 1\n# EOF\n", 1, "expected metric name"),
        ('a{b = "c"} 1\n# EOF\n', 1, "expected '='"),
        ("a 1 NaN\n# EOF\n", 1, "invalid timestamp"),
        ("a 1 2 3\n# EOF\n", 1, "expected exemplar"),
        ('a 1 # {b="c"}\n# EOF\n', 1, "expected value after exemplar"),
        ('a 1 # {b="c"} x\n# EOF\n', 1, "invalid exemplar value"),
        ('a 1 # {b="c"} 1 2 3\n# EOF\n', 1, "unexpected text after exemplar timestamp"),
        ('a 1 #{b="c"} 1\n# EOF\n', 1, "invalid timestamp"),
        ("a 1 \n# EOF\n", 1, "expected timestamp or exemplar"),
    ],
)
def test_openmetrics_errors(text: str, lineno: int, msg: str) -> None:
    with pytest.raises(ExpositionError) as ei:
        parse(text, content_type=OM)
    assert ei.value.lineno == lineno
    assert msg in str(ei.value)


def test_openmetrics_unknown_escape_kept_like_prometheus() -> None:
    r = parse('a{b="x\\ty\\"z"} 1\n# EOF\n', content_type=OM)
    assert r.labels[0] == L("a", b='x\\ty"z')


def test_openmetrics_eof_without_newline_and_trailing_comma() -> None:
    r = parse('a{b="c",} 1\n# EOF', content_type=OM)
    assert r.labels == [L("a", b="c")]


def test_openmetrics_interleaved_accepted_unless_strict() -> None:
    text = "a 1 1\nb 1 1\na 2 2\n# EOF\n"
    assert len(parse(text, content_type=OM)) == 3
    with pytest.raises(ExpositionError, match="line 3: metric family 'a' is interleaved"):
        parse(text, content_type=OM, strict=True)


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("# TYPE a counter\n# TYPE a counter\n# EOF\n", "second TYPE"),
        ("# TYPE a counter\na 1\n# EOF\n", "does not fit"),
        ("# TYPE a gauge\na 1\n# HELP a x\n# EOF\n", "after its samples"),
        ("# TYPE a counter\na_total 1\n# TYPE b gauge\nb 1\n# HELP a x\n# EOF\n", "interleaved"),
    ],
)
def test_openmetrics_strict(text: str, msg: str) -> None:
    with pytest.raises(ExpositionError, match=msg):
        parse(text, content_type=OM, strict=True)
    parse(text, content_type=OM)  # lenient by default, like Prometheus


def test_strict_accepts_valid_example() -> None:
    r = parse(OM_EXAMPLE, content_type=OM, strict=True)
    assert len(r) == 17


def test_is_openmetrics() -> None:
    assert is_openmetrics(OM)
    assert is_openmetrics("application/openmetrics-text")
    assert not is_openmetrics("text/plain; version=0.0.4")
    assert not is_openmetrics("")


# -- generated expositions: fast path == ground truth ---------------------------------------

NAME = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
LNAME = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(lambda s: s != "__name__")
LVALUE = st.lists(
    st.one_of(
        st.sampled_from(list('"\\\n{},=# \t\r\xa0') + ['",', '="', "\\n"]),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=8,
).map("".join)
FLOAT = st.floats(allow_nan=True, allow_infinity=True)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt_value(v: float, style: int) -> str:
    if math.isnan(v):
        return ["NaN", "nan", "NaN"][style % 3]
    if math.isinf(v):
        return ("+Inf" if v > 0 else "-Inf") if style % 2 else ("Inf" if v > 0 else "-inf")
    return repr(v) if style % 3 else f"{v:.17e}"


sample_rows = st.lists(
    st.tuples(
        NAME,
        st.dictionaries(LNAME, LVALUE, max_size=4),
        FLOAT,
        st.one_of(st.none(), st.integers(-(2**62), 2**62)),
        st.integers(0, 5),
        st.booleans(),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_rows, st.booleans())
def test_generated_text_matches_ground_truth(rows: list, warm: bool) -> None:
    lines = []
    want_labels = []
    for name, lab, v, ts, style, braces in rows:
        ws = [" ", "\t", "  "][style % 3]
        body = ",".join(f'{k}="{_esc(x)}"' for k, x in lab.items())
        key = f"{name}{{{body}{',' if style == 4 and lab else ''}}}" if (lab or braces) else name
        line = f"{key}{ws}{_fmt_value(v, style)}" + ("" if ts is None else f"{ws}{ts}")
        lines.append(line)
        want_labels.append(Labels.from_dict({**lab, "__name__": name}))
    text = "\n".join(lines) + "\n"
    p = Parser()
    if warm:
        p.parse(text)
    r = p.parse(text)
    assert r.labels == want_labels
    want_v = np.array([row[2] for row in rows], dtype=np.float64)
    want_v[np.isnan(want_v)] = np.uint64(NORMAL_NAN_BITS).view(np.float64)
    assert _bits(r.values) == _bits(want_v)
    assert r.timestamps.tolist() == [NO_TIMESTAMP if row[3] is None else row[3] for row in rows]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample_rows, st.booleans())
def test_generated_openmetrics_matches_ground_truth(rows: list, warm: bool) -> None:
    lines = []
    want_ts = []
    for name, lab, v, ts, style, braces in rows:
        body = ",".join(f'{k}="{_esc(x)}"' for k, x in lab.items())
        key = f"{name}{{{body}}}" if (lab or braces) else name
        line = f"{key} {_fmt_value(v, style)}"
        if ts is not None:
            tok = f"{ts / 1000:.3f}" if style % 2 else str(ts // 1000)
            line += f" {tok}"
            want_ts.append(int(float(tok) * 1000.0))
        else:
            want_ts.append(7)
        if style == 5:
            line += ' # {trace_id="t"} 1'
        lines.append(line)
    text = "\n".join(lines) + "\n# EOF\n"
    p = Parser()
    if warm:
        p.parse(text, content_type=OM)
    r = p.parse(text, content_type=OM, default_timestamp_ms=7)
    assert r.labels == [Labels.from_dict({**row[1], "__name__": row[0]}) for row in rows]
    assert r.timestamps.tolist() == want_ts
    assert len(r.exemplars) == sum(1 for row in rows if row[4] == 5)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutations_raise_only_exposition_errors(data: st.DataObject) -> None:
    base = OM_EXAMPLE if data.draw(st.booleans()) else 'a{b="c",d="e\\"f"} 1 2\n# HELP a x\nb 3\n'
    ct = OM if base is OM_EXAMPLE else "text/plain"
    pos = data.draw(st.integers(0, len(base) - 1))
    ins = data.draw(st.text(st.sampled_from(list('{}",= #\n\\\t.e+-1aé')), max_size=3))
    cut = data.draw(st.integers(0, 2))
    text = base[:pos] + ins + base[pos + cut :]
    p = Parser()
    try:
        r1 = p.parse(text, content_type=ct)
    except ExpositionError as e:
        assert e.lineno >= 1
        with pytest.raises(ExpositionError):
            Parser().parse(text, content_type=ct, strict=True) if ct != OM else Parser().parse(
                text, content_type=ct
            )
        return
    r2 = p.parse(text, content_type=ct)  # warm cache gives the same answer
    assert r1.series == r2.series and r1.labels == r2.labels
    assert _bits(r1.values) == _bits(r2.values)


# -- streaming ------------------------------------------------------------------------------


def _big_text(n_series: int = 500, n_steps: int = 20, om: bool = False) -> str:
    out = []
    if om:
        out.append("# TYPE m gauge")
    for step in range(n_steps):
        for s in range(n_series):
            ts = (
                f"{1_700_000_000 + step * 15}.{s % 1000:03d}"
                if om
                else str(1_700_000_000_000 + step * 15_000)
            )
            out.append(f'm{{instance="host-{s}",job="j"}} {step * 0.5 + s} {ts}')
    if om:
        out.append("# EOF")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("om", [False, True])
def test_iter_parse_matches_parse(om: bool) -> None:
    text = _big_text(om=om)
    ct = OM if om else "text/plain"
    whole = parse(text, content_type=ct)
    for src in (io.BytesIO(text.encode()), io.StringIO(text)):
        chunks = list(iter_parse(src, content_type=ct, chunk_lines=777))
        assert len(chunks) == math.ceil(text.count("\n") / 777)
        assert sum(len(c) for c in chunks) == len(whole)
        assert [s for c in chunks for s in c.series] == whole.series
        assert np.array_equal(np.concatenate([c.values for c in chunks]), whole.values)
        assert np.array_equal(np.concatenate([c.timestamps for c in chunks]), whole.timestamps)
        if om:
            assert chunks[-1].metadata == {"m": MetricMetadata("gauge", "", "")}


def test_iter_parse_errors_have_absolute_line_numbers(tmp_path: Path) -> None:
    text = _big_text(50, 10)
    lines = text.split("\n")
    lines[333] = "broken{ 1"
    f = tmp_path / "x.prom"
    f.write_text("\n".join(lines))
    with open(f, "rb") as fh, pytest.raises(ExpositionError) as ei:
        for _ in iter_parse(fh, chunk_lines=100):
            pass
    assert ei.value.lineno == 334
    # OpenMetrics: EOF checked at the very end, data after it wherever it is.
    om = _big_text(50, 10, om=True)
    with pytest.raises(ExpositionError, match="does not end with # EOF"):
        list(iter_parse(io.BytesIO(om.replace("# EOF\n", "").encode()), content_type=OM, chunk_lines=64))
    with pytest.raises(ExpositionError, match="unexpected data after # EOF"):
        list(iter_parse(io.BytesIO((om + "m 1\n").encode()), content_type=OM, chunk_lines=501))


# -- speed (a loose floor; bench/ has the real figures) ----------------------------------------


def test_parse_speed_floor() -> None:
    text = _big_text(2000, 50).encode()  # 100k lines
    p = Parser()
    p.parse(text)
    t0 = time.perf_counter()
    r = p.parse(text)
    elapsed = time.perf_counter() - t0
    assert len(r) == 100_000
    assert 100_000 / elapsed > 150_000, f"{100_000 / elapsed:.0f} lines/s"


# -- differential against promtool ------------------------------------------------------------

_FIXTURE = """\
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"} 3 1395066363000
# HELP msdos_file_access_time_seconds Escapes: \\\\ and \\n.
# TYPE msdos_file_access_time_seconds gauge
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9
# Minimalistic line:
metric_without_timestamp_and_labels 12.47
# TYPE something_weird untyped
something_weird{problem="division by zero"} +Inf -3982045
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
  indented_metric{a="b",} NaN
spaced {  a = "b" ,c="d"  }   -Inf   12
empty_braces{} 0
unicode_value{a="ünï ☃ \t tab"} 1
"""


def _promtool_accepts(promtool: str, text: str) -> tuple[bool, str]:
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    # 0: clean, 3: lint problems only (e.g. missing HELP); 1: parse error.
    return p.returncode in (0, 3), p.stderr.decode(errors="replace")


def _random_valid_text(seed: int) -> str:
    rng = random.Random(seed)
    chars = 'abc XYZ_019 "\\\n{}=,#\t\xa0é☃'
    out = []
    for f in range(40):
        name = f"fam_{seed}_{f}" + rng.choice(["", "_total", ":rate5m"])
        kind = rng.choice(["counter", "gauge", "untyped", None])
        if rng.random() < 0.5:
            out.append(
                f"# HELP {name} " + _esc("".join(rng.choice(chars) for _ in range(8))).replace('\\"', '"')
            )
        if kind:
            out.append(f"# TYPE {name} {kind}")
        for i in range(rng.randint(1, 5)):
            lab = {
                f"l{j}": "".join(rng.choice(chars) for _ in range(rng.randint(0, 6)))
                for j in range(rng.randint(0, 3))
            }
            lab["i"] = str(i)
            ws = rng.choice([" ", "\t", "  "])
            body = ",".join(f'{k}="{_esc(v)}"' for k, v in lab.items()) + rng.choice(["", ","])
            v = rng.choice(
                ["1", "-2.5", "NaN", "+Inf", "-Inf", "3e-7", repr(rng.random() * 1e12), ".5", "7."]
            )
            ts = rng.choice(["", f"{ws}{rng.randint(-(10**12), 10**13)}"])
            out.append(f"{name}{{{body}}}{ws}{v}{ts}")
        if rng.random() < 0.3:
            out.append(rng.choice(["", "# a comment", "#", "  "]))
    return "\n".join(out) + "\n"


def test_promtool_accepts_what_we_accept() -> None:
    promtool = require_peer("promtool")
    texts = [_FIXTURE] + [_random_valid_text(seed) for seed in range(8)]
    for text in texts:
        parse(text)  # we accept it
        ok, err = _promtool_accepts(promtool, text)
        assert ok, err


@pytest.mark.parametrize(
    "text",
    [
        "a 1",
        "foo{bar=1} 2\n",
        'a{b="c",b="d"} 1\n',
        'a{b="\\t"} 1\n',
        "a 1e400\n",
        "a +nan\n",
        "a 1_0\n",
        "a 0x10\n",
        "a 1\r\n",
        'a{b="c" 1\n',
        "a 1 2 3\n",
        "# TYPE a foo\n",
    ],
)
def test_promtool_rejects_what_we_reject(text: str) -> None:
    promtool = require_peer("promtool")
    with pytest.raises(ExpositionError):
        parse(text)
    ok, _ = _promtool_accepts(promtool, text)
    assert not ok


_DUMP_RE = re.compile(r"^\{(.*)\} (\S+) (-?\d+)$")


def test_openmetrics_matches_promtool_create_blocks(tmp_path: Path) -> None:
    """Same samples and millisecond timestamps as `promtool tsdb create-blocks-from openmetrics`."""
    promtool = require_peer("promtool")
    rng = random.Random(5)
    lines = ["# HELP m A gauge.", "# TYPE m gauge"]
    for i in range(300):
        secs = 1_600_000_000 + rng.randint(0, 3600)
        frac = rng.choice(
            ["", f".{rng.randint(0, 9)}", f".{rng.randint(0, 999):03d}", f".{rng.randint(0, 99999):05d}"]
        )
        v = rng.choice(["1", "2.5", "-7e-3", repr(rng.random()), "1e300"])
        lines.append(f'm{{i="{i}",b="x y"}} {v} {secs}{frac}')
    lines.append("# TYPE c counter")
    lines += [f'c_total{{i="{i}"}} {i} {1_600_000_000 + i}.5 # {{t="z"}} 1' for i in range(5)]
    text = "\n".join(lines) + "\n# EOF\n"
    src = tmp_path / "in.om"
    src.write_text(text)
    out = tmp_path / "blocks"
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(src), str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (out / "wal").mkdir(exist_ok=True)
    dump = subprocess.run(
        [promtool, "tsdb", "dump", str(out)], check=True, capture_output=True, timeout=120
    ).stdout.decode()
    theirs = set()
    for line in dump.splitlines():
        m = _DUMP_RE.match(line)
        assert m is not None, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        theirs.add((tuple(sorted(labels.items())), float(m.group(2)), int(m.group(3))))
    r = parse(text, content_type=OM)
    ours = {
        (lab.pairs, float(v), int(t))
        for lab, v, t in zip(r.labels, r.values.tolist(), r.timestamps.tolist(), strict=True)
    }
    assert ours == theirs
