"""``heron promql …`` subcommands: query, query-range, format, test.

``query``/``query-range`` evaluate over a TSDB directory (blocks + WAL) and print
results the way ``promtool query`` does (``{labels} => value @[ts]``);
``format`` pretty-prints an expression like Prometheus's ``parser.Prettify``;
``test`` runs promqltest scripts and prints one summary line per tier.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from promql.ast import Expr
    from promql.engine import Result
    from tsdb.interface import Labels

MAX_CHARS_PER_LINE = 100
_INDENT = "  "


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``heron promql query|query-range|format|test`` to a subparsers action."""
    p = sub.add_parser("promql", help="run, format and test PromQL (like promtool query / promql)")
    ps = p.add_subparsers(dest="promql_command", required=True, metavar="SUBCOMMAND")

    q = ps.add_parser("query", help="instant query over a TSDB directory")
    q.add_argument("expr", help="PromQL expression")
    q.add_argument("--data", required=True, help="TSDB directory (as --storage.tsdb.path)")
    q.add_argument("--time", default=None, help="evaluation time (RFC3339 or unix seconds; default now)")
    _add_engine_flags(q)
    q.set_defaults(func=cmd_query)

    r = ps.add_parser("query-range", help="range query over a TSDB directory")
    r.add_argument("expr", help="PromQL expression")
    r.add_argument("--data", required=True, help="TSDB directory (as --storage.tsdb.path)")
    r.add_argument("--start", default=None, help="start time (RFC3339 or unix seconds; default end-5m)")
    r.add_argument("--end", default=None, help="end time (RFC3339 or unix seconds; default now)")
    r.add_argument("--step", default=None, help="step (duration like 15s/1m or seconds; default range/250)")
    _add_engine_flags(r)
    r.set_defaults(func=cmd_query_range)

    f = ps.add_parser("format", help="pretty-print an expression (as promtool promql format)")
    f.add_argument("expr", help="PromQL expression")
    f.set_defaults(func=cmd_format)

    t = ps.add_parser("test", help="run promqltest scripts; one summary line per tier")
    t.add_argument("files", nargs="+", help="*.test files or directories")
    t.add_argument("-v", "--verbose", action="store_true", help="print skip reasons too")
    t.set_defaults(func=cmd_test)


def _add_engine_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lookback-delta", default="5m", help="lookback delta (default 5m)")
    p.add_argument("--timeout", default="2m", help="query timeout (default 2m)")
    p.add_argument(
        "--enable-feature",
        action="append",
        default=[],
        help="promql-experimental-functions, promql-delayed-name-removal (repeatable, comma-separated)",
    )


# ---- time and number parsing ------------------------------------------------------------


def parse_time_ms(s: str) -> int:
    """RFC3339 (``2024-01-02T03:04:05.123Z``) or unix seconds (``1700000000.5``) to ms."""
    s = s.strip()
    try:
        v = float(s)
    except ValueError:
        pass
    else:
        if not math.isfinite(v):
            raise ValueError(f"invalid time {s!r}")
        return round(v * 1000)
    txt = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        dt = datetime.fromisoformat(txt)
    except ValueError:
        raise ValueError(f"cannot parse {s!r} as a RFC3339 time or unix timestamp") from None
    if dt.tzinfo is None:
        raise ValueError(f"time {s!r} lacks a time zone (use Z or +hh:mm)")
    return round(dt.timestamp() * 1000)


def parse_step_ms(s: str) -> int:
    """A duration (``15s``, ``1m30s``) or a number of seconds (``15``, ``0.5``) to ms."""
    from promql.parser import parse_duration

    s = s.strip()
    try:
        v = float(s)
    except ValueError:
        return int(parse_duration(s))
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"invalid step {s!r}")
    return round(v * 1000)


# ---- output like promtool (prometheus/common model String()) ---------------------------


def format_value(v: float) -> str:
    """As Go's ``strconv.FormatFloat(v, 'f', -1, 64)``."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    s = format(Decimal(repr(v)), "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def format_time(t_ms: int) -> str:
    """As ``model.Time.String()``: seconds, shortest decimal."""
    sec, ms = divmod(int(t_ms), 1000)
    if ms == 0:
        return str(sec)
    return f"{sec}.{ms:03d}".rstrip("0")


def format_metric(labels: Labels) -> str:
    """As ``model.Metric.String()``: ``name{a="b", c="d"}``, labels sorted."""
    from promql.ast import go_quote

    name = labels.get("__name__")
    rest = sorted(f"{k}={go_quote(v)}" for k, v in labels.pairs if k != "__name__")
    if not rest:
        return name if name else "{}"
    return f"{name}{{{', '.join(rest)}}}"


def format_result(value: object) -> str:
    """A query result as ``promtool query`` prints it (no trailing newline)."""
    from promql.engine import Matrix, Scalar, String, Vector

    if isinstance(value, Scalar):
        return f"scalar: {format_value(value.v)} @[{format_time(value.t)}]"
    if isinstance(value, String):
        return f"{value.v} @[{format_time(value.t)}]"
    if isinstance(value, Vector):
        return "\n".join(
            f"{format_metric(s.labels)} => {format_value(s.v)} @[{format_time(s.t)}]" for s in value
        )
    if isinstance(value, Matrix):
        out = []
        for s in value:
            pts = "\n".join(f"{format_value(v)} @[{format_time(t)}]" for t, v in s.points())
            out.append(f"{format_metric(s.labels)} =>\n{pts}")
        return "\n".join(out)
    raise TypeError(f"unexpected result type {type(value).__name__}")


# ---- pretty printing (Prometheus's parser.Prettify) -------------------------------------


def prettify(expr: Expr | str, max_chars: int = MAX_CHARS_PER_LINE) -> str:
    """Format ``expr`` like Prometheus's ``parser.Prettify``: one line when it fits in
    ``max_chars``, else split at aggregations, binary operators, calls and parentheses."""
    from promql.parser import parse_expr

    node = parse_expr(expr) if isinstance(expr, str) else expr
    return _pretty(node, 0, max_chars)


def _pretty(e: Expr, level: int, mx: int) -> str:
    from promql.ast import AggregateExpr, BinaryExpr, Call, ParenExpr, SubqueryExpr, UnaryExpr

    ind = _INDENT * level
    s = str(e)
    if isinstance(e, UnaryExpr):
        return f"{ind}{e.op}{_pretty(e.expr, level, mx).strip()}"
    if len(s) <= mx:
        return ind + s
    if isinstance(e, AggregateExpr):
        head = e.op
        if e.without:
            head += f" without ({', '.join(e.grouping)}) "
        elif e.grouping:
            head += f" by ({', '.join(e.grouping)}) "
        out = f"{ind}{head}(\n"
        if e.param is not None:
            out += _pretty(e.param, level + 1, mx) + ",\n"
        return out + f"{_pretty(e.expr, level + 1, mx)}\n{ind})"
    if isinstance(e, BinaryExpr):
        b = " bool" if e.return_bool else ""
        m = str(e.matching) if e.matching is not None else ""
        return f"{_pretty(e.lhs, level + 1, mx)}\n{ind}{e.op}{b}{m}\n{_pretty(e.rhs, level + 1, mx)}"
    if isinstance(e, Call):
        args = ",\n".join(_pretty(a, level + 1, mx) for a in e.args)
        return f"{ind}{e.func.name}(\n{args}\n{ind})"
    if isinstance(e, ParenExpr):
        return f"{ind}(\n{_pretty(e.expr, level + 1, mx)}\n{ind})"
    if isinstance(e, SubqueryExpr):
        inner = str(e.expr)
        suffix = s[len(inner) :] if s.startswith(inner) else ""
        return _pretty(e.expr, level, mx) + suffix
    return ind + s


# ---- commands --------------------------------------------------------------------------


def _err(cmd: str, msg: str) -> int:
    print(f"heron promql {cmd}: {msg}", file=sys.stderr)
    return 1


def _engine(args: argparse.Namespace):  # noqa: ANN202
    from promql.engine import Engine
    from promql.parser import parse_duration

    feats = {f.strip() for v in args.enable_feature for f in v.split(",") if f.strip()}
    unknown = feats - {"promql-experimental-functions", "promql-delayed-name-removal"}
    if unknown:
        raise ValueError(f"unknown feature(s): {', '.join(sorted(unknown))}")
    return Engine(
        lookback_delta_ms=parse_duration(args.lookback_delta),
        timeout_s=parse_duration(args.timeout) / 1000,
        enable_experimental_functions="promql-experimental-functions" in feats,
        enable_delayed_name_removal="promql-delayed-name-removal" in feats,
    )


def _describe_parse_error(exc: Exception, expr: str) -> str:
    """The Prometheus-style message plus the offending line with a caret."""
    line = getattr(exc, "line", None)
    col = getattr(exc, "column", None)
    msg = str(exc)
    if isinstance(line, int) and isinstance(col, int):
        lines = expr.split("\n")
        if 1 <= line <= len(lines):
            src = lines[line - 1]
            msg += f"\n  {src}\n  {' ' * max(0, col - 1)}^"
    return msg


def run_query(
    data: str | Path,
    expr: str,
    *,
    t_ms: int | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    step_ms: int | None = None,
    engine: object | None = None,
) -> Result:
    """Open the TSDB at ``data`` read-only-ish and evaluate ``expr`` (instant if ``t_ms``)."""
    from promql.engine import Engine
    from tsdb import DB, DBOptions

    path = Path(data)
    if not path.is_dir():
        raise FileNotFoundError(f"data directory {str(path)!r} does not exist")
    eng = engine if engine is not None else Engine(enable_delayed_name_removal=False)
    db = DB(path, DBOptions(retention_ms=0))
    try:
        if t_ms is not None:
            return eng.instant_query(db, expr, t_ms)  # type: ignore[attr-defined,no-any-return]
        assert start_ms is not None and end_ms is not None and step_ms is not None
        return eng.range_query(db, expr, start_ms, end_ms, step_ms)  # type: ignore[attr-defined,no-any-return]
    finally:
        db.close()


def _execute(cmd: str, args: argparse.Namespace, out: TextIO, **kw: int) -> int:
    from promql.errors import ParseError
    from promql.eval_errors import EvalError
    from tsdb import DBLockedError

    try:
        eng = _engine(args)
        res = run_query(args.data, args.expr, engine=eng, **kw)  # type: ignore[arg-type]
    except ParseError as e:
        return _err(cmd, _describe_parse_error(e, args.expr))
    except EvalError as e:
        return _err(cmd, f"{e.error_type}: {e}")
    except DBLockedError as e:
        return _err(cmd, f"{e} (is a server using it?)")
    except (ValueError, OSError) as e:
        return _err(cmd, str(e))
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for i in res.infos:
        print(f"info: {i}", file=sys.stderr)
    text = format_result(res.value)
    if text:
        out.write(text + "\n")
    return 0


def cmd_query(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        t = parse_time_ms(args.time) if args.time else int(time.time() * 1000)
    except ValueError as e:
        return _err("query", str(e))
    return _execute("query", args, out, t_ms=t)


def cmd_query_range(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        end = parse_time_ms(args.end) if args.end else int(time.time() * 1000)
        start = parse_time_ms(args.start) if args.start else end - 5 * 60_000
        if end < start:
            raise ValueError("end time must not be before start time")
        if args.step:
            step = parse_step_ms(args.step)
        else:  # promtool's default: 250 points, at least 1s
            step = max(1000, (end - start) // 250 // 1000 * 1000)
        if step <= 0:
            raise ValueError("zero or negative query resolution step widths are not accepted")
        if (end - start) // step > 11_000:
            raise ValueError(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
    except ValueError as e:
        return _err("query-range", str(e))
    return _execute("query-range", args, out, start_ms=start, end_ms=end, step_ms=step)


def cmd_format(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from promql.errors import ParseError

    out = out or sys.stdout
    try:
        text = prettify(args.expr)
    except ParseError as e:
        return _err("format", _describe_parse_error(e, args.expr))
    out.write(text + "\n")
    return 0


def run_tests(files: Sequence[str | Path], out: TextIO, verbose: bool = False) -> tuple[int, int, int]:
    """Run promqltest scripts; print failures and the per-tier summary. Returns (passed, failed, skipped)."""
    from promql.promqltest import Runner, Summary, collect_cases

    runner = Runner()
    summary = Summary()
    for f in files:
        if not Path(f).exists():
            raise FileNotFoundError(f"{f}: no such file or directory")
    for case in collect_cases(files):
        o = runner.run(case)
        summary.add(o)
        if o.status == "failed" or (verbose and o.status == "skipped"):
            out.write(f"{o.status.upper()} {case.id} [tier {o.tier}] {case.expr}\n    {o.message}\n")
    for ln in summary.lines():
        out.write(ln + "\n")
    tot = [sum(c[k] for c in summary.counts.values()) for k in ("passed", "failed", "skipped")]
    return tot[0], tot[1], tot[2]


def cmd_test(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        _, failed, _ = run_tests(args.files, out, args.verbose)
    except (ValueError, OSError) as e:
        return _err("test", str(e))
    return 1 if failed else 0
