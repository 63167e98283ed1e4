"""``heron promql query|query-range|format|test``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from heron import promql_cli
from heron.promql_cli import (
    format_result,
    format_time,
    format_value,
    parse_step_ms,
    parse_time_ms,
    prettify,
    register,
)
from heron.tsdb_cli import import_openmetrics
from promql.parser import parse_expr

OM = """# TYPE http_requests_total counter
http_requests_total{code="200",job="api"} 1 1600000000
http_requests_total{code="200",job="api"} 16 1600000015
http_requests_total{code="200",job="api"} 31 1600000030
http_requests_total{code="500",job="api"} 2 1600000000
http_requests_total{code="500",job="api"} 4 1600000030
# EOF
"""

CONFORMANCE = Path("/work/shared/conformance/promqltest")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="heron")
    sub = p.add_subparsers(dest="command", required=True)
    register(sub)
    return p


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    args = _parser().parse_args(argv)
    rc = args.func(args)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("promql_cli")
    (d / "om.txt").write_text(OM)
    import_openmetrics(d / "om.txt", d / "data")
    return d / "data"


def test_time_parsing() -> None:
    assert parse_time_ms("1600000000") == 1_600_000_000_000
    assert parse_time_ms("1600000000.123") == 1_600_000_000_123
    assert parse_time_ms("2020-09-13T12:26:40Z") == 1_600_000_000_000
    assert parse_time_ms("2020-09-13T14:26:40.5+02:00") == 1_600_000_000_500
    for bad in ("foo", "2020-09-13T12:26:40", "NaN"):
        with pytest.raises(ValueError):
            parse_time_ms(bad)
    assert parse_step_ms("15s") == 15_000
    assert parse_step_ms("1m30s") == 90_000
    assert parse_step_ms("0.5") == 500


def test_number_and_time_format_like_go() -> None:
    assert [format_value(v) for v in (31.0, 0.35, 1e21, 1e-7, -2.5, -0.0)] == [
        "31",
        "0.35",
        "1000000000000000000000",
        "0.0000001",
        "-2.5",
        "-0",
    ]
    assert format_value(float("nan")) == "NaN"
    assert format_value(float("-inf")) == "-Inf"
    assert format_time(1_600_000_000_000) == "1600000000"
    assert format_time(1_600_000_000_500) == "1600000000.5"
    assert format_time(1_600_000_000_012) == "1600000000.012"


def test_query_instant(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(
        ["promql", "query", "http_requests_total", "--data", str(data), "--time", "1600000030"], capsys
    )
    assert rc == 0, err
    assert out.splitlines() == [
        'http_requests_total{code="200", job="api"} => 31 @[1600000030]',
        'http_requests_total{code="500", job="api"} => 4 @[1600000030]',
    ]
    rc, out, _ = _run(
        [
            "promql",
            "query",
            'sum(http_requests_total{code="200"})',
            "--data",
            str(data),
            "--time",
            "2020-09-13T12:27:10Z",
        ],
        capsys,
    )
    assert rc == 0 and out == "{} => 31 @[1600000030]\n"
    rc, out, _ = _run(["promql", "query", "1 + 2", "--data", str(data), "--time", "1600000030.5"], capsys)
    assert out == "scalar: 3 @[1600000030.5]\n"
    rc, out, _ = _run(["promql", "query", '"hi"', "--data", str(data), "--time", "10"], capsys)
    assert out == "hi @[10]\n"


def test_query_range(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(
        [
            "promql",
            "query-range",
            "sum by (job) (http_requests_total)",
            "--data",
            str(data),
            "--start",
            "1600000000",
            "--end",
            "1600000030",
            "--step",
            "15s",
        ],
        capsys,
    )
    assert rc == 0, err
    assert out.splitlines() == ['{job="api"} =>', "3 @[1600000000]", "18 @[1600000015]", "35 @[1600000030]"]


@pytest.mark.parametrize(
    ("expr", "msg"),
    [
        ("sum(rate(x[5m]) by", "1:17: parse error: unexpected <by>"),
        (
            "rate(x)",
            '1:6: parse error: expected type range vector in call to function "rate", got instant vector',
        ),
        ("foo{", "parse error"),
    ],
)
def test_bad_query_precise_error(data: Path, capsys: pytest.CaptureFixture[str], expr: str, msg: str) -> None:
    rc, out, err = _run(["promql", "query", expr, "--data", str(data), "--time", "1600000030"], capsys)
    assert rc == 1
    assert out == ""
    assert msg in err
    assert "Traceback" not in err
    assert "^" in err  # caret under the position


def test_bad_inputs_no_traceback(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["promql", "query", "x", "--data", str(tmp_path / "nope")], capsys)
    assert rc == 1 and "does not exist" in err
    rc, _, err = _run(["promql", "query", "x", "--data", str(data), "--time", "yesterday"], capsys)
    assert rc == 1 and "yesterday" in err
    rc, _, err = _run(
        ["promql", "query-range", "x", "--data", str(data), "--start", "100", "--end", "50", "--step", "1"],
        capsys,
    )
    assert rc == 1 and "before start" in err
    rc, _, err = _run(
        ["promql", "query", 'label_replace(x, "a", "$1", "b", "(")', "--data", str(data)], capsys
    )
    assert rc == 1 and "Traceback" not in err


def test_eval_error_reported(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(
        [
            "promql",
            "query",
            "http_requests_total",
            "--data",
            str(data),
            "--time",
            "1600000030",
            "--timeout",
            "0s",
        ],
        capsys,
    )
    # a zero timeout disables the limit, as in the engine; the query succeeds
    assert rc == 0, err
    rc, _, err = _run(
        [
            "promql",
            "query",
            "http_requests_total + on(job) http_requests_total",
            "--data",
            str(data),
            "--time",
            "1600000030",
        ],
        capsys,
    )
    assert rc == 1
    assert "execution:" in err and "many-to-many" in err


def test_format(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(["promql", "format", "sum   by(job)(rate(x[5m]))"], capsys)
    assert rc == 0 and out == "sum by (job) (rate(x[5m]))\n"
    long = (
        'sum by (job, instance) (rate(http_requests_total{job="api-server", code=~"5.."}[5m])) '
        '/ on (job, instance) group_left () sum by (job, instance) (rate(http_requests_total{job="api-server"}[5m]))'
    )
    text = prettify(long)
    assert text.splitlines() == [
        '  sum by (job, instance) (rate(http_requests_total{job="api-server", code=~"5.."}[5m]))',
        "/ on (job, instance) group_left ()",
        '  sum by (job, instance) (rate(http_requests_total{job="api-server"}[5m]))',
    ]
    assert parse_expr(text) == parse_expr(long)
    nested = "histogram_quantile(0.9, sum by (le) (rate(" + "a_very_long_metric_name_bucket" * 3 + "[5m])))"
    pretty = prettify(nested)
    assert pretty.startswith("histogram_quantile(\n  0.9,\n  sum by (le) (")
    assert parse_expr(pretty) == parse_expr(nested)
    rc, _, err = _run(["promql", "format", "sum(("], capsys)
    assert rc == 1 and "parse error" in err


def test_format_roundtrips_many() -> None:
    exprs = [
        "-sum(rate(" + "x" * 120 + "[5m]))",
        "max_over_time((rate(" + "y" * 120 + "[5m]))[1h:1m] offset 5m)",
        "topk(5, " + "z" * 120 + ")",
        "(" + "a" * 60 + " + " + "b" * 60 + ")",
        'count_values("v", ' + "c" * 120 + ")",
    ]
    for e in exprs:
        assert parse_expr(prettify(e)) == parse_expr(e), e


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="conformance scripts not present")
def test_promql_test_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, _ = _run(["promql", "test", str(CONFORMANCE / "literals.test")], capsys)
    lines = out.splitlines()
    assert rc == 0
    assert lines[0].startswith("tier 1: ") and lines[0].endswith(" passed, 0 failed, 0 skipped")
    assert lines[1:3] == [
        "tier 2: 0 passed, 0 failed, 0 skipped",
        "tier 3: 0 passed, 0 failed, 0 skipped",
    ]
    assert lines[-1].endswith("0 failed, 0 skipped")
    bad = tmp_path / "bad.test"
    bad.write_text("load 1m\n  m 1 2 3\n\neval instant at 1m m\n  m 5\n")
    rc, out, _ = _run(["promql", "test", str(bad)], capsys)
    assert rc == 1
    assert "FAILED bad.test:4" in out
    assert out.splitlines()[-1] == "0 passed, 1 failed, 0 skipped"
    rc, _, err = _run(["promql", "test", str(tmp_path / "missing.test")], capsys)
    assert rc == 1 and "missing.test" in err


def test_run_query_function(data: Path) -> None:
    res = promql_cli.run_query(data, "count(http_requests_total)", t_ms=1_600_000_030_000)
    assert format_result(res.value) == "{} => 2 @[1600000030]"
