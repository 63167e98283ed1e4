"""Scrape loop timing with an injected clock, and the pool/manager lifecycle (sync, reload, stop)."""

from __future__ import annotations

import asyncio

import pytest

from scraper.config import load_config_str
from scraper.discovery import TargetGroup
from scraper.manager import ScrapeManager, ScrapePool
from scraper.scrape import ScrapeLoop
from tests.scraper.util import is_stale, read_all
from tsdb._db import DBOptions, open_db


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s
        await asyncio.sleep(0)


@pytest.fixture
def db(tmp_path):
    d = open_db(tmp_path / "db", DBOptions())
    yield d
    d.close()


CFG = (
    "scrape_configs:\n  - job_name: j\n    scrape_interval: 1s\n    scrape_timeout: 500ms\n"
    "    static_configs: [{targets: ['a:1', 'b:2']}]\n"
)


def _pool(db, ft: FakeTime, bodies: dict[str, bytes]) -> ScrapePool:
    cfg = load_config_str(CFG).scrape_configs[0]

    def factory(t, app, opts, **kw):
        async def fetch() -> tuple[bytes, str]:
            return bodies[t.labels.get("__address__")], "text/plain"

        kw.pop("session", None)
        return ScrapeLoop(t, app, opts, fetch=fetch, **kw)

    return ScrapePool(cfg, db, clock=ft.clock, sleep=ft.sleep, loop_factory=factory)


async def test_loop_runs_at_interval_with_stable_offset(db) -> None:
    ft = FakeTime(1_000.25)
    pool = _pool(db, ft, {"a:1": b"m 1\n", "b:2": b"m 2\n"})
    pool.sync([TargetGroup("0", [{"__address__": "a:1"}])])
    loop = next(iter(pool.loops.values()))
    off = loop.target.offset_ms(1000, 1_000_250)
    for _ in range(50):
        await asyncio.sleep(0)
        if len(read_all(db, "m").get(next(iter(read_all(db, "m"))), [])) >= 4 if read_all(db, "m") else False:
            break
    samples = next(iter(read_all(db, "m").values()))
    ts = [t for t, _ in samples]
    assert len(ts) >= 3
    assert all(b - a == 1000 for a, b in zip(ts, ts[1:], strict=False))
    assert ts[0] % 1000 == (250 + off) % 1000
    await pool.stop()


async def test_vanished_target_gets_end_of_run_stale_markers(db) -> None:
    ft = FakeTime()
    pool = _pool(db, ft, {"a:1": b"m 1\n", "b:2": b"m 2\n"})
    pool.sync([TargetGroup("0", [{"__address__": "a:1"}, {"__address__": "b:2"}])])
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(pool.active) == 2
    pool.sync([TargetGroup("0", [{"__address__": "a:1"}])])
    assert len(pool.active) == 1
    for _ in range(200):
        await asyncio.sleep(0)
        gone = [s for ls, s in read_all(db).items() if ls.get("instance") == "b:2"]
        if gone and all(is_stale(x[-1][1]) for x in gone):
            break
    gone = {ls.name: s for ls, s in read_all(db).items() if ls.get("instance") == "b:2"}
    assert set(gone) >= {"m", "up", "scrape_duration_seconds", "scrape_series_added"}
    for name, s in gone.items():
        assert is_stale(s[-1][1]), name
        # Stamped after the last scrape (at its next tick; the shared fake clock blurs the exact gap).
        assert s[-1][0] > s[-2][0], name
    await pool.stop()
    # Stopping the pool (shutdown) writes no markers for the remaining target.
    alive = {ls.name: s for ls, s in read_all(db).items() if ls.get("instance") == "a:1"}
    assert not any(is_stale(s[-1][1]) for s in alive.values())


async def test_manager_targets_api_and_reload(db) -> None:
    mgr = ScrapeManager(db, discovery_interval_s=0.01)
    cfg = load_config_str(
        CFG + "    relabel_configs: [{source_labels: [__address__], regex: 'b:2', action: drop}]\n"
        "  - job_name: k\n    static_configs: [{targets: ['c:3']}]\n"
    )
    mgr.apply_config(cfg)
    task = asyncio.create_task(mgr.run())
    try:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(mgr.active_targets()) == 2:
                break
        act = mgr.active_targets()
        assert [t["labels"] for t in act] == [
            {"instance": "a:1", "job": "j"},
            {"instance": "c:3", "job": "k"},
        ]
        assert mgr.dropped_targets() == [
            {
                "discoveredLabels": {
                    "__address__": "b:2",
                    "__metrics_path__": "/metrics",
                    "__scheme__": "http",
                    "__scrape_interval__": "1s",
                    "__scrape_timeout__": "500ms",
                    "job": "j",
                },
                "scrapePool": "j",
            }
        ]
        assert mgr.dropped_target_counts() == {"j": 1, "k": 0}
        # Reload without job k and with a changed interval for j.
        mgr.apply_config(load_config_str(CFG.replace("scrape_interval: 1s", "scrape_interval: 2s")))
        await mgr.reap()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(mgr.active_targets()) == 2 and mgr.active_targets()[0]["scrapeInterval"] == "2s":
                break
        assert {t["scrapePool"] for t in mgr.active_targets()} == {"j"}
        assert {t["scrapeInterval"] for t in mgr.active_targets()} == {"2s"}
    finally:
        mgr.stop()
        await task
