"""The same dashboards against real Prometheus (Debian's 2.42): the data path is the HTTP API only.

The session's OpenMetrics file goes through ``promtool tsdb create-blocks-from openmetrics``;
Prometheus serves the blocks, and the dashboards app points at it instead of Heron.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_peer

from .stack import DashboardsServer, get_json, start_prometheus
from .test_browser import assert_all_rendered, open_dashboard


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, om_file: Path) -> Iterator[str]:
    promtool = require_peer("promtool")
    binary = require_peer("prometheus")
    tmp = tmp_path_factory.mktemp("prom")
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om_file), str(tmp / "data")],
        check=True,
        capture_output=True,
    )
    proc, url = start_prometheus(binary, tmp, tmp / "data")
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def prom_dash(prometheus: str) -> Iterator[DashboardsServer]:
    srv = DashboardsServer(prometheus)
    yield srv
    srv.stop()


def test_dashboards_render_against_real_prometheus(
    page: Any, prom_dash: DashboardsServer, prometheus: str, artifacts: Path
) -> None:
    assert get_json(prometheus + "/api/v1/status/buildinfo")["data"]["version"].startswith("2.")
    report = open_dashboard(page, prom_dash.url + "/d/heron-shop-red/shop?from=now-6h")
    assert_all_rendered(report)
    assert {p["type"] for p in report} >= {"stat", "timeseries", "heatmap", "table"}
    page.screenshot(path=str(artifacts / "shop-red-prometheus.png"), full_page=True)
    report = open_dashboard(
        page, prom_dash.url + "/d/heron-k8s-namespace/x?var-namespace=monitoring&from=now-1h"
    )
    assert_all_rendered(report)
    assert "heron-server-" in page.inner_text(".panel[data-panel-type=table]")
    page.goto(prom_dash.url + "/explore?expr=up&from=now-1h")
    page.wait_for_selector(".explore-graph .main-svg")
    assert "/api/v1/query_range" in page.inner_text("#ex-inspector")
    assert page.js_errors == []
