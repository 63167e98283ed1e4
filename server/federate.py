"""``/federate``: the latest sample of every series matching ``match[]``, in text format 0.0.4.

As Prometheus's ``web/federate.go``: samples within the lookback delta before
now (stale markers skip the series), one ``# TYPE name untyped`` family per
metric name, series sorted by name, external labels (plus ``instance=""``)
appended to every series that does not carry them already, and explicit
millisecond timestamps.
"""

from __future__ import annotations

import asyncio

import numpy as np
from aiohttp import web

from promql.errors import ParseError
from promql.parser import parse_metric_selector
from tsdb.interface import Labels, SelectHints, stale_mask

from .jsonfmt import format_go_g

__all__ = ["federate_text", "handle_federate"]


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def federate_text(storage: object, match_sets: list, now_ms: int, lookback_ms: int, external: Labels) -> str:
    """The exposition text for ``match_sets`` (lists of matchers) at ``now_ms``."""
    q = storage.querier(now_ms - lookback_ms, now_ms)  # type: ignore[attr-defined]
    latest: dict[Labels, tuple[int, float]] = {}
    try:
        hints = SelectHints(start=now_ms - lookback_ms, end=now_ms, func="series")
        for ms in match_sets:
            for s in q.select(ms, hints):
                if s.labels in latest or not len(s.ts):
                    continue
                i = int(np.searchsorted(s.ts, now_ms, side="right")) - 1
                if i < 0:
                    continue
                if stale_mask(s.vals[i : i + 1])[0]:
                    continue
                latest[s.labels] = (int(s.ts[i]), float(s.vals[i]))
    finally:
        q.close()
    # As Prometheus: an empty instance label unless the external labels set one, so the
    # federating server does not attach its target's instance to every series.
    ext_d = dict(external.pairs)
    ext_d.setdefault("instance", "")
    ext = sorted(ext_d.items())
    out: list[str] = []
    last_name = None
    for ls in sorted(latest, key=lambda x: (x.name, x)):
        t, v = latest[ls]
        name = ls.name
        if name != last_name:
            out.append(f"# TYPE {name} untyped\n")
            last_name = name
        parts = [f'{k}="{_escape(val)}"' for k, val in ls.pairs if k != "__name__"]
        have = set(ls.names())
        parts += [f'{k}="{_escape(val)}"' for k, val in ext if k not in have]
        lbl = "{" + ",".join(parts) + "}" if parts else ""
        out.append(f"{name}{lbl} {format_go_g(v)} {t}\n")
    return "".join(out)


async def handle_federate(request: web.Request) -> web.Response:
    """``GET /federate?match[]=…``."""
    from .app import STATE

    st = request.app[STATE]
    sets = []
    for s in request.query.getall("match[]", []):
        try:
            sets.append(parse_metric_selector(s))
        except (ParseError, ValueError) as e:
            return web.Response(status=400, text=f"{e}\n")
    loop = asyncio.get_running_loop()
    text = await loop.run_in_executor(
        st.executor,
        federate_text,
        st.storage,
        sets,
        st.now_ms(),
        st.flags.lookback_delta_ms,
        st.config.external_labels,
    )
    return web.Response(
        body=text.encode(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    )
