"""Admin API (``--web.enable-admin-api``): TSDB snapshot, delete_series, clean_tombstones.

Without the flag every endpoint answers as Prometheus does:
``{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}``
(HTTP 500).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from .api import MAX_TIME_MS, MIN_TIME_MS, ApiError, _match_sets, _time_param, error_response, ok, params
from .app import STATE, ServerState
from .jsonfmt import dumps

__all__ = ["clean_tombstones", "delete_series", "snapshot"]


def _check(request: web.Request, method: str) -> ServerState:
    st = request.app[STATE]
    if not st.flags.enable_admin_api:
        raise ApiError("unavailable", "admin APIs disabled")
    if not callable(getattr(st.storage, method, None)):
        raise ApiError("internal", f"the storage does not support {method}")
    return st


def _parse_bool(s: str) -> bool:
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False", ""):
        return False
    raise ApiError(
        "bad_data",
        f"unable to parse boolean 'skip_head' argument: strconv.ParseBool: parsing \"{s}\": invalid syntax",
    )


async def _run(st: ServerState, fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(st.executor, fn, *args)


async def snapshot(request: web.Request) -> web.Response:
    """``POST /api/v1/admin/tsdb/snapshot?skip_head=…`` -> ``{"name": "<dir>"}`` under ``snapshots/``."""
    try:
        st = _check(request, "snapshot")
        p = await params(request)
        skip_head = _parse_bool(p.get("skip_head", ""))
        name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(st.clock())) + "-" + secrets.token_hex(8)
        base = Path(st.flags.storage_path) / "snapshots"
        try:
            os.makedirs(base, exist_ok=True)
            await _run(st, lambda: st.storage.snapshot(base / name, with_head=not skip_head))
        except Exception as e:  # noqa: BLE001 - reported as Prometheus does
            raise ApiError("internal", f"create snapshot: {e}") from None
        return ok(dumps({"name": name}))
    except ApiError as e:
        return error_response(e)


async def delete_series(request: web.Request) -> web.Response:
    """``POST /api/v1/admin/tsdb/delete_series?match[]=…&start=…&end=…`` -> 204."""
    try:
        st = _check(request, "delete_series")
        p = await params(request)
        sets = _match_sets(p, prefix=False, required=True)
        start = _time_param(p, "start", MIN_TIME_MS)
        end = _time_param(p, "end", MAX_TIME_MS)
        try:
            for ms in sets:
                await _run(st, st.storage.delete_series, ms, start, end)
        except Exception as e:  # noqa: BLE001
            raise ApiError("internal", str(e)) from None
        return web.Response(status=204)
    except ApiError as e:
        return error_response(e)


async def clean_tombstones(request: web.Request) -> web.Response:
    """``POST /api/v1/admin/tsdb/clean_tombstones`` -> 204."""
    try:
        st = _check(request, "clean_tombstones")
        try:
            await _run(st, st.storage.clean_tombstones)
        except Exception as e:  # noqa: BLE001
            raise ApiError("internal", str(e)) from None
        return web.Response(status=204)
    except ApiError as e:
        return error_response(e)
