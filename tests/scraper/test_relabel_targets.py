"""Relabeling case by case (Prometheus's documented behaviour), target population, discovery plumbing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scraper.config import load_config_str
from scraper.discovery import DiscoveryManager, StaticProvider, TargetGroup
from scraper.discovery._file import FileProvider
from scraper.relabel import hashmod, relabel
from scraper.target import TargetError, populate_labels, targets_from_group
from tsdb.labels import Labels


def _steps(yaml_steps: str):
    text = "scrape_configs:\n  - job_name: a\n    relabel_configs:\n" + yaml_steps
    return load_config_str(text).scrape_configs[0].relabel_configs


def L(**kw: str) -> Labels:
    return Labels.from_dict(kw)


CASES = [
    # replace: defaults (regex (.*), replacement $1, separator ;)
    ("      - {source_labels: [a, b], target_label: c}\n", L(a="1", b="2"), L(a="1", b="2", c="1;2")),
    (
        "      - {source_labels: [a], regex: 'x(.*)', target_label: c, replacement: 'y${1}z'}\n",
        L(a="xab"),
        L(a="xab", c="yabz"),
    ),
    # regex is anchored: no match leaves the set alone
    ("      - {source_labels: [a], regex: 'b', target_label: c, replacement: z}\n", L(a="abc"), L(a="abc")),
    # empty result deletes the target label
    ("      - {source_labels: [nope], target_label: a}\n", L(a="1"), L()),
    # fast path: empty value, default regex, literal replacement
    ("      - {target_label: env, replacement: prod}\n", L(a="1"), L(a="1", env="prod")),
    # $-expanded target label; an invalid expanded name is ignored
    (
        "      - {source_labels: [a], regex: '(.*)', target_label: 'l_$1', replacement: v}\n",
        L(a="x"),
        L(a="x", l_x="v"),
    ),
    (
        "      - {source_labels: [a], regex: '(.*)', target_label: 'l_$1', replacement: v}\n",
        L(a="-"),
        L(a="-"),
    ),
    # named groups, $$ and unknown groups
    (
        "      - {source_labels: [a], regex: '(?P<h>[^:]+):.*', target_label: h, replacement: '$h$$${9}'}\n",
        L(a="x:1"),
        L(a="x:1", h="x$"),
    ),
    ("      - {source_labels: [a], target_label: b, action: lowercase}\n", L(a="AbC"), L(a="AbC", b="abc")),
    ("      - {source_labels: [a], target_label: b, action: uppercase}\n", L(a="AbC"), L(a="AbC", b="ABC")),
    ("      - {source_labels: [a], regex: 'k.*', action: keep}\n", L(a="kx"), L(a="kx")),
    ("      - {source_labels: [a], regex: 'k.*', action: keep}\n", L(a="xk"), None),
    ("      - {source_labels: [a], regex: 'k.*', action: drop}\n", L(a="kx"), None),
    ("      - {source_labels: [a], regex: '', action: drop}\n", L(b="1"), None),  # missing label = ''
    ("      - {source_labels: [a], target_label: b, action: keepequal}\n", L(a="1", b="1"), L(a="1", b="1")),
    ("      - {source_labels: [a], target_label: b, action: keepequal}\n", L(a="1", b="2"), None),
    ("      - {source_labels: [a], target_label: b, action: dropequal}\n", L(a="1", b="1"), None),
    (
        "      - {regex: '__meta_(.+)', action: labelmap}\n",
        L(__meta_x="1", y="2"),
        L(__meta_x="1", x="1", y="2"),
    ),
    (
        "      - {regex: '__meta_(.+)', replacement: 'm_$1', action: labelmap}\n",
        L(__meta_x="1"),
        L(__meta_x="1", m_x="1"),
    ),
    ("      - {regex: 'y|z', action: labeldrop}\n", L(x="1", y="2", z="3"), L(x="1")),
    ("      - {regex: 'y|z', action: labelkeep}\n", L(x="1", y="2", z="3"), L(y="2", z="3")),
    # multi-line values: (?s) so '.' matches newlines
    (
        "      - {source_labels: [a], regex: 'a.b', target_label: c, replacement: ok}\n",
        L(a="a\nb"),
        L(a="a\nb", c="ok"),
    ),
    # RE2 inline flags
    ("      - {source_labels: [a], regex: '(?i)abc', action: keep}\n", L(a="ABC"), L(a="ABC")),
]


@pytest.mark.parametrize(("steps", "inp", "want"), CASES)
def test_relabel_cases(steps: str, inp: Labels, want: Labels | None) -> None:
    assert relabel(inp, _steps(steps)) == want


def test_hashmod_matches_prometheus() -> None:
    # From Prometheus's relabel tests: "baz" with modulus 1000 is 976.
    assert hashmod("baz", 1000) == 976
    cfg = _steps("      - {source_labels: [a], modulus: 1000, target_label: h, action: hashmod}\n")
    assert relabel(L(a="baz"), cfg) == L(a="baz", h="976")


def test_sequence_and_drop_stops() -> None:
    cfg = _steps(
        "      - {source_labels: [a], regex: '(.*)', target_label: b, replacement: '$1-x'}\n"
        "      - {source_labels: [b], regex: '1-x', action: drop}\n"
        "      - {target_label: never, replacement: set}\n"
    )
    assert relabel(L(a="1"), cfg) is None
    assert relabel(L(a="2"), cfg) == L(a="2", b="2-x", never="set")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), st.text(max_size=8), max_size=5))
def test_labelkeep_labeldrop_partition(d: dict[str, str]) -> None:
    ls = Labels.from_dict(d)
    keep = relabel(ls, _steps("      - {regex: '[a-m].*', action: labelkeep}\n"))
    drop = relabel(ls, _steps("      - {regex: '[a-m].*', action: labeldrop}\n"))
    assert keep is not None and drop is not None
    assert sorted(keep.pairs + drop.pairs) == sorted(ls.pairs)


def _scfg(extra: str = ""):
    text = (
        "global: {scrape_interval: 30s, scrape_timeout: 10s}\n"
        "scrape_configs:\n  - job_name: j\n    params: {module: [http_2xx, x]}\n" + extra
    )
    return load_config_str(text).scrape_configs[0]


def test_populate_labels_defaults_and_instance() -> None:
    lbls, disc = populate_labels(L(__address__="h:1", __meta_x="m"), _scfg())
    assert disc == L(
        __address__="h:1",
        __meta_x="m",
        __metrics_path__="/metrics",
        __param_module="http_2xx",
        __scheme__="http",
        __scrape_interval__="30s",
        __scrape_timeout__="10s",
        job="j",
    )
    assert lbls is not None
    assert lbls.get("instance") == "h:1" and not lbls.has("__meta_x")
    assert lbls.get("__param_module") == "http_2xx"


def test_populate_labels_errors_and_drop() -> None:
    with pytest.raises(TargetError, match="no address"):
        populate_labels(L(a="1"), _scfg())
    with pytest.raises(TargetError, match="is not a valid hostname"):
        populate_labels(L(__address__="h:1/x"), _scfg())
    with pytest.raises(TargetError, match="scrape timeout cannot be greater than scrape interval"):
        populate_labels(L(__address__="h:1", __scrape_timeout__="1m"), _scfg())
    with pytest.raises(TargetError, match="error parsing scrape interval"):
        populate_labels(L(__address__="h:1", __scrape_interval__="x"), _scfg())
    cfg = _scfg("    relabel_configs: [{source_labels: [__address__], regex: 'd.*', action: drop}]\n")
    lbls, disc = populate_labels(L(__address__="d:1"), cfg)
    assert lbls is None and disc.get("job") == "j"


def test_target_url_and_api_shape() -> None:
    cfg = _scfg("    relabel_configs: [{target_label: __param_target, replacement: 'a b&c'}]\n")
    act, drp, errs = targets_from_group(TargetGroup("0", [{"__address__": "h:9115"}], {"x": "y"}), cfg)
    assert not drp and not errs
    t = act[0]
    assert t.url() == "http://h:9115/metrics?module=http_2xx&module=x&target=a+b%26c"
    d = t.api_active()
    assert set(d) == {
        "discoveredLabels",
        "labels",
        "scrapePool",
        "scrapeUrl",
        "globalUrl",
        "lastError",
        "lastScrape",
        "lastScrapeDuration",
        "health",
        "scrapeInterval",
        "scrapeTimeout",
    }
    assert d["lastScrape"] == "0001-01-01T00:00:00Z" and d["health"] == "unknown"
    assert d["labels"] == {"instance": "h:9115", "job": "j", "x": "y"}
    # Stable offset within the interval.
    offs = {t.offset_ms(30_000, now) for now in (1_000_000, 1_000_000 + 30_000 * 7)}
    assert len(offs) == 1 and 0 <= offs.pop() <= 30_000


def test_global_url() -> None:
    from scraper.manager import global_url

    ext = "http://prom.example:9090/"
    assert (
        global_url("http://localhost:9100/metrics", "0.0.0.0:9090", ext) == "http://prom.example:9100/metrics"
    )
    assert (
        global_url("http://127.0.0.1:9090/metrics", "0.0.0.0:9090", ext) == "http://prom.example:9090/metrics"
    )
    assert global_url("http://10.0.0.1:9100/metrics", "0.0.0.0:9090", ext) == "http://10.0.0.1:9100/metrics"


async def test_discovery_manager_merges_and_throttles(tmp_path: Path) -> None:
    f = tmp_path / "targets.json"
    f.write_text(json.dumps([{"targets": ["a:1", "b:2"], "labels": {"env": "x"}}]))
    cfg = load_config_str(
        "scrape_configs:\n  - job_name: j\n    static_configs: [{targets: ['s:1']}]\n"
        f"    file_sd_configs: [{{files: ['{tmp_path}/*.json'], refresh_interval: 1s}}]\n"
    ).scrape_configs[0]
    got: list[dict[str, list[TargetGroup]]] = []
    dm = DiscoveryManager(got.append, update_interval_s=0.1)
    dm.provider_factory = lambda sd: [
        ("static", StaticProvider(sd.static_configs)),
        ("file", FileProvider(sd.file_sd_configs[0], poll_s=0.05)),
    ]
    dm.apply_config({"j": cfg.sd})
    task = asyncio.create_task(dm.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if got and sum(len(g.targets) for g in got[-1]["j"]) == 3:
                break
        groups = got[-1]["j"]
        by_src = {g.source: g for g in groups}
        assert by_src["0"].targets == [{"__address__": "s:1"}]
        fg = by_src[f"{f}:0"]
        assert fg.labels == {"env": "x", "__meta_filepath": str(f)}
        # A changed file is picked up; a broken one keeps the previous targets.
        f.write_text(json.dumps([{"targets": ["c:3"]}]))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if any(t["__address__"] == "c:3" for g in got[-1]["j"] for t in g.targets):
                break
        else:
            raise AssertionError("file change not seen")
        n = len(got)
        f.write_text("{not json")
        await asyncio.sleep(0.4)
        assert any(t["__address__"] == "c:3" for g in got[-1]["j"] for t in g.targets)
        assert len(got) == n
    finally:
        dm.stop()
        await task
