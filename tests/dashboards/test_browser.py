"""The dashboards in headless Chromium against a running Heron server with data.

Every panel must render data (plotly traces with points, or values for stat/table/bargauge) with
no error banner; variables, the time picker and drag-to-zoom change the URL and the data; Explore,
import, targets and alerting pages work end to end.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from .conftest import poll_by_time
from .stack import GRAPHS_DRAWN_JS, PANEL_REPORT_JS, DashboardsServer, get_json, wait_until

FIX = Path(__file__).parent / "fixtures"


def open_dashboard(page: Any, url: str) -> list[dict[str, Any]]:
    page.goto(url)
    page.wait_for_selector(".panel[data-status]")
    page.wait_for_function(GRAPHS_DRAWN_JS, polling=50)
    return page.evaluate(PANEL_REPORT_JS)


def assert_all_rendered(report: list[dict[str, Any]], allow_nodata: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    assert report, "no panels"
    for p in report:
        assert p["error"] is None, p
        assert p["status"] in ("ok", "info") or p["title"] in allow_nodata, p
        if p["type"] in ("timeseries", "heatmap", "gauge", "piechart") and p["status"] == "ok":
            assert p["traces"] > 0 and p["points"] > 0, p
        if p["type"] in ("stat", "bargauge", "table") and p["status"] == "ok":
            assert p["text"].strip() and "No data" not in p["text"], p


def query_of(page: Any) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)


def test_shop_dashboard_renders_every_panel(page: Any, dash_app: DashboardsServer, artifacts: Path) -> None:
    report = open_dashboard(page, dash_app.url + "/d/heron-shop-red/shop-services-red?from=now-6h&to=now")
    assert_all_rendered(report)
    types = {p["type"] for p in report}
    assert {"stat", "timeseries", "heatmap", "table"} <= types
    assert not page.query_selector(".page-error")
    assert page.js_errors == []
    rate = next(p for p in report if p["title"].startswith("Rate"))
    assert rate["traces"] == 3 and rate["points"] > 500  # 6 h at a 30 s step, 3 services
    page.screenshot(path=str(artifacts / "shop-red.png"), full_page=True)
    # a legend click isolates the series, a second click shows all again
    panel = page.locator(".panel", has_text="Rate: requests")
    panel.locator("[data-series='1']").click()
    visible = "() => [...document.querySelectorAll('.panel')].find(p => p.innerText.startsWith('Rate')).querySelector('.js-plotly-plot').data.map(t => t.visible)"
    page.wait_for_function(f"() => JSON.stringify(({visible})()) === '[false,true,false]'")
    panel.locator("[data-series='1']").click()
    page.wait_for_function(f"() => JSON.stringify(({visible})()) === '[true,true,true]'")


def test_variable_time_range_and_zoom(page: Any, dash_app: DashboardsServer, artifacts: Path) -> None:
    report = open_dashboard(page, dash_app.url + "/d/heron-k8s-namespace/namespace?from=now-6h&to=now")
    assert_all_rendered(report)
    table = page.inner_text(".panel[data-panel-type=table]")
    assert "frontend-" in table and "heron-server-" not in table
    # pick another namespace in the variables bar
    page.click(".var[data-var=namespace] .var-select")
    page.get_by_role("option", name="monitoring").click()
    page.wait_for_function("() => location.search.includes('var-namespace=monitoring')")
    page.wait_for_function(
        "() => (document.querySelector('.panel[data-panel-type=table]') || {}).innerText?.includes('heron-server-')"
    )
    page.wait_for_function(GRAPHS_DRAWN_JS, polling=50)
    assert_all_rendered(page.evaluate(PANEL_REPORT_JS))
    # a quick range from the time picker
    page.click(".time-preset")
    page.get_by_role("option", name="Last 1 hour").click()
    page.wait_for_function("() => location.search.includes('from=now-1h')")
    page.wait_for_function(
        """() => { const g = document.querySelector('.panel[data-panel-type=timeseries] .js-plotly-plot');
                   if (!g || !g.layout) return false;
                   const r = g.layout.xaxis.range.map(x => new Date(x).getTime());
                   return Math.abs((r[1] - r[0]) - 3600e3) < 60e3; }"""
    )
    assert query_of(page)["var-namespace"] == ["monitoring"]
    # drag across a graph: the range becomes the selection (absolute times in the URL)
    box = page.query_selector(".panel[data-panel-type=timeseries] .nsewdrag").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=5)
    page.mouse.up()
    page.wait_for_function("() => /from=\\d{13}/.test(location.search)")
    q = query_of(page)
    span = int(q["to"][0]) - int(q["from"][0])
    assert 10 * 60_000 < span < 30 * 60_000  # about 30 % of an hour
    page.wait_for_function(GRAPHS_DRAWN_JS, polling=50)
    page.screenshot(path=str(artifacts / "namespace-zoomed.png"), full_page=True)
    # zoom out doubles the range
    page.click("#dash-time-zoom-out")
    page.wait_for_function(
        f"() => {{ const q = new URLSearchParams(location.search); return q.get('to') - q.get('from') > {span * 1.5}; }}"
    )
    assert page.js_errors == []


def test_multi_value_variable_and_repeat_free_all(page: Any, dash_app: DashboardsServer) -> None:
    open_dashboard(page, dash_app.url + "/d/heron-shop-red/x?from=now-1h")
    # multi-value: pick two services (the menu stays open), the change applies when it closes
    page.click(".var[data-var=service] .var-select")
    page.get_by_role("option", name="cart", exact=True).click()
    page.get_by_role("option", name="checkout", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_function("() => new URLSearchParams(location.search).getAll('var-service').length === 2")
    assert sorted(query_of(page)["var-service"]) == ["cart", "checkout"]
    page.wait_for_function(GRAPHS_DRAWN_JS, polling=50)
    page.wait_for_function(
        """() => { const p = [...document.querySelectorAll('.panel')].find(p => p.innerText.startsWith('Rate'));
                   const g = p && p.querySelector('.js-plotly-plot'); return g && g.data && g.data.length === 2; }"""
    )


@pytest.mark.parametrize(
    "uid",
    [
        "heron-k8s-cluster",
        "heron-k8s-pod",
        "heron-k8s-workload",
        "heron-node-exporter",
        "heron-server",
        "heron-alertmanager",
    ],
)
def test_shipped_dashboards_render(page: Any, dash_app: DashboardsServer, uid: str) -> None:
    report = open_dashboard(page, f"{dash_app.url}/d/{uid}?from=now-3h")
    assert_all_rendered(report)
    assert page.js_errors == []


def test_row_collapse_and_view_panel(page: Any, dash_app: DashboardsServer) -> None:
    report = open_dashboard(page, dash_app.url + "/d/heron-k8s-cluster/x")
    n = len(report)
    row = page.query_selector(".row-header:has-text('Network')")  # collapsed
    assert row is not None and "2 panels" in row.inner_text()
    row.query_selector("button").click()
    page.wait_for_function(f"() => document.querySelectorAll('.panel[data-status]').length === {n + 2}")
    page.wait_for_function(GRAPHS_DRAWN_JS, polling=50)
    assert_all_rendered(page.evaluate(PANEL_REPORT_JS))
    page.hover(".panel[data-panel-type=timeseries]")
    page.click(".panel[data-panel-type=timeseries] >> text=View")
    page.wait_for_function("() => location.search.includes('viewPanel=')")
    page.wait_for_function("() => document.querySelectorAll('.panel[data-status]').length === 1")


def test_explore_autocomplete_graph_table_and_inspector(
    page: Any, dash_app: DashboardsServer, artifacts: Path
) -> None:
    page.goto(dash_app.url + "/explore")
    page.fill("#ex-expr", "http_requests_t")
    page.wait_for_selector(".suggest-item")
    assert any(
        t.startswith("http_requests_total")
        for t in page.eval_on_selector_all(".suggest-item", "e => e.map(x => x.textContent)")
    )
    page.click(".suggest-item >> nth=0")
    page.wait_for_function("() => document.querySelector('#ex-expr').value === 'http_requests_total'")
    page.fill("#ex-expr", "sum by (service) (rate(http_requests_total{")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.suggest-item')].some(e => e.textContent.startsWith('service'))"
    )
    page.fill("#ex-expr", "sum by (service) (rate(http_requests_total[5m]))")
    page.press("#ex-expr", "Enter")
    page.wait_for_selector(".explore-graph .main-svg")
    page.wait_for_function(
        "() => { const g = document.querySelector('.explore-graph .js-plotly-plot'); return g && g.data && g.data.length === 3; }"
    )
    rows = page.inner_text(".explore-table")
    assert "cart" in rows and "frontend" in rows and "checkout" in rows
    insp = page.inner_text("#ex-inspector")
    assert "/api/v1/query_range" in insp and "/api/v1/query" in insp and "step=" in insp and "200" in insp
    assert query_of(page)["expr"] == ["sum by (service) (rate(http_requests_total[5m]))"]
    page.screenshot(path=str(artifacts / "explore.png"), full_page=True)
    # a bad query shows the server's error, not a crash
    page.fill("#ex-expr", "sum(rate(")
    page.click("#ex-run")
    page.wait_for_selector(".panel-error")
    assert (
        "parse" in page.inner_text(".panel-error").lower()
        or "unexpected" in page.inner_text(".panel-error").lower()
    )


def test_explore_link_from_a_panel(page: Any, dash_app: DashboardsServer) -> None:
    open_dashboard(page, dash_app.url + "/d/heron-shop-red/x?from=now-1h")
    link = page.query_selector(".panel[data-panel-type=timeseries] a.panel-link:has-text('Explore')")
    href = link.get_attribute("href")
    q = urllib.parse.parse_qs(urllib.parse.urlparse(href).query)
    assert "rate(http_requests_total" in q["expr"][0] and "$" not in q["expr"][0]
    page.goto(dash_app.url + href)
    page.wait_for_selector(".explore-graph .main-svg")


def test_import_page_paste_and_render(page: Any, dash_app: DashboardsServer, artifacts: Path) -> None:
    page.goto(dash_app.url + "/dashboard/import")
    page.fill("#imp-text", (FIX / "node-exporter-full.json").read_text())
    page.click("#imp-load")
    page.wait_for_selector("#imp-link")
    notes = page.inner_text("#imp-notes")
    assert "not supported" in notes and "adhoc" in notes and "links" in notes
    page.click("#imp-link")
    page.wait_for_selector(".panel[data-status]")
    page.wait_for_function(GRAPHS_DRAWN_JS, polling=50)
    report = page.evaluate(PANEL_REPORT_JS)
    assert all(p["error"] is None for p in report)
    assert page.query_selector(".notes")  # the dashboard shows its import notes too
    busy = next(p for p in report if p["title"] == "CPU Busy")
    assert busy["status"] == "ok" and busy["traces"] == 1
    # broken input gets a message, not an error page
    page.goto(dash_app.url + "/dashboard/import")
    page.fill("#imp-text", "{not json")
    page.click("#imp-load")
    page.wait_for_selector(".page-error")
    assert "not valid JSON" in page.inner_text(".page-error")
    page.screenshot(path=str(artifacts / "import-error.png"))


def test_dashboard_list_search_and_api(page: Any, dash_app: DashboardsServer) -> None:
    page.goto(dash_app.url + "/dashboards")
    page.wait_for_selector(".dash-row")
    assert len(page.query_selector_all(".dash-row")) >= 8
    page.fill("#dl-search", "use method")
    page.wait_for_function("() => document.querySelectorAll('.dash-row').length === 1")
    page.click(".dash-link")
    page.wait_for_function("() => location.pathname.startsWith('/d/heron-node-exporter')")
    found = get_json(dash_app.url + "/api/search?query=shop")
    assert [d["uid"] for d in found] == ["heron-shop-red"]
    model = get_json(dash_app.url + "/api/dashboards/uid/heron-shop-red")
    assert model["dashboard"]["title"] == "Shop / Services RED"


def test_targets_page(page: Any, dash_app: DashboardsServer, heron: str) -> None:
    wait_until(
        lambda: any(
            t["health"] == "down" for t in get_json(heron + "/api/v1/targets")["data"]["activeTargets"]
        ),
        30,
        "a scrape",
    )
    page.goto(dash_app.url + "/targets")
    page.wait_for_selector(".pool")
    down = page.query_selector("tr[data-health=down]")
    assert down is not None and "127.0.0.1:9" in down.inner_text()
    page.goto(dash_app.url + "/targets?state=down")
    page.wait_for_selector(".pool")
    assert not page.query_selector("tr[data-health=up]")


def test_alerting_page_and_silences(
    page: Any, dash_app: DashboardsServer, heron: str, alertmanager: str | None, artifacts: Path
) -> None:
    wait_until(lambda: len(get_json(heron + "/api/v1/alerts")["data"]["alerts"]) >= 2, 30, "alerts")
    page.goto(dash_app.url + "/alerting/list")
    page.wait_for_selector(".rule-card")
    card = page.query_selector(".rule-card[data-alertname=Watchdog]")
    assert card is not None and card.get_attribute("data-state") == "firing"
    assert page.query_selector(".rule-card[data-alertname=SlowBurn]").get_attribute("data-state") == "pending"  # type: ignore[union-attr]
    href = card.query_selector("a:has-text('Explore')").get_attribute("href")  # type: ignore[union-attr]
    assert "expr=vector%281%29" in href
    if alertmanager is None:
        pytest.skip("prometheus-alertmanager not installed")
    wait_until(
        lambda: any(
            g["labels"].get("alertname") == "Watchdog"
            for g in get_json(alertmanager + "/api/v2/alerts/groups")
        ),
        30,
        "alert in alertmanager",
    )
    page.goto(dash_app.url + "/alerting/list")
    page.wait_for_selector(".am-group")
    # silence it from the page (prefilled from the alert's Silence link)
    page.click(".rule-card[data-alertname=Watchdog] .rule-head a:has-text('Silence')")
    page.wait_for_function(
        "() => document.querySelector('#sil-matchers') && document.querySelector('#sil-matchers').value.includes('Watchdog')"
    )
    page.fill("#sil-comment", "maintenance")
    page.click("#sil-create")
    page.wait_for_selector("text=created")
    sil = [s for s in get_json(alertmanager + "/api/v2/silences") if s["status"]["state"] == "active"]
    assert len(sil) == 1 and sil[0]["comment"] == "maintenance"
    assert sil[0]["matchers"] == [
        {"name": "alertname", "value": "Watchdog", "isRegex": False, "isEqual": True}
    ]
    page.wait_for_selector(f"tr[data-silence-id='{sil[0]['id']}']")
    page.screenshot(path=str(artifacts / "alerting.png"), full_page=True)
    page.click(f"tr[data-silence-id='{sil[0]['id']}'] button:has-text('Expire')")
    wait_until(
        lambda: get_json(alertmanager + f"/api/v2/silence/{sil[0]['id']}")["status"]["state"] == "expired",
        10,
        "expired",
    )
    page.wait_for_function(f"() => !document.querySelector(\"tr[data-silence-id='{sil[0]['id']}'] button\")")
    json.dumps(sil)
    time.sleep(0)
    assert re.search("expired", page.inner_text(".silences"), re.I)


VARS_DASHBOARD = {
    "uid": "vars-test",
    "title": "Variables test",
    "time": {"from": "now-1h", "to": "now"},
    "templating": {
        "list": [
            {
                "name": "instance",
                "type": "query",
                "query": "label_values(node_uname_info, instance)",
                "multi": True,
                "includeAll": True,
                "current": {"text": "All", "value": "$__all"},
            },
            {
                "name": "res",
                "type": "interval",
                "query": "1m,5m,10m",
                "auto": True,
                "auto_count": 30,
                "auto_min": "10s",
                "current": {"text": "5m", "value": "5m"},
            },
            {"name": "pod", "type": "textbox", "query": "frontend-.*", "label": "Pod regex"},
        ]
    },
    "panels": [
        {
            "id": 1,
            "type": "stat",
            "title": "Load on $instance",
            "repeat": "instance",
            "maxPerRow": 2,
            "gridPos": {"x": 0, "y": 0, "w": 12, "h": 4},
            "targets": [{"expr": 'node_load1{instance=~"$instance"}', "refId": "A"}],
        },
        {
            "id": 2,
            "type": "timeseries",
            "title": "CPU of $pod",
            "gridPos": {"x": 0, "y": 4, "w": 24, "h": 7},
            "targets": [
                {
                    "expr": 'sum by (pod) (rate(container_cpu_usage_seconds_total{pod=~"$pod"}[$res]))',
                    "legendFormat": "{{pod}}",
                    "refId": "A",
                }
            ],
        },
    ],
}


def test_repeats_interval_and_textbox_variables_timezone_and_refresh(
    browser: Any, dash_app: DashboardsServer, artifacts: Path
) -> None:
    import urllib.request

    req = urllib.request.Request(
        dash_app.url + "/api/dashboards/db",
        data=json.dumps({"dashboard": VARS_DASHBOARD, "overwrite": True}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    assert json.loads(urllib.request.urlopen(req).read())["uid"] == "vars-test"
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000}, timezone_id="Europe/Berlin")
    page = poll_by_time(ctx.new_page())
    try:
        report = open_dashboard(page, dash_app.url + "/d/vars-test/x")
        stats = [p for p in report if p["type"] == "stat"]
        assert sorted(p["title"] for p in stats) == [
            "Load on 10.0.0.1:9100",
            "Load on 10.0.0.2:9100",
        ]  # repeated per instance
        assert all(p["status"] == "ok" for p in report), report
        cpu = next(p for p in report if p["type"] == "timeseries")
        assert cpu["title"] == "CPU of frontend-.*" and cpu["traces"] == 2
        # the x axis is in the viewer's time zone (Berlin), ending now
        skew = page.evaluate(
            """() => { const g = document.querySelector('.panel[data-panel-type=timeseries] .js-plotly-plot');
                       const local = Date.now() - new Date().getTimezoneOffset() * 60e3;
                       return [Math.abs(g.layout.xaxis.range[1] - local), new Date().getTimezoneOffset()]; }"""
        )
        assert skew[1] != 0 and skew[0] < 120_000, skew
        # the textbox variable: type, press Enter
        page.fill(".var[data-var=pod] input", "cart-.*")
        page.press(".var[data-var=pod] input", "Enter")
        page.wait_for_function("() => new URLSearchParams(location.search).get('var-pod') === 'cart-.*'")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.panel-title')].some(t => t.innerText === 'CPU of cart-.*')"
        )
        page.wait_for_function(GRAPHS_DRAWN_JS, polling=50)
        # the interval variable: pick auto
        page.click(".var[data-var=res] .var-select")
        page.get_by_role("option", name="auto").click()
        page.wait_for_function(
            "() => new URLSearchParams(location.search).get('var-res') === '$__auto_interval_res'"
        )
        page.wait_for_function(GRAPHS_DRAWN_JS, polling=50)
        page.screenshot(path=str(artifacts / "variables.png"), full_page=True)
        # auto refresh every second re-queries and re-renders
        renders: list[float] = []
        page.on(
            "request",
            lambda r: renders.append(time.monotonic()) if "page.children" in (r.post_data or "") else None,
        )
        page.goto(dash_app.url + "/d/vars-test/x?refresh=1s")
        page.wait_for_selector(".panel[data-status]")
        wait_until(lambda: (page.wait_for_timeout(200), len(renders) >= 4)[1], 20, "three auto refreshes")
        assert page.evaluate("() => document.querySelectorAll('.panel[data-status]').length") == 3
    finally:
        ctx.close()


def test_import_by_upload(page: Any, dash_app: DashboardsServer) -> None:
    page.goto(dash_app.url + "/dashboard/import")
    page.set_input_files("#imp-upload input[type=file]", str(FIX / "legacy-rows.json"))
    page.wait_for_selector("#imp-link")
    assert "old schema" in page.inner_text("#imp-notes")
    page.click("#imp-link")
    page.wait_for_selector(".panel[data-status]")
    report = page.evaluate(PANEL_REPORT_JS)
    assert {p["type"] for p in report} >= {"stat", "gauge", "timeseries"}
    assert all(p["error"] is None for p in report)
