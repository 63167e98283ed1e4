"""``remote_read`` in the config: queries read remote endpoints too, as Prometheus's ``storage/remote``.

:class:`MergeQueryable` wraps the local TSDB; its queriers add, for every
configured endpoint, the series a sampled remote-read request returns, merged
with the local series of the same labels (samples de-duplicated by timestamp,
local winning). As Prometheus:

* ``read_recent: false`` (the default) asks the endpoint only for the time
  before the oldest local sample (and not at all when the query lies entirely
  after it);
* ``required_matchers`` must all appear as equality matchers in a selector for
  the endpoint to be asked;
* ``filter_external_labels`` (default true) adds the external labels as
  equality matchers to the remote query and removes them from the results.

Label names/values come from local storage only (remote read has no label API;
Prometheus's remote querier answers them empty too). A failing endpoint is
logged and skipped: the query answers from what it could read (Prometheus turns
it into a warning; the querier seam here has no warnings channel).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from scraper.config import RemoteReadConfig
from tsdb.interface import Labels, Matcher, MatchType, SelectHints, Series

from ._proto import ReadQuery, decode_read_response, encode_read_request
from .remote import USER_AGENT, snappy_compress, snappy_decompress

__all__ = ["MergeQueryable", "RemoteReadClient"]

log = logging.getLogger("heron.remote_read")


class RemoteReadClient:
    """A blocking client for one ``remote_read`` endpoint (sampled responses)."""

    def __init__(self, cfg: RemoteReadConfig, external_labels: Labels) -> None:
        self.cfg = cfg
        self.external = external_labels

    def wants(self, matchers: Sequence[Matcher]) -> bool:
        req = self.cfg.required_matchers
        if not req:
            return True
        have = {(m.name, m.value) for m in matchers if m.type is MatchType.EQUAL}
        return all((k, v) in have for k, v in req.items())

    def read(self, mint: int, maxt: int, matchers: Sequence[Matcher]) -> list[Series]:
        ms = [(m.type.value, m.name, m.value) for m in matchers]
        ext = dict(self.external.pairs) if self.cfg.filter_external_labels else {}
        for k, v in ext.items():
            ms.append(("=", k, v))
        body = snappy_compress(encode_read_request([ReadQuery(mint, maxt, ms)], accepted=[0]))
        headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Read-Version": "0.1.0",
            "User-Agent": USER_AGENT,
            **self.cfg.headers,
        }
        auth = self.cfg.http.auth_header()
        if auth:
            headers["Authorization"] = auth
        req = urllib.request.Request(self.cfg.url or "", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.cfg.remote_timeout / 1000) as resp:
            raw = snappy_decompress(resp.read())
        results = decode_read_response(raw)
        out: list[Series] = []
        if not results:
            return out
        b = results[0]
        order = np.argsort(b.series, kind="stable")
        sid, ts, vals = b.series[order], b.ts[order], b.vals[order]
        bounds = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1], True]) if len(sid) else np.array([0])
        for a, z in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            ls = b.labels[int(sid[a])]
            if ext:
                ls = ls.without(*[k for k in ext if ls.get(k) == ext[k]])
            out.append(Series(ls, ts[a:z], vals[a:z]))
        return out


def _merge(a: Series, b: Series) -> Series:
    """Samples of both, by time; on equal timestamps ``a`` (local) wins."""
    ts = np.concatenate([a.ts, b.ts])
    vals = np.concatenate([a.vals, b.vals])
    order = np.argsort(ts, kind="stable")
    ts, vals = ts[order], vals[order]
    keep = np.r_[True, ts[1:] != ts[:-1]]
    return Series(a.labels, ts[keep], vals[keep])


class MergeQuerier:
    """Local querier plus remote-read endpoints, merged by labels."""

    def __init__(
        self, local: Any, clients: list[RemoteReadClient], mint: int, maxt: int, local_start: int | None
    ) -> None:
        self.local = local
        self.clients = clients
        self.mint = mint
        self.maxt = maxt
        self.local_start = local_start

    def _remote(self, matchers: Sequence[Matcher]) -> list[Series]:
        out: list[Series] = []
        for c in self.clients:
            if not c.wants(matchers):
                continue
            mint, maxt = self.mint, self.maxt
            if not c.cfg.read_recent and self.local_start is not None:
                if mint > self.local_start:
                    continue
                maxt = min(maxt, self.local_start)
            try:
                out.extend(c.read(mint, maxt, matchers))
            except (OSError, ValueError, urllib.error.URLError) as e:
                log.warning("remote read from %s failed: %s", c.cfg.url, e)
        return out

    def select(
        self, matchers: Sequence[Matcher], hints: SelectHints | None = None, sort: bool = False
    ) -> Iterator[Series]:
        merged: dict[Labels, Series] = {}
        for s in self.local.select(matchers, hints, True):
            merged[s.labels] = s
        for s in self._remote(matchers):
            lo = int(np.searchsorted(s.ts, self.mint, side="left"))
            hi = int(np.searchsorted(s.ts, self.maxt, side="right"))
            s = Series(s.labels, s.ts[lo:hi], s.vals[lo:hi])
            prev = merged.get(s.labels)
            merged[s.labels] = s if prev is None else _merge(prev, s)
        for ls in sorted(merged):
            yield merged[ls]

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        return list(self.local.label_names(matchers))

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        return list(self.local.label_values(name, matchers))

    def close(self) -> None:
        self.local.close()


class MergeQueryable:
    """A ``Queryable`` over local storage and the current config's ``remote_read`` endpoints."""

    def __init__(self, local: Any, configs: Callable[[], tuple[Sequence[RemoteReadConfig], Labels]]) -> None:
        self.local = local
        self._configs = configs
        self._key: Any = None
        self._clients: list[RemoteReadClient] = []

    def clients(self) -> list[RemoteReadClient]:
        cfgs, ext = self._configs()
        key = (id(cfgs), ext)
        if key != self._key:
            self._clients = [RemoteReadClient(c, ext) for c in cfgs]
            self._key = key
        return self._clients

    def querier(self, mint: int, maxt: int) -> Any:
        q = self.local.querier(mint, maxt)
        clients = self.clients()
        if not clients:
            return q
        start = getattr(self.local, "min_time", None)
        return MergeQuerier(q, clients, mint, maxt, start if isinstance(start, int) else None)

    def __getattr__(self, name: str) -> Any:
        # Everything else (appender, head, wal, admin methods…) is the local storage's.
        return getattr(self.local, name)
