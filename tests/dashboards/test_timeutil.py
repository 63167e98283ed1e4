"""Date math, Grafana's interval rounding and the Prometheus step / $__rate_interval computation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashboards.timeutil import (
    align_range,
    calculate_interval,
    describe_range,
    format_duration,
    format_interval,
    parse_interval_ms,
    parse_range,
    parse_time,
    query_interval,
    round_interval,
)

H = 3_600_000
NOW = int(datetime(2024, 3, 15, 13, 45, 30, tzinfo=UTC).timestamp() * 1000)


def ms(*a: int) -> int:
    return int(datetime(*a, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "round_up", "want"),
    [
        ("now", False, NOW),
        ("now-6h", False, NOW - 6 * H),
        ("now-1d/d", False, ms(2024, 3, 14)),
        ("now-1d/d", True, ms(2024, 3, 15) - 1),
        ("now/d", False, ms(2024, 3, 15)),
        ("now/d", True, ms(2024, 3, 16) - 1),
        ("now/w", False, ms(2024, 3, 11)),
        ("now-1M/M", False, ms(2024, 2, 1)),
        ("now-1M/M", True, ms(2024, 3, 1) - 1),
        ("now/y", False, ms(2024, 1, 1)),
        ("now+1h", False, NOW + H),
        ("now-90m", False, NOW - 90 * 60_000),
        ("2024-03-01T10:00:00Z", False, ms(2024, 3, 1, 10)),
        ("2024-03-01 10:00:00", False, ms(2024, 3, 1, 10)),
        ("1709287200000", False, 1709287200000),
        ("2024-03-01T10:00:00Z||+1h", False, ms(2024, 3, 1, 11)),
    ],
)
def test_date_math(text: str, round_up: bool, want: int) -> None:
    assert parse_time(text, NOW, round_up) == want


def test_date_math_in_viewer_timezone() -> None:
    # UTC+2: "today" starts at 22:00 UTC the day before
    assert parse_time("now/d", NOW, False, tz_offset_min=120) == ms(2024, 3, 14, 22)
    # naive absolute dates are the viewer's local time
    assert parse_time("2024-03-01 10:00:00", NOW, False, tz_offset_min=60) == ms(2024, 3, 1, 9)


@pytest.mark.parametrize("bad", ["now-6x", "yesterday", "now-", "", "now-1h/q"])
def test_date_math_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_time(bad, NOW)


def test_parse_range_falls_back_and_orders() -> None:
    r = parse_range("now-6h", "now", NOW)
    assert (r.start_ms, r.end_ms, r.span_ms) == (NOW - 6 * H, NOW, 6 * H)
    assert parse_range("garbage", "now", NOW).raw_from == "now-6h"
    r = parse_range(str(NOW), str(NOW - H), NOW)
    assert r.start_ms < r.end_ms
    assert describe_range(parse_range("now-6h", "now", NOW)) == "Last 6 hours"
    assert describe_range(parse_range("now-45m", "now", NOW)) == "Last 45 minutes"
    assert (
        describe_range(parse_range(str(ms(2024, 3, 1)), str(ms(2024, 3, 2)), NOW))
        == "2024-03-01 00:00:00 to 2024-03-02 00:00:00"
    )


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (5, 1),
        (12, 10),
        (36_000, 30_000),
        (44_999, 30_000),
        (45_000, 60_000),
        (100_000, 120_000),
        (3 * H, 3 * H),
        (20 * H, 12 * H),
        (40 * 86_400_000, 2_592_000_000),
        (50 * 86_400_000, 31_536_000_000),
    ],
)
def test_round_interval(raw: int, want: int) -> None:
    assert round_interval(raw) == want


def test_intervals_text() -> None:
    assert parse_interval_ms("1m30s") == 90_000
    assert parse_interval_ms("1.5h") == 5_400_000
    assert parse_interval_ms("250ms") == 250
    assert parse_interval_ms(">10s") == 10_000
    assert parse_interval_ms("30") == 30_000
    with pytest.raises(ValueError):
        parse_interval_ms("5 minutes")
    assert format_interval(90_000) == "1m"  # Grafana's secondsToHms truncates
    assert format_interval(30_000) == "30s"
    assert format_interval(500) == "500ms"
    assert format_interval(2 * 86_400_000) == "2d"
    assert format_duration(90_000) == "1m30s"
    assert format_duration(4 * H + 15_000) == "4h15s"
    assert calculate_interval(6 * H, 600, 15_000) == 30_000
    assert calculate_interval(H, 1200, 15_000) == 15_000


@pytest.mark.parametrize(
    ("span", "mdp", "kwargs", "step", "interval", "rate"),
    [
        # 6 h over a 600 px panel: 36 s rounds to 30 s; rate = max(30s + 15s, 4 * 15s)
        (6 * H, 600, {}, 30_000, 30_000, 60_000),
        # 1 h over 1200 px: 3 s is below the 15 s scrape interval
        (H, 1200, {}, 15_000, 15_000, 60_000),
        # Min step 1m on the query: step 1m, rate = max(15s + 1m, 4 * 1m)
        (H, 1200, {"target_interval": "1m"}, 60_000, 15_000, 240_000),
        # panel min interval 1m
        (6 * H, 600, {"panel_min_interval_ms": 60_000}, 60_000, 60_000, 75_000),
        # interval factor (deprecated "Resolution 1/2")
        (6 * H, 600, {"interval_factor": 2}, 60_000, 30_000, 60_000),
        # 30 d over 100 points: 6 h steps
        (30 * 24 * H, 100, {}, 6 * H, 6 * H, 6 * H + 15_000),
        # 1 y over 100000 points: Prometheus' 11000-point limit wins (1 h steps)
        (365 * 24 * H, 100_000, {}, H, 300_000, 315_000),
        # a 1 m scrape interval (data source setting)
        (6 * H, 600, {"scrape_interval_ms": 60_000}, 60_000, 60_000, 240_000),
        # step set to $__rate_interval
        (6 * H, 600, {"target_interval": "$__rate_interval"}, 60_000, 30_000, 60_000),
    ],
)
def test_query_interval(span: int, mdp: int, kwargs: dict, step: int, interval: int, rate: int) -> None:
    qi = query_interval(span, mdp, **kwargs)
    assert (qi.step_ms, qi.interval_ms, qi.rate_interval_ms) == (step, interval, rate)


def test_align_range_rounds_down_to_the_step() -> None:
    assert align_range(1_000_123, 2_000_456, 30_000) == (990_000, 1_980_000)
    assert align_range(10, 20, 0) == (10, 20)
