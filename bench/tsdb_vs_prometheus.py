"""TSDB benchmark: Heron vs Prometheus (promtool) on the same OpenMetrics input.

    python bench/tsdb_vs_prometheus.py [--series 2000] [--hours 6] [--skip-memory]

1. Generates realistic scrape data (counters with resets, gauges, histogram
   buckets; 15 s interval with millisecond jitter) as an OpenMetrics file.
2. Builds blocks with ``promtool tsdb create-blocks-from openmetrics`` and with
   ``heron tsdb import``; prints bytes on disk per sample and import time.
3. Measures Heron's append path (samples/s through the Appender, WAL on) and
   resident memory per active series at 100 k and 1 M series, each in a fresh
   process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def generate(path: Path, n_series: int, hours: float, seed: int = 7) -> int:
    """Write an OpenMetrics file; returns the number of samples."""
    rng = np.random.default_rng(seed)
    steps = int(hours * 3600 / 15)
    start = 1_700_000_000_000
    base_t = start + np.arange(steps, dtype=np.int64) * 15_000
    buckets = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
    n_hist = max(1, n_series // 4 // len(buckets))
    n_counter = n_series * 2 // 5
    n_gauge = n_series - n_counter - n_hist * len(buckets)
    lines_per_family: list[tuple[str, str, list[str], np.ndarray]] = []

    def jittered() -> np.ndarray:
        return base_t + rng.integers(-5, 6, size=steps)

    # counters: request counts with occasional resets
    for i in range(n_counter):
        rate = rng.uniform(0.1, 50)
        inc = rng.poisson(rate * 15, size=steps).astype(np.float64)
        vals = np.cumsum(inc)
        for r in rng.choice(steps, size=rng.integers(0, 3), replace=False):
            vals[r:] -= vals[r]  # process restart
        labels = f'http_requests_total{{code="{[200, 404, 500][i % 3]}",instance="10.0.{i // 250}.{i % 250}:8080",job="api",method="{["get", "post"][i % 2]}"}}'
        lines_per_family.append(("http_requests", "counter", [labels], vals[None, :]))
    # gauges: memory, temperature-like floats with 2 decimals, some integer gauges
    for i in range(n_gauge):
        if i % 3 == 0:
            vals = np.round(np.cumsum(rng.normal(0, 1e5, size=steps)) + 5e8)
        elif i % 3 == 1:
            vals = np.round(40 + np.cumsum(rng.normal(0, 0.05, size=steps)), 2)
        else:
            vals = rng.integers(0, 20, size=steps).astype(np.float64)
        labels = f'node_gauge_{i % 3}{{instance="10.1.{i // 250}.{i % 250}:9100",job="node"}}'
        lines_per_family.append((f"node_gauge_{i % 3}", "gauge", [labels], vals[None, :]))
    # histograms
    for i in range(n_hist):
        obs = rng.poisson(20, size=(steps,)).astype(np.float64)
        frac = np.sort(rng.uniform(0, 1, size=len(buckets) - 1))
        cum = np.cumsum(obs)
        rows = [np.floor(cum * f) for f in frac] + [cum]
        names = [
            f'http_request_duration_seconds_bucket{{instance="10.2.0.{i}:8080",job="api",le="{le}"}}'
            for le in buckets
        ]
        lines_per_family.append(("http_request_duration_seconds", "histogram", names, np.array(rows)))
    n = 0
    with open(path, "w") as f:
        seen: set[str] = set()
        for fam, typ, names, rows in lines_per_family:
            if fam not in seen:
                seen.add(fam)
                f.write(f"# TYPE {fam} {typ}\n")
            for name, row in zip(names, rows, strict=True):
                ts = jittered() / 1000.0
                out = [f"{name} {v:.17g} {t:.3f}\n" for v, t in zip(row.tolist(), ts.tolist(), strict=True)]
                f.writelines(out)
                n += len(out)
        f.write("# EOF\n")
    return n


def dir_bytes(d: Path) -> int:
    total = 0
    for p in d.rglob("*"):
        if p.is_file() and "wal" not in p.parts and "chunks_head" not in p.parts:
            total += p.stat().st_size
    return total


def run_import(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


_APPEND_CHILD = r"""
import json, os, sys, time, tempfile, resource
import numpy as np
from tsdb import Labels
from tsdb._db import DB, DBOptions

n_series, n_scrapes = int(sys.argv[1]), int(sys.argv[2])
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
d = tempfile.mkdtemp()
db = DB(d, DBOptions(retention_ms=0))
base = rss()
app = db.appender()
refs = np.array([app.ref_for(Labels.from_dict({'__name__': 'bench_metric_total', 'job': 'bench',
      'instance': f'10.{i >> 16}.{(i >> 8) & 255}.{i & 255}:9100', 'idx': str(i)})) for i in range(n_series)], dtype=np.int64)
app.commit()
t0 = 1_700_000_000_000
vals = np.zeros(n_series)
rng = np.random.default_rng(1)
start = time.perf_counter()
for k in range(n_scrapes):
    vals += rng.integers(0, 10, size=n_series)
    ts = t0 + k * 15000 + rng.integers(-5, 6, size=n_series)
    app = db.appender()
    app.append_batch(refs, ts, vals)
    app.commit()
el = time.perf_counter() - start
mem = rss() - base
print(json.dumps({'samples_per_s': n_series * n_scrapes / el, 'bytes_per_series': mem / n_series,
                  'seconds': el}))
"""


def append_bench(n_series: int, n_scrapes: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _APPEND_CHILD, str(n_series), str(n_scrapes)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--hours", type=float, default=6)
    ap.add_argument("--scrapes", type=int, default=120, help="scrapes per series in the append bench")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 100k/1M series append runs")
    args = ap.parse_args()
    promtool = shutil.which("promtool")
    heron = shutil.which("heron") or str(Path(sys.executable).parent / "heron")
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        om = tmpd / "input.om"
        t0 = time.perf_counter()
        n = generate(om, args.series, args.hours)
        print(
            f"generated {n} samples, {args.series} series, {args.hours} h "
            f"({om.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f}s"
        )
        rows = []
        heron_t = run_import([heron, "tsdb", "import", str(om), "--output", str(tmpd / "heron"), "-q"])
        heron_b = dir_bytes(tmpd / "heron")
        if promtool:
            prom_t = run_import(
                [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(om), str(tmpd / "prom")]
            )
            prom_b = dir_bytes(tmpd / "prom")
            rows.append(
                (
                    "bytes on disk / sample",
                    f"{heron_b / n:.3f}",
                    f"{prom_b / n:.3f}",
                    f"{heron_b / prom_b:.2f}x",
                )
            )
            rows.append(("import time (s)", f"{heron_t:.2f}", f"{prom_t:.2f}", f"{heron_t / prom_t:.2f}x"))
        else:
            print("promtool not found: Prometheus column left empty")
            rows.append(("bytes on disk / sample", f"{heron_b / n:.3f}", "-", "-"))
            rows.append(("import time (s)", f"{heron_t:.2f}", "-", "-"))
        sizes = [100_000] if args.skip_memory else [100_000, 1_000_000]
        for ns in sizes:
            scrapes = args.scrapes if ns <= 100_000 else max(10, args.scrapes // 4)
            r = append_bench(ns, scrapes)
            rows.append(
                (
                    f"append samples/s ({ns // 1000}k series, WAL on)",
                    f"{r['samples_per_s']:,.0f}",
                    "-",
                    "target >= 1,000,000",
                )
            )
            rows.append(
                (
                    f"memory / active series ({ns // 1000}k series, {scrapes} samples each)",
                    f"{r['bytes_per_series']:,.0f} B",
                    "-",
                    "target <= 3 kB",
                )
            )
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| figure | heron | prometheus | ratio |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
