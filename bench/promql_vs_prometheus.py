"""PromQL benchmark: Heron's engine vs real Prometheus on the same data.

    python bench/promql_vs_prometheus.py [--targets 400] [--hours 6] [--step 60] [--repeat 3]

1. Generates scrape-like data (25 series per target: request counters with
   resets, gauges, a classic histogram, ``up``, ``build_info``; 15 s interval
   with ms jitter) as an OpenMetrics file — 400 targets = 10 k series.
2. Builds blocks with ``promtool tsdb create-blocks-from openmetrics`` and with
   ``heron tsdb import``; starts Prometheus on its blocks and opens a Heron
   ``tsdb.DB`` on its own.
3. Runs a query mix (selectors, rate, sum by, topk, histogram_quantile, binary
   joins, subqueries) as range queries over the whole span at ``--step``; each
   query once to warm up, then ``--repeat`` times; prints the median latency of
   Prometheus (HTTP API, JSON included, as a user sees it), Heron's engine
   (in-process, no HTTP) and, with ``--heron-url``, a running ``heron server``
   (HTTP), plus the ratio and the median ratio. Result series counts are
   compared as a sanity check.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.promql.test_differential import T0_S, Prometheus, write_openmetrics  # noqa: E402

C = "heron_requests_total"
H = "heron_request_duration_seconds"
QUERIES: list[tuple[str, str]] = [
    ("selector", "heron_memory_bytes"),
    ("selector + matcher", f'{C}{{code="500", method="GET"}}'),
    ("rate", f"rate({C}[5m])"),
    ("sum by rate", f"sum by (job) (rate({C}[5m]))"),
    ("sum by 2 labels", f"sum by (job, code) (rate({C}[5m]))"),
    ("topk", f"topk(10, rate({C}[5m]))"),
    ("histogram_quantile by job", f"histogram_quantile(0.99, sum by (le, job) (rate({H}_bucket[5m])))"),
    ("histogram_quantile per series", f"histogram_quantile(0.9, rate({H}_bucket[5m]))"),
    (
        "join group_left",
        f"sum by (job, instance) (rate({C}[5m])) / on (job, instance) group_left (version) heron_build_info",
    ),
    ("ratio of rates", f"rate({H}_sum[5m]) / rate({H}_count[5m])"),
    ("error ratio", f'sum by (job) (rate({C}{{code="500"}}[5m])) / sum by (job) (rate({C}[5m]))'),
    ("subquery", f"max_over_time(rate({C}[5m])[30m:1m])"),
    ("avg_over_time", "avg_over_time(heron_temperature_celsius[10m])"),
    ("comparison + count", "count by (job) (heron_temperature_celsius > 50)"),
    ("quantile", "quantile by (job) (0.9, heron_temperature_celsius)"),
    ("increase 1h", f"increase({C}[1h])"),
]


def _http(url: str, path: str, **params: str) -> dict:
    req = urllib.request.Request(url + path, data=urllib.parse.urlencode(params).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as e:
        return json.loads(e.read())  # type: ignore[no-any-return]


def _timed(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    out = fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--targets", type=int, default=400, help="targets (25 series each; default 400 = 10k series)"
    )
    ap.add_argument("--hours", type=float, default=6.0, help="time span of the data (default 6)")
    ap.add_argument("--step", type=float, default=60.0, help="range query step in seconds (default 60)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per query (median reported)")
    ap.add_argument("--workdir", default=None, help="keep data here (reused when present)")
    ap.add_argument("--heron-url", default=None, help="also time a running heron server at this URL")
    ap.add_argument("--only", default=None, help="run only queries whose name contains this")
    args = ap.parse_args(argv)

    from heron.tsdb_cli import import_openmetrics
    from promql.engine import Engine
    from tsdb import DB, DBOptions

    prom_bin, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prom_bin or not promtool:
        print("prometheus and promtool are required", file=sys.stderr)
        return 2
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="heron-promql-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    om = work / "data.om"
    duration_s = int(args.hours * 3600)
    stamp = work / "params.json"
    params = {"targets": args.targets, "duration_s": duration_s}
    fresh = not (stamp.exists() and json.loads(stamp.read_text()) == params)
    if fresh:
        for d in ("prom", "heron"):
            shutil.rmtree(work / d, ignore_errors=True)
        t = time.perf_counter()
        info = write_openmetrics(om, targets=args.targets, duration_s=duration_s)
        print(f"generated {info.series} series, {info.samples} samples in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(work / "prom")],
            check=True,
            capture_output=True,
        )
        print(f"promtool create-blocks-from openmetrics: {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        import_openmetrics(om, work / "heron")
        print(f"heron tsdb import: {time.perf_counter() - t:.1f}s")
        stamp.write_text(json.dumps(params))
    prom = Prometheus(prom_bin, work / "prom", work)
    db = DB(work / "heron", DBOptions(retention_ms=0))
    engine = Engine(enable_delayed_name_removal=False)
    start = (T0_S + 600) * 1000 + 500
    end = T0_S * 1000 + duration_s * 1000 + 500
    step_ms = int(args.step * 1000)
    rows = []
    try:
        for name, q in QUERIES:
            if args.only and args.only not in name:
                continue
            p_s, p_out = _timed(
                lambda q=q: _http(
                    prom.url,
                    "/api/v1/query_range",
                    query=q,
                    start=f"{start / 1000:.3f}",
                    end=f"{end / 1000:.3f}",
                    step=f"{args.step:g}",
                ),
                args.repeat,
            )
            h_s, h_out = _timed(lambda q=q: engine.range_query(db, q, start, end, step_ms), args.repeat)
            n_p = len(p_out["data"]["result"]) if p_out.get("status") == "success" else -1  # type: ignore[union-attr]
            n_h = len(h_out.value)  # type: ignore[attr-defined]
            hs_s = None
            if args.heron_url:
                hs_s, _ = _timed(
                    lambda q=q: _http(
                        args.heron_url,
                        "/api/v1/query_range",
                        query=q,
                        start=f"{start / 1000:.3f}",
                        end=f"{end / 1000:.3f}",
                        step=f"{args.step:g}",
                    ),
                    args.repeat,
                )
            rows.append((name, q, p_s, h_s, hs_s, n_p, n_h))
            extra = f"  heron-http {hs_s * 1000:8.1f} ms" if hs_s is not None else ""
            print(
                f"{name:32s} prometheus {p_s * 1000:8.1f} ms  heron {h_s * 1000:8.1f} ms  "
                f"ratio {h_s / p_s:5.2f}x  series {n_p}/{n_h}{extra}",
                flush=True,
            )
    finally:
        prom.stop()
        db.close()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    ratios = [h / p for _, _, p, h, _, _, _ in rows]
    med = statistics.median(ratios)
    points = (end - start) // step_ms + 1
    print()
    print(
        f"{args.targets * 25} series x {args.hours:g} h at 15 s; range queries over {(end - start) / 3.6e6:.2f} h, "
        f"step {args.step:g}s ({points} points); median of {args.repeat} runs after a warm-up"
    )
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{subprocess.run([prom_bin, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}"
    )
    print()
    hdr = "| query | prometheus (ms) | heron engine (ms) | ratio |"
    sep = "|---|---|---|---|"
    if args.heron_url:
        hdr += " heron server HTTP (ms) | ratio |"
        sep += "---|---|"
    print(hdr)
    print(sep)
    for name, q, p_s, h_s, hs_s, n_p, n_h in rows:
        mismatch = "" if n_p == n_h else f" (series {n_p} vs {n_h})"
        line = f"| {name}: `{q}` | {p_s * 1000:.1f} | {h_s * 1000:.1f} | {h_s / p_s:.2f}x{mismatch} |"
        if args.heron_url:
            line += f" {hs_s * 1000:.1f} | {hs_s / p_s:.2f}x |" if hs_s is not None else " - | - |"
        print(line)
    last = f"| **median ratio** | | | **{med:.2f}x** |"
    if args.heron_url:
        srv = [hs / p for _, _, p, _, hs, _, _ in rows if hs is not None]
        last += f" | **{statistics.median(srv):.2f}x** |" if srv else " | |"
    print(last)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
