"""Prometheus's PromQL test-script language (``promqltest``): parser and runner.

A script is a sequence of ``load``/``clear``/``eval`` commands (see
``../shared/conformance/promqltest/CONFORMANCE.md``). :func:`parse_script`
turns one file into :class:`Case` objects, one per ``eval`` command, each
knowing the data loaded before it. :class:`Runner` runs a case against an
:class:`~promql.engine.Engine` exactly as Prometheus's ``promqltest`` does:
instant evaluations are repeated with ``@`` modifiers at other times and
re-checked in range mode; values compare with a relative tolerance of 1e-6.

Cases are classified into the tiers of CONFORMANCE.md and skipped only with a
named reason (an unsupported tier-2 feature, or native histograms).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tsdb.interface import STALE_NAN, Labels, Matcher, SelectHints, matches_labels

from .testing import MemQuerier, MemStorage

__all__ = [
    "Case",
    "Load",
    "Outcome",
    "Runner",
    "TIER2_FILES",
    "TIER3_FILES",
    "almost_equal",
    "collect_cases",
    "main",
    "parse_script",
    "parse_series_desc",
    "parse_test_duration",
]

TIER2_FILES = frozenset(
    {
        "duration_expression.test",
        "limit.test",
        "info.test",
        "fill-modifier.test",
        "extended_vectors.test",
        "start_timestamps.test",
        "type_and_unit.test",
    }
)
TIER3_FILES = frozenset({"native_histograms.test"})

EPSILON = 1e-6
_MIN_NORMAL = 2.2250738585072014e-308

HIST = object()  # marker for a native histogram sample in a series description


# --------------------------------------------------------------------------- small parsers


_DUR_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DUR_MULT = (365 * 86400_000, 7 * 86400_000, 86400_000, 3600_000, 60_000, 1000, 1)


def parse_test_duration(s: str) -> int:
    """A Prometheus ``model.Duration`` (``5m``, ``1h30m``, ``10s53ms``, ``0``) in ms."""
    s = s.strip()
    if s == "0":
        return 0
    neg = s.startswith("-")
    if neg:
        s = s[1:]
    m = _DUR_RE.match(s)
    if not m or not s:
        try:
            v = float(s)
        except ValueError:
            raise ValueError(f"invalid duration {s!r}") from None
        ms = round(v * 1000)
    else:
        ms = sum(int(g) * mult for g, mult in zip(m.groups(), _DUR_MULT, strict=True) if g)
    return -ms if neg else ms


def almost_equal(a: float, b: float, eps: float = EPSILON) -> bool:
    """Prometheus's ``almost.Equal``: relative tolerance, NaN equals NaN."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < eps * _MIN_NORMAL
    return diff / min(abs_sum, sys.float_info.max) < eps


_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}


def go_unquote(s: str) -> str:
    """Go's ``strconv.Unquote`` for ``"…"``, ``'…'`` and backtick strings."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"'`":
        raise ValueError(f"invalid quoted string {s!r}")
    body = s[1:-1]
    if s[0] == "`":
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise ValueError("trailing backslash")
        e = body[i]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 1
        elif e == "x":
            out.append(int(body[i + 1 : i + 3], 16))
            i += 3
        elif e in "01234567":
            out.append(int(body[i : i + 3], 8))
            i += 3
        elif e == "u":
            out += chr(int(body[i + 1 : i + 5], 16)).encode()
            i += 5
        elif e == "U":
            out += chr(int(body[i + 1 : i + 9], 16)).encode()
            i += 9
        else:
            raise ValueError(f"invalid escape \\{e}")
    return out.decode("utf-8", errors="surrogateescape")


def _read_string(s: str, i: int) -> tuple[str, int]:
    q = s[i]
    j = i + 1
    while j < len(s):
        if s[j] == "\\" and q != "`":
            j += 2
            continue
        if s[j] == q:
            return go_unquote(s[i : j + 1]), j + 1
        j += 1
    raise ValueError(f"unterminated string in {s!r}")


_IDENT_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUM = r"[+-]?(?:inf(?:inity)?|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|0x[0-9a-f]+)"
_ITEM_RE = re.compile(rf"^({_NUM})(?:([+-](?:inf|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)))?(?:x(\d+))?$", re.I)


def _parse_metric(s: str) -> tuple[Labels, int]:
    """Parse ``name{l="v", …}`` at the start of ``s``; returns labels and the end offset."""
    pairs: list[tuple[str, str]] = []
    i = 0
    m = _IDENT_RE.match(s)
    if m and not s.startswith(("{", '"')):
        pairs.append(("__name__", m.group(0)))
        i = m.end()
    if i < len(s) and s[i] == "{":
        i += 1
        while True:
            while i < len(s) and s[i] in " \t":
                i += 1
            if i >= len(s):
                raise ValueError(f"unterminated label set in {s!r}")
            if s[i] == "}":
                i += 1
                break
            if s[i] in "\"'`":
                name, i = _read_string(s, i)
            else:
                lm = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
                if not lm:
                    raise ValueError(f"bad label name in {s!r}")
                name, i = lm.group(0), lm.end()
            while i < len(s) and s[i] in " \t":
                i += 1
            if i < len(s) and s[i] == "=":
                i += 1
                while i < len(s) and s[i] in " \t":
                    i += 1
                val, i = _read_string(s, i)
                pairs.append((name, val))
            else:
                pairs.append(("__name__", name))
            while i < len(s) and s[i] in " \t":
                i += 1
            if i < len(s) and s[i] == ",":
                i += 1
    return Labels.from_pairs(pairs), i


def _histogram_token(s: str, i: int) -> int:
    """End offset of a ``{{…}}`` literal starting at ``i``."""
    j = s.find("}}", i)
    if j < 0:
        raise ValueError("unterminated histogram literal")
    return j + 2


def parse_values(s: str) -> list[object]:
    """Expand a value sequence (``1 2 _ stale 0+10x5 _x3 {{…}}x2``) into a list.

    Items are floats, ``None`` for an omitted sample, or :data:`HIST` for a native histogram.
    """
    out: list[object] = []
    i = 0
    n = len(s)
    while i < n:
        if s[i] in " \t":
            i += 1
            continue
        if s.startswith("{{", i):
            j = _histogram_token(s, i)
            if j < n and s[j] in "+-" and s.startswith("{{", j + 1):
                j = _histogram_token(s, j + 1)
            rep = 0
            m = re.compile(r"x(\d+)").match(s, j)
            if m:
                rep = int(m.group(1))
                j = m.end()
                out.extend([HIST] * (rep + 1))
            else:
                out.append(HIST)
            i = j
            continue
        j = i
        while j < n and s[j] not in " \t":
            j += 1
        tok = s[i:j]
        i = j
        if tok == "_":
            out.append(None)
            continue
        if tok.startswith("_x"):
            out.extend([None] * int(tok[2:]))
            continue
        if tok == "stale":
            out.append(STALE_NAN)
            continue
        m = _ITEM_RE.match(tok)
        if not m:
            raise ValueError(f"invalid series value {tok!r}")
        base = _num(m.group(1))
        if m.group(3) is None:
            if m.group(2) is not None:
                raise ValueError(f"invalid series value {tok!r}")
            out.append(base)
            continue
        inc = _num(m.group(2)) if m.group(2) else 0.0
        v = base
        for _ in range(int(m.group(3)) + 1):
            out.append(v)
            v += inc
    return out


def _num(t: str) -> float:
    tl = t.lower()
    if tl.lstrip("+-").startswith("0x"):
        return float(int(tl, 16))
    return float(t)


def parse_series_desc(line: str) -> tuple[Labels, list[object]]:
    """Parse ``metric{labels} values…`` into labels and expanded values."""
    line = line.strip()
    lbls, i = _parse_metric(line)
    return lbls, parse_values(line[i:])


def _parse_number(s: str) -> float | None:
    s = s.strip()
    if not s or " " in s or "\t" in s:
        return None
    try:
        return float(int(s, 0))
    except ValueError:
        pass
    if "_" in s:
        return None
    try:
        return float(s)
    except ValueError:
        return None


# --------------------------------------------------------------------------- script model


@dataclass
class Load:
    """One ``load`` command."""

    interval_ms: int
    series: list[tuple[Labels, list[object]]]
    with_nhcb: bool = False
    start_timestamps: bool = False
    line: int = 0


@dataclass
class Expect:
    kind: str  # fail, ordered, warn, no_warn, info, no_info
    msg: str | None = None
    regex: re.Pattern[str] | None = None

    def matches(self, s: str) -> bool:
        if self.msg is not None:
            return self.msg == s
        if self.regex is not None:
            return self.regex.search(s) is not None
        return True


@dataclass
class Case:
    """One ``eval`` command with the data loaded before it."""

    file: str
    line: int
    expr: str
    instant: bool
    start: int
    end: int
    step: int
    loads: list[Load]
    data_key: tuple[str, int]
    fail: bool = False
    ordered: bool = False
    warn: bool = False
    info: bool = False
    expects: list[Expect] = field(default_factory=list)
    expect_scalar: float | None = None
    expected: dict[Labels, tuple[int, list[object]]] = field(default_factory=dict)
    expected_string: str | None = None
    range_vector: tuple[int, int, int] | None = None
    has_histogram_literal: bool = False

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"

    def expects_of(self, kind: str) -> list[Expect]:
        return [e for e in self.expects if e.kind == kind]

    @property
    def is_fail(self) -> bool:
        return self.fail or bool(self.expects_of("fail"))

    @property
    def is_ordered(self) -> bool:
        return self.ordered or bool(self.expects_of("ordered"))


_PAT_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_PAT_RANGE = re.compile(
    r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$"
)
_PAT_EXPECT = re.compile(r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$")
_PAT_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")
_PAT_RANGE_VEC = re.compile(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")


def _lines(text: str) -> list[str]:
    out = []
    for raw in text.split("\n"):
        t = raw.strip()
        if t.startswith("#"):
            t = ""
        out.append(t)
    return out


def parse_script(text: str, file: str = "<script>") -> list[Case]:
    """Parse a test script into eval cases (each carrying the loads that precede it)."""
    lines = _lines(text)
    cases: list[Case] = []
    loads: list[Load] = []
    data_id = 0
    i = 0
    while i < len(lines):
        ln = lines[i]
        if not ln:
            i += 1
            continue
        word = re.split(r"[\t ]+", ln, maxsplit=1)[0].lower()
        if word == "clear":
            loads = []
            data_id += 1
            i += 1
            continue
        if word.startswith("load"):
            m = _PAT_LOAD.match(ln)
            if not m:
                raise ValueError(f"{file}:{i + 1}: invalid load command")
            load = Load(parse_test_duration(m.group(2)), [], m.group(1) == "with_nhcb", line=i + 1)
            i += 1
            while i < len(lines) and lines[i]:
                d = lines[i]
                first = re.split(r"[\t ]+", d, maxsplit=1)[0]
                if first.endswith("@st"):
                    load.start_timestamps = True
                else:
                    load.series.append(parse_series_desc(d))
                i += 1
            loads = [*loads, load]
            data_id += 1
            continue
        if word.startswith("eval"):
            case, i = _parse_eval(lines, i, file, loads, (file, data_id))
            cases.append(case)
            continue
        raise ValueError(f"{file}:{i + 1}: invalid command {ln!r}")
    return cases


def _parse_eval(
    lines: list[str], i: int, file: str, loads: list[Load], data_key: tuple[str, int]
) -> tuple[Case, int]:
    ln = lines[i]
    mi = _PAT_INSTANT.match(ln)
    mr = None if mi else _PAT_RANGE.match(ln)
    if mi is None and mr is None:
        raise ValueError(f"{file}:{i + 1}: invalid eval command")
    if mi is not None:
        mod, at, expr = mi.group(1), mi.group(2), mi.group(3)
        t = parse_test_duration(at) if at else 0
        case = Case(file, i + 1, expr, True, t, t, 0, loads, data_key)
    else:
        assert mr is not None
        mod = mr.group(1)
        start = parse_test_duration(mr.group(2))
        end = parse_test_duration(mr.group(3))
        step = parse_test_duration(mr.group(4))
        case = Case(file, i + 1, mr.group(5), False, start, end, step, loads, data_key)
    if mod == "fail":
        case.fail = True
    elif mod == "ordered":
        case.ordered = True
    elif mod == "warn":
        case.warn = True
    elif mod == "info":
        case.info = True
    pos = 1
    i += 1
    while i < len(lines) and lines[i]:
        d = lines[i]
        i += 1
        if d.startswith("expect range vector"):
            m = _PAT_RANGE_VEC.match(d)
            if not m:
                raise ValueError(f"{file}:{i}: invalid range vector definition")
            case.range_vector = tuple(parse_test_duration(m.group(k)) for k in (1, 2, 3))  # type: ignore[assignment]
            continue
        if d.startswith("expect string"):
            case.expected_string = go_unquote(d[len("expect string ") :].strip())
            continue
        if d.split(" ")[0] == "expect":
            m = _PAT_EXPECT.match(d)
            if not m:
                raise ValueError(f"{file}:{i}: invalid expect statement {d!r}")
            kind, how, what = m.group(1), m.group(2), m.group(3)
            ex = Expect(kind)
            if how == "msg":
                ex.msg = what.strip()
            elif how == "regex":
                ex.regex = re.compile(what.strip())
            case.expects.append(ex)
            continue
        num = _parse_number(d)
        if num is not None:
            case.expect_scalar = num
            break
        if "{{" in d:
            case.has_histogram_literal = True
        lbls, vals = parse_series_desc(d)
        case.expected[lbls] = (pos, vals)
        pos += 1
    return case, i


def collect_cases(paths: Iterable[str | Path]) -> list[Case]:
    """Parse every test file (or every ``*.test`` in a directory)."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(p.glob("*.test")))
        else:
            files.append(p)
    cases: list[Case] = []
    for f in files:
        cases.extend(parse_script(f.read_text(), f.name))
    return cases


# --------------------------------------------------------------------------- storage with histogram tracking


class ConformanceStorage(MemStorage):
    """``MemStorage`` that remembers which series hold native histogram samples.

    Histogram samples are not stored (the storage seam is float-only); a query
    that selects such a series inside its time range marks the storage as
    ``touched``, so the runner can skip the case as a tier-3 case.
    """

    def __init__(self) -> None:
        super().__init__()
        self.histograms: dict[Labels, np.ndarray] = {}
        self.touched = False

    def add_histograms(self, labels: Labels, ts: Sequence[int]) -> None:
        old = self.histograms.get(labels)
        arr = np.asarray(ts, dtype=np.int64)
        self.histograms[labels] = arr if old is None else np.union1d(old, arr)

    def querier(self, mint: int, maxt: int) -> MemQuerier:
        return _TrackingQuerier(self, mint, maxt)


class _TrackingQuerier(MemQuerier):
    storage: ConformanceStorage

    def select(self, matchers: Sequence[Matcher], hints: SelectHints | None = None, sort: bool = False):  # type: ignore[no-untyped-def]
        lo, hi = self.mint, self.maxt
        if hints is not None and hints.start is not None and hints.end is not None:
            lo, hi = max(lo, hints.start), min(hi, hints.end)
        for lbls, ts in self.storage.histograms.items():
            if matches_labels(matchers, lbls) and np.any((ts >= lo) & (ts <= hi)):
                self.storage.touched = True
                break
        yield from super().select(matchers, hints, sort)


_BUCKET_SUFFIXES = ("_bucket", "_count", "_sum")


def build_storage(loads: Sequence[Load]) -> ConformanceStorage:
    """Load the data of a case into a fresh storage."""
    st = ConformanceStorage()
    for load in loads:
        per: dict[Labels, list[object]] = {}
        for lbls, vals in load.series:
            per[lbls] = vals  # a later definition of the same series wins
        nhcb: dict[Labels, set[int]] = {}
        for lbls, vals in per.items():
            ts_f, vs_f, ts_h = [], [], []
            for k, v in enumerate(vals):
                t = k * load.interval_ms
                if v is None:
                    continue
                if v is HIST:
                    ts_h.append(t)
                else:
                    ts_f.append(t)
                    vs_f.append(v)
            if ts_f:
                st.add(lbls, ts_f, vs_f)
            if ts_h:
                st.add_histograms(lbls, ts_h)
            if load.with_nhcb:
                name = lbls.get("__name__")
                for suf in _BUCKET_SUFFIXES:
                    if name.endswith(suf):
                        if suf == "_bucket" and not lbls.has("le"):
                            break
                        base = lbls.builder().set("__name__", name[: -len(suf)]).delete("le").labels()
                        nhcb.setdefault(base, set()).update(ts_f)
                        break
        for base, tset in nhcb.items():
            st.add_histograms(base, sorted(tset))
    return st


# --------------------------------------------------------------------------- runner


@dataclass
class Outcome:
    """The result of running one case."""

    status: str  # passed, failed, skipped
    tier: int
    message: str = ""


class CaseFailure(Exception):
    pass


class SkipCase(Exception):
    def __init__(self, tier: int, reason: str) -> None:
        super().__init__(reason)
        self.tier = tier
        self.reason = reason


_QUERY_CONTEXT_FUNCS = re.compile(r"(start|end|range|step)\(\)")


class Runner:
    """Runs parsed cases against an engine, caching the loaded storage per data state."""

    def __init__(self, engine: object | None = None) -> None:
        from .engine import Engine

        self.engine = engine or Engine(
            enable_experimental_functions=True,
            enable_delayed_name_removal=True,
            no_step_subquery_interval_ms=60_000,
        )
        self._cache_key: tuple[str, int] | None = None
        self._cache: ConformanceStorage | None = None

    # -- classification --------------------------------------------------

    def static_tier(self, case: Case) -> tuple[int, str | None, str]:
        """(tier, skip reason or None, feature description) decided before running."""
        tier = 1
        feature = ""
        if case.file in TIER3_FILES:
            return 3, "tier 3: native histograms (native_histograms.test)", "native histograms"
        if case.has_histogram_literal:
            return 3, "tier 3: native histograms (histogram literal in expected output)", "native histograms"
        if any(ld.start_timestamps for ld in case.loads):
            return 2, "tier 2: start timestamps (@st) are not part of the storage seam", "start timestamps"
        if any(ld.with_nhcb for ld in case.loads):
            tier, feature = 3, "classic buckets loaded with load_with_nhcb"
        if case.file in TIER2_FILES:
            tier, feature = max(tier, 2), case.file
        feats = self._features(case)
        if feats:
            tier = max(tier, 2)
            feature = ", ".join(sorted(feats))
        return tier, None, feature

    def _features(self, case: Case) -> set[str]:
        try:
            from .ast import AggregateExpr, Call, DurationExpr, walk
            from .parser import parse_expr

            node = parse_expr(case.expr)
        except Exception:  # noqa: BLE001 - unparsable: reported when run
            return set()
        feats: set[str] = set()
        for n in walk(node):
            if isinstance(n, Call) and n.func.experimental:
                feats.add(f"experimental function {n.func.name}()")
            if isinstance(n, AggregateExpr) and n.op in ("limitk", "limit_ratio"):
                feats.add(f"experimental aggregation {n.op}")
            for attr in ("offset_expr", "range_expr", "step_expr"):
                if getattr(n, attr, None) is not None:
                    feats.add("duration expressions")
            if isinstance(n, DurationExpr):
                feats.add("duration expressions")
            if getattr(n, "anchored", False) or getattr(n, "smoothed", False):
                feats.add("anchored/smoothed selectors")
            m = getattr(n, "matching", None)
            if m is not None and (m.fill_left is not None or m.fill_right is not None):
                feats.add("fill modifiers")
        if _QUERY_CONTEXT_FUNCS.search(case.expr):
            feats.add("query context functions (start/end/range/step)")
        return feats

    # -- running -----------------------------------------------------------

    def storage_for(self, case: Case) -> ConformanceStorage:
        if self._cache_key != case.data_key or self._cache is None:
            self._cache = build_storage(case.loads)
            self._cache_key = case.data_key
        self._cache.touched = False
        return self._cache

    def run(self, case: Case) -> Outcome:
        tier, skip, feature = self.static_tier(case)
        if skip is not None:
            return Outcome("skipped", tier, skip)
        st = self.storage_for(case)
        try:
            self._run(case, st)
        except SkipCase as s:
            return Outcome("skipped", s.tier, s.reason)
        except CaseFailure as f:
            if st.touched:
                return Outcome("skipped", 3, "tier 3: native histograms (reads native histogram samples)")
            return Outcome("failed", tier, str(f))
        except Exception as exc:  # noqa: BLE001 - any crash is a failure of the case
            if st.touched:
                return Outcome("skipped", 3, "tier 3: native histograms (reads native histogram samples)")
            return Outcome("failed", tier, f"{type(exc).__name__}: {exc}")
        if st.touched:
            return Outcome("skipped", 3, "tier 3: native histograms (reads native histogram samples)")
        return Outcome("passed", tier, feature)

    def _run(self, case: Case, st: ConformanceStorage) -> None:
        if case.instant:
            queries = [(case.expr, case.start)]
            queries += self._at_modifier_variants(case.expr, case.start)
            for text, t in queries:
                self._run_instant(case, st, text, t)
        else:
            self._run_range(case, st)

    def _query(self, fn, *args):  # type: ignore[no-untyped-def]
        from .engine import EvalError

        try:
            return fn(*args), None
        except EvalError as e:
            return None, e
        except Exception as e:  # noqa: BLE001 - parse errors and the like
            name = type(e).__name__
            if name in ("ParseError", "ParseErrors"):
                return None, e
            raise

    def _check_fail(self, case: Case, err: Exception | None, text: str) -> bool:
        """Returns True when the case expected (and got) a failure."""
        if case.is_fail:
            if err is None:
                raise CaseFailure(f"expected error evaluating query {text!r} (line {case.line}) but got none")
            msg = str(err)
            fails = case.expects_of("fail")
            if fails and not fails[0].matches(msg):
                raise CaseFailure(f"expected error matching {fails[0].msg or fails[0].regex!r}, got: {msg}")
            return True
        if err is not None:
            raise CaseFailure(f"error evaluating query {text!r} (line {case.line}): {err}")
        return False

    def _run_instant(self, case: Case, st: ConformanceStorage, text: str, t: int) -> None:
        eng = self.engine
        res, err = self._query(eng.instant_query, st, text, t)  # type: ignore[attr-defined]
        if self._check_fail(case, err, text):
            return
        self._check_annotations(case, res.warnings, res.infos, text)
        self._compare(case, res.value)
        if case.range_vector is not None or case.expected_string is not None:
            return
        if _QUERY_CONTEXT_FUNCS.search(text) or case.is_ordered:
            return
        rres, rerr = self._query(eng.range_query, st, text, t - 60_000, t + 60_000, 60_000)  # type: ignore[attr-defined]
        if rerr is not None:
            raise CaseFailure(f"error evaluating query {text!r} (line {case.line}) in range mode: {rerr}")
        from .engine import Sample, Scalar, Vector

        mat = rres.value
        _assert_sorted(mat)
        vec = Vector()
        for s in mat:
            hit = np.nonzero(s.ts == t)[0]
            if hit.size:
                vec.append(Sample(s.labels, t, float(s.vals[hit[0]])))
        if isinstance(res.value, Scalar):
            if not vec:
                raise CaseFailure("range mode returned no scalar value")
            self._compare(case, Scalar(t, vec[0].v), range_mode=True)
        else:
            self._compare(case, vec, range_mode=True)

    def _run_range(self, case: Case, st: ConformanceStorage) -> None:
        res, err = self._query(self.engine.range_query, st, case.expr, case.start, case.end, case.step)  # type: ignore[attr-defined]
        if self._check_fail(case, err, case.expr):
            return
        self._check_annotations(case, res.warnings, res.infos, case.expr)
        self._compare(case, res.value)

    def _at_modifier_variants(self, text: str, t: int) -> list[tuple[str, int]]:
        from .ast import Call, MatrixSelector, SubqueryExpr, VectorSelector, walk
        from .parser import parse_expr

        node = parse_expr(text)
        from ._eval import AT_MODIFIER_UNSAFE

        for n in walk(node):
            if isinstance(n, Call) and n.func.name in AT_MODIFIER_UNSAFE:
                return []

        def setat(n: object, under_at: bool) -> object:
            if isinstance(n, VectorSelector):
                if under_at or n.timestamp is not None:
                    return n
                return replace(n, timestamp=t, start_or_end=None)
            if isinstance(n, MatrixSelector):
                return replace(n, vector_selector=setat(n.vector_selector, under_at))
            if isinstance(n, SubqueryExpr):
                if under_at:
                    return n
                # The subquery gets the @ timestamp; nothing below it is changed.
                if n.timestamp is None:
                    return replace(n, timestamp=t, start_or_end=None)
                return n
            return _map_children(n, lambda c: setat(c, under_at))

        new = setat(node, False)
        new_text = str(new)
        times = [-10 * t, 0, _go_div(t, 5), t, 10 * t] if t != 0 else [-1000, 0, 1000]
        return [(new_text, et) for et in times]

    # -- checks ------------------------------------------------------------

    def _check_annotations(self, case: Case, warnings: list[str], infos: list[str], text: str) -> None:
        if case.warn and not warnings:
            raise CaseFailure(f"expected warnings evaluating query {text!r} but got none")
        if case.info and not infos:
            raise CaseFailure(f"expected info annotations evaluating query {text!r} but got none")
        for kind, actual in (("warn", warnings), ("info", infos)):
            exp = case.expects_of(kind)
            if not exp:
                continue
            if not actual:
                raise CaseFailure(f"expected {kind} annotations but none were found for query {text!r}")
            for e in exp:
                if not any(e.matches(a) for a in actual):
                    raise CaseFailure(
                        f"expected {kind} annotation matching {e.msg or e.regex!r} but found: {actual}"
                    )
            for a in actual:
                if not any(e.matches(a) for e in exp):
                    raise CaseFailure(f"unexpected {kind} annotation {a!r} for query {text!r}")
        if case.expects_of("no_warn") and warnings:
            raise CaseFailure(f"unexpected warning annotations evaluating query {text!r}: {warnings}")
        if case.expects_of("no_info") and infos:
            raise CaseFailure(f"unexpected info annotations evaluating query {text!r}: {infos}")

    def _compare(self, case: Case, value: object, range_mode: bool = False) -> None:
        from .engine import Matrix, Scalar, String, Vector

        if isinstance(value, Matrix):
            if case.is_ordered:
                raise CaseFailure("expected ordered result, but query returned a matrix")
            if case.expect_scalar is not None:
                raise CaseFailure("expected scalar result, but got matrix")
            _assert_sorted(value)
            if case.range_vector is not None:
                start, end, step = case.range_vector
            else:
                start, end, step = case.start, case.end, case.step
            seen = set()
            for s in value:
                if s.labels not in case.expected:
                    raise CaseFailure(f"unexpected metric {s.labels} in result, has {_fmt_points(s)}")
                seen.add(s.labels)
                _, vals = case.expected[s.labels]
                exp_t, exp_v = [], []
                for k, e in enumerate(vals):
                    ts = start + k * step
                    if ts > end:
                        raise CaseFailure(f"expected {len(vals)} points for {s.labels}, but range is shorter")
                    if e is None:
                        continue
                    exp_t.append(ts)
                    exp_v.append(e)
                if len(exp_t) != len(s.ts):
                    raise CaseFailure(
                        f"expected {len(exp_t)} float points for {s.labels}, but got {_fmt_points(s)}"
                    )
                for k, (et, ev) in enumerate(zip(exp_t, exp_v, strict=True)):
                    if int(s.ts[k]) != et:
                        raise CaseFailure(
                            f"expected timestamp {et} at index {k} for {s.labels}, got {_fmt_points(s)}"
                        )
                    if not almost_equal(float(s.vals[k]), float(ev)):  # type: ignore[arg-type]
                        raise CaseFailure(
                            f"expected {ev} at t={et} for {s.labels}, but got {float(s.vals[k])!r} "
                            f"(result has {_fmt_points(s)})"
                        )
            for lb in case.expected:
                if lb not in seen:
                    raise CaseFailure(f"expected metric {lb} not found")
            return
        if isinstance(value, Vector):
            if case.expect_scalar is not None:
                raise CaseFailure(f"expected scalar result, but got vector {_fmt_vec(value)}")
            seen = set()
            for pos, smp in enumerate(value):
                if smp.labels not in case.expected:
                    raise CaseFailure(f"unexpected metric {smp.labels} in result, has value {smp.v!r}")
                epos, vals = case.expected[smp.labels]
                if case.is_ordered and not range_mode and epos != pos + 1:
                    raise CaseFailure(f"expected metric {smp.labels} at position {epos} but was at {pos + 1}")
                ev = vals[0] if vals else None
                if not isinstance(ev, float):
                    raise CaseFailure(f"unexpected expected value {ev!r} for {smp.labels}")
                if not almost_equal(ev, smp.v):
                    raise CaseFailure(f"expected {ev} for {smp.labels} but got {smp.v!r}")
                seen.add(smp.labels)
            for lb in case.expected:
                if lb not in seen:
                    raise CaseFailure(
                        f"expected metric {lb} with {case.expected[lb][1]} not found; result: {_fmt_vec(value)}"
                    )
            return
        if isinstance(value, Scalar):
            if case.expect_scalar is None:
                raise CaseFailure(f"expected vector or matrix result, but got scalar {value.v!r}")
            if not almost_equal(case.expect_scalar, value.v):
                raise CaseFailure(f"expected scalar {case.expect_scalar} but got {value.v!r}")
            return
        if isinstance(value, String):
            if case.expected_string != value.v:
                raise CaseFailure(f'expected string "{case.expected_string}" but got "{value.v}"')
            return
        raise CaseFailure(f"unexpected result type {type(value).__name__}")


def _go_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _map_children(n: object, f):  # type: ignore[no-untyped-def]
    from dataclasses import fields

    from .ast import DurationExpr, Expr

    if not isinstance(n, Expr) or isinstance(n, DurationExpr):
        return n
    updates = {}
    for fl in fields(n):  # type: ignore[arg-type]
        if fl.name in ("pos", "offset_expr", "range_expr", "step_expr"):
            continue
        v = getattr(n, fl.name)
        if isinstance(v, Expr) and not isinstance(v, DurationExpr):
            nv = f(v)
            if nv is not v:
                updates[fl.name] = nv
        elif isinstance(v, tuple) and v and isinstance(v[0], Expr):
            nt = tuple(f(a) for a in v)
            if any(a is not b for a, b in zip(nt, v, strict=True)):
                updates[fl.name] = nt
    return replace(n, **updates) if updates else n  # type: ignore[type-var]


def _assert_sorted(mat: Sequence[object]) -> None:
    for a, b in zip(mat, mat[1:], strict=False):
        if b.labels < a.labels:  # type: ignore[attr-defined]
            raise CaseFailure(
                f"matrix results should always be sorted by labels: {a.labels} before {b.labels}"
            )  # type: ignore[attr-defined]


def _fmt_points(s: object) -> str:
    pts = ", ".join(f"{v!r}@{t}" for t, v in zip(s.ts.tolist(), s.vals.tolist(), strict=True))  # type: ignore[attr-defined]
    return f"[{pts}]"


def _fmt_vec(v: Sequence[object]) -> str:
    return "[" + ", ".join(f"{s.labels} => {s.v!r}" for s in v) + "]"  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- reporting / CLI


@dataclass
class Summary:
    """Counts per tier."""

    counts: dict[int, dict[str, int]] = field(default_factory=dict)

    def add(self, o: Outcome) -> None:
        c = self.counts.setdefault(o.tier, {"passed": 0, "failed": 0, "skipped": 0})
        c[o.status] += 1

    def lines(self) -> list[str]:
        out = []
        tot = {"passed": 0, "failed": 0, "skipped": 0}
        for tier in (1, 2, 3):
            c = self.counts.get(tier, {"passed": 0, "failed": 0, "skipped": 0})
            out.append(f"tier {tier}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
            for k in tot:
                tot[k] += c[k]
        out.append(f"{tot['passed']} passed, {tot['failed']} failed, {tot['skipped']} skipped")
        return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run test scripts: ``python -m promql.promqltest FILES…``; prints per-tier summaries."""
    import argparse

    ap = argparse.ArgumentParser(prog="heron promql test", description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="*.test files or directories")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failure and skip reason")
    args = ap.parse_args(argv)
    runner = Runner()
    summary = Summary()
    for case in collect_cases(args.files):
        o = runner.run(case)
        summary.add(o)
        if o.status == "failed" or (args.verbose and o.status == "skipped"):
            print(f"{o.status.upper()} {case.id} [tier {o.tier}] {case.expr}\n    {o.message}")
    for ln in summary.lines():
        print(ln)
    c = sum(t.get("failed", 0) for t in summary.counts.values())
    return 1 if c else 0


if __name__ == "__main__":
    raise SystemExit(main())
