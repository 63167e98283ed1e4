"""Differential test of the PromQL engine against real Prometheus on the same data.

One OpenMetrics file (counters with resets, gauges, classic histograms, series that
start late or stop early; ~1 h at 15 s with millisecond scrape jitter) is turned
into blocks for Prometheus with ``promtool tsdb create-blocks-from openmetrics`` and
into a Heron ``tsdb.DB`` with ``heron.tsdb_cli.import_openmetrics``. Every query
of a broad set runs as an instant query (at several times) and as a range query
through Prometheus's HTTP API and through Heron's ``Engine``; label sets and
timestamps must be identical and values equal within 1e-6 relative (NaN == NaN).

The peer is Debian's Prometheus 2.42, so Heron runs with default 2.x feature
flags (no delayed ``__name__`` removal). The data is laid out so that the 2.x→3.x
change from left-closed to left-open range and lookback windows cannot show:
samples sit 100–399 ms past a whole second, query times at .500 s and subquery
steps on whole seconds, so no sample is ever on a window boundary.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_peer

T0_S = 1_700_000_000  # data start (s); query times are offset by .5 s
INTERVAL_S = 15
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
METHODS = ("GET", "POST")
CODES = ("200", "404", "500")
JOBS = ("api", "web", "db", "cache", "auth", "batch", "queue", "search")


# --------------------------------------------------------------------------- data


def _scrape_times(
    rng: np.random.Generator, n: int, t0_s: int, interval_s: int
) -> tuple[np.ndarray, list[str]]:
    """Scrape timestamps (ms) 100–399 ms past a second, and their OpenMetrics text,
    chosen so that Go's ``int64(float(s) * 1000)`` gives back exactly the same ms."""
    base = t0_s * 1000 + np.arange(n, dtype=np.int64) * interval_s * 1000
    ms = rng.integers(100, 400, size=n)
    out_t = np.empty(n, dtype=np.int64)
    out_s: list[str] = []
    for i, (b, m) in enumerate(zip(base.tolist(), ms.tolist(), strict=True)):
        while True:
            t = b + m
            s = f"{t // 1000}.{t % 1000:03d}"
            if int(float(s) * 1000) == t:
                break
            m += 1
        out_t[i] = t
        out_s.append(s)
    return out_t, out_s


def _fmt(v: float) -> str:
    return repr(float(v))


@dataclass
class DataInfo:
    series: int
    samples: int
    start_ms: int
    end_ms: int


def write_openmetrics(
    path: str | Path,
    *,
    targets: int = 12,
    duration_s: int = 3600,
    interval_s: int = INTERVAL_S,
    t0_s: int = T0_S,
    seed: int = 42,
) -> DataInfo:
    """Write the test data as an OpenMetrics file; 25 series per target.

    Per target (``job``, ``instance``): 6 request counters (method × code) with
    occasional resets, a memory gauge, 3 temperature gauges (negative values too),
    a classic histogram (10 buckets + ``+Inf``, ``_sum``, ``_count``) that resets
    with the target, ``up`` and a ``build_info``. Every fifth target stops at 3/4
    of the time, every seventh starts at 1/4.
    """
    rng = np.random.default_rng(seed)
    n = duration_s // interval_s + 1
    fams: dict[str, list[str]] = {
        "heron_requests": [],
        "heron_memory_bytes": [],
        "heron_temperature_celsius": [],
        "heron_request_duration_seconds": [],
        "heron_up": [],
        "heron_build_info": [],
    }
    n_series = n_samples = 0
    t_lo, t_hi = 2**62, -(2**62)
    for k in range(targets):
        job = JOBS[k % len(JOBS)]
        inst = f"10.0.{k // 250}.{k % 250}:9100"
        tl = f'job="{job}",instance="{inst}"'
        ts, tss = _scrape_times(rng, n, t0_s, interval_s)
        lo, hi = 0, n
        if k % 5 == 4:
            hi = n * 3 // 4
        if k % 7 == 6:
            lo = n // 4
        ts, tss = ts[lo:hi], tss[lo:hi]
        m = len(ts)
        t_lo, t_hi = min(t_lo, int(ts[0])), max(t_hi, int(ts[-1]))
        target_reset = rng.random(m) < 0.004

        def emit(fam: str, name: str, labels: str, vals: np.ndarray, tss: list[str] = tss) -> None:
            nonlocal n_series, n_samples
            fams[fam].extend(
                f"{name}{{{labels}}} {_fmt(v)} {s}" for v, s in zip(vals.tolist(), tss, strict=True)
            )
            n_series += 1
            n_samples += len(tss)

        for meth in METHODS:
            for code in CODES:
                rate = rng.gamma(2.0, 3.0 if code == "200" else 0.3)
                inc = rng.poisson(rate * interval_s, size=m).astype(np.float64)
                if code == "500" and k % 3 == 0:
                    inc[: m // 2] = 0  # a counter that stays flat for a while
                resets = target_reset | (rng.random(m) < 0.003)
                vals = _counter(inc, resets, float(rng.integers(500, 5000)) * rate * interval_s)
                emit("heron_requests", "heron_requests_total", f'{tl},method="{meth}",code="{code}"', vals)
        mem = 2e8 + np.cumsum(rng.normal(0, 1e6, size=m)) + k * 1e7
        emit("heron_memory_bytes", "heron_memory_bytes", tl, np.round(mem))
        for sensor in ("cpu", "disk", "ambient"):
            base = {"cpu": 55.0, "disk": 35.0, "ambient": 2.0}[sensor]
            temp = base + 8 * np.sin(np.arange(m) / (20 + k)) + rng.normal(0, 1.5, size=m)
            emit(
                "heron_temperature_celsius",
                "heron_temperature_celsius",
                f'{tl},sensor="{sensor}"',
                np.round(temp, 2),
            )
        # classic histogram
        probs = np.diff(np.r_[0.0, _lognorm_cdf(np.array(BUCKETS), -2.0 - 0.1 * (k % 4), 1.2), 1.0])
        obs = rng.poisson(20 + 5 * (k % 4), size=m)
        per_bucket = np.array([rng.multinomial(o, probs) for o in obs.tolist()], dtype=np.float64)
        mids = np.r_[np.array(BUCKETS) * 0.7, 8.0]
        sums_inc = per_bucket @ mids
        cum = np.cumsum(per_bucket, axis=1)  # cumulative over le
        history = float(rng.integers(500, 5000))  # scrapes the histogram saw before the data
        cum0 = np.round(np.cumsum(probs) * (20 + 5 * (k % 4)) * history)
        for b, le in enumerate([*[_fmt(x) for x in BUCKETS], "+Inf"]):
            le_s = le.removesuffix(".0") if le != "+Inf" else le
            emit(
                "heron_request_duration_seconds",
                "heron_request_duration_seconds_bucket",
                f'{tl},le="{le_s}"',
                _counter(cum[:, b], target_reset, cum0[b]),
            )
        emit(
            "heron_request_duration_seconds",
            "heron_request_duration_seconds_count",
            tl,
            _counter(cum[:, -1], target_reset, cum0[-1]),
        )
        emit(
            "heron_request_duration_seconds",
            "heron_request_duration_seconds_sum",
            tl,
            np.round(_counter(sums_inc, target_reset, history * float(probs @ mids) * (20 + 5 * (k % 4))), 6),
        )
        up = (rng.random(m) > 0.03).astype(np.float64)
        emit("heron_up", "heron_up", tl, up)
        emit("heron_build_info", "heron_build_info", f'{tl},version="1.{k % 3}.0"', np.ones(m))
    types = {
        "heron_requests": "counter",
        "heron_memory_bytes": "gauge",
        "heron_temperature_celsius": "gauge",
        "heron_request_duration_seconds": "histogram",
        "heron_up": "gauge",
        "heron_build_info": "gauge",
    }
    with open(path, "w") as f:
        for fam, lines in fams.items():
            f.write(f"# TYPE {fam} {types[fam]}\n")
            f.write("\n".join(lines))
            f.write("\n")
        f.write("# EOF\n")
    return DataInfo(n_series, n_samples, t_lo, t_hi)


def _counter(inc: np.ndarray, resets: np.ndarray, start: float = 0.0) -> np.ndarray:
    """Running sum of ``inc`` from ``start`` that restarts from the increment where ``resets``.

    Counters start high (they ran before the data begins): Prometheus 2.42 and 3.x
    order the zero-point clamp and the 1.1x-interval threshold of ``rate``'s
    extrapolation differently, which shows only at a series' start with a low value.
    """
    out = np.empty(len(inc))
    acc = start
    for i, (d, r) in enumerate(zip(inc.tolist(), resets.tolist(), strict=True)):
        acc = d if r else acc + d
        out[i] = acc
    return out


def _lognorm_cdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    from math import erf, log, sqrt

    return np.array([0.5 * (1 + erf((log(v) - mu) / (sigma * sqrt(2)))) for v in x.tolist()])


# --------------------------------------------------------------------------- peers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """A real Prometheus process over a TSDB directory (blocks already in it)."""

    def __init__(self, binary: str, data_dir: Path, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = workdir / "prometheus.yml"
        cfg.write_text("scrape_configs: []\n")
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={data_dir}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=100y",
                "--query.max-samples=500000000",
                "--query.timeout=10m",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(workdir / 'prometheus.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready")
            time.sleep(0.1)

    def api(self, path: str, **params: str) -> dict:
        body = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(self.url + path, data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as e:
            return json.loads(e.read())  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def promtool_blocks(promtool: str, om_file: Path, out: Path) -> None:
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om_file), str(out)],
        check=True,
        capture_output=True,
    )


# --------------------------------------------------------------------------- normalization

Norm = tuple[str, dict[tuple[tuple[str, str], ...], list[tuple[int, float]]], list[float]]


def _pval(s: str) -> float:
    return float(s)  # Go prints NaN, +Inf, -Inf: all accepted by float()


def norm_prometheus(resp: dict) -> Norm | str:
    """``(type, {labels: [(t_ms, v)]}, values in result order)`` or an error string."""
    if resp.get("status") != "success":
        return f"error: {resp.get('errorType')}: {resp.get('error')}"
    d = resp["data"]
    typ, res = d["resultType"], d["result"]
    out: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    order: list[float] = []
    if typ == "scalar" or typ == "string":
        v = _pval(res[1]) if typ == "scalar" else res[1]
        return typ, {(): [(round(res[0] * 1000), v)]}, []  # type: ignore[list-item]
    for s in res:
        key = tuple(sorted(s["metric"].items()))
        if typ == "vector":
            out[key] = [(round(s["value"][0] * 1000), _pval(s["value"][1]))]
            order.append(_pval(s["value"][1]))
        else:
            out[key] = [(round(t * 1000), _pval(v)) for t, v in s["values"]]
    return typ, out, order


def norm_heron(value: object) -> Norm:
    from promql.engine import Matrix, Scalar, String, Vector

    if isinstance(value, Scalar):
        return "scalar", {(): [(value.t, value.v)]}, []
    if isinstance(value, String):
        return "string", {(): [(value.t, value.v)]}, []  # type: ignore[list-item]
    out: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    order: list[float] = []
    if isinstance(value, Vector):
        for s in value:
            out[tuple(s.labels.pairs)] = [(s.t, s.v)]
            order.append(s.v)
        return "vector", out, order
    assert isinstance(value, Matrix)
    for ms in value:
        out[tuple(ms.labels.pairs)] = list(ms.points())
    return "matrix", out, order


def _close(a: float, b: float) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def diff(prom: Norm | str, heron: Norm | str, ordered: bool = False) -> str | None:
    """None if equal, else a short description of the first difference."""
    if isinstance(prom, str) or isinstance(heron, str):
        if isinstance(prom, str) and isinstance(heron, str):
            return None  # both failed
        return f"prometheus: {prom if isinstance(prom, str) else 'ok'}; heron: {heron if isinstance(heron, str) else 'ok'}"
    pt, ps, po = prom
    ht, hs, ho = heron
    if pt != ht:
        return f"result type: prometheus {pt}, heron {ht}"
    if ps.keys() != hs.keys():
        only_p = sorted(ps.keys() - hs.keys())[:3]
        only_h = sorted(hs.keys() - ps.keys())[:3]
        return f"label sets differ ({len(ps)} vs {len(hs)}); only prometheus: {only_p}; only heron: {only_h}"
    for k, pp in ps.items():
        hp = hs[k]
        if [t for t, _ in pp] != [t for t, _ in hp]:
            tp, th = [t for t, _ in pp], [t for t, _ in hp]
            return f"{dict(k)}: timestamps differ ({len(tp)} vs {len(th)} points; first {tp[:3]} vs {th[:3]})"
        for (t, a), (_, b) in zip(pp, hp, strict=True):
            if not _close(a, b):
                return f"{dict(k)} @{t}: prometheus {a!r}, heron {b!r}"
    if ordered and len(po) == len(ho) and not all(_close(a, b) for a, b in zip(po, ho, strict=True)):
        return f"order of values differs: prometheus {po[:5]}, heron {ho[:5]}"
    return None


# --------------------------------------------------------------------------- queries

C = "heron_requests_total"
H = "heron_request_duration_seconds"
G = "heron_temperature_celsius"
M = "heron_memory_bytes"
AT = f"{T0_S + 1800}.500"

QUERIES: list[str] = [
    # selectors
    C,
    f'{C}{{job="api", code=~"5.."}}',
    f'{C}{{method!="GET", code!~"2.*"}}',
    '{__name__=~"heron_(up|build_info)", job=~"web|db"}',
    f"{G} offset 10m",
    f"{G} offset -5m",
    f"{M} @ {AT}",
    f"{M} @ start()",
    f"{M} @ end() offset 2m",
    "heron_missing_metric",
    # rate family
    f"rate({C}[5m])",
    f"rate({C}[1m])",
    f"increase({C}[10m])",
    f"irate({C}[2m])",
    f'rate({C}{{code="500"}}[15m] offset 5m)',
    f"delta({G}[10m])",
    f"idelta({G}[5m])",
    f"resets({C}[30m])",
    "changes(heron_up[30m])",
    # aggregations
    f"sum(rate({C}[5m]))",
    f"sum by (job) (rate({C}[5m]))",
    f"sum without (instance, method) (rate({C}[5m]))",
    f"avg by (job, sensor) ({G})",
    f"count by (code) ({C})",
    f"min by (job) ({G})",
    f"max without (sensor) ({G})",
    f"group by (job) ({C})",
    f"stddev by (sensor) ({G})",
    f"stdvar({M})",
    f"topk(3, rate({C}[5m]))",
    f"bottomk by (job) (2, {G})",
    f"quantile by (job) (0.9, {G})",
    f"quantile(0.5, rate({C}[5m]))",
    'count_values("v", heron_up)',
    # histograms
    f"histogram_quantile(0.9, sum by (le, job) (rate({H}_bucket[5m])))",
    f"histogram_quantile(0.5, rate({H}_bucket[10m]))",
    f"histogram_quantile(0.99, sum by (le) (rate({H}_bucket[5m])))",
    f"rate({H}_sum[5m]) / rate({H}_count[5m])",
    # binary operators
    f"rate({C}[5m]) * 60",
    "2 ^ heron_up + 1",
    f"-{G} % 7",
    f"{G} > 50",
    f"{G} > bool 50",
    f'{G} <= on (job, instance) group_left {G}{{sensor="disk"}}',
    f"sum by (job, instance) (rate({C}[5m])) / on (job, instance) group_left (version) heron_build_info",
    f"rate({C}[5m]) / ignoring (code) group_left sum without (code) (rate({C}[5m]))",
    f"{M} / on (job, instance) ({M} offset 10m)",
    f'sum by (job) (rate({C}{{code="500"}}[5m])) / sum by (job) (rate({C}[5m]))',
    f"{C} and on (job, instance) heron_up == 1",
    f'{G}{{sensor="cpu"}} or {G}{{sensor="disk"}}',
    f'{C} unless on (job) {C}{{job="api"}}',
    "heron_up == bool on (job, instance) heron_build_info",
    f"{G} atan2 on (job, instance, sensor) {G}",
    # subqueries
    f"max_over_time(rate({C}[5m])[30m:1m])",
    f"min_over_time(sum by (job) (rate({C}[5m]))[20m:30s])",
    f"avg_over_time({G}[15m:])",
    f"rate(sum by (job) ({C})[10m:1m] offset 5m)",
    # *_over_time
    f"avg_over_time({G}[10m])",
    "sum_over_time(heron_up[30m])",
    f"count_over_time({G}[5m])",
    f"min_over_time({M}[10m])",
    f"max_over_time({M}[10m])",
    f"stddev_over_time({G}[20m])",
    f"stdvar_over_time({G}[20m])",
    f"quantile_over_time(0.75, {G}[15m])",
    f"last_over_time({M}[5m])",
    f"present_over_time({M}[5m])",
    # label functions
    f'label_replace({G}, "host", "$1", "instance", "(.*):.*")',
    f'label_replace(rate({C}[5m]), "class", "${{1}}xx", "code", "(.).*")',
    'label_join(heron_up, "id", "/", "job", "instance")',
    # absent
    "absent(heron_missing_metric)",
    f'absent({C}{{job="api"}})',
    'absent(heron_missing_metric{job="x"})',
    "absent_over_time(heron_missing_metric[10m])",
    f'absent_over_time({M}{{job="api"}}[1m])',
    # prediction and math
    f"predict_linear({M}[30m], 600)",
    f"deriv({M}[10m])",
    f"clamp({G}, 10, 40)",
    f"clamp_min({G}, 20)",
    f"clamp_max({G}, 20)",
    f"abs({G} - 40)",
    f"round({G}, 0.5)",
    f"ceil({G}) - floor({G})",
    f"sqrt(abs({G}))",
    f"ln({M}) + log2({M}) - log10({M})",
    f"exp({G} / 100)",
    f"sgn({G} - 35)",
    # time and misc
    f"timestamp({M})",
    "time()",
    "vector(1) + time()",
    f"scalar(sum({M}))",
    f"{M} - scalar(avg({M}))",
    f"hour({M})",
    "day_of_week()",
    "minute()",
    # sort (instant: order compared too)
    f"sort({G})",
    f"sort_desc(sum by (job) (rate({C}[5m])))",
]

# Instant-only queries (range vectors, string results).
INSTANT_ONLY = [f"{G}[1m]", f"{M}[2m] offset 1h", '"a string"', "42"]

INSTANT_TIMES_MS = [
    (T0_S + 1800) * 1000 + 500,
    (T0_S + 3599) * 1000 + 500,
    (T0_S + 3750) * 1000 + 500,  # past the data: only lookback (and absent) answers
]
RANGE_START_MS = (T0_S + 300) * 1000 + 500
RANGE_END_MS = (T0_S + 3900) * 1000 + 500
RANGE_STEPS_MS = [60_000, 37_000]

# (mode, query) where a documented Prometheus 2.x -> 3.x change makes the results differ.
_PR_13725 = (
    "Prometheus 2.42 clamps rate()'s start extrapolation to the counter's zero point before "
    "the 1.1x-interval threshold; since prometheus/prometheus#13725 (2.51, so 3.x) the threshold "
    "comes first. The sum of counters here resets at the start of the data, where the two differ."
)
KNOWN_2X_3X: dict[tuple[str, str], str] = {
    ("range", f"rate(sum by (job) ({C})[10m:1m] offset 5m)"): _PR_13725,
}


# Queries whose result may legitimately be empty (everything else must return data).
EMPTY_OK = {
    "heron_missing_metric",
    f'absent({C}{{job="api"}})',
    f'absent_over_time({M}{{job="api"}}[1m])',
}


def _nonempty(n: Norm | str) -> bool:
    return not isinstance(n, str) and bool(n[1])


@dataclass
class Env:
    prom: Prometheus
    heron_db: object
    engine: object
    info: DataInfo


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    prom_bin = require_peer("prometheus")
    promtool = require_peer("promtool")
    from heron.tsdb_cli import import_openmetrics
    from promql.engine import Engine
    from tsdb import DB, DBOptions

    work = Path(tempfile.mkdtemp(prefix="heron-promql-diff-"))
    prom = None
    db = None
    try:
        om = work / "data.om"
        info = write_openmetrics(om)
        promtool_blocks(promtool, om, work / "prom")
        import_openmetrics(om, work / "heron")
        prom = Prometheus(prom_bin, work / "prom", work)
        db = DB(work / "heron", DBOptions(retention_ms=0))
        engine = Engine(enable_delayed_name_removal=False, enable_experimental_functions=False)
        yield Env(prom, db, engine, info)
    finally:
        if prom is not None:
            prom.stop()
        if db is not None:
            db.close()
        if not os.environ.get("HERON_KEEP_DIFF_DATA"):
            shutil.rmtree(work, ignore_errors=True)


def _heron(env: Env, fn: str, *args: object) -> Norm | str:
    try:
        res = getattr(env.engine, fn)(env.heron_db, *args)
    except Exception as e:  # noqa: BLE001 - an error result is compared with Prometheus's
        return f"error: {type(e).__name__}: {e}"
    return norm_heron(res.value)


def test_data_shape(env: Env) -> None:
    assert 250 <= env.info.series <= 400
    # raw samples must be identical in both stores (same timestamp parsing)
    q = f'{{__name__=~"heron_.+"}}[{3600 + 120}s]'
    t = RANGE_END_MS
    p = norm_prometheus(env.prom.api("/api/v1/query", query=q, time=f"{t / 1000:.3f}"))
    h = _heron(env, "instant_query", q, t)
    assert not isinstance(p, str), p
    assert len(p[1]) == env.info.series
    assert diff(p, h) is None


@pytest.mark.parametrize("query", QUERIES + INSTANT_ONLY)
def test_instant(env: Env, query: str) -> None:
    if ("instant", query) in KNOWN_2X_3X:
        pytest.skip(KNOWN_2X_3X["instant", query])
    problems = []
    seen_data = False
    for t in INSTANT_TIMES_MS:
        p = norm_prometheus(env.prom.api("/api/v1/query", query=query, time=f"{t / 1000:.3f}"))
        h = _heron(env, "instant_query", query, t)
        seen_data |= _nonempty(p)
        d = diff(p, h, ordered=query.startswith("sort"))
        if d:
            problems.append(f"t={t}: {d}")
    assert not problems, "\n".join(problems)
    assert seen_data or query in EMPTY_OK, f"prometheus returned no data for {query}"


@pytest.mark.parametrize("query", QUERIES)
def test_range(env: Env, query: str) -> None:
    if ("range", query) in KNOWN_2X_3X:
        pytest.skip(KNOWN_2X_3X["range", query])
    problems = []
    for step in RANGE_STEPS_MS:
        p = norm_prometheus(
            env.prom.api(
                "/api/v1/query_range",
                query=query,
                start=f"{RANGE_START_MS / 1000:.3f}",
                end=f"{RANGE_END_MS / 1000:.3f}",
                step=f"{step / 1000:g}",
            )
        )
        h = _heron(env, "range_query", query, RANGE_START_MS, RANGE_END_MS, step)
        if not _nonempty(p) and query not in EMPTY_OK:
            problems.append(
                f"step={step}: prometheus returned no data ({p if isinstance(p, str) else 'empty'})"
            )
        d = diff(p, h)
        if d:
            problems.append(f"step={step}: {d}")
    assert not problems, "\n".join(problems)
