"""Scrape loops: fetch a target, parse, append to storage, report, mark staleness.

A :class:`ScrapeLoop` scrapes one :class:`~scraper.target.Target` every
interval at a stable per-target offset and appends through any
``tsdb.interface.Appendable``, behaving like Prometheus's ``scrapeLoop``:

* the HTTP request sends Prometheus's ``Accept`` header (built from
  ``scrape_protocols``), ``Accept-Encoding: gzip`` (``enable_compression``),
  ``X-Prometheus-Scrape-Timeout-Seconds``, auth and TLS settings; a non-200
  status, a timeout, a body over ``body_size_limit`` or a payload that does
  not parse fails that scrape only (``up`` 0, ``lastError`` set — parse
  errors carry the line number) and never the loop;
* every sample gets the scrape's timestamp (aligned to the interval within
  2 ms, as Prometheus does) unless it has its own and ``honor_timestamps``;
* series keys go through a per-target cache (``key -> series ref``), so a new
  series costs one label merge (``honor_labels`` / ``exported_`` renaming),
  ``metric_relabel_configs``, the label limits and ``ref_for``; a cached one
  a dict lookup; and a payload whose lines didn't change except for values
  skips even that (:mod:`scraper._layout`): its refs are reused as an array
  and the whole scrape is a single ``append_batch``;
* ``sample_limit``, ``label_limit``, ``label_name_length_limit``,
  ``label_value_length_limit`` fail the scrape with Prometheus's messages;
* synthetic series ``up``, ``scrape_duration_seconds``,
  ``scrape_samples_scraped``, ``scrape_samples_post_metric_relabeling``,
  ``scrape_series_added`` (plus ``scrape_timeout_seconds``,
  ``scrape_sample_limit``, ``scrape_body_size_bytes`` with
  ``extra_scrape_metrics``) carry the target's labels;
* staleness markers (``STALE_NAN``) go to series that were in the previous
  scrape and are missing from this one (series with explicit timestamps only
  with ``track_timestamps_staleness``), to every series after a failed
  scrape, and — when a target disappears from discovery — to every series
  and the synthetic ones, stamped one interval after the last scrape and
  written after two intervals plus 10% (Prometheus's ``endOfRunStaleness``).
  Stopping a whole pool (shutdown, job removed) writes none, as Prometheus.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from tsdb.interface import STALE_NAN, Appendable, Appender
from tsdb.labels import METRIC_NAME, Labels, LabelsBuilder

from ._layout import Layout
from .config import SCRAPE_PROTOCOLS
from .exposition import NO_TIMESTAMP, ExpositionError, MetricMetadata, Parser, is_openmetrics
from .relabel import relabel
from .target import Target

__all__ = [
    "ScrapeCache",
    "ScrapeError",
    "ScrapeLoop",
    "ScrapeOptions",
    "accept_header",
]

log = logging.getLogger("heron.scrape")

USER_AGENT = "Heron/0.1.0"
SCRAPE_TIMESTAMP_TOLERANCE_MS = 2
_LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_EMPTY_I64 = np.zeros(0, dtype=np.int64)


class ScrapeError(Exception):
    """A failed scrape; ``str()`` is what ``lastError`` shows."""


def accept_header(protocols: list[str], escaping: str = "allow-utf-8") -> str:
    """The ``Accept`` header Prometheus sends for ``scrape_protocols`` (q from 0.6 down)."""
    vals = []
    weight = len(SCRAPE_PROTOCOLS) + 1
    for sp in protocols:
        v = SCRAPE_PROTOCOLS[sp]
        if sp in ("PrometheusText1.0.0", "OpenMetricsText1.0.0"):
            v += ";escaping=" + escaping
        vals.append(f"{v};q=0.{weight}")
        weight -= 1
    vals.append(f"*/*;q=0.{weight}")
    return ",".join(vals)


@dataclass
class ScrapeOptions:
    """The per-pool settings a loop needs (taken from a ``ScrapeConfig``)."""

    honor_labels: bool = False
    honor_timestamps: bool = True
    track_timestamps_staleness: bool = False
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    body_size_limit: int = 0
    enable_compression: bool = True
    extra_scrape_metrics: bool = False
    metric_relabel_configs: tuple[Any, ...] = ()
    accept: str = ""
    http: Any = None  # HTTPClientConfig

    @classmethod
    def from_config(cls, cfg: Any) -> ScrapeOptions:
        return cls(
            honor_labels=cfg.honor_labels,
            honor_timestamps=cfg.honor_timestamps,
            track_timestamps_staleness=cfg.track_timestamps_staleness,
            sample_limit=cfg.sample_limit,
            label_limit=cfg.label_limit,
            label_name_length_limit=cfg.label_name_length_limit,
            label_value_length_limit=cfg.label_value_length_limit,
            body_size_limit=cfg.body_size_limit,
            enable_compression=cfg.enable_compression,
            extra_scrape_metrics=bool(cfg.extra_scrape_metrics),
            metric_relabel_configs=tuple(cfg.metric_relabel_configs),
            accept=accept_header(
                list(cfg.scrape_protocols or []), cfg.metric_name_escaping_scheme or "allow-utf-8"
            ),
            http=cfg.http,
        )


class ScrapeCache:
    """Per-target state kept across scrapes (and across loop restarts on reload).

    ``idx`` maps a raw series key to a slot; ``slot_ref[slot]`` is the storage
    ref (0: dropped by ``metric_relabel_configs``). ``prev_refs`` are the refs
    of the previous scrape that staleness tracks.
    """

    def __init__(self) -> None:
        self.parser = Parser(cache_size=1 << 20)
        self.reset()
        self.prev_refs: np.ndarray = _EMPTY_I64
        self.metadata: dict[str, tuple[MetricMetadata, int]] = {}
        self.report_refs: dict[str, int] = {}
        self.iter = 0

    def reset(self) -> None:
        """Forget every series key (refs stay valid in storage)."""
        self.idx: dict[str, int] = {}
        self.slot_ref = np.zeros(1024, dtype=np.int64)
        self.slot_keys: list[str] = []
        self.layout: Layout | None = None
        self.layout_slots: np.ndarray = _EMPTY_I64
        self.layout_refs: np.ndarray = _EMPTY_I64  # the refs staleness tracks for a layout scrape
        self.layout_ct = ""

    def __len__(self) -> int:
        return len(self.idx)

    def add(self, key: str, ref: int) -> int:
        slot = len(self.slot_keys)
        if slot >= len(self.slot_ref):
            grown = np.zeros(max(2 * len(self.slot_ref), slot + 1), dtype=np.int64)
            grown[: len(self.slot_ref)] = self.slot_ref
            self.slot_ref = grown
        self.slot_ref[slot] = ref
        self.slot_keys.append(key)
        self.idx[key] = slot
        return slot

    def keep_only(self, slots: np.ndarray) -> np.ndarray:
        """Drop every key whose slot is not in ``slots``; returns ``slots`` renumbered."""
        uniq, inv = np.unique(slots, return_inverse=True)
        if len(uniq) == len(self.slot_keys):
            return slots
        keys = [self.slot_keys[s] for s in uniq.tolist()]
        refs = self.slot_ref[uniq]
        self.idx = {k: i for i, k in enumerate(keys)}
        self.slot_keys = keys
        self.slot_ref = np.zeros(max(1024, 2 * len(keys)), dtype=np.int64)
        self.slot_ref[: len(keys)] = refs
        return inv.astype(np.int64)


class _AppendFailed(Exception):
    def __init__(self, msg: str, total: int) -> None:
        super().__init__(msg)
        self.total = total


class ScrapeLoop:
    """Scrapes one target (see the module docstring)."""

    def __init__(
        self,
        target: Target,
        appendable: Appendable,
        opts: ScrapeOptions,
        *,
        session: aiohttp.ClientSession | None = None,
        cache: ScrapeCache | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        offset_seed: int = 0,
        fetch: Callable[[], Awaitable[tuple[bytes, str]]] | None = None,
    ) -> None:
        self.target = target
        self.appendable = appendable
        self.opts = opts
        self.session = session
        self.cache = cache or ScrapeCache()
        self.clock = clock
        self.sleep = sleep
        self.offset_seed = offset_seed
        self.interval_ms = target.interval_ms()
        self.timeout_ms = target.timeout_ms()
        self._fetch_override = fetch
        self.forced_error: str | None = None
        self.last_scrape_ms = 0
        self.end_of_run_staleness = True
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._public = target.public_labels()
        self._last_body_size = 0

    # ------------------------------------------------------------------ HTTP

    async def fetch(self) -> tuple[bytes, str]:
        """GET the target; returns ``(body, content type)`` or raises :class:`ScrapeError`."""
        if self._fetch_override is not None:
            return await self._fetch_override()
        from .client import auth_headers, ssl_context

        url = self.target.url()
        o = self.opts
        headers = {
            "Accept": o.accept,
            "Accept-Encoding": "gzip" if o.enable_compression else "identity",
            "User-Agent": USER_AGENT,
            "X-Prometheus-Scrape-Timeout-Seconds": _fmt_float(self.timeout_ms / 1000),
        }
        if o.http is not None:
            headers.update(auth_headers(o.http))
        session = self.session
        own = session is None
        if session is None:
            session = aiohttp.ClientSession()
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout_ms / 1000)
            ssl = ssl_context(o.http.tls_config) if o.http is not None else None
            async with session.get(
                url,
                headers=headers,
                timeout=timeout,
                ssl=ssl if ssl is not None else True,
                allow_redirects=o.http.follow_redirects if o.http is not None else True,
            ) as resp:
                if resp.status != 200:
                    raise ScrapeError(f"server returned HTTP status {resp.status} {resp.reason}")
                limit = o.body_size_limit
                if limit > 0:
                    chunks = []
                    size = 0
                    async for chunk in resp.content.iter_chunked(1 << 16):
                        size += len(chunk)
                        if size > limit:
                            raise ScrapeError(f"body size limit exceeded: {limit} bytes")
                        chunks.append(chunk)
                    body = b"".join(chunks)
                else:
                    body = await resp.read()
                return body, resp.headers.get("Content-Type", "")
        except TimeoutError:
            raise ScrapeError(f'Get "{url}": context deadline exceeded') from None
        except aiohttp.ClientError as e:
            raise ScrapeError(f'Get "{url}": {e}') from None
        finally:
            if own:
                await session.close()

    # ------------------------------------------------------------------ append

    def _mutate(self, lset: Labels) -> Labels | None:
        """Target labels + ``metric_relabel_configs`` for a new series (Prometheus's ``mutateSampleLabels``)."""
        lb = LabelsBuilder(lset)
        if self.opts.honor_labels:
            for k, v in self._public.pairs:
                if not lset.has(k):
                    lb.set(k, v)
        else:
            conflicts = []
            for k, v in self._public.pairs:
                ev = lset.get(k)
                if ev != "":
                    conflicts.append((k, ev))
                lb.set(k, v)
            conflicts.sort(key=lambda p: len(p[0]))
            for k, ev in conflicts:
                name = k
                while True:
                    name = "exported_" + name
                    if lb.get(name) == "":
                        lb.set(name, ev)
                        break
        res = lb.labels()
        if self.opts.metric_relabel_configs:
            r = relabel(res, self.opts.metric_relabel_configs)
            if r is None:
                return None
            res = r
        if len(res) == 0:
            return None
        return res

    def _check_new(self, lset: Labels) -> None:
        o = self.opts
        if not lset.has(METRIC_NAME):
            raise ScrapeError("missing metric name (__name__ label)")
        for k, _ in lset.pairs:
            if _LABEL_NAME_RE.fullmatch(k) is None:
                raise ScrapeError(f"invalid metric name or label names: {lset}")
        met = lset.get(METRIC_NAME)
        if o.label_limit > 0 and len(lset) > o.label_limit:
            raise ScrapeError(
                f"label_limit exceeded (metric: {met[:50]}, number of labels: {len(lset)}, limit: {o.label_limit})"
            )
        for k, v in lset.pairs:
            if o.label_name_length_limit > 0 and len(k) > o.label_name_length_limit:
                raise ScrapeError(
                    f"label_name_length_limit exceeded (metric: {met[:50]}, label name: {k[:50]}, "
                    f"length: {len(k)}, limit: {o.label_name_length_limit})"
                )
            if o.label_value_length_limit > 0 and len(v) > o.label_value_length_limit:
                from tsdb.labels import quote

                raise ScrapeError(
                    f"label_value_length_limit exceeded (metric: {met[:50]}, label name: {k[:50]}, "
                    f"value: {quote(v[:50])}, length: {len(v)}, limit: {o.label_value_length_limit})"
                )

    def append(self, app: Appender, body: bytes, content_type: str, ts_ms: int) -> tuple[int, int, int]:
        """Append one payload; returns ``(total, added, series added)``.

        Raises :class:`_AppendFailed` (the caller rolls back and appends an
        empty scrape). An empty ``body`` is an empty scrape: every series of
        the previous scrape gets a stale marker and the cache is flushed.
        """
        c = self.cache
        c.iter += 1
        if not body:
            self._stale(app, _EMPTY_I64, ts_ms)
            c.reset()
            self._meta_expire()
            return 0, 0, 0
        om = is_openmetrics(content_type)
        vals = None
        layout = c.layout
        if layout is not None and layout.om == om and c.layout_ct == content_type:
            vals = layout.match(body)
        if vals is not None:
            slots = c.layout_slots
            refs = c.slot_ref[slots]
            explicit = None
            ts = None
            new_from = len(c.slot_keys)
            meta = None
        else:
            try:
                res = c.parser.parse(body, content_type=content_type, default_timestamp_ms=None)
            except ExpositionError as e:
                raise _AppendFailed(str(e), _samples_before(body, e.lineno)) from None
            keys = res.series
            idx = c.idx
            new_from = len(c.slot_keys)
            try:
                got = _itemgetter_slots(idx, keys)
            except KeyError:
                got = None
            if got is None:
                slot_list = []
                sappend = slot_list.append
                iget = idx.get
                for i, k in enumerate(keys):
                    s = iget(k)
                    if s is None:
                        s = self._new_series(app, k, res.labels[i], len(keys))
                    sappend(s)
                slots = np.array(slot_list, dtype=np.int64)
            else:
                slots = got
            refs = c.slot_ref[slots]
            ts = res.timestamps
            explicit = ts != NO_TIMESTAMP
            if not explicit.any():
                explicit = None
                ts = None
            elif not self.opts.honor_timestamps:
                explicit = None
                ts = None
            vals = res.values
            meta = res.metadata
            if explicit is None and not res.exemplars:
                lay = Layout.build(body, res, om)
            else:
                lay = None
        total = len(slots)
        keep = refs != 0
        n_keep = int(np.count_nonzero(keep))
        if self.opts.sample_limit > 0 and n_keep > self.opts.sample_limit:
            raise _AppendFailed("sample limit exceeded", total)
        if n_keep == total:
            krefs, kvals = refs, vals
            kts = np.full(total, ts_ms, dtype=np.int64) if ts is None else np.where(explicit, ts, ts_ms)
        else:
            krefs, kvals = refs[keep], vals[keep]
            if ts is None:
                kts = np.full(n_keep, ts_ms, dtype=np.int64)
            else:
                kts = np.where(explicit, ts, ts_ms)[keep]
        ok = app.append_batch(krefs, kts, kvals)
        series_added = 0
        if new_from < len(c.slot_keys):
            kslots = slots[keep] if n_keep != total else slots
            series_added = int(np.count_nonzero((kslots >= new_from) & ok))
        # Staleness: refs scraped now (explicit timestamps only if tracked).
        if vals is not None and meta is None:
            cur = c.layout_refs
        else:
            tracked = keep if explicit is None or self.opts.track_timestamps_staleness else keep & ~explicit
            cur = np.unique(refs[tracked])
        if cur is not c.prev_refs:
            self._stale(app, cur, ts_ms)
        c.prev_refs = cur
        if meta is not None:
            # Flush keys not seen in this scrape, then remember the layout for the next one.
            slots = c.keep_only(slots)
            if lay is not None:
                c.layout = lay
                c.layout_slots = slots
                c.layout_refs = cur
                c.layout_ct = content_type
                c.prev_refs = cur
            else:
                c.layout = None
            now = c.iter
            for name, md in meta.items():
                c.metadata[name] = (md, now)
            self._meta_expire()
        else:
            now = c.iter
            for name, (md, _) in list(c.metadata.items()):
                c.metadata[name] = (md, now)
        return total, n_keep, series_added

    def _meta_expire(self) -> None:
        c = self.cache
        for name, (_, it) in list(c.metadata.items()):
            if c.iter - it > 10:
                del c.metadata[name]

    def _new_series(self, app: Appender, key: str, lset: Labels, n: int) -> int:
        c = self.cache
        mutated = self._mutate(lset)
        if mutated is None:
            return c.add(key, 0)
        try:
            self._check_new(mutated)
        except ScrapeError as e:
            raise _AppendFailed(str(e), n) from None
        return c.add(key, app.ref_for(mutated))

    def _stale(self, app: Appender, cur: np.ndarray, ts_ms: int) -> None:
        prev = self.cache.prev_refs
        if not len(prev):
            return
        gone = np.setdiff1d(prev, cur, assume_unique=True) if len(cur) else prev
        if len(gone):
            app.append_batch(gone, np.full(len(gone), ts_ms, dtype=np.int64), np.full(len(gone), STALE_NAN))
        self.cache.prev_refs = cur

    # ------------------------------------------------------------------ report

    def _report_names(self) -> list[str]:
        names = [
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added",
        ]
        if self.opts.extra_scrape_metrics:
            names += ["scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"]
        return names

    def _report_refs(self, app: Appender) -> np.ndarray:
        c = self.cache
        out = []
        for name in self._report_names():
            ref = c.report_refs.get(name)
            if ref is None:
                lb = LabelsBuilder(self._public)
                lb.set(METRIC_NAME, name)
                ref = c.report_refs[name] = app.ref_for(lb.labels())
            out.append(ref)
        return np.array(out, dtype=np.int64)

    def report(
        self,
        app: Appender,
        ts_ms: int,
        duration_s: float,
        total: int,
        added: int,
        series_added: int,
        body_size: int,
        err: str | None,
    ) -> None:
        vals = [1.0 if err is None else 0.0, duration_s, float(total), float(added), float(series_added)]
        if self.opts.extra_scrape_metrics:
            vals += [self.timeout_ms / 1000, float(self.opts.sample_limit), float(body_size)]
        refs = self._report_refs(app)
        app.append_batch(refs, np.full(len(refs), ts_ms, dtype=np.int64), np.array(vals, dtype=np.float64))

    def report_stale(self, app: Appender, ts_ms: int) -> None:
        refs = self._report_refs(app)
        app.append_batch(refs, np.full(len(refs), ts_ms, dtype=np.int64), np.full(len(refs), STALE_NAN))

    # ------------------------------------------------------------------ one scrape

    async def scrape_and_report(self, ts_ms: int) -> None:
        """One scrape at ``ts_ms`` (its sample timestamp): fetch, append, report, commit."""
        start = self.clock()
        t = self.target
        err: str | None = None
        body = b""
        ct = ""
        if self.forced_error is not None:
            err = self.forced_error
        else:
            try:
                body, ct = await self.fetch()
            except ScrapeError as e:
                err = str(e)
        body_size = -1 if err is not None and "body size limit" in err else len(body)
        app = self.appendable.appender()
        try:
            total, added, series_added = await self._append_maybe_thread(app, body, ct, ts_ms)
        except _AppendFailed as e:
            app.rollback()
            app = self.appendable.appender()
            total, added, series_added = e.total, 0, 0
            self.append(app, b"", "", ts_ms)
            if err is None:
                err = str(e)
        except Exception as e:  # storage trouble: fail this scrape, keep the loop
            log.exception("append failed for %s", t.url())
            app.rollback()
            app = self.appendable.appender()
            self.cache.reset()
            total, added, series_added = 0, 0, 0
            if err is None:
                err = f"append failed: {e}"
        duration = self.clock() - start
        self.report(app, ts_ms, duration, total, added, series_added, body_size, err)
        app.commit()
        t.health = "up" if err is None else "down"
        t.last_error = err or ""
        t.last_scrape = start
        t.last_scrape_duration = duration
        t.metadata = {k: md for k, (md, _) in self.cache.metadata.items()}
        self.last_scrape_ms = ts_ms
        if err is not None:
            log.debug("scrape of %s failed: %s", t.url(), err)

    async def _append_maybe_thread(
        self, app: Appender, body: bytes, ct: str, ts_ms: int
    ) -> tuple[int, int, int]:
        if len(body) < (1 << 20):
            return self.append(app, body, ct, ts_ms)
        return await asyncio.to_thread(self.append, app, body, ct, ts_ms)

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Scrape every interval until :meth:`stop`; then maybe write end-of-run stale markers."""
        iv = self.interval_ms
        now_ms = int(self.clock() * 1000)
        off = self.target.offset_ms(iv, now_ms, self.offset_seed)
        if await self._wait(off / 1000):
            return
        aligned = int(self.clock() * 1000)
        next_tick = self.clock() + iv / 1000
        tolerance = min(iv // 100, SCRAPE_TIMESTAMP_TOLERANCE_MS)
        while True:
            scrape_ms = int(self.clock() * 1000)
            while scrape_ms - aligned >= iv:
                aligned += iv
            if scrape_ms - aligned <= tolerance:
                scrape_ms = aligned
            try:
                await self.scrape_and_report(scrape_ms)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scrape loop of %s", self.target.url())
            now = self.clock()
            while next_tick <= now:
                next_tick += iv / 1000
            if await self._wait(next_tick - now):
                break
        if self.end_of_run_staleness and self.last_scrape_ms:
            await self._end_of_run_staleness(next_tick)

    async def _wait(self, seconds: float) -> bool:
        """Sleep; True if stopped meanwhile."""
        if self._stop.is_set():
            return True
        sleeper = asyncio.ensure_future(self.sleep(max(seconds, 0.0)))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait([sleeper, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        return self._stop.is_set()

    async def _end_of_run_staleness(self, next_tick: float) -> None:
        iv = self.interval_ms / 1000
        await self.sleep(max(next_tick - self.clock(), 0.0))
        stale_ms = int(self.clock() * 1000)
        await self.sleep(iv + iv / 10)
        if not self.end_of_run_staleness:
            return
        self.write_end_of_run_staleness(stale_ms)

    def write_end_of_run_staleness(self, ts_ms: int) -> None:
        """Stale markers for every series of the last scrape and the synthetic series."""
        app = self.appendable.appender()
        self.append(app, b"", "", ts_ms)
        self.report_stale(app, ts_ms)
        app.commit()

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self.run())
        return self._task

    def stop(self, *, end_of_run_staleness: bool = True) -> asyncio.Task[None] | None:
        """Stop scraping; with ``end_of_run_staleness`` the task goes on to write the markers."""
        if not end_of_run_staleness:
            self.end_of_run_staleness = False
        self._stop.set()
        return self._task


def _itemgetter_slots(idx: dict[str, int], keys: list[str]) -> np.ndarray | None:
    """Slots of ``keys`` if all are cached (one C-level lookup pass), else raises KeyError."""
    if not keys:
        return np.zeros(0, dtype=np.int64)
    if len(keys) == 1:
        return np.array([idx[keys[0]]], dtype=np.int64)
    from operator import itemgetter

    return np.fromiter(itemgetter(*keys)(idx), dtype=np.int64, count=len(keys))


def _samples_before(body: bytes, lineno: int) -> int:
    """Sample lines before line ``lineno`` (what Prometheus reports as scraped on a parse error)."""
    n = 0
    for i, line in enumerate(body.split(b"\n", lineno)[: max(lineno - 1, 0)]):
        del i
        s = line.lstrip()
        if s and not s.startswith(b"#"):
            n += 1
    return n


def _fmt_float(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``."""
    r = repr(float(v))
    if "e" in r:
        return f"{v:f}".rstrip("0").rstrip(".")
    return r[:-2] if r.endswith(".0") else r
