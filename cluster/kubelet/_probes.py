"""Liveness, readiness and startup probes: httpGet, tcpSocket, exec."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

import aiohttp

Obj = dict[str, Any]

DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}


def timing(probe: Obj, key: str) -> float:
    v = probe.get(key)
    return float(DEFAULTS[key] if v is None else v)


def resolve_port(port: Any, container: Obj) -> int:
    """A probe port: a number or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"port {port!r} not found in container")


async def run_probe(
    probe: Obj,
    container: Obj,
    pod_ip: str,
    *,
    env: dict[str, str],
    cwd: str,
    session: aiohttp.ClientSession,
) -> tuple[bool, str]:
    """Run one probe once; ``(success, message)``."""
    timeout = max(timing(probe, "timeoutSeconds"), 0.1)
    try:
        if "httpGet" in probe:
            h = probe["httpGet"]
            port = resolve_port(h.get("port", 80), container)
            host = h.get("host") or pod_ip
            scheme = (h.get("scheme") or "HTTP").lower()
            path = h.get("path") or "/"
            if not path.startswith("/"):
                path = "/" + path
            headers = {"User-Agent": "kube-probe/1.32"}
            for hh in h.get("httpHeaders") or []:
                headers[hh["name"]] = hh["value"]
            url = f"{scheme}://{host}:{port}{path}"
            async with session.get(
                url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout), ssl=False
            ) as r:
                await r.read()
                if 200 <= r.status < 400:
                    return True, ""
                return False, f"HTTP probe failed with statuscode: {r.status}"
        if "tcpSocket" in probe:
            t = probe["tcpSocket"]
            port = resolve_port(t.get("port"), container)
            host = t.get("host") or pod_ip
            _, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()
            return True, ""
        if "exec" in probe:
            cmd = probe["exec"].get("command") or []
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                env=env,
                cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
                return False, f"command timed out after {timeout:g}s"
            if proc.returncode == 0:
                return True, ""
            return False, out.decode(errors="replace")[-512:] or f"exit code {proc.returncode}"
        if "grpc" in probe:
            return False, "grpc probes are not supported by the Heron kubelet"
        return True, ""
    except TimeoutError:
        return False, f"probe timed out after {timeout:g}s"
    except (OSError, aiohttp.ClientError, ValueError) as e:
        return False, f"probe failed: {e}"
