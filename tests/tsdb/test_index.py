"""The on-disk index: write, read back, matcher evaluation, corruption."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsdb._blockapi import ChunkMeta
from tsdb._index import IndexCorruptError, IndexReader, IndexWriter, write_index
from tsdb._postings import label_names_for_matchers, label_values_for_matchers, postings_for_matchers
from tsdb.interface import StorageError
from tsdb.labels import Labels
from tsdb.matchers import Matcher, MatchType, matches_labels


def sample_series(n: int = 300) -> list[tuple[Labels, list[ChunkMeta]]]:
    out = {}
    for i in range(n):
        ls = Labels.from_strings(
            "__name__",
            f"metric_{i % 7}",
            "instance",
            f"host-{i % 23}",
            "job",
            "api" if i % 3 else "db",
            "path",
            "/ü/✓" if i % 5 == 0 else f"/p{i % 4}",
        )
        metas = [
            ChunkMeta((1 << 32) * (j % 2) + 1000 * i + j, 1000 * j + i, 1000 * j + i + 999)
            for j in range(i % 4)
        ]
        out[ls] = metas
    return sorted(out.items())


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, list[tuple[Labels, list[ChunkMeta]]]]:
    series = sample_series()
    write_index(tmp_path / "index", series)
    return tmp_path / "index", series


def test_roundtrip(written) -> None:
    path, series = written
    with IndexReader(path) as ix:
        ix.verify()
        assert ix.num_series == len(series)
        assert ix.all_postings().tolist() == list(range(len(series)))
        for sid, (ls, metas) in enumerate(series):
            got_ls, got_metas = ix.series(sid)
            assert got_ls == ls and got_ls.pairs == ls.pairs
            assert got_metas == metas
        names = sorted({k for ls, _ in series for k in ls.names()})
        assert ix.label_names() == names
        for n in names + ["nope"]:
            vals = sorted({ls.get(n) for ls, _ in series} - {""})
            assert ix.label_values(n) == vals
            for v in vals + ["missing"]:
                want = [i for i, (ls, _) in enumerate(series) if ls.get(n) == v]
                got = ix.postings(n, [v])
                assert got.dtype == np.int64 and got.tolist() == want
            values, offs, ids = ix.value_postings(n)
            assert values == vals and len(offs) == len(vals) + 1
            for i, v in enumerate(values):
                assert ids[offs[i] : offs[i + 1]].tolist() == ix.postings(n, [v]).tolist()
        both = ix.postings("instance", ["host-1", "host-2", "host-1", "zzz"])
        assert both.tolist() == [
            i for i, (ls, _) in enumerate(series) if ls.get("instance") in ("host-1", "host-2")
        ]
        assert ix.symbols() == sorted({s for ls, _ in series for kv in ls.pairs for s in kv})
        with pytest.raises(KeyError):
            ix.series(len(series))


def test_matchers_against_brute_force(written) -> None:
    path, series = written
    eq, ne, re_, nre = MatchType.EQUAL, MatchType.NOT_EQUAL, MatchType.REGEX, MatchType.NOT_REGEX
    cases = [
        [Matcher(eq, "__name__", "metric_1")],
        [Matcher(eq, "__name__", "metric_1"), Matcher(re_, "instance", "host-1.*")],
        [Matcher(re_, "path", "/p1|/p2"), Matcher(ne, "job", "db")],
        [Matcher(nre, "instance", "host-(1|2)"), Matcher(eq, "job", "db")],
        [Matcher(eq, "path", "")],
        [Matcher(eq, "missing", "")],
        [Matcher(re_, "job", ".+"), Matcher(eq, "__name__", "metric_3")],
        [Matcher(ne, "path", "/ü/✓")],
    ]
    with IndexReader(path) as ix:
        for ms in cases:
            want = [i for i, (ls, _) in enumerate(series) if matches_labels(ms, ls)]
            assert postings_for_matchers(ix, ms).tolist() == want, ms
            sel = [series[i][0] for i in want]
            assert label_names_for_matchers(ix, ms) == sorted({k for ls in sel for k in ls.names()})
            assert label_values_for_matchers(ix, "instance", ms) == sorted(
                {ls.get("instance") for ls in sel} - {""}
            )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["__name__", "a", "b", "ä"]),
            st.text(min_size=1, max_size=4),
            min_size=1,
            max_size=4,
        ),
        max_size=30,
    )
)
def test_property_roundtrip(tmp_path_factory, label_dicts) -> None:
    series = sorted({Labels.from_dict(d) for d in label_dicts if Labels.from_dict(d)})
    path = tmp_path_factory.mktemp("ix") / "index"
    write_index(path, [(ls, [ChunkMeta(i, -i, i)]) for i, ls in enumerate(series)])
    with IndexReader(path) as ix:
        for sid, ls in enumerate(series):
            assert ix.series(sid) == (ls, [ChunkMeta(sid, -sid, sid)])
        for name in ix.label_names():
            for v in ix.label_values(name):
                assert ix.postings(name, [v]).tolist() == [
                    i for i, ls in enumerate(series) if ls.get(name) == v
                ]


def test_empty_index(tmp_path: Path) -> None:
    write_index(tmp_path / "index", [])
    with IndexReader(tmp_path / "index") as ix:
        assert ix.num_series == 0
        assert ix.label_names() == [] and ix.label_values("a") == []
        assert ix.postings("a", ["b"]).tolist() == [] and ix.all_postings().tolist() == []
        assert postings_for_matchers(ix, [Matcher(MatchType.EQUAL, "a", "")]).tolist() == []


def test_writer_rejects_bad_input(tmp_path: Path) -> None:
    a, b = Labels.from_strings("a", "1"), Labels.from_strings("a", "2")
    with pytest.raises(ValueError, match="out of order"), IndexWriter(tmp_path / "i1", ["a", "1", "2"]) as w:
        w.add_series(b, [])
        w.add_series(a, [])
    with (
        pytest.raises(ValueError, match="missing from the symbol table"),
        IndexWriter(tmp_path / "i2", ["a"]) as w,
    ):
        w.add_series(a, [])
    with pytest.raises(ValueError, match="out of order"), IndexWriter(tmp_path / "i3", ["a", "1"]) as w:
        w.add_series(a, [])
        w.add_series(a, [])


def test_corruption_is_detected(written) -> None:
    path, series = written
    data = path.read_bytes()
    toc = struct.unpack_from("<12Q", data, len(data) - 104)
    sections = [(toc[2 * i], toc[2 * i + 1]) for i in range(6)]
    for i, (off, ln) in enumerate(sections):
        if ln == 0:
            continue
        bad = bytearray(data)
        bad[off + ln // 2] ^= 0x40
        path.write_bytes(bytes(bad))
        if i == 2:  # series entries: caught when read (and by verify)
            with IndexReader(path) as ix:
                with pytest.raises(IndexCorruptError):
                    ix.verify()
                with pytest.raises(IndexCorruptError):
                    for sid in range(ix.num_series):
                        ix.series(sid)
        else:
            with pytest.raises(IndexCorruptError, match="checksum"):
                IndexReader(path)
    for bad in (data[:50], b"X" + data[1:], data[:-1]):
        path.write_bytes(bad)
        with pytest.raises(IndexCorruptError) as ei:
            IndexReader(path)
        assert isinstance(ei.value, StorageError) and str(path) in str(ei.value)
