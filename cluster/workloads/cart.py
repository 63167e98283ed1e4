"""The shop's cart service: per-user carts in memory.

``python -m cluster.workloads.cart --listen IP:PORT`` (image ``heron/shop-cart``).
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import Counter, Gauge

from ._common import FaultSwitch, base_args, make_app, serve

CARTS = Gauge("shop_carts_active", "Carts holding at least one item.")
ITEMS = Counter("shop_cart_items_added_total", "Items added to carts.")


def build(faults: FaultSwitch) -> web.Application:
    app = make_app("cart", faults)
    carts: dict[str, dict[str, int]] = {}

    async def get_cart(request: web.Request) -> web.Response:
        user = request.match_info["user"]
        items = carts.get(user, {})
        return web.json_response(
            {"user": user, "items": [{"product_id": k, "quantity": v} for k, v in items.items()]}
        )

    async def add_item(request: web.Request) -> web.Response:
        user = request.match_info["user"]
        try:
            body = await request.json()
            pid, qty = str(body["product_id"]), int(body.get("quantity", 1))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "want {product_id, quantity}"}, status=400)
        if qty <= 0:
            return web.json_response({"error": "quantity must be positive"}, status=400)
        cart = carts.setdefault(user, {})
        cart[pid] = cart.get(pid, 0) + qty
        ITEMS.inc(qty)
        CARTS.set(len(carts))
        return web.json_response(
            {"user": user, "items": [{"product_id": k, "quantity": v} for k, v in cart.items()]}, status=201
        )

    async def clear(request: web.Request) -> web.Response:
        carts.pop(request.match_info["user"], None)
        CARTS.set(len(carts))
        return web.json_response({}, status=200)

    app.router.add_get("/cart/{user}", get_cart)
    app.router.add_post("/cart/{user}/items", add_item)
    app.router.add_delete("/cart/{user}", clear)
    return app


def main(argv: list[str] | None = None) -> int:
    a = base_args("shop-cart").parse_args(argv)
    faults = FaultSwitch(file=a.fault_file)
    if a.fault:
        from ._common import Fault

        faults.manual = Fault.parse(a.fault)
    return serve(build(faults), a.listen, faults)


if __name__ == "__main__":
    raise SystemExit(main())
