"""Every ``eval`` expression in Prometheus's promqltest scripts parses, and prints back to itself.

Expressions whose case expects a failure also parse: in those scripts every
expected failure is an evaluation error (Prometheus's parser accepts them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promql.errors import ParseError
from promql.parser import parse_expr

TESTDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance" / "promqltest"
if not TESTDATA.is_dir():
    TESTDATA = Path("/work/shared/conformance/promqltest")

_EVAL = re.compile(
    r"^\s*eval(?:_fail|_ordered|_warn|_info)?\s+"
    r"(?:instant\s+at\s+\S+|range\s+from\s+\S+\s+to\s+\S+\s+step\s+\S+)\s+(?P<expr>.+?)\s*$"
)

# RE2 accepts flag groups such as "(?i)" in the middle of a pattern; Python's re
# (used by tsdb.matchers) does not, so building these matchers fails until tsdb
# translates RE2 syntax.
_RE2_ONLY = re.compile(r"\(\?i\)")


def _expressions() -> list[tuple[str, int, str]]:
    out = []
    for path in sorted(TESTDATA.glob("*.test")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = _EVAL.match(line)
            if m:
                out.append((path.name, lineno, m.group("expr")))
    return out


EXPRESSIONS = _expressions()


def test_testdata_found() -> None:
    if not TESTDATA.is_dir():
        pytest.skip("conformance scripts not available")
    assert len(EXPRESSIONS) > 2000


@pytest.mark.parametrize(("file", "line", "text"), EXPRESSIONS, ids=[f"{f}:{n}" for f, n, _ in EXPRESSIONS])
def test_parses_and_round_trips(file: str, line: int, text: str) -> None:
    try:
        node = parse_expr(text)
    except ParseError as e:
        if _RE2_ONLY.search(text) and "error parsing regexp" in e.msg:
            pytest.xfail("RE2-only regex syntax (tsdb.matchers uses Python re)")
        raise
    printed = str(node)
    again = parse_expr(printed)
    assert again == node, f"{text!r} printed as {printed!r}"
    assert str(again) == printed
