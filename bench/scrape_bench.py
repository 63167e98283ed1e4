"""Scrape benchmark: parse + append samples/s on one core, beside real Prometheus's scrape of the same payload.

    python bench/scrape_bench.py [--series 100000] [--scrapes 8] [--no-prometheus]

The payload is kube-state-metrics-like text format: 200 metric families with
HELP/TYPE, 5 labels per series, values changing every scrape. Heron figures:

* cold scrape: the first scrape (every series new: labels, relabel, refs);
* full parse (steady): cache hits only, the fast path disabled;
* steady state: the usual case, payload lines unchanged except values
  (scraper/_layout.py);
* end to end: ``ScrapeLoop.scrape_and_report`` over HTTP (gzip on) from a
  local server, as ``scrape_duration_seconds`` measures it.

All Heron figures append through the TSDB (WAL on) and commit. Prometheus's
figure is its own ``scrape_duration_seconds`` for the same payload from the
same local server (HTTP + gzip + parse + append), averaged over its scrapes.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scraper.config import load_config_str  # noqa: E402
from scraper.scrape import ScrapeCache, ScrapeLoop, ScrapeOptions  # noqa: E402
from scraper.target import Target, populate_labels  # noqa: E402
from tsdb import DBOptions, open_db  # noqa: E402
from tsdb.labels import Labels  # noqa: E402


def payloads(n_series: int, variants: int, seed: int = 1) -> list[bytes]:
    """``variants`` payloads with identical lines except for the values."""
    rnd = random.Random(seed)
    fams = 200
    per = max(1, n_series // fams)
    heads = []
    keys = []
    for m in range(fams):
        name = f"kube_pod_metric_{m}_total" if m % 2 else f"kube_pod_metric_{m}"
        typ = "counter" if m % 2 else "gauge"
        heads.append((f"# HELP {name} Metric {m} of the pods.\n# TYPE {name} {typ}\n", name))
        ks = []
        for i in range(per):
            ks.append(
                f'{name}{{namespace="ns-{i % 17}",pod="app-{i}-7d4b9c-x2x9z",container="c{i % 3}",'
                f'node="node-{i % 5}",uid="0f3b6c2e-{i:04d}-4c4c-8e8e-{m:012d}"}}'
            )
        keys.append(ks)
    out = []
    for _ in range(variants):
        parts = []
        for (head, _), ks in zip(heads, keys, strict=True):
            parts.append(head)
            for k in ks:
                parts.append(f"{k} {rnd.random() * 1e6:.6g}\n")
        out.append("".join(parts).encode())
    return out


def _target(port: int = 1):
    cfg = load_config_str(
        "scrape_configs:\n  - job_name: bench\n    scrape_interval: 2s\n    scrape_timeout: 2s\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    ).scrape_configs[0]
    lbls, disc = populate_labels(Labels.from_dict({"__address__": f"127.0.0.1:{port}"}), cfg)
    assert lbls is not None
    return Target(lbls, disc, cfg.params, cfg.job_name), cfg


def bench_heron(bodies: list[bytes], scrapes: int, tmp: Path, fast: bool) -> tuple[float, float, int]:
    """(cold seconds, steady seconds per scrape, samples per scrape)."""
    db = open_db(tmp / ("fast" if fast else "full"), DBOptions())
    try:
        t, cfg = _target()
        cur = [bodies[0]]

        async def fetch() -> tuple[bytes, str]:
            return cur[0], "text/plain; version=0.0.4"

        loop = ScrapeLoop(t, db, ScrapeOptions.from_config(cfg), fetch=fetch, cache=ScrapeCache())
        ts = 1_700_000_000_000

        async def run() -> tuple[float, list[float]]:
            t0 = time.perf_counter()
            await loop.scrape_and_report(ts)
            cold = time.perf_counter() - t0
            times = []
            for i in range(1, scrapes + 1):
                cur[0] = bodies[i % len(bodies)]
                if not fast:
                    loop.cache.layout = None
                t0 = time.perf_counter()
                await loop.scrape_and_report(ts + i * 2000)
                times.append(time.perf_counter() - t0)
                assert loop.target.health == "up", loop.target.last_error
            return cold, times

        cold, times = asyncio.run(run())
        n = int(loop.cache.slot_ref.shape[0] and len(loop.cache.idx))
        return cold, statistics.median(times), n
    finally:
        db.close()


class _Server:
    """Serves the payloads in turn at /metrics (gzip when asked), like an exporter."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.gz = [gzip.compress(b, 1) for b in bodies]
        self.raw = bodies
        self.i = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                k = outer.i % len(outer.raw)
                outer.i += 1
                use_gz = "gzip" in self.headers.get("Accept-Encoding", "")
                body = outer.gz[k] if use_gz else outer.raw[k]
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                if use_gz:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def bench_heron_http(port: int, scrapes: int, tmp: Path) -> float:
    db = open_db(tmp / "http", DBOptions())
    try:
        t, cfg = _target(port)
        loop = ScrapeLoop(t, db, ScrapeOptions.from_config(cfg))

        async def run() -> list[float]:
            import aiohttp

            async with aiohttp.ClientSession() as s:
                loop.session = s
                out = []
                for i in range(scrapes + 1):
                    t0 = time.perf_counter()
                    await loop.scrape_and_report(1_700_000_000_000 + i * 2000)
                    out.append(time.perf_counter() - t0)
                    assert loop.target.health == "up", loop.target.last_error
                return out[1:]

        return statistics.median(asyncio.run(run()))
    finally:
        db.close()


def bench_prometheus(port: int, tmp: Path, scrapes: int) -> float | None:
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 3s, scrape_timeout: 3s}\n"
        f"scrape_configs:\n  - job_name: bench\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
    )
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        pport = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp / 'promdata'}",
            f"--web.listen-address=127.0.0.1:{pport}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import json

        deadline = time.monotonic() + 30 + 4 * scrapes
        vals: list[float] = []
        while time.monotonic() < deadline:
            time.sleep(1)
            try:
                q = urllib.request.quote("scrape_duration_seconds[10m]")
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{pport}/api/v1/query?query={q}", timeout=5
                ) as r:
                    res = json.loads(r.read())["data"]["result"]
            except OSError:
                continue
            if res:
                vals = [float(v) for _, v in res[0]["values"]]
                if len(vals) > scrapes:
                    break
        # The first scrape creates every series; report the steady ones.
        return statistics.median(vals[1:]) if len(vals) > 1 else None
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=100_000)
    ap.add_argument("--scrapes", type=int, default=8)
    ap.add_argument("--no-prometheus", action="store_true")
    a = ap.parse_args()
    bodies = payloads(a.series, 4)
    n = sum(1 for line in bodies[0].split(b"\n") if line and not line.startswith(b"#"))
    print(
        f"payload: {n} samples, {len(bodies[0]) / 1e6:.1f} MB text, {len(gzip.compress(bodies[0], 1)) / 1e6:.1f} MB gzip"
    )
    tmp = Path(tempfile.mkdtemp(prefix="heron-scrape-bench-"))
    try:
        cold, steady, _ = bench_heron(bodies, a.scrapes, tmp, fast=True)
        _, full, _ = bench_heron(bodies, a.scrapes, tmp, fast=False)
        srv = _Server(bodies)
        try:
            e2e = bench_heron_http(srv.port, a.scrapes, tmp)
            prom = None if a.no_prometheus else bench_prometheus(srv.port, tmp, a.scrapes)
        finally:
            srv.close()
        rows = [
            ("cold scrape (all series new), parse+append", cold, None),
            ("full parse, cached series, parse+append", full, None),
            ("steady state (lines unchanged), parse+append", steady, None),
            ("end to end over HTTP (gzip), scrape_duration_seconds", e2e, prom),
        ]
        print("| figure | heron s/scrape | heron samples/s | prometheus s/scrape | prometheus samples/s |")
        print("|---|---|---|---|---|")
        for name, h, p in rows:
            ps = f"{p:.4f} | {n / p:,.0f}" if p else "- | -"
            print(f"| {name} | {h:.4f} | {n / h:,.0f} | {ps} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.sys.stdout.flush()


if __name__ == "__main__":
    main()
