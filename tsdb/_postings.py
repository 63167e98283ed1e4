"""Matcher evaluation over a label index: Prometheus's ``PostingsForMatchers``.

A matcher that does not match the empty string selects the series whose label
value matches it: its postings are intersected. A matcher that matches the
empty string also selects every series *lacking* the label, so it is applied by
subtracting the postings of the values it rejects (``foo!="bar"`` subtracts
``foo="bar"``, ``foo=""`` subtracts every series that has ``foo``). With no
intersecting matcher the evaluation starts from all postings. Postings are
sorted int64 numpy arrays; set operations are vectorized.

Index readers may provide an optional fast path (duck-typed, see
:class:`ValuePostingsReader`); the plain :class:`~tsdb._blockapi.IndexReader`
protocol is enough.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ._blockapi import IndexReader
from .matchers import Matcher, MatchType

__all__ = [
    "ValuePostingsReader",
    "intersect",
    "label_names_for_matchers",
    "label_values_for_matchers",
    "postings_for_matchers",
    "subtract",
    "union",
]

_EMPTY = np.zeros(0, dtype=np.int64)
_MATCH_ALL = (".*", "(?s:.*)", ".*?")
_MATCH_NON_EMPTY = (".+", "(?s:.+)")


@runtime_checkable
class ValuePostingsReader(Protocol):
    """Optional index fast path: all postings of one label name at once."""

    def value_postings(self, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """``(values, offsets, ids)``: ``ids[offsets[i]:offsets[i+1]]`` are the sorted
        postings of ``name=values[i]``; ``len(offsets) == len(values) + 1``."""
        ...


# ---------------------------------------------------------------------------- set operations


def intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted unique ``a ∩ b`` of two sorted unique int64 arrays."""
    if len(a) > len(b):
        a, b = b, a
    if not len(a):
        return _EMPTY
    idx = np.searchsorted(b, a)
    np.minimum(idx, len(b) - 1, out=idx)
    return a[b[idx] == a]


def subtract(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted unique ``a - b`` of two sorted unique int64 arrays."""
    if not len(a) or not len(b):
        return a
    idx = np.searchsorted(b, a)
    np.minimum(idx, len(b) - 1, out=idx)
    return a[b[idx] != a]


def union(lists: Sequence[np.ndarray]) -> np.ndarray:
    """Sorted unique union of int64 arrays."""
    lists = [x for x in lists if len(x)]
    if not lists:
        return _EMPTY
    if len(lists) == 1:
        return np.asarray(lists[0], dtype=np.int64)
    return np.unique(np.concatenate(lists)).astype(np.int64, copy=False)


def _contains_any(sorted_ids: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Boolean mask: which elements of ``x`` are in ``sorted_ids``."""
    if not len(sorted_ids):
        return np.zeros(len(x), dtype=bool)
    idx = np.searchsorted(sorted_ids, x)
    np.minimum(idx, len(sorted_ids) - 1, out=idx)
    return sorted_ids[idx] == x


# ---------------------------------------------------------------------------- per matcher


def _all_values_postings(ix: IndexReader, name: str) -> np.ndarray:
    """Every series that has label ``name``."""
    if isinstance(ix, ValuePostingsReader):
        _, _, ids = ix.value_postings(name)
        return np.unique(ids).astype(np.int64, copy=False)
    vals = ix.label_values(name)
    return ix.postings(name, vals) if vals else _EMPTY


def _regex_alternatives(m: Matcher) -> list[str] | None:
    """Literal alternatives of a (possibly negated) regex matcher."""
    if m.type is MatchType.REGEX:
        return m.literal_alternatives
    return Matcher(MatchType.REGEX, m.name, m.value).literal_alternatives


def _postings_where(ix: IndexReader, m: Matcher, want: bool) -> np.ndarray:
    """Series having label ``m.name`` with a value for which ``m.matches(v) == want``."""
    t = m.type
    if t in (MatchType.EQUAL, MatchType.NOT_EQUAL):
        literal_hit = (t is MatchType.EQUAL) == want  # we want the values equal to m.value
        if literal_hit:
            return ix.postings(m.name, [m.value]) if m.value else _EMPTY
        if not m.value:
            return _all_values_postings(ix, m.name)
    else:
        alts = _regex_alternatives(m)
        literal_hit = (t is MatchType.REGEX) == want  # we want the values matching the regex
        if alts is not None and literal_hit:
            return ix.postings(m.name, [a for a in alts if a])
        if m.value in _MATCH_ALL:
            return _all_values_postings(ix, m.name) if literal_hit else _EMPTY
        if m.value in _MATCH_NON_EMPTY and literal_hit:
            return _all_values_postings(ix, m.name)
    vals = [v for v in ix.label_values(m.name) if m.matches(v) == want]
    return ix.postings(m.name, vals) if vals else _EMPTY


def _cost(m: Matcher) -> int:
    if m.type is MatchType.EQUAL or (m.type is MatchType.REGEX and m.literal_alternatives is not None):
        return 0
    return 1


def postings_for_matchers(ix: IndexReader, matchers: Sequence[Matcher]) -> np.ndarray:
    """Sorted int64 ids of the series selected by all ``matchers`` (all series if none)."""
    positive = [m for m in matchers if not m.matches_empty()]
    negative = [m for m in matchers if m.matches_empty()]
    result: np.ndarray | None = None
    for m in sorted(positive, key=_cost):
        p = _postings_where(ix, m, True)
        result = p if result is None else intersect(result, p)
        if not len(result):
            return _EMPTY
    if result is None:
        result = np.asarray(ix.all_postings(), dtype=np.int64)
    for m in sorted(negative, key=_cost):
        if not len(result):
            break
        result = subtract(result, _postings_where(ix, m, False))
    return result


# ---------------------------------------------------------------------------- label queries


def label_values_for_matchers(ix: IndexReader, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
    """Sorted values of label ``name`` among the series selected by ``matchers``."""
    if not matchers:
        return list(ix.label_values(name))
    p = postings_for_matchers(ix, matchers)
    if not len(p):
        return []
    if isinstance(ix, ValuePostingsReader):
        values, offsets, ids = ix.value_postings(name)
        if not values:
            return []
        cum = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(_contains_any(p, ids), out=cum[1:])
        counts = cum[offsets[1:]] - cum[offsets[:-1]]
        return [v for v, c in zip(values, counts.tolist(), strict=True) if c]
    values = ix.label_values(name)
    if len(p) <= len(values):
        found = {ix.series(sid)[0].get(name) for sid in p.tolist()}
        found.discard("")
        return sorted(found)
    return [v for v in values if len(intersect(ix.postings(name, [v]), p))]


def label_names_for_matchers(ix: IndexReader, matchers: Sequence[Matcher] = ()) -> list[str]:
    """Sorted label names of the series selected by ``matchers``."""
    if not matchers:
        return list(ix.label_names())
    p = postings_for_matchers(ix, matchers)
    if not len(p):
        return []
    names = ix.label_names()
    if len(p) <= 4 * len(names):
        found: set[str] = set()
        for sid in p.tolist():
            found.update(ix.series(sid)[0].names())
        return sorted(found)
    out = []
    for n in names:
        if isinstance(ix, ValuePostingsReader):
            ids = ix.value_postings(n)[2]
        else:
            ids = _all_values_postings(ix, n)
        if _contains_any(p, ids).any():
            out.append(n)
    return out
