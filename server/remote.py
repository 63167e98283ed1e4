"""Remote write 1.0 (receiver and sender) and remote read (sampled), as Prometheus.

* ``POST /api/v1/write`` (with ``--web.enable-remote-write-receiver``): a
  snappy-compressed ``WriteRequest`` decoded into numpy arrays
  (:mod:`server._proto`) and appended with ``Appender.append_batch``. As
  Prometheus: out-of-order/duplicate/out-of-bounds samples fail the request
  with 400 (nothing is committed) so senders do not retry; series with invalid
  labels are skipped and reported with 400 after the rest is committed;
  malformed bodies get 400 and a message.
* ``POST /api/v1/read``: ``ReadRequest`` queries answered with a sampled
  ``ReadResponse`` (``STREAMED_XOR_CHUNKS`` is not offered). Matchers on
  external labels are dropped and external labels added to the results.
* ``remote_write`` in the config: :class:`RemoteWriteManager` runs one queue
  per endpoint. Samples reach it through :class:`FanoutAppendable`, which tees
  every committed append (scrapes, rules, remote-write receiver) to the queues
  after external labels and ``write_relabel_configs`` are applied; batches of
  ``max_samples_per_send`` go out after at most ``batch_send_deadline``, with
  retries and exponential backoff on 5xx (and 429 with ``retry_on_http_429``)
  and connection errors, and are dropped on other 4xx. Unlike Prometheus the
  queue is not backed by the WAL: a full queue drops samples (counted), and a
  restart loses what was not yet sent. The shard count is fixed at
  ``max(min_shards, 1)`` (series are hashed to shards to keep their order).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import cramjam
import numpy as np
from aiohttp import ClientError, ClientSession, ClientTimeout, web

from scraper.config import RemoteWriteConfig, relabel
from tsdb.interface import Appendable, Appender, Labels, StorageError
from tsdb.matchers import InvalidMatcherError, Matcher, MatchType

from ._proto import (
    ProtoError,
    WriteBatch,
    decode_read_request,
    decode_write_request,
    encode_read_response,
    encode_timeseries,
    encode_write_request,
)

__all__ = [
    "FanoutAppendable",
    "RemoteWriteManager",
    "handle_read",
    "handle_write",
    "snappy_compress",
    "snappy_decompress",
]

log = logging.getLogger("heron.remote")

MAX_COMPRESSED_BYTES = 64 << 20
MAX_DECODED_BYTES = 256 << 20
USER_AGENT = "Heron/0.1.0"


class RemoteError(ValueError):
    """A bad remote write/read request (answered with 400)."""


def snappy_compress(data: bytes) -> bytes:
    return bytes(cramjam.snappy.compress_raw(data))


def _snappy_decoded_len(data: bytes) -> int:
    n = shift = 0
    for i, b in enumerate(data[:10]):
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return n
        shift += 7
        if i == 9:
            break
    raise RemoteError("snappy: corrupt input")


def snappy_decompress(data: bytes, limit: int = MAX_DECODED_BYTES) -> bytes:
    """Decode a snappy block; RemoteError for corrupt input or a decoded size above ``limit``."""
    if not data:
        return b""
    n = _snappy_decoded_len(data)
    if n > limit:
        raise RemoteError(f"snappy: decoded block is too large ({n} bytes, limit {limit})")
    try:
        return bytes(cramjam.snappy.decompress_raw(data))
    except Exception as e:  # cramjam raises DecompressionError
        raise RemoteError(str(e) if "snappy" in str(e) else f"snappy: corrupt input: {e}") from None


async def read_body(request: web.Request, limit: int = MAX_COMPRESSED_BYTES) -> bytes:
    """The request body, refusing (RemoteError) more than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise RemoteError(f"request body too large: {request.content_length} bytes (limit {limit})")
    chunks = []
    total = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        total += len(chunk)
        if total > limit:
            raise RemoteError(f"request body too large: more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# =========================================================================== receiver


def append_write_batch(appendable: Appendable, batch: WriteBatch) -> None:
    """Append a decoded write request in one transaction; raise StorageError/RemoteError on rejection."""
    app: Appender = appendable.appender()
    try:
        if len(batch.ts):
            valid = np.array([len(ls) > 0 for ls in batch.labels], dtype=bool)
            valid &= np.bincount(batch.series, minlength=len(batch.labels)) > 0  # no empty series
            refs_by_series = np.zeros(len(batch.labels), dtype=np.int64)
            for i in np.flatnonzero(valid).tolist():
                refs_by_series[i] = app.ref_for(batch.labels[i])
            keep = valid[batch.series]
            refs = refs_by_series[batch.series[keep]]
            ts, vals = batch.ts[keep], batch.vals[keep]
            ok = app.append_batch(refs, ts, vals)
            if not ok.all():
                i = int(np.flatnonzero(~ok)[0])
                err: Exception = StorageError("out of order sample")
                try:
                    app.append(int(refs[i]), None, int(ts[i]), float(vals[i]))
                except StorageError as e:
                    err = e
                raise err
    except BaseException:
        app.rollback()
        raise
    app.commit()


async def handle_write(request: web.Request) -> web.StreamResponse:
    """``POST /api/v1/write``: remote write 1.0 receiver."""
    from .app import STATE

    st = request.app[STATE]
    if not st.flags.enable_remote_write_receiver:
        return web.Response(
            status=404,
            text="remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n",
        )
    ctype = request.headers.get("Content-Type", "")
    if "io.prometheus.write.v2.Request" in ctype:
        return web.Response(
            status=415,
            text="prometheus.WriteRequest protobuf message is the only one supported (remote write 1.0)\n",
        )
    try:
        body = await read_body(request)
        loop = asyncio.get_running_loop()

        def work() -> WriteBatch:
            batch = decode_write_request(snappy_decompress(body))
            append_write_batch(st.appendable, batch)
            return batch

        batch = await loop.run_in_executor(st.executor, work)
    except (RemoteError, ProtoError) as e:
        log.debug("bad remote write request: %s", e)
        return web.Response(status=400, text=f"{e}\n")
    except StorageError as e:
        return web.Response(status=400, text=f"{e}\n")
    st.metrics.remote_write_received(len(batch.ts), len(batch.labels))
    if batch.errors:
        msg = f"{len(batch.errors)} series with invalid labels skipped: {batch.errors[0]}"
        return web.Response(status=400, text=msg + "\n")
    return web.Response(status=204)


# =========================================================================== remote read


def _matchers(spec: Sequence[tuple[str, str, str]]) -> list[Matcher]:
    out = []
    for op, name, value in spec:
        try:
            out.append(Matcher(MatchType(op), name, value))
        except InvalidMatcherError as e:
            raise RemoteError(str(e)) from None
    return out


def answer_read(storage: Any, body: bytes, external: Labels, sample_limit: int) -> bytes:
    """The (uncompressed) ``ReadResponse`` for a (decompressed) ``ReadRequest``."""
    queries, types = decode_read_request(body)
    if types and 0 not in types:
        raise RemoteError(
            f"server does not support any of the requested response types: {types}; supported: [SAMPLES]"
        )
    ext = dict(external.pairs)
    results = []
    total = 0
    for q in queries:
        ms = [
            m for m in _matchers(q.matchers) if not (m.type is MatchType.EQUAL and ext.get(m.name) == m.value)
        ]
        labels: list[Labels] = []
        series_idx: list[np.ndarray] = []
        tss: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        querier = storage.querier(q.start_ms, q.end_ms)
        try:
            for s in querier.select(ms, None, True):
                if not len(s.ts):
                    continue
                total += len(s.ts)
                if sample_limit and total > sample_limit:
                    raise RemoteError(f"exceeded sample limit ({sample_limit})")
                ls = s.labels
                if ext:
                    b = ls.builder()
                    for k, v in ext.items():
                        if not ls.has(k):
                            b.set(k, v)
                    ls = b.labels()
                series_idx.append(np.full(len(s.ts), len(labels), dtype=np.int64))
                labels.append(ls)
                tss.append(s.ts)
                vals.append(s.vals)
        finally:
            querier.close()
        if labels:
            results.append(
                encode_timeseries(
                    labels, np.concatenate(series_idx), np.concatenate(tss), np.concatenate(vals)
                )
            )
        else:
            results.append(b"")
    return encode_read_response(results)


async def handle_read(request: web.Request) -> web.StreamResponse:
    """``POST /api/v1/read``: remote read with sampled responses."""
    from .app import STATE

    st = request.app[STATE]
    try:
        body = await read_body(request)
        loop = asyncio.get_running_loop()

        def work() -> bytes:
            return snappy_compress(
                answer_read(
                    st.storage,
                    snappy_decompress(body),
                    st.config.external_labels,
                    st.flags.remote_read_sample_limit,
                )
            )

        out = await loop.run_in_executor(st.executor, work)
    except (RemoteError, ProtoError) as e:
        return web.Response(status=400, text=f"{e}\n")
    return web.Response(
        body=out,
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"},
    )


# =========================================================================== sender


class _Shard:
    def __init__(self) -> None:
        self.labels: list[Labels] = []
        self.index: dict[Labels, int] = {}
        self.series: list[np.ndarray] = []
        self.ts: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.pending = 0
        self.first_at: float | None = None

    def add(
        self, labels: list[Labels], series: np.ndarray, ts: np.ndarray, vals: np.ndarray, now: float
    ) -> None:
        local = np.empty(len(labels), dtype=np.int64)
        for i, ls in enumerate(labels):
            j = self.index.get(ls)
            if j is None:
                j = self.index[ls] = len(self.labels)
                self.labels.append(ls)
            local[i] = j
        self.series.append(local[series])
        self.ts.append(ts)
        self.vals.append(vals)
        self.pending += len(ts)
        if self.first_at is None:
            self.first_at = now

    def take(self, n: int) -> tuple[list[Labels], np.ndarray, np.ndarray, np.ndarray]:
        series = np.concatenate(self.series)
        ts = np.concatenate(self.ts)
        vals = np.concatenate(self.vals)
        head, rest = slice(0, n), slice(n, None)
        out_s, out_t, out_v = series[head], ts[head], vals[head]
        if len(ts) > n:
            self.series, self.ts, self.vals = [series[rest]], [ts[rest]], [vals[rest]]
            self.pending = len(ts) - n
        else:
            self.series, self.ts, self.vals = [], [], []
            self.pending = 0
            self.first_at = None
        labels = self.labels
        if not self.pending:
            self.labels, self.index = [], {}
        return labels, out_s, out_t, out_v


class QueueManager:
    """One ``remote_write`` endpoint: relabel, batch, send with retries."""

    def __init__(
        self,
        cfg: RemoteWriteConfig,
        external_labels: Labels,
        metrics: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.queue_name()
        self.external = external_labels
        self.metrics = metrics
        self.clock = clock
        q = cfg.queue_config
        self.n_shards = max(1, q.min_shards)
        self.max_batch = max(1, q.max_samples_per_send)
        self.capacity = max(q.capacity, self.max_batch) * max(self.n_shards, 1) * 4
        self.shards = [_Shard() for _ in range(self.n_shards)]
        self._relabel_cache: dict[Labels, Labels | None] = {}
        self._lock = threading.Lock()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._session: ClientSession | None = None
        self.samples_sent = 0
        self.samples_dropped = 0
        self.samples_failed = 0
        self.samples_retried = 0
        self.batches_sent = 0
        self.highest_sent_ts = 0

    # ---- ingest (any thread) -------------------------------------------------------

    def _process(self, ls: Labels) -> Labels | None:
        if ls in self._relabel_cache:
            return self._relabel_cache[ls]
        b = ls.builder()
        for k, v in self.external.pairs:
            if not ls.has(k):
                b.set(k, v)
        res: Labels | None = b.labels()
        if self.cfg.write_relabel_configs and res is not None:
            res = relabel(res, self.cfg.write_relabel_configs)
            if res is not None and not len(res):
                res = None
        if len(self._relabel_cache) > 500_000:
            self._relabel_cache.clear()
        self._relabel_cache[ls] = res
        return res

    def enqueue(self, labels: Sequence[Labels], series: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> None:
        """Queue samples (``labels[series[i]]`` owns sample i); thread-safe, never blocks."""
        if not len(ts):
            return
        with self._lock:
            out_labels: list[Labels | None] = [self._process(ls) for ls in labels]
            keep_series = np.array([x is not None for x in out_labels], dtype=bool)
            keep = keep_series[series]
            if not keep.all():
                series, ts, vals = series[keep], ts[keep], vals[keep]
            if not len(ts):
                return
            total = sum(s.pending for s in self.shards)
            if total + len(ts) > self.capacity:
                self.samples_dropped += len(ts)
                if self.metrics is not None:
                    self.metrics.remote_dropped(self.name, len(ts))
                return
            now = self.clock()
            # Shard by series hash (per-series order preserved), stable order inside.
            h = np.array(
                [hash(x) % self.n_shards if x is not None else 0 for x in out_labels], dtype=np.int64
            )
            sample_shard = h[series]
            lbls = [x if x is not None else Labels(()) for x in out_labels]
            for k in range(self.n_shards):
                m = sample_shard == k if self.n_shards > 1 else slice(None)
                s_ts = ts[m]
                if len(s_ts):
                    self.shards[k].add(lbls, series[m], s_ts, vals[m], now)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self.shards)

    # ---- sending (event loop) ------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        timeout = ClientTimeout(total=self.cfg.remote_timeout / 1000)
        self._session = ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT})
        self._tasks = [asyncio.create_task(self._run_shard(k)) for k in range(self.n_shards)]

    async def stop(self, flush_deadline_s: float = 5.0) -> None:
        """Flush what is queued (within ``flush_deadline_s``), then close."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=flush_deadline_s)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run_shard(self, k: int) -> None:
        shard = self.shards[k]
        deadline_s = self.cfg.queue_config.batch_send_deadline / 1000
        while True:
            with self._lock:
                pending = shard.pending
                first = shard.first_at
            if pending == 0:
                if self._stopping:
                    return
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=deadline_s)
                except TimeoutError:
                    pass
                continue
            due = (
                pending >= self.max_batch
                or self._stopping
                or (first is not None and self.clock() - first >= deadline_s)
            )
            if not due:
                wait = max(0.0, deadline_s - (self.clock() - (first or self.clock())))
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=min(wait, deadline_s))
                except TimeoutError:
                    pass
                continue
            with self._lock:
                labels, series, ts, vals = shard.take(self.max_batch)
            await self._send(labels, series, ts, vals)

    def _encode(self, labels: list[Labels], series: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> bytes:
        order = np.lexsort((ts, series))
        return snappy_compress(encode_write_request(labels, series[order], ts[order], vals[order]))

    async def _send(self, labels: list[Labels], series: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> None:
        body = await asyncio.to_thread(self._encode, labels, series, ts, vals)
        headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
            **self.cfg.headers,
        }
        auth = self.cfg.http.auth_header()
        if auth:
            headers["Authorization"] = auth
        q = self.cfg.queue_config
        backoff = q.min_backoff / 1000
        n = len(ts)
        t0 = time.monotonic()
        while True:
            assert self._session is not None
            retry = False
            try:
                async with self._session.post(
                    self.cfg.url or "", data=body, headers=headers, ssl=_ssl_arg(self.cfg)
                ) as resp:
                    text = await resp.text(errors="replace")
                    if resp.status // 100 == 2:
                        self.samples_sent += n
                        self.batches_sent += 1
                        self.highest_sent_ts = max(self.highest_sent_ts, int(ts.max()))
                        if self.metrics is not None:
                            self.metrics.remote_sent(
                                self.name, self.cfg.url or "", n, time.monotonic() - t0, self.highest_sent_ts
                            )
                        return
                    if resp.status // 100 == 5 or (resp.status == 429 and q.retry_on_http_429):
                        retry = True
                        log.warning(
                            "remote write %s: server returned HTTP %d: %s (retrying)",
                            self.name,
                            resp.status,
                            text.strip(),
                        )
                    else:
                        log.error(
                            "remote write %s: non-recoverable HTTP %d: %s",
                            self.name,
                            resp.status,
                            text.strip(),
                        )
            except (TimeoutError, OSError, ClientError) as e:
                retry = True
                log.warning("remote write %s: %s (retrying)", self.name, e)
            if not retry:
                self.samples_failed += n
                if self.metrics is not None:
                    self.metrics.remote_failed(self.name, n)
                return
            self.samples_retried += n
            if self.metrics is not None:
                self.metrics.remote_retried(self.name, n)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, q.max_backoff / 1000)


def _ssl_arg(cfg: RemoteWriteConfig) -> Any:
    tls = cfg.http.tls_config
    if not (tls.insecure_skip_verify or tls.ca_file or tls.cert_file):
        return None
    import ssl

    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class RemoteWriteManager:
    """All ``remote_write`` queues; ``apply_config`` swaps them on reload."""

    def __init__(self, metrics: Any = None) -> None:
        self.metrics = metrics
        self.queues: list[QueueManager] = []
        self._started = False

    @property
    def active(self) -> bool:
        return bool(self.queues)

    async def apply_config(self, configs: Sequence[RemoteWriteConfig], external_labels: Labels) -> None:
        """Replace the queues (old ones are flushed and stopped)."""
        old = self.queues
        new = [QueueManager(c, external_labels, self.metrics) for c in configs]
        if self._started:
            for q in new:
                await q.start()
        self.queues = new
        for q in old:
            await q.stop()

    async def start(self) -> None:
        self._started = True
        for q in self.queues:
            await q.start()

    async def stop(self, flush_deadline_s: float = 60.0) -> None:
        """Flush every queue for at most ``flush_deadline_s`` (``--storage.remote.flush-deadline``)."""
        self._started = False
        await asyncio.gather(*(q.stop(flush_deadline_s) for q in self.queues))

    def enqueue(self, labels: Sequence[Labels], series: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> None:
        for q in self.queues:
            q.enqueue(labels, series, ts, vals)


# =========================================================================== fanout


class _TeeAppender:
    def __init__(self, outer: FanoutAppendable, inner: Appender) -> None:
        self._o = outer
        self._inner = inner
        self._refs: list[np.ndarray] = []
        self._ts: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._one: list[tuple[int, int, float]] = []

    def ref_for(self, labels: Labels) -> int:
        ref = self._inner.ref_for(labels)
        if self._o.manager.active and self._o.head is None:
            self._o.labels_by_ref[ref] = labels
        return ref

    def append(self, ref: int | None, labels: Labels | None, t: int, v: float) -> int:
        r = self._inner.append(ref, labels, t, v)
        if self._o.manager.active:
            if labels is not None and self._o.head is None:
                self._o.labels_by_ref[r] = labels
            self._one.append((r, t, v))
        return r

    def append_batch(self, refs: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> np.ndarray:
        ok = self._inner.append_batch(refs, ts, vals)
        if self._o.manager.active:
            self._refs.append(np.asarray(refs)[ok])
            self._ts.append(np.asarray(ts)[ok])
            self._vals.append(np.asarray(vals)[ok])
        return ok

    def commit(self) -> None:
        self._inner.commit()
        if self._one:
            r, t, v = zip(*self._one, strict=True)
            self._refs.append(np.array(r, dtype=np.int64))
            self._ts.append(np.array(t, dtype=np.int64))
            self._vals.append(np.array(v, dtype=np.float64))
        if self._refs and self._o.manager.active:
            self._o.forward(np.concatenate(self._refs), np.concatenate(self._ts), np.concatenate(self._vals))
        self._reset()

    def rollback(self) -> None:
        self._inner.rollback()
        self._reset()

    def _reset(self) -> None:
        self._refs, self._ts, self._vals, self._one = [], [], [], []


class FanoutAppendable:
    """An ``Appendable`` that writes to ``storage`` and forwards committed samples to remote write."""

    def __init__(self, storage: Appendable, manager: RemoteWriteManager) -> None:
        self.storage = storage
        self.manager = manager
        # The TSDB head maps refs back to labels; other storages get a map kept here.
        self.head = getattr(storage, "head", None)
        self.labels_by_ref: dict[int, Labels] = {}

    def appender(self) -> _TeeAppender:
        return _TeeAppender(self, self.storage.appender())

    def forward(self, refs: np.ndarray, ts: np.ndarray, vals: np.ndarray) -> None:
        if not len(refs):
            return
        uniq, inv = np.unique(refs, return_inverse=True)
        labels: list[Labels] = []
        lookup = self.labels_by_ref
        head = self.head
        for r in uniq.tolist():
            ls = head.labels_of(r) if head is not None else lookup.get(r)
            labels.append(ls if ls is not None else Labels(()))
        order = np.argsort(inv, kind="stable")
        self.manager.enqueue(labels, inv[order].astype(np.int64), ts[order], vals[order])
