"""A tiny Prometheus text-format registry (stdlib only) for Alertmanager's own metrics."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

LabelValues = tuple[str, ...]


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help
        self.labels = tuple(labels)

    def _lbl(self, values: LabelValues, extra: str = "") -> str:
        parts = [f'{k}="{_esc(v)}"' for k, v in zip(self.labels, values, strict=True)]
        if extra:
            parts.append(extra)
        return "{" + ",".join(parts) + "}" if parts else ""

    def samples(self) -> list[str]:
        raise NotImplementedError

    def expose(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += self.samples()
        return "\n".join(lines) + "\n"


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self.values: dict[LabelValues, float] = {} if labels else {(): 0.0}

    def inc(self, *lv: str, by: float = 1.0) -> None:
        self.values[lv] = self.values.get(lv, 0.0) + by

    def init(self, *lv: str) -> None:
        self.values.setdefault(lv, 0.0)

    def get(self, *lv: str) -> float:
        return self.values.get(lv, 0.0)

    def samples(self) -> list[str]:
        return [f"{self.name}{self._lbl(k)} {_fmt(v)}" for k, v in sorted(self.values.items())]


class Gauge(Counter):
    kind = "gauge"

    def set(self, *lv: str, value: float) -> None:
        self.values[lv] = value


class GaugeFunc(_Metric):
    kind = "gauge"

    def __init__(
        self, name: str, help: str, labels: Sequence[str], fn: Callable[[], dict[LabelValues, float]]
    ) -> None:
        super().__init__(name, help, labels)
        self.fn = fn

    def samples(self) -> list[str]:
        return [f"{self.name}{self._lbl(k)} {_fmt(v)}" for k, v in sorted(self.fn().items())]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = ()
    ) -> None:
        super().__init__(name, help, labels)
        self.buckets = list(buckets or (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.data: dict[LabelValues, list[float]] = {} if labels else {(): [0.0] * (len(self.buckets) + 2)}

    def init(self, *lv: str) -> None:
        self.data.setdefault(lv, [0.0] * (len(self.buckets) + 2))

    def observe(self, v: float, *lv: str) -> None:
        d = self.data.setdefault(lv, [0.0] * (len(self.buckets) + 2))
        for i, b in enumerate(self.buckets):
            if v <= b:
                d[i] += 1
        d[-2] += v
        d[-1] += 1

    def samples(self) -> list[str]:
        out = []
        for k, d in sorted(self.data.items()):
            for i, b in enumerate(self.buckets):
                le = 'le="' + _fmt(b) + '"'
                out.append(f"{self.name}_bucket{self._lbl(k, le)} {_fmt(d[i])}")
            inf = 'le="+Inf"'
            out.append(f"{self.name}_bucket{self._lbl(k, inf)} {_fmt(d[-1])}")
            out.append(f"{self.name}_sum{self._lbl(k)} {_fmt(d[-2])}")
            out.append(f"{self.name}_count{self._lbl(k)} {_fmt(d[-1])}")
        return out


class Registry:
    """An ordered set of metrics, exposed in the text format."""

    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, m: _Metric) -> _Metric:
        self.metrics.append(m)
        return m

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        c = Counter(name, help, labels)
        self.metrics.append(c)
        return c

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        g = Gauge(name, help, labels)
        self.metrics.append(g)
        return g

    def histogram(
        self, name: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = ()
    ) -> Histogram:
        h = Histogram(name, help, labels, buckets)
        self.metrics.append(h)
        return h

    def expose(self) -> str:
        return "".join(m.expose() for m in sorted(self.metrics, key=lambda m: m.name))


INTEGRATIONS = (
    "email",
    "opsgenie",
    "pagerduty",
    "pushover",
    "slack",
    "sns",
    "telegram",
    "victorops",
    "webhook",
    "wechat",
)


class NotifyMetrics:
    """``notify.Metrics``: per-integration notification counters and latency."""

    def __init__(self, reg: Registry) -> None:
        self.notifications = reg.counter(
            "alertmanager_notifications_total",
            "The total number of attempted notifications.",
            ["integration"],
        )
        self.failed = reg.counter(
            "alertmanager_notifications_failed_total",
            "The total number of failed notifications.",
            ["integration"],
        )
        self.requests = reg.counter(
            "alertmanager_notification_requests_total",
            "The total number of attempted notification requests.",
            ["integration"],
        )
        self.requests_failed = reg.counter(
            "alertmanager_notification_requests_failed_total",
            "The total number of failed notification requests.",
            ["integration"],
        )
        self.latency = reg.histogram(
            "alertmanager_notification_latency_seconds",
            "The latency of notifications in seconds.",
            ["integration"],
            [1, 5, 10, 15, 20],
        )
        for i in INTEGRATIONS:
            for c in (self.notifications, self.failed, self.requests, self.requests_failed):
                c.init(i)
            self.latency.init(i)
