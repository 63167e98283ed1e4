"""Helpers for server tests: free ports, a Heron server in a thread, a real Prometheus process,
a deterministic data set, and remote-write pushes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from server._proto import encode_write_request
from server.app import ServerFlags
from server.remote import snappy_compress
from tsdb.interface import STALE_NAN
from tsdb.labels import Labels


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, bytes, dict[str, str]]:
    """A blocking HTTP request: ``(status, body, headers)`` (errors are returned, not raised)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def get_json(base: str, path: str, **params: Any) -> tuple[int, Any]:
    qs = urllib.parse.urlencode(params, doseq=True)
    status, body, _ = http("GET", f"{base}{path}" + (f"?{qs}" if qs else ""))
    return status, json.loads(body) if body else None


def wait_until(fn: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s (last: {last!r})")


class HeronServer:
    """``server.main.serve`` on a free port, in a thread with its own event loop."""

    def __init__(self, tmp: Path, config: str = "", **flags: Any) -> None:
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.config_path = tmp / "heron.yml"
        self.config_path.write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        defaults: dict[str, Any] = dict(
            config_file=str(self.config_path),
            storage_path=str(tmp / "data"),
            listen_address=f"127.0.0.1:{self.port}",
            enable_remote_write_receiver=True,
            enable_admin_api=True,
            enable_lifecycle=True,
        )
        defaults.update(flags)
        self.flags = ServerFlags(**defaults)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.rc: int | None = None
        self.error: BaseException | None = None

    def start(self) -> HeronServer:
        from server.main import serve

        def target() -> None:
            async def main() -> None:
                started = asyncio.Event()
                task = asyncio.create_task(serve(self.flags, started=started))
                waiter = asyncio.create_task(started.wait())
                await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
                self._ready.set()
                self.rc = await task

            try:
                asyncio.run(main())
            except BaseException as e:  # noqa: BLE001 - surfaced to the test
                self.error = e
                self._ready.set()

        self._thread = threading.Thread(target=target, daemon=True, name="heron-server")
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("heron server did not start")
        if self.error is not None or self.rc is not None:
            raise RuntimeError(f"heron server failed to start: rc={self.rc} error={self.error!r}")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._thread.is_alive():
            http("POST", f"{self.url}/-/quit", b"")
            self._thread.join(30)
        self._thread = None

    def __enter__(self) -> HeronServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Prometheus:
    """A real ``prometheus`` process on a free port (remote-write receiver, lifecycle, admin API)."""

    def __init__(self, binary: str, tmp: Path, config: str = "", extra: list[str] | None = None) -> None:
        self.binary = binary
        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        self.config_path = tmp / "prometheus.yml"
        self.config_path.write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "prometheus.log"

    def start(self) -> Prometheus:
        self._log = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",
                "--web.enable-lifecycle",
                "--web.enable-admin-api",
                *self.extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            return http("GET", f"{self.url}/-/ready", timeout=2)[0] == 200

        wait_until(ready, timeout=30)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None
            self._log.close()

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- data


@dataclass
class Dataset:
    labels: list[Labels]
    series: np.ndarray
    ts: np.ndarray
    vals: np.ndarray
    t0: int
    t1: int
    step: int

    def write_body(self) -> bytes:
        return snappy_compress(encode_write_request(self.labels, self.series, self.ts, self.vals))


def make_dataset(now_ms: int, minutes: int = 50, step_ms: int = 15_000) -> Dataset:
    """A deterministic mix of counters, gauges, histogram buckets, NaNs and a stale marker.

    Samples are on a ``step_ms`` grid ending about a minute before ``now_ms``.
    """
    rng = np.random.default_rng(42)
    t1 = (now_ms - 60_000) // step_ms * step_ms
    n = minutes * 60_000 // step_ms
    t0 = t1 - (n - 1) * step_ms
    times = np.arange(t0, t1 + 1, step_ms, dtype=np.int64)
    labels: list[Labels] = []
    cols: list[np.ndarray] = []

    def add(ls: dict[str, str], vals: np.ndarray) -> None:
        labels.append(Labels.from_dict(ls))
        cols.append(vals.astype(np.float64))

    for inst in ("a:9100", "b:9100"):
        for code in ("200", "500"):
            inc = rng.integers(0, 20, n).astype(np.float64) * (10 if code == "200" else 1)
            c = np.cumsum(inc)
            if inst == "b:9100" and code == "200":
                c[n // 2 :] -= c[n // 2]  # a counter reset
            add({"__name__": "http_requests_total", "job": "api", "instance": inst, "code": code}, c)
    for room, base in (("kitchen", 21.5), ("cellar", 12.25), ("attic", 27.0)):
        add(
            {"__name__": "temperature_celsius", "room": room},
            base + np.round(np.sin(np.arange(n) / 7) * 3, 2) + 0.1,
        )
    counts = np.cumsum(rng.integers(0, 50, n)).astype(np.float64)
    for le, frac in (("0.1", 0.3), ("0.5", 0.7), ("1", 0.9), ("+Inf", 1.0)):
        add({"__name__": "req_duration_seconds_bucket", "le": le, "job": "api"}, np.floor(counts * frac))
    add({"__name__": "req_duration_seconds_count", "job": "api"}, counts)
    nan_vals = np.arange(n, dtype=np.float64) / 3
    nan_vals[::5] = np.nan
    add({"__name__": "with_nans", "job": "x"}, nan_vals)
    stale = np.full(n, 7.0)
    stale[-10] = STALE_NAN  # goes stale ten steps before the end, then comes back
    add({"__name__": "flappy", "job": "x"}, stale)
    add({"__name__": "big_and_small", "k": "big"}, np.full(n, 1.5e21) * (1 + np.arange(n) / n))
    add({"__name__": "big_and_small", "k": "small"}, np.full(n, 3e-7) * (1 + np.arange(n)))
    add({"__name__": "big_and_small", "k": "million"}, np.full(n, 1e6) + np.arange(n) * 0.25)
    k = len(labels)
    # Time-major order (all series at t, then t+step, …) as a scraper would produce it.
    series = np.tile(np.arange(k, dtype=np.int64), n)
    ts = np.repeat(times, k)
    vals = np.stack(cols, axis=1).reshape(-1)
    order = np.lexsort((ts, series))  # grouped per series for the encoder
    return Dataset(labels, series[order], ts[order], vals[order], t0, t1, step_ms)


def push(url: str, body: bytes) -> tuple[int, bytes]:
    status, out, _ = http(
        "POST",
        f"{url}/api/v1/write",
        body,
        {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        },
    )
    return status, out


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")
