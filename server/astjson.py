"""A PromQL syntax tree as JSON, as Prometheus's ``/api/v1/parse_query`` (``translateAST``) writes it.

Keys come out sorted (Go marshals maps that way); durations are milliseconds.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from promql.ast import (
    AggregateExpr,
    BinaryExpr,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from tsdb.interface import Matcher

__all__ = ["ast_to_json"]


def _fmt_f(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    r = repr(v)
    if "e" in r:
        return format(Decimal(r), "f")
    return r[:-2] if r.endswith(".0") else r


def _matchers(ms: tuple[Matcher, ...]) -> list[dict[str, str]]:
    return [{"name": m.name, "type": m.type.value, "value": m.value} for m in ms]


def ast_to_json(node: Expr | None) -> Any:
    """The JSON-ready tree for ``node`` (None for a missing child)."""
    if node is None:
        return None
    if isinstance(node, AggregateExpr):
        return {
            "expr": ast_to_json(node.expr),
            "grouping": list(node.grouping),
            "op": node.op,
            "param": ast_to_json(node.param),
            "type": "aggregation",
            "without": node.without,
        }
    if isinstance(node, BinaryExpr):
        m = node.matching
        matching = None
        if m is not None:
            matching = {
                "card": m.card,
                "include": list(m.include),
                "labels": list(m.matching_labels),
                "on": m.on,
            }
        return {
            "bool": node.return_bool,
            "lhs": ast_to_json(node.lhs),
            "matching": matching,
            "op": node.op,
            "rhs": ast_to_json(node.rhs),
            "type": "binaryExpr",
        }
    if isinstance(node, Call):
        f = node.func
        return {
            "args": [ast_to_json(a) for a in node.args],
            "func": {
                "argTypes": [t.value for t in f.arg_types],
                "name": f.name,
                "returnType": f.return_type.value,
                "variadic": f.variadic,
            },
            "type": "call",
        }
    if isinstance(node, MatrixSelector):
        vs = node.vector_selector
        return {
            "matchers": _matchers(vs.matchers),
            "name": vs.name or "",
            "offset": vs.offset,
            "range": node.range,
            "startOrEnd": vs.start_or_end,
            "timestamp": vs.timestamp,
            "type": "matrixSelector",
        }
    if isinstance(node, SubqueryExpr):
        return {
            "expr": ast_to_json(node.expr),
            "offset": node.offset,
            "range": node.range,
            "startOrEnd": node.start_or_end,
            "step": node.step,
            "timestamp": node.timestamp,
            "type": "subquery",
        }
    if isinstance(node, NumberLiteral):
        return {"type": "numberLiteral", "val": _fmt_f(node.val)}
    if isinstance(node, ParenExpr):
        return {"expr": ast_to_json(node.expr), "type": "parenExpr"}
    if isinstance(node, StringLiteral):
        return {"type": "stringLiteral", "val": node.val}
    if isinstance(node, UnaryExpr):
        return {"expr": ast_to_json(node.expr), "op": node.op, "type": "unaryExpr"}
    if isinstance(node, VectorSelector):
        return {
            "matchers": _matchers(node.matchers),
            "name": node.name or "",
            "offset": node.offset,
            "startOrEnd": node.start_or_end,
            "timestamp": node.timestamp,
            "type": "vectorSelector",
        }
    raise TypeError(f"unexpected node {type(node).__name__}")
