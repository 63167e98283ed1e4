"""``http_sd_configs``: poll a URL returning target groups as JSON (Prometheus's HTTP SD)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from . import SendFn, TargetGroup
from ._file import DiscoveryFileError, parse_target_groups

__all__ = ["HTTPProvider"]

log = logging.getLogger("heron.discovery.http")
_JSON_CT = re.compile(r'^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$')
USER_AGENT = "Heron/0.1.0"


class HTTPSDError(Exception):
    pass


class HTTPProvider:
    """GETs ``cfg.url`` every ``refresh_interval``; a failed refresh keeps the previous groups."""

    def __init__(self, cfg: Any, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.cfg = cfg
        self.sleep = sleep

    async def fetch(self, session: aiohttp.ClientSession) -> list[TargetGroup]:
        from ..client import ssl_context

        c = self.cfg
        headers = {
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            "X-Prometheus-Refresh-Interval-Seconds": str(c.refresh_interval // 1000),
        }
        auth = c.http.auth_header()
        if auth:
            headers["Authorization"] = auth
        async with session.get(c.url, headers=headers, ssl=ssl_context(c.http.tls_config)) as resp:
            if resp.status != 200:
                raise HTTPSDError(f"server returned HTTP status {resp.status} {resp.reason}")
            ct = resp.headers.get("Content-Type", "").strip()
            if _JSON_CT.match(ct) is None:
                raise HTTPSDError(f'unsupported content type "{ct}"')
            body = await resp.read()
        try:
            data = json.loads(body)
        except ValueError as e:
            raise HTTPSDError(str(e)) from None
        try:
            return parse_target_groups(data, c.url, {"__meta_url": c.url})
        except DiscoveryFileError as e:
            raise HTTPSDError(str(e)) from None

    async def run(self, send: SendFn) -> None:
        timeout = aiohttp.ClientTimeout(total=max(self.cfg.refresh_interval / 1000, 1.0))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    send(await self.fetch(session))
                except (TimeoutError, aiohttp.ClientError, HTTPSDError) as e:
                    log.error("unable to refresh target groups from %s: %s", self.cfg.url, e)
                await self.sleep(self.cfg.refresh_interval / 1000)
