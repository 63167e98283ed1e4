"""Go ``text/template`` for Prometheus alert labels and annotations.

A faithful subset of Go's ``text/template`` (lexer, parser with Go's
parse-time checks, executor with Go's value semantics) plus Prometheus's
template function map (``template/template.go``)::

    out = expand_alert_template(
        "{{ $labels.instance }} is down ({{ $value | humanize }})",
        "InstanceDown", labels={"instance": "a:9100"}, value=1234567.0,
    )                                    # 'a:9100 is down (1.235M)'

What works as in Go: text and actions, ``{{- ``/`` -}}`` trimming, comments,
pipelines, variables (``$x :=``, ``$x =``, ``$``), fields on maps and
structs (``.Labels.foo``, ``$labels.foo``; a missing map key is the zero
value, Prometheus's ``missingkey=zero``), parenthesised pipelines and chained
fields, ``if``/``else if``/``else``/``end``, ``range`` (with ``else``,
``$i, $e :=``, ``break``, ``continue``), ``with``/``else with``, ``define``/
``template``/``block``; Go literals (strings with escapes, raw strings,
character constants, ints, floats, hex); the builtins ``and or not len index
slice print printf println html js urlquery eq ne lt le gt ge``; and Go's
printing of values (floats as ``%v``: ``1.234567e+06``; maps as
``map[a:b]``). Parse errors read like Go's: ``template: NAME:LINE: function
"foo" not defined``; execution errors like ``template: NAME:1:21: executing
"NAME" at <first>: error calling first: ...``.

Prometheus functions: ``query first label value strvalue sortByLabel args
reReplaceAll safeHtml match title toUpper toLower trimSpace stripPort
stripDomain graphLink tableLink humanize humanize1024 humanizeDuration
humanizePercentage humanizeTimestamp toTime toDuration now parseDuration
urlQueryEscape pathPrefix externalURL``.

Regular expressions use Python's ``re`` (RE2 syntax mostly carries over).
"""

from __future__ import annotations

import functools
import math
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tsdb.labels import quote as go_quote

__all__ = [
    "AlertTemplateData",
    "Expander",
    "QueryFunc",
    "QuerySample",
    "Template",
    "TemplateError",
    "TemplateExecError",
    "TemplateParseError",
    "alert_template_defs",
    "expand_alert_template",
    "go_sprint",
    "go_sprintf",
    "humanize",
    "humanize1024",
    "humanize_duration",
    "humanize_percentage",
    "humanize_timestamp",
    "parse",
    "parse_alert_template",
]

# A query callback: (PromQL text, evaluation time in ms) -> [(labels dict, value)].
QueryFunc = Callable[[str, int], Sequence[tuple[Mapping[str, str], float]]]


class TemplateError(Exception):
    """Base class of template errors."""


class TemplateParseError(TemplateError):
    """A template that does not parse; ``str()`` is Go's ``template: NAME:LINE: msg``."""

    def __init__(self, name: str, line: int, msg: str) -> None:
        super().__init__(f"template: {name}:{line}: {msg}")
        self.name = name
        self.line = line
        self.msg = msg


class TemplateExecError(TemplateError):
    """A failure while executing a template (Go's ``ExecError``)."""


class _NoValue:
    """Go's invalid ``reflect.Value``: prints as ``<no value>``."""

    _inst: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()
_MISSING = object()  # "no final value" marker of a pipeline stage


# =========================================================================== Go values


class GoInt(int):
    """Marker for values that are Go ``int`` even where Python would see ``bool``."""


@dataclass
class QuerySample:
    """Prometheus's template ``sample``: ``.Labels`` (map) and ``.Value``."""

    Labels: dict[str, str]
    Value: float
    _go_type = "*template.sample"


class QueryResult(list):  # type: ignore[type-arg]
    """Prometheus's ``queryResult`` (a ``[]*sample``)."""

    _go_type = "template.queryResult"


@dataclass
class AlertTemplateData:
    """The dot of alert templates (Prometheus's ``AlertTemplateData``)."""

    Labels: dict[str, str] = field(default_factory=dict)
    ExternalLabels: dict[str, str] = field(default_factory=dict)
    ExternalURL: str = ""
    Value: Any = 0.0
    _go_type = (
        "struct { Labels map[string]string; ExternalLabels map[string]string; "
        "ExternalURL string; Value interface {} }"
    )


class _IfaceMap(dict):  # type: ignore[type-arg]
    """A ``map[string]interface{}`` (``args``): missing keys are ``<no value>``."""


@dataclass(frozen=True)
class GoTime:
    """A ``time.Time`` in UTC with nanosecond precision."""

    ns: int

    def __str__(self) -> str:
        secs, frac = divmod(self.ns, 1_000_000_000)
        dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=secs)
        s = dt.strftime("%Y-%m-%d %H:%M:%S")
        if frac:
            s += "." + f"{frac:09d}".rstrip("0")
        return s + " +0000 UTC"

    _go_type = "*time.Time"

    def go_method(self, name: str) -> Any:
        if name == "Unix":
            return GoInt(self.ns // 1_000_000_000)
        if name == "UnixMilli":
            return GoInt(self.ns // 1_000_000)
        if name == "UnixNano":
            return GoInt(self.ns)
        if name == "UTC":
            return self
        if name == "String":
            return str(self)
        return _MISSING


@dataclass(frozen=True)
class GoDuration:
    """A ``time.Duration`` (nanoseconds); prints like Go (``1h1m1s``)."""

    ns: int
    _go_type = "*time.Duration"

    def __str__(self) -> str:
        return go_duration_string(self.ns)

    def go_method(self, name: str) -> Any:
        if name == "Seconds":
            return self.ns / 1e9
        if name == "Milliseconds":
            return GoInt(self.ns // 1_000_000)
        if name == "Minutes":
            return self.ns / 6e10
        if name == "Hours":
            return self.ns / 3.6e12
        if name == "String":
            return str(self)
        return _MISSING


def go_duration_string(ns: int) -> str:
    """Go's ``time.Duration.String()``."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        if u < 1_000:
            s = f"{u}ns"
        elif u < 1_000_000:
            s = _frac_str(u, 1_000) + "µs"
        else:
            s = _frac_str(u, 1_000_000) + "ms"
    else:
        h, rem = divmod(u, 3_600_000_000_000)
        m, rem = divmod(rem, 60_000_000_000)
        secs = _frac_str(rem, 1_000_000_000) + "s"
        s = (f"{h}h{m}m" if h else (f"{m}m" if m else "")) + secs
    return "-" + s if neg else s


def _frac_str(v: int, unit: int) -> str:
    whole, frac = divmod(v, unit)
    if not frac:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}." + f"{frac:0{width}d}".rstrip("0")


def go_type_name(v: Any) -> str:
    """The Go type name of a template value (for error messages)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    t = getattr(v, "_go_type", None)
    if t:
        return str(t)
    if isinstance(v, _IfaceMap):
        return "map[string]interface {}"
    if isinstance(v, dict):
        return "map[string]string"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    return type(v).__name__


# ---------------------------------------------------------------- float formatting


def _shortest_digits(v: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``abs(v)`` and the decimal-point position."""
    r = repr(abs(v))
    mant, _, exp_s = r.partition("e")
    exp = int(exp_s) if exp_s else 0
    ip, _, fp = mant.partition(".")
    if fp == "0":
        fp = ""
    digits = ip + fp
    dp = len(ip) + exp
    stripped = digits.lstrip("0")
    dp -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return "0", 1
    return digits, dp


def go_format_float(v: float, verb: str = "g", prec: int = -1) -> str:
    """Go's ``strconv.FormatFloat(v, verb, prec, 64)`` for verbs ``e f g`` (``%v`` is ``g``/-1)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    neg = math.copysign(1.0, v) < 0
    sign = "-" if neg else ""
    if prec >= 0:
        if verb == "g" and prec == 0:
            prec = 1
        s = f"{abs(v):.{prec}{verb}}"
        return sign + s
    digits, dp = _shortest_digits(v)
    if v == 0:
        digits, dp = "0", 1
    # strconv's shortest %g switches to %e for exponents < -4 or >= 6 (eprec = 6).
    if verb == "e" or (verb == "g" and (dp - 1 < -4 or dp - 1 >= 6)):
        exp = dp - 1 if v != 0 else 0
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        es = "-" if exp < 0 else "+"
        return f"{sign}{m}e{es}{abs(exp):02d}"
    # %f with the shortest digits
    if dp <= 0:
        s = "0." + "0" * (-dp) + digits
    elif dp >= len(digits):
        s = digits + "0" * (dp - len(digits))
    else:
        s = digits[:dp] + "." + digits[dp:]
    return sign + s


# ---------------------------------------------------------------- fmt.Sprint / Sprintf


def go_sprint_value(v: Any, top: bool = True) -> str:
    """``fmt.Sprint`` of one value (``%v``)."""
    if v is NO_VALUE:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return go_format_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, GoTime | GoDuration):
        return str(v)
    if isinstance(v, QuerySample):
        inner = "{" + go_sprint_value(v.Labels, False) + " " + go_sprint_value(v.Value, False) + "}"
        return inner if top else "0xc000000000"
    if isinstance(v, AlertTemplateData):
        return (
            "{"
            + " ".join(
                go_sprint_value(x, False) for x in (v.Labels, v.ExternalLabels, v.ExternalURL, v.Value)
            )
            + "}"
        )
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0])
        return "map[" + " ".join(f"{k}:{go_sprint_value(x, False)}" for k, x in items) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_sprint_value(x, False) for x in v) + "]"
    return str(v)


def go_sprint(*args: Any) -> str:
    """``fmt.Sprint``: spaces between operands when neither is a string."""
    out: list[str] = []
    prev_str = True
    for i, a in enumerate(args):
        is_str = isinstance(a, str)
        if i > 0 and not is_str and not prev_str:
            out.append(" ")
        out.append(go_sprint_value(a))
        prev_str = is_str
    return "".join(out)


_FMT_RE = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d*|\*))?(.|$)", re.S)


def _bad_verb(verb: str, a: Any) -> str:
    if a is None:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(a)}={go_sprint_value(a)})"


def _pad(s: str, flags: str, width: int | None, zero_ok: bool = True) -> str:
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s + " " * (width - len(s))
    if "0" in flags and zero_ok:
        sign = ""
        if s and s[0] in "+- ":
            sign, s = s[0], s[1:]
        return sign + "0" * (width - len(sign) - len(s)) + s
    return " " * (width - len(s)) + s


def _fmt_one(verb: str, flags: str, width: int | None, prec: int | None, a: Any) -> str:
    if verb == "v":
        if isinstance(a, float) and not isinstance(a, bool):
            s = go_format_float(a, "g", -1 if prec is None else prec)
            if "+" in flags and not s.startswith(("-", "+")):
                s = "+" + s
            return _pad(s, flags, width)
        if isinstance(a, str) and "#" in flags:
            return _pad(go_quote(a), flags, width)
        return _pad(go_sprint_value(a), flags, width, zero_ok=False)
    if isinstance(a, bool):
        if verb == "t":
            return _pad("true" if a else "false", flags, width, zero_ok=False)
        return _bad_verb(verb, a)
    if isinstance(a, int):
        n = int(a)
        if verb == "d":
            s = str(n)
            if "+" in flags and n >= 0:
                s = "+" + s
            elif " " in flags and n >= 0:
                s = " " + s
        elif verb in "xX":
            s = format(abs(n), "x" if verb == "x" else "X")
            if "#" in flags:
                s = ("0x" if verb == "x" else "0X") + s
            s = ("-" if n < 0 else "") + s
        elif verb == "o":
            s = ("-" if n < 0 else "") + ("0" if "#" in flags else "") + format(abs(n), "o")
        elif verb == "b":
            s = ("-" if n < 0 else "") + format(abs(n), "b")
        elif verb == "c":
            s = chr(n) if 0 <= n <= 0x10FFFF else "\ufffd"
        elif verb == "q":
            s = "'" + (chr(n) if 0 <= n <= 0x10FFFF else "\ufffd") + "'"
        elif verb == "U":
            s = f"U+{n:04X}"
        else:
            return _bad_verb(verb, a)
        if prec is not None and verb in "dxXob":
            sign = "-" if s.startswith("-") else ""
            body = s[len(sign) :]
            s = sign + body.rjust(prec, "0")
            flags = flags.replace("0", "")
        return _pad(s, flags, width)
    if isinstance(a, float):
        if verb in "eEfFgG":
            lv = verb.lower()
            if lv == "f":
                s = go_format_float(a, "f", 6 if prec is None else prec)
            elif lv == "e":
                s = go_format_float(a, "e", 6 if prec is None else prec)
            else:
                s = go_format_float(a, "g", -1 if prec is None else prec)
            if verb in "EG":
                s = s.replace("e", "E")
            if "+" in flags and not s.startswith(("-", "+")):
                s = "+" + s
            elif " " in flags and not s.startswith(("-", "+")):
                s = " " + s
            return _pad(s, flags, width, zero_ok=not (math.isinf(a) or math.isnan(a)))
        return _bad_verb(verb, a)
    if isinstance(a, str):
        if verb == "s":
            s = a if prec is None else a[:prec]
            return _pad(s, flags, width, zero_ok=False)
        if verb == "q":
            return _pad(go_quote(a if prec is None else a[:prec]), flags, width, zero_ok=False)
        if verb in "xX":
            b = a.encode()
            s = b.hex() if verb == "x" else b.hex().upper()
            return _pad(s, flags, width, zero_ok=False)
        return _bad_verb(verb, a)
    if a is None:
        return _bad_verb(verb, a)
    if verb == "s" and isinstance(a, GoTime | GoDuration):
        return _pad(str(a), flags, width, zero_ok=False)
    if verb in "sd" and isinstance(a, dict | list):
        return _pad(go_sprint_value(a), flags, width, zero_ok=False)
    return _bad_verb(verb, a)


def go_sprintf(fmt: str, *args: Any) -> str:
    """Go's ``fmt.Sprintf`` for the common verbs (``%v %s %d %f %e %g %x %q %t %c %%``)."""
    out: list[str] = []
    ai = 0
    pos = 0
    n = len(fmt)
    while pos < n:
        j = fmt.find("%", pos)
        if j < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:j])
        m = _FMT_RE.match(fmt, j)
        assert m is not None
        flags, w, p, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        pos = m.end()
        if verb == "":
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        width: int | None = None
        prec: int | None = None
        if w == "*":
            if ai < len(args) and isinstance(args[ai], int):
                width = int(args[ai])
                ai += 1
            else:
                out.append("%!(BADWIDTH)")
        elif w:
            width = int(w)
        if p == "*":
            if ai < len(args) and isinstance(args[ai], int):
                prec = int(args[ai])
                ai += 1
            else:
                out.append("%!(BADPREC)")
        elif p is not None:
            prec = int(p) if p else 0
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[ai]
        ai += 1
        out.append(_fmt_one(verb, flags, width, prec, a))
    if ai < len(args):
        extra = ", ".join(
            f"{go_type_name(a)}={go_sprint_value(a)}" if a is not None else "<nil>" for a in args[ai:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# =========================================================================== lexer

_ERROR, _BOOL, _CHAR, _CHARCONST, _COMMENT, _ASSIGN, _DECLARE, _EOF = range(8)
_FIELD, _IDENT, _LDELIM, _LPAREN, _NUMBER, _PIPE, _RAW, _RDELIM = range(8, 16)
_RPAREN, _SPACE, _STRING, _TEXT, _VARIABLE = range(16, 21)
_KEYWORD = 30
_BLOCK, _BREAK, _CONTINUE, _DOT, _DEFINE, _ELSE, _END, _IF = range(31, 39)
_NIL, _RANGE, _TEMPLATE, _WITH = range(39, 43)

_KEYWORDS = {
    ".": _DOT,
    "block": _BLOCK,
    "break": _BREAK,
    "continue": _CONTINUE,
    "define": _DEFINE,
    "else": _ELSE,
    "end": _END,
    "if": _IF,
    "range": _RANGE,
    "nil": _NIL,
    "template": _TEMPLATE,
    "with": _WITH,
}

_LD, _RD = "{{", "}}"


@dataclass
class _Item:
    typ: int
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ == _EOF:
            return "EOF"
        if self.typ == _ERROR:
            return self.val
        if self.typ > _KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val)[:11] + "..."
        return go_quote(self.val)


def _is_space(c: str) -> bool:
    return c in " \t\r\n"


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdigit()


def _lex(text: str) -> list[_Item]:
    """Tokenize like Go's ``text/template/parse`` lexer (stops at the first error)."""
    items: list[_Item] = []
    n = len(text)
    pos = 0

    def line_at(p: int) -> int:
        return 1 + text.count("\n", 0, p)

    def emit(typ: int, start: int, end: int) -> None:
        items.append(_Item(typ, start, text[start:end], line_at(start)))

    def err(msg: str, start: int) -> list[_Item]:
        items.append(_Item(_ERROR, start, msg, line_at(start)))
        return items

    def at_right_delim(p: int) -> tuple[bool, bool]:
        if p + 1 < n and _is_space(text[p]) and text[p + 1] == "-" and text.startswith(_RD, p + 2):
            return True, True
        if text.startswith(_RD, p):
            return True, False
        return False, False

    def at_terminator(p: int) -> bool:
        if p >= n:
            return True
        c = text[p]
        return _is_space(c) or c in ".,|:)(" or c == _RD[0]

    while True:
        # ---- text
        j = text.find(_LD, pos)
        if j < 0:
            if pos < n:
                emit(_TEXT, pos, n)
            items.append(_Item(_EOF, n, "", line_at(n)))
            return items
        ld_end = j + len(_LD)
        trim_left = ld_end + 1 < n and text[ld_end] == "-" and _is_space(text[ld_end + 1])
        text_end = j
        if trim_left:
            while text_end > pos and _is_space(text[text_end - 1]):
                text_end -= 1
        if text_end > pos:
            emit(_TEXT, pos, text_end)
        pos = ld_end
        after = 2 if trim_left else 0
        if text.startswith("/*", pos + after):
            # ---- comment
            start = j
            pos += after + 2
            k = text.find("*/", pos)
            if k < 0:
                return err("unclosed comment", start)
            pos = k + 2
            delim, trim = at_right_delim(pos)
            if not delim:
                return err("comment ends before closing delimiter", start)
            pos += (2 if trim else 0) + len(_RD)
            if trim:
                while pos < n and _is_space(text[pos]):
                    pos += 1
            continue
        items.append(_Item(_LDELIM, j, _LD, line_at(j)))
        pos += after
        depth = 0
        # ---- inside action
        while True:
            delim, trim = at_right_delim(pos)
            if delim:
                if depth:
                    return err("unclosed left paren", pos)
                start = pos
                pos += (2 if trim else 0) + len(_RD)
                items.append(_Item(_RDELIM, start, _RD, line_at(start)))
                if trim:
                    while pos < n and _is_space(text[pos]):
                        pos += 1
                break
            if pos >= n:
                return err("unclosed action", pos)
            c = text[pos]
            start = pos
            if _is_space(c):
                k = pos
                while k < n and _is_space(text[k]):
                    k += 1
                # " -}}": the last space belongs to the trim marker.
                if text.startswith("-" + _RD, k) and k - 1 >= pos:
                    if k - 1 > pos:
                        emit(_SPACE, pos, k - 1)
                    pos = k - 1
                    continue
                emit(_SPACE, pos, k)
                pos = k
            elif c == "=":
                emit(_ASSIGN, pos, pos + 1)
                pos += 1
            elif c == ":":
                if pos + 1 >= n or text[pos + 1] != "=":
                    return err("expected :=", pos)
                emit(_DECLARE, pos, pos + 2)
                pos += 2
            elif c == "|":
                emit(_PIPE, pos, pos + 1)
                pos += 1
            elif c == '"':
                k = pos + 1
                while True:
                    if k >= n or text[k] == "\n":
                        return err("unterminated quoted string", start)
                    if text[k] == "\\":
                        if k + 1 >= n or text[k + 1] == "\n":
                            return err("unterminated quoted string", start)
                        k += 2
                        continue
                    if text[k] == '"':
                        break
                    k += 1
                emit(_STRING, pos, k + 1)
                pos = k + 1
            elif c == "`":
                k = text.find("`", pos + 1)
                if k < 0:
                    return err("unterminated raw quoted string", start)
                emit(_RAW, pos, k + 1)
                pos = k + 1
            elif c == "$" or (c == "." and not (pos + 1 < n and text[pos + 1].isdigit())):
                typ = _VARIABLE if c == "$" else _FIELD
                k = pos + 1
                if at_terminator(k):
                    emit(_VARIABLE if c == "$" else _DOT, pos, k)
                    pos = k
                    continue
                while k < n and _is_alnum(text[k]):
                    k += 1
                if not at_terminator(k):
                    return err(f"bad character {_go_rune(text[k])}", start)
                emit(typ, pos, k)
                pos = k
            elif c == "'":
                k = pos + 1
                while True:
                    if k >= n or text[k] == "\n":
                        return err("unterminated character constant", start)
                    if text[k] == "\\":
                        if k + 1 >= n or text[k + 1] == "\n":
                            return err("unterminated character constant", start)
                        k += 2
                        continue
                    if text[k] == "'":
                        break
                    k += 1
                emit(_CHARCONST, pos, k + 1)
                pos = k + 1
            elif c in "+-." or c.isdigit():
                ok, k = _scan_number(text, pos)
                if not ok:
                    return err(f"bad number syntax: {go_quote(text[pos:k])}", start)
                emit(_NUMBER, pos, k)
                pos = k
            elif _is_alnum(c):
                k = pos
                while k < n and _is_alnum(text[k]):
                    k += 1
                if not at_terminator(k):
                    return err(f"bad character {_go_rune(text[k])}", start)
                word = text[pos:k]
                kw = _KEYWORDS.get(word)
                if kw is not None and kw != _DOT:
                    emit(kw, pos, k)
                elif word in ("true", "false"):
                    emit(_BOOL, pos, k)
                else:
                    emit(_IDENT, pos, k)
                pos = k
            elif c == "(":
                emit(_LPAREN, pos, pos + 1)
                depth += 1
                pos += 1
            elif c == ")":
                emit(_RPAREN, pos, pos + 1)
                depth -= 1
                pos += 1
                if depth < 0:
                    return err(f"unexpected right paren {_go_rune(c)}", start)
            elif ord(c) < 0x80 and c.isprintable():
                emit(_CHAR, pos, pos + 1)
                pos += 1
            else:
                return err(f"unrecognized character in action: {_go_rune(c)}", start)


def _go_rune(c: str) -> str:
    """Go's ``%#U``."""
    return f"U+{ord(c):04X} '{c}'" if c.isprintable() else f"U+{ord(c):04X}"


def _scan_number(s: str, i: int) -> tuple[bool, int]:
    n = len(s)

    def accept(p: int, chars: str) -> int:
        return p + 1 if p < n and s[p] in chars else p

    def run(p: int, chars: str) -> int:
        while p < n and s[p] in chars:
            p += 1
        return p

    p = accept(i, "+-")
    digits = "0123456789_"
    if p < n and s[p] == "0" and p + 1 < n and s[p + 1] in "xXoObB":
        kind = s[p + 1].lower()
        p += 2
        digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[kind]
    p = run(p, digits)
    if p < n and s[p] == ".":
        p = run(p + 1, digits)
    if len(digits) == 11 and p < n and s[p] in "eE":
        p = run(accept(p + 1, "+-"), "0123456789_")
    if len(digits) == 23 and p < n and s[p] in "pP":
        p = run(accept(p + 1, "+-"), "0123456789_")
    p = accept(p, "i")
    if p < n and _is_alnum(s[p]):
        return False, p + 1
    return True, p


# =========================================================================== AST


@dataclass
class _Node:
    pos: int


@dataclass
class _Text(_Node):
    text: str


@dataclass
class _Pipe(_Node):
    decl: list[str]
    is_assign: bool
    cmds: list[_Command]


@dataclass
class _Command(_Node):
    args: list[_Node]


@dataclass
class _Action(_Node):
    pipe: _Pipe


@dataclass
class _Ident(_Node):
    name: str


@dataclass
class _Variable(_Node):
    ident: list[str]


@dataclass
class _Field(_Node):
    ident: list[str]


@dataclass
class _Chain(_Node):
    node: _Node
    fields: list[str]


@dataclass
class _Dot(_Node):
    pass


@dataclass
class _Nil(_Node):
    pass


@dataclass
class _Bool(_Node):
    val: bool


@dataclass
class _Number(_Node):
    text: str
    is_int: bool
    is_float: bool
    int_val: int
    float_val: float


@dataclass
class _String(_Node):
    quoted: str
    text: str


@dataclass
class _List(_Node):
    nodes: list[_Node]


@dataclass
class _Branch(_Node):
    kind: str  # "if", "range", "with"
    pipe: _Pipe
    body: _List
    else_body: _List | None


@dataclass
class _TemplateCall(_Node):
    name: str
    pipe: _Pipe | None


@dataclass
class _Break(_Node):
    pass


@dataclass
class _Continue(_Node):
    pass


@dataclass
class _End(_Node):
    pass


@dataclass
class _Else(_Node):
    pass


def _node_str(n: _Node | None) -> str:
    """Go's ``Node.String()`` (used in error messages)."""
    if n is None:
        return ""
    if isinstance(n, _Ident):
        return n.name
    if isinstance(n, _Variable):
        return ".".join(n.ident)
    if isinstance(n, _Field):
        return "".join("." + f for f in n.ident)
    if isinstance(n, _Chain):
        inner = _node_str(n.node)
        if isinstance(n.node, _Pipe):
            inner = "(" + inner + ")"
        return inner + "".join("." + f for f in n.fields)
    if isinstance(n, _Dot):
        return "."
    if isinstance(n, _Nil):
        return "nil"
    if isinstance(n, _Bool):
        return "true" if n.val else "false"
    if isinstance(n, _Number):
        return n.text
    if isinstance(n, _String):
        return n.quoted
    if isinstance(n, _Command):
        parts = []
        for a in n.args:
            s = _node_str(a)
            parts.append("(" + s + ")" if isinstance(a, _Pipe) else s)
        return " ".join(parts)
    if isinstance(n, _Pipe):
        s = ""
        if n.decl:
            s = ", ".join(n.decl) + (" = " if n.is_assign else " := ")
        return s + " | ".join(_node_str(c) for c in n.cmds)
    if isinstance(n, _Action):
        return "{{" + _node_str(n.pipe) + "}}"
    if isinstance(n, _TemplateCall):
        if n.pipe is None:
            return "{{template " + go_quote(n.name) + "}}"
        return "{{template " + go_quote(n.name) + " " + _node_str(n.pipe) + "}}"
    if isinstance(n, _End):
        return "{{end}}"
    if isinstance(n, _Else):
        return "{{else}}"
    if isinstance(n, _Break):
        return "{{break}}"
    if isinstance(n, _Continue):
        return "{{continue}}"
    if isinstance(n, _Text):
        return n.text
    return type(n).__name__


def _go_unquote(s: str) -> str:
    """Go's ``strconv.Unquote`` for ``"..."``, raw and ``'c'`` literals (ValueError if invalid)."""
    if len(s) < 2:
        raise ValueError("invalid syntax")
    q = s[0]
    if q == "`":
        if s[-1] != "`":
            raise ValueError("invalid syntax")
        return s[1:-1].replace("\r", "")
    if q not in "\"'" or s[-1] != q:
        raise ValueError("invalid syntax")
    body = s[1:-1]
    out: list[str] = []
    i = 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}
    while i < len(body):
        c = body[i]
        if c == q and q == '"':
            raise ValueError("invalid syntax")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("invalid syntax")
        e = body[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == q:
            out.append(q)
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            hexs = body[i + 2 : i + 2 + width]
            if len(hexs) != width or not all(h in "0123456789abcdefABCDEF" for h in hexs):
                raise ValueError("invalid syntax")
            v = int(hexs, 16)
            if e == "x":
                out.append(bytes([v]).decode("latin-1") if v >= 0x80 else chr(v))
            else:
                if v > 0x10FFFF or 0xD800 <= v < 0xE000:
                    raise ValueError("invalid syntax")
                out.append(chr(v))
            i += 2 + width
        elif e in "01234567":
            octs = body[i + 1 : i + 4]
            if len(octs) != 3 or not all(o in "01234567" for o in octs) or int(octs, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(octs, 8)))
            i += 4
        else:
            raise ValueError("invalid syntax")
    res = "".join(out)
    if q == "'" and len(res) != 1:
        raise ValueError("invalid syntax")
    return res


# =========================================================================== parser

_BUILTINS = {
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "call",
}


class _ParseFail(Exception):
    def __init__(self, line: int, msg: str) -> None:
        super().__init__(msg)
        self.line = line
        self.msg = msg


class _Parser:
    def __init__(self, name: str, text: str, funcs: Iterable[str]) -> None:
        self.name = name
        self.text = text
        self.funcs = set(funcs) | _BUILTINS
        self.items = _lex(text)
        self.i = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defs: dict[str, _List] = {}
        self.last: _Item = self.items[0]

    # -- token stream
    def next(self) -> _Item:
        it = self.items[min(self.i, len(self.items) - 1)]
        self.i += 1
        self.last = it
        return it

    def backup(self, k: int = 1) -> None:
        self.i -= k

    def peek(self) -> _Item:
        return self.items[min(self.i, len(self.items) - 1)]

    def next_nonspace(self) -> _Item:
        while True:
            it = self.next()
            if it.typ != _SPACE:
                return it

    def peek_nonspace(self) -> _Item:
        it = self.next_nonspace()
        self.backup()
        return it

    def fail(self, msg: str, item: _Item | None = None) -> _ParseFail:
        return _ParseFail((item or self.last).line, msg)

    def unexpected(self, it: _Item, context: str) -> _ParseFail:
        if it.typ == _ERROR:
            return self.fail(it.val, it)
        return self.fail(f"unexpected {it} in {context}", it)

    def expect(self, typ: int, context: str) -> _Item:
        it = self.next_nonspace()
        if it.typ != typ:
            raise self.unexpected(it, context)
        return it

    # -- grammar
    def parse(self) -> _List:
        root = _List(0, [])
        while self.peek().typ != _EOF:
            if self.peek().typ == _LDELIM:
                delim = self.next()
                if self.next_nonspace().typ == _DEFINE:
                    self.parse_definition()
                    continue
                # back up to the delimiter
                while self.items[min(self.i, len(self.items) - 1)] is not delim:
                    self.i -= 1
            n = self.text_or_action()
            if isinstance(n, _End | _Else):
                raise self.fail(f"unexpected {_node_str(n)}")
            root.nodes.append(n)
        return root

    def parse_definition(self) -> None:
        context = "define clause"
        name_it = self.next_nonspace()
        if name_it.typ not in (_STRING, _RAW):
            raise self.unexpected(name_it, context)
        try:
            name = _go_unquote(name_it.val)
        except ValueError:
            raise self.fail(f"invalid syntax: {name_it.val}", name_it) from None
        self.expect(_RDELIM, context)
        saved_vars = self.vars
        self.vars = ["$"]
        body, end = self.item_list()
        self.vars = saved_vars
        if not isinstance(end, _End):
            raise self.fail(f"unexpected {_node_str(end)} in {context}")
        self.defs[name] = body

    def item_list(self) -> tuple[_List, _Node]:
        lst = _List(self.peek().pos, [])
        while self.peek_nonspace().typ != _EOF:
            n = self.text_or_action()
            if isinstance(n, _End | _Else):
                return lst, n
            lst.nodes.append(n)
        raise self.fail("unexpected EOF")

    def text_or_action(self) -> _Node:
        it = self.next_nonspace()
        if it.typ == _TEXT:
            return _Text(it.pos, it.val)
        if it.typ == _LDELIM:
            return self.action()
        raise self.unexpected(it, "input")

    def action(self) -> _Node:
        it = self.next_nonspace()
        t = it.typ
        if t == _BLOCK:
            return self.block_control()
        if t == _BREAK:
            return self.break_control(it, "break")
        if t == _CONTINUE:
            return self.break_control(it, "continue")
        if t == _ELSE:
            return self.else_control()
        if t == _END:
            return _End(self.expect(_RDELIM, "end").pos)
        if t == _IF:
            return self.control("if", it)
        if t == _RANGE:
            return self.control("range", it)
        if t == _TEMPLATE:
            return self.template_control()
        if t == _WITH:
            return self.control("with", it)
        self.backup()
        tok = self.peek()
        return _Action(tok.pos, self.pipeline("command", _RDELIM))

    def break_control(self, it: _Item, kind: str) -> _Node:
        tok = self.next_nonspace()
        if tok.typ != _RDELIM:
            raise self.unexpected(tok, "{{" + kind + "}}")
        if self.range_depth == 0:
            raise self.fail("{{" + kind + "}} outside {{range}}", it)
        return _Break(it.pos) if kind == "break" else _Continue(it.pos)

    def else_control(self) -> _Node:
        p = self.peek_nonspace()
        if p.typ in (_IF, _WITH):
            return _Else(p.pos)
        tok = self.expect(_RDELIM, "else")
        return _Else(tok.pos)

    def control(self, context: str, it: _Item) -> _Node:
        nvars = len(self.vars)
        pipe = self.pipeline(context, _RDELIM)
        if context == "range":
            self.range_depth += 1
        body, nxt = self.item_list()
        if context == "range":
            self.range_depth -= 1
        else_body: _List | None = None
        if isinstance(nxt, _Else):
            if context in ("if", "with") and self.peek().typ == (_IF if context == "if" else _WITH):
                sub = self.next()
                else_body = _List(nxt.pos, [self.control(context, sub)])
            else:
                else_body, nxt2 = self.item_list()
                if not isinstance(nxt2, _End):
                    raise self.fail(f"expected end; found {_node_str(nxt2)}")
        del self.vars[nvars:]
        return _Branch(it.pos, context, pipe, body, else_body)

    def block_control(self) -> _Node:
        context = "block clause"
        tok = self.next_nonspace()
        if tok.typ not in (_STRING, _RAW):
            raise self.unexpected(tok, context)
        name = _go_unquote(tok.val)
        pipe = self.pipeline(context, _RDELIM)
        saved = self.vars
        self.vars = ["$"]
        body, end = self.item_list()
        self.vars = saved
        if not isinstance(end, _End):
            raise self.fail(f"unexpected {_node_str(end)} in {context}")
        self.defs[name] = body
        return _TemplateCall(tok.pos, name, pipe)

    def template_control(self) -> _Node:
        context = "template clause"
        tok = self.next_nonspace()
        if tok.typ not in (_STRING, _RAW):
            raise self.unexpected(tok, context)
        try:
            name = _go_unquote(tok.val)
        except ValueError:
            raise self.fail(f"invalid syntax: {tok.val}", tok) from None
        pipe = None
        if self.next_nonspace().typ != _RDELIM:
            self.backup()
            pipe = self.pipeline(context, _RDELIM)
        return _TemplateCall(tok.pos, name, pipe)

    def pipeline(self, context: str, end: int) -> _Pipe:
        tok = self.peek_nonspace()
        pipe = _Pipe(tok.pos, [], False, [])
        # declarations
        while True:
            v = self.peek_nonspace()
            if v.typ != _VARIABLE:
                break
            self.next_nonspace()
            after = self.peek()
            nxt = self.peek_nonspace()
            if nxt.typ in (_ASSIGN, _DECLARE):
                pipe.is_assign = nxt.typ == _ASSIGN
                self.next_nonspace()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
                break
            if nxt.typ == _CHAR and nxt.val == ",":
                self.next_nonspace()
                pipe.decl.append(v.val)
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    nn = self.peek_nonspace()
                    if nn.typ in (_VARIABLE, _RDELIM, _RPAREN):
                        continue
                    raise self.fail("range can only initialize variables")
                raise self.fail(f"too many declarations in {context}")
            # not a declaration: the variable is the first operand
            del after
            while self.items[min(self.i, len(self.items) - 1)] is not v:
                self.i -= 1
            break
        while True:
            it = self.next_nonspace()
            if it.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if it.typ in (
                _BOOL,
                _CHARCONST,
                _DOT,
                _FIELD,
                _IDENT,
                _NUMBER,
                _NIL,
                _RAW,
                _STRING,
                _VARIABLE,
                _LPAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(it, context)

    def check_pipeline(self, pipe: _Pipe, context: str) -> None:
        if not pipe.cmds:
            raise self.fail(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], _Bool | _Dot | _Nil | _Number | _String):
                raise self.fail(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> _Command:
        cmd = _Command(self.peek_nonspace().pos, [])
        while True:
            self.peek_nonspace()
            op = self.operand()
            if op is not None:
                cmd.args.append(op)
            it = self.next()
            if it.typ == _SPACE:
                continue
            if it.typ in (_RDELIM, _RPAREN):
                self.backup()
            elif it.typ == _PIPE:
                pass
            else:
                raise self.unexpected(it, "operand")
            break
        if not cmd.args:
            raise self.fail("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == _FIELD:
            fields: list[str] = []
            while self.peek().typ == _FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, _Field):
                return _Field(node.pos, node.ident + fields)
            if isinstance(node, _Variable):
                return _Variable(node.pos, node.ident + fields)
            if isinstance(node, _Bool | _String | _Number | _Nil | _Dot):
                raise self.fail(f"unexpected . after term {go_quote(_node_str(node))}")
            return _Chain(node.pos, node, fields)
        return node

    def term(self) -> _Node | None:
        it = self.next_nonspace()
        t = it.typ
        if t == _IDENT:
            if it.val not in self.funcs:
                raise self.fail(f"function {go_quote(it.val)} not defined", it)
            return _Ident(it.pos, it.val)
        if t == _DOT:
            return _Dot(it.pos)
        if t == _NIL:
            return _Nil(it.pos)
        if t == _VARIABLE:
            parts = it.val.split(".")
            if parts[0] not in self.vars:
                raise self.fail(f"undefined variable {go_quote(parts[0])}", it)
            return _Variable(it.pos, parts)
        if t == _FIELD:
            return _Field(it.pos, [it.val[1:]])
        if t == _BOOL:
            return _Bool(it.pos, it.val == "true")
        if t in (_CHARCONST, _NUMBER):
            return self.number(it)
        if t == _LPAREN:
            return self.pipeline("parenthesized pipeline", _RPAREN)
        if t in (_STRING, _RAW):
            try:
                return _String(it.pos, it.val, _go_unquote(it.val))
            except ValueError:
                raise self.fail(f"invalid syntax: {it.val}", it) from None
        self.backup()
        return None

    def number(self, it: _Item) -> _Number:
        text = it.val
        if it.typ == _CHARCONST:
            try:
                c = _go_unquote(text)
            except ValueError:
                raise self.fail(f"malformed character constant: {text}", it) from None
            v = ord(c)
            return _Number(it.pos, text, True, True, v, float(v))
        if text.endswith("i"):
            raise self.fail(f"illegal number syntax: {go_quote(text)}", it)
        is_int = False
        iv = 0
        try:
            if "_" in text and (text.startswith("_") or "__" in text or text.endswith("_")):
                raise ValueError
            iv = int(text, 0)
            is_int = -(1 << 63) <= iv < (1 << 63)
            if not is_int:
                raise self.fail(f"integer overflow: {go_quote(text)}", it)
        except ValueError:
            pass
        if is_int:
            return _Number(it.pos, text, True, True, iv, float(iv))
        try:
            if text.lower().startswith(("0x", "-0x", "+0x")):
                fv = float.fromhex(text.replace("_", ""))
            else:
                fv = float(text.replace("_", ""))
        except ValueError:
            raise self.fail(f"illegal number syntax: {go_quote(text)}", it) from None
        if math.isinf(fv):
            raise self.fail(f"illegal number syntax: {go_quote(text)}", it)
        if not any(c in text for c in ".eEpP"):
            raise self.fail(f"integer overflow: {go_quote(text)}", it)
        as_int = fv.is_integer() and abs(fv) < 2**63
        return _Number(it.pos, text, as_int, True, int(fv) if as_int else 0, fv)


def _is_hex_int(s: str) -> bool:
    t = s.lstrip("+-")
    return len(t) > 2 and t[0] == "0" and t[1] in "xX" and not any(c in "pP" for c in t)


# =========================================================================== functions


class _Func:
    """A template function with a Go-like signature (for arity and type checks)."""

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        params: Sequence[str],
        variadic: str | None = None,
        errors: bool = False,
    ) -> None:
        self.name = name
        self.fn = fn
        self.params = list(params)
        self.variadic = variadic
        self.errors = errors


class _FuncError(Exception):
    """An error returned by a template function (Go's ``error`` result)."""


def _convert_to_float(i: Any) -> float:
    if isinstance(i, bool):
        raise _FuncError("can't convert bool to float")
    if isinstance(i, int | float):
        return float(i)
    if isinstance(i, str):
        return _go_parse_float(i)
    if isinstance(i, GoDuration):
        return i.ns / 1e9
    raise _FuncError(f"can't convert {go_type_name(i)} to float")


def _go_parse_float(s: str) -> float:
    t = s
    low = t.lower().lstrip("+-")
    if low in ("inf", "infinity"):
        return -math.inf if t.startswith("-") else math.inf
    if low == "nan":
        return math.nan
    try:
        if not re.fullmatch(
            r"[+-]?(\d[\d_]*\.?[\d_]*|\.\d[\d_]*)([eE][+-]?\d+)?|[+-]?0[xX][0-9a-fA-F_.]+[pP][+-]?\d+", t
        ):
            raise ValueError
        if "x" in t.lower():
            return float.fromhex(t.replace("_", ""))
        return float(t.replace("_", ""))
    except ValueError:
        raise _FuncError(f"strconv.ParseFloat: parsing {go_quote(s)}: invalid syntax") from None


def humanize(v: Any) -> str:
    """Prometheus's ``humanize``: SI prefixes with 4 significant digits (``1.235M``)."""
    f = _convert_to_float(v)
    if f == 0 or math.isnan(f) or math.isinf(f):
        return go_format_float(f, "g", 4)
    if abs(f) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(f) < 1000:
                break
            prefix = p
            f /= 1000
        return go_format_float(f, "g", 4) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(f) >= 1:
            break
        prefix = p
        f *= 1000
    return go_format_float(f, "g", 4) + prefix


def humanize1024(v: Any) -> str:
    """Prometheus's ``humanize1024``: binary prefixes (``1Mi``)."""
    f = _convert_to_float(v)
    if abs(f) <= 1 or math.isnan(f) or math.isinf(f):
        return go_format_float(f, "g", 4)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(f) < 1024:
            break
        prefix = p
        f /= 1024
    return go_format_float(f, "g", 4) + prefix


def humanize_duration(v: Any) -> str:
    """Prometheus's ``humanizeDuration`` (seconds): ``3661`` -> ``1h 1m 1s``."""
    f = _convert_to_float(v)
    if math.isnan(f) or math.isinf(f):
        return go_format_float(f, "g", 4)
    if f == 0:
        return go_format_float(f, "g", 4) + "s"
    if abs(f) >= 1:
        sign = ""
        if f < 0:
            sign, f = "-", -f
        d = int(f)
        seconds = d % 60
        minutes = (d // 60) % 60
        hours = (d // 3600) % 24
        days = d // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_format_float(f, 'g', 4)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(f) >= 1:
            break
        prefix = p
        f *= 1000
    return f"{go_format_float(f, 'g', 4)}{prefix}s"


def humanize_percentage(v: Any) -> str:
    """Prometheus's ``humanizePercentage``: ``0.1234567`` -> ``12.35%``."""
    return go_format_float(_convert_to_float(v) * 100, "g", 4) + "%"


def _float_to_time(v: Any) -> GoTime:
    f = _convert_to_float(v)
    ts = f * 1e9
    if ts > 2**63 - 1 or ts < -(2**63):
        raise _FuncError(
            f"{go_format_float(f)} cannot be represented as a nanoseconds timestamp since it overflows int64"
        )
    # model.TimeFromUnixNano: millisecond precision.
    ms = int(ts) // 1_000_000 if ts >= 0 else -((-int(ts)) // 1_000_000)
    return GoTime(ms * 1_000_000)


def humanize_timestamp(v: Any) -> str:
    """Prometheus's ``humanizeTimestamp``: ``1435065584.128`` -> ``2015-06-23 13:19:44.128 +0000 UTC``."""
    f = _convert_to_float(v)
    if math.isnan(f) or math.isinf(f):
        return go_format_float(f, "g", 4)
    return str(_float_to_time(f))


def _go_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise _FuncError(f"error parsing regexp: {e}: `{pattern}`") from None


def _go_expand(template: str, m: re.Match[str]) -> str:
    """Go's ``Regexp.Expand`` replacement syntax: ``$1``, ``${1}``, ``$name``, ``$$``."""
    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        c = template[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            k = template.find("}", i + 2)
            name = template[i + 2 : k] if k > 0 else ""
            if k < 0 or not name or not all(_is_alnum(ch) for ch in name):
                out.append(c)
                i += 1
                continue
            i = k + 1
        else:
            k = i + 1
            while k < n and _is_alnum(template[k]):
                k += 1
            name = template[i + 1 : k]
            if not name:
                out.append(c)
                i += 1
                continue
            i = k
        try:
            g = m.group(int(name)) if name.isdigit() else m.group(name)
        except (IndexError, re.error):
            g = None
        out.append(g or "")
    return "".join(out)


def _re_replace_all(pattern: str, repl: str, text: str) -> str:
    rx = _go_regex(pattern)
    return rx.sub(lambda m: _go_expand(repl, m), text)


def _go_title(s: str) -> str:
    """Go's deprecated ``strings.Title``."""
    out = []
    prev = " "
    for c in s:
        sep = not (c.isalnum() or c == "_") if ord(c) < 0x80 else (c.isspace())
        prev_sep = not (prev.isalnum() or prev == "_") if ord(prev) < 0x80 else prev.isspace()
        out.append(c.upper() if prev_sep and not sep else c)
        prev = c
    return "".join(out)


def _split_host_port(hp: str) -> tuple[str, str] | None:
    if hp.startswith("["):
        k = hp.find("]")
        if k < 0 or not hp[k + 1 :].startswith(":"):
            return None
        return hp[1:k], hp[k + 2 :]
    if hp.count(":") != 1:
        return None
    h, p = hp.split(":")
    return h, p


def _strip_port(hp: str) -> str:
    sp = _split_host_port(hp)
    return hp if sp is None else sp[0]


def _strip_domain(hp: str) -> str:
    sp = _split_host_port(hp)
    host, port = (hp, "") if sp is None else sp
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return hp
    except ValueError:
        pass
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def go_query_escape(s: str) -> str:
    """Go's ``url.QueryEscape``."""
    return urllib.parse.quote_plus(s, safe="-_.~")


def table_link(expr: str) -> str:
    """Prometheus's ``strutil.TableLinkForExpression``."""
    return "/graph?g0.expr=" + go_query_escape(expr) + "&g0.tab=1"


def graph_link(expr: str) -> str:
    """Prometheus's ``strutil.GraphLinkForExpression``."""
    return "/graph?g0.expr=" + go_query_escape(expr) + "&g0.tab=0"


def _html_escape(s: str) -> str:
    return (
        s.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("\x00", "\ufffd")
    )


def _js_escape(s: str) -> str:
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == "'":
            out.append("\\'")
        elif c == '"':
            out.append('\\"')
        elif c == "<":
            out.append("\\u003C")
        elif c == ">":
            out.append("\\u003E")
        elif c == "&":
            out.append("\\u0026")
        elif c == "=":
            out.append("\\u003D")
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _eval_args_string(args: Sequence[Any]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return go_sprint(*args)


def _builtin_len(item: Any) -> int:
    if isinstance(item, str | list | tuple | dict):
        return GoInt(len(item.encode() if isinstance(item, str) else item))
    raise _FuncError(f"len of type {go_type_name(item)}")


def _builtin_index(item: Any, *indexes: Any) -> Any:
    if item is None or item is NO_VALUE:
        raise _FuncError("index of untyped nil")
    for idx in indexes:
        if isinstance(item, dict):
            if not isinstance(idx, str):
                raise _FuncError(f"value has type {go_type_name(idx)}; should be string")
            if idx in item:
                item = item[idx]
            else:
                item = NO_VALUE if isinstance(item, _IfaceMap) else ""
        elif isinstance(item, list | tuple | str):
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise _FuncError(f"cannot index slice/array with type {go_type_name(idx)}")
            if idx < 0 or idx >= len(item):
                raise _FuncError(f"index out of range: {idx}")
            item = item[idx] if not isinstance(item, str) else GoInt(item.encode()[idx])
        else:
            raise _FuncError(f"can't index item of type {go_type_name(item)}")
    return item


def _builtin_slice(item: Any, *indexes: Any) -> Any:
    if not isinstance(item, str | list | tuple):
        raise _FuncError(f"can't slice item of type {go_type_name(item)}")
    if len(indexes) > 3:
        raise _FuncError(f"too many slice indexes: {len(indexes)}")
    idx = [int(i) for i in indexes]
    cap = len(item)
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else cap
    if not 0 <= lo <= hi <= cap:
        raise _FuncError(f"invalid slice index: {lo} > {hi}" if lo > hi else f"index out of range: {hi}")
    return item[lo:hi]


class _Kind:
    BOOL, COMPLEX, INT, FLOAT, STRING, UINT, INVALID = range(7)


def _basic_kind(v: Any) -> int:
    if isinstance(v, bool):
        return _Kind.BOOL
    if isinstance(v, int):
        return _Kind.INT
    if isinstance(v, float):
        return _Kind.FLOAT
    if isinstance(v, str):
        return _Kind.STRING
    return _Kind.INVALID


_ERR_BAD_CMP = "incompatible types for comparison"
_ERR_BAD_CMP_TYPE = "invalid type for comparison"
_ERR_NO_CMP = "missing argument for comparison"


def _builtin_eq(a1: Any, *a2: Any) -> bool:
    if not a2:
        raise _FuncError(_ERR_NO_CMP)
    k1 = _basic_kind(a1)
    for arg in a2:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if a1 is NO_VALUE or arg is NO_VALUE:
                truth = False
            else:
                raise _FuncError(_ERR_BAD_CMP)
        elif k1 == _Kind.INVALID:
            if a1 is None or arg is None:
                truth = a1 is arg
            else:
                try:
                    truth = a1 == arg
                except Exception:  # noqa: BLE001
                    raise _FuncError("non-comparable types") from None
        else:
            truth = a1 == arg
        if truth:
            return True
    return False


def _builtin_ne(a1: Any, a2: Any) -> bool:
    return not _builtin_eq(a1, a2)


def _builtin_lt(a1: Any, a2: Any) -> bool:
    k1, k2 = _basic_kind(a1), _basic_kind(a2)
    if k1 in (_Kind.BOOL, _Kind.COMPLEX, _Kind.INVALID):
        raise _FuncError(_ERR_BAD_CMP_TYPE)
    if k1 != k2:
        raise _FuncError(_ERR_BAD_CMP)
    return bool(a1 < a2)


def _builtin_le(a1: Any, a2: Any) -> bool:
    return _builtin_lt(a1, a2) or _builtin_eq(a1, a2)


def _builtin_gt(a1: Any, a2: Any) -> bool:
    return not _builtin_le(a1, a2)


def _builtin_ge(a1: Any, a2: Any) -> bool:
    return not _builtin_lt(a1, a2)


def _builtin_call(fn: Any, *args: Any) -> Any:
    if fn is None or fn is NO_VALUE:
        raise _FuncError("call of nil")
    if not callable(fn):
        raise _FuncError(f"non-function of type {go_type_name(fn)}")
    return fn(*args)


def _builtin_funcs() -> dict[str, _Func]:
    f = _Func
    return {
        "and": f("and", lambda *a: a, [], "any"),
        "or": f("or", lambda *a: a, [], "any"),
        "not": f("not", lambda a: not _truth(a), ["any"]),
        "len": f("len", _builtin_len, ["any"], errors=True),
        "index": f("index", _builtin_index, ["any"], "any", errors=True),
        "slice": f("slice", _builtin_slice, ["any"], "any", errors=True),
        "print": f("print", go_sprint, [], "any"),
        "printf": f("printf", go_sprintf, ["string"], "any"),
        "println": f("println", lambda *a: " ".join(go_sprint_value(x) for x in a) + "\n", [], "any"),
        "html": f("html", lambda *a: _html_escape(_eval_args_string(a)), [], "any"),
        "js": f("js", lambda *a: _js_escape(_eval_args_string(a)), [], "any"),
        "urlquery": f("urlquery", lambda *a: go_query_escape(_eval_args_string(a)), [], "any"),
        "eq": f("eq", _builtin_eq, ["any"], "any", errors=True),
        "ne": f("ne", _builtin_ne, ["any", "any"], errors=True),
        "lt": f("lt", _builtin_lt, ["any", "any"], errors=True),
        "le": f("le", _builtin_le, ["any", "any"], errors=True),
        "gt": f("gt", _builtin_gt, ["any", "any"], errors=True),
        "ge": f("ge", _builtin_ge, ["any", "any"], errors=True),
        "call": f("call", _builtin_call, ["any"], "any", errors=True),
    }


_BUILTIN_FUNCS = _builtin_funcs()


def _query_result_funcs() -> dict[str, _Func]:
    def first(v: QueryResult) -> QuerySample:
        if v:
            return v[0]
        raise _FuncError("first() called on vector with no elements")

    def sort_by_label(label: str, v: QueryResult) -> QueryResult:
        return QueryResult(sorted(v, key=lambda s: s.Labels.get(label, "")))

    def args(*a: Any) -> _IfaceMap:
        return _IfaceMap({f"arg{i}": x for i, x in enumerate(a)})

    def match(pattern: str, s: str) -> bool:
        return _go_regex(pattern).search(s) is not None

    def to_time(i: Any) -> GoTime:
        return _float_to_time(i)

    def to_duration(i: Any) -> GoDuration:
        fv = _convert_to_float(i)
        ns = fv * 1e9
        if ns > 2**63 - 1 or ns < -(2**63):
            raise _FuncError(
                f"{go_format_float(fv)} cannot be represented as a nanoseconds duration since it overflows int64"
            )
        return GoDuration(int(ns))

    def parse_dur(d: str) -> float:
        from promql.parser import _model_parse_duration

        try:
            return _model_parse_duration(d) / 1000.0
        except ValueError as e:
            raise _FuncError(str(e)) from None

    f = _Func
    return {
        "first": f("first", first, ["queryResult"], errors=True),
        "label": f("label", lambda lbl, s: s.Labels.get(lbl, ""), ["string", "sample"]),
        "value": f("value", lambda s: s.Value, ["sample"]),
        "strvalue": f("strvalue", lambda s: s.Labels.get("__value__", ""), ["sample"]),
        "args": f("args", args, [], "any"),
        "reReplaceAll": f("reReplaceAll", _re_replace_all, ["string", "string", "string"], errors=True),
        "safeHtml": f("safeHtml", lambda s: s, ["string"]),
        "match": f("match", match, ["string", "string"], errors=True),
        "title": f("title", _go_title, ["string"]),
        "toUpper": f("toUpper", lambda s: s.upper(), ["string"]),
        "toLower": f("toLower", lambda s: s.lower(), ["string"]),
        "trimSpace": f("trimSpace", lambda s: s.strip(" \t\n\r\v\f\u0085\u00a0"), ["string"]),
        "graphLink": f("graphLink", graph_link, ["string"]),
        "tableLink": f("tableLink", table_link, ["string"]),
        "sortByLabel": f("sortByLabel", sort_by_label, ["string", "queryResult"]),
        "stripPort": f("stripPort", _strip_port, ["string"]),
        "stripDomain": f("stripDomain", _strip_domain, ["string"]),
        "humanize": f("humanize", humanize, ["any"], errors=True),
        "humanize1024": f("humanize1024", humanize1024, ["any"], errors=True),
        "humanizeDuration": f("humanizeDuration", humanize_duration, ["any"], errors=True),
        "humanizePercentage": f("humanizePercentage", humanize_percentage, ["any"], errors=True),
        "humanizeTimestamp": f("humanizeTimestamp", humanize_timestamp, ["any"], errors=True),
        "toTime": f("toTime", to_time, ["any"], errors=True),
        "toDuration": f("toDuration", to_duration, ["any"], errors=True),
        "parseDuration": f("parseDuration", parse_dur, ["string"], errors=True),
        "urlQueryEscape": f("urlQueryEscape", go_query_escape, ["string"]),
    }


_STATIC_FUNCS = _query_result_funcs()


def prometheus_funcs(
    query_fn: QueryFunc | None = None,
    timestamp_ms: int = 0,
    external_url: str = "",
) -> dict[str, _Func]:
    """Prometheus's template function map (``template.NewTemplateExpander``)."""

    def query(q: str) -> QueryResult:
        if query_fn is None:
            raise _FuncError("query function not available")
        try:
            res = query_fn(q, timestamp_ms)
        except Exception as e:  # noqa: BLE001 - the query's error is the function's error
            raise _FuncError(str(e)) from None
        return QueryResult(QuerySample(dict(lbls), float(v)) for lbls, v in res)

    def path_prefix() -> str:
        return urllib.parse.urlsplit(external_url).path

    f = _Func
    out = dict(_STATIC_FUNCS)
    out["query"] = f("query", query, ["string"], errors=True)
    out["now"] = f("now", lambda: timestamp_ms / 1000.0, [])
    out["pathPrefix"] = f("pathPrefix", path_prefix, [])
    out["externalURL"] = f("externalURL", lambda: external_url, [])
    return out


PROMETHEUS_FUNC_NAMES = frozenset(prometheus_funcs())


# =========================================================================== executor


def _truth(v: Any) -> bool:
    if v is NO_VALUE or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0
    return True


class _BreakSignal(Exception):
    pass


class _ContinueSignal(Exception):
    pass


class _ExecFail(Exception):
    def __init__(self, node: _Node | None, msg: str) -> None:
        super().__init__(msg)
        self.node = node
        self.msg = msg


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "float64": lambda v: isinstance(v, float),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "queryResult": lambda v: isinstance(v, QueryResult),
    "sample": lambda v: isinstance(v, QuerySample),
}
_GO_PARAM_TYPES = {
    "string": "string",
    "float64": "float64",
    "int": "int",
    "bool": "bool",
    "queryResult": "template.queryResult",
    "sample": "*template.sample",
    "any": "interface {}",
}


class Template:
    """A parsed template; ``execute(data)`` renders it."""

    def __init__(self, name: str, text: str, root: _List, defs: dict[str, _List], funcs: dict[str, _Func]):
        self.name = name
        self.text = text
        self.root = root
        self.defs = defs
        self.funcs = funcs

    def execute(self, data: Any) -> str:
        """Render with ``data`` as dot (and ``$``); raises :class:`TemplateExecError`."""
        st = _State(self, data)
        try:
            st.walk(data, self.root)
        except _ExecFail as e:
            raise TemplateExecError(self._exec_msg(e)) from None
        except RecursionError:
            raise TemplateExecError(f"template: {self.name}: exceeded maximum template depth") from None
        return "".join(st.out)

    def _exec_msg(self, e: _ExecFail) -> str:
        if e.node is None:
            return f"template: {self.name}: {e.msg}"
        pos = e.node.pos
        before = self.text[:pos]
        line = 1 + before.count("\n")
        nl = before.rfind("\n")
        col = pos if nl < 0 else pos - (nl + 1)
        return (
            f"template: {self.name}:{line}:{col}: executing {go_quote(self.name)} "
            f"at <{_node_str(e.node)}>: {e.msg}"
        )


class _State:
    def __init__(self, tmpl: Template, data: Any) -> None:
        self.tmpl = tmpl
        self.out: list[str] = []
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.depth = 0

    # -- variables
    def push(self, name: str, v: Any) -> None:
        self.vars.append((name, v))

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, v: Any, node: _Node) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, v)
                return
        raise _ExecFail(node, f"undefined variable: {name}")

    def var_value(self, name: str, node: _Node) -> Any:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        raise _ExecFail(node, f"undefined variable: {name}")

    # -- walking
    def walk(self, dot: Any, node: _Node) -> None:
        if isinstance(node, _Text):
            self.out.append(node.text)
        elif isinstance(node, _Action):
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, val)
        elif isinstance(node, _List):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, _Branch):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                mark = self.mark()
                val = self.eval_pipeline(dot, node.pipe)
                if _truth(val):
                    self.walk(val if node.kind == "with" else dot, node.body)
                elif node.else_body is not None:
                    self.walk(dot, node.else_body)
                self.pop(mark)
        elif isinstance(node, _TemplateCall):
            body = self.tmpl.defs.get(node.name)
            if body is None:
                raise _ExecFail(node, f"template {go_quote(node.name)} not defined")
            new_dot = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else None
            self.depth += 1
            if self.depth > 100000:
                raise _ExecFail(node, "exceeded maximum template depth (100000)")
            saved = self.vars
            self.vars = [("$", new_dot)]
            try:
                self.walk(new_dot, body)
            finally:
                self.vars = saved
                self.depth -= 1
        elif isinstance(node, _Break):
            raise _BreakSignal()
        elif isinstance(node, _Continue):
            raise _ContinueSignal()
        else:
            raise _ExecFail(node, f"unknown node: {_node_str(node)}")

    def walk_range(self, dot: Any, node: _Branch) -> None:
        mark = self.mark()
        val = self.eval_pipeline(dot, node.pipe)
        # the pipeline's own declarations are the loop variables
        self.pop(mark)
        decl = node.pipe.decl

        def one(key: Any, elem: Any) -> bool:
            m2 = self.mark()
            if decl:
                if len(decl) > 1:
                    self.push(decl[0], key)
                    self.push(decl[1], elem)
                else:
                    self.push(decl[0], elem)
            try:
                self.walk(elem, node.body)
            except _ContinueSignal:
                pass
            except _BreakSignal:
                return False
            finally:
                self.pop(m2)
            return True

        items: list[tuple[Any, Any]]
        if isinstance(val, list | tuple):
            items = [(GoInt(i), e) for i, e in enumerate(val)]
        elif isinstance(val, dict):
            items = [(k, val[k]) for k in sorted(val)]
        elif isinstance(val, int) and not isinstance(val, bool):
            items = [(GoInt(i), GoInt(i)) for i in range(int(val))]
        elif val is None or val is NO_VALUE:
            items = []
        else:
            raise _ExecFail(node, f"range can't iterate over {go_sprint_value(val)}")
        if not items:
            if node.else_body is not None:
                self.walk(dot, node.else_body)
            return
        for k, e in items:
            if not one(k, e):
                break

    def print_value(self, node: _Node, v: Any) -> None:
        if callable(v) and not isinstance(v, type):
            raise _ExecFail(node, f"can't print {_node_str(node)} of type {go_type_name(v)}")
        self.out.append(go_sprint_value(v))

    # -- pipelines
    def eval_pipeline(self, dot: Any, pipe: _Pipe) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        if value is _MISSING:
            value = NO_VALUE
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value, pipe)
            else:
                self.push(name, value)
        return value

    def eval_command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Field):
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, _Chain):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, _Ident):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, _Variable):
            return self.eval_variable(dot, first, cmd.args, final)
        self.not_a_function(cmd.args, final)
        if isinstance(first, _Bool):
            return first.val
        if isinstance(first, _Dot):
            return dot
        if isinstance(first, _Nil):
            raise _ExecFail(first, "nil is not a command")
        if isinstance(first, _Number):
            return self.ideal_constant(first)
        if isinstance(first, _String):
            return first.text
        raise _ExecFail(first, f"can't evaluate command {go_quote(_node_str(first))}")

    def not_a_function(self, args: list[_Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            raise _ExecFail(args[0], f"can't give argument to non-function {_node_str(args[0])}")

    def ideal_constant(self, n: _Number) -> Any:
        if (
            n.is_float
            and not _is_hex_int(n.text)
            and not n.text.startswith("'")
            and any(c in n.text for c in ".eEpP")
        ):
            return float(n.float_val)
        if n.is_int:
            return GoInt(n.int_val)
        raise _ExecFail(n, f"{n.text} overflows int")

    def eval_variable(self, dot: Any, v: _Variable, args: list[_Node], final: Any) -> Any:
        value = self.var_value(v.ident[0], v)
        if len(v.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, v, v.ident[1:], args, final)

    def eval_chain(self, dot: Any, chain: _Chain, args: list[_Node], final: Any) -> Any:
        if len(args) > 1 or final is not _MISSING:
            raise _ExecFail(chain, f"can't give argument to non-function {_node_str(chain.node)}")
        if isinstance(chain.node, _Pipe):
            pipe_val = self.eval_pipeline(dot, chain.node)
        else:
            pipe_val = self.eval_arg(dot, "any", chain.node)
        return self.eval_field_chain(dot, pipe_val, chain, chain.fields, args, final)

    def eval_field_chain(
        self, dot: Any, receiver: Any, node: _Node, ident: list[str], args: list[_Node], final: Any
    ) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, [], _MISSING, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(
        self, dot: Any, name: str, node: _Node, args: list[_Node], final: Any, receiver: Any
    ) -> Any:
        if receiver is NO_VALUE:
            return NO_VALUE
        has_args = len(args) > 1 or final is not _MISSING
        meth = getattr(receiver, "go_method", None)
        if meth is not None:
            r = meth(name)
            if r is not _MISSING:
                if has_args:
                    raise _ExecFail(node, f"wrong number of args for {name}: want 0 got {len(args) - 1}")
                return r
        if isinstance(receiver, dict):
            if has_args:
                raise _ExecFail(node, f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            return NO_VALUE if isinstance(receiver, _IfaceMap) else ""
        if receiver is None:
            raise _ExecFail(node, f"nil pointer evaluating {go_type_name(receiver)}.{name}")
        if isinstance(receiver, QuerySample | AlertTemplateData) and name[:1].isupper():
            if has_args:
                raise _ExecFail(node, f"{name} has arguments but cannot be invoked as function")
            if hasattr(receiver, name):
                return getattr(receiver, name)
        raise _ExecFail(node, f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def eval_function(self, dot: Any, node: _Ident, cmd: _Command, args: list[_Node], final: Any) -> Any:
        name = node.name
        fn = self.tmpl.funcs.get(name) or _BUILTIN_FUNCS.get(name)
        if fn is None:
            raise _ExecFail(node, f"{go_quote(name)} is not a defined function")
        if name in ("and", "or"):
            return self.eval_and_or(dot, node, name, args[1:], final)
        return self.eval_call(dot, fn, node, args, final)

    def eval_and_or(self, dot: Any, node: _Node, name: str, args: list[_Node], final: Any) -> Any:
        n = len(args) + (0 if final is _MISSING else 1)
        if n < 1:
            raise _ExecFail(node, f"wrong number of args for {name}: want at least 1 got 0")
        val: Any = NO_VALUE
        for a in args:
            val = self.eval_arg(dot, "any", a)
            if _truth(val) == (name == "or"):
                return val
        if final is not _MISSING:
            val = final
        return val

    def eval_call(self, dot: Any, fn: _Func, node: _Node, args: list[_Node], final: Any) -> Any:
        call_args = args[1:]
        num_in = len(call_args) + (0 if final is _MISSING else 1)
        nparams = len(fn.params)
        if fn.variadic is not None:
            if num_in < nparams:
                raise _ExecFail(
                    node, f"wrong number of args for {fn.name}: want at least {nparams} got {len(call_args)}"
                )
        elif num_in != nparams:
            raise _ExecFail(node, f"wrong number of args for {fn.name}: want {nparams} got {num_in}")

        def ptype(i: int) -> str:
            return fn.params[i] if i < nparams else (fn.variadic or "any")

        argv = [self.eval_arg(dot, ptype(i), a) for i, a in enumerate(call_args)]
        if final is not _MISSING:
            argv.append(self.validate_type(node, final, ptype(len(call_args))))
        try:
            return fn.fn(*argv)
        except _FuncError as e:
            raise _ExecFail(node, f"error calling {fn.name}: {e}") from None
        except (ValueError, TypeError, ZeroDivisionError, OverflowError, AttributeError) as e:
            raise _ExecFail(node, f"error calling {fn.name}: {e}") from None

    def validate_type(self, node: _Node, v: Any, typ: str) -> Any:
        if typ == "any":
            return v
        if v is NO_VALUE:
            if typ in ("queryResult", "sample"):
                return None
            raise _ExecFail(node, f"invalid value; expected {_GO_PARAM_TYPES[typ]}")
        if not _TYPE_CHECKS[typ](v):
            if typ == "sample" and v is None:
                return v
            raise _ExecFail(
                node, f"wrong type for value; expected {_GO_PARAM_TYPES[typ]}; got {go_type_name(v)}"
            )
        return v

    def eval_arg(self, dot: Any, typ: str, n: _Node) -> Any:
        if isinstance(n, _Dot):
            return self.validate_type(n, dot, typ)
        if isinstance(n, _Nil):
            if typ in ("any", "queryResult", "sample"):
                return None
            raise _ExecFail(n, f"cannot assign nil to {_GO_PARAM_TYPES[typ]}")
        if isinstance(n, _Field):
            return self.validate_type(n, self.eval_field_chain(dot, dot, n, n.ident, [n], _MISSING), typ)
        if isinstance(n, _Variable):
            return self.validate_type(n, self.eval_variable(dot, n, [n], _MISSING), typ)
        if isinstance(n, _Pipe):
            return self.validate_type(n, self.eval_pipeline(dot, n), typ)
        if isinstance(n, _Ident):
            fn = self.tmpl.funcs.get(n.name) or _BUILTIN_FUNCS.get(n.name)
            assert fn is not None
            return self.validate_type(n, self.eval_call(dot, fn, n, [n], _MISSING), typ)
        if isinstance(n, _Chain):
            return self.validate_type(n, self.eval_chain(dot, n, [n], _MISSING), typ)
        if typ == "any":
            if isinstance(n, _Bool):
                return n.val
            if isinstance(n, _Number):
                return self.ideal_constant(n)
            if isinstance(n, _String):
                return n.text
        elif typ == "string":
            if isinstance(n, _String):
                return n.text
            raise _ExecFail(n, f"expected string; found {_node_str(n)}")
        elif typ == "bool":
            if isinstance(n, _Bool):
                return n.val
            raise _ExecFail(n, f"expected bool; found {_node_str(n)}")
        elif typ == "int":
            if isinstance(n, _Number) and n.is_int:
                return GoInt(n.int_val)
            raise _ExecFail(n, f"expected integer; found {_node_str(n)}")
        elif typ == "float64":
            if isinstance(n, _Number) and n.is_float:
                return float(n.float_val)
            raise _ExecFail(n, f"expected float; found {_node_str(n)}")
        raise _ExecFail(n, f"can't handle {_node_str(n)} for arg of type {_GO_PARAM_TYPES.get(typ, typ)}")


# =========================================================================== public API


def parse(text: str, name: str = "", funcs: Mapping[str, _Func] | None = None) -> Template:
    """Parse ``text`` as a Go template; raises :class:`TemplateParseError` (Go's wording).

    Parsed trees are cached (they depend only on the text, the name and the function names).
    """
    fm = dict(prometheus_funcs() if funcs is None else funcs)
    root, defs = _parse_cached(text, name, frozenset(fm))
    return Template(name, text, root, defs, fm)


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str, name: str, func_names: frozenset[str]) -> tuple[_List, dict[str, _List]]:
    p = _Parser(name, text, func_names)
    try:
        root = p.parse()
    except _ParseFail as e:
        raise TemplateParseError(name, e.line, e.msg) from None
    return root, p.defs


def alert_template_defs() -> str:
    """The variable definitions Prometheus prepends to alert templates."""
    return (
        "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
        "{{$externalURL := .ExternalURL}}{{$value := .Value}}"
    )


def parse_alert_template(text: str, alert_name: str) -> Template:
    """Parse an alert label/annotation template as ``rulefmt`` does (for validation)."""
    return parse(alert_template_defs() + text, "__alert_" + alert_name)


@dataclass
class Expander:
    """Prometheus's ``template.Expander``: text + data + function map."""

    text: str
    name: str
    data: Any
    timestamp_ms: int = 0
    query_fn: QueryFunc | None = None
    external_url: str = ""

    def _funcs(self) -> dict[str, _Func]:
        return prometheus_funcs(self.query_fn, self.timestamp_ms, self.external_url)

    def expand(self) -> str:
        """Render; errors read ``error parsing template NAME: ...`` / ``error executing template NAME: ...``."""
        try:
            tmpl = parse(self.text, self.name, self._funcs())
        except TemplateParseError as e:
            raise TemplateError(f"error parsing template {self.name}: {e}") from None
        try:
            return tmpl.execute(self.data)
        except TemplateExecError as e:
            raise TemplateError(f"error executing template {self.name}: {e}") from None

    def parse_test(self) -> None:
        """Only parse (raises :class:`TemplateParseError`)."""
        parse(self.text, self.name, self._funcs())


def expand_alert_template(
    text: str,
    alert_name: str,
    labels: Mapping[str, str],
    value: float,
    *,
    external_labels: Mapping[str, str] | None = None,
    external_url: str = "",
    timestamp_ms: int = 0,
    query_fn: QueryFunc | None = None,
) -> str:
    """Expand an alert label/annotation as Prometheus does; on failure the text is
    ``<error expanding template: ...>`` (never raises)."""
    if "{{" not in text:
        return text
    data = AlertTemplateData(dict(labels), dict(external_labels or {}), external_url, float(value))
    exp = Expander(
        alert_template_defs() + text,
        "__alert_" + alert_name,
        data,
        timestamp_ms,
        query_fn,
        external_url,
    )
    try:
        return exp.expand()
    except TemplateError as e:
        return f"<error expanding template: {e}>"
