"""PostingsForMatchers semantics against brute force over random label sets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsdb._blockapi import ChunkMeta
from tsdb._postings import (
    intersect,
    label_names_for_matchers,
    label_values_for_matchers,
    postings_for_matchers,
    subtract,
    union,
)
from tsdb.labels import Labels
from tsdb.matchers import Matcher, MatchType, matches_labels


class MemIndex:
    """A plain in-memory IndexReader (the protocol only, no fast paths)."""

    def __init__(self, series: Sequence[Labels]) -> None:
        self._series = list(series)
        self._post: dict[str, dict[str, list[int]]] = {}
        for sid, ls in enumerate(self._series):
            for k, v in ls:
                self._post.setdefault(k, {}).setdefault(v, []).append(sid)
        self.series_reads = 0

    def label_names(self) -> list[str]:
        return sorted(self._post)

    def label_values(self, name: str) -> list[str]:
        return sorted(self._post.get(name, {}))

    def postings(self, name: str, values: Sequence[str]) -> np.ndarray:
        d = self._post.get(name, {})
        ids = [i for v in set(values) for i in d.get(v, [])]
        return np.array(sorted(ids), dtype=np.int64)

    def all_postings(self) -> np.ndarray:
        return np.arange(len(self._series), dtype=np.int64)

    def series(self, sid: int) -> tuple[Labels, list[ChunkMeta]]:
        self.series_reads += 1
        return self._series[sid], []


class FastMemIndex(MemIndex):
    """Also offers the ``value_postings`` fast path."""

    def value_postings(self, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        vals = self.label_values(name)
        lists = [self.postings(name, [v]) for v in vals]
        offs = np.zeros(len(vals) + 1, dtype=np.int64)
        np.cumsum([len(x) for x in lists], out=offs[1:])
        ids = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
        return vals, offs, ids


def brute(series: Sequence[Labels], ms: Sequence[Matcher]) -> list[int]:
    return [i for i, ls in enumerate(series) if matches_labels(ms, ls)]


NAMES = ["__name__", "a", "b", "c"]
VALUES = ["x", "y", "z", "xy", "foo", "1"]

label_sets = st.lists(
    st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES), max_size=4).map(Labels.from_dict),
    max_size=40,
)
REGEXES = ["x", "x|y", "x.*", ".*", ".+", "", "foo|", "(x|y)z?", "[a-z]+", "1|xy|nomatch", "z*", "(?i:X)"]
matchers = st.builds(
    lambda t, n, v: Matcher(t, n, v),
    st.sampled_from(list(MatchType)),
    st.sampled_from(NAMES + ["missing"]),
    st.sampled_from(VALUES + REGEXES),
)


@settings(max_examples=400, deadline=None)
@given(label_sets, st.lists(matchers, max_size=4))
def test_postings_match_brute_force(series, ms) -> None:
    for ix in (MemIndex(series), FastMemIndex(series)):
        got = postings_for_matchers(ix, ms)
        assert got.dtype == np.int64
        assert got.tolist() == brute(series, ms)


@settings(max_examples=300, deadline=None)
@given(label_sets, st.lists(matchers, max_size=3), st.sampled_from(NAMES + ["missing"]))
def test_label_values_and_names_match_brute_force(series, ms, name) -> None:
    sel = [series[i] for i in brute(series, ms)]
    want_vals = sorted({ls.get(name) for ls in sel} - {""})
    want_names = sorted({k for ls in sel for k in ls.names()})
    if not ms:
        want_vals = sorted({ls.get(name) for ls in series} - {""})
        want_names = sorted({k for ls in series for k in ls.names()})
    for ix in (MemIndex(series), FastMemIndex(series)):
        assert label_values_for_matchers(ix, name, ms) == want_vals
        assert label_names_for_matchers(ix, ms) == want_names


def test_prometheus_empty_matcher_semantics() -> None:
    s = [
        Labels.from_strings("__name__", "up", "job", "a"),
        Labels.from_strings("__name__", "up", "job", "b", "env", "prod"),
        Labels.from_strings("__name__", "up"),
    ]
    ix = MemIndex(s)

    def q(*ms: Matcher) -> list[int]:
        return postings_for_matchers(ix, ms).tolist()

    eq, ne, re_, nre = MatchType.EQUAL, MatchType.NOT_EQUAL, MatchType.REGEX, MatchType.NOT_REGEX
    assert q(Matcher(eq, "env", "")) == [0, 2]  # lacking the label counts as ""
    assert q(Matcher(ne, "env", "prod")) == [0, 2]
    assert q(Matcher(ne, "env", "")) == [1]
    assert q(Matcher(re_, "job", ".*")) == [0, 1, 2]
    assert q(Matcher(re_, "job", ".+")) == [0, 1]
    assert q(Matcher(nre, "job", "a")) == [1, 2]
    assert q(Matcher(eq, "__name__", "up"), Matcher(re_, "job", "a|b")) == [0, 1]
    assert q(Matcher(eq, "__name__", "down")) == []
    assert q() == [0, 1, 2]


def test_literal_alternatives_skip_value_scan() -> None:
    class Counting(MemIndex):
        scans = 0

        def label_values(self, name: str) -> list[str]:
            self.scans += 1
            return super().label_values(name)

    ix = Counting([Labels.from_strings("job", v) for v in ("a", "b", "c")])
    assert postings_for_matchers(ix, [Matcher(MatchType.REGEX, "job", "a|c")]).tolist() == [0, 2]
    assert postings_for_matchers(ix, [Matcher(MatchType.NOT_REGEX, "job", "a|c")]).tolist() == [1]
    assert postings_for_matchers(ix, [Matcher(MatchType.NOT_EQUAL, "job", "a")]).tolist() == [1, 2]
    assert ix.scans == 0
    assert postings_for_matchers(ix, [Matcher(MatchType.REGEX, "job", "[ab]")]).tolist() == [0, 1]
    assert ix.scans == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [([], []), ([1, 2, 3], []), ([], [4]), ([1, 3, 5, 7], [2, 3, 4, 7, 9]), ([10], [1, 2, 10])],
)
def test_set_operations(a, b) -> None:
    x, y = np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)
    assert intersect(x, y).tolist() == sorted(set(a) & set(b))
    assert subtract(x, y).tolist() == sorted(set(a) - set(b))
    assert union([x, y]).tolist() == sorted(set(a) | set(b))
