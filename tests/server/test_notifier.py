"""The notifier against fake Alertmanagers: payloads, batching, queue bounds, relabeling, retries, fan-out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from scraper.config import load_config_str
from server.notifier import Notifier, NotifierAlert, alerts_to_api_v2, format_api_time
from tsdb.labels import Labels


class FakeAM:
    """An ``/api/v2/alerts`` endpoint recording what it receives; ``fail`` is a list of statuses to answer first."""

    def __init__(self) -> None:
        self.bodies: list[list[dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self.fail: list[int] = []
        self.delay = 0.0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            return web.Response(status=self.fail.pop(0), text="nope")
        self.bodies.append(await request.json())
        self.headers.append(dict(request.headers))
        return web.Response(status=200)

    async def start(self, prefix: str = "") -> None:
        app = web.Application()
        app.router.add_post(prefix + "/api/v2/alerts", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return [a for b in self.bodies for a in b]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def ams() -> AsyncIterator[list[FakeAM]]:
    made: list[FakeAM] = []
    yield made
    for am in made:
        await am.stop()


async def new_am(ams: list[FakeAM], prefix: str = "") -> FakeAM:
    am = FakeAM()
    await am.start(prefix)
    ams.append(am)
    return am


def config(
    targets: list[str],
    extra_global: str = "",
    extra_am: str = "",
    extra_alerting: str = "",
    timeout: str = "2s",
) -> Any:
    text = f"""
global:
  external_labels:
    dc: eu1
    severity: none
{extra_global}
alerting:
{extra_alerting}
  alertmanagers:
    - static_configs:
        - targets: {json.dumps(targets)}
      timeout: {timeout}
{extra_am}
"""
    return load_config_str(text)


def alert(name: str, **labels: str) -> NotifierAlert:
    return NotifierAlert(
        Labels.from_dict({"alertname": name, **labels}),
        Labels.from_dict({"summary": f"{name} summary"}),
        starts_at_ms=1_700_000_000_123,
        ends_at_ms=1_700_000_240_123,
        generator_url="http://heron:9090/graph?g0.expr=up&g0.tab=1",
    )


async def flush(n: Notifier, until: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not until():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


def test_api_v2_payload_shape() -> None:
    (d,) = alerts_to_api_v2([alert("A", instance="x")])
    assert d == {
        "annotations": {"summary": "A summary"},
        "endsAt": "2023-11-14T22:17:20.123Z",
        "startsAt": "2023-11-14T22:13:20.123Z",
        "generatorURL": "http://heron:9090/graph?g0.expr=up&g0.tab=1",
        "labels": {"alertname": "A", "instance": "x"},
    }
    assert format_api_time(None) == "0001-01-01T00:00:00.000Z"


async def test_send_posts_with_external_labels_and_relabeling(ams: list[FakeAM]) -> None:
    am = await new_am(ams)
    cfg = config(
        [am.addr],
        extra_alerting="""  alert_relabel_configs:
    - source_labels: [level]
      regex: debug
      action: drop
""",
    )
    n = Notifier()
    n.apply_config(cfg)
    assert n.active_alertmanagers() == [f"http://{am.addr}/api/v2/alerts"]
    task = asyncio.create_task(n.run())
    n.send([alert("A", severity="page"), alert("B", level="debug"), alert("C")])
    await flush(n, lambda: len(am.alerts) == 2)
    n.stop()
    await task
    a, c = am.alerts
    assert a["labels"] == {"alertname": "A", "severity": "page", "dc": "eu1"}  # own label wins
    assert c["labels"] == {"alertname": "C", "severity": "none", "dc": "eu1"}
    assert am.headers[0]["Content-Type"] == "application/json"
    assert am.headers[0]["User-Agent"].startswith("Heron/")
    assert n.sent_total == {f"http://{am.addr}/api/v2/alerts": 2}
    assert n.dropped_total == 0 and n.queue_length == 0


async def test_batches_of_at_most_256(ams: list[FakeAM]) -> None:
    am = await new_am(ams)
    n = Notifier()
    n.apply_config(config([am.addr]))
    n.send([alert(f"A{i}") for i in range(600)])  # queued before run starts
    task = asyncio.create_task(n.run())
    await flush(n, lambda: len(am.alerts) == 600)
    n.stop()
    await task
    assert [len(b) for b in am.bodies] == [256, 256, 88]


def test_queue_is_bounded_dropping_oldest() -> None:
    n = Notifier(queue_capacity=10)
    n.send([alert(f"A{i}") for i in range(7)])
    n.send([alert(f"B{i}") for i in range(7)])
    assert n.queue_length == 10 and n.dropped_total == 4
    assert [a.name for a in n._next_batch()][:3] == ["A4", "A5", "A6"]
    n.send([alert(f"C{i}") for i in range(25)])  # a batch larger than the queue keeps its newest
    assert n.queue_length == 10 and n.dropped_total == 4 + 15 + 0
    assert [a.name for a in n._next_batch()] == [f"C{i}" for i in range(15, 25)]


async def test_fan_out_to_every_alertmanager_one_down(ams: list[FakeAM]) -> None:
    a1, a2 = await new_am(ams), await new_am(ams)
    down = "127.0.0.1:1"  # nothing listens there
    n = Notifier(retries=1, retry_backoff_s=0.01)
    n.apply_config(
        config([a1.addr, down], extra_am=f"    - static_configs:\n        - targets: ['{a2.addr}']\n")
    )
    assert len(n.active_alertmanagers()) == 3
    task = asyncio.create_task(n.run())
    n.send([alert("A"), alert("B")])
    await flush(
        n,
        lambda: (
            len(a1.alerts) == 2 and len(a2.alerts) == 2 and n.errors_total.get(f"http://{down}/api/v2/alerts")
        ),
    )
    n.stop()
    await task
    assert n.errors_total[f"http://{down}/api/v2/alerts"] == 2
    assert n.dropped_total == 0  # at least one Alertmanager took the batch


async def test_retries_on_5xx_not_on_4xx(ams: list[FakeAM]) -> None:
    am = await new_am(ams)
    n = Notifier(retries=2, retry_backoff_s=0.01)
    n.apply_config(config([am.addr]))
    task = asyncio.create_task(n.run())
    am.fail = [503, 502]
    n.send([alert("A")])
    await flush(n, lambda: len(am.alerts) == 1)
    url = f"http://{am.addr}/api/v2/alerts"
    assert n.errors_total[url] == 0 and n.sent_total[url] == 1
    am.fail = [400]
    n.send([alert("B")])
    await flush(n, lambda: n.errors_total[url] == 1)
    await flush(n, lambda: n.dropped_total == 1)
    assert am.fail == [] and len(am.alerts) == 1
    n.stop()
    await task


async def test_timeout_counts_as_error(ams: list[FakeAM]) -> None:
    am = await new_am(ams)
    am.delay = 1.0
    n = Notifier(retries=0)
    n.apply_config(config([am.addr], timeout="200ms"))
    task = asyncio.create_task(n.run())
    n.send([alert("A")])
    url = f"http://{am.addr}/api/v2/alerts"
    await flush(n, lambda: n.errors_total.get(url) == 1)
    assert n.dropped_total == 1
    n.stop()
    await task


async def test_target_relabeling_scheme_path_prefix_and_dropped(ams: list[FakeAM]) -> None:
    am = await new_am(ams, prefix="/am")
    cfg = config(
        [am.addr, "10.0.0.1:9093"],
        extra_am="""      path_prefix: /am
      relabel_configs:
        - source_labels: [__address__]
          regex: '10\\..*'
          action: drop
      alert_relabel_configs:
        - target_label: via
          replacement: am1
""",
    )
    n = Notifier()
    n.apply_config(cfg)
    assert n.active_alertmanagers() == [f"http://{am.addr}/am/api/v2/alerts"]
    assert n.dropped_alertmanagers() == ["http://10.0.0.1:9093/am/api/v2/alerts"]
    task = asyncio.create_task(n.run())
    n.send([alert("A")])
    await flush(n, lambda: len(am.alerts) == 1)
    n.stop()
    await task
    assert am.alerts[0]["labels"]["via"] == "am1"


async def test_stop_drains_queue(ams: list[FakeAM]) -> None:
    am = await new_am(ams)
    n = Notifier()
    n.apply_config(config([am.addr]))
    task = asyncio.create_task(n.run())
    await asyncio.sleep(0)
    n.send([alert(f"A{i}") for i in range(300)])
    n.stop()
    await asyncio.wait_for(task, 5)
    assert len(am.alerts) == 300 and n.queue_length == 0


async def test_send_from_another_thread_wakes_loop(ams: list[FakeAM]) -> None:
    am = await new_am(ams)
    n = Notifier()
    n.apply_config(config([am.addr]))
    task = asyncio.create_task(n.run())
    await asyncio.sleep(0.01)
    await asyncio.to_thread(n.send, [alert("T")])
    await flush(n, lambda: len(am.alerts) == 1)
    n.stop()
    await task
