"""Both servers on persisted blocks: one OpenMetrics file imported with
``promtool tsdb create-blocks-from openmetrics`` (Prometheus) and ``heron tsdb import`` (Heron),
then the same queries against each. Evaluation times stay off the 30s sample grid so that
2.42's closed and 3.x's left-open range windows select the same samples, and range windows
stay inside the data: where a series starts inside a window, 3.x extrapolates
``rate``/``increase`` differently from 2.42 (threshold check before the zero-point clamp)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_peer

from .util import HeronServer, Prometheus, get_json

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000  # seconds; about 5 hours of data from here, spanning several 2h blocks
STEP = 30
N = 600


def _openmetrics() -> str:
    lines = ["# TYPE jobs_done counter", "# HELP jobs_done Jobs done."]
    for w in ("a", "b"):
        total = 0.0
        for i in range(N):
            total += (i * 7 + (3 if w == "a" else 5)) % 11
            lines.append(f'jobs_done_total{{worker="{w}"}} {total} {T0 + i * STEP}')
    lines.append("# TYPE queue_depth gauge")
    for q in ("fast", "slow"):
        for i in range(N):
            v = round(math.sin(i / 17) * 40 + 50 + (10 if q == "slow" else 0), 3)
            lines.append(f'queue_depth{{queue="{q}"}} {v} {T0 + i * STEP}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, HeronServer]]:
    promtool = require_peer("promtool")
    binary = require_peer("prometheus")
    tmp = tmp_path_factory.mktemp("blocks")
    om = tmp / "data.om"
    om.write_text(_openmetrics())
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(tmp / "prom" / "data")],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "heron.cli",
            "tsdb",
            "import",
            str(om),
            "--output",
            str(tmp / "heron" / "data"),
            "--quiet",
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    # Retention is measured from the newest block, so 2023 data stays.
    with Prometheus(binary, tmp / "prom") as prom, HeronServer(tmp / "heron") as heron:
        yield prom, heron


QUERIES = [
    "jobs_done_total",
    "rate(jobs_done_total[5m])",
    "sum(increase(jobs_done_total[1h]))",
    "queue_depth",
    "max_over_time(queue_depth[30m])",
    "avg by (queue) (queue_depth)",
]


def _sorted(j: dict) -> list:
    return sorted(j["data"]["result"], key=lambda r: json.dumps(r["metric"], sort_keys=True))


@pytest.mark.parametrize("q", QUERIES)
def test_queries_over_blocks(servers: tuple[Prometheus, HeronServer], q: str) -> None:
    prom, heron = servers
    for t in (T0 + 3600 + 15, T0 + 4 * 3600 + 45, T0 + (N - 1) * STEP + 1):
        _, jp = get_json(prom.url, "/api/v1/query", query=q, time=str(t))
        _, jh = get_json(heron.url, "/api/v1/query", query=q, time=str(t))
        assert _sorted(jh) == _sorted(jp), (q, t)
    args = dict(query=q, start=str(T0 + 3600 + 7), end=str(T0 + (N - 1) * STEP), step="90")
    _, jp = get_json(prom.url, "/api/v1/query_range", **args)
    _, jh = get_json(heron.url, "/api/v1/query_range", **args)
    assert _sorted(jh) == _sorted(jp), q


def test_raw_samples_and_metadata_endpoints(servers: tuple[Prometheus, HeronServer]) -> None:
    prom, heron = servers
    t = str(T0 + N * STEP)
    for q in ("jobs_done_total[6h]", "queue_depth[6h]"):
        _, jp = get_json(prom.url, "/api/v1/query", query=q, time=t)
        _, jh = get_json(heron.url, "/api/v1/query", query=q, time=t)
        assert _sorted(jh) == _sorted(jp), q
    for path, args in (
        ("/api/v1/series", {"match[]": "queue_depth", "start": str(T0), "end": str(T0 + 3600)}),
        ("/api/v1/labels", {}),
        ("/api/v1/label/worker/values", {}),
    ):
        assert get_json(heron.url, path, **args) == get_json(prom.url, path, **args), path
