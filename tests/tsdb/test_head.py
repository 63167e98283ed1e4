"""Head: appends, transactions, order rules, chunk cutting, reads like a block."""

from __future__ import annotations

import numpy as np
import pytest

from tsdb import (
    STALE_NAN,
    DuplicateSampleError,
    Labels,
    OutOfBoundsError,
    OutOfOrderError,
    TooOldSampleError,
    stale_mask,
)
from tsdb._head import CHUNK_SAMPLES, Head


def series(head: Head, ref: int) -> tuple[np.ndarray, np.ndarray]:
    return head._series_in_order(ref)


def L(**kw: str) -> Labels:
    return Labels.from_dict({"__name__": "m", **kw})


def test_commit_makes_samples_visible() -> None:
    h = Head()
    app = h.appender()
    ref = app.append(None, L(a="1"), 1000, 1.0)
    app.append(ref, None, 2000, 2.0)
    assert len(series(h, ref)[0]) == 0
    app.commit()
    ts, vs = series(h, ref)
    assert ts.tolist() == [1000, 2000] and vs.tolist() == [1.0, 2.0]
    assert h.min_time == 1000 and h.max_time == 2000


def test_rollback_discards_samples() -> None:
    h = Head()
    app = h.appender()
    ref = app.append(None, L(a="1"), 1000, 1.0)
    app.rollback()
    assert len(series(h, ref)[0]) == 0


def test_out_of_order_and_duplicates() -> None:
    h = Head()
    app = h.appender()
    ref = app.append(None, L(), 1000, 1.0)
    app.commit()
    app = h.appender()
    with pytest.raises(OutOfOrderError):
        app.append(ref, None, 999, 1.0)
    with pytest.raises(DuplicateSampleError):
        app.append(ref, None, 1000, 2.0)
    app.append(ref, None, 1000, 1.0)  # same value: accepted, ignored
    app.commit()
    assert series(h, ref)[0].tolist() == [1000]


def test_stale_nan_bit_exact_and_nan_distinct() -> None:
    h = Head()
    app = h.appender()
    ref = app.append(None, L(), 1, float("nan"))
    app.append(ref, None, 2, STALE_NAN)
    app.commit()
    _, vs = series(h, ref)
    assert stale_mask(vs).tolist() == [False, True]
    # a stale marker after a NaN at the same timestamp is a duplicate (different bits)
    app = h.appender()
    with pytest.raises(DuplicateSampleError):
        app.append(ref, None, 2, float("nan"))


def test_batch_append_layers_and_chunk_cut() -> None:
    h = Head()
    app = h.appender()
    refs = np.array([app.ref_for(L(i=str(i))) for i in range(50)])
    n = CHUNK_SAMPLES * 3 + 7
    all_refs = np.repeat(refs[None, :], n, axis=0).ravel()
    all_ts = np.repeat(np.arange(n, dtype=np.int64)[:, None] * 15000, 50, axis=1).ravel()
    vals = np.random.default_rng(1).normal(size=len(all_ts))
    ok = app.append_batch(all_refs, all_ts, vals)
    assert ok.all()
    app.commit()
    assert h.stats.samples_appended == n * 50
    for j, r in enumerate(refs.tolist()):
        ts, vs = series(h, r)
        assert ts.tolist() == list(range(0, n * 15000, 15000))
        assert np.array_equal(vs.view(np.uint64), vals[j::50].view(np.uint64))
    metas = h.index().series(int(refs[0]))[1]
    assert len(metas) == 4  # three cut chunks + the open one
    t, v = h.chunks().chunk(metas[1].ref)
    assert t[0] == CHUNK_SAMPLES * 15000 and len(t) == CHUNK_SAMPLES


def test_batch_rejects_out_of_order_counted() -> None:
    h = Head()
    app = h.appender()
    r = app.ref_for(L())
    app.append_batch(np.array([r, r, r]), np.array([10, 30, 20]), np.array([1.0, 3.0, 2.0]))
    app.commit()
    assert series(h, r)[0].tolist() == [10, 30]
    assert h.stats.out_of_order_samples == 1


def test_out_of_order_window() -> None:
    h = Head(ooo_window_ms=10_000)
    app = h.appender()
    r = app.append(None, L(), 100_000, 1.0)
    app.commit()
    app = h.appender()
    app.append(r, None, 95_000, 0.5)  # inside the window
    with pytest.raises(TooOldSampleError):
        app.append(r, None, 80_000, 0.1)
    app.commit()
    ts, vs = series(h, r)
    metas = h.index().series(r)[1]
    got = sorted((int(t), float(v)) for m in metas for t, v in zip(*h.chunks().chunk(m.ref), strict=True))
    assert got == [(95_000, 0.5), (100_000, 1.0)]


def test_out_of_bounds_after_truncation() -> None:
    h = Head()
    app = h.appender()
    r = app.append(None, L(), 10_000_000, 1.0)
    app.commit()
    h.truncate(20_000_000)
    assert h.num_series == 0  # its only data was below the truncation point
    app = h.appender()
    with pytest.raises(OutOfBoundsError):
        app.append(None, L(), 15_000_000, 1.0)
    assert r not in h.series_refs()


def test_index_reader_postings_and_values() -> None:
    h = Head()
    app = h.appender()
    a = app.append(None, L(job="a", i="1"), 1, 1.0)
    b = app.append(None, L(job="b", i="1"), 1, 1.0)
    app.commit()
    ix = h.index()
    assert ix.label_names() == ["__name__", "i", "job"]
    assert ix.label_values("job") == ["a", "b"]
    assert ix.postings("job", ["a"]).tolist() == [a]
    assert ix.postings("i", ["1"]).tolist() == [a, b]
    assert ix.all_postings().tolist() == [a, b]


def test_truncate_keeps_recent_and_drops_old_chunks() -> None:
    h = Head()
    app = h.appender()
    r = app.ref_for(L())
    n = CHUNK_SAMPLES * 4
    app.append_batch(np.full(n, r), np.arange(n, dtype=np.int64) * 1000, np.arange(n, dtype=np.float64))
    app.commit()
    h.truncate(CHUNK_SAMPLES * 2 * 1000)
    ts, _ = series(h, r)
    assert ts[0] == CHUNK_SAMPLES * 2 * 1000 and ts[-1] == (n - 1) * 1000
    # chunk refs of remaining chunks still resolve
    for m in h.index().series(r)[1]:
        t, _ = h.chunks().chunk(m.ref)
        assert t[0] == m.mint and t[-1] == m.maxt
