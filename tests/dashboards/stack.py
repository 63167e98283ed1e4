"""Processes for the dashboards' integration and browser tests: a Heron server (subprocess) on
imported data, a real Prometheus, a real Alertmanager, the dashboards app (waitress, in a thread),
and headless Chromium through playwright."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_json(url: str) -> Any:
    return json.loads(get(url)[1])


def wait_until(fn: Any, timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not met within {timeout}s (last: {last!r})")


class Proc:
    """A subprocess with its log in ``log``; stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, args: list[str], log: Path, cwd: Path | None = None) -> None:
        self.args = args
        self.log = log
        self._f = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._f, stderr=subprocess.STDOUT, cwd=cwd)

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.args[0]} exited ({self.proc.returncode}): {self.log.read_text()[-3000:]}"
            )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._f.close()


def heron_import(om: Path, out: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "heron.cli", "tsdb", "import", str(om), "--output", str(out), "--quiet"],
        check=True,
        cwd=REPO,
        capture_output=True,
    )


def start_heron(tmp: Path, data: Path, config: str = "", port: int = 0) -> tuple[Proc, str]:
    """``heron server`` on ``data`` (remote-write receiver on); returns (process, base URL)."""
    port = port or free_port()
    cfg = tmp / "heron.yml"
    cfg.write_text(config or "global: {scrape_interval: 15s}\n")
    p = Proc(
        [
            sys.executable,
            "-m",
            "heron.server_cli",
            "--config.file",
            str(cfg),
            "--storage.tsdb.path",
            str(data),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
        ],
        tmp / "heron.log",
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        p.check()
        return get(url + "/-/ready", 2)[0] == 200

    wait_until(ready, 60, "heron server ready")
    return p, url


def start_prometheus(binary: str, tmp: Path, data: Path, config: str = "") -> tuple[Proc, str]:
    port = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text(config or "global: {scrape_interval: 15s}\n")
    p = Proc(
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=30d",
        ],
        tmp / "prometheus.log",
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        p.check()
        return get(url + "/-/ready", 2)[0] == 200

    wait_until(ready, 60, "prometheus ready")
    return p, url


def start_alertmanager(binary: str, tmp: Path) -> tuple[Proc, str]:
    port = free_port()
    cfg = tmp / "alertmanager.yml"
    cfg.write_text(
        'route: {receiver: "null", group_by: [alertname], group_wait: 1s, group_interval: 2s}\nreceivers: [{name: "null"}]\n'
    )
    p = Proc(
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        tmp / "alertmanager.log",
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        p.check()
        return get(url + "/-/ready", 2)[0] == 200

    wait_until(ready, 60, "alertmanager ready")
    return p, url


class DashboardsServer:
    """The dashboards app under waitress in a thread of this process."""

    def __init__(
        self,
        prometheus_url: str,
        alertmanager_url: str = "http://127.0.0.1:9",
        dashboards: list[str] | None = None,
    ) -> None:
        import waitress

        from dashboards.app import Config, create_app

        cfg = Config(prometheus_url=prometheus_url, alertmanager_url=alertmanager_url)
        if dashboards:
            cfg.dashboards = dashboards
        self.app = create_app(cfg)
        self.server = waitress.create_server(self.app.server, host="127.0.0.1", port=0, threads=8)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="dashboards-waitress")
        self.thread.start()
        wait_until(lambda: get(self.url + "/api/health")[0] == 200, 30, "dashboards ready")

    def stop(self) -> None:
        import logging

        logging.getLogger("waitress").setLevel(logging.CRITICAL)  # in-flight requests at shutdown
        self.server.close()
        self.app.heron_state.runner.close()  # type: ignore[attr-defined]
        self.thread.join(5)


def chromium_path() -> str | None:
    for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.path.exists(p):
            return p
    return None


GRAPHS_DRAWN_JS = """() => {
  const panels = [...document.querySelectorAll('.panel[data-status]')];
  if (!panels.length) return false;
  const graphs = [...document.querySelectorAll('.panel .js-plotly-plot')];
  const withGraph = panels.filter(p => p.querySelector('.panel-graph')).length;
  return graphs.length >= withGraph && graphs.every(g => g.querySelector('.main-svg') && g.data);
}"""

PANEL_REPORT_JS = """() => [...document.querySelectorAll('.panel[data-status]')].map(p => {
  const g = p.querySelector('.js-plotly-plot');
  let points = 0, traces = 0;
  if (g && g.data) {
    traces = g.data.length;
    for (const t of g.data) {
      if (Array.isArray(t.y)) points += t.y.filter(v => v !== null && v !== undefined).length;
      else if (t.y && t.y.length) points += t.y.length;
      if (Array.isArray(t.z)) points += t.z.length;
      if (t.type === 'indicator' || t.type === 'pie') points += 1;
    }
  }
  const text = (p.querySelector('.panel-body') || p).innerText || '';
  return {key: p.dataset.panelKey, type: p.dataset.panelType, status: p.dataset.status,
          title: (p.querySelector('.panel-title') || {}).innerText, traces, points, text: text.slice(0, 200),
          error: p.querySelector('.panel-error') ? p.querySelector('.panel-error').innerText : null};
})"""
