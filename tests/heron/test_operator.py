"""The ServiceMonitor/PodMonitor -> scrape config generator of ``heron operator``.

Expected shapes are prometheus-operator's (``pkg/prometheus/promcfg.go``) output
for the same CRs, as seen in generated ``prometheus.yaml.gz`` files. Configs are
validated by Heron's own ``scraper.config`` and, with the Kubernetes SD swapped
for a static target (Debian's promtool 2.42 lacks the Kubernetes SD), by
``promtool check config``.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from heron.operator import (
    discovery_defaults,
    generate_scrape_configs,
    job_names,
    quote_meta,
    render_config,
    sanitize_label_name,
)
from scraper.config import load_config_str
from scraper.relabel import relabel
from tsdb.labels import Labels

API = "https://127.0.0.1:6443"
AUTH = {"authorization": {"credentials_file": "token"}, "tls_config": {"ca_file": "ca.crt"}}
KIND_NAME = [
    "__meta_kubernetes_endpoint_address_target_kind",
    "__meta_kubernetes_endpoint_address_target_name",
]
SHARD = [
    {"source_labels": ["__address__"], "target_label": "__tmp_hash", "modulus": 1, "action": "hashmod"},
    {"source_labels": ["__tmp_hash"], "regex": "0", "action": "keep"},
]


def smon(name: str, ns: str = "shop", **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"matchLabels": {"app": name}})
    spec.setdefault("endpoints", [{"port": "http"}])
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def pmon(name: str, ns: str = "shop", **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"matchLabels": {"app": name}})
    spec.setdefault("podMetricsEndpoints", [{"port": "metrics"}])
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


# The canonical output for `selector: {matchLabels: {app: cart}}, endpoints: [{port: http, path: /metrics}]`.
CART_EXPECTED: dict[str, Any] = {
    "job_name": "serviceMonitor/shop/cart/0",
    "honor_labels": False,
    "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": ["shop"]}, "api_server": API, **AUTH}],
    "metrics_path": "/metrics",
    "relabel_configs": [
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_service_label_app", "__meta_kubernetes_service_labelpresent_app"],
            "regex": "(cart);true",
        },
        {"action": "keep", "source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": "http"},
        {"source_labels": KIND_NAME, "separator": ";", "regex": "Node;(.*)", "replacement": "${1}", "target_label": "node"},
        {"source_labels": KIND_NAME, "separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "service"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
        {"source_labels": ["__meta_kubernetes_service_name"], "target_label": "job", "replacement": "${1}"},
        {"target_label": "endpoint", "replacement": "http"},
        *SHARD,
    ],
}  # fmt: skip

# The canonical PodMonitor output for `selector: {matchLabels: {app: worker}}, podMetricsEndpoints: [{port: metrics}]`.
WORKER_EXPECTED: dict[str, Any] = {
    "job_name": "podMonitor/shop/worker/0",
    "honor_labels": False,
    "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["shop"]}, "api_server": API, **AUTH}],
    "relabel_configs": [
        {"source_labels": ["job"], "target_label": "__tmp_prometheus_job_name"},
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_label_app", "__meta_kubernetes_pod_labelpresent_app"],
            "regex": "(worker);true",
        },
        {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_port_name"],
            "regex": "metrics",
        },
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)"},
        {"target_label": "job", "replacement": "shop/worker"},
        {"target_label": "endpoint", "replacement": "metrics"},
        *SHARD,
    ],
}


def test_service_monitor_canonical_output() -> None:
    got = generate_scrape_configs(
        [smon("cart", endpoints=[{"port": "http", "path": "/metrics"}])], [], API, AUTH
    )
    assert got == [CART_EXPECTED]


def test_pod_monitor_canonical_output() -> None:
    assert generate_scrape_configs([], [pmon("worker")], API, AUTH) == [WORKER_EXPECTED]


def _rl(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    return list(cfg["relabel_configs"])


# (description, monitor, check(config list))
CASES: list[tuple[str, dict[str, Any], Any]] = [
    (
        "one job per endpoint, numbered",
        smon("multi", endpoints=[{"port": "http"}, {"port": "admin", "path": "/admin/metrics"}]),
        lambda cs: [c["job_name"] for c in cs] == ["serviceMonitor/shop/multi/0", "serviceMonitor/shop/multi/1"]
        and cs[1]["metrics_path"] == "/admin/metrics"
        and {"target_label": "endpoint", "replacement": "admin"} in _rl(cs[1]),
    ),
    (
        "matchLabels sorted, names sanitised, values QuoteMeta'd",
        smon("x", selector={"matchLabels": {"app.kubernetes.io/name": "a.b", "tier": "web"}}),
        lambda cs: _rl(cs[0])[1:3]
        == [
            {
                "action": "keep",
                "source_labels": [
                    "__meta_kubernetes_service_label_app_kubernetes_io_name",
                    "__meta_kubernetes_service_labelpresent_app_kubernetes_io_name",
                ],
                "regex": r"(a\.b);true",
            },
            {
                "action": "keep",
                "source_labels": [
                    "__meta_kubernetes_service_label_tier",
                    "__meta_kubernetes_service_labelpresent_tier",
                ],
                "regex": "(web);true",
            },
        ],
    ),
    (
        "matchExpressions In/NotIn/Exists/DoesNotExist",
        smon(
            "x",
            selector={
                "matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["a", "b"]},
                    {"key": "env", "operator": "NotIn", "values": ["dev"]},
                    {"key": "team", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ]
            },
        ),
        lambda cs: _rl(cs[0])[1:5]
        == [
            {
                "action": "keep",
                "source_labels": ["__meta_kubernetes_service_label_app", "__meta_kubernetes_service_labelpresent_app"],
                "regex": "(a|b);true",
            },
            {
                "action": "drop",
                "source_labels": ["__meta_kubernetes_service_label_env", "__meta_kubernetes_service_labelpresent_env"],
                "regex": "(dev);true",
            },
            {"action": "keep", "source_labels": ["__meta_kubernetes_service_labelpresent_team"], "regex": "true"},
            {"action": "drop", "source_labels": ["__meta_kubernetes_service_labelpresent_legacy"], "regex": "true"},
        ],
    ),
    (
        "namespaceSelector any: no namespaces",
        smon("x", namespaceSelector={"any": True}),
        lambda cs: "namespaces" not in cs[0]["kubernetes_sd_configs"][0],
    ),
    (
        "namespaceSelector matchNames",
        smon("x", ns="monitoring", namespaceSelector={"matchNames": ["shop", "default"]}),
        lambda cs: cs[0]["kubernetes_sd_configs"][0]["namespaces"] == {"names": ["shop", "default"]},
    ),
    (
        "targetPort by name keeps the container port name",
        smon("x", endpoints=[{"targetPort": "web"}]),
        lambda cs: {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "web"}
        in _rl(cs[0])
        and {"target_label": "endpoint", "replacement": "web"} in _rl(cs[0]),
    ),
    (
        "targetPort by number keeps the container port number",
        smon("x", endpoints=[{"targetPort": 8080}]),
        lambda cs: {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_port_number"],
            "regex": "8080",
        }
        in _rl(cs[0])
        and {"target_label": "endpoint", "replacement": "8080"} in _rl(cs[0]),
    ),
    (
        "interval, scrapeTimeout, scheme, params, honorLabels, honorTimestamps, tlsConfig",
        smon(
            "x",
            endpoints=[
                {
                    "port": "https",
                    "interval": "30s",
                    "scrapeTimeout": "10s",
                    "scheme": "https",
                    "params": {"module": ["http_2xx"], "format": "prometheus"},
                    "honorLabels": True,
                    "honorTimestamps": False,
                    "tlsConfig": {"insecureSkipVerify": True, "serverName": "x.shop.svc"},
                }
            ],
        ),
        lambda cs: cs[0]["scrape_interval"] == "30s"
        and cs[0]["scrape_timeout"] == "10s"
        and cs[0]["scheme"] == "https"
        and cs[0]["params"] == {"module": ["http_2xx"], "format": ["prometheus"]}
        and cs[0]["honor_labels"] is True
        and cs[0]["honor_timestamps"] is False
        and cs[0]["tls_config"] == {"server_name": "x.shop.svc", "insecure_skip_verify": True},
    ),
    (
        "relabelings after the generated ones (before sharding), metricRelabelings",
        smon(
            "x",
            endpoints=[
                {
                    "port": "http",
                    "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}],
                    "metricRelabelings": [
                        {"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"},
                        {"action": "labeldrop", "regex": "pid"},
                    ],
                }
            ],
        ),
        lambda cs: _rl(cs[0])[-3] == {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"}
        and cs[0]["metric_relabel_configs"]
        == [{"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}, {"regex": "pid", "action": "labeldrop"}],
    ),
    (
        "jobLabel, targetLabels, podTargetLabels, sampleLimit",
        smon("x", jobLabel="app.kubernetes.io/name", targetLabels=["team"], podTargetLabels=["version"], sampleLimit=100),
        lambda cs: {
            "source_labels": ["__meta_kubernetes_service_label_app_kubernetes_io_name"],
            "target_label": "job",
            "regex": "(.+)",
            "replacement": "${1}",
        }
        in _rl(cs[0])
        and {
            "source_labels": ["__meta_kubernetes_service_label_team"],
            "target_label": "team",
            "regex": "(.+)",
            "replacement": "${1}",
        }
        in _rl(cs[0])
        and {
            "source_labels": ["__meta_kubernetes_pod_label_version"],
            "target_label": "version",
            "regex": "(.+)",
            "replacement": "${1}",
        }
        in _rl(cs[0])
        and cs[0]["sample_limit"] == 100,
    ),
    (
        "filterRunning false keeps finished pods",
        smon("x", endpoints=[{"port": "http", "filterRunning": False}]),
        lambda cs: all(r.get("source_labels") != ["__meta_kubernetes_pod_phase"] for r in _rl(cs[0])),
    ),
    (
        "PodMonitor portNumber, jobLabel, several endpoints",
        pmon("w", jobLabel="app", podMetricsEndpoints=[{"portNumber": 9100}, {"port": "metrics", "path": "/m"}]),
        lambda cs: [c["job_name"] for c in cs] == ["podMonitor/shop/w/0", "podMonitor/shop/w/1"]
        and {
            "action": "keep",
            "source_labels": ["__meta_kubernetes_pod_container_port_number"],
            "regex": "9100",
        }
        in _rl(cs[0])
        and {
            "source_labels": ["__meta_kubernetes_pod_label_app"],
            "target_label": "job",
            "regex": "(.+)",
            "replacement": "${1}",
        }
        in _rl(cs[1])
        and cs[1]["metrics_path"] == "/m",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("monitor", "check"), [(m, c) for _, m, c in CASES], ids=[d for d, _, _ in CASES])
def test_generator_cases(monitor: dict[str, Any], check: Any) -> None:
    sms = [monitor] if monitor["kind"] == "ServiceMonitor" else []
    pms = [monitor] if monitor["kind"] == "PodMonitor" else []
    cfgs = generate_scrape_configs(sms, pms, API, AUTH)
    assert check(cfgs), yaml.safe_dump(cfgs, sort_keys=False)


def test_monitors_sorted_by_namespace_and_name_service_monitors_first() -> None:
    cfgs = generate_scrape_configs([smon("b"), smon("a", ns="z"), smon("a")], [pmon("a", ns="a")])
    assert [c["job_name"] for c in cfgs] == [
        "serviceMonitor/shop/a/0",
        "serviceMonitor/shop/b/0",
        "serviceMonitor/z/a/0",
        "podMonitor/a/a/0",
    ]
    # no api_server: in-cluster discovery
    assert cfgs[0]["kubernetes_sd_configs"] == [{"role": "endpoints", "namespaces": {"names": ["shop"]}}]


def test_helpers() -> None:
    assert sanitize_label_name("app.kubernetes.io/name") == "app_kubernetes_io_name"
    assert quote_meta("a.b+c*(d)|[e]{f}^$\\") == r"a\.b\+c\*\(d\)\|\[e\]\{f\}\^\$\\"
    assert quote_meta("my-app_1") == "my-app_1"


# ---- merged config ----------------------------------------------------------------------


def base_config() -> dict[str, Any]:
    from heron.up import _stack_text, render

    text = render(_stack_text("prometheus.yml"), API_URL=API, API_HOSTPORT="127.0.0.1:6443")
    return yaml.safe_load(text)


def shipped_monitors() -> list[dict[str, Any]]:
    from heron.up import UpOptions, monitoring_manifests

    objs = monitoring_manifests(UpOptions(data=Path("/nonexistent")), API, "127.0.0.1")
    return [o for o in objs if o["kind"] == "ServiceMonitor"]


def test_render_config_merges_with_base_and_validates() -> None:
    base = base_config()
    text, rejected = render_config(base, shipped_monitors(), [pmon("worker")])
    assert not rejected
    cfg = load_config_str(text)  # Heron's own prometheus.yml loader
    names = [sc.job_name for sc in cfg.scrape_configs]
    base_jobs = [sc["job_name"] for sc in base["scrape_configs"]]
    assert names[: len(base_jobs)] == base_jobs
    assert names[len(base_jobs) :] == [
        "serviceMonitor/monitoring/kube-state-metrics/0",
        "serviceMonitor/shop/cart/0",
        "serviceMonitor/shop/frontend/0",
        "serviceMonitor/shop/payments/0",
        "podMonitor/shop/worker/0",
    ]
    ksm = yaml.safe_load(text)["scrape_configs"][len(base_jobs)]
    assert ksm["honor_labels"] is True
    # api_server and auth come from the base's Kubernetes SD
    assert ksm["kubernetes_sd_configs"][0] == {
        "role": "endpoints",
        "namespaces": {"names": ["monitoring"]},
        "api_server": API,
        **AUTH,
    }
    assert "&id" not in text and "*id" not in text  # no YAML aliases
    # idempotent: rendering over an already merged config gives the same text
    again, _ = render_config(yaml.safe_load(text), shipped_monitors(), [pmon("worker")])
    assert again == text
    assert job_names(text) == set(names)


def test_invalid_monitor_is_rejected_alone() -> None:
    bad = smon("bad", endpoints=[{"port": "http", "interval": "1s", "scrapeTimeout": "5s"}])
    text, rejected = render_config(base_config(), [smon("cart"), bad], [])
    assert rejected == ["ServiceMonitor shop/bad"]
    assert "serviceMonitor/shop/cart/0" in job_names(text)
    assert "serviceMonitor/shop/bad/0" not in job_names(text)


def test_discovery_defaults() -> None:
    api, auth = discovery_defaults(base_config())
    assert api == API and auth == AUTH
    assert discovery_defaults({}) == (None, {})


def _labels_after_relabel(cfg: dict[str, Any], meta: dict[str, str]) -> dict[str, str] | None:
    loaded = load_config_str(yaml.safe_dump({"scrape_configs": [cfg]})).scrape_configs[0]
    out = relabel(Labels.from_dict({"job": cfg["job_name"], **meta}), loaded.relabel_configs)
    return None if out is None else {k: v for k, v in dict(out).items() if not k.startswith("__")}


ENDPOINT_META = {
    "__address__": "127.0.1.5:8080",
    "__meta_kubernetes_namespace": "shop",
    "__meta_kubernetes_service_name": "cart",
    "__meta_kubernetes_service_label_app": "cart",
    "__meta_kubernetes_service_labelpresent_app": "true",
    "__meta_kubernetes_endpoint_port_name": "http",
    "__meta_kubernetes_endpoint_address_target_kind": "Pod",
    "__meta_kubernetes_endpoint_address_target_name": "cart-7d9f-abcde",
    "__meta_kubernetes_pod_name": "cart-7d9f-abcde",
    "__meta_kubernetes_pod_container_name": "cart",
    "__meta_kubernetes_pod_phase": "Running",
}


def test_generated_relabeling_gives_operator_target_labels() -> None:
    (cfg,) = generate_scrape_configs([smon("cart")], [], API, AUTH)
    assert _labels_after_relabel(cfg, ENDPOINT_META) == {
        "job": "cart",
        "namespace": "shop",
        "service": "cart",
        "pod": "cart-7d9f-abcde",
        "container": "cart",
        "endpoint": "http",
    }
    assert (
        _labels_after_relabel(cfg, {**ENDPOINT_META, "__meta_kubernetes_endpoint_port_name": "grpc"}) is None
    )
    assert (
        _labels_after_relabel(cfg, {**ENDPOINT_META, "__meta_kubernetes_service_label_app": "payments"})
        is None
    )
    assert _labels_after_relabel(cfg, {**ENDPOINT_META, "__meta_kubernetes_pod_phase": "Succeeded"}) is None


def test_pod_monitor_relabeling_target_labels() -> None:
    (cfg,) = generate_scrape_configs([], [pmon("worker")], API, AUTH)
    meta = {
        "__address__": "127.0.1.9:9100",
        "__meta_kubernetes_namespace": "shop",
        "__meta_kubernetes_pod_name": "worker-0",
        "__meta_kubernetes_pod_label_app": "worker",
        "__meta_kubernetes_pod_labelpresent_app": "true",
        "__meta_kubernetes_pod_container_name": "worker",
        "__meta_kubernetes_pod_container_port_name": "metrics",
        "__meta_kubernetes_pod_phase": "Running",
    }
    assert _labels_after_relabel(cfg, meta) == {
        "job": "shop/worker",
        "namespace": "shop",
        "pod": "worker-0",
        "container": "worker",
        "endpoint": "metrics",
    }


def test_promtool_check_config(tmp_path: Path) -> None:
    """promtool 2.42 (Debian) has no Kubernetes SD: swap it for a static target, check the rest."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    text, _ = render_config(
        base_config(),
        shipped_monitors() + [smon("x", endpoints=CASES[7][1]["spec"]["endpoints"])],
        [pmon("w")],
    )
    cfg = yaml.safe_load(text)
    cfg.pop("rule_files", None)
    cfg.pop("alerting", None)
    for sc in cfg["scrape_configs"]:
        if sc.pop("kubernetes_sd_configs", None) is not None:
            sc["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
        sc.pop("authorization", None)
        sc.get("tls_config", {}).pop("ca_file", None)
    f = tmp_path / "prometheus.yml"
    f.write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = subprocess.run([promtool, "check", "config", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_operator_does_not_mutate_inputs() -> None:
    m = smon("cart", endpoints=[{"port": "http", "relabelings": [{"targetLabel": "a", "replacement": "b"}]}])
    before = copy.deepcopy(m)
    generate_scrape_configs([m], [], API, AUTH)
    assert m == before
