"""Shared plumbing of the demo services: metrics middleware, fault switch, serving."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("shop")
FAULT_ANNOTATION = "heron.dev/fault"

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests handled, by method, handler and status code.",
    ["method", "handler", "code"],
)
LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency, by method and handler.", ["method", "handler"]
)
IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests being served right now.")
CLIENT_REQUESTS = Counter(
    "http_client_requests_total",
    "Outgoing HTTP requests, by target service and status code.",
    ["target", "method", "code"],
)
CLIENT_LATENCY = Histogram(
    "http_client_request_duration_seconds",
    "Outgoing HTTP request latency, by target service.",
    ["target", "method"],
)
FAULT_ACTIVE = Gauge(
    "heron_fault_active", "1 while a fault of this kind is injected into this process.", ["kind"]
)
LEAKED = Gauge("heron_fault_leaked_bytes", "Bytes retained by the memory-leak fault.")

_DUR = re.compile(r"^([0-9.]+)(ms|s|m)?$")


def parse_duration(s: str) -> float:
    """``250ms`` / ``1.5s`` / ``2m`` / ``0.3`` (seconds) -> seconds."""
    m = _DUR.match(s.strip())
    if not m:
        raise ValueError(f"invalid duration {s!r}")
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "ms" else v * 60 if m.group(2) == "m" else v


def parse_bytes(s: str) -> float:
    """``10MB`` / ``512KiB`` / ``1e6`` -> bytes (per second when written ``10MB/s``)."""
    s = s.strip().removesuffix("/s")
    m = re.match(r"^([0-9.]+)\s*([KMG]i?B?|B)?$", s, re.IGNORECASE)
    if not m:
        raise ValueError(f"invalid size {s!r}")
    unit = (m.group(2) or "B").upper().rstrip("B").replace("I", "")
    return float(m.group(1)) * {"": 1, "K": 1024, "M": 2**20, "G": 2**30}[unit]


@dataclass
class Fault:
    """The faults currently injected: latency, error ratio, crash, memory leak, cpu burn."""

    latency: float = 0.0
    errors: float = 0.0
    crash: bool = False
    leak: float = 0.0  # bytes per second
    cpu: float = 0.0  # fraction of one core
    spec: str = ""

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``latency=300ms,errors=0.2`` / ``crash`` / ``leak=5MB/s`` / ``cpu=0.8`` / ``none``."""
        f = cls(spec=spec.strip())
        for part in filter(None, (p.strip() for p in spec.replace(";", ",").split(","))):
            k, _, v = part.partition("=")
            k = k.strip().lower()
            if k in ("", "none", "clear", "off"):
                continue
            if k == "latency":
                f.latency = parse_duration(v or "500ms")
            elif k in ("errors", "error"):
                f.errors = min(max(float(v or "1"), 0.0), 1.0)
            elif k == "crash":
                f.crash = True
            elif k == "leak":
                f.leak = parse_bytes(v or "1MB")
            elif k == "cpu":
                f.cpu = min(max(float(v or "1"), 0.0), 1.0)
            else:
                raise ValueError(f"unknown fault {k!r}")
        return f


def read_annotations(path: str) -> dict[str, str]:
    """Parse a downward-API ``metadata.annotations`` file (``key="value"`` lines)."""
    import json

    out: dict[str, str] = {}
    try:
        with open(path) as fh:
            for line in fh:
                k, sep, v = line.rstrip("\n").partition("=")
                if not sep:
                    continue
                try:
                    out[k] = json.loads(v)
                except ValueError:
                    out[k] = v.strip('"')
    except OSError:
        pass
    return out


@dataclass
class FaultSwitch:
    """Holds the active :class:`Fault`; follows a downward-API file and the ``/-/fault`` endpoint."""

    file: str | None = None
    current: Fault = field(default_factory=Fault)
    manual: Fault | None = None
    _leak: list[bytearray] = field(default_factory=list)
    _burn: threading.Event = field(default_factory=threading.Event)

    def effective(self) -> Fault:
        return self.manual if self.manual is not None else self.current

    def refresh(self) -> None:
        if not self.file:
            return
        spec = read_annotations(self.file).get(FAULT_ANNOTATION, "")
        if spec != self.current.spec:
            try:
                self.current = Fault.parse(spec)
                log.warning("fault from annotation: %r", spec or "none")
            except ValueError as e:
                log.error("bad fault annotation %r: %s", spec, e)

    def apply(self) -> None:
        f = self.effective()
        for kind, on in (
            ("latency", f.latency > 0),
            ("errors", f.errors > 0),
            ("leak", f.leak > 0),
            ("cpu", f.cpu > 0),
            ("crash", f.crash),
        ):
            FAULT_ACTIVE.labels(kind).set(1 if on else 0)
        if f.crash:
            log.error("fault: crash requested, exiting with status 1")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        if not f.leak and self._leak:
            self._leak.clear()
            LEAKED.set(0)
        if f.cpu > 0 and not self._burn.is_set():
            self._burn.set()
            threading.Thread(target=self._burner, daemon=True).start()
        elif f.cpu == 0:
            self._burn.clear()

    def _burner(self) -> None:
        while self._burn.is_set():
            frac = self.effective().cpu
            end = time.perf_counter() + 0.1 * frac
            while time.perf_counter() < end:
                pass
            time.sleep(max(0.1 * (1 - frac), 0.001))

    async def run(self) -> None:
        """Poll the annotation file and keep the leak growing."""
        while True:
            self.refresh()
            self.apply()
            f = self.effective()
            if f.leak > 0:
                chunk = bytearray(os.urandom(1024)) * int(f.leak / 1024)
                self._leak.append(chunk)
                LEAKED.set(sum(len(c) for c in self._leak))
            await asyncio.sleep(1.0)

    async def maybe_fail(self) -> web.Response | None:
        f = self.effective()
        if f.latency > 0:
            await asyncio.sleep(f.latency * random.uniform(0.8, 1.2))
        if f.errors > 0 and random.random() < f.errors:
            return web.json_response({"error": "injected fault"}, status=500)
        return None


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


ADMIN_PATHS = ("/metrics", "/healthz", "/readyz", "/-/fault")


def make_app(name: str, faults: FaultSwitch) -> web.Application:
    """An aiohttp app with metrics, health endpoints, the fault switch and instrumentation."""

    @web.middleware
    async def instrument(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        route = request.match_info.route.resource
        handler_name = route.canonical if route is not None else "unmatched"
        if request.path in ADMIN_PATHS:
            return await handler(request)
        IN_FLIGHT.inc()
        t0 = time.perf_counter()
        code = 500
        try:
            injected = await faults.maybe_fail()
            if injected is not None:
                code = injected.status
                return injected
            resp = await handler(request)
            code = resp.status
            return resp
        except web.HTTPException as e:
            code = e.status
            raise
        finally:
            IN_FLIGHT.dec()
            LATENCY.labels(request.method, handler_name).observe(time.perf_counter() - t0)
            REQUESTS.labels(request.method, handler_name, str(code)).inc()

    app = web.Application(middlewares=[instrument])
    app["faults"] = faults
    app["service"] = name

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(REGISTRY),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def fault_get(_: web.Request) -> web.Response:
        return web.json_response(
            {"spec": faults.effective().spec, "source": "manual" if faults.manual else "annotation"}
        )

    async def fault_set(request: web.Request) -> web.Response:
        spec = (await request.text()).strip()
        try:
            faults.manual = Fault.parse(spec) if spec else None
        except ValueError as e:
            return web.json_response({"error": str(e)}, status=400)
        faults.apply()
        return web.json_response({"spec": faults.effective().spec})

    async def fault_clear(_: web.Request) -> web.Response:
        faults.manual = None
        faults.apply()
        return web.json_response({"spec": faults.effective().spec})

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", _ok)
    app.router.add_get("/readyz", _ok)
    app.router.add_get("/-/fault", fault_get)
    app.router.add_post("/-/fault", fault_set)
    app.router.add_put("/-/fault", fault_set)
    app.router.add_delete("/-/fault", fault_clear)
    return app


def base_args(prog: str, default_port: int = 8080) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog)
    ip = os.environ.get("POD_IP") or "127.0.0.1"
    p.add_argument(
        "--listen", default=os.environ.get("LISTEN_ADDR") or f"{ip}:{os.environ.get('PORT', default_port)}"
    )
    p.add_argument(
        "--fault-file", default=os.environ.get("FAULT_FILE"), help="downward-API annotations file to follow"
    )
    p.add_argument("--fault", default=os.environ.get("FAULT", ""), help="initial fault spec")
    return p


def service_url(name: str, explicit: str | None = None) -> str | None:
    """A peer's base URL: explicit, ``<NAME>_URL``, or the Kubernetes service env vars."""
    if explicit:
        return explicit.rstrip("/")
    env = name.upper().replace("-", "_")
    if os.environ.get(f"{env}_URL"):
        return os.environ[f"{env}_URL"].rstrip("/")
    host, port = os.environ.get(f"{env}_SERVICE_HOST"), os.environ.get(f"{env}_SERVICE_PORT")
    if host and port:
        return f"http://{host}:{port}"
    return None


def serve(
    app: web.Application,
    listen: str,
    faults: FaultSwitch,
    on_start: Callable[[], Awaitable[Any]] | None = None,
) -> int:
    """Run ``app`` on ``listen`` until SIGTERM/SIGINT; graceful shutdown."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    faults.refresh()
    faults.apply()

    async def run() -> None:
        host, _, port = listen.rpartition(":")
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        await web.TCPSite(runner, host.strip("[]") or "0.0.0.0", int(port), reuse_address=True).start()
        log.info("%s listening on %s", app["service"], listen)
        tasks = [asyncio.create_task(faults.run())]
        if on_start is not None:
            await on_start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        log.info("%s shutting down", app["service"])
        for t in tasks:
            t.cancel()
        await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0
