"""The notifier: delivers alerts to Alertmanagers (``POST /api/v2/alerts``) as Prometheus's ``notifier``.

::

    n = Notifier()
    n.apply_config(config)          # external labels, alert_relabel_configs, Alertmanager sets
    task = asyncio.create_task(n.run())
    n.send([NotifierAlert(labels, annotations, starts_at_ms, ends_at_ms, url)])
    ...
    n.stop(); await task

Behaviour follows Prometheus:

* ``send`` adds external labels (only where the alert lacks the label), applies
  ``alerting.alert_relabel_configs`` (dropping alerts the rules drop) and
  queues; the queue is bounded (``queue_capacity``, default 10000) and drops
  the *oldest* alerts when full, counting them in ``dropped_total``.
* the send loop takes batches of at most ``max_batch_size`` (256) and posts
  each batch to every Alertmanager of every ``alertmanagers`` entry
  concurrently, with that entry's ``timeout``, auth and TLS settings and its
  own ``alert_relabel_configs``; a batch no Alertmanager accepted counts as
  dropped. Heron adds retries (``retries`` more attempts with exponential
  backoff) on connection errors, timeouts, 5xx and 429; other 4xx are final.
* Alertmanagers come from ``static_configs``, run through the entry's
  ``relabel_configs`` with ``__address__``, ``__scheme__`` and
  ``__alerts_path__`` (targets a relabel rule drops are listed as dropped).
  Other service discovery plugs in through :meth:`Notifier.set_targets`.
* ``stop`` drains the queue before ``run`` returns (Prometheus's default
  ``--alertmanager.drain-notification-queue-on-shutdown``).

Counters for ``/metrics`` are plain attributes: ``sent_total``,
``errors_total`` (per Alertmanager URL), ``dropped_total``, ``queue_length``,
``queue_capacity``, ``latency_seconds_sum``/``latency_seconds_count`` (per URL)
and ``alertmanagers_discovered``. The notifier is also the server's
``AlertmanagerProvider`` (``active_alertmanagers()``/``dropped_alertmanagers()``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import posixpath
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout

from scraper.config import AlertmanagerConfig, Config, RelabelConfig, TargetGroup, relabel
from tsdb.labels import Labels, LabelsBuilder

__all__ = [
    "AlertmanagerSet",
    "Notifier",
    "NotifierAlert",
    "alerts_to_api_v2",
    "format_api_time",
]

log = logging.getLogger("heron.notifier")

DEFAULT_QUEUE_CAPACITY = 10_000
MAX_BATCH_SIZE = 256
ALERTS_PATH_LABEL = "__alerts_path__"
USER_AGENT = "Heron/0.1.0"


@dataclass
class NotifierAlert:
    """An alert as sent to Alertmanager (times in ms since the epoch; None = unset)."""

    labels: Labels
    annotations: Labels = field(default_factory=lambda: Labels(()))
    starts_at_ms: int | None = None
    ends_at_ms: int | None = None
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname")

    def resolved_at(self, now_ms: int) -> bool:
        return self.ends_at_ms is not None and self.ends_at_ms <= now_ms


def format_api_time(ms: int | None) -> str:
    """go-openapi's ``strfmt.DateTime`` JSON form: RFC 3339 with milliseconds (zero time if unset)."""
    if ms is None:
        return "0001-01-01T00:00:00.000Z"
    secs, milli = divmod(int(ms), 1000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{milli:03d}Z"


def alerts_to_api_v2(alerts: Iterable[NotifierAlert]) -> list[dict[str, Any]]:
    """The ``PostableAlerts`` body of ``POST /api/v2/alerts``."""
    return [
        {
            "annotations": a.annotations.to_dict(),
            "endsAt": format_api_time(a.ends_at_ms),
            "startsAt": format_api_time(a.starts_at_ms),
            "generatorURL": a.generator_url,
            "labels": a.labels.to_dict(),
        }
        for a in alerts
    ]


def _relabel_alerts(
    alerts: Sequence[NotifierAlert], cfgs: Sequence[RelabelConfig], external: Labels
) -> list[NotifierAlert]:
    out = []
    for a in alerts:
        lb = LabelsBuilder(a.labels)
        for k, v in external:
            if not a.labels.get(k):
                lb.set(k, v)
        lbls = lb.labels()
        if cfgs:
            res = relabel(lbls, cfgs)
            if res is None:
                continue
            lbls = res
        out.append(NotifierAlert(lbls, a.annotations, a.starts_at_ms, a.ends_at_ms, a.generator_url))
    return out


def _post_path(prefix: str) -> str:
    return posixpath.join("/", prefix, "api/v2/alerts")


def _ssl_context(cfg: AlertmanagerConfig) -> ssl.SSLContext | None:
    tls = cfg.http.tls_config
    if not (tls.insecure_skip_verify or tls.ca_file or tls.cert_file):
        return None
    ctx = ssl.create_default_context(cafile=tls.ca_file or None)
    if tls.cert_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file or None)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class AlertmanagerSet:
    """The Alertmanagers of one ``alerting.alertmanagers`` entry."""

    def __init__(self, key: str, cfg: AlertmanagerConfig) -> None:
        self.key = key
        self.cfg = cfg
        self.urls: list[str] = []
        self.dropped: list[str] = []
        self._session: ClientSession | None = None
        self.set_targets(cfg.sd.static_configs)

    def set_targets(self, groups: Iterable[TargetGroup]) -> None:
        """Resolve target groups to ``/api/v2/alerts`` URLs (Prometheus's ``AlertmanagerFromGroup``)."""
        urls: list[str] = []
        dropped: list[str] = []
        for tg in groups:
            for target in tg.targets:
                lb = LabelsBuilder()
                lb.set("__address__", target)
                lb.set("__scheme__", self.cfg.scheme)
                lb.set(ALERTS_PATH_LABEL, _post_path(self.cfg.path_prefix))
                for k, v in tg.labels.items():
                    if k != "__address__":
                        lb.set(k, v)
                pre = lb.labels()
                post = relabel(pre, self.cfg.relabel_configs) if self.cfg.relabel_configs else pre
                if post is None:
                    dropped.append(self._url(pre))
                    continue
                u = self._url(post)
                if u not in urls:
                    urls.append(u)
        self.urls = urls
        self.dropped = dropped

    @staticmethod
    def _url(lbls: Labels) -> str:
        return f"{lbls.get('__scheme__')}://{lbls.get('__address__')}{lbls.get(ALERTS_PATH_LABEL)}"

    def session(self) -> ClientSession:
        if self._session is None or self._session.closed:
            self._session = ClientSession(
                timeout=ClientTimeout(total=self.cfg.timeout / 1000),
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class _SendError(Exception):
    def __init__(self, msg: str, retryable: bool) -> None:
        super().__init__(msg)
        self.retryable = retryable


class Notifier:
    """Queues alerts and sends them to all configured Alertmanagers."""

    def __init__(
        self,
        *,
        queue_capacity: int = DEFAULT_QUEUE_CAPACITY,
        max_batch_size: int = MAX_BATCH_SIZE,
        external_labels: Mapping[str, str] | Labels | None = None,
        relabel_configs: Sequence[RelabelConfig] = (),
        retries: int = 2,
        retry_backoff_s: float = 0.5,
        drain_on_shutdown: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.queue_capacity = int(queue_capacity)
        self.max_batch_size = int(max_batch_size)
        if isinstance(external_labels, Labels):
            self.external_labels = external_labels
        else:
            self.external_labels = Labels.from_dict(dict(external_labels or {}))
        self.relabel_configs = list(relabel_configs)
        self.retries = int(retries)
        self.retry_backoff_s = retry_backoff_s
        self.drain_on_shutdown = drain_on_shutdown
        self.sleep = sleep
        self.sets: dict[str, AlertmanagerSet] = {}
        self._queue: deque[NotifierAlert] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._more: asyncio.Event | None = None
        self._stopping = False
        self._stopped = False
        # metrics
        self.sent_total: dict[str, int] = {}
        self.errors_total: dict[str, int] = {}
        self.dropped_total = 0
        self.latency_seconds_sum: dict[str, float] = {}
        self.latency_seconds_count: dict[str, int] = {}

    # -- configuration -------------------------------------------------------------

    def apply_config(self, config: Config) -> None:
        """Take external labels, ``alert_relabel_configs`` and the Alertmanagers from ``config``."""
        self.external_labels = config.external_labels
        self.relabel_configs = list(config.alerting.alert_relabel_configs)
        new = {
            f"config-{i}": AlertmanagerSet(f"config-{i}", c)
            for i, c in enumerate(config.alerting.alertmanagers)
        }
        old = self.sets
        self.sets = new
        for s in old.values():
            self._close_later(s)

    def set_alertmanagers(self, cfgs: Sequence[AlertmanagerConfig]) -> None:
        """Replace the Alertmanager sets (without touching labels and relabeling)."""
        old = self.sets
        self.sets = {f"config-{i}": AlertmanagerSet(f"config-{i}", c) for i, c in enumerate(cfgs)}
        for s in old.values():
            self._close_later(s)

    def set_targets(self, key: str, groups: Iterable[TargetGroup]) -> None:
        """Discovered targets for the set ``key`` (``config-N``), e.g. from file or Kubernetes SD."""
        s = self.sets.get(key)
        if s is not None:
            s.set_targets(groups)

    def _close_later(self, s: AlertmanagerSet) -> None:
        if s._session is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.create_task(s.close())

    # -- AlertmanagerProvider ------------------------------------------------------

    def active_alertmanagers(self) -> list[str]:
        return [u for s in self.sets.values() for u in s.urls]

    def dropped_alertmanagers(self) -> list[str]:
        return [u for s in self.sets.values() for u in s.dropped]

    @property
    def alertmanagers_discovered(self) -> int:
        return len(self.active_alertmanagers())

    # -- queue -----------------------------------------------------------------------

    @property
    def queue_length(self) -> int:
        return len(self._queue)

    def send(self, alerts: Sequence[NotifierAlert]) -> None:
        """Queue alerts for delivery (thread-safe; never blocks)."""
        alerts = _relabel_alerts(alerts, self.relabel_configs, self.external_labels)
        if not alerts:
            return
        with self._lock:
            cap = self.queue_capacity
            if len(alerts) > cap:
                d = len(alerts) - cap
                alerts = alerts[d:]
                self.dropped_total += d
                log.warning("alert batch larger than queue capacity, dropping %d alerts", d)
            d = len(self._queue) + len(alerts) - cap
            if d > 0:
                for _ in range(d):
                    self._queue.popleft()
                self.dropped_total += d
                log.warning("alert notification queue full, dropping %d alerts", d)
            self._queue.extend(alerts)
        self._wake()

    def _wake(self) -> None:
        loop, more = self._loop, self._more
        if loop is None or more is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            more.set()
        else:
            loop.call_soon_threadsafe(more.set)

    def _next_batch(self) -> list[NotifierAlert]:
        with self._lock:
            n = min(self.max_batch_size, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    # -- sending ---------------------------------------------------------------------

    async def run(self) -> None:
        """Send queued alerts until :meth:`stop`; then drain the queue (or drop it) and return."""
        self._loop = asyncio.get_running_loop()
        self._more = asyncio.Event()
        if self._queue:
            self._more.set()
        try:
            while not self._stopping:
                await self._more.wait()
                self._more.clear()
                while self._queue and not self._stopping:
                    await self.send_one_batch()
            if self.drain_on_shutdown:
                while self._queue:
                    await self.send_one_batch()
            else:
                with self._lock:
                    self.dropped_total += len(self._queue)
                    self._queue.clear()
        finally:
            self._stopped = True
            for s in self.sets.values():
                await s.close()

    def stop(self) -> None:
        """Ask :meth:`run` to finish (after draining the queue)."""
        self._stopping = True
        if self._more is not None:
            self._wake()

    async def send_one_batch(self) -> bool:
        batch = self._next_batch()
        if not batch:
            return True
        ok = await self.send_all(batch)
        if not ok:
            self.dropped_total += len(batch)
        return ok

    async def send_all(self, alerts: Sequence[NotifierAlert]) -> bool:
        """Post ``alerts`` to every Alertmanager concurrently; True if at least one accepted them."""
        if not alerts:
            return True
        jobs = []
        for s in list(self.sets.values()):
            if not s.urls:
                continue
            am_alerts = list(alerts)
            if s.cfg.alert_relabel_configs:
                am_alerts = _relabel_alerts(alerts, s.cfg.alert_relabel_configs, Labels(()))
                if not am_alerts:
                    continue
            payload = json.dumps(alerts_to_api_v2(am_alerts), separators=(",", ":")).encode()
            for url in s.urls:
                jobs.append(self._send_to(s, url, payload, len(am_alerts)))
        if not jobs:
            return True
        results = await asyncio.gather(*jobs)
        return any(results)

    async def _send_to(self, s: AlertmanagerSet, url: str, payload: bytes, count: int) -> bool:
        self.sent_total.setdefault(url, 0)
        self.errors_total.setdefault(url, 0)
        backoff = self.retry_backoff_s
        for attempt in range(self.retries + 1):
            t0 = time.perf_counter()
            try:
                await self._post(s, url, payload)
            except _SendError as e:
                if attempt < self.retries and e.retryable and not self._stopped:
                    log.debug("sending %d alerts to %s failed (will retry): %s", count, url, e)
                    await self.sleep(backoff)
                    backoff *= 2
                    continue
                log.error("error sending %d alerts to %s: %s", count, url, e)
                self.errors_total[url] += count
                return False
            dt = time.perf_counter() - t0
            self.latency_seconds_sum[url] = self.latency_seconds_sum.get(url, 0.0) + dt
            self.latency_seconds_count[url] = self.latency_seconds_count.get(url, 0) + 1
            self.sent_total[url] += count
            return True
        return False

    async def _post(self, s: AlertmanagerSet, url: str, payload: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        try:
            auth = s.cfg.http.auth_header()
        except OSError as e:
            raise _SendError(f"reading credentials: {e}", False) from None
        if auth:
            headers["Authorization"] = auth
        try:
            async with s.session().post(
                url, data=payload, headers=headers, ssl=_ssl_context(s.cfg) or True
            ) as resp:
                body = await resp.read()
                if resp.status // 100 != 2:
                    retryable = resp.status >= 500 or resp.status == 429
                    text = body[:256].decode("utf-8", "replace").strip()
                    raise _SendError(f"bad response status {resp.status} {resp.reason}: {text}", retryable)
        except (ClientError, TimeoutError, OSError) as e:
            raise _SendError(str(e) or type(e).__name__, True) from None
