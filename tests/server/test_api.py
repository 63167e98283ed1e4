"""API shapes in-process (aiohttp test client over a real TSDB): endpoints without a peer to
compare against, admin/lifecycle gating, rules/alerts/targets empty shapes, metrics, web config."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from promql.engine import Engine
from scraper.config import load_config_str
from server.app import STATE, ServerFlags, create_app, engine_from_flags
from server.interface import RuleManager
from tsdb._db import DBOptions, open_db
from tsdb.labels import Labels

T0 = 1_700_000_000_000


def _fill(db: Any) -> None:
    app = db.appender()
    refs = [app.ref_for(Labels.from_dict({"__name__": "m", "k": str(i), "job": "j"})) for i in range(3)]
    ts = np.arange(T0, T0 + 600_000, 15_000, dtype=np.int64)
    for i, r in enumerate(refs):
        app.append_batch(np.full(len(ts), r), ts, np.arange(len(ts), dtype=np.float64) * (i + 1))
    app.commit()


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[Any]:
    clients: list[TestClient] = []
    dbs: list[Any] = []

    async def make(config: str = "", **flags: Any) -> TestClient:
        db = open_db(tmp_path / f"db{len(dbs)}", DBOptions())
        dbs.append(db)
        _fill(db)
        f = ServerFlags(storage_path=str(tmp_path / f"db{len(dbs) - 1}"), **flags)
        app = create_app(db, engine_from_flags(f), load_config_str(config), f, clock=lambda: T0 / 1000 + 600)
        c = TestClient(TestServer(app))
        await c.start_server()
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()
    for db in dbs:
        db.close()


async def _json(c: TestClient, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    r = await c.request(method, path, **kw)
    body = await r.read()
    return r.status, json.loads(body) if body else None


async def test_query_defaults_to_now_and_post_form(make_client: Any) -> None:
    c = await make_client()
    status, j = await _json(c, "GET", "/api/v1/query", params={"query": "m"})
    assert status == 200 and j["data"]["resultType"] == "vector" and len(j["data"]["result"]) == 3
    assert j["data"]["result"][0]["value"][0] == T0 / 1000 + 600
    # Form body values win over URL values (Go's r.FormValue).
    status, j = await _json(c, "POST", "/api/v1/query?query=1", data={"query": "2", "time": "100"})
    assert j["data"] == {"resultType": "scalar", "result": [100, "2"]}
    status, j = await _json(
        c,
        "POST",
        "/api/v1/query_range",
        data={"query": "m", "start": str(T0 / 1000), "end": str(T0 / 1000 + 60), "step": "30s"},
    )
    assert status == 200 and len(j["data"]["result"][0]["values"]) == 3


async def test_limit_and_stats(make_client: Any) -> None:
    c = await make_client()
    status, j = await _json(c, "GET", "/api/v1/query", params={"query": "m", "limit": "2"})
    assert len(j["data"]["result"]) == 2 and j["warnings"] == ["results truncated due to limit"]
    status, j = await _json(c, "GET", "/api/v1/series", params={"match[]": "m", "limit": "1"})
    assert len(j["data"]) == 1 and "warnings" in j
    status, j = await _json(c, "GET", "/api/v1/query", params={"query": "m", "stats": "all"})
    assert set(j["data"]["stats"]) == {"timings", "samples"}
    assert j["data"]["stats"]["samples"]["totalQueryableSamples"] == 3


async def test_execution_and_timeout_errors(make_client: Any) -> None:
    c = await make_client(query_max_samples=5)
    status, j = await _json(c, "GET", "/api/v1/query", params={"query": "sum_over_time(m[10m])"})
    assert (status, j["errorType"]) == (422, "execution")
    c.server.app[STATE].engine.timeout_s = 1e-9
    status, j = await _json(c, "GET", "/api/v1/query", params={"query": "m"})
    assert (status, j["status"], j["errorType"]) == (503, "error", "timeout")
    assert "timed out" in j["error"]


async def test_empty_provider_shapes(make_client: Any) -> None:
    c = await make_client(
        "alerting:\n  alertmanagers: [{static_configs: [{targets: ['am:9093']}], path_prefix: /x}]\n"
    )
    assert (await _json(c, "GET", "/api/v1/rules"))[1] == {"status": "success", "data": {"groups": []}}
    assert (await _json(c, "GET", "/api/v1/alerts"))[1] == {"status": "success", "data": {"alerts": []}}
    assert (await _json(c, "GET", "/api/v1/targets"))[1] == {
        "status": "success",
        "data": {"activeTargets": [], "droppedTargets": [], "droppedTargetCounts": {}},
    }
    assert (await _json(c, "GET", "/api/v1/targets/metadata"))[1] == {"status": "success", "data": []}
    assert (await _json(c, "GET", "/api/v1/metadata"))[1] == {"status": "success", "data": {}}
    assert (await _json(c, "GET", "/api/v1/query_exemplars", params={"query": "m"}))[1] == {
        "status": "success",
        "data": [],
    }
    assert (await _json(c, "GET", "/api/v1/alertmanagers"))[1] == {
        "status": "success",
        "data": {
            "activeAlertmanagers": [{"url": "http://am:9093/x/api/v2/alerts"}],
            "droppedAlertmanagers": [],
        },
    }
    status, j = await _json(c, "GET", "/api/v1/rules", params={"type": "bogus"})
    assert status == 400


class _FakeRules:
    def rule_groups(self) -> list[dict[str, Any]]:
        return [
            {
                "name": "g",
                "file": "r.yml",
                "rules": [
                    {"type": "alerting", "name": "A", "query": "up == 0", "health": "ok"},
                    {"type": "recording", "name": "r:x", "query": "sum(up)", "health": "ok"},
                ],
                "interval": 60,
            }
        ]

    def alerts(self) -> list[dict[str, Any]]:
        return [
            {
                "labels": {"alertname": "A"},
                "annotations": {},
                "state": "firing",
                "activeAt": "x",
                "value": "1e+00",
            }
        ]

    async def update(self, interval_ms: int, files: Any, external_labels: dict[str, str]) -> None:
        return None

    async def run(self) -> None:
        return None

    def stop(self) -> None:
        return None


async def test_rules_seam_filters(tmp_path: Path) -> None:
    db = open_db(tmp_path / "db")
    try:
        rules = _FakeRules()
        assert isinstance(rules, RuleManager)
        app = create_app(db, Engine(), load_config_str(""), ServerFlags(), rules=rules)
        async with TestClient(TestServer(app)) as c:
            _, j = await _json(c, "GET", "/api/v1/rules", params={"type": "record"})
            assert [r["name"] for r in j["data"]["groups"][0]["rules"]] == ["r:x"]
            _, j = await _json(c, "GET", "/api/v1/rules", params={"rule_name[]": "A"})
            assert [r["name"] for r in j["data"]["groups"][0]["rules"]] == ["A"]
            _, j = await _json(c, "GET", "/api/v1/rules", params={"rule_group[]": "other"})
            assert j["data"]["groups"] == []
            _, j = await _json(c, "GET", "/api/v1/alerts")
            assert j["data"]["alerts"][0]["labels"] == {"alertname": "A"}
    finally:
        db.close()


async def test_status_endpoints(make_client: Any) -> None:
    c = await make_client("global: {scrape_interval: 15s}\n", retention_time_ms=7 * 86_400_000)
    _, j = await _json(c, "GET", "/api/v1/status/config")
    assert "scrape_interval: 15s" in j["data"]["yaml"]
    _, j = await _json(c, "GET", "/api/v1/status/flags")
    assert j["data"]["storage.tsdb.retention.time"] == "1w" and j["data"]["web.enable-admin-api"] == "false"
    _, j = await _json(c, "GET", "/api/v1/status/runtimeinfo")
    assert set(j["data"]) >= {
        "startTime",
        "CWD",
        "reloadConfigSuccess",
        "lastConfigTime",
        "corruptionCount",
        "storageRetention",
    }
    assert j["data"]["storageRetention"] == "1w"
    _, j = await _json(c, "GET", "/api/v1/status/buildinfo")
    assert set(j["data"]) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    _, j = await _json(c, "GET", "/api/v1/status/tsdb")
    hs = j["data"]["headStats"]
    assert hs["numSeries"] == 3 and hs["minTime"] == T0
    assert j["data"]["seriesCountByMetricName"] == [{"name": "m", "value": 3}]
    _, j = await _json(c, "GET", "/api/v1/status/walreplay")
    assert set(j["data"]) == {"min", "max", "current"}


async def test_admin_gated(make_client: Any) -> None:
    c = await make_client()
    for name in ("snapshot", "delete_series", "clean_tombstones"):
        status, j = await _json(c, "POST", f"/api/v1/admin/tsdb/{name}")
        assert (status, j) == (
            500,
            {"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"},
        )


async def test_admin_enabled(make_client: Any) -> None:
    c = await make_client(enable_admin_api=True)
    status, j = await _json(c, "POST", "/api/v1/admin/tsdb/delete_series")
    assert (status, j["error"]) == (400, "no match[] parameter provided")
    r = await c.post("/api/v1/admin/tsdb/delete_series", params={"match[]": 'm{k="1"}'})
    assert r.status == 204
    _, j = await _json(c, "GET", "/api/v1/query", params={"query": "count(m)"})
    assert j["data"]["result"][0]["value"][1] == "2"
    r = await c.post("/api/v1/admin/tsdb/clean_tombstones")
    assert r.status == 204
    status, j = await _json(c, "POST", "/api/v1/admin/tsdb/snapshot", params={"skip_head": "false"})
    assert status == 200
    name = j["data"]["name"]
    snap = Path(c.server.app[STATE].flags.storage_path) / "snapshots" / name
    assert snap.is_dir() and any(snap.iterdir())
    status, j = await _json(c, "POST", "/api/v1/admin/tsdb/snapshot", params={"skip_head": "maybe"})
    assert status == 400


async def test_lifecycle_and_receiver_gated(make_client: Any) -> None:
    c = await make_client()
    for path in ("/-/reload", "/-/quit"):
        r = await c.post(path)
        assert (r.status, await r.text()) == (403, "Lifecycle API is not enabled.")
    r = await c.post("/api/v1/write", data=b"")
    assert r.status == 404 and "remote-write-receiver" in await r.text()
    assert (await c.get("/-/healthy")).status == 200
    assert (await c.get("/-/ready")).status == 200


async def test_federate_text(make_client: Any) -> None:
    c = await make_client("global: {external_labels: {dc: x}}\n")
    r = await c.get("/federate", params=[("match[]", 'm{k="0"}'), ("match[]", 'm{k=~"0|2"}')])
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    ts = T0 + 585_000
    assert await r.text() == (
        "# TYPE m untyped\n"
        f'm{{job="j",k="0",dc="x",instance=""}} 39 {ts}\n'
        f'm{{job="j",k="2",dc="x",instance=""}} 117 {ts}\n'
    )
    r = await c.get("/federate", params={"match[]": "m{"})
    assert r.status == 400


async def test_format_and_parse_query(make_client: Any) -> None:
    c = await make_client()
    _, j = await _json(c, "GET", "/api/v1/format_query", params={"query": "sum(rate(x[5m]))by(job)"})
    assert j["data"] == "sum by (job) (rate(x[5m]))"
    _, j = await _json(c, "GET", "/api/v1/parse_query", params={"query": "x{a='b'} offset 1m > bool 2"})
    d = j["data"]
    assert d["type"] == "binaryExpr" and d["bool"] is True and d["op"] == ">"
    assert d["lhs"]["type"] == "vectorSelector" and d["lhs"]["offset"] == 60000
    assert d["rhs"] == {"type": "numberLiteral", "val": "2"}
    status, j = await _json(c, "GET", "/api/v1/parse_query", params={"query": "x{"})
    assert status == 400


async def test_own_metrics(make_client: Any) -> None:
    c = await make_client()
    await c.get("/api/v1/query", params={"query": "m"})
    text = await (await c.get("/metrics")).text()
    for name in (
        "prometheus_tsdb_head_series 3",
        "prometheus_tsdb_head_samples_appended_total",
        'prometheus_http_requests_total{code="200",handler="/api/v1/query"} 1.0',
        "prometheus_engine_query_duration_seconds",
        "prometheus_tsdb_wal_segment_current",
        "prometheus_config_last_reload_successful 1.0",
        "process_cpu_seconds_total",
    ):
        assert name in text, name
    r = await c.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["Content-Type"].startswith("application/openmetrics-text")


async def test_web_config_basic_auth(make_client: Any, tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _crypt = pytest.importorskip("crypt")

    hashed = _crypt.crypt("s3cret", _crypt.mksalt(_crypt.METHOD_BLOWFISH))
    wc = tmp_path / "web.yml"
    wc.write_text(
        f"basic_auth_users:\n  alice: '{hashed}'\nhttp_server_config:\n  headers: {{X-Frame-Options: deny}}\n"
    )
    c = await make_client(web_config_file=str(wc))
    assert (await c.get("/api/v1/query", params={"query": "1"})).status == 401
    bad = "Basic " + base64.b64encode(b"alice:wrong").decode()
    assert (await c.get("/api/v1/query", params={"query": "1"}, headers={"Authorization": bad})).status == 401
    good = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    r = await c.get("/api/v1/query", params={"query": "1"}, headers={"Authorization": good})
    assert r.status == 200 and r.headers["X-Frame-Options"] == "deny"


async def test_route_prefix_from_external_url(make_client: Any) -> None:
    c = await make_client(external_url="http://example.org/prom/")
    assert (await c.get("/prom/api/v1/query", params={"query": "1"})).status == 200
    assert (await c.get("/api/v1/query", params={"query": "1"})).status == 404
