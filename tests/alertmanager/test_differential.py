"""Differential: the same config and the same timed alert sequence sent to the real
Alertmanager 0.25 and to Heron; the webhook notifications must match.

The alerts started 30s ago, so each group flushes as soon as it is created (their
``group_wait`` is already over) and then every 2s (``group_interval``); alert changes
are posted halfway between ticks so both instances see them in the same interval.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import require_peer

from .util import AMProcess, Sink, start_am

CONFIG = """
global:
  resolve_timeout: 4s
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: [severity="critical"]
      receiver: pager
      continue: true
    - matchers: [team="db"]
      receiver: db
      group_by: [alertname, instance]
    - match: {alertname: Repeat}
      receiver: repeat
      repeat_interval: 3s
    - match_re: {alertname: "Trunc.*"}
      receiver: trunc
    - matchers: [alertname="AllLabels"]
      receiver: default
      group_by: ['...']
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
receivers:
  - name: default
    webhook_configs: [{url: "SINK/default"}]
  - name: pager
    webhook_configs: [{url: "SINK/pager", send_resolved: false}]
  - name: db
    webhook_configs: [{url: "SINK/db"}]
  - name: repeat
    webhook_configs: [{url: "SINK/repeat"}]
  - name: trunc
    webhook_configs: [{url: "SINK/trunc", max_alerts: 2}]
"""

EXTERNAL = "http://am.example:9093/"


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Side:
    def __init__(self, kind: str, am: AMProcess, sink: Sink) -> None:
        self.kind = kind
        self.am = am
        self.sink = sink


@pytest.fixture
def binaries() -> Iterator[None]:
    require_peer("prometheus-alertmanager")
    yield


async def _start(kind: str, tmp: Path) -> Side:
    sink = Sink()
    base = await sink.start()
    am = await asyncio.to_thread(
        start_am,
        kind,
        tmp / kind,
        CONFIG.replace("SINK", base),
        ["--cluster.listen-address=", f"--web.external-url={EXTERNAL}"],
    )
    return Side(kind, am, sink)


async def _post_both(
    s: aiohttp.ClientSession, sides: list[Side], path: str, body: Any
) -> list[tuple[int, str]]:
    async def one(side: Side) -> tuple[int, str]:
        async with s.post(side.am.url + path, json=body) as r:
            return r.status, await r.text()

    return list(await asyncio.gather(*(one(x) for x in sides)))


def _normalise(body: dict[str, Any], timeout_alerts: set[str]) -> dict[str, Any]:
    b = json.loads(json.dumps(body))
    for a in b["alerts"]:
        if a["labels"].get("alertname") in timeout_alerts and a["status"] == "resolved":
            a["endsAt"] = "<timeout>"
    return b


def _by_stream(sink: Sink, timeout_alerts: set[str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _, path, body in sink.received:
        out.setdefault((path, body["groupKey"]), []).append(_normalise(body, timeout_alerts))
    return out


async def test_same_notifications_as_alertmanager(binaries: None, tmp_path: Path) -> None:
    real, heron = await asyncio.gather(_start("real", tmp_path), _start("heron", tmp_path))
    sides = [real, heron]
    try:
        async with aiohttp.ClientSession() as s:
            now = datetime.now(UTC)
            later = iso(now + timedelta(hours=1))
            # a silence, created first on both
            sil = {
                "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": False, "isEqual": True}],
                "startsAt": iso(now),
                "endsAt": later,
                "createdBy": "diff",
                "comment": "test",
            }
            res = await _post_both(s, sides, "/api/v2/silences", sil)
            assert [r[0] for r in res] == [200, 200]

            def alert(labels: dict[str, str], ends: str | None = later, **kw: str) -> dict[str, Any]:
                a: dict[str, Any] = {
                    "labels": labels,
                    "annotations": {"summary": f"{labels.get('alertname')} {labels.get('instance', '')}"},
                    "startsAt": iso(now - timedelta(seconds=30)),
                    "generatorURL": "http://prom.example/graph?g0.expr=up",
                }
                if ends is not None:
                    a["endsAt"] = ends
                a.update(kw)
                return a

            a1 = alert(
                {"alertname": "Grp", "instance": "a", "severity": "warning", "cluster": "c1", "job": "j"}
            )
            a2 = alert(
                {"alertname": "Grp", "instance": "b", "severity": "warning", "cluster": "c1", "job": "j"}
            )
            a3 = alert(
                {"alertname": "Grp", "instance": "c", "severity": "warning", "cluster": "c1", "job": "i"}
            )
            crit = alert({"alertname": "Crit", "severity": "critical", "cluster": "c2"})
            inhibited = alert({"alertname": "Inhibited", "severity": "warning", "cluster": "c2"})
            silenced = alert({"alertname": "Silenced", "instance": "x"})
            db1 = alert(
                {"alertname": "DB", "team": "db", "severity": "critical", "instance": "db1", "cluster": "c3"}
            )
            db2 = alert(
                {"alertname": "DB", "team": "db", "severity": "critical", "instance": "db2", "cluster": "c3"}
            )
            rep = alert({"alertname": "Repeat"})
            trunc = [alert({"alertname": "Trunc", "i": str(i)}) for i in range(4)]
            allb = alert({"alertname": "AllLabels", "x": "1", "y": "2"})
            rt = alert({"alertname": "ResolveTimeout"}, ends=None)  # resolves by resolve_timeout (4s)

            t0 = time.monotonic()
            batch = [a1, a2, crit, inhibited, silenced, db1, db2, rep, *trunc, allb, rt]
            res = await _post_both(s, sides, "/api/v2/alerts", batch)
            assert [r[0] for r in res] == [200, 200], res

            async def at(t: float) -> None:
                await asyncio.sleep(max(0.0, t0 + t - time.monotonic()))

            await at(1.0)
            res = await _post_both(s, sides, "/api/v2/alerts", [a3, rt])  # rt refreshed: still 4s from now
            await at(3.0)
            resolved_now = iso(datetime.now(UTC))
            res = await _post_both(
                s, sides, "/api/v2/alerts", [dict(a1, endsAt=resolved_now), dict(db2, endsAt=resolved_now)]
            )
            assert [r[0] for r in res] == [200, 200]
            await at(5.0)
            res = await _post_both(s, sides, "/api/v2/alerts", [dict(crit, endsAt=iso(datetime.now(UTC)))])
            await at(9.5)

            # state via the API agrees too
            groups = {}
            for side in sides:
                async with s.get(side.am.url + "/api/v2/alerts/groups") as r:
                    groups[side.kind] = [
                        (
                            g["receiver"]["name"],
                            g["labels"],
                            sorted((a["fingerprint"], a["status"]["state"]) for a in g["alerts"]),
                        )
                        for g in await r.json()
                    ]
            alerts = {}
            for side in sides:
                async with s.get(side.am.url + "/api/v2/alerts") as r:
                    alerts[side.kind] = [
                        (
                            a["fingerprint"],
                            a["labels"],
                            a["status"]["state"],
                            len(a["status"]["silencedBy"]),  # silence IDs differ
                            a["status"]["inhibitedBy"],
                            [x["name"] for x in a["receivers"]],
                            a["startsAt"],
                        )
                        for a in await r.json()
                    ]
    finally:
        for side in sides:
            side.am.stop()
            await side.sink.stop()

    timeout_alerts = {"ResolveTimeout"}
    got_real = _by_stream(real.sink, timeout_alerts)
    got_heron = _by_stream(heron.sink, timeout_alerts)
    (tmp_path / "notifications.json").write_text(
        json.dumps(
            {
                "real": {repr(k): v for k, v in got_real.items()},
                "heron": {repr(k): v for k, v in got_heron.items()},
            },
            indent=1,
        )
    )
    assert sorted(got_heron) == sorted(got_real)
    for k in got_real:
        assert got_heron[k] == got_real[k], k
    assert groups["heron"] == groups["real"]
    assert alerts["heron"] == alerts["real"]

    # sanity: the scenario exercised what it is meant to
    keys = {k[1] for k in got_real}
    assert '{}:{alertname="Grp"}' in keys
    assert '{}/{severity="critical"}:{alertname="Crit"}' in keys
    assert '{}/{team="db"}:{alertname="DB", instance="db1"}' in keys
    assert not any("Silenced" in k for k in keys)
    # inhibited while Crit fired; sent once Crit resolved (t=5s), in both
    (inh,) = got_real[("/default", '{}:{alertname="Inhibited"}')]
    assert inh["status"] == "firing"
    assert len(got_real[("/repeat", '{}/{alertname="Repeat"}:{alertname="Repeat"}')]) >= 2
    (tr, *_) = got_real[("/trunc", '{}/{alertname=~"^(?:Trunc.*)$"}:{alertname="Trunc"}')]
    assert tr["truncatedAlerts"] == 2
    grp = got_real[("/default", '{}:{alertname="Grp"}')]
    assert [len(n["alerts"]) for n in grp][:3] == [2, 3, 3]


async def test_malformed_alerts_same_answers(binaries: None, tmp_path: Path) -> None:
    real, heron = await asyncio.gather(_start("real", tmp_path), _start("heron", tmp_path))
    cases: list[Any] = [
        b"notjson",
        {},
        [{}],
        [{"labels": {}}],
        [{"labels": {"a": ""}}],
        [{"labels": {"a": "b"}, "startsAt": "2020-01-02T00:00:00Z", "endsAt": "2020-01-01T00:00:00Z"}],
        [{"labels": {"a b": "x"}}],
        [{"labels": {"a": 1}}],
        [{"labels": {"a": "b"}, "startsAt": "bad"}],
        [{"labels": {"a": "b"}, "generatorURL": "::"}],
        [{"labels": {"ok": "b"}}, {"labels": {"0a": "b"}}],
        [{"labels": {"a": "b"}, "annotations": {"x-y": "z"}}],
    ]
    try:
        async with aiohttp.ClientSession() as s:
            for body in cases:
                out = []
                for side in (real, heron):
                    data = body if isinstance(body, bytes) else json.dumps(body).encode()
                    async with s.post(
                        side.am.url + "/api/v2/alerts",
                        data=data,
                        headers={"Content-Type": "application/json"},
                    ) as r:
                        text = await r.text()
                        out.append(
                            (r.status, text if r.status != 400 or text.startswith('"') else "<swagger 400>")
                        )
                assert out[1] == out[0], body
            # the valid alert of the mixed batch was stored by both
            for side in (real, heron):
                async with s.get(side.am.url + "/api/v2/alerts?filter=ok%3Db") as r:
                    assert len(await r.json()) == 1
    finally:
        for side in (real, heron):
            side.am.stop()
            await side.sink.stop()


async def test_receiver_down_then_up_same_deliveries(binaries: None, tmp_path: Path) -> None:
    """A webhook answering 503 for 3s: both retry and deliver each notification once."""
    real, heron = await asyncio.gather(_start("real", tmp_path), _start("heron", tmp_path))
    sides = [real, heron]
    try:
        for side in sides:
            side.sink.status = 503
        async with aiohttp.ClientSession() as s:
            now = datetime.now(UTC)
            batch = [
                {
                    "labels": {"alertname": "Flaky", "instance": str(i)},
                    "startsAt": iso(now - timedelta(seconds=30)),
                    "endsAt": iso(now + timedelta(hours=1)),
                }
                for i in range(2)
            ]
            res = await _post_both(s, sides, "/api/v2/alerts", batch)
            assert [r[0] for r in res] == [200, 200]
            await asyncio.sleep(3.0)
            assert all(side.sink.received == [] for side in sides)
            for side in sides:
                side.sink.status = 200
            await asyncio.sleep(5.0)
    finally:
        for side in sides:
            side.am.stop()
            await side.sink.stop()
    got = {side.kind: [body for _, _, body in side.sink.received] for side in sides}
    assert len(got["real"]) == 1
    assert got["heron"] == got["real"]
