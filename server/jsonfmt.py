"""Prometheus's JSON encoding of API responses, byte for byte.

Prometheus writes sample values as strings with ``jsonutil.MarshalFloat``:
Go's ``strconv.FormatFloat(v, 'f', -1, 64)`` (shortest digits, fixed point),
switching to ``'e'`` when ``|v| < 1e-6`` or ``|v| >= 1e21``, and ``NaN``,
``+Inf``, ``-Inf`` for the specials (``1e+06`` is never produced: a million is
``"1000000"``). Timestamps are seconds with exactly three decimals when the
millisecond part is non-zero (``1435781451.780``) and none otherwise. Strings
are escaped like Go's ``encoding/json`` (HTML characters as ``\\u003c`` …).

Results are built as JSON text directly (one ``join`` per series), not via a
generic encoder, so range queries with many points stay cheap.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from tsdb.labels import Labels

__all__ = [
    "error_body",
    "format_float",
    "format_floats",
    "format_go_g",
    "format_ts",
    "format_tss",
    "json_str",
    "labels_json",
    "result_json",
    "success_body",
]

_ESC = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def json_str(s: str) -> str:
    """A JSON string literal escaped like Go's ``encoding/json`` (HTML-safe)."""
    return json.dumps(s, ensure_ascii=False).translate(_ESC)


def dumps(obj: Any) -> str:
    """Compact JSON with Go's HTML-safe string escaping (for small structures)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).translate(_ESC)


# --------------------------------------------------------------------------- floats


def _fixed(r: str) -> str:
    """Python's shortest ``repr`` digits rewritten in fixed notation, Go style."""
    if "e" in r or "E" in r:
        r = format(Decimal(r), "f")
    elif r.endswith(".0"):
        r = r[:-2]
    return r


def format_float(v: float) -> str:
    """One value as Prometheus's JSON API writes it (without the quotes)."""
    if v != v:
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    a = abs(v)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        return repr(v)  # Python's shortest 'e' form matches Go's ('1e-07', '1.5e+21')
    return _fixed(repr(v))


def format_floats(vals: np.ndarray) -> list[str]:
    """``format_float`` over an array: integers in bulk, plain fractions via ``repr`` in bulk,
    the rest (exponents, specials, huge values) one by one."""
    vals = np.asarray(vals, dtype=np.float64)
    n = len(vals)
    if n == 0:
        return []
    a = np.abs(vals)
    with np.errstate(invalid="ignore"):
        ints = (vals == np.trunc(vals)) & (a < 1e15) & ~((vals == 0) & np.signbit(vals))
        # repr() is already Go's 'f' form for non-integers in [1e-4, 1e15).
        plain = ~ints & (a >= 1e-4) & (a < 1e15)
    if ints.all():
        return list(map(str, vals.astype(np.int64).tolist()))
    if plain.all():
        return list(map(repr, vals.tolist()))
    out: list[str] = [""] * n
    for mask, fn in ((ints, None), (plain, repr)):
        idx = np.flatnonzero(mask)
        if len(idx):
            src = vals[idx].astype(np.int64).tolist() if fn is None else vals[idx].tolist()
            for i, txt in zip(idx.tolist(), map(str if fn is None else fn, src), strict=True):
                out[i] = txt
    rest = np.flatnonzero(~(ints | plain)).tolist()
    for i, v in zip(rest, vals[rest].tolist(), strict=True):
        out[i] = format_float(v)
    return out


def format_go_g(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 64)`` as the text exposition writes values (0 for -0)."""
    if v != v:
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    if v == 0:
        return "0"
    r = repr(v)
    d = Decimal(r)
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    digs = "".join(map(str, digits)).rstrip("0") or "0"
    # Decimal point position relative to the first digit.
    dp = len(digits) + exp
    x = dp - 1
    if x < -4 or x >= 6:  # shortest %g switches to %e at exponent 6 (1e+06)
        mant = digs[0] + ("." + digs[1:] if len(digs) > 1 else "")
        return ("-" if sign else "") + f"{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    return _fixed(r)


# --------------------------------------------------------------------------- timestamps


def format_ts(t_ms: int) -> str:
    """A millisecond timestamp as Prometheus's JSON seconds (``12.500``, ``12``)."""
    neg = t_ms < 0
    t = -t_ms if neg else t_ms
    s, frac = divmod(t, 1000)
    out = f"{s}.{frac:03d}" if frac else str(s)
    return "-" + out if neg else out


def format_tss(ts: np.ndarray) -> list[str]:
    """``format_ts`` over an int64 array (in bulk for non-negative timestamps)."""
    ts = np.asarray(ts, dtype=np.int64)
    if not len(ts) or not (ts >= 0).all():
        return [format_ts(t) for t in ts.tolist()]
    sec, frac = np.divmod(ts, 1000)
    secs = list(map(str, sec.tolist()))
    if not frac.any():
        return secs
    fr = frac.tolist()
    return [f"{s}.{f:03d}" if f else s for s, f in zip(secs, fr, strict=True)]


# --------------------------------------------------------------------------- results

_LABELS_CACHE: dict[Labels, str] = {}


def labels_json(labels: Labels) -> str:
    """``{"__name__":"up","job":"x"}`` in label order (cached per label set)."""
    s = _LABELS_CACHE.get(labels)
    if s is None:
        s = "{" + ",".join(f"{json_str(k)}:{json_str(v)}" for k, v in labels.pairs) + "}"
        if len(_LABELS_CACHE) > 200_000:
            _LABELS_CACHE.clear()
        _LABELS_CACHE[labels] = s
    return s


def _points(ts: np.ndarray, vals: np.ndarray) -> str:
    return ",".join(map('[{},"{}"]'.format, format_tss(ts), format_floats(vals)))


def _matrix_json(series: Sequence[Any]) -> str:
    """The ``result`` of a matrix: all values formatted in one pass, each distinct
    timestamp column formatted once (range-query series share the step grid)."""
    if not series:
        return "[]"
    lens = [len(s.ts) for s in series]
    allv = np.concatenate([np.asarray(s.vals, dtype=np.float64) for s in series])
    vtxt = format_floats(allv)
    add = operator.add
    parts = []
    pos = 0
    last_ts: np.ndarray | None = None
    prefix: list[str] = []
    for s, n in zip(series, lens, strict=True):
        ts = np.asarray(s.ts, dtype=np.int64)
        if last_ts is None or not (len(ts) == len(last_ts) and np.array_equal(ts, last_ts)):
            prefix = [f'[{t},"' for t in format_tss(ts)]
            last_ts = ts
        pts = '"],'.join(map(add, prefix, vtxt[pos : pos + n])) + '"]' if n else ""
        pos += n
        parts.append(f'{{"metric":{labels_json(s.labels)},"values":[{pts}]}}')
    return "[" + ",".join(parts) + "]"


def result_json(value: Any) -> tuple[str, str]:
    """``(resultType, result JSON)`` for a PromQL engine result value."""
    from promql.engine import Matrix, Scalar, String, Vector

    if isinstance(value, Scalar):
        return "scalar", f'[{format_ts(value.t)},"{format_float(value.v)}"]'
    if isinstance(value, String):
        return "string", f"[{format_ts(value.t)},{json_str(value.v)}]"
    if isinstance(value, Vector):
        parts = [
            f'{{"metric":{labels_json(s.labels)},"value":[{format_ts(s.t)},"{format_float(s.v)}"]}}'
            for s in value
        ]
        return "vector", "[" + ",".join(parts) + "]"
    if isinstance(value, Matrix):
        return "matrix", _matrix_json(value)
    raise TypeError(f"unknown result value {type(value).__name__}")


def success_body(data_json: str, warnings: Sequence[str] = (), infos: Sequence[str] = ()) -> bytes:
    """``{"status":"success","data":…}`` plus ``warnings``/``infos`` when there are any."""
    out = '{"status":"success","data":' + data_json
    if warnings:
        out += ',"warnings":' + dumps(list(warnings))
    if infos:
        out += ',"infos":' + dumps(list(infos))
    return (out + "}").encode()


def error_body(
    error_type: str, msg: str, data_json: str | None = None, warnings: Iterable[str] = ()
) -> bytes:
    """``{"status":"error","errorType":…,"error":…}`` as Prometheus writes it."""
    out = '{"status":"error"'
    if data_json is not None:
        out += ',"data":' + data_json
    out += f',"errorType":{json_str(error_type)},"error":{json_str(msg)}'
    w = list(warnings)
    if w:
        out += ',"warnings":' + dumps(w)
    return (out + "}").encode()


def labels_list_json(items: Iterable[Labels]) -> str:
    return "[" + ",".join(labels_json(x) for x in items) + "]"


def str_list_json(items: Iterable[str]) -> str:
    return "[" + ",".join(json_str(x) for x in items) + "]"


def mapping_json(m: Mapping[str, Any]) -> str:
    return dumps(dict(m))
