"""Scrape loop: appends, synthetic series, staleness, limits, failures, the steady-state fast path."""

from __future__ import annotations

import math

import pytest

from scraper.config import load_config_str
from scraper.scrape import ScrapeCache, ScrapeLoop, ScrapeOptions, accept_header
from scraper.target import populate_labels
from tests.scraper.util import is_stale, read_all
from tsdb._db import DBOptions, open_db
from tsdb.labels import Labels


def _cfg(extra: str = ""):
    text = (
        "scrape_configs:\n  - job_name: j\n    scrape_interval: 1s\n    scrape_timeout: 1s\n"
        "    static_configs: [{targets: ['h:9100']}]\n" + extra
    )
    return load_config_str(text).scrape_configs[0]


class Feed:
    """A fake target: returns the queued payloads (bytes or an exception)."""

    def __init__(self) -> None:
        self.body: bytes | Exception = b""
        self.ct = "text/plain; version=0.0.4"

    async def __call__(self) -> tuple[bytes, str]:
        if isinstance(self.body, Exception):
            raise self.body
        return self.body, self.ct


@pytest.fixture
def db(tmp_path):
    d = open_db(tmp_path / "db", DBOptions())
    yield d
    d.close()


def _loop(db, extra: str = "", feed: Feed | None = None) -> tuple[ScrapeLoop, Feed]:
    cfg = _cfg(extra)
    lbls, disc = populate_labels(Labels.from_dict({"__address__": "h:9100"}), cfg)
    assert lbls is not None
    from scraper.target import Target

    t = Target(lbls, disc, cfg.params, cfg.job_name)
    feed = feed or Feed()
    now = [1000.0]
    loop = ScrapeLoop(t, db, ScrapeOptions.from_config(cfg), fetch=feed, clock=lambda: now[0])
    return loop, feed


def _val(db, name: str, **labels: str) -> list[tuple[int, float]]:
    out = [v for ls, v in read_all(db, name).items() if all(ls.get(k) == x for k, x in labels.items())]
    assert len(out) == 1, out
    return out[0]


P1 = b'# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 1\na_total{x="2"} 2\nb 3.5\n'
P2 = b'# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 10\na_total{x="2"} 20\nb 4.5\n'
P3 = b'# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} 11\nb 5\n'


async def test_scrape_appends_samples_and_report(db) -> None:
    loop, feed = _loop(db)
    feed.body = P1
    await loop.scrape_and_report(1_000)
    a = read_all(db, "a_total")
    assert {ls.get("x") for ls in a} == {"1", "2"}
    for ls in a:
        assert ls.get("job") == "j" and ls.get("instance") == "h:9100"
    assert _val(db, "up") == [(1_000, 1.0)]
    assert _val(db, "scrape_samples_scraped") == [(1_000, 3.0)]
    assert _val(db, "scrape_samples_post_metric_relabeling") == [(1_000, 3.0)]
    assert _val(db, "scrape_series_added") == [(1_000, 3.0)]
    dur = _val(db, "scrape_duration_seconds")
    assert dur[0][0] == 1_000 and dur[0][1] >= 0
    assert loop.target.health == "up" and loop.target.last_error == ""
    assert loop.target.metadata["a_total"].type == "counter"
    # Same layout, new values: the fast path, no series added.
    feed.body = P2
    await loop.scrape_and_report(2_000)
    assert loop.cache.layout is not None
    assert _val(db, "b") == [(1_000, 3.5), (2_000, 4.5)]
    assert _val(db, "scrape_series_added")[-1] == (2_000, 0.0)
    assert _val(db, "a_total", x="2")[-1] == (2_000, 20.0)


async def test_disappearing_series_gets_stale_marker(db) -> None:
    loop, feed = _loop(db)
    feed.body = P1
    await loop.scrape_and_report(1_000)
    feed.body = P2
    await loop.scrape_and_report(2_000)
    feed.body = P3
    await loop.scrape_and_report(3_000)
    gone = _val(db, "a_total", x="2")
    assert gone[:2] == [(1_000, 2.0), (2_000, 20.0)]
    assert gone[2][0] == 3_000 and is_stale(gone[2][1])
    assert _val(db, "b")[-1] == (3_000, 5.0)
    # It comes back: a new series for the cache, not stale any more.
    feed.body = P2
    await loop.scrape_and_report(4_000)
    assert _val(db, "a_total", x="2")[-1] == (4_000, 20.0)
    assert _val(db, "scrape_series_added")[-1] == (4_000, 1.0)


async def test_malformed_payload_fails_only_that_scrape(db) -> None:
    loop, feed = _loop(db)
    feed.body = P1
    await loop.scrape_and_report(1_000)
    feed.body = b'a_total{x="1"} 1\nb 2\nc{ 3\n'
    await loop.scrape_and_report(2_000)
    t = loop.target
    assert t.health == "down"
    assert "line 3" in t.last_error
    assert _val(db, "up")[-1] == (2_000, 0.0)
    assert _val(db, "scrape_samples_scraped")[-1] == (2_000, 2.0)
    # Every series of the previous scrape went stale; nothing of the bad payload was stored.
    for ls, samples in read_all(db).items():
        if ls.name in ("a_total", "b"):
            assert samples[-1][0] == 2_000 and is_stale(samples[-1][1]), ls
    assert len(_val(db, "b")) == 2
    feed.body = P1
    await loop.scrape_and_report(3_000)
    assert t.health == "up" and t.last_error == ""
    assert _val(db, "scrape_series_added")[-1] == (3_000, 3.0)


async def test_http_failure_is_down_with_error(db) -> None:
    from scraper.scrape import ScrapeError

    loop, feed = _loop(db)
    feed.body = ScrapeError("server returned HTTP status 500 Internal Server Error")
    await loop.scrape_and_report(1_000)
    assert loop.target.health == "down"
    assert loop.target.last_error == "server returned HTTP status 500 Internal Server Error"
    assert _val(db, "up") == [(1_000, 0.0)]
    assert _val(db, "scrape_samples_scraped") == [(1_000, 0.0)]


async def test_honor_labels_and_exported_prefix(db) -> None:
    body = b'm{job="other",instance="i",exported_job="e"} 1\n'
    loop, feed = _loop(db)
    feed.body = body
    await loop.scrape_and_report(1_000)
    (ls,) = read_all(db, "m")
    assert ls.get("job") == "j" and ls.get("instance") == "h:9100"
    assert ls.get("exported_job") == "e"
    assert ls.get("exported_instance") == "i"
    assert ls.get("exported_exported_job") == "other"


async def test_honor_labels_true_keeps_exposed(db, tmp_path) -> None:
    loop, feed = _loop(db, "    honor_labels: true\n")
    feed.body = b'm{job="other"} 1\n'
    await loop.scrape_and_report(1_000)
    (ls,) = read_all(db, "m")
    assert ls.get("job") == "other" and ls.get("instance") == "h:9100"


async def test_metric_relabel_drop_counts(db) -> None:
    extra = "    metric_relabel_configs:\n      - {source_labels: [__name__], regex: b, action: drop}\n"
    loop, feed = _loop(db, extra)
    feed.body = P1
    await loop.scrape_and_report(1_000)
    assert read_all(db, "b") == {}
    assert _val(db, "scrape_samples_scraped") == [(1_000, 3.0)]
    assert _val(db, "scrape_samples_post_metric_relabeling") == [(1_000, 2.0)]
    feed.body = P2
    await loop.scrape_and_report(2_000)
    assert read_all(db, "b") == {}
    assert _val(db, "scrape_samples_post_metric_relabeling")[-1] == (2_000, 2.0)


async def test_sample_limit(db) -> None:
    loop, feed = _loop(db, "    sample_limit: 2\n")
    feed.body = P1
    await loop.scrape_and_report(1_000)
    assert loop.target.last_error == "sample limit exceeded"
    assert _val(db, "up") == [(1_000, 0.0)]
    assert read_all(db, "a_total") == {}


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        ("    label_limit: 2\n", "label_limit exceeded (metric: a_total, number of labels: 4, limit: 2)"),
        (
            "    label_name_length_limit: 3\n",
            "label_name_length_limit exceeded (metric: a_total, label name: __name__",
        ),
        (
            "    label_value_length_limit: 3\n",
            'label_value_length_limit exceeded (metric: a_total, label name: __name__, value: "a_total"',
        ),
    ],
)
async def test_label_limits(db, extra: str, msg: str) -> None:
    loop, feed = _loop(db, extra)
    feed.body = P1
    await loop.scrape_and_report(1_000)
    assert loop.target.last_error.startswith(msg), loop.target.last_error


async def test_explicit_timestamps(db) -> None:
    loop, feed = _loop(db)
    feed.body = b"m 1 500\nn 2\n"
    await loop.scrape_and_report(1_000)
    assert _val(db, "m") == [(500, 1.0)]
    feed.body = b"n 3\n"
    await loop.scrape_and_report(2_000)
    # Series with their own timestamps get no stale markers.
    assert _val(db, "m") == [(500, 1.0)]


async def test_honor_timestamps_false(db) -> None:
    loop, feed = _loop(db, "    honor_timestamps: false\n")
    feed.body = b"m 1 500\n"
    await loop.scrape_and_report(1_000)
    assert _val(db, "m") == [(1_000, 1.0)]


async def test_end_of_run_staleness(db) -> None:
    loop, feed = _loop(db)
    feed.body = P1
    await loop.scrape_and_report(1_000)
    loop.write_end_of_run_staleness(2_000)
    for ls, samples in read_all(db).items():
        assert samples[-1][0] == 2_000 and is_stale(samples[-1][1]), ls


async def test_openmetrics_fast_path_and_nan(db) -> None:
    loop, feed = _loop(db)
    feed.ct = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    feed.body = b'# TYPE a counter\na_total 1\nq{quantile="0.5"} NaN\n# EOF\n'
    await loop.scrape_and_report(1_000)
    feed.body = b'# TYPE a counter\na_total 2\nq{quantile="0.5"} 3\n# EOF\n'
    await loop.scrape_and_report(2_000)
    assert loop.cache.layout is not None
    q = _val(db, "q")
    assert math.isnan(q[0][1]) and not is_stale(q[0][1]) and q[1] == (2_000, 3.0)
    # A bad value on the fast path falls back to the full parser, which reports the line.
    feed.body = b'# TYPE a counter\na_total 2x\nq{quantile="0.5"} 3\n# EOF\n'
    await loop.scrape_and_report(3_000)
    assert "line 2" in loop.target.last_error


def test_fast_path_equals_full_parse() -> None:
    from scraper._layout import Layout
    from scraper.exposition import Parser

    body = P1
    res = Parser().parse(body)
    lay = Layout.build(body, res, False)
    assert lay is not None
    for new in (
        P2,
        b'# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} +Inf\na_total{x="2"} -1e-3\nb .5\n',
    ):
        got = lay.match(new)
        assert got is not None
        want = Parser().parse(new).values
        assert got.tobytes() == want.tobytes()
    for bad in (
        P3,  # a line less
        P2.replace(b'x="2"', b'x="3"'),  # a key changed
        P2.replace(b"20", b"2 0"),  # two tokens
        P2.replace(b"20", b"1e400"),  # out of range
        P2.replace(b"20", b"+NaN"),
        P2.replace(b"20", b"1_0"),
        P2.replace(b"A.", b"B."),  # a comment changed
    ):
        assert lay.match(bad) is None, bad


def test_accept_header() -> None:
    cfg = _cfg()
    assert accept_header(cfg.scrape_protocols) == (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "application/openmetrics-text;version=0.0.1;q=0.5,"
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,"
        "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    )


def test_cache_keep_only() -> None:
    import numpy as np

    c = ScrapeCache()
    for i, k in enumerate("abcd"):
        c.add(k, i + 1)
    slots = c.keep_only(np.array([3, 1, 3]))
    assert c.slot_keys == ["b", "d"] and slots.tolist() == [1, 0, 1]
    assert c.slot_ref[:2].tolist() == [2, 4]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_TOKENS = [
    "0",
    "1",
    "-1.5",
    "1e3",
    "+Inf",
    "-inf",
    "NaN",
    "nan",
    ".5",
    "5.",
    "1e400",
    "+NaN",
    "1_0",
    "0x1p3",
    "",
    " ",
    "1 2",
    "a",
    "#",
    "}",
    "\t1",
    "1e",
    "infinity",
    "+infinity",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), min_size=3, max_size=3), st.booleans())
def test_fast_path_agrees_with_parser(tokens: list[str], om: bool) -> None:
    """Whatever replaces the values, the fast path gives the full parser's values or declines."""
    from scraper._layout import Layout
    from scraper.exposition import ExpositionError, Parser

    ct = "application/openmetrics-text; version=1.0.0" if om else "text/plain"
    eof = b"# EOF\n" if om else b""
    base = P1 + eof
    lay = Layout.build(base, Parser().parse(base, content_type=ct), om)
    assert lay is not None
    new = (
        b'# HELP a_total A.\n# TYPE a_total counter\na_total{x="1"} %s\na_total{x="2"} %s\nb %s\n'
        % tuple(t.encode() for t in tokens)
    ) + eof
    got = lay.match(new)
    try:
        want = Parser().parse(new, content_type=ct).values
    except ExpositionError:
        assert got is None
        return
    if got is not None:
        assert got.tobytes() == want.tobytes()
