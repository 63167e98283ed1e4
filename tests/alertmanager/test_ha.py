"""HA: two Alertmanagers with ``--cluster.peer`` share silences and the notification log.

The same scenario runs against a pair of real Alertmanagers (memberlist gossip) and a pair
of Heron's (HTTP gossip): the observable behaviour must be the same.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import require_peer

from .util import Sink, free_port, start_am


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@pytest.mark.parametrize("kind", ["real", "heron"])
async def test_pair_notifies_once_and_shares_silences(kind: str, tmp_path: Path) -> None:
    if kind == "real":
        require_peer("prometheus-alertmanager")
    sink = Sink()
    base = await sink.start()
    config = f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 500ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{base}/hook"}}]
"""
    c1, c2 = free_port(), free_port()

    def flags(me: int, other: int) -> list[str]:
        return [
            f"--cluster.listen-address=127.0.0.1:{me}",
            f"--cluster.peer=127.0.0.1:{other}",
            "--cluster.peer-timeout=1s",
            "--cluster.pushpull-interval=2s",
        ]

    a = await asyncio.to_thread(start_am, kind, tmp_path / "a", config, flags(c1, c2))
    b = await asyncio.to_thread(start_am, kind, tmp_path / "b", config, flags(c2, c1))
    try:
        async with aiohttp.ClientSession() as s:
            # both see a two-member cluster
            for _ in range(300):
                statuses = []
                for am in (a, b):
                    async with s.get(am.url + "/api/v2/status") as r:
                        statuses.append((await r.json())["cluster"])
                if all(len(st["peers"]) == 2 and st["status"] == "ready" for st in statuses):
                    break
                await asyncio.sleep(0.1)
            assert all(len(st["peers"]) == 2 for st in statuses), statuses
            assert statuses[0]["name"] != statuses[1]["name"]

            now = datetime.now(UTC)
            alerts = [
                {
                    "labels": {"alertname": f"HA{i}"},
                    "startsAt": iso(now),
                    "endsAt": iso(now + timedelta(hours=1)),
                }
                for i in range(3)
            ]
            # Prometheus sends every alert to every Alertmanager of the pair
            for am in (a, b):
                async with s.post(am.url + "/api/v2/alerts", json=alerts) as r:
                    assert r.status == 200
            # the first peer sends at once; the second waits 1s (its position * peer timeout),
            # then finds the notifications in the gossiped log
            await asyncio.sleep(4.0)
            keys = sorted(body["groupKey"] for _, _, body in sink.received)
            assert keys == [f'{{}}:{{alertname="HA{i}"}}' for i in range(3)]

            # a silence created on one peer reaches the other
            sil = {
                "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": False}],
                "startsAt": iso(now),
                "endsAt": iso(now + timedelta(hours=1)),
                "createdBy": "ha",
                "comment": "c",
            }
            async with s.post(a.url + "/api/v2/silences", json=sil) as r:
                sid = (await r.json())["silenceID"]
            for _ in range(50):
                async with s.get(b.url + "/api/v2/silences") as r:
                    ids = [x["id"] for x in await r.json()]
                if ids == [sid]:
                    break
                await asyncio.sleep(0.1)
            assert ids == [sid]
            # and silences what both instances would send
            quiet = [
                {
                    "labels": {"alertname": "Quiet"},
                    "startsAt": iso(now),
                    "endsAt": iso(now + timedelta(hours=1)),
                }
            ]
            for am in (a, b):
                async with s.post(am.url + "/api/v2/alerts", json=quiet) as r:
                    assert r.status == 200
            await asyncio.sleep(2.5)
            assert len(sink.received) == 3
            # expiring it on the other peer: one notification for the pair
            async with s.delete(b.url + f"/api/v2/silence/{sid}") as r:
                assert r.status == 200
            await asyncio.sleep(3.5)
            quiet_sent = [
                body for _, _, body in sink.received if body["groupLabels"] == {"alertname": "Quiet"}
            ]
            assert len(quiet_sent) == 1
    finally:
        a.stop()
        b.stop()
        await sink.stop()
