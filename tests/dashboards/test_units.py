"""Unit formatting: Grafana's value formats (cases from Grafana's own valueFormats tests and UI)."""

from __future__ import annotations

import math

import pytest

from dashboards.units import format_value, hover_format, js_number, nice_ticks, to_fixed


@pytest.mark.parametrize(
    ("unit", "decimals", "value", "text"),
    [
        # cases of grafana-data valueFormats.test.ts
        ("currencyUSD", 2, 1532.82, "$1.53K"),
        ("ms", 4, 0.0024, "0.0024 ms"),
        ("ms", 0, 100, "100 ms"),
        ("ms", 2, 1250, "1.25 s"),
        ("ms", 1, 10000086.123, "2.8 hour"),
        ("ms", 0, 1200, "1 s"),
        ("kbytes", 3, 10000000, "9.537 GiB"),
        ("deckbytes", 3, 10000000, "10.000 GB"),
        # auto decimals, as Grafana shows them
        ("bytes", None, 1536, "1.50 KiB"),
        ("bytes", None, 0, "0 B"),
        ("bytes", None, 1073741824, "1 GiB"),
        ("decbytes", None, 1_500_000, "1.50 MB"),
        ("short", None, 1234, "1.23 K"),
        ("short", None, 123456789, "123 Mil"),
        ("short", None, 999, "999"),
        ("none", None, 3.14159, "3.14"),
        ("", None, 1234.5, "1235"),
        ("percent", None, 45.678, "45.7%"),
        ("percent", 0, 99.5, "100%"),
        ("percentunit", None, 0.4567, "45.7%"),
        ("percentunit", 1, 0.012, "1.2%"),
        ("s", None, 0.0234, "23.4 ms"),
        ("s", None, 1e-7, "100 ns"),
        ("s", None, 0.000250, "250 µs"),
        ("s", None, 7200, "2 hour"),
        ("s", None, 90, "1.50 min"),
        ("s", None, 0, "0 s"),
        ("ms", None, 45, "45 ms"),
        ("reqps", None, 81.5, "81.5 reqps"),
        ("reqps", None, 1500, "1.50K reqps"),
        ("ops", 1, 2.25, "2.3 ops"),
        ("Bps", None, 2048, "2.05 kB/s"),
        ("bps", None, 1_000_000, "1 Mbps"),
        ("binBps", None, 2048, "2 KiB/s"),
        ("hertz", None, 50_000, "50 kHz"),
        ("celsius", 1, 21.55, "21.6 °C"),
        ("dtdurations", 1, 90061, "1 day, 1 hour"),
        ("dthms", None, 3725, "01:02:05"),
        ("dtdhms", None, 90061, "1 d 01:01:01"),
        ("bool_yes_no", None, 1, "Yes"),
        ("suffix:req", None, 5, "5 req"),
        ("prefix:$", None, 5, "$5"),
        ("count:items", None, 2500, "2.50K items"),
        ("si:mA", None, 1500, "1.50 A"),
        ("lightyears", None, 2, "2 lightyears"),  # unknown ids become a suffix
        ("percent", None, math.nan, "NaN"),
    ],
)
def test_format_value(unit: str, decimals: int | None, value: float, text: str) -> None:
    assert str(format_value(value, unit, decimals)) == text


def test_to_fixed_like_grafana() -> None:
    assert to_fixed(100) == "100"
    assert to_fixed(100.4) == "100"
    assert to_fixed(100.5) == "101"
    assert to_fixed(100, 1) == "100.0"
    assert to_fixed(100.37, 1) == "100.4"
    assert to_fixed(100.63, 1) == "100.6"
    assert to_fixed(100.4, 2) == "100.40"
    assert to_fixed(100.5, 2) == "100.50"
    assert to_fixed(186.123, -2) == "186"
    assert to_fixed(math.nan) == "NaN"
    assert to_fixed(math.inf) == "∞"
    assert to_fixed(0.012345) == "0.0123"
    assert to_fixed(2.5) == "2.50"
    assert to_fixed(None) == ""


def test_js_number_matches_javascript() -> None:
    assert js_number(0.1 + 0.2) == "0.30000000000000004"
    assert js_number(1e21) == "1e+21"
    assert js_number(123e-9) == "1.23e-7"
    assert js_number(0.000001) == "0.000001"
    assert js_number(100.0) == "100"
    assert js_number(-1.5) == "-1.5"
    assert js_number(1e20) == "100000000000000000000"


def test_formatted_value_parts() -> None:
    f = format_value(1536, "bytes")
    assert (f.prefix, f.text, f.suffix) == ("", "1.50", " KiB")
    f = format_value(-1532.82, "currencyUSD", 2)
    assert str(f) == "-$1.53K"


def test_hover_format_is_d3() -> None:
    assert hover_format("percentunit") == "%{y:.1%}"
    assert hover_format("bytes").endswith("B")
    assert hover_format("s", 2) == "%{y:.3~s}s"


def test_nice_ticks_cover_the_range() -> None:
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    t = nice_ticks(0.0013, 0.0042)
    assert t[0] <= 0.0013 and t[-1] >= 0.0042
    assert nice_ticks(5, 5)[0] < 5 < nice_ticks(5, 5)[-1]
    assert nice_ticks(math.nan, 1) == []
