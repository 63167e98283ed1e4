from __future__ import annotations

import logging
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsdb import STALE_NAN, Labels
from tsdb._wal import (
    WAL,
    ReplayStats,
    SamplesRecord,
    SeriesRecord,
    TombstonesRecord,
    WALCorruptionError,
    WALError,
    checkpoint,
    decode_record,
    encode_samples,
    encode_series,
    encode_tombstones,
    list_segments,
    replay,
)

U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
label_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)


def _samples(n: int, seed: int = 0, t0: int = 1_700_000_000_000) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    refs = rng.integers(1, 1000, n).astype(np.uint64)
    ts = t0 + np.arange(n, dtype=np.int64) * 1000
    vals = rng.normal(size=n)
    return refs, ts, vals


def _eq(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, SeriesRecord):
        assert isinstance(b, SeriesRecord)
        return np.array_equal(a.refs, b.refs) and a.labels == b.labels
    if isinstance(a, SamplesRecord):
        assert isinstance(b, SamplesRecord)
        return (
            np.array_equal(a.refs, b.refs)
            and np.array_equal(a.ts, b.ts)
            and np.array_equal(a.vals.view(np.uint64), b.vals.view(np.uint64))
        )
    assert isinstance(a, TombstonesRecord) and isinstance(b, TombstonesRecord)
    return all(
        np.array_equal(x, y)
        for x, y in zip((a.refs, a.mints, a.maxts), (b.refs, b.mints, b.maxts), strict=True)
    )


def _all_eq(got: list, want: list) -> bool:
    return len(got) == len(want) and all(_eq(g, w) for g, w in zip(got, want, strict=True))


# -- encoding round trips ---------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(U64, I64, U64), max_size=300), st.booleans())
def test_samples_round_trip_any_bits(rows: list[tuple[int, int, int]], compress: bool) -> None:
    refs = np.array([r[0] for r in rows], dtype=np.uint64)
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    vals = np.array([r[2] for r in rows], dtype=np.uint64).view(np.float64)
    rec = decode_record(encode_samples(refs, ts, vals, compress=compress))
    assert isinstance(rec, SamplesRecord)
    assert rec.refs.dtype == np.uint64 and rec.ts.dtype == np.int64 and rec.vals.dtype == np.float64
    assert np.array_equal(rec.refs, refs)
    assert np.array_equal(rec.ts, ts)
    assert np.array_equal(rec.vals.view(np.uint64), vals.view(np.uint64))


def test_stale_nan_and_plain_nan_survive() -> None:
    vals = np.array([STALE_NAN, float("nan"), float("inf"), -0.0] * 500)
    rec = decode_record(encode_samples(np.arange(2000), np.arange(2000), vals))
    assert isinstance(rec, SamplesRecord)
    assert np.array_equal(rec.vals.view(np.uint64), vals.view(np.uint64))
    assert rec.vals.view(np.uint64)[0] == 0x7FF0000000000002


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(U64, st.dictionaries(label_text, label_text, max_size=5)),
        max_size=40,
    )
)
def test_series_round_trip(rows: list[tuple[int, dict[str, str]]]) -> None:
    refs = np.array([r for r, _ in rows], dtype=np.uint64)
    labels = [Labels.from_dict(d) for _, d in rows]
    rec = decode_record(encode_series(refs, labels))
    assert isinstance(rec, SeriesRecord)
    assert np.array_equal(rec.refs, refs)
    assert rec.labels == labels
    assert [hash(x) for x in rec.labels] == [hash(x) for x in labels]


def test_series_rejects_lone_surrogates() -> None:
    with pytest.raises(ValueError):
        encode_series([1], [Labels.from_strings("a", "x\udcffy")])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(U64, I64, I64), max_size=50))
def test_tombstones_round_trip(rows: list[tuple[int, int, int]]) -> None:
    cols = list(zip(*rows, strict=True)) if rows else [(), (), ()]
    refs, lo, hi = (np.array(c, dtype=d) for c, d in zip(cols, (np.uint64, np.int64, np.int64), strict=True))
    rec = decode_record(encode_tombstones(refs, lo, hi))
    assert isinstance(rec, TombstonesRecord)
    assert np.array_equal(rec.refs, refs) and np.array_equal(rec.mints, lo) and np.array_equal(rec.maxts, hi)


def test_encode_length_mismatch() -> None:
    with pytest.raises(ValueError):
        encode_samples([1, 2], [1], [1.0, 2.0])
    with pytest.raises(ValueError):
        encode_series([1, 2], [Labels.from_strings("a", "b")])


# -- writer + replay ----------------------------------------------------------


def _workload(k: int, seed: int = 1) -> tuple[list[bytes], list[object]]:
    """k records of mixed types; returns (encoded, decoded-expected)."""
    rng = random.Random(seed)
    enc: list[bytes] = []
    for i in range(k):
        kind = rng.random()
        if kind < 0.2:
            refs = np.arange(i * 10, i * 10 + 3, dtype=np.uint64)
            labels = [Labels.from_strings("__name__", f"m{i}", "i", str(j)) for j in range(3)]
            enc.append(encode_series(refs, labels))
        elif kind < 0.9:
            enc.append(encode_samples(*_samples(rng.randint(0, 300), seed=i)))
        else:
            enc.append(encode_tombstones([i], [i * 10], [i * 10 + 5]))
    return enc, [decode_record(e) for e in enc]


def test_log_and_replay(tmp_path: Path) -> None:
    enc, want = _workload(50)
    with WAL(tmp_path) as w:
        for i in range(0, 50, 5):
            w.log(*enc[i : i + 5])
        assert w.records_written == 50
    stats = ReplayStats()
    got = list(replay(tmp_path, stats=stats))
    assert _all_eq(got, want)
    assert stats.records == 50 and stats.corrupted_bytes == 0 and not stats.warnings
    assert stats.samples == sum(len(r.refs) for r in want if isinstance(r, SamplesRecord))


def test_segment_rollover_and_reopen(tmp_path: Path) -> None:
    enc, want = _workload(60)
    w = WAL(tmp_path, segment_size=4096)
    for e in enc[:30]:
        w.log(e)
    segs = w.segments()
    assert len(segs) > 3 and segs == list(range(len(segs)))
    for s in segs:  # a segment overflows only when a single call alone is bigger
        size = os.path.getsize(tmp_path / f"{s:08d}")
        assert size <= 4096 or size == max(len(e) + 8 for e in enc[:30] if len(e) + 8 == size)
    w.close()
    w2 = WAL(tmp_path, segment_size=4096)
    assert w2.current_segment == segs[-1] + 1
    for e in enc[30:]:
        w2.log(e)
    assert w2.cut_segment() == w2.current_segment
    w2.close()
    assert _all_eq(list(replay(tmp_path)), want)


def test_oversized_call_gets_own_segment(tmp_path: Path) -> None:
    big = encode_samples(*_samples(5000), compress=False)
    small = encode_tombstones([1], [2], [3])
    with WAL(tmp_path, segment_size=1024) as w:
        w.log(small)
        w.log(big, small)  # one call: kept together in a new segment
        w.log(small)
    assert list_segments(tmp_path) == [0, 1, 2]
    assert os.path.getsize(tmp_path / "00000001") == len(big) + len(small) + 16
    assert len(list(replay(tmp_path))) == 4


def test_truncate_and_size(tmp_path: Path) -> None:
    with WAL(tmp_path, segment_size=1 << 20) as w:
        for _ in range(4):
            w.log(encode_tombstones([1], [2], [3]))
            w.cut_segment()
        assert w.segments() == [0, 1, 2, 3, 4]
        size = w.size_bytes()
        assert size == 4 * (8 + len(encode_tombstones([1], [2], [3])))
        w.truncate(3)
        assert w.segments() == [3, 4]
        w.truncate(100)  # never the segment being written
        assert w.segments() == [4]
        assert w.segment_range() == (4, 4)


def test_closed_wal_rejects_writes(tmp_path: Path) -> None:
    w = WAL(tmp_path)
    w.close()
    w.close()
    with pytest.raises(WALError):
        w.log(encode_tombstones([1], [2], [3]))


def test_concurrent_log(tmp_path: Path) -> None:
    w = WAL(tmp_path, segment_size=64 << 10)

    def worker(k: int) -> None:
        for i in range(200):
            w.log(encode_tombstones([k], [i], [i]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    got = [r for r in replay(tmp_path) if isinstance(r, TombstonesRecord)]
    assert len(got) == 800
    for k in range(4):  # per-thread order preserved
        mine = [int(r.mints[0]) for r in got if int(r.refs[0]) == k]
        assert mine == list(range(200))


def test_unknown_record_type_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with WAL(tmp_path) as w:
        w.log(encode_tombstones([1], [2], [3]), b"\x63\x00abcd", encode_tombstones([4], [5], [6]))
    stats = ReplayStats()
    with caplog.at_level(logging.WARNING, logger="heron.tsdb.wal"):
        got = list(replay(tmp_path, stats=stats))
    assert len(got) == 2 and stats.unknown_records == 1
    assert "unknown record type 99" in caplog.text


# -- damage ------------------------------------------------------------------


def _write_single_segment(path: Path, enc: list[bytes]) -> list[int]:
    """Write each record with its own log call; return the end offset of each."""
    ends = []
    with WAL(path) as w:
        for e in enc:
            w.log(e)
            ends.append(w.bytes_written)
    return ends


def test_torn_tail_every_kind_of_cut(tmp_path: Path) -> None:
    enc, want = _workload(25, seed=7)
    src = tmp_path / "src"
    ends = _write_single_segment(src, enc)
    data = (src / "00000000").read_bytes()
    rng = random.Random(3)
    cuts = sorted(
        {0, 1, 7, 8, 9, *ends, *(e - 1 for e in ends), *(rng.randrange(len(data)) for _ in range(40))}
    )
    for cut in cuts:
        d = tmp_path / f"cut{cut}"
        d.mkdir()
        (d / "00000000").write_bytes(data[:cut])
        n_ok = sum(1 for e in ends if e <= cut)
        stats = ReplayStats()
        got = list(replay(d, stats=stats))
        assert _all_eq(got, want[:n_ok]), cut
        good_end = ends[n_ok - 1] if n_ok else 0
        assert os.path.getsize(d / "00000000") == good_end
        assert stats.corrupted_bytes == cut - good_end
        assert bool(stats.warnings) == (cut != good_end)
        # A new writer continues cleanly after the repaired segment.
        with WAL(d) as w:
            w.log(enc[0])
        stats2 = ReplayStats()
        assert _all_eq(list(replay(d, stats=stats2)), want[:n_ok] + want[:1])
        assert not stats2.warnings and stats2.corrupted_bytes == 0


def test_torn_tail_of_earlier_segment_keeps_later_ones(tmp_path: Path) -> None:
    """A crash leaves a torn segment; a restart that wrote a new one before replay keeps both."""
    enc, want = _workload(10, seed=2)
    ends = _write_single_segment(tmp_path, enc[:5])
    with open(tmp_path / "00000000", "r+b") as f:
        f.truncate(ends[-1] - 3)
    with WAL(tmp_path) as w:
        w.log(*enc[5:])
    got = list(replay(tmp_path))
    assert _all_eq(got, want[:4] + want[5:])
    assert list_segments(tmp_path) == [0, 1]


def test_zero_filled_tail_is_torn(tmp_path: Path) -> None:
    enc, want = _workload(5)
    ends = _write_single_segment(tmp_path, enc)
    with open(tmp_path / "00000000", "ab") as f:
        f.write(b"\0" * 4096)
    stats = ReplayStats()
    assert _all_eq(list(replay(tmp_path, stats=stats)), want)
    assert stats.corrupted_bytes == 4096
    assert os.path.getsize(tmp_path / "00000000") == ends[-1]


def test_bit_flip_in_middle_of_last_segment(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    enc, want = _workload(20, seed=5)
    ends = _write_single_segment(tmp_path, enc)
    victim = 10
    path = tmp_path / "00000000"
    data = bytearray(path.read_bytes())
    pos = ends[victim - 1] + 8 + len(enc[victim]) // 2
    data[pos] ^= 0x10
    path.write_bytes(bytes(data))
    stats = ReplayStats()
    with caplog.at_level(logging.WARNING, logger="heron.tsdb.wal"):
        got = list(replay(tmp_path, stats=stats))
    assert _all_eq(got, want[:victim])
    assert os.path.getsize(path) == ends[victim - 1]
    assert f"offset {ends[victim - 1]}" in caplog.text and str(path) in caplog.text
    assert stats.corrupted_bytes == ends[-1] - ends[victim - 1]
    assert _all_eq(list(replay(tmp_path)), want[:victim])  # idempotent


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_random_bit_flips_never_raise(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    d = tmp_path_factory.mktemp("flip")
    enc, want = _workload(8, seed=11)
    ends = _write_single_segment(d, enc)
    path = d / "00000000"
    raw = bytearray(path.read_bytes())
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    path.write_bytes(bytes(raw))
    got = list(replay(d))
    n_ok = sum(1 for e in ends if e <= pos)  # every record before the damaged one survives
    assert len(got) >= n_ok
    assert _all_eq(got[:n_ok], want[:n_ok])
    assert _all_eq(got, want[: len(got)])


def test_corruption_in_non_last_segment_drops_later(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    enc, want = _workload(30, seed=9)
    with WAL(tmp_path) as w:
        for e in enc[:10]:
            w.log(e)
        w.cut_segment()
        for e in enc[10:20]:
            w.log(e)
        w.cut_segment()
        for e in enc[20:]:
            w.log(e)
    path = tmp_path / "00000000"
    raw = bytearray(path.read_bytes())
    off = sum(len(e) + 8 for e in enc[:4])
    raw[off + 9] ^= 0xFF  # inside record 4's payload, with records 5..9 after it
    path.write_bytes(bytes(raw))
    stats = ReplayStats()
    with caplog.at_level(logging.WARNING, logger="heron.tsdb.wal"):
        got = list(replay(tmp_path, stats=stats))
    assert _all_eq(got, want[:4])
    assert list_segments(tmp_path) == [0]
    assert stats.dropped_segments == 2
    assert "deleted 2 later segment" in caplog.text
    with WAL(tmp_path) as w:
        assert w.current_segment == 1
        w.log(enc[0])
    assert _all_eq(list(replay(tmp_path)), want[:4] + want[:1])


def test_repair_false_raises_and_keeps_files(tmp_path: Path) -> None:
    enc, _ = _workload(5)
    ends = _write_single_segment(tmp_path, enc)
    with open(tmp_path / "00000000", "r+b") as f:
        f.truncate(ends[-1] - 1)
    with pytest.raises(WALCorruptionError) as ei:
        list(replay(tmp_path, repair=False))
    assert ei.value.offset == ends[-2]
    assert os.path.getsize(tmp_path / "00000000") == ends[-1] - 1


def test_frame_layout_matches_format_doc(tmp_path: Path) -> None:
    rec = encode_tombstones([7], [1], [2])
    with WAL(tmp_path) as w:
        w.log(rec)
    raw = (tmp_path / "00000000").read_bytes()
    n, crc = struct.unpack_from("<II", raw)
    assert n == len(rec) and raw[8:] == rec
    assert crc == zlib.crc32(raw[8:], zlib.crc32(raw[:4]))
    assert rec[0] == 3 and rec[1] == 0
    assert struct.unpack_from("<I", rec, 2)[0] == 1


# -- checkpoint ----------------------------------------------------------------


def test_checkpoint_keeps_and_drops(tmp_path: Path) -> None:
    labels = {r: Labels.from_strings("__name__", "m", "r", str(r)) for r in range(1, 7)}
    w = WAL(tmp_path, segment_size=1 << 20)
    w.log(encode_series([1, 2, 3], [labels[1], labels[2], labels[3]]))
    w.log(encode_samples([1, 2, 3, 1], [100, 100, 100, 200], [1.0, 2.0, 3.0, STALE_NAN]))
    w.cut_segment()
    w.log(encode_series([4, 5], [labels[4], labels[5]]))
    w.log(encode_samples([4, 5, 1], [150, 250, 300], [4.0, 5.0, 6.0]))
    w.log(encode_tombstones([1, 2, 4], [0, 0, 0], [120, 50, 500]))
    w.cut_segment()
    w.log(encode_series([6], [labels[6]]))
    w.log(encode_samples([6], [400], [7.0]))

    def keep(refs: np.ndarray) -> np.ndarray:
        return np.isin(refs, np.array([1, 4, 6], dtype=np.uint64))

    cp = checkpoint(tmp_path, 0, 1, keep, mint=150)
    assert cp.endswith("checkpoint.00000001") and os.path.isdir(cp)
    w.truncate(2)
    assert w.segments() == [2]
    w.close()

    got = list(replay(tmp_path))
    series = [r for r in got if isinstance(r, SeriesRecord)]
    assert sorted(int(x) for r in series for x in r.refs) == [1, 4, 6]
    assert [ls for r in series for ls in r.labels] == [labels[1], labels[4], labels[6]]
    samples = [
        (int(r), int(t), v)
        for s in got
        if isinstance(s, SamplesRecord)
        for r, t, v in zip(s.refs, s.ts, s.vals, strict=True)
    ]
    assert [(r, t) for r, t, _ in samples] == [(1, 200), (4, 150), (1, 300), (6, 400)]
    assert np.float64(samples[0][2]).view(np.uint64) == 0x7FF0000000000002
    tombs = [
        (int(r), int(a), int(b))
        for s in got
        if isinstance(s, TombstonesRecord)
        for r, a, b in zip(s.refs, s.mints, s.maxts, strict=True)
    ]
    assert tombs == [(4, 0, 500)]  # ref 1's interval ends before mint; ref 2 not kept

    # A second checkpoint folds in the first and deletes it.
    w = WAL(tmp_path)
    assert w.current_segment == 3
    w.log(encode_samples([6], [500], [8.0]))
    w.cut_segment()
    cp2 = checkpoint(tmp_path, 2, 3, keep, mint=0)
    w.truncate(4)
    w.close()
    assert not os.path.exists(cp)
    assert os.path.basename(cp2) == "checkpoint.00000003"
    stats = ReplayStats()
    got2 = list(replay(tmp_path, stats=stats))
    assert stats.checkpoint == 3 and stats.series == 3 and stats.samples == 5
    assert sum(len(r.refs) for r in got2 if isinstance(r, TombstonesRecord)) == 1


def test_checkpoint_errors_and_tmp_cleanup(tmp_path: Path) -> None:
    with WAL(tmp_path) as w:
        w.log(encode_samples([1], [1], [1.0]))
        w.cut_segment()
        w.log(encode_samples([1], [2], [2.0]))
    (tmp_path / "checkpoint.00000000.tmp").mkdir()  # left behind by a crash
    with pytest.raises(WALError):
        checkpoint(tmp_path, 0, 5, lambda r: np.ones(len(r), bool), 0)
    checkpoint(tmp_path, 0, 0, lambda r: np.ones(len(r), bool), 0)
    assert not (tmp_path / "checkpoint.00000000.tmp").exists()
    with pytest.raises(WALError):
        checkpoint(tmp_path, 0, 0, lambda r: np.ones(len(r), bool), 0)
    # Replay skips segments the checkpoint covers even before truncation.
    got = list(replay(tmp_path))
    assert [int(r.ts[0]) for r in got if isinstance(r, SamplesRecord)] == [1, 2]


def test_wal_opens_after_checkpoint_when_segments_gone(tmp_path: Path) -> None:
    with WAL(tmp_path) as w:
        w.log(encode_samples([1], [1], [1.0]))
    checkpoint(tmp_path, 0, 0, lambda r: np.ones(len(r), bool), 0)
    os.remove(tmp_path / "00000000")
    with WAL(tmp_path) as w:
        assert w.current_segment == 1
        w.log(encode_samples([1], [2], [2.0]))
    assert [int(r.ts[0]) for r in replay(tmp_path) if isinstance(r, SamplesRecord)] == [1, 2]


# -- crash ---------------------------------------------------------------------

_CHILD = r"""
import sys, numpy as np
from tsdb._wal import WAL, encode_samples, encode_series
from tsdb.labels import Labels
w = WAL(sys.argv[1], segment_size=256 << 10)
i = 0
while True:
    recs = []
    if i % 10 == 0:
        recs.append(encode_series([i], [Labels.from_strings("__name__", "m", "i", str(i))]))
    n = 1 + (i * 37) % 500
    recs.append(encode_samples(np.full(n, i, np.uint64), np.arange(n, dtype=np.int64) + i, np.full(n, float(i))))
    w.log(*recs)
    sys.stdout.write(f"{i} {n}\n")
    sys.stdout.flush()
    i += 1
"""


def test_sigkill_recovers_every_logged_record(tmp_path: Path) -> None:
    d = tmp_path / "wal"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(d)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    acked: dict[int, int] = {}
    target = random.Random(0).randint(300, 1500)
    for line in proc.stdout:
        i, n = map(int, line.split())
        acked[i] = n
        if len(acked) >= target:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stats = ReplayStats()
    got = [r for r in replay(d, stats=stats) if isinstance(r, SamplesRecord)]
    assert len(got) >= len(acked)
    for rec in got[: len(acked)]:
        i = int(rec.refs[0])
        assert len(rec.refs) == acked[i]
        assert np.array_equal(rec.ts, np.arange(acked[i]) + i)
    assert [int(r.refs[0]) for r in got] == list(range(len(got)))
    with WAL(d) as w:  # and the directory is writable again
        w.log(encode_samples([1], [1], [1.0]))
    stats2 = ReplayStats()
    assert sum(1 for _ in replay(d, stats=stats2)) >= len(acked) + 1
    assert not stats2.warnings and stats2.corrupted_bytes == 0


# -- speed ---------------------------------------------------------------------


def test_log_one_million_samples_fast(tmp_path: Path) -> None:
    refs = np.arange(10_000, dtype=np.uint64)
    vals = np.random.default_rng(0).random(10_000) * 100
    with WAL(tmp_path) as w:
        t0 = time.perf_counter()
        for i in range(100):
            ts = np.full(10_000, 1_700_000_000_000 + i * 15_000, dtype=np.int64)
            w.log(encode_samples(refs, ts, vals))
        elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, elapsed
