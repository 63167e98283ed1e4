"""A webhook receiver that appends every Alertmanager notification to a file.

``python -m heron.webhook_logger --listen HOST:PORT --file PATH`` answers
``POST /alerts`` (any path works) with 200 and writes the JSON payload as one
line, prefixed with the time it arrived; ``GET /healthz`` for probes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import time
from pathlib import Path

from aiohttp import web

log = logging.getLogger("heron.webhook_logger")


def make_app(path: Path) -> web.Application:
    path.parent.mkdir(parents=True, exist_ok=True)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = json.loads(body)
        except ValueError as e:
            return web.Response(status=400, text=f"body is not JSON: {e}\n")
        line = json.dumps({"receivedAt": time.time(), "path": request.path, "payload": payload})
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
        alerts = payload.get("alerts", []) if isinstance(payload, dict) else []
        names = sorted({a.get("labels", {}).get("alertname", "?") for a in alerts if isinstance(a, dict)})
        log.info("notification %s: %s", payload.get("status") if isinstance(payload, dict) else "?", names)
        return web.Response(text="ok\n")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.*}", receive)
    return app


async def serve(listen: str, path: Path) -> None:
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(make_app(path), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port)).start()
    log.info("webhook logger on %s writing %s", listen, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="webhook-logger", description=__doc__.splitlines()[0])
    p.add_argument("--listen", default="127.0.0.1:8080")
    p.add_argument("--file", default="notifications.jsonl", type=Path)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(a.listen, a.file))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
