"""Block directories: write, open, read back, tombstones, atomicity, corruption."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_peer
from tests.tsdb.test_chunkenc import STALE, scrape_like
from tsdb._block import (
    Block,
    CorruptBlockError,
    new_ulid,
    open_block,
    read_tombstones,
    ulid_time,
    write_block,
    write_tombstones,
)
from tsdb._blockapi import Interval
from tsdb._postings import label_values_for_matchers, postings_for_matchers
from tsdb.interface import StorageError
from tsdb.labels import Labels
from tsdb.matchers import Matcher, MatchType, matches_labels

T0 = 1_700_006_400_000  # a multiple of 2h


def make_series(
    n_series: int = 50, n: int = 300, seed: int = 0
) -> list[tuple[Labels, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(n, dtype=np.int64) * 15000 + rng.integers(0, 3, n)
    out = []
    for i in range(n_series):
        ls = Labels.from_strings("__name__", f"m{i % 5}", "instance", f"h{i % 7}", "idx", str(i))
        if i % 4 == 0:
            v = np.cumsum(rng.poisson(10, n)).astype(float)
        elif i % 4 == 1:
            v = np.round(rng.normal(0, 10, n), 2)
        elif i % 4 == 2:
            v = rng.random(n)
        else:
            v = np.full(n, 1.0)
            v[-3:] = STALE
            v[5] = np.nan
            v[6] = -0.0
            v[7] = np.inf
        t = ts if i % 3 else ts + i  # some series share timestamps, others don't
        out.append((ls, t, v))
    return out


def read_all(b: Block, batched: bool = False) -> dict[Labels, tuple[np.ndarray, np.ndarray]]:
    ix, cr = b.index(), b.chunks()
    out = {}
    for sid in ix.all_postings().tolist():
        ls, metas = ix.series(sid)
        parts = cr.chunk_many([m.ref for m in metas]) if batched else [cr.chunk(m.ref) for m in metas]
        for m, (t, _) in zip(metas, parts, strict=True):
            assert (m.mint, m.maxt) == (t[0], t[-1])
        out[ls] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return out


def assert_same(got: tuple[np.ndarray, np.ndarray], t: np.ndarray, v: np.ndarray) -> None:
    np.testing.assert_array_equal(got[0], t)
    np.testing.assert_array_equal(got[1].view(np.uint64), v.view(np.uint64))


def test_write_open_read_back(tmp_path: Path) -> None:
    series = make_series()
    rng = np.random.default_rng(1)
    shuffled = [series[i] for i in rng.permutation(len(series))]
    meta = write_block(tmp_path, iter(shuffled), mint=T0, maxt=T0 + 7_200_000, max_samples_per_chunk=128)
    assert meta is not None
    with open_block(tmp_path / meta.ulid) as b:
        assert b.meta == meta
        assert b.dir == tmp_path / meta.ulid
        got = read_all(b)
        assert list(got) == sorted(ls for ls, _, _ in series)  # series ids follow label order
        for ls, t, v in series:
            assert_same(got[ls], t, v)
        for ls, (t, v) in read_all(b, batched=True).items():
            assert_same(got[ls], t, v)
        refs = [m.ref for sid in range(len(series)) for m in b.index().series(sid)[1]]
        for (t1, v1), (t2, v2) in zip(b.chunks().chunk_many(refs), map(b.chunks().chunk, refs), strict=True):
            assert_same((t1, v1), t2, v2)
        assert meta.stats.num_series == len(series)
        assert meta.stats.num_samples == sum(len(t) for _, t, _ in series)
        assert meta.stats.num_chunks == len(series) * 3  # 300 samples -> 3 chunks of 100
        assert b.tombstones() == {}
        assert b.size_bytes() == sum(f.stat().st_size for f in b.dir.rglob("*") if f.is_file())


def test_samples_outside_range_dropped(tmp_path: Path) -> None:
    t = np.arange(10, dtype=np.int64) * 10
    v = np.arange(10.0)
    series = [
        (Labels.from_strings("a", "1"), t, v),
        (Labels.from_strings("a", "2"), t + 1000, v),  # entirely outside
    ]
    meta = write_block(tmp_path, series, mint=20, maxt=60)
    assert meta is not None and meta.stats.num_series == 1 and meta.stats.num_samples == 4
    with open_block(tmp_path / meta.ulid) as b:
        got = read_all(b)
        assert_same(got[Labels.from_strings("a", "1")], t[2:6], v[2:6])
        assert (meta.min_time, meta.max_time) == (20, 60)


def test_empty_input_writes_nothing(tmp_path: Path) -> None:
    assert write_block(tmp_path, [], mint=0, maxt=10) is None
    empty = np.zeros(0, dtype=np.int64), np.zeros(0)
    assert write_block(tmp_path, [(Labels.from_strings("a", "b"), *empty)], mint=0, maxt=10) is None
    assert list(tmp_path.iterdir()) == []


def test_bad_input_rejected(tmp_path: Path) -> None:
    ls = Labels.from_strings("a", "b")
    t = np.array([1, 2, 3])
    with pytest.raises(ValueError, match="strictly increasing"):
        write_block(tmp_path, [(ls, np.array([3, 2, 1]), np.zeros(3))], mint=0, maxt=10)
    with pytest.raises(ValueError, match="duplicate series"):
        write_block(tmp_path, [(ls, t, np.zeros(3)), (ls, t, np.zeros(3))], mint=0, maxt=10)
    assert list(tmp_path.iterdir()) == []


def test_meta_json_shape(tmp_path: Path) -> None:
    series = make_series(5, 20)
    m1 = write_block(tmp_path, series, mint=T0, maxt=T0 + 7_200_000)
    m2 = write_block(tmp_path, series, mint=T0, maxt=T0 + 7_200_000)
    assert m1 is not None and m2 is not None
    m3 = write_block(
        tmp_path,
        series,
        mint=T0,
        maxt=T0 + 7_200_000,
        level=2,
        sources=[m1.ulid, m2.ulid],
        parents=[m1.ulid, m2.ulid],
    )
    assert m3 is not None
    d = json.loads((tmp_path / m1.ulid / "meta.json").read_text())
    assert d == {
        "ulid": m1.ulid,
        "minTime": T0,
        "maxTime": T0 + 7_200_000,
        "stats": {"numSamples": 100, "numSeries": 5, "numChunks": 5, "numTombstones": 0},
        "compaction": {"level": 1, "sources": [m1.ulid]},
        "version": 1,
    }
    d3 = json.loads((tmp_path / m3.ulid / "meta.json").read_text())
    assert d3["compaction"] == {
        "level": 2,
        "sources": [m1.ulid, m2.ulid],
        "parents": [
            {"ulid": m1.ulid, "minTime": T0, "maxTime": T0 + 7_200_000},
            {"ulid": m2.ulid, "minTime": T0, "maxTime": T0 + 7_200_000},
        ],
    }
    with open_block(tmp_path / m3.ulid) as b:
        assert b.meta.parents == [m1.ulid, m2.ulid] and b.meta.level == 2
    write_tombstones(tmp_path / m3.ulid, {0: [Interval(1, 2)]})
    d3["stats"]["numTombstones"] = 1
    assert json.loads((tmp_path / m3.ulid / "meta.json").read_text()) == d3
    assert sorted(p.name for p in (tmp_path / m1.ulid).iterdir()) == [
        "chunks",
        "index",
        "meta.json",
        "tombstones",
    ]
    assert [p.name for p in (tmp_path / m1.ulid / "chunks").iterdir()] == ["000001"]


def test_matchers_on_block(tmp_path: Path) -> None:
    series = make_series()
    meta = write_block(tmp_path, series, mint=T0, maxt=T0 + 7_200_000)
    assert meta is not None
    eq, ne, re_ = MatchType.EQUAL, MatchType.NOT_EQUAL, MatchType.REGEX
    with open_block(tmp_path / meta.ulid) as b:
        ix = b.index()
        labels = [ix.series(sid)[0] for sid in ix.all_postings().tolist()]
        for ms in (
            [Matcher(eq, "__name__", "m1")],
            [Matcher(eq, "__name__", "m1"), Matcher(re_, "instance", "h1|h2")],
            [Matcher(ne, "instance", "h3"), Matcher(re_, "idx", "1.*")],
            [Matcher(eq, "nope", "")],
        ):
            want = [i for i, ls in enumerate(labels) if matches_labels(ms, ls)]
            assert postings_for_matchers(ix, ms).tolist() == want
        vals = label_values_for_matchers(ix, "instance", [Matcher(eq, "__name__", "m0")])
        assert vals == sorted({ls.get("instance") for ls in labels if ls.get("__name__") == "m0"})


def test_tombstones_roundtrip(tmp_path: Path) -> None:
    series = make_series(10, 20)
    tomb = {3: [Interval(5, 10), Interval(8, 20), Interval(30, 40)], 0: [Interval(-5, -1)]}
    meta = write_block(tmp_path, series, mint=T0, maxt=T0 + 7_200_000, tombstones=tomb)
    assert meta is not None
    assert meta.stats.num_tombstones == 3  # [5,10] and [8,20] merge
    bdir = tmp_path / meta.ulid
    with open_block(bdir) as b:
        got = b.tombstones()
        assert got == {0: [Interval(-5, -1)], 3: [Interval(5, 20), Interval(30, 40)]}
        got[7] = [Interval(1, 2)]  # a copy: the block is not affected
        assert 7 not in b.tombstones()
    write_tombstones(bdir, {1: [Interval(0, 2**62)], 9: [Interval(-(2**62), 5), Interval(6, 7)]})
    assert read_tombstones(bdir) == {1: [Interval(0, 2**62)], 9: [Interval(-(2**62), 7)]}
    assert json.loads((bdir / "meta.json").read_text())["stats"]["numTombstones"] == 2
    with open_block(bdir) as b:
        assert b.meta.stats.num_tombstones == 2 and b.tombstones()[1] == [Interval(0, 2**62)]
    write_tombstones(bdir, {})
    assert read_tombstones(bdir) == {}
    assert not list(bdir.glob("*.tmp"))


def test_atomic_when_writer_fails(tmp_path: Path) -> None:
    series = make_series(20, 50)

    def failing():
        yield from series[:10]
        raise RuntimeError("source died")

    with pytest.raises(RuntimeError, match="source died"):
        write_block(tmp_path, failing(), mint=T0, maxt=T0 + 7_200_000)
    assert list(tmp_path.iterdir()) == []


def test_many_segments(tmp_path: Path) -> None:
    series = make_series(40, 200)
    meta = write_block(
        tmp_path, series, mint=T0, maxt=T0 + 7_200_000, max_samples_per_chunk=50, segment_size=4096
    )
    assert meta is not None
    segs = sorted(p.name for p in (tmp_path / meta.ulid / "chunks").iterdir())
    assert len(segs) > 3 and segs[0] == "000001"
    with open_block(tmp_path / meta.ulid) as b:
        got = read_all(b)
        for ls, t, v in series:
            assert_same(got[ls], t, v)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x55
    path.write_bytes(bytes(data))


def test_corrupt_or_missing_files(tmp_path: Path) -> None:
    series = make_series(10, 30)

    def fresh() -> Path:
        meta = write_block(tmp_path, series, mint=T0, maxt=T0 + 7_200_000)
        assert meta is not None
        return tmp_path / meta.ulid

    def expect(bdir: Path, fname: str, read: bool = False) -> None:
        with pytest.raises(CorruptBlockError) as ei:
            b = open_block(bdir)
            if read:
                read_all(b)
        assert isinstance(ei.value, StorageError)
        assert str(bdir) in str(ei.value) and fname in str(ei.value), str(ei.value)

    b = fresh()
    (b / "meta.json").unlink()
    expect(b, "meta.json")
    b = fresh()
    (b / "meta.json").write_text("{not json")
    expect(b, "meta.json")
    b = fresh()
    (b / "index").unlink()
    expect(b, "index")
    b = fresh()
    _flip(b / "index", 20)
    expect(b, "index")
    b = fresh()
    _flip(b / "tombstones", 9)
    expect(b, "tombstones")
    b = fresh()
    (b / "chunks" / "000001").unlink()
    expect(b, "000001", read=True)
    b = fresh()
    seg = b / "chunks" / "000001"
    _flip(seg, seg.stat().st_size // 2)
    expect(b, "000001", read=True)
    with pytest.raises(CorruptBlockError, match="000001"), open_block(b) as blk:
        read_all(blk, batched=True)
    b = fresh()
    _flip(seg := b / "chunks" / "000001", 2)
    expect(b, "000001", read=True)
    with pytest.raises(CorruptBlockError):
        open_block(tmp_path / "nonexistent")


def test_ulid() -> None:
    seen = [new_ulid(1_700_000_000_000) for _ in range(100)]
    assert all(len(u) == 26 and set(u) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for u in seen)
    assert seen == sorted(seen) and len(set(seen)) == 100
    assert ulid_time(new_ulid(1_800_000_000_000)) == 1_800_000_000_000
    a = new_ulid()
    assert new_ulid() > a
    assert new_ulid(0, rand=lambda n: bytes(n)) > a  # still monotonic against earlier ones
    with pytest.raises(ValueError):
        new_ulid(1 << 48)


# ---------------------------------------------------------------------------- size vs Prometheus


def _scrape_block(tmp_path: Path, n_targets: int) -> tuple[list, Path, int]:
    rng = np.random.default_rng(11)
    data = list(scrape_like(rng, n_targets=n_targets, n=470, t0=T0))
    series = [(Labels.from_dict(ls), t, v) for ls, t, v in data]
    meta = write_block(tmp_path / "heron", series, mint=T0, maxt=T0 + 7_200_000)
    assert meta is not None
    bdir = tmp_path / "heron" / meta.ulid
    size = sum(f.stat().st_size for f in bdir.rglob("*") if f.is_file())
    with open_block(bdir) as b:
        got = read_all(b)
        for ls, t, v in series:
            assert_same(got[ls], t, v)
    return data, bdir, size


def test_bytes_per_sample_whole_block(tmp_path: Path) -> None:
    (tmp_path / "heron").mkdir()
    data, _, size = _scrape_block(tmp_path, n_targets=6)
    samples = sum(len(t) for _, t, _ in data)
    # Measured ~0.66 bytes/sample (chunks, index, meta, tombstones), with
    # timestamps stored once per scrape target.
    assert size / samples < 0.8, size / samples


def test_smaller_than_prometheus_block(tmp_path: Path) -> None:
    """The same samples as a real Prometheus block (promtool), whole directory sizes."""
    promtool = require_peer("promtool")
    (tmp_path / "heron").mkdir()
    data, _, ours = _scrape_block(tmp_path, n_targets=4)
    om = tmp_path / "data.om"
    with open(om, "w") as f:
        by_name: dict[str, list] = {}
        for ls, t, v in data:
            by_name.setdefault(ls["__name__"], []).append((ls, t, v))
        for name, items in by_name.items():
            f.write(f"# TYPE {name} gauge\n")
            for ls, t, v in items:
                lab = ",".join(f'{k}="{val}"' for k, val in ls.items() if k != "__name__")
                f.writelines(
                    f"{name}{{{lab}}} {vi!r} {ti / 1000:.3f}\n"
                    for ti, vi in zip(t.tolist(), v.tolist(), strict=True)
                )
        f.write("# EOF\n")
    out = tmp_path / "prom"
    out.mkdir()
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(out)],
        check=True,
        capture_output=True,
    )
    prom = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    samples = sum(len(t) for _, t, _ in data)
    # Measured: ~0.68 vs ~3.8 bytes/sample (ratio ~0.18).
    assert ours <= 0.5 * prom, (ours / samples, prom / samples)


def test_block_is_readable_after_reopen_and_close(tmp_path: Path) -> None:
    series = make_series(5, 10)
    meta = write_block(tmp_path, series, mint=T0, maxt=T0 + 7_200_000)
    assert meta is not None
    b = open_block(tmp_path / meta.ulid)
    read_all(b)
    b.close()
    b = open_block(tmp_path / meta.ulid)
    assert len(read_all(b)) == 5
    b.close()
    assert os.listdir(tmp_path) == [meta.ulid]
