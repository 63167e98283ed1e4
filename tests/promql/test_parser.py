"""PromQL front end: lexer, grammar, AST construction, printing and type checks.

Cases follow the semantics of Prometheus's ``promql/parser/parse_test.go``
(messages and error positions included) for the 3.x language.
"""

from __future__ import annotations

import math
import time

import pytest

from promql import ast
from promql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    DurationExpr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    ValueType,
    VectorMatching,
    VectorSelector,
    format_duration,
    resolve_durations,
)
from promql.errors import ParseError
from promql.parser import parse_duration, parse_expr, parse_metric_selector
from tsdb.matchers import Matcher, MatchType


def eq(name: str, value: str) -> Matcher:
    return Matcher(MatchType.EQUAL, name, value)


def vs(name: str | None, *matchers: Matcher, **kw: object) -> VectorSelector:
    ms = list(matchers)
    if name is not None:
        ms.append(eq("__name__", name))
    return VectorSelector(name, tuple(ms), **kw)  # type: ignore[arg-type]


def num(v: float) -> NumberLiteral:
    return NumberLiteral(v)


# --------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
        ("inF", math.inf),
        (".5", 0.5),
        ("5.", 5),
        ("123.4567", 123.4567),
        ("5e-3", 0.005),
        ("5e3", 5000),
        ("12.34e+6", 12340000),
        ("0xc", 12),
        ("0x1f", 31),
        ("0755", 493),  # Go's ParseInt(s, 0, 64): leading zero is octal
        ("-0755", -493),
        ("08", 8),  # not octal: falls back to ParseFloat
        ("+5.5e-3", 0.0055),
        ("1_000", 1000),
        ("1_000.5", 1000.5),
        ("0x_1f", 31),
        ("-0.2e-6", -0.0000002),
        ("1e-1000", 0.0),
    ],
)
def test_number_literals(text: str, value: float) -> None:
    node = parse_expr(text)
    assert isinstance(node, NumberLiteral)
    assert node.val == value
    assert node.type is ValueType.SCALAR


def test_nan_literal() -> None:
    for text in ("NaN", "nan", "-NaN"):
        node = parse_expr(text)
        assert isinstance(node, NumberLiteral) and math.isnan(node.val)
    assert parse_expr("NaN") == NumberLiteral(math.nan)


def test_duration_literals_are_numbers() -> None:
    node = parse_expr("1h30m")
    assert node == NumberLiteral(5400.0) and node.duration
    assert str(node) == "1h30m"
    node = parse_expr("time() - 5m")
    assert isinstance(node, BinaryExpr) and node.rhs == num(300) and str(node) == "time() - 5m"
    assert str(parse_expr("-5m")) == "-5m"


def test_number_out_of_range_is_an_error() -> None:
    # As Prometheus: strconv.ParseFloat reports ErrRange for overflowing literals.
    with pytest.raises(ParseError, match="value out of range"):
        parse_expr("1e1000")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"double-quoted string \\" with escaped quote"', 'double-quoted string " with escaped quote'),
        ("'single-quoted string \\' with escaped quote'", "single-quoted string ' with escaped quote"),
        ("`backtick-quoted string`", "backtick-quoted string"),
        ('"\\a\\b\\f\\n\\r\\t\\v\\\\\\" - \\u1234\\U00010111☺"', '\a\b\f\n\r\t\v\\" - \u1234\U00010111☺'),
        ("`\\a\\b\\n`", "\\a\\b\\n"),
        ('"\\xc3\\xa9"', "é"),  # byte escapes build UTF-8
        ('"\\303\\251"', "é"),
        ("'\"'", '"'),
    ],
)
def test_string_literals(text: str, value: str) -> None:
    node = parse_expr(text)
    assert node == StringLiteral(value)
    assert node.type is ValueType.STRING
    assert parse_expr(str(node)) == node


def test_invalid_utf8_bytes_round_trip() -> None:
    node = parse_expr('"a\\xc5z"')
    assert isinstance(node, StringLiteral)
    with pytest.raises(UnicodeEncodeError):
        node.val.encode("utf-8")
    assert str(node) == '"a\\xc5z"'
    assert parse_expr(str(node)) == node


# --------------------------------------------------------------------------- operators and precedence


def test_unary_minus_binds_looser_than_pow() -> None:
    assert parse_expr("-1^2") == UnaryExpr("-", BinaryExpr("^", num(1), num(2)))
    assert parse_expr("-1^-2") == UnaryExpr("-", BinaryExpr("^", num(1), num(-2)))
    assert parse_expr("-1*2") == BinaryExpr("*", num(-1), num(2))
    assert parse_expr("-1+2") == BinaryExpr("+", num(-1), num(2))
    assert parse_expr("+1 + -2 * 1") == BinaryExpr("+", num(1), BinaryExpr("*", num(-2), num(1)))
    assert parse_expr("2 ^ -1 * 3") == BinaryExpr("*", BinaryExpr("^", num(2), num(-1)), num(3))


def test_pow_is_right_associative() -> None:
    assert parse_expr("2 ^ 3 ^ 2") == BinaryExpr("^", num(2), BinaryExpr("^", num(3), num(2)))


def test_precedence_levels() -> None:
    foo, bar, bla, blub = vs("foo"), vs("bar"), vs("bla"), vs("blub")
    one = VectorMatching("one-to-one")
    many = VectorMatching("many-to-many")
    assert parse_expr("foo + bar or bla and blub") == BinaryExpr(
        "or",
        BinaryExpr("+", foo, bar, matching=one),
        BinaryExpr("and", bla, blub, matching=many),
        matching=many,
    )
    node = parse_expr("foo and bar unless baz or qux")
    assert isinstance(node, BinaryExpr) and node.op == "or"
    assert str(node.lhs) == "foo and bar unless baz"
    assert parse_expr("1 < bool 2 - 1 * 2") == BinaryExpr(
        "<", num(1), BinaryExpr("-", num(2), BinaryExpr("*", num(1), num(2))), return_bool=True
    )
    assert parse_expr("1 + 2/(3*1)") == BinaryExpr(
        "+", num(1), BinaryExpr("/", num(2), ParenExpr(BinaryExpr("*", num(3), num(1))))
    )
    node = parse_expr("a atan2 b * c")
    assert isinstance(node, BinaryExpr) and node.op == "*" and str(node) == "a atan2 b * c"


def test_vector_matching() -> None:
    node = parse_expr("bar + on(foo) bla / on(baz, buz) group_right(test) blub")
    assert node == BinaryExpr(
        "+",
        vs("bar"),
        BinaryExpr(
            "/",
            vs("bla"),
            vs("blub"),
            matching=VectorMatching("one-to-many", ("baz", "buz"), True, ("test",)),
        ),
        matching=VectorMatching("one-to-one", ("foo",), True),
    )
    node = parse_expr("foo / ignoring(test,blub) group_left(blub) bar")
    assert isinstance(node, BinaryExpr)
    assert node.matching == VectorMatching("many-to-one", ("test", "blub"), False, ("blub",))
    node = parse_expr("foo and on() bar")
    assert isinstance(node, BinaryExpr) and node.matching == VectorMatching("many-to-many", (), True)
    # Matching is dropped when a side is a scalar.
    node = parse_expr("foo == bool 1")
    assert isinstance(node, BinaryExpr) and node.matching is None and node.return_bool


def test_group_left_takes_following_parens_as_labels() -> None:
    # As in Prometheus's grammar (shift): "(" right after group_left opens its label list.
    node = parse_expr("a * on(x) group_left (y) b")
    assert isinstance(node, BinaryExpr) and node.matching is not None and node.matching.include == ("y",)


def test_fill_modifiers() -> None:
    node = parse_expr("left_vector + fill_left(5) fill_right(7) right_vector")
    assert isinstance(node, BinaryExpr) and node.matching is not None
    assert (node.matching.fill_left, node.matching.fill_right) == (5, 7)
    node = parse_expr("a == bool on(job) group_left fill(-Inf) b")
    assert isinstance(node, BinaryExpr) and node.matching is not None
    assert node.matching.fill_left == node.matching.fill_right == -math.inf
    assert str(node) == "a == bool on (job) group_left () fill(-Inf) b"
    # Metrics may be named like the modifiers.
    node = parse_expr("fill + fill(0) fill")
    assert isinstance(node, BinaryExpr) and node.lhs == vs("fill") and node.rhs == vs("fill")
    assert node.matching == VectorMatching("one-to-one", fill_left=0.0, fill_right=0.0)
    assert parse_expr("other + fill_right") == BinaryExpr(
        "+", vs("other"), vs("fill_right"), matching=VectorMatching()
    )


def test_trim_operators() -> None:
    node = parse_expr("h </ 0.5 * 2")
    assert node == BinaryExpr("*", BinaryExpr("</", vs("h"), num(0.5)), num(2))
    assert str(parse_expr("h >/ -Inf")) == "h >/ -Inf"


def test_keywords_usable_as_names() -> None:
    assert parse_expr("sum(sum)") == AggregateExpr("sum", vs("sum"))
    assert parse_expr("a + sum") == BinaryExpr("+", vs("a"), vs("sum"), matching=VectorMatching())
    assert parse_expr("min") == vs("min")
    assert parse_expr('offset{step="1s"}[5m]') == MatrixSelector(vs("offset", eq("step", "1s")), 300_000)
    assert parse_expr('step{offset="1s"}[5m]') == MatrixSelector(vs("step", eq("offset", "1s")), 300_000)
    assert parse_expr('anchored{job="test"}') == vs("anchored", eq("job", "test"))
    assert parse_expr("start") == vs("start")
    assert parse_expr('end{start="foo"}') == vs("end", eq("start", "foo"))
    node = parse_expr("sum without(and, by, avg, count, alert, annotations, on, bool, offset)(some_metric)")
    assert isinstance(node, AggregateExpr)
    assert node.grouping == ("and", "by", "avg", "count", "alert", "annotations", "on", "bool", "offset")
    node = parse_expr("foo unless on(start) bar")
    assert isinstance(node, BinaryExpr) and node.matching == VectorMatching("many-to-many", ("start",), True)
    assert parse_expr("foo{NaN='bc'}") == vs("foo", eq("NaN", "bc"))
    node = parse_expr("sum by (nan, Inf) (x)")
    assert isinstance(node, AggregateExpr) and node.grouping == ("nan", "Inf")
    with pytest.raises(ParseError, match='unexpected number "1" in grouping opts, expected label'):
        parse_expr("sum by (1) (x)")


def test_comments_and_whitespace() -> None:
    assert parse_expr("# comment\nfoo # trailing\n  + bar") == BinaryExpr(
        "+", vs("foo"), vs("bar"), matching=VectorMatching()
    )


# --------------------------------------------------------------------------- selectors


def test_vector_selectors() -> None:
    node = parse_expr('foo{a="b", foo!="bar", test=~"test", bar!~"baz",}')
    assert node == VectorSelector(
        "foo",
        (
            eq("a", "b"),
            Matcher(MatchType.NOT_EQUAL, "foo", "bar"),
            Matcher(MatchType.REGEX, "test", "test"),
            Matcher(MatchType.NOT_REGEX, "bar", "baz"),
            eq("__name__", "foo"),
        ),
    )
    assert parse_expr('foo:bar{a="bc"}') == vs("foo:bar", eq("a", "bc"))
    assert parse_expr("{__name__=~'bar', __name__!~'baz'}") == VectorSelector(
        None, (Matcher(MatchType.REGEX, "__name__", "bar"), Matcher(MatchType.NOT_REGEX, "__name__", "baz"))
    )
    assert parse_expr('{"bar", __name__="baz"}') == VectorSelector(
        None, (eq("__name__", "bar"), eq("__name__", "baz"))
    )


def test_quoted_metric_and_label_names() -> None:
    node = parse_expr('{"my.metric", "a.b"="x"}')
    assert node == VectorSelector(None, (eq("__name__", "my.metric"), eq("a.b", "x")))
    assert str(node) == '{__name__="my.metric", "a.b"="x"}'
    assert parse_expr(str(node)) == node
    node = parse_expr("{'foo\\'bar', 'a\\\\dos\\\\path'='boo\\\\urns'}")
    assert node == VectorSelector(None, (eq("__name__", "foo'bar"), eq("a\\dos\\path", "boo\\urns")))
    node = parse_expr('sum by ("foo bar", bar, \'baz\')({"some.metric"})')
    assert isinstance(node, AggregateExpr) and node.grouping == ("foo bar", "bar", "baz")
    assert str(node) == 'sum by ("foo bar", bar, baz) ({__name__="some.metric"})'


def test_matrix_selectors_and_ranges() -> None:
    assert parse_expr("test[5m]") == MatrixSelector(vs("test"), 300_000)
    assert parse_expr("test[1000ms]") == MatrixSelector(vs("test"), 1000)
    assert parse_expr("test[5]") == MatrixSelector(vs("test"), 5000)  # bare number: seconds
    assert parse_expr("foo[4.18]") == MatrixSelector(vs("foo"), 4180)
    assert parse_expr("foo[4s180ms]") == MatrixSelector(vs("foo"), 4180)
    node = parse_expr('test{a="b"}[5y] OFFSET 3d')
    assert node == MatrixSelector(vs("test", eq("a", "b"), offset=3 * 86_400_000), 5 * 365 * 86_400_000)
    assert str(node) == 'test{a="b"}[5y] offset 3d'
    assert parse_expr("test[5m] OFFSET 3600") == MatrixSelector(vs("test", offset=3_600_000), 300_000)
    assert parse_expr("foo[3ms] @ 2.345") == MatrixSelector(vs("foo", timestamp=2345), 3)
    assert parse_expr("some_metric[5m] @ 1m") == MatrixSelector(vs("some_metric", timestamp=60_000), 300_000)


def test_offsets() -> None:
    assert parse_expr("foo offset 5m") == vs("foo", offset=300_000)
    assert parse_expr("foo offset -7m") == vs("foo", offset=-420_000)
    assert parse_expr("foo OFFSET 1h30m") == vs("foo", offset=5_400_000)
    assert parse_expr("foo OFFSET 1m30ms") == vs("foo", offset=60_030)
    assert str(parse_expr("foo offset -7m")) == "foo offset -7m"


def test_at_modifier() -> None:
    assert parse_expr("foo @ 1603774568") == vs("foo", timestamp=1_603_774_568_000)
    assert parse_expr("foo @ -100") == vs("foo", timestamp=-100_000)
    assert parse_expr("foo @ .3") == vs("foo", timestamp=300)
    assert parse_expr("foo @ 3.3333") == vs("foo", timestamp=3333)
    assert parse_expr("foo @ 3.3335") == vs("foo", timestamp=3334)
    assert parse_expr("foo @ 0xA") == vs("foo", timestamp=10_000)
    assert parse_expr("foo @ -3.3e1") == vs("foo", timestamp=-33_000)
    assert parse_expr("foo @ start()") == vs("foo", start_or_end="start")
    assert parse_expr("foo @ end()") == vs("foo", start_or_end="end")
    # @ and offset in either order.
    a = parse_expr("foo @ 123 offset 1m")
    b = parse_expr("foo offset 1m @ 123")
    assert a == b == vs("foo", timestamp=123_000, offset=60_000)
    assert str(a) == "foo @ 123.000 offset 1m"


def test_subqueries() -> None:
    node = parse_expr('foo{bar="baz"}[10m:6s]')
    assert node == SubqueryExpr(vs("foo", eq("bar", "baz")), 600_000, 6000)
    assert parse_expr("foo[10m:]") == SubqueryExpr(vs("foo"), 600_000)
    node = parse_expr('min_over_time(rate(foo{bar="baz"}[2s])[5m:] offset 4m)[4m:3s]')
    assert str(node) == 'min_over_time(rate(foo{bar="baz"}[2s])[5m:] offset 4m)[4m:3s]'
    assert isinstance(node, SubqueryExpr) and node.type is ValueType.MATRIX
    assert parse_expr("some_metric OFFSET 1m [10m:5s]") == SubqueryExpr(
        vs("some_metric", offset=60_000), 600_000, 5000
    )
    node = parse_expr("some_metric[10m:5s] offset 1m @ 123")
    assert node == SubqueryExpr(vs("some_metric"), 600_000, 5000, offset=60_000, timestamp=123_000)
    assert str(node) == "some_metric[10m:5s] @ 123.000 offset 1m"
    node = parse_expr("foo[10m:6s] @ end()")
    assert isinstance(node, SubqueryExpr) and node.start_or_end == "end"
    node = parse_expr("sum without(and, by)(some_metric) [30m:10s]")
    assert isinstance(node, SubqueryExpr) and isinstance(node.expr, AggregateExpr)


def test_anchored_and_smoothed() -> None:
    node = parse_expr("increase(metric[1m] anchored)")
    assert isinstance(node, Call)
    m = node.args[0]
    assert isinstance(m, MatrixSelector) and m.vector_selector.anchored
    assert str(node) == "increase(metric[1m] anchored)"
    node = parse_expr("metric @ 100 smoothed + 0")
    assert isinstance(node, BinaryExpr) and isinstance(node.lhs, VectorSelector)
    assert node.lhs.smoothed and node.lhs.timestamp == 100_000
    assert str(node) == "metric @ 100.000 smoothed + 0"


# --------------------------------------------------------------------------- duration expressions


def test_duration_expressions_in_brackets() -> None:
    cases = {
        "foo[26m+4m]": 1_800_000,
        "foo[1800]": 1_800_000,
        "foo[60*30]": 1_800_000,
        "foo[2m*(10+5)]": 1_800_000,
        "foo[24m+((1.5*2m)+2m)]": 1_740_000,
        "foo[-5m+35m]": 1_800_000,
        "foo[1h/2]": 1_800_000,
        "foo[1h30m % 1h]": 1_800_000,
        "foo[11s+10s-5*2^2]": 1000,
        "foo[-(10s-5s)+20s]": 15_000,
    }
    for text, ms in cases.items():
        node = parse_expr(text)
        assert isinstance(node, MatrixSelector) and node.range == ms, text
        assert parse_expr(str(node)) == node
    node = parse_expr("foo[4s+4s:1s*2] offset (5s-8)")
    assert isinstance(node, SubqueryExpr) and (node.range, node.step, node.offset) == (8000, 2000, -3000)


def test_step_and_range_durations_resolve_per_query() -> None:
    node = parse_expr("count_over_time(x[step()+1ms])")
    assert isinstance(node, Call) and isinstance(node.args[0], MatrixSelector)
    assert node.args[0].range == 0 and isinstance(node.args[0].range_expr, DurationExpr)
    resolved = resolve_durations(node, step_ms=10_000, range_ms=0)
    assert isinstance(resolved, Call) and resolved.args[0].range == 10_001  # type: ignore[attr-defined]
    node = parse_expr("x offset max_of(min_of(step(), 1h), 1ms)")
    assert resolve_durations(node, 5000, 0).offset == 5000  # type: ignore[attr-defined]
    node = parse_expr("x[range()]")
    assert resolve_durations(node, 1000, 60_000).range == 60_000  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="duration must be greater than 0"):
        resolve_durations(node, 0, 0)
    # Constant but invalid expressions parse (as in Prometheus) and fail when resolved.
    node = parse_expr("foo[-2^2]")
    with pytest.raises(ValueError, match="duration must be greater than 0"):
        resolve_durations(node, 0, 0)


def test_offset_binds_only_an_atom() -> None:
    assert parse_expr("metric1_total offset 100 + 2") == BinaryExpr(
        "+", vs("metric1_total", offset=100_000), num(2)
    )
    assert parse_expr("foo offset -2 ^ 2") == BinaryExpr("^", vs("foo", offset=-2000), num(2))
    assert parse_expr("foo offset 5s-8") == BinaryExpr("-", vs("foo", offset=5000), num(8))
    node = parse_expr("foo offset (-2 ^ 2)")
    assert isinstance(node, VectorSelector) and node.offset == -4000
    node = parse_expr("foo offset -(1^2)")
    assert isinstance(node, VectorSelector) and node.offset == -1000
    node = parse_expr("m offset step()*0")
    assert isinstance(node, BinaryExpr) and node.op == "*"
    assert isinstance(node.lhs, VectorSelector) and node.lhs.offset_expr == DurationExpr("step")
    node = parse_expr("m offset -min_of(step(), 1s)+8000")
    assert isinstance(node, BinaryExpr) and node.op == "+"
    node = parse_expr("m offset -(min_of(step(), 2s)-5)+8000")
    assert isinstance(node, BinaryExpr) and node.op == "+"


def test_query_context_functions() -> None:
    node = parse_expr("start() + range()")
    assert isinstance(node, BinaryExpr) and node.type is ValueType.SCALAR
    assert isinstance(node.lhs, Call) and node.lhs.func.name == "start"
    assert parse_expr("min_of(3, 5)") == Call(ast.FUNCTIONS["min_of"], (num(3), num(5)))
    assert parse_expr("vector(step())").type is ValueType.VECTOR
    assert ast.DurationExpr("min_of", num(math.nan), num(3)).evaluate() != 3


# --------------------------------------------------------------------------- calls and aggregations


def test_function_calls() -> None:
    assert parse_expr("time()") == Call(ast.FUNCTIONS["time"], ())
    node = parse_expr("rate(some_metric[5m])")
    assert node == Call(ast.FUNCTIONS["rate"], (MatrixSelector(vs("some_metric"), 300_000),))
    assert node.type is ValueType.VECTOR
    assert parse_expr("round(some_metric, 5)") == Call(ast.FUNCTIONS["round"], (vs("some_metric"), num(5)))
    node = parse_expr('label_join(up, "foo", ",", "a", "b", "c")')
    assert isinstance(node, Call) and len(node.args) == 6
    assert parse_expr("scalar(foo)").type is ValueType.SCALAR


def test_experimental_functions_are_flagged() -> None:
    node = parse_expr("mad_over_time(foo[5m])")
    assert isinstance(node, Call) and node.func.experimental
    assert not ast.FUNCTIONS["rate"].experimental
    assert "holt_winters" not in ast.FUNCTIONS
    assert ast.FUNCTIONS["double_exponential_smoothing"].experimental


def test_info_second_argument_may_match_empty() -> None:
    node = parse_expr('info(metric, {data=~".*"})')
    assert isinstance(node, Call)
    arg = node.args[1]
    assert isinstance(arg, VectorSelector) and arg.bypass_empty_matcher_check


def test_aggregations() -> None:
    assert parse_expr("sum by (foo)(some_metric)") == AggregateExpr(
        "sum", vs("some_metric"), grouping=("foo",)
    )
    assert parse_expr("sum (some_metric) without (foo)") == AggregateExpr(
        "sum", vs("some_metric"), grouping=("foo",), without=True
    )
    assert parse_expr("topk(5, some_metric)") == AggregateExpr("topk", vs("some_metric"), param=num(5))
    assert parse_expr('count_values("value", some_metric)') == AggregateExpr(
        "count_values", vs("some_metric"), param=StringLiteral("value")
    )
    assert parse_expr("sum by (foo,bar,)(some_metric)") == AggregateExpr(
        "sum", vs("some_metric"), grouping=("foo", "bar")
    )
    assert parse_expr("sum by ()(some_metric)") == AggregateExpr("sum", vs("some_metric"))
    node = parse_expr("SUM(http_requests_total) BY (job)")
    assert isinstance(node, AggregateExpr) and node.op == "sum"
    for op in ("limitk", "limit_ratio", "quantile", "bottomk"):
        assert isinstance(parse_expr(f"{op}(1, foo)"), AggregateExpr)


# --------------------------------------------------------------------------- printing


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("sum by(job)(rate(x[5m]))", "sum by (job) (rate(x[5m]))"),
        ("sum(x) without(a,b)", "sum without (a, b) (x)"),
        ("a+on(b)group_left(c)d", "a + on (b) group_left (c) d"),
        ("a+ignoring(b)group_right d", "a + ignoring (b) group_right () d"),
        ("a > bool 1", "a > bool 1"),
        ("x[90m]", "x[1h30m]"),
        ("x[1h30m:1m]", "x[1h30m:1m]"),
        ("x offset 1w", "x offset 1w"),
        ("x offset 8d", "x offset 8d"),
        ("x[14d]", "x[2w]"),
        ("1e300", "1" + "0" * 300),
        ("1e-7", "0.0000001"),
        ("'a\\nb'", '"a\\nb"'),
        ('foo{a=~"x\\\\d+"}', 'foo{a=~"x\\\\d+"}'),
        ("-(a)", "-(a)"),
        ("(a + b) * c", "(a + b) * c"),
        ("a * (b + c)", "a * (b + c)"),
    ],
)
def test_printing(text: str, printed: str) -> None:
    node = parse_expr(text)
    assert str(node) == printed
    assert parse_expr(printed) == node


def test_format_duration() -> None:
    assert format_duration(0) == "0s"
    assert format_duration(90 * 60_000) == "1h30m"
    assert format_duration(365 * 86_400_000) == "1y"
    assert format_duration(90 * 86_400_000) == "90d"
    assert format_duration(1) == "1ms"
    assert format_duration(-60_000) == "-1m"


# --------------------------------------------------------------------------- positions and types


def test_positions() -> None:
    node = parse_expr(" +some_metric")
    assert isinstance(node, UnaryExpr) and node.pos == (1, 13) and node.expr.pos == (2, 13)
    node = parse_expr("sum by (job)(rate(http_requests_total[30m]))")
    assert node.pos == (0, 44)
    assert isinstance(node, AggregateExpr) and node.expr.pos == (13, 43)
    node = parse_expr("foo offset 5m")
    assert node.pos == (0, 13)
    # Positions do not take part in equality.
    assert parse_expr("foo") == parse_expr("   foo")


def test_types() -> None:
    assert parse_expr("1 + 1").type is ValueType.SCALAR
    assert parse_expr("foo + 1").type is ValueType.VECTOR
    assert parse_expr("foo[1m]").type is ValueType.MATRIX
    assert parse_expr("(foo[1m])").type is ValueType.MATRIX
    assert parse_expr('"x"').type is ValueType.STRING
    assert ValueType.MATRIX.documented == "range vector"


# --------------------------------------------------------------------------- errors

ERRORS = [
    ("", "no expression found in input", 0),
    ("# just a comment\n\n", "no expression found in input", 0),
    ("1+", "unexpected end of input", 2),
    (".", "unexpected character: '.'", 0),
    ("2.5.", 'bad number or duration syntax: "2.5."', 0),
    ("100..4", 'bad number or duration syntax: "100.."', 0),
    ("0deadbeef", 'bad number or duration syntax: "0de"', 0),
    ("*1", "unexpected <op:*>", 0),
    ("(1))", "unexpected right parenthesis ')'", 4),
    ("((1)", "unclosed left parenthesis", 4),
    ("1 and 1", 'set operator "and" not allowed in binary scalar expression', 0),
    ("1 == 1", "comparisons between scalars must use BOOL modifier", 2),
    ("1 !~ 1", "unexpected character after '!': '~'", 2),
    ("1 =~ 1", "unexpected character after '=': '~'", 2),
    (
        '-"string"',
        'unary expression only allowed on expressions of type scalar or instant vector, got "string"',
        0,
    ),
    (
        "-test[5m]",
        'unary expression only allowed on expressions of type scalar or instant vector, got "range vector"',
        0,
    ),
    ("@@", "unexpected <op:@>", 0),
    (
        "1 offset 1d",
        "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        0,
    ),
    ("foo offset 1s offset 2s", "offset may not be set multiple times", 0),
    ("foo @ 1 @ 2", "@ <timestamp> may not be set multiple times", 0),
    ("a - on(b) ignoring(c) d", "unexpected <ignoring>", 10),
    ("1 or on(bar) foo", "vector matching only allowed between instant vectors", 0),
    ("foo + group_left(baz) bar", "unexpected <group_left>", 6),
    ("foo and on(bar) group_left(baz) bar", 'no grouping allowed for "and" operation', 0),
    (
        'http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"}',
        'label "instance" must not occur in ON and GROUP clause at once',
        34,
    ),
    ("foo + bool bar", "bool modifier can only be used on comparison operators", 4),
    ("foo and bool 10", "bool modifier can only be used on comparison operators", 4),
    ("foo @ +Inf", "timestamp out of bounds for @ modifier: +Inf", 0),
    ("foo @ NaN", "timestamp out of bounds for @ modifier: NaN", 0),
    ("{", "unexpected end of input inside braces", 1),
    ("}", "unexpected character: '}'", 0),
    ("some_metric{a=b}", 'unexpected identifier "b" in label matching, expected string', 14),
    ('some_metric{a:b="b"}', "unexpected character inside braces: ':'", 13),
    ("foo{gibberish}", 'unexpected "}" in label matching, expected label matching operator', 13),
    ("{}", "vector selector must contain at least one non-empty matcher", 0),
    ('{x=~".*"}', "vector selector must contain at least one non-empty matcher", 0),
    ('{x!="a"}', "vector selector must contain at least one non-empty matcher", 0),
    ('foo{__name__="bar"}', 'metric name must not be set twice: "foo" or "bar"', 0),
    ("foo{,}", 'unexpected "," in label matching, expected identifier or "}"', 4),
    ('foo{__name__="bar" lol}', 'unexpected identifier "lol" in label matching, expected "," or "}"', 19),
    ('foo{a=~"(.*"}', "error parsing regexp", 4),
    ("foo[5mm]", 'bad number or duration syntax: "5mm"', 4),
    ("foo[5y1hs]", 'unknown unit "hs" in duration "5y1hs"', 4),
    ("foo[5m1h]", 'not a valid duration string: "5m1h"', 4),
    ("foo[0m]", "duration must be greater than 0", 4),
    ("foo[-1]", "duration must be greater than 0", 4),
    ('foo["5m"]', "unexpected character in duration expression: '\"'", 4),
    (
        "foo[]",
        'unexpected "]" in subquery or range selector, expected number, duration, step(), or range()',
        4,
    ),
    (
        "foo[step]",
        'unexpected "]" in subquery or range selector, expected number, duration, step(), or range()',
        8,
    ),
    (
        "some_metric[5m] OFFSET",
        "unexpected end of input in offset, expected number, duration, step(), or range()",
        22,
    ),
    ("some_metric OFFSET 1m[5m]", "no offset modifiers allowed before range", 21),
    ("some_metric[5m] @", "unexpected end of input in @, expected timestamp", 17),
    ("some_metric @ start() [5m]", "no @ modifiers allowed before range", 22),
    ("(foo + bar)[5m]", "ranges only allowed for vector selectors", 11),
    ("1[5m] smoothed", "ranges only allowed for vector selectors", 1),
    ('sum by ("foo)(some_metric{})', "unterminated quoted string", 8),
    ("sum without(==)(some_metric)", "unexpected <op:==> in grouping opts, expected label", 12),
    ("sum without(foo,,)(some_metric)", 'unexpected "," in grouping opts, expected label', 16),
    ("sum some_metric by (test)", 'unexpected identifier "some_metric"', 4),
    ("sum (some_metric) by test", 'unexpected identifier "test" in grouping opts, expected "("', 21),
    ("sum () by (test)", "no arguments for aggregate expression provided", 0),
    ("MIN (some_metric) keep_common", 'unexpected identifier "keep_common"', 18),
    ("sum (some_metric) without (test) by (test)", "unexpected <by>", 33),
    ('sum by ("")(x)', 'invalid label name for grouping: ""', 8),
    (
        "topk(some_metric)",
        "wrong number of arguments for aggregate expression provided, expected 2, got 1",
        0,
    ),
    ("topk(some_metric,)", "trailing commas not allowed in function call args", 16),
    (
        "topk(some_metric, other_metric)",
        "expected type scalar in aggregation parameter, got instant vector",
        5,
    ),
    ("count_values(5, other_metric)", "expected type string in aggregation parameter, got scalar", 13),
    ("quantile(foo, bar)", "expected type scalar in aggregation parameter, got instant vector", 9),
    (
        "rate(some_metric[5m]) @ 1234",
        "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        0,
    ),
    ("floor()", 'expected 1 argument(s) in call to "floor", got 0', 0),
    ("floor(1)", 'expected type instant vector in call to function "floor", got scalar', 6),
    (
        "hour(some_metric, some_metric, some_metric)",
        'expected at most 1 argument(s) in call to "hour", got 3',
        0,
    ),
    ("label_join(x, 'a')", 'expected at least 3 argument(s) in call to "label_join", got 2', 0),
    ("time(some_metric)", 'expected 0 argument(s) in call to "time", got 1', 0),
    ("non_existent_function_far_bar()", 'unknown function with name "non_existent_function_far_bar"', 0),
    ("holt_winters(x[5m], 0.5, 0.5)", 'unknown function with name "holt_winters"', 0),
    ("rate(some_metric)", 'expected type range vector in call to function "rate", got instant vector', 5),
    ("-=", 'unexpected "="', 1),
    ("++-++-+-+-<", "unexpected <op:<>", 10),
    ("a>b()", 'unknown function with name "b"', 2),
    ("foo[5m] + 1", "binary expression must contain only scalar and instant vector types", 0),
    ("`\\``", "unterminated raw string", 3),
    ('"\\', "escape sequence not terminated", 0),
    ('"\\c"', "unknown escape sequence U+0063 'c'", 0),
    ('"\\x."', "illegal character U+002E '.' in escape sequence", 0),
    ('"\\ud800"', "escape sequence is an invalid Unicode code point", 0),
    ('foo{bar="baz"}[', "unexpected end of input in duration expression", 15),
    ("test[5d] OFFSET 10s [10m:5s]", "subquery is only allowed on instant vector, got matrix instead", 0),
    (
        'info(rate(x[5m]), target_info{foo="bar"})',
        "expected label selectors only, got vector selector instead",
        18,
    ),
    ('info(x, {foo="bar"} == 1)', "expected label selectors only", 8),
    ("foo[5s/0d]", "division by zero", 6),
    ("foo offset (4d/0)", "division by zero", 14),
    ("foo[5s%0d]", "modulo by zero", 6),
    ("foo offset 9.5e10", "duration out of range", 11),
    ("sum(rate(", "unclosed left parenthesis", 9),
    ("foo[5s x 5s]", "unexpected character: 'x', expected ':'", 7),
    (
        "9" * 309,
        'error parsing number: strconv.ParseFloat: parsing "' + "9" * 309 + '": value out of range',
        0,
    ),
]


@pytest.mark.parametrize(("text", "msg", "pos"), ERRORS, ids=[e[0][:40] for e in ERRORS])
def test_errors(text: str, msg: str, pos: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_expr(text)
    err = info.value
    assert err.msg.startswith(msg)
    assert err.start == pos
    assert err.expr == text
    assert str(err) == f"{err.line}:{err.column}: parse error: {err.msg}"


def test_error_line_and_column() -> None:
    with pytest.raises(ParseError) as info:
        parse_expr("sum(rate(x[5m]))\n  + rate(y)")
    err = info.value
    assert (err.line, err.column) == (2, 10)
    assert (
        str(err)
        == '2:10: parse error: expected type range vector in call to function "rate", got instant vector'
    )
    with pytest.raises(ParseError) as info:
        parse_expr("sum(x) +")
    assert str(info.value) == "1:9: parse error: unexpected end of input"


def test_syntax_error_before_later_lexer_error() -> None:
    # Tokens are lexed lazily, so the parser's complaint about "*" wins over the "$".
    with pytest.raises(ParseError, match=r"unexpected <op:\*>"):
        parse_expr("a + * $")


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("1h30m", 5_400_000),
        ("5m", 300_000),
        ("90s", 90_000),
        ("1d", 86_400_000),
        ("1w", 604_800_000),
        ("1y", 31_536_000_000),
        ("100ms", 100),
        ("0", 0),
        ("30", 30_000),
        ("1.5", 1500),
        ("-1.5", -1500),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "1h1d", "5mm", "abc", "1e30", "NaN"])
def test_parse_duration_errors(text: str) -> None:
    with pytest.raises(ValueError, match="cannot parse"):
        parse_duration(text)


def test_parse_metric_selector() -> None:
    assert parse_metric_selector('up{job="api", instance=~"a.*"}') == [
        eq("job", "api"),
        Matcher(MatchType.REGEX, "instance", "a.*"),
        eq("__name__", "up"),
    ]
    assert parse_metric_selector('{"my.metric"}') == [eq("__name__", "my.metric")]
    assert parse_metric_selector('{a=""}') == [eq("a", "")]  # the API checks emptiness itself
    with pytest.raises(ParseError):
        parse_metric_selector("up offset 5m")
    with pytest.raises(ParseError):
        parse_metric_selector("rate(up[5m])")


def test_parse_is_fast() -> None:
    text = 'sum by (job) (rate(http_requests_total{job="api", code=~"5.."}[5m])) / on(job) group_left sum by (job) (rate(http_requests_total[5m]))'
    parse_expr(text)
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        parse_expr(text)
    per_parse = (time.perf_counter() - t0) / n
    assert per_parse < 0.005, per_parse  # typically ~0.5 ms; generous for slow CI machines


def test_deeply_nested_queries_do_not_hit_the_recursion_limit() -> None:
    n = 5000
    node = parse_expr("+".join(["a"] * n))
    assert node.type is ValueType.VECTOR
    assert str(node) == " + ".join(["a"] * n)
    assert len(str(parse_expr("(" * n + "a" + ")" * n))) == 2 * n + 1
    assert len(str(parse_expr("sum(" * n + "a" + ")" * n))) == 5 * n + 1
    # Prometheus's own stress case: the first error is reported, quickly.
    text = "(" + "-{}-1" * 10000 + ")" + "[1m:]" * 1000
    with pytest.raises(ParseError) as info:
        parse_expr(text)
    assert info.value.msg == "vector selector must contain at least one non-empty matcher"
    assert (info.value.start, info.value.end) == (2, 4)
