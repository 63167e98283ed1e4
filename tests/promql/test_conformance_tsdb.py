"""Tier-1 PromQL conformance cases evaluated over the real TSDB instead of MemStorage.

Each script's ``load`` state is written into a fresh ``tsdb.DB`` (one per data
state, in a temporary directory) through its appender, then the cases run through
the same ``promqltest.Runner`` as ``test_conformance.py``. This checks that the
engine gets from the TSDB's querier (head chunks, postings, matchers, sorting)
exactly what it gets from the in-memory reference storage.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from promql.promqltest import Case, ConformanceStorage, Outcome, Runner, build_storage, collect_cases
from tsdb import DB, DBOptions
from tsdb.interface import Labels, Matcher, SelectHints, Series, matches_labels

CONFORMANCE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "promqltest"
if not CONFORMANCE_DIR.is_dir():
    CONFORMANCE_DIR = Path("/work/shared/conformance/promqltest")

_ALL: list[Case] = collect_cases([CONFORMANCE_DIR]) if CONFORMANCE_DIR.is_dir() else []


class TSDBStorage:
    """A ``tsdb.DB`` holding a script's float samples, plus the histogram tracking of
    ``ConformanceStorage`` (so cases reading native histograms are still classified tier 3)."""

    def __init__(self, ref: ConformanceStorage, path: Path) -> None:
        self.path = path
        self.histograms: dict[Labels, np.ndarray] = ref.histograms
        self.touched = False
        self.db = DB(path, DBOptions(retention_ms=0, no_lockfile=True))
        app = self.db.appender()
        for lbls in ref.sorted_labels():
            ts, vals = ref.series(lbls)
            ref_id: int | None = None
            for t, v in zip(ts.tolist(), vals.tolist(), strict=True):
                ref_id = app.append(ref_id, lbls if ref_id is None else None, t, v)
        app.commit()

    def querier(self, mint: int, maxt: int) -> _TrackingQuerier:
        return _TrackingQuerier(self, self.db.querier(mint, maxt), mint, maxt)

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)


class _TrackingQuerier:
    def __init__(self, st: TSDBStorage, inner: object, mint: int, maxt: int) -> None:
        self.st, self.inner, self.mint, self.maxt = st, inner, mint, maxt

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, sort: bool = False
    ) -> Iterator[Series]:
        lo, hi = self.mint, self.maxt
        if hints is not None and hints.start is not None and hints.end is not None:
            lo, hi = max(lo, hints.start), min(hi, hints.end)
        for lbls, ts in self.st.histograms.items():
            if matches_labels(matchers, lbls) and np.any((ts >= lo) & (ts <= hi)):
                self.st.touched = True
                break
        return self.inner.select(matchers, hints, sort)  # type: ignore[attr-defined,no-any-return]

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self.inner.label_names(matchers)  # type: ignore[attr-defined,no-any-return]

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        return self.inner.label_values(name, matchers)  # type: ignore[attr-defined,no-any-return]

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]


class TSDBRunner(Runner):
    """``promqltest.Runner`` whose storage is a real ``tsdb.DB`` per data state."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self._db_key: tuple[str, int] | None = None
        self._db: TSDBStorage | None = None
        self._n = 0

    def storage_for(self, case: Case) -> TSDBStorage:  # type: ignore[override]
        if self._db_key != case.data_key or self._db is None:
            if self._db is not None:
                self._db.close()
            self._n += 1
            self._db = TSDBStorage(build_storage(case.loads), self.root / f"db{self._n}")
            self._db_key = case.data_key
        self._db.touched = False
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _tier1(cases: list[Case]) -> list[Case]:
    r = Runner()
    return [c for c in cases if r.static_tier(c)[:2] == (1, None)]


CASES = _tier1(_ALL)


@pytest.fixture(scope="module")
def runner() -> Iterator[TSDBRunner]:
    root = Path(tempfile.mkdtemp(prefix="heron-conf-tsdb-"))
    r = TSDBRunner(root)
    yield r
    r.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance_tsdb(case: Case, runner: TSDBRunner) -> None:
    outcome: Outcome = runner.run(case)
    if outcome.status == "skipped":
        pytest.skip(outcome.message)
    if outcome.tier > 1:
        pytest.skip(f"tier {outcome.tier} ({outcome.message})")
    if outcome.status == "failed":
        pytest.fail(f"[tier {outcome.tier}] {case.expr}\n{outcome.message}", pytrace=False)
