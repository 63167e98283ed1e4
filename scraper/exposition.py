"""Parsers for the Prometheus text format 0.0.4 and the OpenMetrics 1.0 text format.

One call parses a whole exposition into columns: the raw series keys (as
written, usable as a scrape-cache key), their :class:`~tsdb.labels.Labels`,
and numpy arrays of values and timestamps, plus the HELP/TYPE/UNIT metadata.

Speed comes from a per-line fast path (split at the label set's closing
brace, look the series key up in a cache, collect value/timestamp strings)
with values and timestamps converted and validated in bulk; anything unusual
(a new series key, comments, exemplars, odd whitespace, any error) goes
through a careful character-level parser that gives exact diagnostics.

Semantics follow Prometheus (``model/textparse`` and ``expfmt``):

* Values are Go ``strconv.ParseFloat`` numbers without hex or ``_`` (``NaN``,
  ``+Inf``, ``-Inf``, ``Inf``, ``infinity`` in any case; not ``+NaN``; out of
  range such as ``1e400`` is an error). Every NaN is normalised to Prometheus's
  ``NormalNaN`` bit pattern (``0x7ff8000000000001``), as its parsers do.
* Text format: timestamps are integer milliseconds; spaces and tabs may
  separate tokens; ``#`` lines other than HELP/TYPE are comments; blank lines
  are ignored; label values know the escapes ``\\\\``, ``\\"`` and ``\\n`` only
  (others are errors, as in ``promtool check metrics``); input must end with a
  newline.
* OpenMetrics: single spaces only, no blank lines or free comments, ``# EOF``
  required and nothing after it; timestamps are seconds (decimals allowed),
  converted like Prometheus's OpenMetrics parser: ``int64(ts * 1000)`` (float64
  product truncated toward zero). Unknown escapes in label values are kept
  literally (as Prometheus does); exemplars are parsed and returned.
* Interleaved or duplicated metric families and sample names that don't fit
  their family's type are accepted, as Prometheus and
  ``promtool tsdb create-blocks-from openmetrics`` accept them; pass
  ``strict=True`` to reject them per the OpenMetrics spec.
* A sample without a timestamp gets ``default_timestamp_ms``, or
  :data:`NO_TIMESTAMP` (``int64`` minimum) when that is ``None``.
* Metadata is keyed by the family name of its HELP/TYPE/UNIT line; the text
  format's ``untyped`` is reported as ``unknown`` (as Prometheus's metadata API).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, NamedTuple

import numpy as np

from tsdb.labels import METRIC_NAME, Labels

__all__ = [
    "NORMAL_NAN_BITS",
    "NO_TIMESTAMP",
    "Exemplar",
    "ExpositionError",
    "MetricMetadata",
    "ParseResult",
    "Parser",
    "is_openmetrics",
    "iter_parse",
    "parse",
]

NO_TIMESTAMP = int(np.iinfo(np.int64).min)
"""Timestamp of samples without one when no ``default_timestamp_ms`` is given."""

NORMAL_NAN_BITS = 0x7FF8000000000001
"""Prometheus's ``value.NormalNaN``: the bits every parsed NaN gets."""

OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

TEXT_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
OM_TYPES = frozenset(
    {"counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"}
)

# Sample-name suffixes each OpenMetrics family type allows (strict mode).
_OM_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


class ExpositionError(ValueError):
    """A syntax error in an exposition, with its 1-based line (and column when known)."""

    def __init__(self, msg: str, lineno: int, line: str = "", column: int | None = None) -> None:
        self.msg = msg
        self.lineno = lineno
        self.column = column
        self.line = line
        where = f" at column {column}" if column is not None else ""
        shown = line if len(line) <= 200 else line[:200] + "..."
        super().__init__(f"line {lineno}: {msg}{where}: {shown!r}")


@dataclass(frozen=True)
class MetricMetadata:
    """HELP/TYPE/UNIT of one metric family."""

    type: str = "unknown"
    help: str = ""
    unit: str = ""


class Exemplar(NamedTuple):
    """An OpenMetrics exemplar attached to sample ``sample_index`` of the result."""

    sample_index: int
    labels: Labels
    value: float
    timestamp_ms: int | None


@dataclass
class ParseResult:
    """Columns of parsed samples; ``series[i]``/``labels[i]`` go with ``values[i]``/``timestamps[i]``."""

    series: list[str]
    labels: list[Labels]
    values: np.ndarray  # float64
    timestamps: np.ndarray  # int64 ms
    metadata: dict[str, MetricMetadata] = field(default_factory=dict)
    exemplars: list[Exemplar] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.series)


def is_openmetrics(content_type: str) -> bool:
    """Whether a Content-Type header names the OpenMetrics text format."""
    ct = content_type.lower()
    return "openmetrics" in ct.split(";", 1)[0] or ct.strip() == "openmetrics"


# ---------------------------------------------------------------------------
# Lexical pieces

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LNAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_WS_RE = re.compile(r"[ \t]*")
_QUOTED_RE = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"')
_ESC_RE = re.compile(r"\\(.)")
_TEXT_VALUE_RE = re.compile(r"[^ \t{]+")
_TEXT_TS_RE = re.compile(r"[^ \t]+")
_OM_TOKEN_RE = re.compile(r"[^ ]+")
_FLOAT_RE = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
    r"|[nN][aA][nN]"
)
_INF_RE = re.compile(r"[+-]?[iI][nN][fF](?:[iI][nN][iI][tT][yY])?")
_INT_RE = re.compile(r"-?[0-9]+")
_INTS_RE = re.compile(r"-?[0-9]+(?: -?[0-9]+)*")
_SIGNED_NAN_RE = re.compile(r"[+-][nN]")
_QVAL = r'[^"\\]*(?:\\.[^"\\]*)*'  # a quoted string's inside (unrolled: fast in re)
_PAIR = rf'[a-zA-Z_][a-zA-Z0-9_]*="{_QVAL}"'
# A series key in canonical form (no blanks): the fast way to build new Labels.
_KEY_RE = re.compile(rf"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{{((?:{_PAIR},)*(?:{_PAIR})?)\}})?")
_PAIRS_RE = re.compile(rf'([a-zA-Z_][a-zA-Z0-9_]*)="({_QVAL})"')
_LNAMES_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*(?:\x00[a-zA-Z_][a-zA-Z0-9_]*)*")
_TEXT_META_RE = re.compile(r"#[ \t]+(HELP|TYPE)[ \t]+")
# Characters Python's str.split()/float()/int() treat as whitespace but the
# exposition formats don't: a chunk containing any goes the careful way.
_ODD_WS = "\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_ODD_WS_TEXT_RE = re.compile(f"[{_ODD_WS}]")
_ODD_WS_OM_RE = re.compile(f"[\t{_ODD_WS}]")

_TEXT_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class _LineError(Exception):
    def __init__(self, msg: str, column: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.column = column


def _unescape_label(s: str, om: bool) -> str:
    if "\\" not in s:
        return s

    def sub(m: re.Match[str]) -> str:
        c = m.group(1)
        r = _TEXT_ESCAPES.get(c)
        if r is not None:
            return r
        if om:
            return m.group(0)
        raise _LineError(f"invalid escape sequence '\\{c}' in label value")

    return _ESC_RE.sub(sub, s)


def _unescape_help(s: str, om: bool) -> str:
    if "\\" not in s:
        return s
    table = {"\\": "\\", "n": "\n", '"': '"'} if om else {"\\": "\\", "n": "\n"}
    return _ESC_RE.sub(lambda m: table.get(m.group(1), m.group(0)), s)


def _skip_ws(line: str, pos: int) -> int:
    m = _WS_RE.match(line, pos)
    assert m is not None
    return m.end()


def _parse_label_set(line: str, pos: int, om: bool) -> tuple[list[tuple[str, str]], int]:
    """Parse ``{a="b",...}`` starting at the ``{``; returns pairs and the position after ``}``."""
    n = len(line)
    pos += 1
    pairs: list[tuple[str, str]] = []
    while True:
        if not om:
            pos = _skip_ws(line, pos)
        if pos >= n:
            raise _LineError("expected label name or '}'", pos + 1)
        if line[pos] == "}":
            return pairs, pos + 1
        m = _LNAME_RE.match(line, pos)
        if m is None:
            raise _LineError("expected label name", pos + 1)
        name = m.group()
        pos = m.end()
        if not om:
            pos = _skip_ws(line, pos)
        if line[pos : pos + 1] != "=":
            raise _LineError(f"expected '=' after label name {name!r}", pos + 1)
        pos += 1
        if not om:
            pos = _skip_ws(line, pos)
        if line[pos : pos + 1] != '"':
            raise _LineError("expected label value in quotes", pos + 1)
        q = _QUOTED_RE.match(line, pos)
        if q is None:
            raise _LineError("unterminated label value", pos + 1)
        try:
            value = _unescape_label(q.group(1), om)
        except _LineError as e:
            raise _LineError(e.msg, pos + 1) from None
        pairs.append((name, value))
        pos = q.end()
        if not om:
            pos = _skip_ws(line, pos)
        c = line[pos : pos + 1]
        if c == ",":
            pos += 1
            continue
        if c == "}":
            return pairs, pos + 1
        raise _LineError("expected ',' or '}' after label value", pos + 1)


def _make_labels(name: str, pairs: list[tuple[str, str]]) -> Labels:
    d = {METRIC_NAME: name}
    for k, v in pairs:
        if k in d:
            raise _LineError(f"duplicate label name {k!r}")
        d[k] = v
    return _labels_from_dict(d)


def _labels_for_key(key: str, om: bool) -> Labels | None:
    """Labels of a canonical series key (no blanks), or None if it needs the careful parser."""
    b = key.find("{")
    if b > 0 and key[-1] == "}" and "\\" not in key:
        # Without backslashes no value holds a '"', so '",' only ends pairs.
        name = key[:b]
        body = key[b + 1 : -1]
        if _NAME_RE.fullmatch(name) is None:
            return None
        if not body:
            return Labels(((METRIC_NAME, name),))
        if body[-2:] == '",':
            body = body[:-1]
        if body[-1] != '"':
            return None
        d = {METRIC_NAME: name}
        names = []
        for pair in body[:-1].split('",'):
            k, sep, v = pair.partition('="')
            if not sep or '"' in v:
                return None
            d[k] = v
            names.append(k)
        if len(d) != len(names) + 1 or _LNAMES_RE.fullmatch("\x00".join(names)) is None:
            return None
        return _labels_from_dict(d)
    m = _KEY_RE.fullmatch(key)
    if m is None:
        return None
    body = m.group(2)
    d = {METRIC_NAME: m.group(1)}
    if body:
        pairs = _PAIRS_RE.findall(body)
        for k, v in pairs:
            if "\\" in v:
                try:
                    v = _unescape_label(v, om)
                except _LineError:
                    return None
            d[k] = v
        if len(d) != len(pairs) + 1:
            return None  # duplicate label names
    return _labels_from_dict(d)


def _labels_from_dict(d: dict[str, str]) -> Labels:
    items = sorted(d.items())
    if "" in d.values():
        items = [p for p in items if p[1]]
    return Labels(tuple(items))


def _check_float(tok: str, what: str, col: int) -> None:
    if _FLOAT_RE.fullmatch(tok) is None:
        raise _LineError(f"invalid {what} {tok!r}", col)
    if _INF_RE.fullmatch(tok) is None and abs(float(tok)) == float("inf"):
        raise _LineError(f"{what} {tok!r} out of range", col)


class _Sample(NamedTuple):
    key: str
    labels: Labels
    value: str
    ts: str | None
    exemplar: tuple[Labels, float, int | None] | None


def _om_ts_ms(tok: str, col: int) -> int:
    _check_float(tok, "timestamp", col)
    f = float(tok)
    if f != f or f in (float("inf"), float("-inf")):
        raise _LineError(f"invalid timestamp {tok!r}", col)
    ms = f * 1000.0
    if not (-(2.0**63) <= ms < 2.0**63):
        raise _LineError(f"timestamp {tok!r} out of range", col)
    return int(ms)


def _parse_sample_line(line: str, om: bool, cache: dict[str, Labels]) -> _Sample:
    """Careful parse of one sample line (no newline)."""
    n = len(line)
    pos = 0 if om else _skip_ws(line, 0)
    start = pos
    m = _NAME_RE.match(line, pos)
    if m is None:
        raise _LineError("expected metric name", pos + 1)
    name = m.group()
    pos = m.end()
    p = pos if om else _skip_ws(line, pos)
    pairs: list[tuple[str, str]] = []
    has_braces = p < n and line[p] == "{"
    if has_braces:
        pairs, pos = _parse_label_set(line, p, om)
    key = line[start:pos]
    labels = cache.get(key)
    if labels is None:
        labels = _make_labels(name, pairs)
    # value [timestamp] [exemplar]
    if om:
        if pos >= n:
            raise _LineError("expected value after metric", pos + 1)
        if line[pos] != " ":
            raise _LineError("expected a single space before the value", pos + 1)
        pos += 1
        vm = _OM_TOKEN_RE.match(line, pos)
        if vm is None:
            raise _LineError("expected value after metric", pos + 1)
        value = vm.group()
        _check_float(value, "value", pos + 1)
        pos = vm.end()
        ts: str | None = None
        exemplar = None
        if pos < n:
            pos += 1  # the space that ended the value token
            if line.startswith("# {", pos):
                exemplar = _parse_exemplar(line, pos)
            else:
                tm = _OM_TOKEN_RE.match(line, pos)
                if tm is None:
                    raise _LineError("expected timestamp or exemplar after value", pos + 1)
                ts = tm.group()
                _om_ts_ms(ts, pos + 1)
                pos = tm.end()
                if pos < n:
                    if not line.startswith(" # {", pos):
                        raise _LineError("expected exemplar or end of line after timestamp", pos + 1)
                    exemplar = _parse_exemplar(line, pos + 1)
        cache[key] = labels
        return _Sample(key, labels, value, ts, exemplar)
    p = _skip_ws(line, pos)
    if p == pos and not has_braces:
        if p >= n:
            raise _LineError("expected value after metric name", p + 1)
        raise _LineError("invalid character in metric name", p + 1)
    if p >= n:
        raise _LineError("expected value after metric", p + 1)
    vm = _TEXT_VALUE_RE.match(line, p)
    if vm is None:
        raise _LineError("expected value after metric", p + 1)
    value = vm.group()
    _check_float(value, "value", p + 1)
    pos = _skip_ws(line, vm.end())
    ts = None
    if pos < n:
        tm = _TEXT_TS_RE.match(line, pos)
        assert tm is not None
        ts = tm.group()
        if _INT_RE.fullmatch(ts) is None:
            raise _LineError(f"invalid timestamp {ts!r}", pos + 1)
        if not _INT64_MIN <= int(ts) <= _INT64_MAX:
            raise _LineError(f"timestamp {ts!r} out of range", pos + 1)
        pos = _skip_ws(line, tm.end())
        if pos < n:
            raise _LineError("unexpected text after timestamp", pos + 1)
    cache[key] = labels
    return _Sample(key, labels, value, ts, None)


def _parse_exemplar(line: str, pos: int) -> tuple[Labels, float, int | None]:
    """``# {labels} value [timestamp]`` at ``pos`` (the ``#``) to the end of the line."""
    pairs, pos = _parse_label_set(line, pos + 2, True)
    d: dict[str, str] = {}
    for k, v in pairs:
        if k in d:
            raise _LineError(f"duplicate exemplar label name {k!r}")
        d[k] = v
    n = len(line)
    if line[pos : pos + 1] != " ":
        raise _LineError("expected value after exemplar labels", pos + 1)
    vm = _OM_TOKEN_RE.match(line, pos + 1)
    if vm is None:
        raise _LineError("expected value after exemplar labels", pos + 2)
    _check_float(vm.group(), "exemplar value", pos + 2)
    value = float(vm.group())
    pos = vm.end()
    ts = None
    if pos < n:
        tm = _OM_TOKEN_RE.match(line, pos + 1)
        if tm is None:
            raise _LineError("expected exemplar timestamp", pos + 2)
        ts = _om_ts_ms(tm.group(), pos + 2)
        if tm.end() != n:
            raise _LineError("unexpected text after exemplar timestamp", tm.end() + 1)
    return Labels.from_dict(d), value, ts


# ---------------------------------------------------------------------------
# Parser state


class _State:
    """What survives from one chunk to the next."""

    def __init__(self, om: bool, strict: bool) -> None:
        self.om = om
        self.strict = strict
        self.lineno = 0  # number of lines consumed so far
        self.eof_line = 0  # line of "# EOF" (OpenMetrics)
        self.meta: dict[str, list[str]] = {}
        self.meta_seen: set[tuple[str, str]] = set()  # (family, HELP|TYPE|UNIT), strict mode
        self.family: str | None = None  # strict mode: current family, its type, samples seen
        self.family_type = "unknown"
        self.family_has_samples = False
        self.families: set[str] = set()
        self.last_name = ""

    def metadata(self) -> dict[str, MetricMetadata]:
        return {k: MetricMetadata(*v) for k, v in self.meta.items()}

    # -- strict OpenMetrics family bookkeeping --
    def enter_family(self, name: str) -> None:
        if name == self.family:
            return
        if name in self.families:
            raise _LineError(f"metric family {name!r} is interleaved with another family or repeated")
        self.family = name
        self.family_type = "unknown"
        self.family_has_samples = False
        self.families.add(name)

    def sample_name(self, name: str) -> None:
        if name == self.last_name:
            return
        fam = self.family
        fits = fam is not None and name.startswith(fam) and name[len(fam) :] in _OM_SUFFIXES[self.family_type]
        if not fits:
            if name == fam:
                raise _LineError(f"sample name {name!r} does not fit metric family type {self.family_type!r}")
            self.enter_family(name)
        self.family_has_samples = True
        self.last_name = name


class Parser:
    """A parser with a series-key → Labels cache shared across calls (thread-safe enough).

    Keep one per scrape target (like Prometheus's scrape cache) so unchanged
    series cost a dict lookup. The cache is cleared when it exceeds
    ``cache_size`` entries.
    """

    def __init__(self, *, cache_size: int = 1 << 20) -> None:
        self.cache_size = cache_size
        self._caches: dict[bool, dict[str, Labels]] = {False: {}, True: {}}

    def parse(
        self,
        text: bytes | str,
        *,
        content_type: str = "text/plain",
        default_timestamp_ms: int | None = None,
        strict: bool = False,
    ) -> ParseResult:
        """Parse a whole exposition. Raises :class:`ExpositionError`."""
        st = _State(is_openmetrics(content_type), strict)
        if isinstance(text, bytes | bytearray | memoryview):
            text = _decode(bytes(text), 0)
        ends_nl = text.endswith("\n")
        lines = text.split("\n") if text else []
        if ends_nl:
            lines.pop()
        res = self._chunk(text, lines, st, default_timestamp_ms)
        self._finish(st, lines[-1] if lines else "", ends_nl)
        return res

    def iter_parse(
        self,
        fileobj: IO[bytes] | IO[str] | Iterable[bytes] | Iterable[str],
        *,
        content_type: str = "text/plain",
        default_timestamp_ms: int | None = None,
        chunk_lines: int = 65536,
        strict: bool = False,
    ) -> Iterator[ParseResult]:
        """Parse a file (or any iterable of lines) in chunks of about ``chunk_lines`` lines.

        Each result's ``metadata`` holds every family seen so far; exemplar
        indices are relative to their chunk. Errors carry absolute line numbers.
        """
        st = _State(is_openmetrics(content_type), strict)
        it = iter(fileobj)
        last_line = ""
        ends_nl = True
        while True:
            raw = list(itertools.islice(it, chunk_lines))
            if not raw:
                break
            if isinstance(raw[0], bytes):
                text = _decode(b"".join(raw), st.lineno)  # type: ignore[arg-type]
            else:
                text = "".join(raw)  # type: ignore[arg-type]
            ends_nl = text.endswith("\n")
            lines = text.split("\n")
            if ends_nl:
                lines.pop()
            if lines:
                last_line = lines[-1]
            yield self._chunk(text, lines, st, default_timestamp_ms)
        self._finish(st, last_line, ends_nl)

    # -- internals --
    def _finish(self, st: _State, last_line: str, ends_nl: bool) -> None:
        if st.om:
            if not st.eof_line:
                raise ExpositionError("data does not end with # EOF", st.lineno + 1, "")
        elif st.lineno and not ends_nl:
            raise ExpositionError(
                "unexpected end of input: the last line must end with a newline", st.lineno, last_line
            )

    def _chunk(self, text: str, lines: list[str], st: _State, default_ts: int | None) -> ParseResult:
        om = st.om
        cache = self._caches[om]
        if len(cache) > self.cache_size:
            cache.clear()
        first, eof0 = st.lineno, st.eof_line
        careful = st.strict or bool(om and st.eof_line)
        careful = careful or (_ODD_WS_OM_RE if om else _ODD_WS_TEXT_RE).search(text) is not None
        if om and not careful:
            try:
                careful = lines.index("# EOF") < len(lines) - 1
            except ValueError:
                pass
        if careful:
            series, labels, vstrs, tstrs, exemplars = self._careful(lines, st, cache)
        else:
            try:
                series, labels, vstrs, tstrs, exemplars = self._fast(lines, st, cache)
            except _Redo:
                st.lineno, st.eof_line = first, eof0
                series, labels, vstrs, tstrs, exemplars = self._careful(lines, st, cache)
        try:
            values, timestamps = _convert(vstrs, tstrs, om, default_ts)
        except _Redo:
            # Bulk conversion met a bad token: rescan for an exact diagnostic.
            st2 = _State(om, st.strict)
            st2.lineno, st2.eof_line = first, eof0
            self._careful(lines, st2, {})
            raise AssertionError("bulk conversion failed but no line is invalid") from None
        return ParseResult(series, labels, values, timestamps, st.metadata(), exemplars)

    def _fast(
        self, lines: list[str], st: _State, cache: dict[str, Labels]
    ) -> tuple[list[str], list[Labels], list[str], list[str | None], list[Exemplar]]:
        series: list[str] = []
        labels: list[Labels] = []
        vstrs: list[str] = []
        tstrs: list[str | None] = []
        exemplars: list[Exemplar] = []
        s_app, l_app, v_app, t_app = series.append, labels.append, vstrs.append, tstrs.append
        cget = cache.get
        om = st.om
        lineno = st.lineno
        try:
            for line in lines:
                lineno += 1
                if not line or line[0] in "# \t" or (om and "#" in line):
                    st.lineno = lineno - 1
                    self._slow_line(line, st, cache, series, labels, vstrs, tstrs, exemplars)
                    continue
                b = line.rfind("}")
                if b >= 0:
                    key = line[: b + 1]
                    rest = line[b + 1 :]
                else:
                    sp = line.find(" ")
                    if sp < 0 or (not om and "\t" in line):
                        st.lineno = lineno - 1
                        self._slow_line(line, st, cache, series, labels, vstrs, tstrs, exemplars)
                        continue
                    key = line[:sp]
                    rest = line[sp:]
                lab = cget(key)
                if lab is None:
                    lab = _labels_for_key(key, om)
                    if lab is None:
                        st.lineno = lineno - 1
                        self._slow_line(line, st, cache, series, labels, vstrs, tstrs, exemplars)
                        continue
                    cache[key] = lab
                if om:
                    parts = rest.split(" ")
                    k = len(parts)
                    if parts[0] or k < 2 or k > 3 or not parts[1] or (k == 3 and not parts[2]):
                        raise _Redo
                    v_app(parts[1])
                    t_app(parts[2] if k == 3 else None)
                else:
                    parts = rest.split()
                    k = len(parts)
                    if k == 1:
                        v_app(parts[0])
                        t_app(None)
                    elif k == 2:
                        v_app(parts[0])
                        t_app(parts[1])
                    else:
                        raise _Redo
                s_app(key)
                l_app(lab)
        finally:
            st.lineno = lineno
        return series, labels, vstrs, tstrs, exemplars

    def _careful(
        self, lines: list[str], st: _State, cache: dict[str, Labels]
    ) -> tuple[list[str], list[Labels], list[str], list[str | None], list[Exemplar]]:
        series: list[str] = []
        labels: list[Labels] = []
        vstrs: list[str] = []
        tstrs: list[str | None] = []
        exemplars: list[Exemplar] = []
        for line in lines:
            self._slow_line(line, st, cache, series, labels, vstrs, tstrs, exemplars)
        return series, labels, vstrs, tstrs, exemplars

    def _slow_line(
        self,
        line: str,
        st: _State,
        cache: dict[str, Labels],
        series: list[str],
        labels: list[Labels],
        vstrs: list[str],
        tstrs: list[str | None],
        exemplars: list[Exemplar],
    ) -> None:
        st.lineno += 1
        lineno = st.lineno
        om = st.om
        try:
            if om and st.eof_line:
                raise _LineError("unexpected data after # EOF")
            stripped = line if om else line.lstrip(" \t")
            if not stripped:
                if om:
                    raise _LineError("blank lines are not allowed in OpenMetrics")
                return
            if stripped[0] == "#":
                self._comment(stripped, st)
                return
            s = _parse_sample_line(line, om, cache)
            if st.strict and om:
                st.sample_name(s.labels.name)
            if s.exemplar is not None:
                ex_labels, ex_value, ex_ts = s.exemplar
                exemplars.append(Exemplar(len(series), ex_labels, ex_value, ex_ts))
            series.append(s.key)
            labels.append(s.labels)
            vstrs.append(s.value)
            tstrs.append(s.ts)
        except _LineError as e:
            raise ExpositionError(e.msg, lineno, line, e.column) from None

    def _comment(self, line: str, st: _State) -> None:
        if not st.om:
            m = _TEXT_META_RE.match(line)
            if m is None:
                return  # a plain comment
            kind = m.group(1)
            pos = m.end()
            nm = _NAME_RE.match(line, pos)
            if nm is None:
                raise _LineError(f"expected metric name after {kind}", pos + 1)
            name = nm.group()
            pos = nm.end()
            if pos < len(line) and line[pos] not in " \t":
                raise _LineError("invalid character in metric name", pos + 1)
            text = line[_skip_ws(line, pos) :]
            if kind == "TYPE":
                typ = text.rstrip(" \t")
                if typ not in TEXT_TYPES:
                    raise _LineError(f"invalid metric type {typ!r}", pos + 2)
                self._set_meta(st, name, kind, "unknown" if typ == "untyped" else typ)
            else:
                self._set_meta(st, name, kind, _unescape_help(text, False))
            return
        if line == "# EOF":
            st.eof_line = st.lineno
            return
        kind = line[2:6]
        if not (line.startswith("# ") and kind in ("HELP", "TYPE", "UNIT") and line[6:7] == " "):
            raise _LineError("expected '# HELP', '# TYPE', '# UNIT' or '# EOF'", 1)
        nm = _NAME_RE.match(line, 7)
        if nm is None:
            raise _LineError(f"expected metric name after {kind}", 8)
        name = nm.group()
        pos = nm.end()
        if line[pos : pos + 1] != " ":
            raise _LineError(f"expected a space and text after the metric name in {kind}", pos + 1)
        text = line[pos + 1 :]
        if kind == "TYPE":
            if text not in OM_TYPES:
                raise _LineError(f"invalid metric type {text!r}", pos + 2)
            self._set_meta(st, name, kind, text)
        elif kind == "UNIT":
            if text and not (name.endswith(text) and name[: -len(text)].endswith("_")):
                raise _LineError(f"unit {text!r} is not a suffix of metric {name!r}", pos + 2)
            self._set_meta(st, name, kind, text)
        else:
            self._set_meta(st, name, kind, _unescape_help(text, True))

    @staticmethod
    def _set_meta(st: _State, name: str, kind: str, value: str) -> None:
        if st.strict:
            if st.om:
                st.enter_family(name)
                if st.family_has_samples:
                    raise _LineError(f"{kind} for metric family {name!r} after its samples")
                if kind == "TYPE":
                    st.family_type = value
            if (name, kind) in st.meta_seen:
                raise _LineError(f"second {kind} line for metric family {name!r}")
            st.meta_seen.add((name, kind))
        entry = st.meta.setdefault(name, ["unknown", "", ""])
        entry[{"TYPE": 0, "HELP": 1, "UNIT": 2}[kind]] = value


class _Redo(Exception):
    """The fast path met something it can't handle: redo the chunk carefully."""


def _decode(data: bytes, first_lineno: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        lineno = first_lineno + data.count(b"\n", 0, e.start) + 1
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line_end = data.find(b"\n", e.start)
        line = data[line_start : line_end if line_end >= 0 else len(data)].decode("utf-8", "replace")
        raise ExpositionError("invalid UTF-8", lineno, line, e.start - line_start + 1) from None


def _convert(
    vstrs: list[str], tstrs: list[str | None], om: bool, default_ts: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Values and timestamps from their tokens, validated in bulk (raises _Redo)."""
    n = len(vstrs)
    joined = " ".join(vstrs)
    if not joined.isascii() or "_" in joined or _SIGNED_NAN_RE.search(joined):
        raise _Redo
    try:
        values = np.array(vstrs, dtype=np.float64) if n else np.empty(0, np.float64)
    except ValueError:
        raise _Redo from None
    bad = ~np.isfinite(values)
    if bad.any():
        for i in np.flatnonzero(np.isinf(values)):
            if _INF_RE.fullmatch(vstrs[i]) is None:
                raise _Redo
        nan = np.isnan(values)
        if nan.any():
            values.view(np.uint64)[nan] = np.uint64(NORMAL_NAN_BITS)
    missing = tstrs.count(None)
    fill = NO_TIMESTAMP if default_ts is None else default_ts
    if missing == n:
        return values, np.full(n, fill, dtype=np.int64)
    if missing:
        idx = [i for i, t in enumerate(tstrs) if t is not None]
        toks: list[str] = [tstrs[i] for i in idx]  # type: ignore[misc]
    else:
        idx = None
        toks = tstrs  # type: ignore[assignment]
    jt = " ".join(toks)
    if om:
        if not jt.isascii() or "_" in jt or _SIGNED_NAN_RE.search(jt):
            raise _Redo
        try:
            secs = np.array(toks, dtype=np.float64)
        except ValueError:
            raise _Redo from None
        ms = secs * 1000.0
        if not np.all((ms >= -(2.0**63)) & (ms < 2.0**63)):  # also false for NaN
            raise _Redo
        got = np.trunc(ms).astype(np.int64)
    else:
        if _INTS_RE.fullmatch(jt) is None:
            raise _Redo
        try:
            got = np.array(toks, dtype=np.int64)
        except (OverflowError, ValueError):
            raise _Redo from None
    if idx is None:
        return values, got
    ts = np.full(n, fill, dtype=np.int64)
    ts[idx] = got
    return values, ts


_default_parser = Parser(cache_size=1 << 18)


def parse(
    text: bytes | str,
    *,
    content_type: str = "text/plain",
    default_timestamp_ms: int | None = None,
    strict: bool = False,
) -> ParseResult:
    """Parse a text-format or OpenMetrics exposition (chosen by ``content_type``).

    Uses a module-wide series-key cache; hold a :class:`Parser` for a private one.
    """
    return _default_parser.parse(
        text, content_type=content_type, default_timestamp_ms=default_timestamp_ms, strict=strict
    )


def iter_parse(
    fileobj: IO[bytes] | IO[str] | Iterable[bytes] | Iterable[str],
    *,
    content_type: str = "text/plain",
    default_timestamp_ms: int | None = None,
    chunk_lines: int = 65536,
    strict: bool = False,
) -> Iterator[ParseResult]:
    """Parse a large file chunk by chunk (see :meth:`Parser.iter_parse`)."""
    return Parser(cache_size=1 << 18).iter_parse(
        fileobj,
        content_type=content_type,
        default_timestamp_ms=default_timestamp_ms,
        chunk_lines=chunk_lines,
        strict=strict,
    )
