"""Fixtures for the dashboards' integration and browser tests (one data set and one stack per session)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_peer

from . import datagen
from .stack import (
    CHROMIUM_ARGS,
    DashboardsServer,
    chromium_path,
    free_port,
    heron_import,
    start_alertmanager,
    start_heron,
)

RULES = """
groups:
  - name: test.alerts
    interval: 1s
    rules:
      - alert: Watchdog
        expr: vector(1)
        labels: {severity: none}
        annotations: {summary: always firing}
      - alert: HighErrorRate
        expr: vector(0.07) > 0.05
        labels: {severity: warning}
        annotations: {summary: error ratio above 5%}
      - alert: SlowBurn
        expr: vector(1)
        for: 1h
"""


@pytest.fixture(scope="package")
def om_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six hours of cluster-shaped data up to now, at 30 s, and 15 minutes beyond: the data stays
    "live" (rates over the last minute exist) while the tests run, as it would under a scraper."""
    tmp = tmp_path_factory.mktemp("om")
    return datagen.write(tmp / "data.om", time.time() + 900, hours=6.25, step_s=30)


@pytest.fixture(scope="package")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """A real Alertmanager (Debian's) when installed, else None."""
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        yield None
        return
    proc, url = start_alertmanager(binary, tmp_path_factory.mktemp("am"))
    yield url
    proc.stop()


@pytest.fixture(scope="package")
def heron(tmp_path_factory: pytest.TempPathFactory, om_file: Path, alertmanager: str | None) -> Iterator[str]:
    """A Heron server on the imported data, scraping itself and a broken target, with alert rules."""
    tmp = tmp_path_factory.mktemp("heron")
    data = tmp / "data"
    heron_import(om_file, data)
    (tmp / "rules.yml").write_text(RULES)
    am = ""
    if alertmanager:
        am = f"alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{alertmanager.removeprefix('http://')}']}}]\n"
    port = free_port()
    config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{tmp / 'rules.yml'}]\n"
        f"{am}"
        "scrape_configs:\n"
        f"  - job_name: heron-self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        "  - job_name: broken\n    static_configs: [{targets: ['127.0.0.1:9']}]\n"
    )
    proc, url = start_heron(tmp, data, config, port)
    yield url
    proc.stop()


@pytest.fixture(scope="package")
def dash_app(heron: str, alertmanager: str | None) -> Iterator[DashboardsServer]:
    """The dashboards app on the Heron server (and the Alertmanager, when there is one)."""
    srv = DashboardsServer(heron, alertmanager or "http://127.0.0.1:9")
    yield srv
    srv.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    # Package scope, not session: playwright's sync API keeps an event loop running in
    # this thread until it exits, which would break every asyncio test collected later.
    """Headless Debian Chromium driven by playwright."""
    require_peer("chromium")
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="package")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (kept by pytest's tmp retention)."""
    return tmp_path_factory.mktemp("screenshots")


def poll_by_time(pg: Any) -> Any:
    """Make ``wait_for_function`` poll every 50 ms: requestAnimationFrame polling (playwright's
    default) stalls in a headless page that paints nothing."""
    orig = pg.wait_for_function

    def wait_for_function(expression: str, **kw: Any) -> Any:
        kw.setdefault("polling", 50)
        return orig(expression, **kw)

    pg.wait_for_function = wait_for_function
    return pg


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    pg = poll_by_time(ctx.new_page())
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on(
        "console", lambda m: errors.append(m.text) if m.type == "error" and "favicon" not in m.text else None
    )
    pg.js_errors = errors  # type: ignore[attr-defined]
    yield pg
    ctx.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:  # type: ignore[type-arg]
    """On a failing browser test, save a screenshot of the page next to the other artifacts."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.when == "call" and rep.failed and "page" in item.fixturenames:
        pg = item.funcargs.get("page")  # type: ignore[attr-defined]
        art = item.funcargs.get("artifacts")  # type: ignore[attr-defined]
        if pg is not None and art is not None:
            try:
                pg.screenshot(path=str(art / f"FAILED-{item.name}.png"), full_page=True)
                rep.sections.append(
                    (
                        "page",
                        f"url: {pg.url}\nscreenshot: {art}/FAILED-{item.name}.png\njs errors: {pg.js_errors}",
                    )
                )
            except Exception:  # noqa: BLE001 - best effort
                pass
