"""PromQL abstract syntax tree, modelled on Prometheus's ``promql/parser/ast.go``.

Every node is a frozen dataclass. Source positions (``pos``: ``(start, end)``
character offsets into the query) are excluded from equality. ``str(node)``
prints canonical PromQL (like Prometheus's ``String()``) that parses back to an
equal node.

Durations (ranges, offsets, steps) are integers in milliseconds. Prometheus 3
also allows duration *expressions* (``[5m+1m]``, ``offset step()*2``,
``[min_of(range(), 1h)]``); those are kept in the ``*_expr`` fields for
printing. The parser folds constant expressions into the integer fields; an
expression that uses ``step()`` or ``range()`` leaves the integer at 0 and must
be resolved per query with :func:`resolve_durations`.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

from tsdb.labels import METRIC_NAME
from tsdb.labels import quote as go_quote
from tsdb.matchers import Matcher, MatchType

__all__ = [
    "AGGREGATORS",
    "AGGREGATORS_WITH_PARAM",
    "ARITHMETIC_OPS",
    "BINARY_OPS",
    "COMPARISON_OPS",
    "FUNCTIONS",
    "SET_OPS",
    "TRIM_OPS",
    "AggregateExpr",
    "BinaryExpr",
    "Call",
    "DurationExpr",
    "Expr",
    "Function",
    "MatrixSelector",
    "NumberLiteral",
    "ParenExpr",
    "PosRange",
    "StringLiteral",
    "SubqueryExpr",
    "UnaryExpr",
    "ValueType",
    "VectorMatching",
    "VectorSelector",
    "children",
    "duration_ms",
    "format_duration",
    "format_float",
    "format_label_name",
    "go_quote",
    "inspect",
    "resolve_durations",
    "walk",
]

PosRange = tuple[int, int]
"""``(start, end)`` character offsets of a node in the query text."""


class ValueType(enum.Enum):
    """The type an expression evaluates to (Prometheus's ``parser.ValueType``)."""

    NONE = "none"
    SCALAR = "scalar"
    VECTOR = "vector"
    MATRIX = "matrix"
    STRING = "string"

    @property
    def documented(self) -> str:
        """Name as Prometheus's error messages spell it ("instant vector", ...)."""
        if self is ValueType.VECTOR:
            return "instant vector"
        if self is ValueType.MATRIX:
            return "range vector"
        return self.value

    def __str__(self) -> str:
        return self.value


# --------------------------------------------------------------------------- operators

ARITHMETIC_OPS = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
COMPARISON_OPS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})
# Native-histogram trim operators: "</" (TRIM_UPPER) and ">/" (TRIM_LOWER).
TRIM_OPS = frozenset({"</", ">/"})
BINARY_OPS = ARITHMETIC_OPS | COMPARISON_OPS | SET_OPS | TRIM_OPS

AGGREGATORS = frozenset(
    {
        "sum",
        "avg",
        "count",
        "min",
        "max",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "count_values",
        "quantile",
        "limitk",
        "limit_ratio",
    }
)
AGGREGATORS_WITH_PARAM = frozenset({"topk", "bottomk", "count_values", "quantile", "limitk", "limit_ratio"})
EXPERIMENTAL_AGGREGATORS = frozenset({"limitk", "limit_ratio"})

# Binding strength of binary operators (higher binds tighter), as Prometheus's grammar.
PRECEDENCE: dict[str, int] = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    "<=": 3,
    "<": 3,
    ">=": 3,
    ">": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "</": 5,
    ">/": 5,
    "^": 6,
}


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class Function:
    """A PromQL function signature (Prometheus's ``parser.Function``).

    ``variadic``: 0 = exactly ``arg_types``; n > 0 = the last n arguments are
    optional; -1 = the last argument type repeats any number of times (at least once).
    """

    name: str
    arg_types: tuple[ValueType, ...]
    variadic: int = 0
    return_type: ValueType = ValueType.VECTOR
    experimental: bool = False


def _fn(name: str, args: str, ret: str = "v", variadic: int = 0, experimental: bool = False) -> Function:
    codes = {"v": ValueType.VECTOR, "m": ValueType.MATRIX, "s": ValueType.SCALAR, "S": ValueType.STRING}
    return Function(
        name,
        tuple(codes[c] for c in args),
        variadic=variadic,
        return_type=codes[ret],
        experimental=experimental,
    )


_FUNCTION_LIST = [
    _fn("abs", "v"),
    _fn("absent", "v"),
    _fn("absent_over_time", "m"),
    _fn("acos", "v"),
    _fn("acosh", "v"),
    _fn("asin", "v"),
    _fn("asinh", "v"),
    _fn("atan", "v"),
    _fn("atanh", "v"),
    _fn("avg_over_time", "m"),
    _fn("ceil", "v"),
    _fn("changes", "m"),
    _fn("clamp", "vss"),
    _fn("clamp_max", "vs"),
    _fn("clamp_min", "vs"),
    _fn("cos", "v"),
    _fn("cosh", "v"),
    _fn("count_over_time", "m"),
    _fn("days_in_month", "v", variadic=1),
    _fn("day_of_month", "v", variadic=1),
    _fn("day_of_week", "v", variadic=1),
    _fn("day_of_year", "v", variadic=1),
    _fn("deg", "v"),
    _fn("end", "", "s", experimental=True),
    _fn("delta", "m"),
    _fn("deriv", "m"),
    _fn("double_exponential_smoothing", "mss", experimental=True),
    _fn("exp", "v"),
    _fn("first_over_time", "m", experimental=True),
    _fn("floor", "v"),
    _fn("histogram_avg", "v"),
    _fn("histogram_count", "v"),
    _fn("histogram_fraction", "ssv"),
    _fn("histogram_quantile", "sv"),
    _fn("histogram_quantiles", "vSs", variadic=-1, experimental=True),
    _fn("histogram_stddev", "v"),
    _fn("histogram_stdvar", "v"),
    _fn("histogram_sum", "v"),
    _fn("hour", "v", variadic=1),
    _fn("idelta", "m"),
    _fn("increase", "m"),
    _fn("info", "vv", variadic=1, experimental=True),
    _fn("irate", "m"),
    _fn("label_join", "vSSS", variadic=-1),
    _fn("label_replace", "vSSSS"),
    _fn("last_over_time", "m"),
    _fn("ln", "v"),
    _fn("log10", "v"),
    _fn("log2", "v"),
    _fn("mad_over_time", "m", experimental=True),
    _fn("max_of", "ss", "s", experimental=True),
    _fn("max_over_time", "m"),
    _fn("min_over_time", "m"),
    _fn("min_of", "ss", "s", experimental=True),
    _fn("minute", "v", variadic=1),
    _fn("month", "v", variadic=1),
    _fn("pi", "", "s"),
    _fn("predict_linear", "ms"),
    _fn("present_over_time", "m"),
    _fn("quantile_over_time", "sm"),
    _fn("range", "", "s", experimental=True),
    _fn("rad", "v"),
    _fn("rate", "m"),
    _fn("resets", "m"),
    _fn("round", "vs", variadic=1),
    _fn("scalar", "v", "s"),
    _fn("sgn", "v"),
    _fn("sin", "v"),
    _fn("sinh", "v"),
    _fn("sort", "v"),
    _fn("sort_by_label", "vS", variadic=-1, experimental=True),
    _fn("sort_by_label_desc", "vS", variadic=-1, experimental=True),
    _fn("sort_desc", "v"),
    _fn("sqrt", "v"),
    _fn("start", "", "s", experimental=True),
    _fn("start_timestamp", "v", experimental=True),
    _fn("step", "", "s", experimental=True),
    _fn("stddev_over_time", "m"),
    _fn("stdvar_over_time", "m"),
    _fn("sum_over_time", "m"),
    _fn("tan", "v"),
    _fn("tanh", "v"),
    _fn("time", "", "s"),
    _fn("timestamp", "v"),
    _fn("ts_of_first_over_time", "m", experimental=True),
    _fn("ts_of_last_over_time", "m", experimental=True),
    _fn("ts_of_max_over_time", "m", experimental=True),
    _fn("ts_of_min_over_time", "m", experimental=True),
    _fn("vector", "s"),
    _fn("year", "v", variadic=1),
]

FUNCTIONS: dict[str, Function] = {f.name: f for f in _FUNCTION_LIST}
"""Every PromQL function by name."""

# Functions that accept the ``anchored`` / ``smoothed`` selector modifiers.
ANCHORED_FUNCTIONS = ("changes", "delta", "increase", "rate", "resets")
SMOOTHED_FUNCTIONS = ("delta", "increase", "rate")


# --------------------------------------------------------------------------- formatting helpers

_LEGACY_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LEGACY_METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

_DURATION_UNITS = (
    ("y", 365 * 24 * 3600 * 1000, True),
    ("w", 7 * 24 * 3600 * 1000, True),
    ("d", 24 * 3600 * 1000, False),
    ("h", 3600 * 1000, False),
    ("m", 60 * 1000, False),
    ("s", 1000, False),
    ("ms", 1, False),
)


def format_duration(ms: int) -> str:
    """Format milliseconds like Prometheus's ``model.Duration.String`` (``1h30m``, ``0s``).

    Negative durations get a leading ``-``.
    """
    ms = int(ms)
    if ms == 0:
        return "0s"
    if ms < 0:
        return "-" + format_duration(-ms)
    out = []
    for unit, mult, exact in _DURATION_UNITS:
        if exact and ms % mult != 0:
            continue
        v = ms // mult
        if v > 0:
            out.append(f"{v}{unit}")
            ms -= v * mult
    return "".join(out)


def format_float(v: float) -> str:
    """Format a float like Go's ``strconv.FormatFloat(v, 'f', -1, 64)``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e16:
        s = str(int(v))
        return "-0" if s == "0" and math.copysign(1.0, v) < 0 else s
    return format(Decimal(repr(v)), "f")


def format_label_name(name: str) -> str:
    """A label name as written in PromQL: bare if a legacy name, else quoted."""
    return name if _LEGACY_LABEL_RE.fullmatch(name) else go_quote(name)


def _join_labels(names: tuple[str, ...]) -> str:
    return ", ".join(format_label_name(n) for n in names)


def _format_matcher(m: Matcher) -> str:
    return f"{format_label_name(m.name)}{m.type.value}{go_quote(m.value)}"


# --------------------------------------------------------------------------- nodes


class Expr:
    """Base class of every expression node."""

    __slots__ = ()

    pos: PosRange | None

    @property
    def type(self) -> ValueType:
        """The value type this expression evaluates to."""
        raise NotImplementedError

    def _fmt(self) -> str | Generator[Expr, str, str]:
        """Printing step: a string for leaves, else a generator that yields each child
        and receives its text (lets :func:`_render` print deep trees without recursion)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return _render(self)


def _render(root: Expr) -> str:
    """Print ``root`` with an explicit stack (no Python recursion limit on deep queries)."""
    first = root._fmt()
    if isinstance(first, str):
        return first
    stack = [first]
    value: str | None = None
    while True:
        gen = stack[-1]
        try:
            child = gen.send(value)  # type: ignore[arg-type]
        except StopIteration as stop:
            stack.pop()
            if not stack:
                return stop.value
            value = stop.value
            continue
        r = child._fmt()
        if isinstance(r, str):
            value = r
        else:
            stack.append(r)
            value = None


def _pos() -> Any:
    return field(default=None, compare=False, repr=False, kw_only=True)


def _same_float(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@dataclass(frozen=True, eq=False)
class NumberLiteral(Expr):
    """A float literal. ``duration`` marks literals written as durations (``5m``)."""

    val: float
    duration: bool = field(default=False, compare=False)
    pos: PosRange | None = _pos()

    @property
    def type(self) -> ValueType:
        return ValueType.SCALAR

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumberLiteral):
            return NotImplemented
        return _same_float(self.val, other.val)

    def __hash__(self) -> int:
        return hash(("NumberLiteral", "nan" if math.isnan(self.val) else self.val))

    def _fmt(self) -> str:
        if self.duration and math.isfinite(self.val):
            return format_duration(round(self.val * 1000))
        return format_float(self.val)


@dataclass(frozen=True)
class StringLiteral(Expr):
    """A string literal."""

    val: str
    pos: PosRange | None = _pos()

    @property
    def type(self) -> ValueType:
        return ValueType.STRING

    def _fmt(self) -> str:
        return go_quote(self.val)


@dataclass(frozen=True)
class DurationExpr(Expr):
    """Arithmetic on durations, Prometheus 3's duration expressions.

    ``op`` is one of ``+ - * / % ^`` (binary; unary ``-``/``+`` have ``lhs=None``),
    ``step`` / ``range`` (no operands: the query step / the query range), or
    ``min_of`` / ``max_of`` (two operands). Operands are :class:`NumberLiteral`
    (in seconds), :class:`ParenExpr` or :class:`DurationExpr`. Values are in seconds.
    """

    op: str
    lhs: Expr | None = None
    rhs: Expr | None = None
    pos: PosRange | None = _pos()

    @property
    def type(self) -> ValueType:
        return ValueType.SCALAR

    @property
    def is_dynamic(self) -> bool:
        """Whether the value depends on the query (uses ``step()`` or ``range()``)."""
        return _duration_is_dynamic(self)

    def evaluate(self, step: float = 0.0, range_: float = 0.0) -> float:
        """Value in seconds, given the query step and range in seconds."""
        return _eval_duration(self, step, range_)

    def _fmt(self) -> str | Generator[Expr, str, str]:
        if self.op in ("step", "range"):
            return f"{self.op}()"
        return self._fmt_operands()

    def _fmt_operands(self) -> Generator[Expr, str, str]:
        op = self.op
        rhs = yield self.rhs  # type: ignore[misc]
        if self.lhs is None:
            return f"{op}{rhs}"
        lhs = yield self.lhs
        if op in ("min_of", "max_of"):
            return f"{op}({lhs}, {rhs})"
        return f"{lhs} {op} {rhs}"


def _duration_is_dynamic(e: Expr | None) -> bool:
    if isinstance(e, DurationExpr):
        return e.op in ("step", "range") or _duration_is_dynamic(e.lhs) or _duration_is_dynamic(e.rhs)
    if isinstance(e, ParenExpr):
        return _duration_is_dynamic(e.expr)
    return False


def _eval_duration(e: Expr | None, step: float, range_: float) -> float:
    if isinstance(e, NumberLiteral):
        return e.val
    if isinstance(e, ParenExpr):
        return _eval_duration(e.expr, step, range_)
    if not isinstance(e, DurationExpr):
        raise TypeError(f"not a duration expression: {e!r}")
    op = e.op
    if op == "step":
        return step
    if op == "range":
        return range_
    r = _eval_duration(e.rhs, step, range_)
    if e.lhs is None:
        return -r if op == "-" else r
    left = _eval_duration(e.lhs, step, range_)
    if op == "+":
        return left + r
    if op == "-":
        return left - r
    if op == "*":
        return left * r
    if op == "/":
        if r == 0:  # Go float semantics: no exception
            if left == 0 or math.isnan(left):
                return math.nan
            return math.copysign(math.inf, left) * math.copysign(1.0, r)
        return left / r
    if op == "%":
        return math.fmod(left, r) if r != 0 and math.isfinite(left) else math.nan
    if op == "^":
        try:
            return math.pow(left, r)
        except (OverflowError, ValueError):
            return math.inf if abs(left) > 1 else math.nan
    if op in ("min_of", "max_of"):
        if math.isnan(left) or math.isnan(r):
            return math.nan
        return min(left, r) if op == "min_of" else max(left, r)
    raise ValueError(f"unknown duration operator {op!r}")


def _at_offset(timestamp: int | None, start_or_end: str | None, offset: int, offset_expr: str | None) -> str:
    at = ""
    if timestamp is not None:
        at = f" @ {timestamp / 1000:.3f}"
    elif start_or_end is not None:
        at = f" @ {start_or_end}()"
    off = ""
    if offset_expr is not None:
        off = f" offset {offset_expr}"
    elif offset > 0:
        off = f" offset {format_duration(offset)}"
    elif offset < 0:
        off = f" offset -{format_duration(-offset)}"
    return at + off


@dataclass(frozen=True)
class VectorSelector(Expr):
    """An instant vector selector.

    ``matchers`` holds every matcher, including the ``__name__`` one (for
    ``foo{a="b"}`` that is ``(a="b", __name__="foo")``, in that order, as
    Prometheus stores them). ``name`` is the metric name when written outside
    the braces (``foo{...}``) or as the bare string in braces (``{"foo"}``).
    ``offset`` is in ms (negative allowed); ``timestamp`` in ms from ``@ <t>``;
    ``start_or_end`` is ``"start"``/``"end"`` for ``@ start()``/``@ end()``.
    ``anchored``/``smoothed`` are Prometheus 3's experimental selector modifiers.
    ``bypass_empty_matcher_check`` is set on the label-only selector that is the
    second argument of ``info()`` (it may match the empty string).
    """

    name: str | None
    matchers: tuple[Matcher, ...]
    offset: int = 0
    timestamp: int | None = None
    start_or_end: str | None = None
    offset_expr: Expr | None = None
    anchored: bool = False
    smoothed: bool = False
    bypass_empty_matcher_check: bool = False
    pos: PosRange | None = _pos()

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR

    def _selector_str(self) -> str:
        parts = []
        skipped = False
        name = self.name
        for m in self.matchers:
            if (
                not skipped
                and name
                and m.name == METRIC_NAME
                and m.type is MatchType.EQUAL
                and m.value == name
            ):
                skipped = True
                continue
            parts.append(_format_matcher(m))
        if name and not skipped:
            name = None  # inconsistent node: fall back to printing every matcher
        if name and not _LEGACY_METRIC_RE.fullmatch(name):
            return "{" + ", ".join([go_quote(name), *parts]) + "}"
        base = name or ""
        if parts or not base:
            base += "{" + ", ".join(parts) + "}"
        return base

    def _modifiers_str(self) -> str:
        if self.anchored:
            return " anchored"
        if self.smoothed:
            return " smoothed"
        return ""

    def _fmt(self) -> str | Generator[Expr, str, str]:
        if self.offset_expr is not None:
            return self._fmt_with_expr()
        at_off = _at_offset(self.timestamp, self.start_or_end, self.offset, None)
        return self._selector_str() + at_off + self._modifiers_str()

    def _fmt_with_expr(self) -> Generator[Expr, str, str]:
        off = yield self.offset_expr  # type: ignore[misc]
        at_off = _at_offset(self.timestamp, self.start_or_end, self.offset, off)
        return self._selector_str() + at_off + self._modifiers_str()


@dataclass(frozen=True)
class MatrixSelector(Expr):
    """A range vector selector ``sel[range]``; ``range`` in ms.

    Offset and ``@`` live on the inner :class:`VectorSelector`.
    """

    vector_selector: VectorSelector
    range: int
    range_expr: Expr | None = None
    pos: PosRange | None = _pos()

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX

    def _fmt(self) -> Generator[Expr, str, str]:
        vs = self.vector_selector
        rng = (yield self.range_expr) if self.range_expr is not None else format_duration(self.range)
        off = (yield vs.offset_expr) if vs.offset_expr is not None else None
        at_off = _at_offset(vs.timestamp, vs.start_or_end, vs.offset, off)
        return f"{vs._selector_str()}[{rng}]{at_off}{vs._modifiers_str()}"


@dataclass(frozen=True)
class SubqueryExpr(Expr):
    """A subquery ``expr[range:step]``; durations in ms, ``step`` 0 = default step."""

    expr: Expr
    range: int
    step: int = 0
    offset: int = 0
    timestamp: int | None = None
    start_or_end: str | None = None
    range_expr: Expr | None = None
    step_expr: Expr | None = None
    offset_expr: Expr | None = None
    pos: PosRange | None = _pos()

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX

    def _fmt(self) -> Generator[Expr, str, str]:
        inner = yield self.expr
        rng = (yield self.range_expr) if self.range_expr is not None else format_duration(self.range)
        if self.step_expr is not None:
            step = yield self.step_expr
        elif self.step:
            step = format_duration(self.step)
        else:
            step = ""
        off = (yield self.offset_expr) if self.offset_expr is not None else None
        at_off = _at_offset(self.timestamp, self.start_or_end, self.offset, off)
        return f"{inner}[{rng}:{step}]{at_off}"


@dataclass(frozen=True)
class Call(Expr):
    """A function call."""

    func: Function
    args: tuple[Expr, ...]
    pos: PosRange | None = _pos()

    @property
    def type(self) -> ValueType:
        return self.func.return_type

    def _fmt(self) -> Generator[Expr, str, str]:
        args = []
        for a in self.args:
            args.append((yield a))
        return f"{self.func.name}({', '.join(args)})"


@dataclass(frozen=True)
class AggregateExpr(Expr):
    """An aggregation ``op [by|without (labels)] ([param, ] expr)``."""

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False
    pos: PosRange | None = _pos()

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR

    def _fmt(self) -> Generator[Expr, str, str]:
        s = self.op
        if self.without:
            s += f" without ({_join_labels(self.grouping)}) "
        elif self.grouping:
            s += f" by ({_join_labels(self.grouping)}) "
        if self.param is not None:
            param = yield self.param
            expr = yield self.expr
            return f"{s}({param}, {expr})"
        expr = yield self.expr
        return f"{s}({expr})"


@dataclass(frozen=True, eq=False)
class VectorMatching:
    """How two instant vectors are matched in a binary operation.

    ``card``: "one-to-one", "many-to-one" (group_left), "one-to-many"
    (group_right) or "many-to-many" (set operators). ``on`` tells whether
    ``matching_labels`` came from ``on(...)`` (else ``ignoring(...)``).
    ``include`` are the extra labels of ``group_left(...)``/``group_right(...)``.
    ``fill_left``/``fill_right`` are the values of Prometheus 3's experimental
    ``fill(...)``/``fill_left(...)``/``fill_right(...)`` modifiers (None = unset).
    """

    card: str = "one-to-one"
    matching_labels: tuple[str, ...] = ()
    on: bool = False
    include: tuple[str, ...] = ()
    fill_left: float | None = None
    fill_right: float | None = None

    def _key(self) -> tuple[Any, ...]:
        def f(v: float | None) -> Any:
            return "nan" if v is not None and math.isnan(v) else v

        return (
            self.card,
            self.matching_labels,
            self.on,
            self.include,
            f(self.fill_left),
            f(self.fill_right),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VectorMatching):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        s = ""
        if self.matching_labels or self.on or self.card in ("many-to-one", "one-to-many"):
            s = f" {'on' if self.on else 'ignoring'} ({_join_labels(self.matching_labels)})"
            if self.card in ("many-to-one", "one-to-many"):
                side = "left" if self.card == "many-to-one" else "right"
                s += f" group_{side} ({_join_labels(self.include)})"
        fl, fr = self.fill_left, self.fill_right
        if fl is not None and fr is not None and _same_float(fl, fr):
            s += f" fill({format_float(fl)})"
        else:
            if fl is not None:
                s += f" fill_left({format_float(fl)})"
            if fr is not None:
                s += f" fill_right({format_float(fr)})"
        return s


@dataclass(frozen=True)
class BinaryExpr(Expr):
    """A binary operation. ``matching`` is None unless both sides are instant vectors."""

    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    matching: VectorMatching | None = None
    pos: PosRange | None = _pos()

    def __post_init__(self) -> None:
        scalar = self.lhs.type is ValueType.SCALAR and self.rhs.type is ValueType.SCALAR
        object.__setattr__(self, "_type", ValueType.SCALAR if scalar else ValueType.VECTOR)

    @property
    def type(self) -> ValueType:
        return self._type  # type: ignore[attr-defined,no-any-return]

    def _fmt(self) -> Generator[Expr, str, str]:
        b = " bool" if self.return_bool else ""
        m = str(self.matching) if self.matching is not None else ""
        lhs = yield self.lhs
        rhs = yield self.rhs
        return f"{lhs} {self.op}{b}{m} {rhs}"


@dataclass(frozen=True)
class UnaryExpr(Expr):
    """Unary ``-`` or ``+`` applied to a non-literal expression."""

    op: str
    expr: Expr
    pos: PosRange | None = _pos()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_type", self.expr.type)

    @property
    def type(self) -> ValueType:
        return self._type  # type: ignore[attr-defined,no-any-return]

    def _fmt(self) -> Generator[Expr, str, str]:
        inner = yield self.expr
        return f"{self.op}{inner}"


@dataclass(frozen=True)
class ParenExpr(Expr):
    """A parenthesised expression."""

    expr: Expr
    pos: PosRange | None = _pos()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_type", self.expr.type)

    @property
    def type(self) -> ValueType:
        return self._type  # type: ignore[attr-defined,no-any-return]

    def _fmt(self) -> Generator[Expr, str, str]:
        inner = yield self.expr
        return f"({inner})"


# --------------------------------------------------------------------------- traversal


def children(node: Expr) -> list[Expr]:
    """The direct child expressions of ``node`` (duration expressions excluded)."""
    if isinstance(node, AggregateExpr):
        return [node.expr] if node.param is None else [node.expr, node.param]
    if isinstance(node, BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, SubqueryExpr | ParenExpr | UnaryExpr):
        return [node.expr]
    if isinstance(node, MatrixSelector):
        return [node.vector_selector]
    return []


def walk(node: Expr) -> Iterator[Expr]:
    """Every node of the tree in depth-first pre-order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))


def inspect(node: Expr, f: Callable[[Expr, list[Expr]], None], path: list[Expr] | None = None) -> None:
    """Call ``f(node, path)`` for every node, ``path`` being its ancestors (outermost first)."""
    path = [] if path is None else path
    f(node, path)
    path.append(node)
    for c in children(node):
        inspect(c, f, path)
    path.pop()


_MAX_DURATION_SECONDS = (1 << 63) / 1e9


def duration_ms(e: Expr, step_ms: int = 0, range_ms: int = 0, positive: bool = False) -> int:
    """Evaluate a duration expression to ms for a query with the given step and range.

    Raises ``ValueError`` like Prometheus's duration preprocessing
    (``"<start>:<end>: duration must be greater than 0"``, ``"... duration is out of range"``).
    """
    v = _eval_duration(e, step_ms / 1000.0, range_ms / 1000.0)
    start, end = e.pos if e.pos is not None else (0, 0)
    if positive and not v > 0:
        raise ValueError(f"{start}:{end}: duration must be greater than 0")
    if math.isnan(v) or v > _MAX_DURATION_SECONDS or v < -_MAX_DURATION_SECONDS:
        raise ValueError(f"{start}:{end}: duration is out of range")
    ns = v * 1e9
    ns_i = int(math.floor(ns + 0.5)) if ns >= 0 else -int(math.floor(-ns + 0.5))
    return ns_i // 1_000_000 if ns_i >= 0 else -((-ns_i) // 1_000_000)


def _needs_resolving(e: Expr | None, current: int) -> bool:
    # Constant expressions are folded by the parser; an expression left at 0 is either
    # query dependent (step()/range()) or invalid and must fail here, as in Prometheus.
    return e is not None and (current == 0 or _duration_is_dynamic(e))


def resolve_durations(node: Expr, step_ms: int, range_ms: int = 0) -> Expr:
    """Fill the integer duration fields from duration expressions (``step()``, ``range()``).

    ``step_ms`` is the query step (0 for instant queries) and ``range_ms`` the
    query range (end - start). Returns ``node`` itself when nothing changes.
    Raises ``ValueError`` (Prometheus's wording) for ranges/steps that are not
    positive or durations out of range.
    """
    if not any(
        getattr(n, "offset_expr", None) is not None
        or getattr(n, "range_expr", None) is not None
        or getattr(n, "step_expr", None) is not None
        for n in walk(node)
    ):
        return node
    return _resolve(node, step_ms, range_ms)


def _resolve(node: Expr, step_ms: int, range_ms: int) -> Expr:
    updates: dict[str, Any] = {}
    if isinstance(node, VectorSelector | SubqueryExpr) and _needs_resolving(node.offset_expr, node.offset):
        updates["offset"] = duration_ms(node.offset_expr, step_ms, range_ms)
    if isinstance(node, MatrixSelector | SubqueryExpr) and _needs_resolving(node.range_expr, node.range):
        updates["range"] = duration_ms(node.range_expr, step_ms, range_ms, positive=True)
    if isinstance(node, SubqueryExpr) and _needs_resolving(node.step_expr, node.step):
        updates["step"] = duration_ms(node.step_expr, step_ms, range_ms, positive=True)
    for f in fields(node):
        if f.name == "pos" or f.name in _DURATION_FIELDS:
            continue
        v = getattr(node, f.name)
        if isinstance(v, Expr) and not isinstance(v, DurationExpr):
            nv = _resolve(v, step_ms, range_ms)
            if nv is not v:
                updates[f.name] = nv
        elif isinstance(v, tuple) and v and isinstance(v[0], Expr):
            nt = tuple(_resolve(a, step_ms, range_ms) for a in v)
            if any(a is not b for a, b in zip(nt, v, strict=True)):
                updates[f.name] = nt
    if not updates:
        return node
    return replace(node, **updates)


_DURATION_FIELDS = frozenset({"offset_expr", "range_expr", "step_expr"})
