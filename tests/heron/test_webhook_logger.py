import json
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from heron.webhook_logger import make_app


async def test_appends_each_notification(tmp_path: Path) -> None:
    out = tmp_path / "n" / "log.jsonl"
    async with TestClient(TestServer(make_app(out))) as c:
        payload = {"version": "4", "status": "firing", "alerts": [{"labels": {"alertname": "X"}}]}
        r = await c.post("/alerts", json=payload)
        assert r.status == 200
        r = await c.post("/alerts", data=b"{not json")
        assert r.status == 400
        assert (await c.get("/healthz")).status == 200
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["payload"] == payload
