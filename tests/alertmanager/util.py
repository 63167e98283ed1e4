"""Helpers for Alertmanager tests: free ports, processes (real Alertmanager and Heron), webhook sinks."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from alertmanager import config as cfg
from alertmanager.dispatch import Dispatcher
from alertmanager.inhibit import Inhibitor
from alertmanager.metrics import NotifyMetrics, Registry
from alertmanager.nflog import NotificationLog
from alertmanager.notify import Integration, NotifyContext, build_pipeline
from alertmanager.route import Route
from alertmanager.silence import Silencer, Silences
from alertmanager.store import Alerts
from alertmanager.types import NS, Alert, FakeClock, Marker, now_ns

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: Any = None, timeout: float = 10) -> tuple[int, Any]:
    """A blocking JSON request: ``(status, decoded body or text)``."""
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode()


def wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become ready")
        time.sleep(0.05)


@dataclass
class AMProcess:
    """An Alertmanager process (real or Heron) on a free port."""

    kind: str
    url: str
    proc: subprocess.Popen[bytes]
    config_path: Path
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_am(
    kind: str, d: Path, config: str, extra: list[str] | None = None, port: int | None = None
) -> AMProcess:
    """Start ``prometheus-alertmanager`` (kind ``real``) or ``heron alertmanager`` (``heron``)."""
    d.mkdir(parents=True, exist_ok=True)
    cpath = d / "alertmanager.yml"
    cpath.write_text(config)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    flags = [
        f"--config.file={cpath}",
        f"--storage.path={d / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        *(extra if extra is not None else ["--cluster.listen-address="]),
    ]
    if kind == "real":
        from tests.conftest import require_peer

        cmd = [require_peer("prometheus-alertmanager"), *flags]
    else:
        cmd = [sys.executable, "-m", "heron.alertmanager_cli", *flags]
    log_path = d / "log.txt"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(log_path, "wb") as lf:
        proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    p = AMProcess(kind, url, proc, cpath, log_path)
    try:
        wait_ready(url, proc)
    except Exception:
        p.stop()
        raise RuntimeError(f"{kind} alertmanager failed to start:\n{p.log()}") from None
    return p


@dataclass
class Sink:
    """An aiohttp webhook receiver that records every notification with its arrival time."""

    status: int = 200
    received: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def _handle(self, req: web.Request) -> web.Response:
        body = await req.json()
        if self.status == 200:
            self.received.append((time.monotonic(), req.path, body))
            self.headers.append(dict(req.headers))
        return web.Response(status=self.status)

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        return [b for _, p, b in self.received if path is None or p == path]


class Recorder:
    """An in-memory integration: records what it is asked to send; can be told to fail."""

    name = "webhook"

    def __init__(self, index: int = 0, send_resolved: bool = True) -> None:
        self.index = index
        self.send_resolved = send_resolved
        self.sent: list[tuple[float, NotifyContext, list[Alert]]] = []
        self.fail: int = 0
        self.attempts = 0
        self.clock: FakeClock | None = None

    async def notify(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[bool, Exception | None]:
        self.attempts += 1
        if self.fail:
            self.fail -= 1
            return True, RuntimeError("receiver down")
        assert self.clock is not None
        self.sent.append((self.clock.now(), ctx, [a.copy() for a in alerts]))
        return False, None


class Harness:
    """Dispatcher + pipeline on a fake clock with recording integrations."""

    def __init__(self, config: str, clock: FakeClock | None = None, tmp: Path | None = None) -> None:
        self.clock = clock or FakeClock()
        self.config = cfg.load(config)
        self.marker = Marker()
        self.alerts = Alerts(self.clock, self.marker)
        self.silences = Silences(self.clock, tmp / "silences" if tmp else None)
        self.nflog = NotificationLog(self.clock, tmp / "nflog" if tmp else None)
        self.recorders: dict[str, list[Recorder]] = {}
        integrations: dict[str, list[Integration]] = {}
        for r in self.config.receivers:
            recs = []
            for i, w in enumerate(r.webhook_configs):
                rec = Recorder(i, w.send_resolved)
                rec.clock = self.clock
                recs.append(rec)
            self.recorders[r.name] = recs
            integrations[r.name] = list(recs)
        self.route = Route(self.config.route)
        self.inhibitor = Inhibitor(self.config.inhibit_rules, self.alerts, self.marker, self.clock)
        self.silencer = Silencer(self.silences, self.marker)
        self.pipeline = build_pipeline(
            integrations,
            self.clock,
            lambda: 0.0,
            self.inhibitor,
            self.silencer,
            self.config.time_intervals,
            self.nflog,
            NotifyMetrics(Registry()),
        )
        self.dispatcher = Dispatcher(
            self.route, self.alerts, self.pipeline, self.clock, lambda d: max(d, 10.0)
        )

    def start(self) -> None:
        self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()

    def post(
        self,
        labels: dict[str, str],
        resolve_in: float | None = None,
        ends_ago: float | None = None,
        **kw: Any,
    ) -> Alert:
        """Insert an alert as the API would (``resolve_timeout`` default 5m unless ``resolve_in``)."""
        now = now_ns(self.clock)
        ends = now + int((resolve_in if resolve_in is not None else 300.0) * NS)
        if ends_ago is not None:
            ends = now - int(ends_ago * NS)
        a = Alert(
            labels=dict(labels),
            annotations=kw.get("annotations", {}),
            starts_at=kw.get("starts_at", now),
            ends_at=ends,
            updated_at=now,
            timeout=resolve_in is None,
        )
        self.alerts.put(a)
        return a

    def sent(self, receiver: str, idx: int = 0) -> list[tuple[float, NotifyContext, list[Alert]]]:
        return self.recorders[receiver][idx].sent


async def settle(seconds: float = 0.0) -> None:
    await asyncio.sleep(seconds)
