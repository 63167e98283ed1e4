"""Label matchers ``=``, ``!=``, ``=~``, ``!~`` with fully anchored regexes."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from .labels import Labels


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


class InvalidMatcherError(ValueError):
    """A matcher could not be built (bad regex)."""


_FLAG_GROUP = re.compile(r"\(\?([imsU]*(?:-[imsU]*)?)\)")


def re2_to_python(p: str) -> str:
    """Rewrite RE2 syntax Python's ``re`` lacks: mid-pattern flag groups, ``\\z``, ``(?<name>``, ``\\Q…\\E``.

    RE2's ``(?i)`` applies until the end of the enclosing group (across ``|``);
    it becomes scoped ``(?i:…)`` groups, reopened after each ``|``.
    """
    out: list[str] = []
    levels: list[list[str]] = [[]]  # active flag groups per nesting level
    i, n = 0, len(p)
    in_class = False
    while i < n:
        c = p[i]
        if c == "\\":
            if p.startswith("\\Q", i):
                j = p.find("\\E", i + 2)
                out.append(re.escape(p[i + 2 : j if j >= 0 else n]))
                i = j + 2 if j >= 0 else n
                continue
            if p.startswith("\\z", i):
                out.append("\\Z")
            else:
                out.append(p[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and p[i] == "^":
                out.append("^")
                i += 1
            if i < n and p[i] == "]":
                out.append("]")
                i += 1
            continue
        if c == "(":
            m = _FLAG_GROUP.match(p, i)
            if m:
                flags = m.group(1).replace("U", "")
                if flags and flags != "-":
                    out.append(f"(?{flags}:")
                    levels[-1].append(flags)
                i = m.end()
                continue
            if p.startswith("(?<", i) and not p.startswith(("(?<=", "(?<!"), i):
                out.append("(?P<")
                i += 3
            else:
                out.append("(")
                i += 1
            levels.append([])
            continue
        if c == ")":
            out.append(")" * len(levels[-1]))
            if len(levels) > 1:
                levels.pop()
            out.append(")")
            i += 1
            continue
        if c == "|" and levels[-1]:
            active = levels[-1]
            out.append(")" * len(active) + "|" + "".join(f"(?{f}:" for f in active))
            i += 1
            continue
        out.append(c)
        i += 1
    out.append(")" * len(levels[0]))
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern`` fully anchored, as Prometheus does (``^(?:pattern)$``)."""
    body = re2_to_python(pattern)
    try:
        return re.compile("(?s:" + body + r")\Z")
    except re.error as e:
        raise InvalidMatcherError(f"invalid regular expression {pattern!r}: {e}") from None


@dataclass(frozen=True)
class Matcher:
    type: MatchType
    name: str
    value: str
    _re: re.Pattern[str] | None = field(default=None, compare=False, repr=False, hash=False)

    def __post_init__(self) -> None:
        if self.type in (MatchType.REGEX, MatchType.NOT_REGEX):
            object.__setattr__(self, "_re", compile_anchored(self.value))

    @classmethod
    def parse_op(cls, name: str, op: str, value: str) -> Matcher:
        return cls(MatchType(op), name, value)

    def matches(self, value: str) -> bool:
        t = self.type
        if t is MatchType.EQUAL:
            return value == self.value
        if t is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._re is not None
        hit = self._re.match(value) is not None
        return hit if t is MatchType.REGEX else not hit

    def matches_empty(self) -> bool:
        """Whether a series *without* this label is selected by the matcher."""
        return self.matches("")

    @property
    def literal_alternatives(self) -> list[str] | None:
        """For ``=~"a|b|c"`` with plain literals, the set of values; else None."""
        if self.type is not MatchType.REGEX:
            return None
        return _literal_alternatives(self.value)

    def __str__(self) -> str:
        from .labels import quote

        return f"{self.name}{self.type.value}{quote(self.value)}"


_META = set(".^$*+?()[]{}|\\")


@lru_cache(maxsize=4096)
def _literal_alternatives(pattern: str) -> list[str] | None:
    alts = pattern.split("|")
    if any(any(c in _META for c in a) for a in alts):
        return None
    return alts


def matches_labels(matchers: Iterable[Matcher], labels: Labels) -> bool:
    """Brute-force check of a label set against matchers (reference semantics)."""
    return all(m.matches(labels.get(m.name)) for m in matchers)
