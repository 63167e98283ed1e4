"""Label sets and matchers as Alertmanager has them.

* ``fingerprint`` is Prometheus's ``model.LabelSet.Fingerprint``: FNV-64a over the
  sorted ``name 0xff value 0xff`` pairs, printed as ``%016x``.
* ``labelset_str`` is ``model.LabelSet.String()`` (``{a="b", c="d"}``), used in group keys.
* ``parse_matchers`` is Alertmanager 0.25's ``labels.ParseMatchers`` (the ``matchers``
  syntax of ``alertmanager.yml``, ``amtool`` and the API ``filter`` parameter).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cmp_to_key

LabelSet = Mapping[str, str]

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _fnv_add(h: int, data: bytes) -> int:
    for b in data:
        h ^= b
        h = (h * _FNV_PRIME) & _MASK
    return h


def fingerprint(ls: LabelSet) -> int:
    """Prometheus ``model.LabelSet.Fingerprint`` as an unsigned 64-bit integer."""
    h = _FNV_OFFSET
    for name in sorted(ls):
        h = _fnv_add(h, name.encode())
        h = _fnv_add(h, b"\xff")
        h = _fnv_add(h, ls[name].encode())
        h = _fnv_add(h, b"\xff")
    return h


def fp_str(fp: int) -> str:
    """A fingerprint as Alertmanager prints it (16 hex digits)."""
    return f"{fp:016x}"


def valid_label_name(name: str) -> bool:
    """``model.LabelName.IsValid``."""
    return bool(LABEL_NAME_RE.match(name))


def go_quote(s: str) -> str:
    """Go's ``%q`` (``strconv.Quote``) for a string."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\a":
            out.append("\\a")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\v":
            out.append("\\v")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def labelset_str(ls: LabelSet) -> str:
    """``model.LabelSet.String()``: ``{a="b", c="d"}`` with names sorted."""
    return "{" + ", ".join(f"{k}={go_quote(ls[k])}" for k in sorted(ls)) + "}"


def labelset_before(a: LabelSet, b: LabelSet) -> bool:
    """``model.LabelSet.Before``: shorter sets first, then by sorted names and values."""
    if len(a) != len(b):
        return len(a) < len(b)
    for ln in sorted(set(a) | set(b)):
        if ln not in a:
            return True
        if ln not in b:
            return False
        if a[ln] != b[ln]:
            return a[ln] < b[ln]
    return False


def _alert_cmp(a: LabelSet, b: LabelSet) -> int:
    """``types.AlertSlice.Less`` on label sets: ``job``, then ``instance``, then ``Before``."""
    for key in ("job", "instance"):
        ia, ib = key in a, key in b
        if not ia and not ib:
            continue
        if not ia:
            return 1
        if not ib:
            return -1
        if a[key] != b[key]:
            return -1 if a[key] < b[key] else 1
    if labelset_before(a, b):
        return -1
    if labelset_before(b, a):
        return 1
    return 0


alert_labels_key = cmp_to_key(_alert_cmp)


class MatchType(Enum):
    """The four matcher operators."""

    EQ = "="
    NEQ = "!="
    RE = "=~"
    NRE = "!~"


class MatcherError(ValueError):
    """A matcher that does not parse or whose regular expression does not compile."""


def compile_regex(pattern: str) -> re.Pattern[str]:
    """A fully anchored regular expression (Go: ``^(?:pattern)$``)."""
    try:
        return re.compile("(?:" + pattern + r")\Z")
    except re.error as e:
        raise MatcherError(f"error parsing regexp: {e}: `{pattern}`") from None


@dataclass(frozen=True)
class Matcher:
    """One label matcher: name, operator, value (regexes fully anchored)."""

    name: str
    type: MatchType
    value: str
    _re: re.Pattern[str] | None = field(default=None, compare=False, repr=False, hash=False)

    @classmethod
    def new(cls, type_: MatchType, name: str, value: str) -> Matcher:
        """``labels.NewMatcher``: compiles the regex of ``=~``/``!~``."""
        rx = compile_regex(value) if type_ in (MatchType.RE, MatchType.NRE) else None
        return cls(name, type_, value, rx)

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` when absent) matches."""
        t = self.type
        if t is MatchType.EQ:
            return value == self.value
        if t is MatchType.NEQ:
            return value != self.value
        assert self._re is not None
        m = self._re.match(value) is not None
        return m if t is MatchType.RE else not m

    def matches_labels(self, ls: LabelSet) -> bool:
        return self.matches(ls.get(self.name, ""))

    def __str__(self) -> str:
        return f"{self.name}{self.type.value}{openmetrics_escape_quoted(self.value)}"

    def sort_key(self) -> tuple[str, str, int]:
        return (self.name, self.value, _TYPE_ORDER[self.type])


_TYPE_ORDER = {MatchType.EQ: 0, MatchType.NEQ: 1, MatchType.RE: 2, MatchType.NRE: 3}


def openmetrics_escape_quoted(v: str) -> str:
    """``"`` + the value with ``\\``, newline and ``"`` escaped + ``"``."""
    return '"' + v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'


def sort_matchers(ms: Iterable[Matcher]) -> list[Matcher]:
    """``sort.Sort(labels.Matchers)``: by name, value, then operator."""
    return sorted(ms, key=Matcher.sort_key)


def matchers_str(ms: Iterable[Matcher]) -> str:
    """``labels.Matchers.String()``: ``{a="b",c=~"d"}``."""
    return "{" + ",".join(str(m) for m in ms) + "}"


def matches_all(ms: Iterable[Matcher], ls: LabelSet) -> bool:
    """``labels.Matchers.Matches``."""
    return all(m.matches_labels(ls) for m in ms)


_MATCHER_RE = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s:.*?))\s*$")
_TYPES = {"=": MatchType.EQ, "!=": MatchType.NEQ, "=~": MatchType.RE, "!~": MatchType.NRE}


def parse_matcher(s: str) -> Matcher:
    """``labels.ParseMatcher``: ``name op value`` with an optionally double-quoted value."""
    m = _MATCHER_RE.match(s)
    if m is None:
        raise MatcherError(f"bad matcher format: {s}")
    name, op, raw = m.group(1), m.group(2), m.group(3)
    expect_quote = False
    if raw.startswith('"'):
        raw = raw[1:]
        expect_quote = True
    out: list[str] = []
    escaped = False
    n = len(raw)
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
            if ch == "n":
                out.append("\n")
            elif ch in '"\\':
                out.append(ch)
            else:
                out.append("\\" + ch)
            continue
        if ch == "\\":
            if i < n - 1:
                escaped = True
                continue
            out.append("\\")
        elif ch == '"':
            if not expect_quote or i < n - 1:
                raise MatcherError(f"matcher value contains unescaped double quote: {m.group(3)}")
            expect_quote = False
        else:
            out.append(ch)
    if expect_quote:
        raise MatcherError(f"matcher value contains unescaped double quote: {m.group(3)}")
    return Matcher.new(_TYPES[op], name, "".join(out))


def parse_matchers(s: str) -> list[Matcher]:
    """``labels.ParseMatchers``: ``{a="b", c=~"d"}`` or ``a=b,c=~d`` (braces optional)."""
    if s.startswith("{"):
        s = s[1:]
    if s.endswith("}"):
        s = s[:-1]
    tokens: list[str] = []
    token: list[str] = []
    inside = escaped = False
    for ch in s:
        if ch == ",":
            if not inside:
                tokens.append("".join(token))
                token = []
                continue
        elif ch == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token).strip()
    if last:
        tokens.append(last)
    return [parse_matcher(t) for t in tokens]
