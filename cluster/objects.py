"""Object defaults and validation, as a real API server applies them on admission."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"

_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    f"validation is '{DNS1123_SUBDOMAIN}')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    f"start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    f"validation is '{DNS1123_LABEL}')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    f"regex used for validation is '{DNS1035_LABEL}')"
)

Cause = dict[str, Any]


def now_rfc3339(t: float | None = None) -> str:
    """``2006-01-02T15:04:05Z`` for a unix time (default now)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def now_micro(t: float | None = None) -> str:
    """MicroTime form ``2006-01-02T15:04:05.000000Z``."""
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}Z"


def parse_time(s: str | None) -> float | None:
    """Unix time of an RFC 3339 timestamp (None if empty)."""
    if not s:
        return None
    import datetime as _dt

    s2 = s.replace("Z", "+00:00")
    try:
        return _dt.datetime.fromisoformat(s2).timestamp()
    except ValueError:
        return None


def new_uid() -> str:
    """A fresh object UID."""
    return str(uuid.uuid4())


def invalid_value(field: str, value: Any, detail: str) -> Cause:
    """A FieldValueInvalid cause."""
    import json

    v = json.dumps(value) if not isinstance(value, str) else f'"{value}"'
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {v}: {detail}", "field": field}


def required(field: str, detail: str = "") -> Cause:
    """A FieldValueRequired cause."""
    return {
        "reason": "FieldValueRequired",
        "message": "Required value" + (f": {detail}" if detail else ""),
        "field": field,
    }


def duplicate(field: str, value: Any) -> Cause:
    """A FieldValueDuplicate cause."""
    return {"reason": "FieldValueDuplicate", "message": f'Duplicate value: "{value}"', "field": field}


def unsupported(field: str, value: Any, allowed: list[str]) -> Cause:
    """A FieldValueNotSupported cause."""
    opts = ", ".join(f'"{a}"' for a in allowed)
    return {
        "reason": "FieldValueNotSupported",
        "message": f'Unsupported value: "{value}": supported values: {opts}',
        "field": field,
    }


def forbidden_field(field: str, detail: str) -> Cause:
    """A FieldValueForbidden cause."""
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def check_name(name: str, field: str, kind: str = "subdomain") -> list[Cause]:
    """Validate an object name."""
    if kind == "label":
        if len(name) > 63:
            return [invalid_value(field, name, "must be no more than 63 characters")]
        if not re.fullmatch(DNS1123_LABEL, name):
            return [invalid_value(field, name, _LABEL_MSG)]
    elif kind == "dns1035":
        if len(name) > 63:
            return [invalid_value(field, name, "must be no more than 63 characters")]
        if not re.fullmatch(DNS1035_LABEL, name):
            return [invalid_value(field, name, _DNS1035_MSG)]
    elif kind == "path":
        if name in (".", "..") or "/" in name or "%" in name:
            return [invalid_value(field, name, "may not contain '/' or '%'")]
    else:
        if len(name) > 253:
            return [invalid_value(field, name, "must be no more than 253 characters")]
        if not re.fullmatch(DNS1123_SUBDOMAIN, name):
            return [invalid_value(field, name, _SUBDOMAIN_MSG)]
    return []


def check_labels(labels: Any, field: str) -> list[Cause]:
    """Validate label keys and values."""
    out: list[Cause] = []
    if labels is None:
        return out
    if not isinstance(labels, dict):
        return [invalid_value(field, labels, "must be a map of strings")]
    for k, v in labels.items():
        out += check_qualified_name(k, field)
        if not isinstance(v, str):
            out.append(invalid_value(f"{field}", v, "label values must be strings"))
            continue
        if len(v) > 63:
            out.append(invalid_value(field, v, "must be no more than 63 characters"))
        elif not re.fullmatch(_LABEL_VALUE, v):
            out.append(
                invalid_value(
                    field,
                    v,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                    f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE}')",
                )
            )
    return out


def check_qualified_name(k: str, field: str) -> list[Cause]:
    """Validate a label/annotation key."""
    prefix, _, name = k.rpartition("/")
    if prefix and (len(prefix) > 253 or not re.fullmatch(DNS1123_SUBDOMAIN, prefix)):
        return [invalid_value(field, k, "prefix part " + _SUBDOMAIN_MSG)]
    if not name or len(name) > 63 or not re.fullmatch(_QUALIFIED_NAME, name):
        return [
            invalid_value(
                field,
                k,
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                f"used for validation is '{_QUALIFIED_NAME}') with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')",
            )
        ]
    return []


# ---- defaults ---------------------------------------------------------------
def _pod_spec_defaults(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for cs_field in ("initContainers", "containers"):
        for c in spec.get(cs_field) or []:
            if not isinstance(c, dict):
                continue
            image = str(c.get("image") or "")
            tag = image.rsplit("/", 1)[-1]
            if "imagePullPolicy" not in c:
                c["imagePullPolicy"] = (
                    "Always"
                    if (":" not in tag or tag.endswith(":latest")) and "@" not in tag
                    else "IfNotPresent"
                )
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            for p in c.get("ports") or []:
                if isinstance(p, dict):
                    p.setdefault("protocol", "TCP")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                pr = c.get(probe)
                if isinstance(pr, dict):
                    pr.setdefault("timeoutSeconds", 1)
                    pr.setdefault("periodSeconds", 10)
                    pr.setdefault("successThreshold", 1)
                    pr.setdefault("failureThreshold", 3)
                    if isinstance(pr.get("httpGet"), dict):
                        pr["httpGet"].setdefault("path", "/")
                        pr["httpGet"].setdefault("scheme", "HTTP")
    for v in spec.get("volumes") or []:
        if isinstance(v, dict):
            for src in ("configMap", "secret"):
                if isinstance(v.get(src), dict):
                    v[src].setdefault("defaultMode", 420)


def _template_defaults(obj: dict[str, Any]) -> None:
    tmpl = obj.setdefault("spec", {}).setdefault("template", {})
    tmpl.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    _pod_spec_defaults(tmpl.setdefault("spec", {}))


DEFAULT_TOLERATION_SECONDS = 300


def default_pod(obj: dict[str, Any], toleration_seconds: int | None = None) -> None:
    """Pod defaults (spec and initial status); not-ready/unreachable tolerations as DefaultTolerationSeconds."""
    secs = DEFAULT_TOLERATION_SECONDS if toleration_seconds is None else toleration_seconds
    spec = obj.setdefault("spec", {})
    _pod_spec_defaults(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tols = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(
            t.get("key") == key and t.get("effect") in ("NoExecute", None, "")
            for t in tols
            if isinstance(t, dict)
        ):
            tols.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": secs})
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", qos_class(spec))


def qos_class(spec: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' resources."""
    any_set = False
    guaranteed = True
    for c in spec.get("containers") or []:
        r = c.get("resources") or {} if isinstance(c, dict) else {}
        req, lim = r.get("requests") or {}, r.get("limits") or {}
        if req or lim:
            any_set = True
        for res in ("cpu", "memory"):
            if res not in lim or (res in req and str(req[res]) != str(lim[res])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def default_deployment(obj: dict[str, Any]) -> None:
    """Deployment defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    st = spec.setdefault("strategy", {})
    st.setdefault("type", "RollingUpdate")
    if st["type"] == "RollingUpdate":
        ru = st.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template_defaults(obj)


def default_replicaset(obj: dict[str, Any]) -> None:
    """ReplicaSet defaults."""
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template_defaults(obj)


def default_statefulset(obj: dict[str, Any]) -> None:
    """StatefulSet defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if us.get("type") == "RollingUpdate":
        us.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _template_defaults(obj)


def default_daemonset(obj: dict[str, Any]) -> None:
    """DaemonSet defaults."""
    spec = obj.setdefault("spec", {})
    us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if us.get("type") == "RollingUpdate":
        ru = us.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template_defaults(obj)


def default_service(obj: dict[str, Any]) -> None:
    """Service defaults (IP allocation is done by the API server)."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "targetPort" not in p and "port" in p:
                p["targetPort"] = p["port"]
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def default_namespace(obj: dict[str, Any]) -> None:
    """Namespace defaults."""
    name = obj.get("metadata", {}).get("name", "")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def default_secret(obj: dict[str, Any]) -> None:
    """Secret defaults: type Opaque; stringData folded into data."""
    import base64

    if not obj.get("type"):
        obj["type"] = "Opaque"
    sd = obj.pop("stringData", None)
    if isinstance(sd, dict):
        data = obj.setdefault("data", {})
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def default_hpa(obj: dict[str, Any]) -> None:
    """HorizontalPodAutoscaler (autoscaling/v2) defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    b = spec.setdefault("behavior", {})
    up = b.setdefault("scaleUp", {})
    up.setdefault("stabilizationWindowSeconds", 0)
    up.setdefault("selectPolicy", "Max")
    up.setdefault(
        "policies",
        [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    )
    down = b.setdefault("scaleDown", {})
    down.setdefault("stabilizationWindowSeconds", 300)
    down.setdefault("selectPolicy", "Max")
    down.setdefault("policies", [{"type": "Percent", "value": 100, "periodSeconds": 15}])
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
            }
        ]


def default_node(obj: dict[str, Any]) -> None:
    """Node defaults."""
    obj.setdefault("spec", {})
    obj.setdefault("status", {})


def default_job(obj: dict[str, Any]) -> None:
    """Job defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    tmpl = spec.setdefault("template", {})
    _pod_spec_defaults(tmpl.setdefault("spec", {}))


DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "Pod": default_pod,
    "Deployment": default_deployment,
    "ReplicaSet": default_replicaset,
    "StatefulSet": default_statefulset,
    "DaemonSet": default_daemonset,
    "Service": default_service,
    "Namespace": default_namespace,
    "Secret": default_secret,
    "HorizontalPodAutoscaler": default_hpa,
    "Node": default_node,
    "Job": default_job,
}

# kinds whose spec changes bump metadata.generation
GENERATION_KINDS = {
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "HorizontalPodAutoscaler",
    "Job",
    "CronJob",
    "CustomResourceDefinition",
    "Ingress",
    "ReplicationController",
    "PodDisruptionBudget",
    "NetworkPolicy",
}


def apply_defaults(obj: dict[str, Any], toleration_seconds: int | None = None) -> None:
    """Apply kind-specific defaults in place."""
    if obj.get("kind") == "Pod":
        default_pod(obj, toleration_seconds)
        return
    fn = DEFAULTERS.get(obj.get("kind", ""))
    if fn is not None:
        fn(obj)


# ---- validation -------------------------------------------------------------
NAME_KINDS: dict[str, str] = {
    "Namespace": "label",
    "Service": "dns1035",
    "Role": "path",
    "ClusterRole": "path",
    "RoleBinding": "path",
    "ClusterRoleBinding": "path",
}


def validate_meta(obj: dict[str, Any], namespaced: bool) -> list[Cause]:
    """Validate metadata (name, labels, annotations)."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return [required("metadata")]
    out: list[Cause] = []
    name = meta.get("name")
    if not name:
        out.append(required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str):
        out.append(invalid_value("metadata.name", name, "must be a string"))
    else:
        out += check_name(name, "metadata.name", NAME_KINDS.get(obj.get("kind", ""), "subdomain"))
    out += check_labels(meta.get("labels"), "metadata.labels")
    ann = meta.get("annotations")
    if ann is not None:
        if not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values()):
            out.append(invalid_value("metadata.annotations", ann, "must be a map of strings"))
        else:
            for k in ann:
                out += check_qualified_name(k, "metadata.annotations")
            if sum(len(k) + len(v) for k, v in ann.items()) > 256 * 1024:
                out.append(
                    {
                        "reason": "FieldValueTooLong",
                        "message": "Too long: must have at most 262144 bytes",
                        "field": "metadata.annotations",
                    }
                )
    return out


def _validate_containers(cs: Any, field: str, out: list[Cause], need: bool = True) -> None:
    if not cs:
        if need:
            out.append(required(field))
        return
    if not isinstance(cs, list):
        out.append(invalid_value(field, cs, "must be a list"))
        return
    seen: set[str] = set()
    for i, c in enumerate(cs):
        f = f"{field}[{i}]"
        if not isinstance(c, dict):
            out.append(invalid_value(f, c, "must be an object"))
            continue
        n = c.get("name")
        if not n:
            out.append(required(f"{f}.name"))
        else:
            out += check_name(str(n), f"{f}.name", "label")
            if n in seen:
                out.append(duplicate(f"{f}.name", n))
            seen.add(str(n))
        if not c.get("image"):
            out.append(required(f"{f}.image"))
        for j, p in enumerate(c.get("ports") or []):
            cp = p.get("containerPort") if isinstance(p, dict) else None
            if not isinstance(cp, int) or not 0 < cp < 65536:
                out.append(
                    invalid_value(
                        f"{f}.ports[{j}].containerPort", cp, "must be between 1 and 65535, inclusive"
                    )
                )
        seen_env: set[str] = set()
        for j, e in enumerate(c.get("env") or []):
            if not isinstance(e, dict) or not e.get("name"):
                out.append(required(f"{f}.env[{j}].name"))
            else:
                seen_env.add(e["name"])


def validate_pod_spec(spec: Any, field: str) -> list[Cause]:
    """Validate a PodSpec."""
    out: list[Cause] = []
    if not isinstance(spec, dict):
        return [required(field)]
    _validate_containers(spec.get("containers"), f"{field}.containers", out)
    _validate_containers(spec.get("initContainers"), f"{field}.initContainers", out, need=False)
    rp = spec.get("restartPolicy")
    if rp not in (None, "Always", "OnFailure", "Never"):
        out.append(unsupported(f"{field}.restartPolicy", rp, ["Always", "OnFailure", "Never"]))
    seen: set[str] = set()
    for i, v in enumerate(spec.get("volumes") or []):
        if not isinstance(v, dict) or not v.get("name"):
            out.append(required(f"{field}.volumes[{i}].name"))
        elif v["name"] in seen:
            out.append(duplicate(f"{field}.volumes[{i}].name", v["name"]))
        else:
            seen.add(v["name"])
    return out


def _validate_workload(obj: dict[str, Any], need_selector: bool = True) -> list[Cause]:
    from cluster.apiserver.selectors import label_selector_matches

    out: list[Cause] = []
    spec = obj.get("spec") or {}
    reps = spec.get("replicas")
    if reps is not None and (not isinstance(reps, int) or reps < 0):
        out.append(invalid_value("spec.replicas", reps, "must be greater than or equal to 0"))
    sel = spec.get("selector")
    tmpl = spec.get("template") or {}
    tlabels = (tmpl.get("metadata") or {}).get("labels") or {}
    if need_selector and sel is None:
        out.append(required("spec.selector"))
    elif need_selector and sel is not None and not (sel.get("matchLabels") or sel.get("matchExpressions")):
        out.append(invalid_value("spec.selector", sel, "empty selector is invalid for deployment"))
    elif sel is not None and not label_selector_matches(sel, tlabels):
        out.append(
            invalid_value(
                "spec.template.metadata.labels", tlabels, "`selector` does not match template `labels`"
            )
        )
    out += check_labels(tlabels, "spec.template.metadata.labels")
    out += validate_pod_spec(tmpl.get("spec"), "spec.template.spec")
    rp = (tmpl.get("spec") or {}).get("restartPolicy")
    if obj.get("kind") in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet") and rp not in (
        None,
        "Always",
    ):
        out.append(unsupported("spec.template.spec.restartPolicy", rp, ["Always"]))
    return out


def _validate_service(obj: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    spec = obj.get("spec") or {}
    t = spec.get("type", "ClusterIP")
    if t not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        out.append(unsupported("spec.type", t, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
    ports = spec.get("ports") or []
    if not ports and t != "ExternalName" and spec.get("clusterIP") != "None":
        out.append(required("spec.ports"))
    names: set[str] = set()
    for i, p in enumerate(ports):
        if not isinstance(p, dict):
            out.append(invalid_value(f"spec.ports[{i}]", p, "must be an object"))
            continue
        port = p.get("port")
        if not isinstance(port, int) or not 0 < port < 65536:
            out.append(invalid_value(f"spec.ports[{i}].port", port, "must be between 1 and 65535, inclusive"))
        if len(ports) > 1 and not p.get("name"):
            out.append(required(f"spec.ports[{i}].name"))
        if p.get("name"):
            if p["name"] in names:
                out.append(duplicate(f"spec.ports[{i}].name", p["name"]))
            names.add(p["name"])
        np_ = p.get("nodePort")
        if np_ is not None and t not in ("NodePort", "LoadBalancer") and np_ != 0:
            out.append(
                forbidden_field(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'")
            )
        elif np_ is not None and np_ != 0 and not 30000 <= int(np_) <= 32767:
            out.append(
                invalid_value(
                    f"spec.ports[{i}].nodePort",
                    np_,
                    "provided port is not in the valid range. The range of valid ports is 30000-32767",
                )
            )
    return out


def _validate_hpa(obj: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    spec = obj.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    if not ref.get("kind"):
        out.append(required("spec.scaleTargetRef.kind"))
    if not ref.get("name"):
        out.append(required("spec.scaleTargetRef.name"))
    mx = spec.get("maxReplicas")
    if not isinstance(mx, int) or mx < 1:
        out.append(invalid_value("spec.maxReplicas", mx, "must be greater than or equal to 1"))
    mn = spec.get("minReplicas", 1)
    if isinstance(mx, int) and isinstance(mn, int) and mn > mx:
        out.append(invalid_value("spec.minReplicas", mn, "must be less than or equal to maxReplicas"))
    return out


def _validate_secret(obj: dict[str, Any]) -> list[Cause]:
    import base64
    import binascii

    out: list[Cause] = []
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        return [invalid_value("data", "", "must be a map")]
    for k, v in data.items():
        if not re.fullmatch(r"[-._a-zA-Z0-9]+", k):
            out.append(
                invalid_value(
                    "data", k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
                )
            )
        try:
            base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            out.append(invalid_value(f"data[{k}]", "<secret contents redacted>", "illegal base64 data"))
    return out


def _validate_configmap(obj: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    for f in ("data", "binaryData"):
        d = obj.get(f)
        if d is None:
            continue
        if not isinstance(d, dict):
            out.append(invalid_value(f, d, "must be a map"))
            continue
        for k, v in d.items():
            if not re.fullmatch(r"[-._a-zA-Z0-9]+", k):
                out.append(
                    invalid_value(
                        f,
                        k,
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                    )
                )
            if f == "data" and not isinstance(v, str):
                out.append(invalid_value(f"{f}[{k}]", v, "must be a string"))
    return out


def _validate_rbac(obj: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    kind = obj.get("kind")
    if kind in ("Role", "ClusterRole"):
        for i, r in enumerate(obj.get("rules") or []):
            if not isinstance(r, dict) or not r.get("verbs"):
                out.append(required(f"rules[{i}].verbs", "verbs must contain at least one value"))
            elif not r.get("nonResourceURLs") and "resources" not in r and not obj.get("aggregationRule"):
                out.append(
                    required(f"rules[{i}].resources", "resource rules must supply at least one resource")
                )
    else:
        ref = obj.get("roleRef") or {}
        if ref.get("kind") not in ("Role", "ClusterRole"):
            out.append(unsupported("roleRef.kind", ref.get("kind", ""), ["Role", "ClusterRole"]))
        if not ref.get("name"):
            out.append(required("roleRef.name"))
        if kind == "ClusterRoleBinding" and ref.get("kind") == "Role":
            out.append(unsupported("roleRef.kind", "Role", ["ClusterRole"]))
        for i, s in enumerate(obj.get("subjects") or []):
            if s.get("kind") not in ("User", "Group", "ServiceAccount"):
                out.append(
                    unsupported(f"subjects[{i}].kind", s.get("kind", ""), ["Group", "ServiceAccount", "User"])
                )
            if not s.get("name"):
                out.append(required(f"subjects[{i}].name"))
    return out


def _validate_node(obj: dict[str, Any]) -> list[Cause]:
    out: list[Cause] = []
    for i, t in enumerate((obj.get("spec") or {}).get("taints") or []):
        if t.get("effect") not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            out.append(
                unsupported(
                    f"spec.taints[{i}].effect",
                    t.get("effect", ""),
                    ["NoExecute", "NoSchedule", "PreferNoSchedule"],
                )
            )
    return out


VALIDATORS: dict[str, Callable[[dict[str, Any]], list[Cause]]] = {
    "Pod": lambda o: validate_pod_spec(o.get("spec"), "spec"),
    "Deployment": _validate_workload,
    "ReplicaSet": _validate_workload,
    "StatefulSet": _validate_workload,
    "DaemonSet": _validate_workload,
    "Service": _validate_service,
    "HorizontalPodAutoscaler": _validate_hpa,
    "Secret": _validate_secret,
    "ConfigMap": _validate_configmap,
    "Role": _validate_rbac,
    "ClusterRole": _validate_rbac,
    "RoleBinding": _validate_rbac,
    "ClusterRoleBinding": _validate_rbac,
    "Node": _validate_node,
}


def validate(obj: dict[str, Any], namespaced: bool) -> list[Cause]:
    """All validation causes for an object (empty when valid)."""
    out = validate_meta(obj, namespaced)
    fn = VALIDATORS.get(obj.get("kind", ""))
    if fn is not None:
        out += fn(obj)
    return out


def validate_update(old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """Immutability rules on update."""
    out: list[Cause] = []
    kind = new.get("kind")
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        if (old.get("spec") or {}).get("selector") != (new.get("spec") or {}).get("selector"):
            out.append(
                invalid_value("spec.selector", (new.get("spec") or {}).get("selector"), "field is immutable")
            )
    if kind == "Pod":
        os_, ns_ = old.get("spec") or {}, new.get("spec") or {}
        if os_.get("nodeName") and os_.get("nodeName") != ns_.get("nodeName"):
            out.append(
                forbidden_field(
                    "spec.nodeName",
                    "pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                )
            )
        oc = [{k: v for k, v in c.items() if k != "image"} for c in os_.get("containers") or []]
        nc = [{k: v for k, v in c.items() if k != "image"} for c in ns_.get("containers") or []]
        if oc != nc:
            out.append(
                forbidden_field(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                )
            )
    if kind == "Service":
        oip = (old.get("spec") or {}).get("clusterIP")
        nip = (new.get("spec") or {}).get("clusterIP")
        if oip and nip and oip != nip:
            out.append(invalid_value("spec.clusterIPs[0]", nip, "may not change once set"))
    if kind == "Secret" and old.get("immutable") and old.get("data") != new.get("data"):
        out.append(forbidden_field("data", "field is immutable when `immutable` is set"))
    if kind == "ConfigMap" and old.get("immutable") and old.get("data") != new.get("data"):
        out.append(forbidden_field("data", "field is immutable when `immutable` is set"))
    return out


# ---- quantities and helpers shared by controllers ---------------------------
_SUFFIX = {
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
    "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def parse_quantity(q: Any) -> float:
    """A resource quantity (``500m``, ``1Gi``, ``2``) in base units; raises ValueError."""
    if q is None:
        return 0.0
    if isinstance(q, int | float):
        return float(q)
    m = re.fullmatch(r"\s*([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)\s*", str(q))
    if not m or m.group(2) not in _SUFFIX:
        raise ValueError(f"invalid quantity {q!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2)]


def format_cpu(cores: float) -> str:
    """Cores as a quantity (``250m`` or ``2``)."""
    milli = round(cores * 1000)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def owner_reference(obj: dict[str, Any], controller: bool = True) -> dict[str, Any]:
    """An ownerReference to ``obj``."""
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any."""
    for r in obj.get("metadata", {}).get("ownerReferences") or []:
        if r.get("controller"):
            return r
    return None


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    """A status condition by type."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def pod_ready(pod: dict[str, Any]) -> bool:
    """Whether the pod's Ready condition is True."""
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def pod_active(pod: dict[str, Any]) -> bool:
    """Not terminal and not being deleted."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") and not pod["metadata"].get(
        "deletionTimestamp"
    )


def pod_available(pod: dict[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``min_ready_seconds``."""
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    t = parse_time(c.get("lastTransitionTime"))
    return t is not None and t + min_ready_seconds <= now


def set_condition(status: dict[str, Any], type_: str, st: str, reason: str, message: str, now: str) -> None:
    """Set a condition; lastTransitionTime moves only when the status changes."""
    conds = status.setdefault("conditions", [])
    for c in conds:
        if c.get("type") == type_:
            if c.get("status") != st:
                c["lastTransitionTime"] = now
            if (c.get("status"), c.get("reason"), c.get("message")) != (st, reason, message):
                c["lastUpdateTime"] = now
            c["status"] = st
            c["reason"] = reason
            c["message"] = message
            return
    conds.append(
        {
            "type": type_,
            "status": st,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }
    )
