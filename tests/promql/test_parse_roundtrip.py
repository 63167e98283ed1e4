"""Property: for generated, well-typed ASTs, ``parse_expr(str(node)) == node``.

The generator builds type-correct trees (scalar / instant vector / range vector
/ string) and inserts ``ParenExpr`` exactly where operator precedence needs it,
as the parser itself would produce for the printed text.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promql import ast
from promql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    DurationExpr,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    ValueType,
    VectorMatching,
    VectorSelector,
)
from promql.parser import parse_expr
from tsdb.matchers import Matcher, MatchType

S, V, M, STR = ValueType.SCALAR, ValueType.VECTOR, ValueType.MATRIX, ValueType.STRING

# Words that cannot be bare metric names (not in Prometheus's metric_identifier, or numbers).
_NOT_METRIC = {"bool", "on", "ignoring", "group_left", "group_right", "atan2", "inf", "nan"}

metric_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,6}", fullmatch=True).filter(
    lambda s: s.lower() not in _NOT_METRIC
)
metric_names = st.one_of(
    metric_names, st.sampled_from(["sum", "by", "offset", "start", "step", "fill", "and", "smoothed"])
)
legacy_labels = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True).filter(lambda s: s != "__name__")
label_names = st.one_of(legacy_labels, st.text(min_size=1, max_size=4).filter(lambda s: s != "__name__"))
label_values = st.text(max_size=6)
finite = st.floats(allow_nan=False, allow_infinity=False)


def level(e: Expr) -> float:
    """Binding strength of the printed form (higher binds tighter)."""
    if isinstance(e, BinaryExpr):
        return ast.PRECEDENCE[e.op]
    if isinstance(e, UnaryExpr):
        return 5.5
    if isinstance(e, NumberLiteral) and str(e)[0] in "+-":
        return 5.5
    return 7


def fit(e: Expr, minimum: float) -> Expr:
    return e if level(e) >= minimum else ParenExpr(e)


@st.composite
def matchers(draw: st.DrawFn, need_non_empty: bool) -> tuple[Matcher, ...]:
    ms = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(list(MatchType)))
        value = (
            draw(label_values)
            if kind in (MatchType.EQUAL, MatchType.NOT_EQUAL)
            else draw(st.from_regex(r"[a-z0-9]{0,4}", fullmatch=True))
        )
        ms.append(Matcher(kind, draw(label_names), value))
    if need_non_empty and not any(not m.matches("") for m in ms):
        ms.append(Matcher(MatchType.EQUAL, draw(label_names), "x" + draw(label_values)))
    return tuple(ms)


@st.composite
def vector_selectors(draw: st.DrawFn, modifiers: bool = True) -> VectorSelector:
    name = draw(st.one_of(st.none(), metric_names))
    ms = draw(matchers(need_non_empty=name is None))
    if name is not None:
        ms = (*ms, Matcher(MatchType.EQUAL, "__name__", name))
    kw: dict[str, object] = {}
    if modifiers:
        kw["offset"] = draw(st.sampled_from([0, 0, 300_000, -60_000, 1, 90_061_001]))
        at = draw(st.sampled_from([None, None, "ts", "start", "end"]))
        if at == "ts":
            kw["timestamp"] = draw(st.integers(-(10**12), 10**12))
        elif at is not None:
            kw["start_or_end"] = at
        mod = draw(st.sampled_from([None, None, "anchored", "smoothed"]))
        if mod:
            kw[mod] = True
    return VectorSelector(name, ms, **kw)  # type: ignore[arg-type]


def duration_exprs() -> st.SearchStrategy[Expr]:
    lit = st.integers(1, 10**6).map(lambda s: NumberLiteral(float(s), duration=True))
    leaf = st.one_of(lit, st.just(DurationExpr("step")), st.just(DurationExpr("range")))
    return st.one_of(
        leaf,
        st.tuples(leaf, st.sampled_from(["+", "*", "-"]), lit).map(lambda t: DurationExpr(t[1], t[0], t[2])),
        st.tuples(leaf, lit).map(lambda t: DurationExpr("max_of", t[0], t[1])),
    )


def _folded_range(e: Expr) -> int:
    """The range the parser stores for a duration expression (0: resolved per query)."""
    if ast._duration_is_dynamic(e):
        return 0
    try:
        return ast.duration_ms(e, positive=True)
    except ValueError:
        return 0


@st.composite
def exprs(draw: st.DrawFn, typ: ValueType, depth: int) -> Expr:
    if typ is STR:
        return StringLiteral(draw(st.text(max_size=8)))
    if typ is M:
        if depth <= 0 or draw(st.booleans()):
            sel = draw(vector_selectors())
            rng = draw(st.integers(1, 10**9))
            if draw(st.integers(0, 5)) == 0:
                e = draw(duration_exprs())
                if isinstance(e, NumberLiteral):  # the parser keeps plain literals as integers only
                    return MatrixSelector(sel, ast.duration_ms(e))
                return MatrixSelector(sel, _folded_range(e), e)
            return MatrixSelector(sel, rng)
        inner = fit(draw(exprs(V, depth - 1)), 7)
        kw: dict[str, object] = {"step": draw(st.sampled_from([0, 1000, 60_000]))}
        kw["offset"] = draw(st.sampled_from([0, 120_000, -1000]))
        if draw(st.booleans()):
            kw["timestamp"] = draw(st.integers(0, 10**12))
        return SubqueryExpr(inner, draw(st.integers(1, 10**8)), **kw)  # type: ignore[arg-type]
    if depth <= 0:
        if typ is S:
            v = draw(st.one_of(finite, st.sampled_from([math.inf, -math.inf, math.nan])))
            return NumberLiteral(v, duration=draw(st.booleans()) and 0 < v < 1e9 and v == int(v))
        return draw(vector_selectors())
    kind = draw(
        st.sampled_from(
            ["leaf", "paren", "unary", "binary", "call", "aggr"]
            if typ is V
            else ["leaf", "paren", "unary", "binary", "call"]
        )
    )
    if kind == "leaf":
        return draw(exprs(typ, 0))
    if kind == "paren":
        return ParenExpr(draw(exprs(typ, depth - 1)))
    if kind == "unary":
        e = draw(exprs(typ, depth - 1))
        if isinstance(e, NumberLiteral):
            e = ParenExpr(e)
        return UnaryExpr(draw(st.sampled_from(["-", "+"])), fit(e, 6))
    if kind == "call":
        ret_ok = [f for f in ast.FUNCTIONS.values() if f.return_type is typ and f.name != "info"]
        func = draw(st.sampled_from(sorted(ret_ok, key=lambda f: f.name)))
        types = list(func.arg_types)
        if func.variadic > 0:
            types = types[: len(types) - draw(st.integers(0, func.variadic))]
        elif func.variadic < 0:
            types += [types[-1]] * draw(st.integers(0, 2))
        return Call(func, tuple(draw(exprs(t, depth - 1)) for t in types))
    if kind == "aggr":
        op = draw(st.sampled_from(sorted(ast.AGGREGATORS)))
        param = None
        if op == "count_values":
            param = draw(exprs(STR, 0))
        elif op in ast.AGGREGATORS_WITH_PARAM:
            param = draw(exprs(S, depth - 1))
        grouping = tuple(draw(st.lists(label_names, max_size=3)))
        without = draw(st.booleans())
        return AggregateExpr(op, draw(exprs(V, depth - 1)), param, grouping, without)
    # binary
    if typ is S:
        lt = rt = S
        op = draw(st.sampled_from(sorted(ast.ARITHMETIC_OPS | ast.COMPARISON_OPS)))
    else:
        lt, rt = draw(st.sampled_from([(V, V), (V, S), (S, V)]))
        ops = ast.ARITHMETIC_OPS | ast.COMPARISON_OPS | (ast.SET_OPS if lt is rt is V else frozenset())
        op = draw(st.sampled_from(sorted(ops)))
    p = ast.PRECEDENCE[op]
    lhs = fit(draw(exprs(lt, depth - 1)), 7 if op == "^" else p)
    rhs = draw(exprs(rt, depth - 1))
    rhs = rhs if isinstance(rhs, UnaryExpr) or level(rhs) == 5.5 else fit(rhs, 6 if op == "^" else p + 0.5)
    return_bool = op in ast.COMPARISON_OPS and (typ is S or draw(st.booleans()))
    matching = None
    if lt is rt is V:
        labels = tuple(draw(st.lists(label_names, max_size=2, unique=True)))
        on = draw(st.booleans())
        if op in ast.SET_OPS:
            matching = VectorMatching("many-to-many", labels, on)
        else:
            card = draw(st.sampled_from(["one-to-one", "many-to-one", "one-to-many"]))
            include = ()
            if card != "one-to-one":
                include = tuple(
                    x for x in draw(st.lists(label_names, max_size=2, unique=True)) if x not in labels
                )
            fills = draw(
                st.sampled_from([(None, None), (0.0, 0.0), (1.5, None), (None, -math.inf), (2.0, 3.0)])
            )
            matching = VectorMatching(card, labels, on, include, *fills)
    return BinaryExpr(op, lhs, rhs, return_bool=return_bool, matching=matching)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([S, V, M, STR]).flatmap(lambda t: exprs(t, 4)))
def test_generated_ast_round_trips(node: Expr) -> None:
    text = str(node)
    parsed = parse_expr(text)
    assert parsed == node, text
    assert str(parsed) == text


@settings(max_examples=200, deadline=None)
@given(finite)
def test_number_printing_round_trips(v: float) -> None:
    node = parse_expr(str(NumberLiteral(v)))
    assert isinstance(node, NumberLiteral) and node.val == v


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_string_printing_round_trips(s: str) -> None:
    assert parse_expr(str(StringLiteral(s))) == StringLiteral(s)
