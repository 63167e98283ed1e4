"""The demo shop as real processes: requests flow, metrics are exposed, faults bite."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster.faults import FaultError, validate
from cluster.workloads._common import Fault, parse_bytes, parse_duration, read_annotations
from tests.cluster.test_nodes_fakeapi import loopback_base, pids_alive, wait_for

REPO = str(Path(__file__).resolve().parents[2])


def test_fault_specs() -> None:
    f = Fault.parse("latency=250ms, errors=0.3")
    assert (f.latency, f.errors, f.crash) == (0.25, 0.3, False)
    assert Fault.parse("crash").crash and Fault.parse("leak=5MB/s").leak == 5 * 2**20
    assert Fault.parse("cpu=0.5").cpu == 0.5 and Fault.parse("none") == Fault(spec="none")
    assert parse_duration("2m") == 120 and parse_bytes("512KiB") == 512 * 1024
    with pytest.raises(ValueError):
        Fault.parse("explode")
    with pytest.raises(FaultError):
        validate("explode")
    assert validate("DOWN", node=True) == "down"


def test_read_downward_api_annotations(tmp_path: Path) -> None:
    p = tmp_path / "annotations"
    p.write_text('heron.dev/fault="latency=1s"\nother="a \\"quoted\\" value"\n')
    assert read_annotations(str(p)) == {"heron.dev/fault": "latency=1s", "other": 'a "quoted" value'}


class Shop:
    def __init__(self, base: str, tmp: Path) -> None:
        self.base = base
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ip = {
            "cart": f"{base}.5.2",
            "payments": f"{base}.5.3",
            "frontend": f"{base}.5.4",
            "loadgen": f"{base}.5.5",
        }
        self.fault_file = tmp / "annotations"

    def url(self, name: str) -> str:
        return f"http://{self.ip[name]}:8080"

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        e = {**os.environ, "PYTHONPATH": REPO, **(env or {})}
        p = subprocess.Popen(
            [sys.executable, "-m", f"cluster.workloads.{name}", "--listen", f"{self.ip[name]}:8080", *args],
            env=e,
            stdout=open(self.tmp / f"{name}.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = p
        return p

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    s = Shop(loopback_base(), tmp_path)
    try:
        yield s
    finally:
        s.stop()


async def _up(session: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with session.get(url + "/healthz") as r:
            return r.status == 200
    except aiohttp.ClientError:
        return False


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


async def test_shop_flow_metrics_and_faults(shop: Shop, session: aiohttp.ClientSession) -> None:
    shop.start("cart", "--fault-file", str(shop.fault_file))
    shop.start("payments", "--decline-ratio", "0")
    # the frontend finds its peers through Kubernetes-style service variables
    env = {
        "CART_SERVICE_HOST": shop.ip["cart"],
        "CART_SERVICE_PORT": "8080",
        "PAYMENTS_SERVICE_HOST": shop.ip["payments"],
        "PAYMENTS_SERVICE_PORT": "8080",
    }
    shop.start("frontend", env=env)
    for n in ("cart", "payments", "frontend"):
        await wait_for(lambda n=n: _up(session, shop.url(n)), 15, what=f"{n} up")
    fe = shop.url("frontend")
    async with session.get(fe + "/api/products") as r:
        products = await r.json()
        assert r.status == 200 and len(products) == 5
    async with session.post(fe + "/api/cart/alice", json={"product_id": "heron-mug", "quantity": 2}) as r:
        assert r.status == 201
    async with session.post(fe + "/api/checkout/alice") as r:
        body = await r.json()
        assert r.status == 200 and body["total_cents"] == 2400
    async with session.post(fe + "/api/checkout/alice") as r:
        assert r.status == 400  # cart emptied by the checkout
    async with session.get(fe + "/metrics") as r:
        m = metrics(await r.text())
    assert (
        m[("http_requests_total", (("code", "200"), ("handler", "/api/checkout/{user}"), ("method", "POST")))]
        == 1
    )
    assert (
        m[("http_requests_total", (("code", "400"), ("handler", "/api/checkout/{user}"), ("method", "POST")))]
        == 1
    )
    assert (
        "http_request_duration_seconds_bucket",
        (("handler", "/api/products"), ("le", "0.005"), ("method", "GET")),
    ) in m
    assert ("http_requests_in_flight", ()) in m
    assert (
        m[("http_client_requests_total", (("code", "200"), ("method", "POST"), ("target", "payments")))] == 1
    )
    assert m[("shop_orders_total", (("result", "ok"),))] == 1
    assert ("process_cpu_seconds_total", ()) in m

    # fault via the HTTP switch: every request fails
    async with session.post(shop.url("payments") + "/-/fault", data="errors=1") as r:
        assert r.status == 200
    async with session.post(fe + "/api/cart/bob", json={"product_id": "heron-cap"}) as r:
        assert r.status == 201
    async with session.post(fe + "/api/checkout/bob") as r:
        assert r.status == 502
    async with session.delete(shop.url("payments") + "/-/fault") as r:
        assert (await r.json())["spec"] == ""
    async with session.post(fe + "/api/checkout/bob") as r:
        assert r.status == 200

    # fault via the downward-API annotations file: latency on cart
    shop.fault_file.write_text('heron.dev/fault="latency=400ms"\n')
    loop = asyncio.get_running_loop()

    async def slow() -> bool:
        t0 = loop.time()
        async with session.get(shop.url("cart") + "/cart/zed") as r:
            await r.read()
        return loop.time() - t0 > 0.3

    await wait_for(slow, 5, interval=0.2, what="latency fault")
    async with session.get(shop.url("cart") + "/metrics") as r:
        assert metrics(await r.text())[("heron_fault_active", (("kind", "latency"),))] == 1

    # crash fault: the process exits 1 (and would again on every restart)
    shop.fault_file.write_text('heron.dev/fault="crash"\n')
    await wait_for(lambda: shop.procs["cart"].poll() is not None, 5, what="crash")
    assert shop.procs["cart"].returncode == 1


async def test_loadgen_drives_traffic(shop: Shop, session: aiohttp.ClientSession) -> None:
    shop.start("cart")
    shop.start("payments")
    shop.start("frontend", "--cart-url", shop.url("cart"), "--payments-url", shop.url("payments"))
    shop.start("loadgen", "--target", shop.url("frontend"), "--rps", "40")
    for n in ("cart", "payments", "frontend", "loadgen"):
        await wait_for(lambda n=n: _up(session, shop.url(n)), 15, what=f"{n} up")

    async def sent() -> float:
        async with session.get(shop.url("loadgen") + "/metrics") as r:
            m = metrics(await r.text())
        return sum(
            v for (n, lbl), v in m.items() if n == "loadgen_requests_total" and ("code", "error") not in lbl
        )

    await wait_for(lambda: _at_least(sent, 20), 15, interval=0.3, what="load")
    async with session.get(shop.url("frontend") + "/metrics") as r:
        m = metrics(await r.text())
    assert sum(v for (n, _), v in m.items() if n == "http_requests_total") >= 10


async def _at_least(f, n: float) -> bool:  # type: ignore[no-untyped-def]
    return bool(await f() >= n)


async def test_frontend_exits_without_services(shop: Shop) -> None:
    p = shop.start("frontend", env={"CART_SERVICE_HOST": "", "PAYMENTS_SERVICE_HOST": ""})
    assert p.wait(15) == 1
    assert "cannot find the cart/payments services" in (shop.tmp / "frontend.log").read_text()
    assert pids_alive([p.pid]) == []
