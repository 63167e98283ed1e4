"""The shop's payments service: charges with realistic latency and a few declines.

``python -m cluster.workloads.payments --listen IP:PORT`` (image ``heron/shop-payments``).
"""

from __future__ import annotations

import asyncio
import random
import uuid

from aiohttp import web
from prometheus_client import Counter

from ._common import Fault, FaultSwitch, base_args, make_app, serve

PAYMENTS = Counter("shop_payments_total", "Payment attempts by result.", ["result"])
AMOUNT = Counter("shop_payments_amount_total", "Money charged successfully (in cents).")


def build(faults: FaultSwitch, decline_ratio: float = 0.01) -> web.Application:
    app = make_app("payments", faults)

    async def charge(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            amount = int(body["amount_cents"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "want {user, amount_cents}"}, status=400)
        await asyncio.sleep(random.uniform(0.005, 0.03))
        if random.random() < decline_ratio:
            PAYMENTS.labels("declined").inc()
            return web.json_response({"status": "declined"}, status=402)
        PAYMENTS.labels("approved").inc()
        AMOUNT.inc(max(amount, 0))
        return web.json_response({"status": "approved", "id": uuid.uuid4().hex, "amount_cents": amount})

    app.router.add_post("/charge", charge)
    return app


def main(argv: list[str] | None = None) -> int:
    p = base_args("shop-payments")
    p.add_argument("--decline-ratio", type=float, default=0.01)
    a = p.parse_args(argv)
    faults = FaultSwitch(file=a.fault_file)
    if a.fault:
        faults.manual = Fault.parse(a.fault)
    return serve(build(faults, a.decline_ratio), a.listen, faults)


if __name__ == "__main__":
    raise SystemExit(main())
