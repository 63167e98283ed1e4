"""A small Prometheus operator: ServiceMonitor/PodMonitor CRs to scrape configs.

Watches ``monitoring.coreos.com/v1`` ServiceMonitors and PodMonitors through
the Kubernetes API, renders them into scrape configs the way
prometheus-operator's config generator does (``serviceMonitor/<ns>/<name>/<i>``
and ``podMonitor/<ns>/<name>/<i>`` jobs over ``kubernetes_sd_configs`` with the
same relabelings), appends them to a base ``prometheus.yml`` (read from the
base Secret; its own jobs stay), writes the result into the Prometheus config
Secret when it changed, and reloads the Prometheus pods (``POST /-/reload``)
once the kubelet has refreshed the mounted file.

Run it as ``python -m heron.operator [--kubeconfig FILE]`` (in-cluster by
default) or ``heron operator``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import logging
import re
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

log = logging.getLogger("heron.operator")

Obj = dict[str, Any]

GROUP_VERSION = "monitoring.coreos.com/v1"
GENERATED_JOB = re.compile(r"^(serviceMonitor|podMonitor)/")

# kubernetes_sd_configs keys copied from the base config's first Kubernetes SD entry.
_SD_AUTH_KEYS = (
    "authorization",
    "basic_auth",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "follow_redirects",
    "enable_http2",
)


# ---- the generator (pure) -------------------------------------------------------------------


def sanitize_label_name(name: str) -> str:
    """Prometheus label-name sanitising as in prometheus-operator: invalid chars to ``_``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def quote_meta(s: str) -> str:
    """Go's ``regexp.QuoteMeta``: escape ``\\.+*?()|[]{}^$``."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", s)


def _init_relabelings() -> list[Obj]:
    return [{"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"}]


def _selector_relabelings(selector: Obj | None, kind: str) -> list[Obj]:
    """``keep``/``drop`` rules for a label selector on the ``service`` or ``pod`` meta labels."""
    selector = selector or {}
    out: list[Obj] = []
    pre = f"__meta_kubernetes_{kind}_label_"
    present = f"__meta_kubernetes_{kind}_labelpresent_"
    for k in sorted(selector.get("matchLabels") or {}):
        v = str(selector["matchLabels"][k])
        n = sanitize_label_name(k)
        out.append(
            {"action": "keep", "source_labels": [pre + n, present + n], "regex": f"({quote_meta(v)});true"}
        )
    for exp in selector.get("matchExpressions") or []:
        n = sanitize_label_name(exp["key"])
        op = exp.get("operator")
        values = "|".join(str(v) for v in exp.get("values") or [])
        if op == "In":
            out.append(
                {"action": "keep", "source_labels": [pre + n, present + n], "regex": f"({values});true"}
            )
        elif op == "NotIn":
            out.append(
                {"action": "drop", "source_labels": [pre + n, present + n], "regex": f"({values});true"}
            )
        elif op == "Exists":
            out.append({"action": "keep", "source_labels": [present + n], "regex": "true"})
        elif op == "DoesNotExist":
            out.append({"action": "drop", "source_labels": [present + n], "regex": "true"})
        else:
            raise ValueError(f"unsupported matchExpressions operator {op!r}")
    return out


def convert_relabel_config(rc: Obj) -> Obj:
    """A CRD ``RelabelConfig`` (camelCase) as a ``relabel_configs`` entry, operator key order."""
    out: Obj = {}
    if rc.get("sourceLabels"):
        out["source_labels"] = list(rc["sourceLabels"])
    if rc.get("separator") is not None:
        out["separator"] = rc["separator"]
    if rc.get("targetLabel"):
        out["target_label"] = rc["targetLabel"]
    if rc.get("regex") is not None:
        out["regex"] = rc["regex"]
    if rc.get("modulus"):
        out["modulus"] = int(rc["modulus"])
    if rc.get("replacement") is not None:
        out["replacement"] = rc["replacement"]
    if rc.get("action"):
        out["action"] = str(rc["action"]).lower()
    return out


def _sd_config(role: str, monitor: Obj, api_server: str | None, auth: Obj | None) -> Obj:
    md = monitor.get("metadata") or {}
    sel = (monitor.get("spec") or {}).get("namespaceSelector") or {}
    sd: Obj = {"role": role}
    if not sel.get("any"):
        names = list(sel.get("matchNames") or []) or [md.get("namespace", "default")]
        sd["namespaces"] = {"names": names}
    if api_server:
        sd["api_server"] = api_server
    sd.update(copy.deepcopy(auth or {}))
    if ((monitor.get("spec") or {}).get("attachMetadata") or {}).get("node"):
        sd["attach_metadata"] = {"node": True}
    return sd


def _endpoint_options(cfg: Obj, ep: Obj) -> None:
    """Scrape options shared by ServiceMonitor endpoints and PodMonitor podMetricsEndpoints."""
    if ep.get("interval"):
        cfg["scrape_interval"] = ep["interval"]
    if ep.get("scrapeTimeout"):
        cfg["scrape_timeout"] = ep["scrapeTimeout"]
    if ep.get("path"):
        cfg["metrics_path"] = ep["path"]
    if ep.get("proxyUrl"):
        cfg["proxy_url"] = ep["proxyUrl"]
    if ep.get("params"):
        cfg["params"] = {
            k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in ep["params"].items()
        }
    if ep.get("scheme"):
        cfg["scheme"] = ep["scheme"]
    if ep.get("followRedirects") is not None:
        cfg["follow_redirects"] = bool(ep["followRedirects"])
    if ep.get("enableHttp2") is not None:
        cfg["enable_http2"] = bool(ep["enableHttp2"])
    tls = ep.get("tlsConfig") or {}
    tc: Obj = {}
    for src, dst in (
        ("caFile", "ca_file"),
        ("certFile", "cert_file"),
        ("keyFile", "key_file"),
        ("serverName", "server_name"),
        ("insecureSkipVerify", "insecure_skip_verify"),
    ):
        if tls.get(src) not in (None, ""):
            tc[dst] = tls[src]
    if tc:
        cfg["tls_config"] = tc
    if ep.get("bearerTokenFile"):
        cfg["bearer_token_file"] = ep["bearerTokenFile"]


def _limits(cfg: Obj, spec: Obj) -> None:
    for src, dst in (
        ("sampleLimit", "sample_limit"),
        ("targetLimit", "target_limit"),
        ("labelLimit", "label_limit"),
        ("labelNameLengthLimit", "label_name_length_limit"),
        ("labelValueLengthLimit", "label_value_length_limit"),
    ):
        if spec.get(src):
            cfg[dst] = int(spec[src])


def _target_port(ep: Obj) -> str | int | None:
    tp = ep.get("targetPort")
    if tp in (None, "", 0):
        return None
    return tp if isinstance(tp, int) else str(tp)


def _target_port_keep(tp: str | int) -> Obj:
    """Keep rule for an endpoint's ``targetPort`` (a container port name or number)."""
    if isinstance(tp, int):
        return {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_port_number"],
            "regex": str(tp),
        }
    return {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": tp}


def _sharding(relabelings: list[Obj], shards: int, shard: int) -> list[Obj]:
    return relabelings + [
        {
            "source_labels": ["__address__"],
            "target_label": "__tmp_hash",
            "modulus": shards,
            "action": "hashmod",
        },
        {"source_labels": ["__tmp_hash"], "regex": str(shard), "action": "keep"},
    ]


_RUNNING_FILTER: Obj = {
    "action": "drop",
    "source_labels": ["__meta_kubernetes_pod_phase"],
    "regex": "(Failed|Succeeded)",
}


def service_monitor_configs(
    sm: Obj, api_server: str | None = None, auth: Obj | None = None, *, shards: int = 1, shard: int = 0
) -> list[Obj]:
    """The scrape configs of one ServiceMonitor (one per endpoint), role ``endpoints``."""
    md, spec = sm.get("metadata") or {}, sm.get("spec") or {}
    ns, name = md.get("namespace", "default"), md["name"]
    out: list[Obj] = []
    for i, ep in enumerate(spec.get("endpoints") or []):
        cfg: Obj = {
            "job_name": f"serviceMonitor/{ns}/{name}/{i}",
            "honor_labels": bool(ep.get("honorLabels")),
        }
        if ep.get("honorTimestamps") is not None:
            cfg["honor_timestamps"] = bool(ep["honorTimestamps"])
        cfg["kubernetes_sd_configs"] = [_sd_config("endpoints", sm, api_server, auth)]
        _endpoint_options(cfg, ep)
        rl = _init_relabelings() + _selector_relabelings(spec.get("selector"), "service")
        tp = _target_port(ep)
        if ep.get("port"):
            rl.append(
                {
                    "action": "keep",
                    "source_labels": ["__meta_kubernetes_endpoint_port_name"],
                    "regex": ep["port"],
                }
            )
        elif tp is not None:
            rl.append(_target_port_keep(tp))
        kind_name = [
            "__meta_kubernetes_endpoint_address_target_kind",
            "__meta_kubernetes_endpoint_address_target_name",
        ]
        rl += [
            {"source_labels": kind_name, "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
            {"source_labels": kind_name, "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        ]  # fmt: skip
        if ep.get("filterRunning", True):
            rl.append(dict(_RUNNING_FILTER))
        for lbl in spec.get("targetLabels") or []:
            rl.append(
                {
                    "source_labels": ["__meta_kubernetes_service_label_" + sanitize_label_name(lbl)],
                    "target_label": sanitize_label_name(lbl),
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        for lbl in spec.get("podTargetLabels") or []:
            rl.append(
                {
                    "source_labels": ["__meta_kubernetes_pod_label_" + sanitize_label_name(lbl)],
                    "target_label": sanitize_label_name(lbl),
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        rl.append(
            {
                "source_labels": ["__meta_kubernetes_service_name"],
                "target_label": "job",
                "replacement": "${1}",
            }
        )
        if spec.get("jobLabel"):
            rl.append(
                {
                    "source_labels": [
                        "__meta_kubernetes_service_label_" + sanitize_label_name(spec["jobLabel"])
                    ],
                    "target_label": "job",
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        if ep.get("port"):
            rl.append({"target_label": "endpoint", "replacement": ep["port"]})
        elif tp is not None:
            rl.append({"target_label": "endpoint", "replacement": str(tp)})
        rl += [convert_relabel_config(r) for r in ep.get("relabelings") or []]
        cfg["relabel_configs"] = _sharding(rl, shards, shard)
        _limits(cfg, spec)
        if ep.get("metricRelabelings"):
            cfg["metric_relabel_configs"] = [convert_relabel_config(r) for r in ep["metricRelabelings"]]
        out.append(cfg)
    return out


def pod_monitor_configs(
    pm: Obj, api_server: str | None = None, auth: Obj | None = None, *, shards: int = 1, shard: int = 0
) -> list[Obj]:
    """The scrape configs of one PodMonitor (one per podMetricsEndpoint), role ``pod``."""
    md, spec = pm.get("metadata") or {}, pm.get("spec") or {}
    ns, name = md.get("namespace", "default"), md["name"]
    out: list[Obj] = []
    for i, ep in enumerate(spec.get("podMetricsEndpoints") or []):
        cfg: Obj = {"job_name": f"podMonitor/{ns}/{name}/{i}", "honor_labels": bool(ep.get("honorLabels"))}
        if ep.get("honorTimestamps") is not None:
            cfg["honor_timestamps"] = bool(ep["honorTimestamps"])
        cfg["kubernetes_sd_configs"] = [_sd_config("pod", pm, api_server, auth)]
        _endpoint_options(cfg, ep)
        rl = _init_relabelings() + _selector_relabelings(spec.get("selector"), "pod")
        tp = _target_port(ep)
        if ep.get("port"):
            rl.append(
                {
                    "action": "keep",
                    "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                    "regex": ep["port"],
                }
            )
        elif ep.get("portNumber"):
            rl.append(
                {
                    "action": "keep",
                    "source_labels": ["__meta_kubernetes_pod_container_port_number"],
                    "regex": str(ep["portNumber"]),
                }
            )
        elif tp is not None:
            rl.append(_target_port_keep(tp))
        rl += [
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ]
        if ep.get("filterRunning", True):
            rl.append(dict(_RUNNING_FILTER))
        for lbl in spec.get("podTargetLabels") or []:
            rl.append(
                {
                    "source_labels": ["__meta_kubernetes_pod_label_" + sanitize_label_name(lbl)],
                    "target_label": sanitize_label_name(lbl),
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        rl.append({"target_label": "job", "replacement": f"{ns}/{name}"})
        if spec.get("jobLabel"):
            rl.append(
                {
                    "source_labels": ["__meta_kubernetes_pod_label_" + sanitize_label_name(spec["jobLabel"])],
                    "target_label": "job",
                    "regex": "(.+)",
                    "replacement": "${1}",
                }
            )
        if ep.get("port"):
            rl.append({"target_label": "endpoint", "replacement": ep["port"]})
        elif ep.get("portNumber"):
            rl.append({"target_label": "endpoint", "replacement": str(ep["portNumber"])})
        elif tp is not None:
            rl.append({"target_label": "endpoint", "replacement": str(tp)})
        rl += [convert_relabel_config(r) for r in ep.get("relabelings") or []]
        cfg["relabel_configs"] = _sharding(rl, shards, shard)
        _limits(cfg, spec)
        if ep.get("metricRelabelings"):
            cfg["metric_relabel_configs"] = [convert_relabel_config(r) for r in ep["metricRelabelings"]]
        out.append(cfg)
    return out


def _by_key(objs: Iterable[Obj]) -> list[Obj]:
    return sorted(objs, key=lambda o: ((o.get("metadata") or {}).get("namespace", ""), o["metadata"]["name"]))


def generate_scrape_configs(
    service_monitors: Iterable[Obj],
    pod_monitors: Iterable[Obj],
    api_server: str | None = None,
    auth: Obj | None = None,
    *,
    shards: int = 1,
    shard: int = 0,
) -> list[Obj]:
    """Scrape configs for the monitors, sorted by namespace/name like prometheus-operator.

    ``api_server`` and ``auth`` (``authorization``/``tls_config``/… keys) go into every
    ``kubernetes_sd_configs`` entry; leave them out for in-cluster discovery.
    """
    out: list[Obj] = []
    for sm in _by_key(service_monitors):
        out += service_monitor_configs(sm, api_server, auth, shards=shards, shard=shard)
    for pm in _by_key(pod_monitors):
        out += pod_monitor_configs(pm, api_server, auth, shards=shards, shard=shard)
    return out


def discovery_defaults(base: Obj) -> tuple[str | None, Obj]:
    """``api_server`` and auth keys of the base config's first ``kubernetes_sd_configs`` entry."""
    for sc in base.get("scrape_configs") or []:
        for sd in sc.get("kubernetes_sd_configs") or []:
            return sd.get("api_server"), {k: copy.deepcopy(sd[k]) for k in _SD_AUTH_KEYS if k in sd}
    return None, {}


def validate(config_text: str) -> None:
    """Raise ``scraper.config.ConfigError`` unless Heron's scraper accepts the config."""
    from scraper.config import load_config_str

    load_config_str(config_text)


def render_config(
    base: Obj,
    service_monitors: Sequence[Obj],
    pod_monitors: Sequence[Obj],
    api_server: str | None = None,
    auth: Obj | None = None,
    *,
    check: bool = True,
) -> tuple[str, list[str]]:
    """The merged ``prometheus.yml`` text and the names of monitors rejected as invalid.

    The base's jobs come first (earlier generated jobs are dropped from it); each
    monitor's configs are validated on their own, so one bad monitor does not
    block the others (prometheus-operator rejects invalid monitors the same way).
    """
    d_api, d_auth = discovery_defaults(base)
    api_server = api_server or d_api
    auth = d_auth if auth is None else auth
    merged = copy.deepcopy(base)
    jobs = [
        sc
        for sc in merged.get("scrape_configs") or []
        if not GENERATED_JOB.match(str(sc.get("job_name", "")))
    ]
    rejected: list[str] = []
    accepted: list[Obj] = []
    for kind, objs in (("ServiceMonitor", service_monitors), ("PodMonitor", pod_monitors)):
        for mon in _by_key(objs):
            md = mon["metadata"]
            label = f"{kind} {md.get('namespace', 'default')}/{md['name']}"
            try:
                if kind == "ServiceMonitor":
                    cfgs = generate_scrape_configs([mon], [], api_server, auth)
                else:
                    cfgs = generate_scrape_configs([], [mon], api_server, auth)
                if check:
                    validate(_dump({**merged, "scrape_configs": jobs + cfgs}))
            except Exception as e:  # noqa: BLE001 - any failure rejects just this monitor
                log.warning("rejecting %s: %s", label, e)
                rejected.append(label)
                continue
            accepted += cfgs
    merged["scrape_configs"] = jobs + accepted
    header = (
        "# Generated by the heron operator: the base config plus the scrape configs of\n"
        f"# {len(service_monitors)} ServiceMonitor(s) and {len(pod_monitors)} PodMonitor(s). Do not edit.\n"
    )
    return header + _dump(merged), rejected


class _NoAliasDumper(yaml.SafeDumper):
    """A dumper that writes shared lists twice instead of as YAML anchors/aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(cfg: Obj) -> str:
    return yaml.dump(cfg, Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False, width=1000)


def job_names(config_text: str) -> set[str]:
    cfg = yaml.safe_load(config_text) or {}
    return {str(sc.get("job_name")) for sc in cfg.get("scrape_configs") or []}


# ---- the controller -------------------------------------------------------------------------


def _secret_text(secret: Obj | None, key: str) -> str | None:
    if not secret:
        return None
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    data = (secret.get("data") or {}).get(key)
    return base64.b64decode(data).decode() if data is not None else None


class Operator:
    """Reconciles ServiceMonitors/PodMonitors into the Prometheus config Secret and reloads Prometheus."""

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = "monitoring",
        secret: str = "prometheus-config",
        key: str = "prometheus.yml",
        base_secret: str = "prometheus-base-config",
        prometheus_selector: str = "app=prometheus",
        api_server: str | None = None,
        reload_timeout: float = 90.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.secret = secret
        self.key = key
        self.base_secret = base_secret
        self.prometheus_selector = prometheus_selector
        self.api_server = api_server
        self.reload_timeout = reload_timeout
        self._dirty = asyncio.Event()
        self._stop = asyncio.Event()
        self._reload_task: asyncio.Task[None] | None = None
        self.reconciles = 0
        self.last_written: str | None = None

    def _kick(self, *_: object) -> None:
        self._dirty.set()

    async def run(self) -> None:
        """Watch and reconcile until :meth:`stop`."""
        from cluster.kubelet.client import Informer

        self.smons = Informer(self.client, GROUP_VERSION, "servicemonitors", handler=self._kick)
        self.pmons = Informer(self.client, GROUP_VERSION, "podmonitors", handler=self._kick)
        self.secrets = Informer(
            self.client, "v1", "secrets", namespace=self.namespace, handler=self._secret_event
        )
        informers = [self.smons, self.pmons, self.secrets]
        for inf in informers:
            inf.start()
        try:
            for inf in informers:
                await inf.synced.wait()
            log.info("informers synced; reconciling")
            self._dirty.set()
            while not self._stop.is_set():
                waiter = asyncio.create_task(self._dirty.wait())
                stopper = asyncio.create_task(self._stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                if self._stop.is_set():
                    break
                await asyncio.sleep(0.2)  # coalesce bursts of events
                self._dirty.clear()
                try:
                    await self.reconcile()
                except Exception:
                    log.exception("reconcile failed; retrying")
                    await asyncio.sleep(2.0)
                    self._dirty.set()
        finally:
            if self._reload_task is not None:
                self._reload_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._reload_task
            for inf in informers:
                await inf.stop()

    def stop(self) -> None:
        self._stop.set()

    def _secret_event(self, etype: str, obj: Obj, old: Obj | None) -> None:
        if obj.get("metadata", {}).get("name") in (self.secret, self.base_secret):
            self._dirty.set()

    async def reconcile(self) -> bool:
        """Render and write the config if it changed; returns whether it wrote."""
        self.reconciles += 1
        cur = self.secrets.get(self.namespace, self.secret)
        base_obj = self.secrets.get(self.namespace, self.base_secret)
        base_text = _secret_text(base_obj, self.key) or _secret_text(cur, self.key)
        if base_text is None:
            log.warning("neither %s nor %s has %s; waiting", self.base_secret, self.secret, self.key)
            return False
        base = yaml.safe_load(base_text) or {}
        text, rejected = await asyncio.to_thread(
            render_config,
            base,
            self.smons.items(),
            self.pmons.items(),
            self.api_server,
            None,
        )
        wanted = job_names(text)
        wrote = False
        if _secret_text(cur, self.key) != text:
            await self._write(text)
            wrote = True
            log.info(
                "wrote %s/%s: %d jobs%s",
                self.namespace,
                self.secret,
                len(wanted),
                f" (rejected: {', '.join(rejected)})" if rejected else "",
            )
        self.last_written = text
        if self._reload_task is not None:
            self._reload_task.cancel()
        self._reload_task = asyncio.create_task(self.ensure_loaded(wanted))
        return wrote

    async def _write(self, text: str) -> None:
        from cluster.kubelet.client import ApiError, path_for

        path = path_for("v1", "secrets", self.namespace, self.secret)
        for _ in range(5):
            try:
                cur = await self.client.get(path)
            except ApiError as e:
                if e.status != 404:
                    raise
                body = {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": self.secret, "namespace": self.namespace},
                    "type": "Opaque",
                    "data": {self.key: base64.b64encode(text.encode()).decode()},
                }
                await self.client.create(path_for("v1", "secrets", self.namespace), body)
                return
            new = copy.deepcopy(cur)
            new.pop("stringData", None)
            new["data"] = {**(cur.get("data") or {}), self.key: base64.b64encode(text.encode()).decode()}
            try:
                await self.client.replace(path, new)
                return
            except ApiError as e:
                if e.status != 409:
                    raise
        raise RuntimeError(f"could not update secret {self.namespace}/{self.secret}: conflicts")

    async def _prometheus_urls(self) -> list[str]:
        pods = await self.client.list(
            f"/api/v1/namespaces/{self.namespace}/pods", labelSelector=self.prometheus_selector
        )
        urls = []
        for p in pods.get("items") or []:
            st = p.get("status") or {}
            if st.get("phase") != "Running" or not st.get("podIP"):
                continue
            port = 9090
            for c in (p.get("spec") or {}).get("containers") or []:
                for cp in c.get("ports") or []:
                    if cp.get("name") == "web":
                        port = int(cp["containerPort"])
            host = st["podIP"]
            urls.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
        return urls

    async def ensure_loaded(self, wanted: set[str]) -> None:
        """Reload every Prometheus pod until its loaded config has exactly ``wanted`` jobs."""
        import aiohttp

        t0 = time.monotonic()
        deadline = t0 + self.reload_timeout
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            pending: set[str] | None = None
            while time.monotonic() < deadline:
                try:
                    urls = await self._prometheus_urls()
                except Exception as e:  # noqa: BLE001 - API hiccup: retry
                    log.debug("listing prometheus pods: %s", e)
                    urls = []
                pending = set()
                for url in urls:
                    try:
                        async with http.get(url + "/api/v1/status/config") as r:
                            loaded = (await r.json())["data"]["yaml"]
                        if job_names(loaded) == wanted:
                            continue
                        pending.add(url)
                        async with http.post(url + "/-/reload") as r:
                            if r.status >= 300:
                                log.debug("reload %s: %s %s", url, r.status, await r.text())
                    except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError) as e:
                        log.debug("prometheus %s: %s", url, e)
                        pending.add(url)
                if urls and not pending:
                    log.info(
                        "prometheus config loaded (%d jobs) after %.1fs", len(wanted), time.monotonic() - t0
                    )
                    return
                await asyncio.sleep(1.0)
        log.warning(
            "prometheus pods %s did not load the new config within %.0fs", pending, self.reload_timeout
        )


# ---- command line ---------------------------------------------------------------------------


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else in-cluster)")
    p.add_argument("--apiserver", help="Kubernetes API server URL (overrides the kubeconfig's)")
    p.add_argument("--namespace", default="monitoring", help="namespace of the Prometheus Secret and pods")
    p.add_argument("--secret", default="prometheus-config", help="Secret the merged config is written to")
    p.add_argument("--base-secret", default="prometheus-base-config", help="Secret holding the base config")
    p.add_argument("--key", default="prometheus.yml", help="key of the config in both Secrets")
    p.add_argument(
        "--prometheus-selector", default="app=prometheus", help="label selector of the Prometheus pods"
    )
    p.add_argument(
        "--sd-api-server",
        help="api_server for the generated kubernetes_sd_configs (default: the base config's)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``operator`` subcommand to the ``heron`` CLI."""
    p = sub.add_parser(
        "operator",
        help="turn ServiceMonitor/PodMonitor CRs into Prometheus scrape configs",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    _add_arguments(p)
    p.set_defaults(func=_cmd_operator)


async def _serve(args: argparse.Namespace) -> int:
    from cluster.kubelet.client import KubeClient

    client = KubeClient.from_args(args.apiserver, args.kubeconfig)
    op = Operator(
        client,
        namespace=args.namespace,
        secret=args.secret,
        key=args.key,
        base_secret=args.base_secret,
        prometheus_selector=args.prometheus_selector,
        api_server=args.sd_api_server,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, op.stop)
    try:
        await op.run()
    finally:
        await client.close()
    return 0


def _cmd_operator(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="heron-operator", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    _add_arguments(p)
    return _cmd_operator(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
