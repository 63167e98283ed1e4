"""``heron tsdb …`` subcommands: import, dump, analyze (as ``promtool tsdb``)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TextIO

import numpy as np

HOUR_MS = 3600 * 1000


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    t = sub.add_parser("tsdb", help="build and inspect TSDB blocks (like promtool tsdb)")
    ts = t.add_subparsers(dest="tsdb_command", required=True, metavar="SUBCOMMAND")

    imp = ts.add_parser(
        "import",
        help="build blocks from an OpenMetrics file (as promtool tsdb create-blocks-from openmetrics)",
    )
    imp.add_argument("file", help="OpenMetrics text file (timestamps in seconds, ends with # EOF)")
    imp.add_argument("--output", "-o", default="data/", help="output directory for the blocks")
    imp.add_argument(
        "--max-block-duration", default="2h", help="maximum duration of a created block (default 2h)"
    )
    imp.add_argument("--quiet", "-q", action="store_true", help="do not print created blocks")
    imp.set_defaults(func=cmd_import)

    dump = ts.add_parser("dump", help="print every sample as `labels value timestamp_ms`")
    dump.add_argument("dir", nargs="?", default="data/", help="TSDB directory")
    dump.add_argument("--match", default='{__name__=~".+"}', help="series selector")
    dump.add_argument("--min-time", default=None, help="minimum timestamp (ms) to dump")
    dump.add_argument("--max-time", default=None, help="maximum timestamp (ms) to dump")
    dump.set_defaults(func=cmd_dump)

    an = ts.add_parser("analyze", help="series count, label cardinality, bytes per sample, blocks")
    an.add_argument("dir", nargs="?", default="data/", help="TSDB directory")
    an.add_argument("--limit", type=int, default=20, help="how many items to show per list")
    an.set_defaults(func=cmd_analyze)


def _parse_duration_ms(s: str) -> int:
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": HOUR_MS, "d": 24 * HOUR_MS, "w": 7 * 24 * HOUR_MS}
    total, num = 0, ""
    i = 0
    while i < len(s):
        c = s[i]
        if c.isdigit():
            num += c
            i += 1
            continue
        unit = s[i : i + 2] if s[i : i + 2] == "ms" else c
        if not num or unit not in units:
            raise argparse.ArgumentTypeError(f"invalid duration {s!r}")
        total += int(num) * units[unit]
        num = ""
        i += len(unit)
    if num:
        raise argparse.ArgumentTypeError(f"invalid duration {s!r}: missing unit")
    return total


# ---- import -------------------------------------------------------------------------


def import_openmetrics(path: str | Path, output: str | Path, block_duration_ms: int = 2 * HOUR_MS) -> list:
    """Build blocks from an OpenMetrics file; returns the metas of the blocks written."""
    from scraper.exposition import iter_parse
    from tsdb import write_block

    keys: dict[str, int] = {}
    labels_of: list = []
    sid_parts: list[np.ndarray] = []
    t_parts: list[np.ndarray] = []
    v_parts: list[np.ndarray] = []
    with open(path, "rb") as f:
        for res in iter_parse(f, content_type="application/openmetrics-text"):
            if len(res.series) == 0:
                continue
            ids = np.empty(len(res.series), dtype=np.int64)
            for i, (key, ls) in enumerate(zip(res.series, res.labels, strict=True)):
                sid = keys.get(key)
                if sid is None:
                    sid = keys[key] = len(labels_of)
                    labels_of.append(ls)
                ids[i] = sid
            missing = res.timestamps == np.iinfo(np.int64).min
            if missing.any():
                line = int(np.flatnonzero(missing)[0])
                raise ValueError(f"{path}: sample without timestamp for series {res.series[line]}")
            sid_parts.append(ids)
            t_parts.append(res.timestamps.astype(np.int64))
            v_parts.append(res.values.astype(np.float64))
    if not sid_parts:
        return []
    sids = np.concatenate(sid_parts)
    ts = np.concatenate(t_parts)
    vals = np.concatenate(v_parts)
    # Series with equal label sets written under different keys (label order, spacing)
    # are one series.
    canon: dict = {}
    remap = np.empty(len(labels_of), dtype=np.int64)
    for i, ls in enumerate(labels_of):
        remap[i] = canon.setdefault(ls, i)
    sids = remap[sids]
    windows = ts // block_duration_ms
    order = np.lexsort((ts, sids, windows))
    sids, ts, vals, windows = sids[order], ts[order], vals[order], windows[order]
    metas = []
    bounds = np.flatnonzero(np.r_[True, windows[1:] != windows[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        ws, wt, wv = sids[a:b], ts[a:b], vals[a:b]
        # duplicate (series, timestamp): the last one in the file wins
        keep = np.r_[(ws[1:] != ws[:-1]) | (wt[1:] != wt[:-1]), True]
        ws, wt, wv = ws[keep], wt[keep], wv[keep]
        cuts = np.flatnonzero(np.r_[True, ws[1:] != ws[:-1], True])

        def series(ws=ws, wt=wt, wv=wv, cuts=cuts):
            for c0, c1 in zip(cuts[:-1], cuts[1:], strict=True):
                yield labels_of[int(ws[c0])], wt[c0:c1], wv[c0:c1]

        # Like promtool, a block's time range is its data's, not the window's.
        meta = write_block(output, series(), mint=int(wt.min()), maxt=int(wt.max()) + 1)
        if meta is not None:
            metas.append(meta)
    return metas


def cmd_import(args: argparse.Namespace) -> int:
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    try:
        metas = import_openmetrics(args.file, out, _parse_duration_ms(args.max_block_duration))
    except (ValueError, OSError) as e:
        print(f"heron tsdb import: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        for m in metas:
            print(
                f"BLOCK ULID {m.ulid}  MIN TIME {m.min_time}  MAX TIME {m.max_time}  "
                f"SAMPLES {m.stats.num_samples}  SERIES {m.stats.num_series}"
            )
        print(f"imported {len(metas)} blocks in {time.monotonic() - start:.2f}s", file=sys.stderr)
    return 0


# ---- dump ----------------------------------------------------------------------------


def format_go_g(v: float) -> str:
    """Format a float like Go's ``fmt.Sprintf("%g", v)`` (what promtool prints)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    r = repr(v)
    sign = ""
    if r[0] == "-":
        sign, r = "-", r[1:]
    # shortest round-trip digits and decimal exponent
    mant, _, exp_s = r.partition("e")
    exp = int(exp_s) if exp_s else 0
    intpart, _, frac = mant.partition(".")
    digits = (intpart + frac).lstrip("0")
    lead_zeros = len(intpart + frac) - len((intpart + frac).lstrip("0"))
    dp = len(intpart) + exp - lead_zeros  # position of the decimal point in `digits`
    digits = digits.rstrip("0") or "0"
    x = dp - 1
    if x < -4 or x >= 6:  # Go: shortest %g switches to %e at exponent 6
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def format_labels_promtool(labels) -> str:  # noqa: ANN001
    """Labels as promtool prints them: ``{__name__="up", job="x"}``."""
    from tsdb.labels import quote

    return "{" + ", ".join(f"{k}={quote(v)}" for k, v in labels.pairs) + "}"


def dump(
    directory: str | Path, match: str, mint: int | None, maxt: int | None, out: TextIO = sys.stdout
) -> int:
    """Write every matching sample as ``labels value ts``; returns the sample count."""
    from promql.parser import parse_metric_selector
    from tsdb import DB, DBOptions

    matchers = parse_metric_selector(match)
    db = DB(directory, DBOptions(retention_ms=0))
    n = 0
    try:
        q = db.querier(-(2**63) if mint is None else mint, 2**63 - 1 if maxt is None else maxt)
        for s in q.select(matchers, sort=True):
            lbl = format_labels_promtool(s.labels)
            lines = [
                f"{lbl} {format_go_g(v)} {t}\n" for t, v in zip(s.ts.tolist(), s.vals.tolist(), strict=True)
            ]
            out.writelines(lines)
            n += len(lines)
    finally:
        db.close()
    return n


def cmd_dump(args: argparse.Namespace) -> int:
    try:
        dump(
            args.dir,
            args.match,
            None if args.min_time is None else int(args.min_time),
            None if args.max_time is None else int(args.max_time),
        )
    except (ValueError, OSError) as e:
        print(f"heron tsdb dump: {e}", file=sys.stderr)
        return 1
    return 0


# ---- analyze -------------------------------------------------------------------------


def analyze(directory: str | Path, limit: int = 20, out: TextIO = sys.stdout) -> dict:
    """Print and return a summary of the blocks in ``directory``."""
    from tsdb import open_block

    directory = Path(directory)
    blocks = []
    for p in sorted(directory.iterdir()):
        if p.is_dir() and (p / "meta.json").exists():
            blocks.append(open_block(p))
    blocks.sort(key=lambda b: b.meta.min_time)
    total_samples = sum(b.meta.stats.num_samples for b in blocks)
    total_bytes = sum(b.size_bytes() for b in blocks)
    series: set = set()
    label_card: dict[str, set[str]] = {}
    name_count: Counter[str] = Counter()
    pair_count: Counter[str] = Counter()
    for b in blocks:
        ix = b.index()
        for name in ix.label_names():
            label_card.setdefault(name, set()).update(ix.label_values(name))
        for sid in ix.all_postings().tolist():
            ls, _ = ix.series(sid)
            if ls not in series:
                series.add(ls)
                name_count[ls.name] += 1
                for k, v in ls.pairs:
                    pair_count[f"{k}={v}"] += 1
    print("Blocks:", file=out)
    print(
        f"  {'ULID':26}  {'MIN TIME':>14}  {'MAX TIME':>14}  {'DURATION':>10}  {'SERIES':>8}  "
        f"{'SAMPLES':>10}  {'CHUNKS':>8}  {'BYTES':>10}  {'LEVEL':>5}",
        file=out,
    )
    for b in blocks:
        m = b.meta
        dur = (m.max_time - m.min_time) / 1000
        print(
            f"  {m.ulid}  {m.min_time:>14}  {m.max_time:>14}  {dur:>9.0f}s  {m.stats.num_series:>8}  "
            f"{m.stats.num_samples:>10}  {m.stats.num_chunks:>8}  {b.size_bytes():>10}  {m.level:>5}",
            file=out,
        )
    bps = total_bytes / total_samples if total_samples else 0.0
    print(f"\nTotal series: {len(series)}", file=out)
    print(f"Total samples: {total_samples}", file=out)
    print(f"Bytes on disk: {total_bytes} ({bps:.3f} bytes/sample)", file=out)
    print(f"Label names: {len(label_card)}", file=out)
    print("\nHighest cardinality labels:", file=out)
    for name, vals in sorted(label_card.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]:
        print(f"  {len(vals):>8} {name}", file=out)
    print("\nHighest cardinality metric names:", file=out)
    for name, c in name_count.most_common(limit):
        print(f"  {c:>8} {name}", file=out)
    print("\nMost common label pairs:", file=out)
    for pair, c in pair_count.most_common(limit):
        print(f"  {c:>8} {pair}", file=out)
    for b in blocks:
        b.close()
    return {
        "blocks": len(blocks),
        "series": len(series),
        "samples": total_samples,
        "bytes": total_bytes,
        "bytes_per_sample": bps,
        "label_cardinality": {k: len(v) for k, v in label_card.items()},
    }


def cmd_analyze(args: argparse.Namespace) -> int:
    try:
        analyze(args.dir, args.limit)
    except (ValueError, OSError) as e:
        print(f"heron tsdb analyze: {e}", file=sys.stderr)
        return 1
    return 0
