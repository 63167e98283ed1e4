"""The server's own metrics (``/metrics``) under Prometheus's metric names.

A private ``prometheus_client`` registry holds the process collectors, HTTP
request counters/histograms (``prometheus_http_*``, recorded by
:func:`middleware`), query durations (``prometheus_engine_*``), config reload
and remote-storage counters, plus a collector that reads the TSDB at scrape
time (``prometheus_tsdb_head_*``, ``prometheus_tsdb_wal_*``, blocks, retention).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

__all__ = ["ServerMetrics", "handle_metrics", "middleware"]

VERSION = "0.1.0"

_DURATION_BUCKETS = (0.1, 0.2, 0.4, 1, 3, 8, 20, 60, 120)


class _TSDBCollector:
    """Reads head, WAL and block statistics from the storage when scraped."""

    def __init__(self, storage_fn: Callable[[], Any]) -> None:
        self._storage_fn = storage_fn

    def collect(self) -> Iterator[Metric]:
        st = self._storage_fn()
        head = getattr(st, "head", None)
        if head is not None:
            s = head.stats
            yield GaugeMetricFamily(
                "prometheus_tsdb_head_series", "Total number of series in the head block.", value=len(head)
            )
            c = CounterMetricFamily(
                "prometheus_tsdb_head_samples_appended",
                "Total number of appended samples.",
                labels=["type"],
            )
            c.add_metric(["float"], s.samples_appended)
            yield c
            yield CounterMetricFamily(
                "prometheus_tsdb_head_series_created",
                "Total number of series created in the head",
                value=s.series_created,
            )
            yield CounterMetricFamily(
                "prometheus_tsdb_head_series_removed",
                "Total number of series removed in the head",
                value=s.series_removed,
            )
            yield GaugeMetricFamily(
                "prometheus_tsdb_head_chunks",
                "Total number of chunks in the head block.",
                value=max(0, s.chunks_created - s.chunks_removed),
            )
            yield CounterMetricFamily(
                "prometheus_tsdb_head_chunks_created",
                "Total number of chunks created in the head",
                value=s.chunks_created,
            )
            oo = CounterMetricFamily(
                "prometheus_tsdb_out_of_order_samples",
                "Total number of out of order samples ingestion failed attempts.",
                labels=["type"],
            )
            oo.add_metric(["float"], s.out_of_order_samples)
            yield oo
            ob = CounterMetricFamily(
                "prometheus_tsdb_out_of_bound_samples",
                "Total number of out of bound samples ingestion failed attempts.",
                labels=["type"],
            )
            ob.add_metric(["float"], s.out_of_bounds_samples)
            yield ob
            ts = CounterMetricFamily(
                "prometheus_tsdb_too_old_samples",
                "Total number of out of order samples ingestion failed attempts.",
                labels=["type"],
            )
            ts.add_metric(["float"], s.too_old_samples)
            yield ts
            if len(head) and head.max_time >= head.min_time:
                yield GaugeMetricFamily(
                    "prometheus_tsdb_head_min_time",
                    "Minimum time bound of the head block.",
                    value=head.min_time,
                )
                yield GaugeMetricFamily(
                    "prometheus_tsdb_head_max_time",
                    "Maximum timestamp of the head block.",
                    value=head.max_time,
                )
                yield GaugeMetricFamily(
                    "prometheus_tsdb_head_min_time_seconds",
                    "Minimum time bound of the head block.",
                    value=head.min_time / 1000,
                )
                yield GaugeMetricFamily(
                    "prometheus_tsdb_head_max_time_seconds",
                    "Maximum timestamp of the head block.",
                    value=head.max_time / 1000,
                )
        wal = getattr(st, "wal", None)
        if wal is not None:
            try:
                _first, last = wal.segment_range()
                yield GaugeMetricFamily(
                    "prometheus_tsdb_wal_segment_current",
                    "Write log segment index that TSDB is currently writing to.",
                    value=last,
                )
                yield GaugeMetricFamily(
                    "prometheus_tsdb_wal_storage_size_bytes",
                    "Size of the write log directory.",
                    value=wal.size_bytes(),
                )
            except Exception:  # noqa: BLE001 - metrics must not break scrapes
                pass
        blocks = getattr(st, "blocks", None)
        if callable(blocks):
            try:
                bl = blocks()
                yield GaugeMetricFamily(
                    "prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks", value=len(bl)
                )
                yield GaugeMetricFamily(
                    "prometheus_tsdb_storage_blocks_bytes",
                    "The number of bytes that are currently used for local storage by all blocks.",
                    value=sum(b.size_bytes() for b in bl),
                )
            except Exception:  # noqa: BLE001
                pass
        opts = getattr(st, "opts", None)
        if opts is not None:
            yield GaugeMetricFamily(
                "prometheus_tsdb_retention_limit_seconds",
                "How long to retain samples in storage.",
                value=opts.retention_ms / 1000,
            )
            yield GaugeMetricFamily(
                "prometheus_tsdb_retention_limit_bytes",
                "Max number of bytes to be retained in the tsdb blocks, configured 0 means disabled",
                value=opts.retention_bytes,
            )


class _RulesAndNotifierCollector:
    """``prometheus_rule_*`` per group and ``prometheus_notifications_*``, read when scraped.

    Duck-typed on the providers: a rule manager with ``group_metrics()`` and a
    notifier with ``sent_total``/``errors_total``/... (see server/notifier.py).
    """

    _COUNTERS = {
        "prometheus_rule_evaluations_total",
        "prometheus_rule_evaluation_failures_total",
        "prometheus_rule_group_iterations_total",
        "prometheus_rule_group_iterations_missed_total",
    }

    def __init__(self, state_fn: Callable[[], Any]) -> None:
        self._state_fn = state_fn

    def collect(self) -> Iterator[Metric]:
        st = self._state_fn()
        group_metrics = getattr(st.rules, "group_metrics", None)
        if callable(group_metrics):
            fams: dict[str, Metric] = {}
            for key, values in sorted(group_metrics().items()):
                for name, v in values.items():
                    fam = fams.get(name)
                    if fam is None:
                        cls = CounterMetricFamily if name in self._COUNTERS else GaugeMetricFamily
                        base = name[: -len("_total")] if name in self._COUNTERS else name
                        fam = fams[name] = cls(base, f"Rule group figure {base}.", labels=["rule_group"])
                    fam.add_metric([key], float(v))
            yield from fams.values()
        n = st.alertmanagers
        if hasattr(n, "sent_total"):
            sent = CounterMetricFamily(
                "prometheus_notifications_sent", "Total number of alerts sent.", labels=["alertmanager"]
            )
            errs = CounterMetricFamily(
                "prometheus_notifications_errors",
                "Total number of sent alerts affected by errors.",
                labels=["alertmanager"],
            )
            for url in sorted(set(n.sent_total) | set(n.errors_total)):
                sent.add_metric([url], n.sent_total.get(url, 0))
                errs.add_metric([url], n.errors_total.get(url, 0))
            yield sent
            yield errs
            yield CounterMetricFamily(
                "prometheus_notifications_dropped", "Total number of alerts dropped.", value=n.dropped_total
            )
            yield GaugeMetricFamily(
                "prometheus_notifications_queue_length",
                "The number of alert notifications in the queue.",
                value=n.queue_length,
            )
            yield GaugeMetricFamily(
                "prometheus_notifications_queue_capacity",
                "The capacity of the alert notifications queue.",
                value=n.queue_capacity,
            )
            yield GaugeMetricFamily(
                "prometheus_notifications_alertmanagers_discovered",
                "The number of alertmanagers discovered and active.",
                value=n.alertmanagers_discovered,
            )


class ServerMetrics:
    """All server metrics in one private registry."""

    def __init__(
        self, storage_fn: Callable[[], Any] | None = None, registry: CollectorRegistry | None = None
    ) -> None:
        r = self.registry = registry or CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        if storage_fn is not None:
            r.register(_TSDBCollector(storage_fn))  # type: ignore[arg-type]
        self.build_info = Gauge(
            "prometheus_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, and goversion from which prometheus was built.",
            ["version", "revision", "branch", "goversion"],
            registry=r,
        )
        import platform

        self.build_info.labels(VERSION, "heron", "main", "python" + platform.python_version()).set(1)
        self.http_requests = Counter(
            "prometheus_http_requests", "Counter of HTTP requests.", ["code", "handler"], registry=r
        )
        self.http_duration = Histogram(
            "prometheus_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests.",
            ["handler"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.http_response_size = Histogram(
            "prometheus_http_response_size_bytes",
            "Histogram of response size for HTTP requests.",
            ["handler"],
            buckets=tuple(100 * 10**i for i in range(8)),
            registry=r,
        )
        self.query_duration = Summary(
            "prometheus_engine_query_duration_seconds", "Query timings", ["slice"], registry=r
        )
        self.queries = Gauge(
            "prometheus_engine_queries",
            "The current number of queries being executed or waiting.",
            registry=r,
        )
        self.queries_max = Gauge(
            "prometheus_engine_queries_concurrent_max", "The max number of concurrent queries.", registry=r
        )
        self.query_samples = Counter(
            "prometheus_engine_query_samples_total",
            "The total number of samples loaded by all queries.",
            registry=r,
        )
        self.config_success = Gauge(
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            registry=r,
        )
        self.config_success_ts = Gauge(
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            registry=r,
        )
        self.ready = Gauge(
            "prometheus_ready",
            "Whether Prometheus startup was fully completed and the server is ready for normal operation.",
            registry=r,
        )
        self.rw_received = Counter(
            "prometheus_remote_write_received_samples",
            "Samples received by the remote write receiver.",
            registry=r,
        )
        self.rw_received_series = Counter(
            "prometheus_remote_write_received_series",
            "Series (entries) received by the remote write receiver.",
            registry=r,
        )
        rl = ["remote_name", "url"]
        self.rs_samples = Counter(
            "prometheus_remote_storage_samples",
            "Total number of samples sent to remote storage.",
            rl,
            registry=r,
        )
        self.rs_failed = Counter(
            "prometheus_remote_storage_samples_failed",
            "Total number of samples which failed on send to remote storage, non-recoverable errors.",
            ["remote_name"],
            registry=r,
        )
        self.rs_retried = Counter(
            "prometheus_remote_storage_samples_retried",
            "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
            ["remote_name"],
            registry=r,
        )
        self.rs_dropped = Counter(
            "prometheus_remote_storage_samples_dropped",
            "Total number of samples which were dropped because the queue was full (Heron's queue is not WAL-backed).",
            ["remote_name"],
            registry=r,
        )
        self.rs_highest = Gauge(
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
            "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
            ["remote_name"],
            registry=r,
        )
        self.rs_batch_duration = Histogram(
            "prometheus_remote_storage_sent_batch_duration_seconds",
            "Duration of send calls to the remote storage.",
            ["remote_name"],
            registry=r,
        )

    # ---- hooks used by the API and remote code -----------------------------------------

    def watch_providers(self, state_fn: Callable[[], Any]) -> None:
        """Export the rule manager's and the notifier's figures of the server state."""
        self.registry.register(_RulesAndNotifierCollector(state_fn))  # type: ignore[arg-type]

    def observe_query(self, seconds: float, samples: int) -> None:
        self.query_duration.labels("inner_eval").observe(seconds)
        self.query_samples.inc(samples)

    def remote_write_received(self, samples: int, series: int) -> None:
        self.rw_received.inc(samples)
        self.rw_received_series.inc(series)

    def remote_sent(self, name: str, url: str, n: int, seconds: float, highest_ms: int) -> None:
        self.rs_samples.labels(name, url).inc(n)
        self.rs_batch_duration.labels(name).observe(seconds)
        self.rs_highest.labels(name).set(highest_ms / 1000)

    def remote_failed(self, name: str, n: int) -> None:
        self.rs_failed.labels(name).inc(n)

    def remote_retried(self, name: str, n: int) -> None:
        self.rs_retried.labels(name).inc(n)

    def remote_dropped(self, name: str, n: int) -> None:
        self.rs_dropped.labels(name).inc(n)

    def config_reloaded(self, ok: bool) -> None:
        self.config_success.set(1 if ok else 0)
        if ok:
            self.config_success_ts.set(time.time())


def _handler_name(request: web.Request) -> str:
    try:
        info = request.match_info.route.resource
        return info.canonical if info is not None else "other"
    except AttributeError:
        return "other"


@web.middleware
async def middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count requests and time them per route (``prometheus_http_*``)."""
    from .app import STATE

    st = request.app.get(STATE)
    t0 = time.perf_counter()
    code = 500
    try:
        resp = await handler(request)
        code = resp.status
        return resp
    except web.HTTPException as e:
        code = e.status
        raise
    finally:
        if st is not None:
            m: ServerMetrics = st.metrics
            h = _handler_name(request)
            m.http_requests.labels(str(code), h).inc()
            m.http_duration.labels(h).observe(time.perf_counter() - t0)


async def handle_metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the server's own metrics (text or OpenMetrics by ``Accept``)."""
    from .app import STATE

    st = request.app[STATE]
    encoder, ctype = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(st.metrics.registry)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = ctype
    return resp
