"""HorizontalPodAutoscaler (autoscaling/v2) reading metrics from a Prometheus-compatible server.

Metric sources:

- ``Resource`` cpu/memory: per-pod usage from the cAdvisor series
  (``container_cpu_usage_seconds_total`` rate, ``container_memory_working_set_bytes``)
  against the pods' requests (``Utilization``) or as an ``AverageValue``.
- ``Pods``: ``metric.name`` is a metric name, averaged over the target's pods.
- ``Object`` and ``External``: ``metric.name`` is a PromQL expression (or a bare metric
  name, then ``metric.selector.matchLabels`` become matchers); its value (summed) is
  compared with ``target.value`` or ``target.averageValue``.

Behaviour follows Kubernetes: 10% tolerance, stabilisation windows (recommendations
within the window: min for scale up, max for scale down), scaling policies per
period with ``selectPolicy``, min/max replicas.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

from cluster import objects
from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.apiserver.selectors import matches_labels, parse_label_selector
from cluster.store import Event

from .base import Context, Controller, obj_key, split_key

TOLERANCE = 0.1
QueryFn = Callable[[str], Awaitable[list[tuple[dict[str, str], float]]]]
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class MetricsUnavailable(Exception):
    """A metric could not be read."""


def prometheus_query(url: str, timeout: float = 5.0) -> QueryFn:
    """A query function for a Prometheus-compatible HTTP API (instant queries)."""

    async def query(expr: str) -> list[tuple[dict[str, str], float]]:
        import aiohttp

        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
                async with s.get(url.rstrip("/") + "/api/v1/query", params={"query": expr}) as r:
                    doc = await r.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
            raise MetricsUnavailable(f"unable to query {url}: {e}") from None
        if doc.get("status") != "success":
            raise MetricsUnavailable(f"query {expr!r} failed: {doc.get('error')}")
        data = doc["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise MetricsUnavailable(f"query {expr!r} returned {data['resultType']}")
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    return query


def _q(v: Any) -> float:
    return objects.parse_quantity(v)


def _fmt(v: float) -> str:
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return f"{int(round(v * 1000))}m"


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


class HPAController(Controller):
    """Scales Deployments/StatefulSets/ReplicaSets (anything with a scale subresource)."""

    name = "horizontal-pod-autoscaler"
    watches = ("horizontalpodautoscalers.autoscaling",)

    def __init__(self, ctx: Context, query: QueryFn | None = None) -> None:
        super().__init__(ctx)
        self.resync = ctx.hpa_sync_period
        if query is None and ctx.prometheus_url:
            query = prometheus_query(ctx.prometheus_url)
        self.query = query
        self._recs: dict[str, list[tuple[float, int]]] = {}
        self._events: dict[str, list[tuple[float, int]]] = {}  # (time, replica change)

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if ev.type == "DELETED":
            k = obj_key(ev.obj)
            self._recs.pop(k, None)
            self._events.pop(k, None)
            return
        prev_spec = (ev.prev or {}).get("spec")
        if ev.prev is None or prev_spec != ev.obj.get("spec"):
            self.queue.add(obj_key(ev.obj))

    def initial_keys(self) -> list[str]:
        return [obj_key(h) for h in self.reg.refs("horizontalpodautoscalers.autoscaling")]

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        hpa = self.reg.try_get("horizontalpodautoscalers.autoscaling", ns, name)
        if hpa is None:
            return
        spec = hpa["spec"]
        ref = spec.get("scaleTargetRef") or {}
        now = self.clock.now()
        status = copy.deepcopy(hpa.get("status") or {})
        status.setdefault("conditions", [])
        now_s = self.reg.now()
        r = self.reg.resources.by_kind(ref.get("apiVersion", "apps/v1"), ref.get("kind", ""))
        if r is None or "scale" not in r.subresources:
            objects.set_condition(
                status,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f'the HPA controller was unable to get the target\'s current scale: no matches for kind "{ref.get("kind")}" in group "{ref.get("apiVersion", "").rpartition("/")[0]}"',
                now_s,
            )
            self._write(hpa, status)
            return
        try:
            scale = self.reg.get_scale(r, ns, ref.get("name", ""))
        except errors.APIError as e:
            objects.set_condition(
                status,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {e.message}",
                now_s,
            )
            self._write(hpa, status)
            self.reg.record_event(hpa, "Warning", "FailedGetScale", e.message, self.name)
            return
        current = int(scale["spec"]["replicas"])
        status["currentReplicas"] = int(scale["status"].get("replicas", current))
        min_r = int(spec.get("minReplicas", 1))
        max_r = int(spec["maxReplicas"])
        objects.set_condition(
            status,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            now_s,
        )
        if current == 0 and min_r > 0:
            # scaling is disabled when the target is scaled to zero
            objects.set_condition(
                status,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
                now_s,
            )
            status["desiredReplicas"] = 0
            self._write(hpa, status)
            return
        pods = self._pods(ns, scale["status"].get("selector", ""))
        proposals: list[tuple[int, str]] = []
        current_metrics: list[dict[str, Any]] = []
        errors_: list[str] = []
        for m in spec.get("metrics") or []:
            try:
                desired, cm, desc = await self._metric(m, ns or "", pods, current, hpa)
                proposals.append((desired, desc))
                current_metrics.append(cm)
            except MetricsUnavailable as e:
                errors_.append(str(e))
        if current_metrics:
            status["currentMetrics"] = current_metrics
        if not proposals:
            reason = (
                "FailedGetResourceMetric"
                if any(m.get("type") == "Resource" for m in spec.get("metrics") or [])
                else "FailedGetExternalMetric"
            )
            msg = "the HPA was unable to compute the replica count: " + ("; ".join(errors_) or "no metrics")
            objects.set_condition(status, "ScalingActive", "False", reason, msg, now_s)
            status["desiredReplicas"] = current
            self._write(hpa, status)
            if errors_:
                self.reg.record_event(hpa, "Warning", reason, msg, self.name)
            return
        desired, why = max(proposals, key=lambda p: p[0])
        objects.set_condition(
            status,
            "ScalingActive",
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {why}",
            now_s,
        )
        # stabilisation
        behavior = spec.get("behavior") or {}
        up_w = float((behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds", 0))
        down_w = float((behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds", 300))
        recs = [x for x in self._recs.get(key, []) if x[0] > now - max(up_w, down_w)]
        up_rec = min([v for t, v in recs if t > now - up_w] + [desired])
        down_rec = max([v for t, v in recs if t > now - down_w] + [desired])
        recs.append((now, desired))
        self._recs[key] = recs
        stabilized = current
        if stabilized < up_rec:
            stabilized = up_rec
        if stabilized > down_rec:
            stabilized = down_rec
        # policies
        final, limited_reason = self._apply_policies(key, behavior, current, stabilized, now)
        bounded = min(max(final, min_r), max_r)
        if bounded != final:
            limited_reason = "TooFewReplicas" if bounded > final else "TooManyReplicas"
            msg = f"the desired replica count is {'less' if bounded > final else 'more'} than the {'minimum' if bounded > final else 'maximum'} replica count"
            objects.set_condition(status, "ScalingLimited", "True", limited_reason, msg, now_s)
        elif limited_reason:
            objects.set_condition(
                status,
                "ScalingLimited",
                "True",
                limited_reason,
                "the desired replica count is increasing faster than the maximum scale rate"
                if limited_reason == "ScaleUpLimit"
                else "the desired replica count is decreasing faster than the maximum scale rate",
                now_s,
            )
        else:
            objects.set_condition(
                status,
                "ScalingLimited",
                "False",
                "DesiredWithinRange",
                "the desired count is within the acceptable range",
                now_s,
            )
        status["desiredReplicas"] = bounded
        if bounded != current:
            s2 = copy.deepcopy(scale)
            s2["spec"]["replicas"] = bounded
            try:
                self.reg.update_scale(r, ns, ref["name"], s2)
            except errors.APIError as e:
                objects.set_condition(
                    status,
                    "AbleToScale",
                    "False",
                    "FailedUpdateScale",
                    f"the HPA controller was unable to update the target scale: {e.message}",
                    now_s,
                )
                self._write(hpa, status)
                return
            self._events.setdefault(key, []).append((now, bounded - current))
            status["lastScaleTime"] = now_s
            objects.set_condition(
                status,
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {bounded}",
                now_s,
            )
            direction = "above" if bounded > current else "below"
            reason = f"{why} {direction} target" if bounded > current else "All metrics below target"
            self.reg.record_event(
                hpa, "Normal", "SuccessfulRescale", f"New size: {bounded}; reason: {reason}", self.name
            )
        else:
            objects.set_condition(
                status,
                "AbleToScale",
                "True",
                "ReadyForNewScale",
                "recommended size matches current size",
                now_s,
            )
        status["observedGeneration"] = hpa["metadata"].get("generation", 1)
        self._write(hpa, status)

    def _write(self, hpa: dict[str, Any], status: dict[str, Any]) -> None:
        status["conditions"].sort(
            key=lambda c: {"AbleToScale": 0, "ScalingActive": 1, "ScalingLimited": 2}.get(c.get("type"), 3)
        )
        if status != hpa.get("status"):
            h2 = copy.deepcopy(hpa)
            h2["status"] = status
            try:
                self.reg.update_status(
                    "horizontalpodautoscalers.autoscaling",
                    hpa["metadata"]["namespace"],
                    hpa["metadata"]["name"],
                    h2,
                )
            except errors.APIError as e:
                if e.code != 409:
                    raise

    def _apply_policies(
        self, key: str, behavior: dict[str, Any], current: int, desired: int, now: float
    ) -> tuple[int, str]:
        if desired == current:
            return desired, ""
        up = desired > current
        rules = behavior.get("scaleUp" if up else "scaleDown") or {}
        if rules.get("selectPolicy") == "Disabled":
            return current, "ScaleUpLimit" if up else "ScaleDownLimit"
        events = self._events.get(key, [])
        limits = []
        for pol in rules.get("policies") or []:
            period = float(pol.get("periodSeconds", 15))
            added = sum(d for t, d in events if now - t < period and d > 0)
            removed = -sum(d for t, d in events if now - t < period and d < 0)
            value = float(pol.get("value", 0))
            if up:
                start = current - added + removed
                lim = start + value if pol.get("type") == "Pods" else math.ceil(start * (1 + value / 100))
            else:
                start = current + removed - added
                lim = start - value if pol.get("type") == "Pods" else int(start * (1 - value / 100))
            limits.append(int(lim))
        self._events[key] = [(t, d) for t, d in events if now - t < 3600]
        if not limits:
            return desired, ""
        select = rules.get("selectPolicy", "Max")
        if up:
            lim = max(limits) if select == "Max" else min(limits)
            if desired > lim:
                return max(lim, current), "ScaleUpLimit"
        else:
            lim = min(limits) if select == "Max" else max(limits)
            if desired < lim:
                return min(lim, current), "ScaleDownLimit"
        return desired, ""

    def _pods(self, ns: str | None, selector: str) -> list[dict[str, Any]]:
        reqs = parse_label_selector(selector)
        return [
            p
            for p in self.reg.refs("pods", ns)
            if matches_labels(reqs, p["metadata"].get("labels")) and objects.pod_active(p)
        ]

    async def _run(self, expr: str) -> list[tuple[dict[str, str], float]]:
        if self.query is None:
            raise MetricsUnavailable("no metrics server configured (set the Prometheus URL)")
        return await self.query(expr)

    async def _metric(
        self, m: dict[str, Any], ns: str, pods: list[dict[str, Any]], current: int, hpa: dict[str, Any]
    ) -> tuple[int, dict[str, Any], str]:
        t = m.get("type")
        if t == "Resource" or t == "ContainerResource":
            src = m.get("resource") or m.get("containerResource") or {}
            res = src.get("name", "cpu")
            target = src.get("target") or {}
            running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
            if not running:
                raise MetricsUnavailable(
                    f"did not receive metrics for targeted pods (pods might be unready): no running pods for {res}"
                )
            names = "|".join(re.escape(p["metadata"]["name"]) for p in running)
            sel = f'namespace="{_escape(ns)}",pod=~"{_escape(names)}",container!="",container!="POD"'
            if t == "ContainerResource":
                sel += f',container="{_escape(src.get("container", ""))}"'
            if res == "cpu":
                expr = f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{sel}}}[1m]))"
            else:
                expr = f"sum by (pod) (container_memory_working_set_bytes{{{sel}}})"
            usage = {lb.get("pod", ""): v for lb, v in await self._run(expr)}
            if not usage:
                raise MetricsUnavailable(
                    f"unable to get metrics for resource {res}: no metrics returned from resource metrics API"
                )
            total_usage = sum(usage.values())
            n = len(usage)
            if target.get("type", "Utilization") == "Utilization":
                total_req = 0.0
                for p in running:
                    if p["metadata"]["name"] not in usage:
                        continue
                    for c in p["spec"].get("containers") or []:
                        if t == "ContainerResource" and c.get("name") != src.get("container"):
                            continue
                        req = ((c.get("resources") or {}).get("requests") or {}).get(res)
                        if req is None:
                            raise MetricsUnavailable(
                                f"failed to get {res} utilization: missing request for {res} in container {c.get('name')} of Pod {p['metadata']['name']}"
                            )
                        total_req += _q(req)
                if total_req <= 0:
                    raise MetricsUnavailable(f"failed to get {res} utilization: missing request for {res}")
                util = 100.0 * total_usage / total_req
                tgt = float(target.get("averageUtilization", 80))
                ratio = util / tgt
                desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(ratio * n)
                cur = {"averageUtilization": int(util), "averageValue": _fmt(total_usage / n)}
                desc = f"{res} resource utilization (percentage of request)"
            else:
                avg = total_usage / n
                tgt = _q(target.get("averageValue"))
                ratio = avg / tgt if tgt else 0.0
                desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(total_usage / tgt)
                cur = {"averageValue": _fmt(avg)}
                desc = f"{res} resource"
            key = "resource" if t == "Resource" else "containerResource"
            cm_src: dict[str, Any] = {"name": res, "current": cur}
            if t == "ContainerResource":
                cm_src["container"] = src.get("container")
            return desired, {"type": t, key: cm_src}, desc
        if t == "Pods":
            src = m.get("pods") or {}
            metric = src.get("metric") or {}
            names = "|".join(re.escape(p["metadata"]["name"]) for p in pods)
            extra = "".join(
                f',{k}="{_escape(str(v))}"'
                for k, v in ((metric.get("selector") or {}).get("matchLabels") or {}).items()
            )
            expr = f'sum by (pod) ({metric.get("name")}{{namespace="{_escape(ns)}",pod=~"{_escape(names)}"{extra}}})'
            vals = await self._run(expr)
            if not vals:
                raise MetricsUnavailable(f"unable to get metric {metric.get('name')}: no metrics returned")
            total = sum(v for _, v in vals)
            avg = total / len(vals)
            tgt = _q((src.get("target") or {}).get("averageValue"))
            ratio = avg / tgt if tgt else 0.0
            desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(total / tgt)
            return (
                desired,
                {
                    "type": "Pods",
                    "pods": {"metric": {"name": metric.get("name")}, "current": {"averageValue": _fmt(avg)}},
                },
                f"pods metric {metric.get('name')}",
            )
        if t in ("Object", "External"):
            src = m.get("object" if t == "Object" else "external") or {}
            metric = src.get("metric") or {}
            mname = str(metric.get("name", ""))
            if _METRIC_NAME.fullmatch(mname):
                labels = ",".join(
                    f'{k}="{_escape(str(v))}"'
                    for k, v in ((metric.get("selector") or {}).get("matchLabels") or {}).items()
                )
                expr = f"sum({mname}{{{labels}}})"
            else:
                expr = mname
            vals = await self._run(expr)
            if not vals:
                raise MetricsUnavailable(f"unable to get external metric {mname}: no metrics returned")
            value = sum(v for _, v in vals)
            target = src.get("target") or {}
            if target.get("type") == "AverageValue" or ("averageValue" in target and "value" not in target):
                tgt = _q(target.get("averageValue"))
                avg = value / max(current, 1)
                ratio = avg / tgt if tgt else 0.0
                desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(value / tgt)
                cur = {"averageValue": _fmt(avg)}
            else:
                tgt = _q(target.get("value"))
                ratio = value / tgt if tgt else 0.0
                desired = current if abs(ratio - 1) <= TOLERANCE else math.ceil(ratio * current)
                cur = {"value": _fmt(value)}
            key = "object" if t == "Object" else "external"
            cm: dict[str, Any] = {"type": t, key: {"metric": {"name": mname}, "current": cur}}
            if t == "Object":
                cm[key]["describedObject"] = src.get("describedObject")
            return desired, cm, f"{'external' if t == 'External' else 'object'} metric {mname}"
        raise MetricsUnavailable(f"unknown metric source type {t!r}")
