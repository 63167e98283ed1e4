"""The shop's frontend: product pages and a JSON API that calls cart and payments.

``python -m cluster.workloads.frontend --listen IP:PORT`` (image ``heron/shop-frontend``).
Peers are found as Kubernetes programs find them: ``CART_URL``/``PAYMENTS_URL``,
or the ``CART_SERVICE_HOST``/``_PORT`` variables the kubelet injects. Without
them the process exits with an error (and is restarted until the Services exist).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import Counter

from ._common import (
    CLIENT_LATENCY,
    CLIENT_REQUESTS,
    Fault,
    FaultSwitch,
    base_args,
    make_app,
    serve,
    service_url,
)

ORDERS = Counter("shop_orders_total", "Checkouts by result.", ["result"])

PRODUCTS: list[dict[str, Any]] = [
    {"id": "heron-mug", "name": "Heron mug", "price_cents": 1200},
    {"id": "heron-tee", "name": "Heron T-shirt", "price_cents": 2500},
    {"id": "heron-sticker", "name": "Heron sticker pack", "price_cents": 400},
    {"id": "heron-hoodie", "name": "Heron hoodie", "price_cents": 5500},
    {"id": "heron-cap", "name": "Heron cap", "price_cents": 1800},
]
BY_ID = {p["id"]: p for p in PRODUCTS}


def build(faults: FaultSwitch, cart_url: str, payments_url: str) -> web.Application:
    app = make_app("frontend", faults)
    state: dict[str, aiohttp.ClientSession] = {}

    async def on_startup(_: web.Application) -> None:
        state["s"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))

    async def on_cleanup(_: web.Application) -> None:
        await state["s"].close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)

    async def call(target: str, method: str, url: str, **kw: object) -> tuple[int, dict]:
        t0 = time.perf_counter()
        code = "error"
        try:
            async with state["s"].request(method, url, **kw) as r:  # type: ignore[arg-type]
                code = str(r.status)
                data = await r.json(content_type=None)
                return r.status, data if isinstance(data, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return 503, {"error": f"{target} unavailable"}
        finally:
            CLIENT_REQUESTS.labels(target, method, code).inc()
            CLIENT_LATENCY.labels(target, method).observe(time.perf_counter() - t0)

    async def index(_: web.Request) -> web.Response:
        rows = "".join(f"<li>{p['name']} &mdash; ${p['price_cents'] / 100:.2f}</li>" for p in PRODUCTS)
        return web.Response(
            text=f"<html><body><h1>Heron shop</h1><ul>{rows}</ul></body></html>", content_type="text/html"
        )

    async def products(_: web.Request) -> web.Response:
        return web.json_response(PRODUCTS)

    async def product(request: web.Request) -> web.Response:
        p = BY_ID.get(request.match_info["id"])
        if p is None:
            return web.json_response({"error": "no such product"}, status=404)
        return web.json_response(p)

    async def get_cart(request: web.Request) -> web.Response:
        status, data = await call("cart", "GET", f"{cart_url}/cart/{request.match_info['user']}")
        return web.json_response(data, status=200 if status == 200 else 502)

    async def add_to_cart(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "bad json"}, status=400)
        if body.get("product_id") not in BY_ID:
            return web.json_response({"error": "no such product"}, status=404)
        status, data = await call(
            "cart", "POST", f"{cart_url}/cart/{request.match_info['user']}/items", json=body
        )
        return web.json_response(data, status=201 if status == 201 else 502)

    async def checkout(request: web.Request) -> web.Response:
        user = request.match_info["user"]
        status, cart = await call("cart", "GET", f"{cart_url}/cart/{user}")
        if status != 200:
            ORDERS.labels("error").inc()
            return web.json_response({"error": "cart unavailable"}, status=502)
        items = cart.get("items") or []
        if not items:
            ORDERS.labels("empty").inc()
            return web.json_response({"error": "cart is empty"}, status=400)
        total = sum(
            BY_ID.get(i["product_id"], {"price_cents": 0})["price_cents"] * i["quantity"] for i in items
        )
        status, pay = await call(
            "payments", "POST", f"{payments_url}/charge", json={"user": user, "amount_cents": total}
        )
        if status == 402:
            ORDERS.labels("declined").inc()
            return web.json_response({"error": "payment declined"}, status=402)
        if status != 200:
            ORDERS.labels("error").inc()
            return web.json_response({"error": "payments unavailable"}, status=502)
        await call("cart", "DELETE", f"{cart_url}/cart/{user}")
        ORDERS.labels("ok").inc()
        return web.json_response({"order": pay.get("id"), "total_cents": total})

    app.router.add_get("/", index)
    app.router.add_get("/api/products", products)
    app.router.add_get("/api/products/{id}", product)
    app.router.add_get("/api/cart/{user}", get_cart)
    app.router.add_post("/api/cart/{user}", add_to_cart)
    app.router.add_post("/api/checkout/{user}", checkout)
    return app


def main(argv: list[str] | None = None) -> int:
    p = base_args("shop-frontend")
    p.add_argument("--cart-url")
    p.add_argument("--payments-url")
    a = p.parse_args(argv)
    cart, payments = service_url("cart", a.cart_url), service_url("payments", a.payments_url)
    if not cart or not payments:
        print(
            "frontend: cannot find the cart/payments services (CART_SERVICE_HOST, PAYMENTS_SERVICE_HOST unset)",
            file=sys.stderr,
        )
        return 1
    faults = FaultSwitch(file=a.fault_file)
    if a.fault:
        faults.manual = Fault.parse(a.fault)
    return serve(build(faults, cart, payments), a.listen, faults)


if __name__ == "__main__":
    raise SystemExit(main())
