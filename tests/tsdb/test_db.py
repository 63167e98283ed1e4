"""DB: head + WAL + blocks end to end: replay, compaction, retention, deletion, snapshots."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tsdb import STALE_NAN, Labels, Matcher, MatchType, stale_mask
from tsdb._db import DB, HOUR_MS, DBLockedError, DBOptions

ROOT = Path(__file__).resolve().parents[2]


def L(**kw: str) -> Labels:
    return Labels.from_dict({"__name__": "m", **kw})


def eq(name: str, value: str) -> Matcher:
    return Matcher(MatchType.EQUAL, name, value)


def fill(db: DB, n_series: int, start: int, end: int, step: int = 15_000) -> None:
    app = db.appender()
    refs = np.array([app.ref_for(L(i=str(i))) for i in range(n_series)])
    for t in range(start, end, step):
        app.append_batch(refs, np.full(n_series, t), np.arange(n_series, dtype=np.float64) + t / 1000)
    app.commit()


def read_all(db: DB, mint: int = -(2**62), maxt: int = 2**62) -> dict[Labels, tuple[list[int], list[float]]]:
    q = db.querier(mint, maxt)
    return {
        s.labels: (s.ts.tolist(), s.vals.tolist())
        for s in q.select([Matcher(MatchType.REGEX, "__name__", ".+")])
    }


def test_replay_restores_committed_samples(tmp_path: Path) -> None:
    db = DB(tmp_path)
    app = db.appender()
    r = app.append(None, L(a="1"), 1000, 1.5)
    app.append(r, None, 2000, STALE_NAN)
    app.commit()
    app = db.appender()
    app.append(r, None, 3000, 9.0)  # never committed
    db.close()
    db = DB(tmp_path)
    got = read_all(db)
    assert list(got) == [L(a="1")]
    ts, vs = got[L(a="1")]
    assert ts == [1000, 2000]
    assert vs[0] == 1.5 and stale_mask(np.array(vs)).tolist() == [False, True]
    # appending continues after replay with the same series ref
    app = db.appender()
    app.append(None, L(a="1"), 4000, 2.0)
    app.commit()
    assert read_all(db)[L(a="1")][0] == [1000, 2000, 4000]
    db.close()


def test_lock_prevents_second_open(tmp_path: Path) -> None:
    db = DB(tmp_path)
    with pytest.raises(DBLockedError):
        DB(tmp_path)
    db.close()


def test_head_compaction_to_block_and_queries_span_both(tmp_path: Path) -> None:
    db = DB(tmp_path, DBOptions(retention_ms=0))
    fill(db, 20, 0, 4 * HOUR_MS)
    before = read_all(db)
    written = db.compact()
    assert len(written) == 1  # [0, 2h) persisted, head keeps the rest
    blk = db.blocks()[0]
    assert blk.meta.min_time == 0 and blk.meta.max_time == 2 * HOUR_MS
    assert read_all(db) == before
    assert db.querier(0, 10**12).label_values("i") == sorted(str(i) for i in range(20))
    db.close()
    db = DB(tmp_path, DBOptions(retention_ms=0))  # blocks + checkpointed WAL
    assert read_all(db) == before
    db.close()


def test_compaction_merges_blocks_into_bigger_ranges(tmp_path: Path) -> None:
    db = DB(tmp_path, DBOptions(retention_ms=0))
    fill(db, 5, 0, 9 * HOUR_MS, step=60_000)
    before = read_all(db)
    db.compact()
    levels = sorted((b.meta.min_time, b.meta.max_time, b.meta.level) for b in db.blocks())
    # [0,6h) merged from three 2h blocks; [6h,8h) not yet merged (its window is open)
    assert levels[0] == (0, 6 * HOUR_MS, 2)
    assert read_all(db) == before
    db.close()


def test_time_retention(tmp_path: Path) -> None:
    db = DB(tmp_path, DBOptions(retention_ms=4 * HOUR_MS, max_block_range_ms=2 * HOUR_MS))
    fill(db, 3, 0, 12 * HOUR_MS, step=60_000)
    db.compact()
    mins = [b.meta.min_time for b in db.blocks()]
    newest = max(b.meta.max_time for b in db.blocks())
    assert all(newest - b.meta.max_time <= 4 * HOUR_MS for b in db.blocks())
    assert 0 not in mins
    db.close()


def test_size_retention(tmp_path: Path) -> None:
    db = DB(tmp_path, DBOptions(retention_ms=0, max_block_range_ms=2 * HOUR_MS))
    fill(db, 50, 0, 12 * HOUR_MS, step=30_000)
    db.compact()
    sizes = [b.size_bytes() for b in db.blocks()]
    assert len(sizes) >= 4
    db.opts.retention_bytes = sum(sizes[-2:]) + db.wal.size_bytes() + 1
    deleted = db.apply_retention()
    assert len(deleted) == len(sizes) - 2
    assert db.size_bytes() <= db.opts.retention_bytes
    db.close()


def test_delete_series_and_clean_tombstones(tmp_path: Path) -> None:
    db = DB(tmp_path, DBOptions(retention_ms=0))
    fill(db, 4, 0, 4 * HOUR_MS, step=60_000)
    db.compact()
    hit = db.delete_series([eq("i", "1")], HOUR_MS, 3 * HOUR_MS)
    assert hit >= 2  # in the block and in the head
    got = read_all(db)
    ts = got[L(i="1")][0]
    assert all(t < HOUR_MS or t > 3 * HOUR_MS for t in ts)
    assert len(got[L(i="2")][0]) == 4 * 60
    db.clean_tombstones()
    assert all(not b.tombstones() for b in db.blocks())
    assert read_all(db)[L(i="1")][0] == ts
    db.close()
    db = DB(tmp_path, DBOptions(retention_ms=0))  # head tombstones come back from the WAL
    assert read_all(db)[L(i="1")][0] == ts
    db.close()


def test_snapshot_has_blocks_and_head(tmp_path: Path) -> None:
    db = DB(tmp_path / "db", DBOptions(retention_ms=0))
    fill(db, 3, 0, 4 * HOUR_MS, step=60_000)
    db.compact()
    before = read_all(db)
    snap = db.snapshot(tmp_path / "snap")
    db.close()
    db2 = DB(snap, DBOptions(retention_ms=0))
    assert read_all(db2) == before
    db2.close()


def test_out_of_order_window_survives_compaction(tmp_path: Path) -> None:
    db = DB(tmp_path, DBOptions(retention_ms=0, ooo_window_ms=30 * 60_000))
    app = db.appender()
    r = app.append(None, L(), 60 * 60_000, 1.0)
    app.commit()
    app = db.appender()
    app.append(r, None, 45 * 60_000, 0.5)
    app.commit()
    assert read_all(db)[L()][0] == [45 * 60_000, 60 * 60_000]
    db.close()
    db = DB(tmp_path, DBOptions(retention_ms=0, ooo_window_ms=30 * 60_000))
    assert read_all(db)[L()][0] == [45 * 60_000, 60 * 60_000]
    db.close()


def test_corrupted_wal_tail_is_truncated_not_fatal(tmp_path: Path) -> None:
    db = DB(tmp_path)
    for k in range(10):
        app = db.appender()
        app.append(None, L(), 1000 * (k + 1), float(k))
        app.commit()
    db.close()
    segs = sorted((tmp_path / "wal").glob("0*"))
    last = max((s for s in segs if s.stat().st_size), key=lambda s: s.name)
    with open(last, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        f.truncate(size - 3)  # tear the last record
    db = DB(tmp_path)
    ts = read_all(db)[L()][0]
    assert ts == [1000 * (k + 1) for k in range(9)]
    assert db.replay_stats["corrupted_bytes_truncated"] > 0
    app = db.appender()
    app.append(None, L(), 50_000, 1.0)
    app.commit()
    db.close()
    assert read_all(DB(tmp_path))[L()][0][-1] == 50_000


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from tsdb import Labels
    from tsdb._db import DB, DBOptions
    db = DB(sys.argv[1], DBOptions(retention_ms=0))
    app = db.appender()
    refs = np.array([app.ref_for(Labels.from_dict({"__name__": "m", "i": str(i)})) for i in range(100)])
    app.commit()
    k = 0
    while True:
        app = db.appender()
        app.append_batch(refs, np.full(100, k * 1000), np.full(100, float(k)))
        app.commit()
        print(k, flush=True)
        k += 1
    """
)


def test_sigkill_mid_ingestion_loses_no_committed_sample(tmp_path: Path) -> None:
    p = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert p.stdout is not None
    committed = -1
    for line in p.stdout:
        committed = int(line)
        if committed >= 300:
            break
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    db = DB(tmp_path, DBOptions(retention_ms=0))
    got = read_all(db)
    assert len(got) == 100
    for ts, vs in got.values():
        assert len(ts) >= committed + 1
        assert ts[: committed + 1] == [k * 1000 for k in range(committed + 1)]
        assert vs[: committed + 1] == [float(k) for k in range(committed + 1)]
    db.close()


async def test_background_loop_compacts_on_injected_schedule(tmp_path: Path) -> None:
    db = DB(tmp_path, DBOptions(retention_ms=6 * HOUR_MS, max_block_range_ms=2 * HOUR_MS))
    sleeps: list[float] = []

    async def fake_sleep(s: float) -> None:
        sleeps.append(s)
        if len(sleeps) == 1:
            fill(db, 2, 0, 12 * HOUR_MS, step=60_000)  # data arrives between two runs
        else:
            db.stop()

    await db.run(interval_s=60.0, sleep=fake_sleep)
    assert sleeps == [60.0, 60.0]  # no wall-clock sleeping in the loop itself
    newest = max(b.meta.max_time for b in db.blocks())
    assert all(newest - b.meta.max_time <= 6 * HOUR_MS for b in db.blocks())
    assert db.head.min_time >= 8 * HOUR_MS
    db.close()
