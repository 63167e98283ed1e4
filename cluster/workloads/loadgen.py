"""The shop's load generator: browses, fills carts and checks out at a steady rate.

``python -m cluster.workloads.loadgen --target URL --rps 5 --listen IP:PORT`` (image
``heron/shop-loadgen``). The target defaults to ``TARGET_URL`` or the ``frontend``
Service's env vars; ``--host-header`` sends a Host header (to go through the ingress).
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

import aiohttp
from aiohttp import web
from prometheus_client import Counter, Histogram

from ._common import FaultSwitch, base_args, make_app, serve, service_url

REQS = Counter(
    "loadgen_requests_total",
    "Requests sent by the load generator, by endpoint and status code.",
    ["endpoint", "code"],
)
LAT = Histogram(
    "loadgen_request_duration_seconds", "Latency seen by the load generator, by endpoint.", ["endpoint"]
)
PRODUCTS = ["heron-mug", "heron-tee", "heron-sticker", "heron-hoodie", "heron-cap"]


class LoadGen:
    """Open-loop request generator (Poisson arrivals at ``rps``)."""

    def __init__(self, target: str, rps: float, host_header: str | None = None, users: int = 50) -> None:
        self.target = target.rstrip("/")
        self.rps = rps
        self.headers = {"Host": host_header} if host_header else {}
        self.users = users
        self.sent = 0
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    async def _one(self, endpoint: str, method: str, path: str, json: object = None) -> None:
        assert self._session is not None
        t0 = time.perf_counter()
        code = "error"
        try:
            async with self._session.request(
                method, self.target + path, json=json, headers=self.headers
            ) as r:
                await r.read()
                code = str(r.status)
        except (aiohttp.ClientError, TimeoutError):
            pass
        finally:
            REQS.labels(endpoint, code).inc()
            LAT.labels(endpoint).observe(time.perf_counter() - t0)

    async def _session_step(self) -> None:
        user = f"user-{random.randrange(self.users)}"
        r = random.random()
        if r < 0.4:
            await self._one("products", "GET", "/api/products")
        elif r < 0.6:
            await self._one("product", "GET", f"/api/products/{random.choice(PRODUCTS)}")
        elif r < 0.7:
            await self._one("home", "GET", "/")
        elif r < 0.9:
            body = {"product_id": random.choice(PRODUCTS), "quantity": random.randint(1, 3)}
            await self._one("add_to_cart", "POST", f"/api/cart/{user}", body)
        else:
            await self._one("checkout", "POST", f"/api/checkout/{user}")
        self.sent += 1

    async def run(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            while True:
                if self.rps <= 0:
                    await asyncio.sleep(1.0)
                    continue
                await asyncio.sleep(random.expovariate(self.rps))
                if len(self._inflight) < 200:
                    t = asyncio.create_task(self._session_step())
                    self._inflight.add(t)
                    t.add_done_callback(self._inflight.discard)
        finally:
            await self._session.close()


def main(argv: list[str] | None = None) -> int:
    p = base_args("shop-loadgen", default_port=8089)
    p.add_argument("--target")
    p.add_argument("--rps", type=float, default=float(__import__("os").environ.get("RPS", "5")))
    p.add_argument("--host-header", default=__import__("os").environ.get("HOST_HEADER"))
    a = p.parse_args(argv)
    target = service_url("target", a.target) or service_url("frontend")
    if not target:
        print("loadgen: no target (set --target, TARGET_URL or create the frontend Service)", file=sys.stderr)
        return 1
    faults = FaultSwitch(file=a.fault_file)
    app = make_app("loadgen", faults)
    gen = LoadGen(target, a.rps, a.host_header)

    async def rate(request: web.Request) -> web.Response:
        if request.method == "POST":
            gen.rps = float((await request.text()).strip() or gen.rps)
        return web.json_response({"rps": gen.rps, "sent": gen.sent, "target": gen.target})

    app.router.add_get("/rate", rate)
    app.router.add_post("/rate", rate)
    holder: list[asyncio.Task[None]] = []

    async def start() -> None:
        holder.append(asyncio.create_task(gen.run()))

    return serve(app, a.listen, faults, on_start=start)


if __name__ == "__main__":
    raise SystemExit(main())
