"""Prometheus's own PromQL test scripts, one pytest case per ``eval`` command.

Cases are classified into the tiers of CONFORMANCE.md; a case is skipped only
with a named reason. At the end of the session one summary line per tier and a
total line are printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from promql.promqltest import Case, Outcome, Runner, Summary, collect_cases

CONFORMANCE_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "promqltest"
if not CONFORMANCE_DIR.is_dir():  # the repository may live elsewhere; fall back to the shared checkout
    CONFORMANCE_DIR = Path("/work/shared/conformance/promqltest")

CASES: list[Case] = collect_cases([CONFORMANCE_DIR]) if CONFORMANCE_DIR.is_dir() else []

_runner: Runner | None = None
_summary = Summary()


class _SummaryPlugin:
    """Prints the per-tier summary in the terminal summary section."""

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
        if not _summary.counts:
            return
        terminalreporter.section("PromQL conformance")
        for line in _summary.lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="session", autouse=True)
def _register_summary(request: pytest.FixtureRequest) -> None:
    pm = request.config.pluginmanager
    if not pm.has_plugin("heron-promql-conformance-summary"):
        pm.register(_SummaryPlugin(), "heron-promql-conformance-summary")


def _get_runner() -> Runner:
    global _runner
    if _runner is None:
        _runner = Runner()
    return _runner


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conformance(case: Case) -> None:
    outcome: Outcome = _get_runner().run(case)
    _summary.add(outcome)
    if outcome.status == "skipped":
        pytest.skip(outcome.message)
    if outcome.status == "failed":
        pytest.fail(f"[tier {outcome.tier}] {case.expr}\n{outcome.message}", pytrace=False)
