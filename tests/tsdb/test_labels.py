import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsdb import STALE_NAN, Labels, LabelsBuilder, Matcher, MatchType, is_stale_nan, stale_mask


def test_labels_sorted_and_empty_dropped() -> None:
    ls = Labels.from_dict({"b": "2", "a": "1", "c": ""})
    assert ls.pairs == (("a", "1"), ("b", "2"))
    assert ls.get("c") == ""
    assert hash(ls) == hash(Labels.from_strings("a", "1", "b", "2"))


def test_labels_str_like_prometheus() -> None:
    ls = Labels.from_strings("__name__", "up", "job", 'a"b', "instance", "x\ny")
    assert str(ls) == 'up{instance="x\\ny", job="a\\"b"}'
    assert str(Labels.from_strings("__name__", "up")) == "up"
    assert str(Labels.from_strings("a", "b")) == '{a="b"}'


def test_builder() -> None:
    base = Labels.from_strings("a", "1", "b", "2")
    out = base.builder().set("c", "3").delete("a").set("b", "").labels()
    assert out == Labels.from_strings("c", "3")
    assert LabelsBuilder().labels() == Labels()


def test_fingerprint_stable() -> None:
    a = Labels.from_strings("a", "1")
    assert a.fingerprint() == Labels.from_strings("a", "1").fingerprint()
    assert a.fingerprint() != Labels.from_strings("a", "2").fingerprint()


@pytest.mark.parametrize(
    ("op", "pattern", "value", "expect"),
    [
        ("=", "x", "x", True),
        ("=", "x", "xy", False),
        ("!=", "x", "y", True),
        ("=~", "a.*", "abc", True),
        ("=~", "b", "abc", False),  # fully anchored
        ("=~", "a|b", "b", True),
        ("=~", ".*", "", True),
        ("!~", "a.*", "abc", False),
        ("=~", "a.c", "a\nc", True),  # (?s): dot matches newline
        ("=~", "abc", "abc\n", False),
    ],
)
def test_matchers(op: str, pattern: str, value: str, expect: bool) -> None:
    assert Matcher.parse_op("l", op, pattern).matches(value) is expect


def test_literal_alternatives() -> None:
    assert Matcher(MatchType.REGEX, "a", "x|y").literal_alternatives == ["x", "y"]
    assert Matcher(MatchType.REGEX, "a", "x.*").literal_alternatives is None


def test_stale_nan() -> None:
    import numpy as np

    assert is_stale_nan(STALE_NAN)
    assert not is_stale_nan(float("nan"))
    arr = np.array([1.0, STALE_NAN, float("nan")])
    assert stale_mask(arr).tolist() == [False, True, False]


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=5), max_size=6))
def test_labels_roundtrip_dict(d: dict[str, str]) -> None:
    ls = Labels.from_dict(d)
    assert ls.to_dict() == {k: v for k, v in d.items() if v}
    assert list(ls.names()) == sorted(ls.names())


def test_leading_regex_flags_as_go() -> None:
    m = Matcher(MatchType.REGEX, "a", "(?i)foo|bar")
    assert m.matches("FOO") and m.matches("BAR") and not m.matches("xfoo")


@pytest.mark.parametrize(
    ("pattern", "value", "expect"),
    [
        ("((?i)PRO).*", "prometheus", True),
        ("((?i)PRO).*", "xpro", False),
        ("a(?i)b", "aB", True),
        ("a(?i)b", "AB", False),
        ("(a(?i)b)c", "aBc", True),
        ("(a(?i)b)c", "aBC", False),
        ("[(?i)]x", "?x", True),
        (r"\(?i\)", "(i)", True),
    ],
)
def test_inline_regex_flags_scoped_as_re2(pattern: str, value: str, expect: bool) -> None:
    assert Matcher(MatchType.REGEX, "a", pattern).matches(value) is expect


def test_name_validation_rejects_trailing_newline() -> None:
    from tsdb.labels import is_valid_label_name, is_valid_metric_name

    assert not is_valid_label_name("abc\n") and not is_valid_metric_name("abc\n")
    assert is_valid_metric_name("a:b") and not is_valid_label_name("a:b")
