"""The notification pipeline: a chain of stages with one signature (Alertmanager's ``notify.Stage``).

For each receiver: gossip settle -> inhibition -> active time intervals -> mute time
intervals -> silences -> fan out per integration: wait (HA position) -> dedup against the
notification log -> retry with exponential backoff -> send -> record in the notification log.

A stage takes the notification context and the alerts and returns the (possibly updated)
context and the alerts to pass on; an empty list ends the chain, an exception fails it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from .config import HTTPConfig, WebhookConfig
from .labels import alert_labels_key
from .metrics import NotifyMetrics
from .nflog import NotificationLog, ReceiverKey
from .timeinterval import TimeInterval, in_any
from .types import Alert, Clock, alerts_status, format_time, now_ns, to_datetime

log = logging.getLogger("alertmanager.notify")

MIN_TIMEOUT = 10.0
USER_AGENT = "Alertmanager/0.25.0"


class NotifyError(Exception):
    """A notification that could not be delivered."""


@dataclass
class NotifyContext:
    """What Alertmanager carries in the ``context.Context`` of a flush."""

    now: int
    group_key: str
    group_labels: dict[str, str]
    receiver: str
    repeat_interval: float
    deadline: float
    mute_time_intervals: list[str] = field(default_factory=list)
    active_time_intervals: list[str] = field(default_factory=list)
    firing: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


class Stage(Protocol):
    """One step of the pipeline."""

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]: ...


class Muter(Protocol):
    def mutes(self, labels: dict[str, str], fp: int) -> bool: ...


class Integration(Protocol):
    """A configured notifier (one ``webhook_configs`` entry)."""

    name: str
    index: int
    send_resolved: bool

    async def notify(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[bool, Exception | None]:
        """Send; returns ``(retry, error)``."""
        ...


class MultiStage:
    """Runs stages in order; stops when no alerts are left."""

    def __init__(self, *stages: Stage) -> None:
        self.stages = list(stages)

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        for s in self.stages:
            if not alerts:
                return ctx, []
            ctx, alerts = await s.exec(ctx, alerts)
        return ctx, alerts


class FanoutStage:
    """Runs stages concurrently on copies of the context; fails if any fails."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = list(stages)

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        results = await asyncio.gather(
            *(s.exec(replace(ctx, firing=[], resolved=[]), list(alerts)) for s in self.stages),
            return_exceptions=True,
        )
        errs = [r for r in results if isinstance(r, BaseException)]
        if errs:
            raise NotifyError("; ".join(str(e) for e in errs))
        return ctx, []


class RoutingStage:
    """Picks the receiver's pipeline."""

    def __init__(self, by_receiver: dict[str, Stage]) -> None:
        self.by_receiver = by_receiver

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        s = self.by_receiver.get(ctx.receiver)
        if s is None:
            raise NotifyError(f"stage for receiver missing: {ctx.receiver}")
        return await s.exec(ctx, alerts)


class GossipSettleStage:
    """Waits until the HA peer has settled before the first notification."""

    def __init__(self, wait_ready: Callable[[], Awaitable[None]] | None) -> None:
        self.wait_ready = wait_ready

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        if self.wait_ready is not None:
            await self.wait_ready()
        return ctx, alerts


class MuteStage:
    """Drops alerts the muter (inhibitor or silencer) mutes."""

    def __init__(self, muter: Muter) -> None:
        self.muter = muter

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        return ctx, [a for a in alerts if not self.muter.mutes(a.labels, a.fingerprint)]


class TimeMuteStage:
    """Drops everything while the route's ``mute_time_intervals`` contain the flush time."""

    def __init__(self, intervals: dict[str, list[TimeInterval]]) -> None:
        self.intervals = intervals

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        t = to_datetime(ctx.now)
        for name in ctx.mute_time_intervals:
            if in_any(self.intervals.get(name, []), t):
                return ctx, []
        return ctx, alerts


class TimeActiveStage:
    """Drops everything while the route's ``active_time_intervals`` do not contain the flush time."""

    def __init__(self, intervals: dict[str, list[TimeInterval]]) -> None:
        self.intervals = intervals

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        if not ctx.active_time_intervals:
            return ctx, alerts
        t = to_datetime(ctx.now)
        for name in ctx.active_time_intervals:
            if in_any(self.intervals.get(name, []), t):
                return ctx, alerts
        return ctx, []


class WaitStage:
    """Waits ``wait()`` seconds (the HA peer position times the peer timeout)."""

    def __init__(self, clock: Clock, wait: Callable[[], float]) -> None:
        self.clock = clock
        self.wait = wait

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        d = self.wait()
        if d > 0:
            await self.clock.sleep(d)
        return ctx, alerts


class DedupStage:
    """Passes alerts on only if the notification log says the receiver needs an update."""

    def __init__(self, nflog: NotificationLog, recv: ReceiverKey, send_resolved: bool, clock: Clock) -> None:
        self.nflog = nflog
        self.recv = recv
        self.send_resolved = send_resolved
        self.clock = clock

    def needs_update(self, entry: Any, firing: set[int], resolved: set[int], repeat: float) -> bool:
        if entry is None:
            return len(firing) > 0
        if not entry.is_firing_subset(firing):
            return True
        if not firing:
            return len(entry.firing_alerts) > 0
        if self.send_resolved and not entry.is_resolved_subset(resolved):
            return True
        return entry.timestamp < int((self.clock.now() - repeat) * 1e9)

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        now = int(self.clock.now() * 1e9)
        firing = [a.fingerprint for a in alerts if not a.resolved_at(now)]
        resolved = [a.fingerprint for a in alerts if a.resolved_at(now)]
        ctx = replace(ctx, firing=firing, resolved=resolved)
        entry = self.nflog.query(self.recv, ctx.group_key)
        if self.needs_update(entry, set(firing), set(resolved), ctx.repeat_interval):
            return ctx, alerts
        return ctx, []


class RetryStage:
    """Calls the integration until it succeeds, the error is final, or the flush times out."""

    def __init__(self, integration: Integration, receiver: str, metrics: NotifyMetrics, clock: Clock) -> None:
        self.integration = integration
        self.receiver = receiver
        self.metrics = metrics
        self.clock = clock

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        integ = self.integration
        now = int(self.clock.now() * 1e9)
        if not integ.send_resolved:
            if not ctx.firing:
                return ctx, alerts
            sent = [a for a in alerts if not a.resolved_at(now)]
        else:
            sent = alerts
        interval, attempt, last_err = 0.5, 0, None
        name = integ.name
        where = f"{self.receiver}/{name}[{integ.index}]"
        while True:
            attempt += 1
            start = time.monotonic()
            retry, err = await integ.notify(ctx, sent)
            self.metrics.latency.observe(time.monotonic() - start, name)
            self.metrics.notifications.inc(name)
            if err is None:
                if attempt > 1:
                    log.info("Notify success receiver=%s attempts=%d", where, attempt)
                return ctx, alerts
            self.metrics.failed.inc(name)
            if not retry:
                raise NotifyError(
                    f"{where}: notify retry canceled due to unrecoverable error after {attempt} attempts: {err}"
                )
            if last_err is None or str(err) != str(last_err):
                log.warning(
                    "Notify attempt failed, will retry later receiver=%s attempts=%d err=%s",
                    where,
                    attempt,
                    err,
                )
            last_err = err
            delay = interval * (1 + random.uniform(-0.5, 0.5))
            interval = min(interval * 1.5, 60.0)
            if self.clock.now() + delay >= ctx.deadline:
                raise NotifyError(f"{where}: notify retry canceled after {attempt} attempts: {last_err}")
            await self.clock.sleep(delay)


class SetNotifiesStage:
    """Records the notification in the notification log."""

    def __init__(self, nflog: NotificationLog, recv: ReceiverKey) -> None:
        self.nflog = nflog
        self.recv = recv

    async def exec(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[NotifyContext, list[Alert]]:
        self.nflog.log(self.recv, ctx.group_key, ctx.firing, ctx.resolved)
        return ctx, alerts


# --- webhook ---------------------------------------------------------------------------------

_RECEIVER_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")


def template_data(
    receiver: str, group_labels: dict[str, str], alerts: list[Alert], external_url: str, now: int
) -> dict[str, Any]:
    """``template.Data`` as JSON (the webhook body without version/groupKey/truncatedAlerts)."""
    common_labels: dict[str, str] = dict(alerts[0].labels) if alerts else {}
    common_ann: dict[str, str] = dict(alerts[0].annotations) if alerts else {}
    for a in alerts[1:]:
        if not common_labels and not common_ann:
            break
        common_labels = {k: v for k, v in common_labels.items() if a.labels.get(k) == v}
        common_ann = {k: v for k, v in common_ann.items() if a.annotations.get(k) == v}
    return {
        "receiver": _RECEIVER_SANITIZE.sub("_", receiver),
        "status": alerts_status(alerts, now),
        "alerts": [
            {
                "status": a.status(now),
                "labels": dict(sorted(a.labels.items())),
                "annotations": dict(sorted(a.annotations.items())),
                "startsAt": format_time(a.starts_at),
                "endsAt": format_time(a.ends_at),
                "generatorURL": a.generator_url,
                "fingerprint": a.fp_str,
            }
            for a in alerts
        ],
        "groupLabels": dict(sorted(group_labels.items())),
        "commonLabels": dict(sorted(common_labels.items())),
        "commonAnnotations": dict(sorted(common_ann.items())),
        "externalURL": external_url,
    }


def webhook_message(
    receiver: str,
    group_key: str,
    group_labels: dict[str, str],
    alerts: list[Alert],
    external_url: str,
    now: int,
    max_alerts: int = 0,
) -> dict[str, Any]:
    """The webhook payload, version 4."""
    truncated = 0
    if max_alerts and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    msg = template_data(receiver, group_labels, alerts, external_url, now)
    msg["version"] = "4"
    msg["groupKey"] = group_key
    msg["truncatedAlerts"] = truncated
    return msg


def _read_secret(value: str, path: str) -> str:
    if path:
        return Path(path).read_text().strip()
    return value


def _ssl_context(tls: dict[str, Any]) -> ssl.SSLContext | bool:
    if not tls:
        return True
    ctx = ssl.create_default_context(cafile=tls.get("ca_file") or None)
    if tls.get("cert_file"):
        ctx.load_cert_chain(tls["cert_file"], tls.get("key_file") or None)
    if tls.get("insecure_skip_verify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_headers(hc: HTTPConfig | None) -> dict[str, str]:
    """Authorization headers from an ``http_config``."""
    h: dict[str, str] = {}
    if hc is None:
        return h
    if hc.basic_auth is not None:
        pw = _read_secret(hc.basic_auth.password, hc.basic_auth.password_file)
        tok = base64.b64encode(f"{hc.basic_auth.username}:{pw}".encode()).decode()
        h["Authorization"] = "Basic " + tok
    elif hc.authorization is not None:
        cred = _read_secret(hc.authorization.credentials, hc.authorization.credentials_file)
        h["Authorization"] = f"{hc.authorization.type} {cred}"
    return h


class Webhook:
    """The webhook notifier (payload version 4)."""

    name = "webhook"

    def __init__(
        self,
        conf: WebhookConfig,
        index: int,
        receiver: str,
        external_url: Callable[[], str],
        metrics: NotifyMetrics,
        session: Callable[[], aiohttp.ClientSession],
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.conf = conf
        self.index = index
        self.receiver = receiver
        self.send_resolved = conf.send_resolved
        self.external_url = external_url
        self.metrics = metrics
        self._session = session

    async def notify(self, ctx: NotifyContext, alerts: list[Alert]) -> tuple[bool, Exception | None]:
        msg = webhook_message(
            self.receiver,
            ctx.group_key,
            ctx.group_labels,
            alerts,
            self.external_url(),
            now_ns(self.clock),
            self.conf.max_alerts,
        )
        body = json.dumps(msg, separators=(",", ":")).encode()
        try:
            url = self.conf.resolve_url()
        except OSError as e:
            return False, NotifyError(f"unable to read url_file: {e}")
        hc = self.conf.http_config
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **http_headers(hc)}
        remaining = max(ctx.deadline - self.clock.now(), 0.1) if ctx.deadline else 30.0
        total = min(remaining, self.conf.timeout) if self.conf.timeout else remaining
        self.metrics.requests.inc("webhook")
        try:
            async with self._session().post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=total),
                ssl=_ssl_context(hc.tls_config) if hc else True,
                proxy=(hc.proxy_url or None) if hc else None,
                allow_redirects=hc.follow_redirects if hc else True,
            ) as resp:
                await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            self.metrics.requests_failed.inc("webhook")
            msg_ = str(e) or type(e).__name__
            return True, NotifyError(f"Post {json.dumps(url)}: {msg_}")
        if status // 100 == 2:
            return False, None
        self.metrics.requests_failed.inc("webhook")
        return status // 100 == 5, NotifyError(f"unexpected status code {status}")


def sort_alerts(alerts: list[Alert]) -> list[Alert]:
    """``sort.Stable(types.AlertSlice)``: by job, instance, then label set."""
    return sorted(alerts, key=lambda a: alert_labels_key(a.labels))


def build_pipeline(
    receivers: dict[str, list[Integration]],
    clock: Clock,
    wait: Callable[[], float],
    inhibitor: Muter,
    silencer: Muter,
    intervals: dict[str, list[TimeInterval]],
    nflog: NotificationLog,
    metrics: NotifyMetrics,
    wait_ready: Callable[[], Awaitable[None]] | None = None,
) -> RoutingStage:
    """``PipelineBuilder.New``: one chain per receiver."""
    out: dict[str, Stage] = {}
    for name, integrations in receivers.items():
        fan: list[Stage] = []
        for integ in integrations:
            recv = ReceiverKey(name, integ.name, integ.index)
            fan.append(
                MultiStage(
                    WaitStage(clock, wait),
                    DedupStage(nflog, recv, integ.send_resolved, clock),
                    RetryStage(integ, name, metrics, clock),
                    SetNotifiesStage(nflog, recv),
                )
            )
        out[name] = MultiStage(
            GossipSettleStage(wait_ready),
            MuteStage(inhibitor),
            TimeActiveStage(intervals),
            TimeMuteStage(intervals),
            MuteStage(silencer),
            FanoutStage(fan),
        )
    return RoutingStage(out)
