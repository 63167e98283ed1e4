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


_LEADING_FLAGS = re.compile(r"\(\?([ims]+)\)")


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern`` fully anchored, as Prometheus does (``^(?:pattern)$``)."""
    body = pattern
    m = _LEADING_FLAGS.match(pattern)
    if m:
        # Go scopes a leading ``(?i)`` to the enclosing group; Python wants it scoped.
        body = f"(?{m.group(1)}:{pattern[m.end() :]})"
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
