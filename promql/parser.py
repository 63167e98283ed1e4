"""PromQL parser: a Prometheus-compatible lexer feeding the LALR grammar in ``promql.lark``.

Public API: :func:`parse_expr`, :func:`parse_duration`, :func:`parse_metric_selector`.

The lexer is hand written because PromQL lexing depends on context exactly as
Prometheus's lexer does (label names inside braces, durations and the subquery
colon inside brackets, keywords, ``fill`` only before ``(``). Parse actions
build :mod:`promql.ast` nodes directly (Lark's inline transformer, no parse
tree), raising the first error the way Prometheus reports it: syntax and
parse-action errors first, then the type checks of Prometheus's ``checkAST``.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Generator, Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput
from lark.lexer import Lexer

from tsdb.labels import METRIC_NAME
from tsdb.matchers import InvalidMatcherError, Matcher, MatchType

from . import ast
from .ast import (
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
    go_quote,
)
from .errors import ParseError

__all__ = ["ParseError", "parse_duration", "parse_expr", "parse_metric_selector"]


class _Err(Exception):
    """Internal: an error at character offsets ``start``..``end`` (converted to ParseError)."""

    def __init__(self, msg: str, start: int, end: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.start = start
        self.end = start if end is None else end


# =========================================================================== lexer

_KEYWORDS = {
    "and": "LAND",
    "or": "LOR",
    "unless": "LUNLESS",
    "atan2": "ATAN2",
    "sum": "SUM",
    "avg": "AVG",
    "count": "COUNT",
    "min": "MIN",
    "max": "MAX",
    "group": "GROUP",
    "stddev": "STDDEV",
    "stdvar": "STDVAR",
    "topk": "TOPK",
    "bottomk": "BOTTOMK",
    "count_values": "COUNT_VALUES",
    "quantile": "QUANTILE",
    "limitk": "LIMITK",
    "limit_ratio": "LIMIT_RATIO",
    "offset": "OFFSET",
    "smoothed": "SMOOTHED",
    "anchored": "ANCHORED",
    "by": "BY",
    "without": "WITHOUT",
    "on": "ON",
    "ignoring": "IGNORING",
    "group_left": "GROUP_LEFT",
    "group_right": "GROUP_RIGHT",
    "bool": "BOOL",
    "start": "START",
    "end": "END",
    "step": "STEP",
    "range": "RANGE",
    "min_of": "MIN_OF",
    "max_of": "MAX_OF",
}
# Only keywords when a "(" follows, so that metrics may be named fill, fill_left, fill_right.
_FILL_KEYWORDS = {"fill": "FILL", "fill_left": "FILL_LEFT", "fill_right": "FILL_RIGHT"}
_BRACKET_KEYWORDS = {"step": "STEP", "range": "RANGE", "min_of": "MIN_OF", "max_of": "MAX_OF"}

_OPERATOR_TYPES = frozenset(
    (
        "ADD SUB MUL DIV MOD POW ATAN2 EQLC NEQ LSS LTE GTR GTE LAND LOR LUNLESS EQL_REGEX NEQ_REGEX AT "
        "TRIM_UPPER TRIM_LOWER"
    ).split()
)
_AGGREGATOR_TYPES = frozenset(
    "AVG BOTTOMK COUNT COUNT_VALUES GROUP MAX MIN QUANTILE STDDEV STDVAR SUM TOPK LIMITK LIMIT_RATIO".split()
)
_KEYWORD_TYPES = frozenset(
    "BOOL BY GROUP_LEFT GROUP_RIGHT IGNORING OFFSET ON WITHOUT ANCHORED SMOOTHED FILL FILL_LEFT FILL_RIGHT".split()
)
_QUOTED_TYPES = frozenset(
    "EQL LEFT_PAREN RIGHT_PAREN LEFT_BRACE RIGHT_BRACE LEFT_BRACKET RIGHT_BRACKET COMMA COLON "
    "START END STEP RANGE MIN_OF MAX_OF".split()
)

_SINGLE = {
    ",": "COMMA",
    "*": "MUL",
    "/": "DIV",
    "%": "MOD",
    "+": "ADD",
    "-": "SUB",
    "^": "POW",
    "@": "AT",
}
_DEC = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_SPACE = frozenset(" \t\n\r")
_WORD_RE = re.compile(r"[A-Za-z0-9_:]*")
_LABEL_RE = re.compile(r"[A-Za-z0-9_]*")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


def _rune_q(c: str) -> str:
    """Go's ``%q`` of a rune."""
    if c == "'":
        return "'\\''"
    return "'" + go_quote(c)[1:-1].replace('\\"', '"') + "'"


def _rune_u(c: str) -> str:
    """Go's ``%#U`` of a rune: ``U+0063 'c'``."""
    return f"U+{ord(c):04X} {_rune_q(c)}"


def _tok(type_: str, value: str, start: int, end: int) -> Token:
    return Token(type_, value, start, None, None, None, None, end)


def _scan_number(s: str, j: int, n: int) -> tuple[bool, int]:
    """Port of Prometheus's ``Lexer.scanNumber``: (is a plain number, end offset)."""
    digits = _DEC
    if j < n and s[j] == "0":
        j += 1
        if j < n and s[j] in "xX":
            j += 1
            if j < n and s[j] == "_":
                j += 1
            digits = _HEX
    if j < n and s[j] == ".":
        j += 1
    if j < n and s[j] in digits:
        j += 1
    dot = exp = False
    while j < n and (s[j] in digits or s[j] in "._eE"):
        c = s[j]
        j += 1
        if c in digits:
            continue
        if c == ".":
            if dot or exp:
                if j < n and s[j] in "_.":
                    j += 1
                return False, j
            dot = True
        elif c == "_":
            if not (j < n and s[j] in digits):
                return False, j
        else:  # exponent
            if exp:
                if j < n and s[j] in "._eE":
                    j += 1
                return False, j
            exp = True
            if j < n and s[j] in "+-":
                j += 1
            if not (j < n and s[j] in _DEC):
                return False, j
    if j < n and s[j] in _ALNUM:
        return False, j
    return True, j


def _accept_remaining_duration(s: str, j: int, n: int) -> tuple[bool, int]:
    """Port of Prometheus's ``acceptRemainingDuration``."""
    if not (j < n and s[j] in "smhdwy"):
        return False, j
    j += 1
    if j < n and s[j] == "s":
        j += 1
    while j < n and s[j] in _DEC:
        while j < n and s[j] in _DEC:
            j += 1
        if not (j < n and s[j] in "smhdw"):
            return False, j
        j += 1
        if j < n and s[j] == "s":
            j += 1
    if j < n and s[j] in _ALNUM:
        return False, j + 1
    return True, j


def _lex_string(s: str, i: int, n: int, quote: str) -> tuple[str, int]:
    """Scan a quoted string starting at the quote ``s[i]``; return (unquoted value, end)."""
    j = i + 1
    if quote == "`":
        k = s.find("`", j)
        if k < 0:
            raise _Err("unterminated raw string", i, n)
        return s[j:k].replace("\r", ""), k + 1
    # Fast path: no escapes.
    k = j
    while k < n:
        c = s[k]
        if c == quote:
            return s[j:k], k + 1
        if c == "\\":
            break
        if c == "\n":
            raise _Err("unterminated quoted string", i, n)
        k += 1
    else:
        raise _Err("unterminated quoted string", i, n)
    out = bytearray(s[j:k].encode("utf-8", "surrogateescape"))
    while True:
        if k >= n or s[k] == "\n":
            raise _Err("unterminated quoted string", i, n)
        c = s[k]
        if c == quote:
            return out.decode("utf-8", "surrogateescape"), k + 1
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            k += 1
            continue
        k += 1
        if k >= n:
            raise _Err("escape sequence not terminated", i, n)
        e = s[k]
        k += 1
        if e in _SIMPLE_ESCAPES and (e not in "'\"" or e == quote):
            out += _SIMPLE_ESCAPES[e].encode()
            continue
        if e in "01234567":
            ndig, base, mx, k = 3, 8, 255, k - 1
        elif e == "x":
            ndig, base, mx = 2, 16, 255
        elif e == "u":
            ndig, base, mx = 4, 16, 0x10FFFF
        elif e == "U":
            ndig, base, mx = 8, 16, 0x10FFFF
        else:
            raise _Err(f"unknown escape sequence {_rune_u(e)}", i, n)
        x = 0
        for _ in range(ndig):
            if k >= n:
                raise _Err("escape sequence not terminated", i, n)
            d = s[k]
            try:
                v = int(d, base) if d.isascii() and d.isalnum() else base
            except ValueError:
                v = base
            if v >= base:
                raise _Err(f"illegal character {_rune_u(d)} in escape sequence", i, n)
            x = x * base + v
            k += 1
        if x > mx or (base == 16 and 0xD800 <= x < 0xE000):
            raise _Err("escape sequence is an invalid Unicode code point", i, n)
        if e in "uU":
            out += chr(x).encode("utf-8")
        else:  # \x and octal escapes are single bytes
            out.append(x)


def _tokenize(s: str, out: list[Token]) -> Iterator[Token]:
    """Yield tokens lazily (so syntax errors before a lexer error win, as in Prometheus)."""
    n = len(s)
    i = 0
    paren_depth = 0
    brace_open = bracket_open = got_colon = False
    while True:
        # Whitespace and comments.
        while i < n:
            c = s[i]
            if c in _SPACE:
                i += 1
            elif c == "#":
                k = s.find("\n", i)
                i = n if k < 0 else k
            else:
                break
        if i >= n:
            if brace_open:
                raise _Err("unexpected end of input inside braces", i)
            if bracket_open:
                raise _Err("unexpected end of input in duration expression", i)
            if paren_depth:
                raise _Err("unclosed left parenthesis", i)
            return
        c = s[i]
        start = i
        if brace_open:
            if c in _ALPHA:
                m = _LABEL_RE.match(s, i)
                i = m.end()
                t = _tok("IDENTIFIER", s[start:i], start, i)
            elif c == ",":
                i += 1
                t = _tok("COMMA", c, start, i)
            elif c in "\"'`":
                val, i = _lex_string(s, i, n, c)
                t = _tok("STRING", val, start, i)
            elif c == "=":
                if i + 1 < n and s[i + 1] == "~":
                    i += 2
                    t = _tok("EQL_REGEX", "=~", start, i)
                else:
                    i += 1
                    t = _tok("EQL", "=", start, i)
            elif c == "!":
                nc = s[i + 1] if i + 1 < n else ""
                if nc == "~":
                    i += 2
                    t = _tok("NEQ_REGEX", "!~", start, i)
                elif nc == "=":
                    i += 2
                    t = _tok("NEQ", "!=", start, i)
                else:
                    raise _Err(f"unexpected character after '!' inside braces: {_rune_q(nc)}", start, n)
            elif c == "}":
                i += 1
                brace_open = False
                t = _tok("RIGHT_BRACE", c, start, i)
            elif c == "{":
                raise _Err(f"unexpected left brace {_rune_q(c)}", start, n)
            else:
                raise _Err(f"unexpected character inside braces: {_rune_q(c)}", start, n)
            out.append(t)
            yield t
            continue

        if c in _SINGLE:
            i += 1
            t = _tok(_SINGLE[c], c, start, i)
        elif c in _DEC or (c == "." and i + 1 < n and s[i + 1] in _DEC):
            ok, j = _scan_number(s, i, n)
            if ok:
                t = _tok("NUMBER", s[i:j], start, j)
            else:
                ok, j = _accept_remaining_duration(s, j, n)
                if not ok:
                    raise _Err(f"bad number or duration syntax: {go_quote(s[i:j])}", start, n)
                t = _tok("DURATION", s[i:j], start, j)
            i = j
        elif c in _ALPHA or (c == ":" and not bracket_open):
            m = _WORD_RE.match(s, i)
            i = m.end()
            word = s[start:i]
            low = word.lower()
            if bracket_open:
                kw = _BRACKET_KEYWORDS.get(low)
                if kw is None:
                    raise _Err(f"unexpected character: {_rune_q(c)}, expected ':'", start, n)
                t = _tok(kw, word, start, i)
            elif low in _KEYWORDS:
                t = _tok(_KEYWORDS[low], word, start, i)
            elif low in ("inf", "nan"):
                t = _tok("NUMBER", word, start, i)
            elif low in _FILL_KEYWORDS and _next_nonspace(s, i) == "(":
                t = _tok(_FILL_KEYWORDS[low], word, start, i)
            elif ":" in word:
                t = _tok("METRIC_IDENTIFIER", word, start, i)
            else:
                t = _tok("IDENTIFIER", word, start, i)
        elif c == "(":
            i += 1
            paren_depth += 1
            t = _tok("LEFT_PAREN", c, start, i)
        elif c == ")":
            i += 1
            paren_depth -= 1
            if paren_depth < 0:
                raise _Err(f"unexpected right parenthesis {_rune_q(c)}", i, n)
            t = _tok("RIGHT_PAREN", c, start, i)
        elif c == "[":
            if bracket_open:
                raise _Err(f"unexpected left bracket {_rune_q(c)}", start, n)
            i += 1
            bracket_open = True
            got_colon = False
            t = _tok("LEFT_BRACKET", c, start, i)
        elif c == "]":
            if not bracket_open:
                raise _Err(f"unexpected right bracket {_rune_q(c)}", start, n)
            i += 1
            bracket_open = False
            t = _tok("RIGHT_BRACKET", c, start, i)
        elif c == ":":  # inside brackets
            if got_colon:
                raise _Err(f"unexpected colon {_rune_q(c)}", start, n)
            i += 1
            got_colon = True
            t = _tok("COLON", c, start, i)
        elif bracket_open:
            raise _Err(f"unexpected character in duration expression: {_rune_q(c)}", start, n)
        elif c in "\"'`":
            val, i = _lex_string(s, i, n, c)
            t = _tok("STRING", val, start, i)
        elif c == "{":
            i += 1
            brace_open = True
            t = _tok("LEFT_BRACE", c, start, i)
        elif c == "=":
            nc = s[i + 1] if i + 1 < n else ""
            if nc == "=":
                i += 2
                t = _tok("EQLC", "==", start, i)
            elif nc == "~":
                raise _Err(f"unexpected character after '=': {_rune_q(nc)}", start, n)
            else:
                i += 1
                t = _tok("EQL", "=", start, i)
        elif c == "!":
            nc = s[i + 1] if i + 1 < n else ""
            if nc != "=":
                raise _Err(f"unexpected character after '!': {_rune_q(nc)}", start, n)
            i += 2
            t = _tok("NEQ", "!=", start, i)
        elif c == "<" or c == ">":
            if i + 1 < n and s[i + 1] == "/":
                i += 2
                t = _tok("TRIM_UPPER" if c == "<" else "TRIM_LOWER", s[start:i], start, i)
            elif i + 1 < n and s[i + 1] == "=":
                i += 2
                t = _tok("LTE" if c == "<" else "GTE", s[start:i], start, i)
            else:
                i += 1
                t = _tok("LSS" if c == "<" else "GTR", c, start, i)
        else:
            raise _Err(f"unexpected character: {_rune_q(c)}", start, n)
        out.append(t)
        yield t


def _next_nonspace(s: str, i: int) -> str:
    n = len(s)
    while i < n and s[i] in _SPACE:
        i += 1
    return s[i] if i < n else ""


class _State(threading.local):
    tokens: list[Token] | None = None
    binmods: dict[int, Any] | None = None


_state = _State()


class _PromLexer(Lexer):
    """Lark adapter for :func:`_tokenize`."""

    def __init__(self, lexer_conf: Any) -> None:
        pass

    def lex(self, text: str) -> Iterator[Token]:  # type: ignore[override]
        out: list[Token] = []
        _state.tokens = out
        return _tokenize(text, out)


# =========================================================================== values


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


_MAX_DURATION_SECONDS = (1 << 63) / 1e9


def _seconds_to_ms(v: float) -> int:
    """Seconds to ms as Prometheus converts (ns, rounded half away from zero, truncated to ms)."""
    ns = _round_half_away(v * 1e9)
    return ns // 1_000_000 if ns >= 0 else -((-ns) // 1_000_000)


def _go_number(text: str) -> float:
    """Prometheus's ``parser.number``: strconv.ParseInt(s, 0, 64), falling back to ParseFloat."""
    low = text.lower()
    if low == "inf":
        return math.inf
    if low == "nan":
        return math.nan
    digits = low.replace("_", "")
    try:
        if low.startswith("0x"):
            v = int(digits[2:], 16)
        elif len(digits) > 1 and digits[0] == "0" and digits.isdigit():
            v = int(digits[1:], 8)
        elif digits.isdigit():
            v = int(digits)
        else:
            raise ValueError
        if v < (1 << 63):
            return float(v)
    except ValueError:
        pass
    if low.startswith("0x"):
        raise _Err(f'error parsing number: strconv.ParseFloat: parsing "{text}": invalid syntax', 0)
    try:
        f = float(digits)
    except ValueError:
        raise _Err(f'error parsing number: strconv.ParseFloat: parsing "{text}": invalid syntax', 0) from None
    if math.isinf(f):
        raise _Err(f'error parsing number: strconv.ParseFloat: parsing "{text}": value out of range', 0)
    return f


_UNITS = {"y": (1, 365 * 86_400_000), "w": (2, 7 * 86_400_000), "d": (3, 86_400_000)}
_UNITS.update({"h": (4, 3_600_000), "m": (5, 60_000), "s": (6, 1_000), "ms": (7, 1)})
_DUR_PART_RE = re.compile(r"([0-9]*)([^0-9]*)")


def _model_parse_duration(s: str) -> int:
    """Prometheus's ``model.ParseDuration``: ``1h30m`` style string to ms (ValueError on failure)."""
    if s == "0":
        return 0
    if s == "":
        raise ValueError("empty duration string")
    total = 0
    last = 0
    pos = 0
    n = len(s)
    while pos < n:
        m = _DUR_PART_RE.match(s, pos)
        num, unit = m.group(1), m.group(2)
        if not num or not unit:
            raise ValueError(f"not a valid duration string: {go_quote(s)}")
        pos = m.end()
        if unit not in _UNITS:
            raise ValueError(f"unknown unit {go_quote(unit)} in duration {go_quote(s)}")
        order, mult = _UNITS[unit]
        if order <= last:
            raise ValueError(f"not a valid duration string: {go_quote(s)}")
        last = order
        v = int(num)
        if v * mult * 1_000_000 >= 1 << 63:
            raise ValueError("duration out of range")
        total += v * mult
        if total * 1_000_000 >= 1 << 63:
            raise ValueError("duration out of range")
    return total


def parse_duration(s: str) -> int:
    """Parse a duration to ms: ``1h30m``, ``5m``, ``90s``, ``1d``, ``1w``, ``1y``, ``100ms``,
    or plain (float) seconds such as ``30`` or ``1.5`` (as Prometheus's HTTP API accepts).

    Raises ``ValueError`` with Prometheus's wording.
    """
    s = s.strip()
    try:
        f = float(s)
    except ValueError:
        f = None
    if f is not None and s.lower() not in (
        "inf",
        "+inf",
        "-inf",
        "nan",
        "infinity",
        "+infinity",
        "-infinity",
    ):
        ns = f * 1e9
        if ns >= 2**63 or ns <= -(2**63):
            raise ValueError(f"cannot parse {go_quote(s)} to a valid duration. It overflows int64")
        return _seconds_to_ms(f)
    try:
        return _model_parse_duration(s)
    except ValueError:
        raise ValueError(f"cannot parse {go_quote(s)} to a valid duration") from None


# =========================================================================== parse actions


def _start(x: Any) -> int:
    if isinstance(x, Token):
        return x.start_pos
    return x.pos[0]


def _end(x: Any) -> int:
    if isinstance(x, Token):
        return x.end_pos
    return x.pos[1]


class _Part:
    """An intermediate parse result that is not an AST node."""

    __slots__ = ("value", "pos")

    def __init__(self, value: Any, start: int, end: int) -> None:
        self.value = value
        self.pos = (start, end)


class _BinMod:
    __slots__ = ("bool_tok", "on", "has_matching", "labels", "card", "include", "fill_left", "fill_right")

    def __init__(self) -> None:
        self.bool_tok: Token | None = None
        self.on = False
        self.has_matching = False
        self.labels: tuple[str, ...] = ()
        self.card = "one-to-one"
        self.include: tuple[str, ...] = ()
        self.fill_left: float | None = None
        self.fill_right: float | None = None


_NO_MOD = _BinMod()

_MATCH_TYPES = {"EQL": MatchType.EQUAL, "NEQ": MatchType.NOT_EQUAL}
_MATCH_TYPES.update({"EQL_REGEX": MatchType.REGEX, "NEQ_REGEX": MatchType.NOT_REGEX})


def _is_valid_label_name(name: str) -> bool:
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _exprs(children: list[Any]) -> list[Any]:
    return [c for c in children if not isinstance(c, Token)]


def _check_duration_range(nl: NumberLiteral) -> NumberLiteral:
    if nl.val > _MAX_DURATION_SECONDS or nl.val < -_MAX_DURATION_SECONDS:
        raise _Err("duration out of range", *nl.pos)
    return nl


def _const_duration(e: Expr, positive: bool) -> tuple[int, Expr | None]:
    """(ms, expression to keep) for a range/step/offset duration.

    Literals are checked here as Prometheus's grammar does. Expressions are folded
    when constant and valid; otherwise the integer stays 0 and
    :func:`promql.ast.resolve_durations` evaluates (and rejects) them per query,
    like Prometheus's duration preprocessing.
    """
    if isinstance(e, NumberLiteral):
        if positive and not e.val > 0:
            raise _Err("duration must be greater than 0", *e.pos)
        return _seconds_to_ms(e.val), None
    if ast._duration_is_dynamic(e):
        return 0, e
    try:
        return ast.duration_ms(e, positive=positive), e
    except ValueError:
        return 0, e


class _Builder(Transformer):
    """Lark inline-transformer callbacks: build AST nodes and apply Prometheus's parse actions."""

    # ------------------------------------------------------------- top level

    def start(self, ch: list[Any]) -> Expr:
        return ch[0]

    def metric_selector(self, ch: list[Any]) -> Expr:
        return ch[0]

    # ------------------------------------------------------------- literals

    def number_literal(self, ch: list[Any]) -> NumberLiteral:
        return self._number(ch[0])

    def dur_number(self, ch: list[Any]) -> NumberLiteral:
        return _check_duration_range(self._number(ch[0]))

    def _number(self, t: Token) -> NumberLiteral:
        pos = (t.start_pos, t.end_pos)
        if t.type == "NUMBER":
            try:
                return NumberLiteral(_go_number(t.value), pos=pos)
            except _Err as e:
                raise _Err(e.msg, *pos) from None
        try:
            ms = _model_parse_duration(t.value)
        except ValueError as e:
            raise _Err(str(e), *pos) from None
        return NumberLiteral(ms / 1000.0, duration=True, pos=pos)

    def string_literal(self, ch: list[Any]) -> StringLiteral:
        t = ch[0]
        return StringLiteral(t.value, pos=(t.start_pos, t.end_pos))

    def paren_expr(self, ch: list[Any]) -> ParenExpr:
        return ParenExpr(ch[1], pos=(ch[0].start_pos, ch[2].end_pos))

    # ------------------------------------------------------------- operators

    def unary(self, ch: list[Any]) -> Expr:
        op, e = ch
        pos = (op.start_pos, _end(e))
        if isinstance(e, NumberLiteral):
            return NumberLiteral(-e.val if op.type == "SUB" else e.val, duration=e.duration, pos=pos)
        return UnaryExpr(op.value, e, pos=pos)

    def binary(self, ch: list[Any]) -> BinaryExpr:
        lhs, op_tok, mod, rhs = ch
        op = op_tok.value.lower()
        vector_pair = lhs.type is ValueType.VECTOR and rhs.type is ValueType.VECTOR
        matching = None
        if vector_pair:
            card = mod.card
            if op in ast.SET_OPS and card == "one-to-one":
                card = "many-to-many"
            matching = VectorMatching(card, mod.labels, mod.on, mod.include, mod.fill_left, mod.fill_right)
        node = BinaryExpr(
            op,
            lhs,
            rhs,
            return_bool=mod.bool_tok is not None,
            matching=matching,
            pos=(_start(lhs), _end(rhs)),
        )
        binmods = _state.binmods
        if binmods is not None:
            binmods[id(node)] = mod
        return node

    def bin_mod(self, ch: list[Any]) -> _BinMod:
        if not ch:
            return _NO_MOD
        mod = _BinMod()
        for c in ch:
            if isinstance(c, Token):
                mod.bool_tok = c
            elif c.value[0] == "on_ignoring":
                _, on, labels, side = c.value
                mod.has_matching = True
                mod.on = on
                mod.labels = labels
                if side is not None:
                    mod.card, mod.include = side
            else:
                _, kind, val, tok = c.value
                if kind in ("fill", "fill_left"):
                    if mod.fill_left is not None:
                        raise _Err("fill modifier may not be set multiple times", tok.start_pos, tok.end_pos)
                    mod.fill_left = val
                if kind in ("fill", "fill_right"):
                    if mod.fill_right is not None:
                        raise _Err("fill modifier may not be set multiple times", tok.start_pos, tok.end_pos)
                    mod.fill_right = val
        return mod

    def on_ignoring(self, ch: list[Any]) -> _Part:
        side = ch[2].value if len(ch) > 2 else None
        return _Part(("on_ignoring", ch[0].type == "ON", ch[1].value, side), _start(ch[0]), _end(ch[-1]))

    def group_side(self, ch: list[Any]) -> _Part:
        card = "many-to-one" if ch[0].type == "GROUP_LEFT" else "one-to-many"
        include = ch[1].value if len(ch) > 1 else ()
        return _Part((card, include), _start(ch[0]), _end(ch[-1]))

    def fill_mod(self, ch: list[Any]) -> _Part:
        kind = ch[0].value.lower()
        num = ch[-2]
        try:
            v = _go_number(num.value)
        except _Err as e:
            raise _Err(e.msg, num.start_pos, num.end_pos) from None
        if len(ch) == 5 and ch[2].type == "SUB":
            v = -v
        return _Part(("fill", kind, v, ch[0]), ch[0].start_pos, ch[-1].end_pos)

    # ------------------------------------------------------------- postfix modifiers

    def matrix(self, ch: list[Any]) -> MatrixSelector:
        target, lb, dur, rb = ch
        range_ms, range_expr = _const_duration(dur, positive=True)
        err = None
        if not isinstance(target, VectorSelector):
            err = "ranges only allowed for vector selectors"
        elif target.offset != 0 or target.offset_expr is not None:
            err = "no offset modifiers allowed before range"
        elif target.timestamp is not None or target.start_or_end is not None:
            err = "no @ modifiers allowed before range"
        if err:
            raise _Err(err, lb.start_pos, rb.end_pos)
        return MatrixSelector(target, range_ms, range_expr, pos=(_start(target), rb.end_pos))

    def subquery(self, ch: list[Any]) -> SubqueryExpr:
        target = ch[0]
        rng = ch[2]
        step = ch[4] if len(ch) == 6 else None
        range_ms, range_expr = _const_duration(rng, positive=True)
        step_ms, step_expr = (0, None) if step is None else _const_duration(step, positive=True)
        return SubqueryExpr(
            target,
            range_ms,
            step_ms,
            range_expr=range_expr,
            step_expr=step_expr,
            pos=(_start(target), ch[-1].end_pos),
        )

    def offset(self, ch: list[Any]) -> Expr:
        target, _, dur = ch
        if isinstance(dur, NumberLiteral):
            ms, expr = _seconds_to_ms(dur.val), None
        else:
            ms, expr = _const_duration(dur, positive=False)
        end = _end(dur)
        if isinstance(target, MatrixSelector):
            vs = target.vector_selector
            self._check_offset_unset(vs, target)
            vs = replace(vs, offset=ms, offset_expr=expr)
            return replace(target, vector_selector=vs, pos=(_start(target), end))
        if isinstance(target, VectorSelector | SubqueryExpr):
            self._check_offset_unset(target, target)
            return replace(target, offset=ms, offset_expr=expr, pos=(_start(target), end))
        raise _Err(
            "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
            *target.pos,
        )

    @staticmethod
    def _check_offset_unset(holder: Any, target: Expr) -> None:
        if holder.offset != 0 or holder.offset_expr is not None:
            raise _Err("offset may not be set multiple times", *target.pos)

    def at(self, ch: list[Any]) -> Expr:
        target, _, at_val = ch
        value = at_val.value
        if not isinstance(value, str):
            if math.isinf(value) or math.isnan(value) or value >= 2.0**63 or value <= -(2.0**63):
                shown = ast.format_float(value) if not math.isfinite(value) else f"{value:.6f}"
                raise _Err(f"timestamp out of bounds for @ modifier: {shown}", *target.pos)
        if isinstance(target, MatrixSelector):
            holder: Any = target.vector_selector
        elif isinstance(target, VectorSelector | SubqueryExpr):
            holder = target
        else:
            raise _Err(
                "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                *target.pos,
            )
        if holder.timestamp is not None or holder.start_or_end is not None:
            raise _Err("@ <timestamp> may not be set multiple times", *target.pos)
        if isinstance(value, str):
            holder = replace(holder, start_or_end=value)
        else:
            holder = replace(holder, timestamp=_round_half_away(value * 1000))
        end = _end(at_val)
        if isinstance(target, MatrixSelector):
            return replace(target, vector_selector=holder, pos=(_start(target), end))
        return replace(holder, pos=(_start(target), end))

    def at_value(self, ch: list[Any]) -> _Part:
        first = ch[0]
        if first.type in ("START", "END"):
            return _Part(first.type.lower(), first.start_pos, ch[-1].end_pos)
        num = self._number(ch[-1])
        v = -num.val if first.type == "SUB" else num.val
        return _Part(v, first.start_pos, ch[-1].end_pos)

    def modifier(self, ch: list[Any]) -> Expr:
        target, tok = ch
        kind = tok.type.lower()
        if isinstance(target, MatrixSelector):
            holder: Any = target.vector_selector
        elif isinstance(target, VectorSelector):
            holder = target
        else:
            raise _Err(
                f"{kind} modifier must be preceded by an instant vector selector or range vector selector",
                *target.pos,
            )
        other = "smoothed" if kind == "anchored" else "anchored"
        if getattr(holder, other):
            raise _Err("anchored and smoothed modifiers cannot be used together", tok.start_pos, tok.end_pos)
        holder = replace(holder, **{kind: True})
        if isinstance(target, MatrixSelector):
            return replace(target, vector_selector=holder, pos=(_start(target), tok.end_pos))
        return replace(holder, pos=(_start(target), tok.end_pos))

    # ------------------------------------------------------------- calls and aggregations

    def function_name(self, ch: list[Any]) -> Token:
        return ch[0]

    def call_args(self, ch: list[Any]) -> list[Expr]:
        last = ch[-1]
        if isinstance(last, Token):
            raise _Err("trailing commas not allowed in function call args", last.start_pos, last.end_pos)
        return _exprs(ch)

    def call_body(self, ch: list[Any]) -> _Part:
        args = ch[1] if len(ch) == 3 else []
        return _Part(args, ch[0].start_pos, ch[-1].end_pos)

    def function_call(self, ch: list[Any]) -> Call:
        name_tok, body = ch
        name = name_tok.value if name_tok.type == "IDENTIFIER" else name_tok.value.lower()
        func = ast.FUNCTIONS.get(name)
        if func is None:
            raise _Err(f"unknown function with name {go_quote(name)}", name_tok.start_pos, name_tok.end_pos)
        args = body.value
        if name == "info" and len(args) > 1:
            a = args[1]
            if isinstance(a, VectorSelector) and not a.name:
                args = [args[0], replace(a, bypass_empty_matcher_check=True), *args[2:]]
        return Call(func, tuple(args), pos=(name_tok.start_pos, body.pos[1]))

    def aggregate_op(self, ch: list[Any]) -> Token:
        return ch[0]

    def aggregate_modifier(self, ch: list[Any]) -> _Part:
        return _Part((ch[0].type == "WITHOUT", ch[1].value), ch[0].start_pos, _end(ch[1]))

    def aggregate(self, ch: list[Any]) -> AggregateExpr:
        op_tok = ch[0]
        if isinstance(ch[1].value, list):
            body = ch[1]
            mod = ch[2] if len(ch) > 2 else None
        else:
            mod, body = ch[1], ch[2]
        end = max(body.pos[1], mod.pos[1] if mod is not None else 0)
        pos = (op_tok.start_pos, end)
        op = op_tok.value.lower()
        args = body.value
        if not args:
            raise _Err("no arguments for aggregate expression provided", *pos)
        desired = 2 if op in ast.AGGREGATORS_WITH_PARAM else 1
        if len(args) != desired:
            raise _Err(
                "wrong number of arguments for aggregate expression provided, "
                f"expected {desired}, got {len(args)}",
                *pos,
            )
        without, grouping = mod.value if mod is not None else (False, ())
        return AggregateExpr(
            op,
            args[-1],
            param=args[0] if desired == 2 else None,
            grouping=grouping,
            without=without,
            pos=pos,
        )

    def grouping_labels(self, ch: list[Any]) -> _Part:
        labels = tuple(c for c in ch if isinstance(c, str) and not isinstance(c, Token))
        return _Part(labels, ch[0].start_pos, ch[-1].end_pos)

    def grouping_label(self, ch: list[Any]) -> str:
        t = ch[0]
        name = str(t.value)
        if t.type == "NUMBER" and name.lower() not in ("inf", "nan"):
            raise _Err(
                f"unexpected number {go_quote(name)} in grouping opts, expected label", t.start_pos, t.end_pos
            )
        if not _is_valid_label_name(name):
            raise _Err(f"invalid label name for grouping: {go_quote(name)}", t.start_pos, t.end_pos)
        return name

    # ------------------------------------------------------------- selectors

    def metric_identifier(self, ch: list[Any]) -> Token:
        return ch[0]

    def match_op(self, ch: list[Any]) -> Token:
        return ch[0]

    def label_matcher(self, ch: list[Any]) -> _Part:
        if len(ch) == 1:
            t = ch[0]
            return _Part(Matcher(MatchType.EQUAL, METRIC_NAME, t.value), t.start_pos, t.end_pos)
        name, op, val = ch
        try:
            m = Matcher(_MATCH_TYPES[op.type], str(name.value), val.value)
        except InvalidMatcherError as e:
            raise _Err(f"error parsing regexp: {e}", name.start_pos, val.end_pos) from None
        return _Part(m, name.start_pos, val.end_pos)

    def label_matchers(self, ch: list[Any]) -> _Part:
        ms = [c.value for c in ch if isinstance(c, _Part)]
        return _Part(ms, ch[0].start_pos, ch[-1].end_pos)

    def vector_selector(self, ch: list[Any]) -> VectorSelector:
        first = ch[0]
        if isinstance(first, Token):
            name = first.value
            matchers = list(ch[1].value) if len(ch) > 1 else []
            matchers.append(Matcher(MatchType.EQUAL, METRIC_NAME, name))
            return VectorSelector(name, tuple(matchers), pos=(first.start_pos, _end(ch[-1])))
        return VectorSelector(None, tuple(first.value), pos=first.pos)

    # ------------------------------------------------------------- durations

    def dur_signed(self, ch: list[Any]) -> NumberLiteral:
        sign, nl = ch
        v = -nl.val if sign.type == "SUB" else nl.val
        return _check_duration_range(NumberLiteral(v, duration=nl.duration, pos=(sign.start_pos, nl.pos[1])))

    def dur_unary(self, ch: list[Any]) -> Expr:
        sign, e = ch
        if isinstance(e, NumberLiteral):
            return self.dur_signed(ch)
        if sign.type == "ADD":
            return e
        return DurationExpr("-", None, e, pos=(sign.start_pos, _end(e)))

    def dur_binary(self, ch: list[Any]) -> DurationExpr:
        lhs, op, rhs = ch
        if op.type in ("DIV", "MOD") and isinstance(rhs, NumberLiteral) and rhs.val == 0:
            msg = "division by zero" if op.type == "DIV" else "modulo by zero"
            raise _Err(msg, op.start_pos, op.end_pos)
        return DurationExpr(op.value, lhs, rhs, pos=(_start(lhs), _end(rhs)))

    def dur_call(self, ch: list[Any]) -> DurationExpr:
        t = ch[0]
        pos = (t.start_pos, ch[-1].end_pos)
        if t.type in ("STEP", "RANGE"):
            return DurationExpr(t.type.lower(), pos=pos)
        return DurationExpr(t.type.lower(), ch[2], ch[4], pos=pos)

    def dur_paren(self, ch: list[Any]) -> ParenExpr:
        return ParenExpr(ch[1], pos=(ch[0].start_pos, ch[2].end_pos))


# =========================================================================== type checks (checkAST)


def _op_range(text: str, n: BinaryExpr) -> tuple[int, int]:
    start = n.lhs.pos[1]
    end = n.rhs.pos[0] - 1
    while start < len(text) and text[start] in _SPACE:
        start += 1
    while end > start and text[end] in _SPACE:
        end -= 1
    return start, end + 1


def _check(root: Expr, text: str) -> ValueType:
    """Prometheus's checkAST: returns the root's type, raises the first error found.

    Runs with an explicit stack of per-node generators (each yields a child and
    receives its type), so deeply nested queries do not hit Python's recursion limit.
    """
    stack = [_checker(root, text)]
    result: ValueType | None = None
    while True:
        try:
            child = stack[-1].send(result)  # type: ignore[arg-type]
        except StopIteration as stop:
            stack.pop()
            if not stack:
                return stop.value  # type: ignore[no-any-return]
            result = stop.value
            continue
        stack.append(_checker(child, text))
        result = None


def _expect(t: ValueType, node: Expr, want: ValueType, context: str) -> None:
    if t is not want:
        raise _Err(f"expected type {want.documented} in {context}, got {t.documented}", *node.pos)


_Checker = Generator[Expr, ValueType, ValueType]


def _checker(node: Expr, text: str) -> _Checker:
    typ = node.type
    if isinstance(node, AggregateExpr):
        _expect((yield node.expr), node.expr, ValueType.VECTOR, "aggregation expression")
        if node.op in ("topk", "bottomk", "quantile", "limitk", "limit_ratio"):
            _expect((yield node.param), node.param, ValueType.SCALAR, "aggregation parameter")
        elif node.op == "count_values":
            _expect((yield node.param), node.param, ValueType.STRING, "aggregation parameter")
    elif isinstance(node, BinaryExpr):
        lt = yield node.lhs
        rt = yield node.rhs
        _check_binary(node, lt, rt, text)
    elif isinstance(node, Call):
        _check_call_arity(node)
        func = node.func
        nargs = len(func.arg_types)
        for i, arg in enumerate(node.args):
            if i >= nargs:
                if func.variadic == 0:
                    break
                i = nargs - 1
            _expect((yield arg), arg, func.arg_types[i], f"call to function {go_quote(func.name)}")
    elif isinstance(node, ParenExpr):
        yield node.expr
    elif isinstance(node, UnaryExpr):
        t = yield node.expr
        if t not in (ValueType.SCALAR, ValueType.VECTOR):
            raise _Err(
                "unary expression only allowed on expressions of type scalar or instant vector, "
                f"got {go_quote(t.documented)}",
                *node.pos,
            )
    elif isinstance(node, SubqueryExpr):
        t = yield node.expr
        if t is not ValueType.VECTOR:
            raise _Err(f"subquery is only allowed on instant vector, got {t.value} instead", *node.pos)
    elif isinstance(node, MatrixSelector):
        yield node.vector_selector
    elif isinstance(node, VectorSelector):
        if node.name:
            for m in node.matchers[:-1]:
                if m.name == METRIC_NAME:
                    raise _Err(
                        f"metric name must not be set twice: {go_quote(node.name)} or {go_quote(m.value)}",
                        *node.pos,
                    )
        elif not node.bypass_empty_matcher_check:
            if not any(not m.matches("") for m in node.matchers):
                raise _Err("vector selector must contain at least one non-empty matcher", *node.pos)
    return typ


def _check_binary(node: BinaryExpr, lt: ValueType, rt: ValueType, text: str) -> None:
    mod = (_state.binmods or {}).get(id(node), _NO_MOD)
    op = node.op
    if node.return_bool and op not in ast.COMPARISON_OPS:
        raise _Err("bool modifier can only be used on comparison operators", *_op_range(text, node))
    if op in ast.COMPARISON_OPS and not node.return_bool and lt is rt is ValueType.SCALAR:
        raise _Err("comparisons between scalars must use BOOL modifier", *_op_range(text, node))
    if mod.on:
        for label in mod.labels:
            if label in mod.include:
                raise _Err(
                    f"label {go_quote(label)} must not occur in ON and GROUP clause at once",
                    *_op_range(text, node),
                )
    if lt not in (ValueType.SCALAR, ValueType.VECTOR):
        raise _Err("binary expression must contain only scalar and instant vector types", *node.lhs.pos)
    if rt not in (ValueType.SCALAR, ValueType.VECTOR):
        raise _Err("binary expression must contain only scalar and instant vector types", *node.rhs.pos)
    if lt is not ValueType.VECTOR or rt is not ValueType.VECTOR:
        if mod.labels:
            raise _Err("vector matching only allowed between instant vectors", *node.pos)
    elif op in ast.SET_OPS:
        if mod.card in ("one-to-many", "many-to-one"):
            raise _Err(f"no grouping allowed for {go_quote(op)} operation", *node.pos)
        if mod.fill_left is not None or mod.fill_right is not None:
            raise _Err(f"fill modifiers not allowed for {go_quote(op)} operation", *node.pos)
    if (lt is ValueType.SCALAR or rt is ValueType.SCALAR) and op in ast.SET_OPS:
        raise _Err(f"set operator {go_quote(op)} not allowed in binary scalar expression", *node.pos)


def _check_call_arity(node: Call) -> None:
    func = node.func
    nargs = len(func.arg_types)
    got = len(node.args)
    name = go_quote(func.name)
    if func.variadic == 0:
        if nargs != got:
            raise _Err(f"expected {nargs} argument(s) in call to {name}, got {got}", *node.pos)
    else:
        na = nargs - 1
        if na > got:
            raise _Err(f"expected at least {na} argument(s) in call to {name}, got {got}", *node.pos)
        if func.variadic > 0 and na + func.variadic < got:
            raise _Err(
                f"expected at most {na + func.variadic} argument(s) in call to {name}, got {got}", *node.pos
            )
    if func.name == "info" and got > 1:
        a = node.args[1]
        if a.type is not ValueType.VECTOR:
            raise _Err(
                f"expected type instant vector in call to function {name}, got {a.type.documented}", *node.pos
            )
        if isinstance(a, VectorSelector) and a.name:
            raise _Err("expected label selectors only, got vector selector instead", *a.pos)
        if not isinstance(a, VectorSelector):
            raise _Err("expected label selectors only", *a.pos)


# =========================================================================== syntax errors


def _desc(t: Token, text: str) -> str:
    """Prometheus's ``Item.desc()`` of an unexpected token."""
    typ = t.type
    if typ == "$END":
        return "end of input"
    v = str(t.value)
    if typ in _KEYWORD_TYPES:
        return f"<{v}>"
    if typ in _OPERATOR_TYPES:
        return f"<op:{v}>"
    if typ in _AGGREGATOR_TYPES:
        return f"<aggr:{v}>"
    if typ in _QUOTED_TYPES:
        return go_quote(v)
    if typ == "IDENTIFIER":
        return f"identifier {go_quote(v)}"
    if typ == "METRIC_IDENTIFIER":
        return f"metric identifier {go_quote(v)}"
    raw = text[t.start_pos : t.end_pos]
    kind = {"NUMBER": "number", "DURATION": "duration", "STRING": "string"}.get(typ, typ.lower())
    shown = go_quote(raw[:10]) + "..." if len(raw) > 10 else go_quote(raw)
    return f"{kind} {shown}"


_GROUPING_INTRO = frozenset({"BY", "WITHOUT", "ON", "IGNORING", "GROUP_LEFT", "GROUP_RIGHT"})


def _syntax_context(tokens: list[Token], bad: Token) -> tuple[str, str]:
    """(context, expected) for an unexpected token, mimicking Prometheus's error productions."""
    prev = tokens[:-1] if tokens and tokens[-1] is bad else tokens
    if not prev:
        return "", ""
    last = prev[-1]
    # Where are we: inside braces, grouping parens or brackets?
    brace = bracket = False
    colon = False
    grouping = 0
    paren_stack: list[bool] = []
    for k, t in enumerate(prev):
        ty = t.type
        if ty == "LEFT_BRACE":
            brace = True
        elif ty == "RIGHT_BRACE":
            brace = False
        elif ty == "LEFT_BRACKET":
            bracket, colon = True, False
        elif ty == "RIGHT_BRACKET":
            bracket = False
        elif ty == "COLON":
            colon = True
        elif ty == "LEFT_PAREN":
            is_grouping = k > 0 and prev[k - 1].type in _GROUPING_INTRO
            paren_stack.append(is_grouping)
            grouping += is_grouping
        elif ty == "RIGHT_PAREN" and paren_stack:
            grouping -= paren_stack.pop()
    ty = last.type
    if brace:
        if ty in ("LEFT_BRACE", "COMMA"):
            return "label matching", 'identifier or "}"'
        if ty == "IDENTIFIER":
            return "label matching", "label matching operator"
        if ty in _MATCH_TYPES:
            return "label matching", "string"
        return "label matching", '"," or "}"'
    if paren_stack and paren_stack[-1]:
        if ty in ("LEFT_PAREN", "COMMA"):
            return "grouping opts", "label"
        return "grouping opts", '"," or ")"'
    if ty in ("BY", "WITHOUT", "ON", "IGNORING"):
        return "grouping opts", '"("'
    if ty == "OFFSET":
        return "offset", "number, duration, step(), or range()"
    if ty == "AT":
        return "@", "timestamp"
    if bracket:
        complete = ty in ("NUMBER", "DURATION", "RIGHT_PAREN")
        if ty == "COLON" or (colon and not complete):
            return "subquery selector", 'number, duration, step(), range(), or "]"'
        if not complete:
            return "subquery or range selector", "number, duration, step(), or range()"
        if colon:
            return "subquery selector", '"]"'
        return "subquery or range", '":" or "]"'
    return "", ""


def _syntax_error(e: UnexpectedInput, text: str) -> _Err:
    tokens = _state.tokens or []
    bad = getattr(e, "token", None)
    if not isinstance(bad, Token) or bad.type == "$END":
        pos = len(text)
        bad = Token("$END", "", pos, None, None, None, None, pos)
    if not tokens and bad.type == "$END":
        return _Err("no expression found in input", 0, 0)
    context, expected = _syntax_context(tokens, bad)
    msg = "unexpected " + _desc(bad, text)
    if context:
        msg += " in " + context
    if expected:
        msg += ", expected " + expected
    return _Err(msg, bad.start_pos, bad.end_pos if bad.end_pos is not None else bad.start_pos)


# =========================================================================== entry points


@lru_cache(maxsize=1)
def _lark() -> Lark:
    grammar = Path(__file__).with_name("promql.lark").read_text()
    grammar += "\nmetric_selector: vector_selector\n"
    return Lark(
        grammar,
        parser="lalr",
        lexer=_PromLexer,
        transformer=_Builder(),
        start=["start", "metric_selector"],
        propagate_positions=True,
        keep_all_tokens=True,
        maybe_placeholders=False,
    )


def _run(text: str, start: str) -> Expr:
    parser = _lark()
    _state.tokens = None
    _state.binmods = {}
    try:
        try:
            node = parser.parse(text, start=start)
            if start == "start":
                _check(node, text)
            return node
        except UnexpectedInput as e:
            raise _syntax_error(e, text) from None
    except _Err as e:
        raise ParseError.at(e.msg, text, e.start, e.end) from None
    finally:
        _state.tokens = None
        _state.binmods = None


def parse_expr(text: str) -> Expr:
    """Parse and type-check a PromQL expression.

    Raises :class:`promql.errors.ParseError` (``str``: ``1:14: parse error: ...``).
    """
    if not isinstance(text, str):
        raise TypeError("parse_expr expects a str")
    return _run(text, "start")


def parse_metric_selector(text: str) -> list[Matcher]:
    """Parse a series selector (``match[]`` in the HTTP API) into its matchers.

    Like Prometheus's ``ParseMetricSelector`` this does not require a non-empty
    matcher; offsets, ranges and other expressions are rejected.
    """
    node = _run(text, "metric_selector")
    assert isinstance(node, VectorSelector)
    return list(node.matchers)
