"""Server-side printing: ``meta.k8s.io/v1`` Tables as ``kubectl get`` asks for them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cluster.objects import parse_time

from .selectors import map_to_selector_string, selector_to_string

Col = tuple[str, str, int, str]  # name, type, priority, format
Printer = tuple[list[Col], Callable[[dict[str, Any], float], list[Any]]]


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        sec = s % 60
        return f"{minutes}m" if sec == 0 else f"{minutes}m{sec}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def age(ts: str | None, now: float) -> str:
    """Age column value of a timestamp."""
    t = parse_time(ts)
    if t is None:
        return "<unknown>"
    return human_duration(now - t)


def _name(o: dict[str, Any]) -> str:
    return o.get("metadata", {}).get("name", "")


def _age(o: dict[str, Any], now: float) -> str:
    return age(o.get("metadata", {}).get("creationTimestamp"), now)


NAME: Col = ("Name", "string", 0, "name")
AGE: Col = ("Age", "string", 0, "")


def _pod_status(p: dict[str, Any]) -> tuple[str, int, int, int, float | None]:
    status = p.get("status") or {}
    spec = p.get("spec") or {}
    restarts = 0
    last_restart: float | None = None
    total = len(spec.get("containers") or [])
    ready = 0
    reason = status.get("reason") or status.get("phase") or "Pending"
    initializing = False
    init_specs = spec.get("initContainers") or []
    for i, c in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(c.get("restartCount") or 0)
        st = c.get("state") or {}
        term = st.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        initializing = True
        if term:
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode')}"
        elif st.get("waiting", {}).get("reason") and st["waiting"]["reason"] != "PodInitializing":
            reason = "Init:" + st["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break
    if not initializing:
        has_running = False
        for c in reversed(status.get("containerStatuses") or []):
            restarts += int(c.get("restartCount") or 0)
            lt = ((c.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
            t = parse_time(lt)
            if t is not None and (last_restart is None or t > last_restart):
                last_restart = t
            st = c.get("state") or {}
            if st.get("waiting", {}).get("reason"):
                reason = st["waiting"]["reason"]
            elif st.get("terminated", {}).get("reason"):
                reason = st["terminated"]["reason"]
            elif st.get("terminated"):
                term = st["terminated"]
                reason = (
                    f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode')}"
                )
            elif c.get("ready") and st.get("running"):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            ready_cond = any(
                x.get("type") == "Ready" and x.get("status") == "True" for x in status.get("conditions") or []
            )
            reason = "Running" if ready_cond else "NotReady"
    md = p.get("metadata") or {}
    if md.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif md.get("deletionTimestamp"):
        reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def _pod_row(p: dict[str, Any], now: float) -> list[Any]:
    reason, ready, total, restarts, last = _pod_status(p)
    rs = str(restarts)
    if last is not None and restarts:
        rs = f"{restarts} ({human_duration(now - last)} ago)"
    status = p.get("status") or {}
    spec = p.get("spec") or {}
    gates = spec.get("readinessGates") or []
    if gates:
        conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        ok = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        gate_s = f"{ok}/{len(gates)}"
    else:
        gate_s = "<none>"
    return [
        _name(p),
        f"{ready}/{total}",
        reason,
        rs,
        _age(p, now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gate_s,
    ]


POD: Printer = (
    [
        NAME,
        ("Ready", "string", 0, ""),
        ("Status", "string", 0, ""),
        ("Restarts", "string", 0, ""),
        AGE,
        ("IP", "string", 1, ""),
        ("Node", "string", 1, ""),
        ("Nominated Node", "string", 1, ""),
        ("Readiness Gates", "string", 1, ""),
    ],
    _pod_row,
)


def _node_row(n: dict[str, Any], now: float) -> list[Any]:
    status = n.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    if "Ready" not in conds:
        st = "Unknown"
    else:
        st = {"True": "Ready", "False": "NotReady"}.get(conds["Ready"], "Unknown")
    if (n.get("spec") or {}).get("unschedulable"):
        st += ",SchedulingDisabled"
    labels = n.get("metadata", {}).get("labels") or {}
    roles = sorted(
        {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/") and "/" in k}
        | ({labels["kubernetes.io/role"]} if "kubernetes.io/role" in labels else set())
    )
    addrs = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    return [
        _name(n),
        st,
        ",".join(roles) or "<none>",
        _age(n, now),
        info.get("kubeletVersion") or "",
        addrs.get("InternalIP") or "<none>",
        addrs.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


NODE: Printer = (
    [
        NAME,
        ("Status", "string", 0, ""),
        ("Roles", "string", 0, ""),
        AGE,
        ("Version", "string", 0, ""),
        ("Internal-IP", "string", 1, ""),
        ("External-IP", "string", 1, ""),
        ("OS-Image", "string", 1, ""),
        ("Kernel-Version", "string", 1, ""),
        ("Container-Runtime", "string", 1, ""),
    ],
    _node_row,
)


def _containers(o: dict[str, Any]) -> tuple[str, str]:
    cs = ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _deploy_row(d: dict[str, Any], now: float) -> list[Any]:
    st = d.get("status") or {}
    spec = d.get("spec") or {}
    names, images = _containers(d)
    return [
        _name(d),
        f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
        _age(d, now),
        names,
        images,
        selector_to_string(spec.get("selector")) or "<none>",
    ]


DEPLOYMENT: Printer = (
    [
        NAME,
        ("Ready", "string", 0, ""),
        ("Up-to-date", "string", 0, ""),
        ("Available", "string", 0, ""),
        AGE,
        ("Containers", "string", 1, ""),
        ("Images", "string", 1, ""),
        ("Selector", "string", 1, ""),
    ],
    _deploy_row,
)


def _rs_row(r: dict[str, Any], now: float) -> list[Any]:
    st = r.get("status") or {}
    spec = r.get("spec") or {}
    names, images = _containers(r)
    return [
        _name(r),
        spec.get("replicas", 0),
        st.get("replicas", 0),
        st.get("readyReplicas", 0),
        _age(r, now),
        names,
        images,
        selector_to_string(spec.get("selector")) or "<none>",
    ]


REPLICASET: Printer = (
    [
        NAME,
        ("Desired", "integer", 0, ""),
        ("Current", "integer", 0, ""),
        ("Ready", "integer", 0, ""),
        AGE,
        ("Containers", "string", 1, ""),
        ("Images", "string", 1, ""),
        ("Selector", "string", 1, ""),
    ],
    _rs_row,
)


def _sts_row(s: dict[str, Any], now: float) -> list[Any]:
    st = s.get("status") or {}
    names, images = _containers(s)
    return [
        _name(s),
        f"{st.get('readyReplicas', 0)}/{(s.get('spec') or {}).get('replicas', 0)}",
        _age(s, now),
        names,
        images,
    ]


STATEFULSET: Printer = (
    [NAME, ("Ready", "string", 0, ""), AGE, ("Containers", "string", 1, ""), ("Images", "string", 1, "")],
    _sts_row,
)


def _ds_row(d: dict[str, Any], now: float) -> list[Any]:
    st = d.get("status") or {}
    spec = d.get("spec") or {}
    names, images = _containers(d)
    ns = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    return [
        _name(d),
        st.get("desiredNumberScheduled", 0),
        st.get("currentNumberScheduled", 0),
        st.get("numberReady", 0),
        st.get("updatedNumberScheduled", 0),
        st.get("numberAvailable", 0),
        map_to_selector_string(ns) or "<none>",
        _age(d, now),
        names,
        images,
        selector_to_string(spec.get("selector")) or "<none>",
    ]


DAEMONSET: Printer = (
    [
        NAME,
        ("Desired", "integer", 0, ""),
        ("Current", "integer", 0, ""),
        ("Ready", "integer", 0, ""),
        ("Up-to-date", "integer", 0, ""),
        ("Available", "integer", 0, ""),
        ("Node Selector", "string", 0, ""),
        AGE,
        ("Containers", "string", 1, ""),
        ("Images", "string", 1, ""),
        ("Selector", "string", 1, ""),
    ],
    _ds_row,
)


def _svc_ports(spec: dict[str, Any]) -> str:
    out = []
    for p in spec.get("ports") or []:
        s = f"{p.get('port')}"
        if p.get("nodePort"):
            s += f":{p['nodePort']}"
        s += f"/{p.get('protocol', 'TCP')}"
        out.append(s)
    return ",".join(out) or "<none>"


def _svc_row(s: dict[str, Any], now: float) -> list[Any]:
    spec = s.get("spec") or {}
    t = spec.get("type", "ClusterIP")
    ext = "<none>"
    if t == "ExternalName":
        ext = spec.get("externalName") or "<none>"
    elif t == "LoadBalancer":
        ing = ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ext = ",".join(i.get("ip") or i.get("hostname", "") for i in ing) or "<pending>"
    elif spec.get("externalIPs"):
        ext = ",".join(spec["externalIPs"])
    return [
        _name(s),
        t,
        spec.get("clusterIP") or "<none>",
        ext,
        _svc_ports(spec),
        _age(s, now),
        map_to_selector_string(spec.get("selector")) or "<none>",
    ]


SERVICE: Printer = (
    [
        NAME,
        ("Type", "string", 0, ""),
        ("Cluster-IP", "string", 0, ""),
        ("External-IP", "string", 0, ""),
        ("Port(s)", "string", 0, ""),
        AGE,
        ("Selector", "string", 1, ""),
    ],
    _svc_row,
)


def _ep_row(e: dict[str, Any], now: float) -> list[Any]:
    eps = []
    for ss in e.get("subsets") or []:
        ports = ss.get("ports") or []
        for a in ss.get("addresses") or []:
            if ports:
                eps += [f"{a.get('ip')}:{p.get('port')}" for p in ports]
            else:
                eps.append(a.get("ip", ""))
    s = ",".join(eps[:3])
    if len(eps) > 3:
        s += f" + {len(eps) - 3} more..."
    return [_name(e), s or "<none>", _age(e, now)]


ENDPOINTS: Printer = ([NAME, ("Endpoints", "string", 0, ""), AGE], _ep_row)


def _eps_row(e: dict[str, Any], now: float) -> list[Any]:
    ports = ",".join(str(p.get("port")) for p in e.get("ports") or []) or "<unset>"
    addrs = [a for ep in e.get("endpoints") or [] for a in ep.get("addresses") or []]
    s = ",".join(addrs[:3])
    if len(addrs) > 3:
        s += f" + {len(addrs) - 3} more..."
    return [_name(e), e.get("addressType", ""), ports, s or "<unset>", _age(e, now)]


ENDPOINTSLICE: Printer = (
    [NAME, ("AddressType", "string", 0, ""), ("Ports", "string", 0, ""), ("Endpoints", "string", 0, ""), AGE],
    _eps_row,
)


NAMESPACE: Printer = (
    [NAME, ("Status", "string", 0, ""), AGE],
    lambda o, now: [_name(o), (o.get("status") or {}).get("phase", ""), _age(o, now)],
)
CONFIGMAP: Printer = (
    [NAME, ("Data", "integer", 0, ""), AGE],
    lambda o, now: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o, now)],
)
SECRET: Printer = (
    [NAME, ("Type", "string", 0, ""), ("Data", "integer", 0, ""), AGE],
    lambda o, now: [_name(o), o.get("type", ""), len(o.get("data") or {}), _age(o, now)],
)
SERVICEACCOUNT: Printer = (
    [NAME, ("Secrets", "integer", 0, ""), AGE],
    lambda o, now: [_name(o), len(o.get("secrets") or []), _age(o, now)],
)


def _event_row(e: dict[str, Any], now: float) -> list[Any]:
    io = e.get("involvedObject") or {}
    src = e.get("source") or {}
    last = e.get("lastTimestamp") or e.get("eventTime") or e.get("metadata", {}).get("creationTimestamp")
    first = e.get("firstTimestamp") or e.get("eventTime")
    sub = io.get("fieldPath") or ""
    source = src.get("component", "")
    if src.get("host"):
        source += ", " + src["host"]
    count = e.get("count") or 1
    last_s = age(last, now)
    if count > 1:
        last_s = f"{last_s} (x{count} over {age(first, now)})"
    return [
        last_s,
        e.get("type", ""),
        e.get("reason", ""),
        f"{(io.get('kind') or '').lower()}/{io.get('name', '')}",
        sub,
        source,
        (e.get("message") or "").strip(),
        age(first, now),
        count,
        _name(e),
    ]


EVENT: Printer = (
    [
        ("Last Seen", "string", 0, ""),
        ("Type", "string", 0, ""),
        ("Reason", "string", 0, ""),
        ("Object", "string", 0, ""),
        ("Subobject", "string", 1, ""),
        ("Source", "string", 1, ""),
        ("Message", "string", 0, ""),
        ("First Seen", "string", 1, ""),
        ("Count", "string", 1, ""),
        ("Name", "string", 1, "name"),
    ],
    _event_row,
)


def _hpa_targets(h: dict[str, Any]) -> str:
    spec = h.get("spec") or {}
    cur = {}
    for m in (h.get("status") or {}).get("currentMetrics") or []:
        t = m.get("type")
        src = m.get(_lower_first(t)) or {}
        key = (t, (src.get("metric") or {}).get("name") or src.get("name"))
        cur[key] = src.get("current") or {}
    out = []
    for m in spec.get("metrics") or []:
        t = m.get("type")
        src = m.get(_lower_first(t)) or {}
        key = (t, (src.get("metric") or {}).get("name") or src.get("name"))
        tgt = src.get("target") or {}
        c = cur.get(key)
        if tgt.get("type") == "Utilization":
            cv = (
                f"{c.get('averageUtilization')}%"
                if c and c.get("averageUtilization") is not None
                else "<unknown>"
            )
            label = f"{src.get('name', 'cpu')}: " if t == "Resource" else ""
            out.append(f"{label}{cv}/{tgt.get('averageUtilization')}%")
        else:
            tv = tgt.get("averageValue") or tgt.get("value")
            cval = (c.get("averageValue") or c.get("value")) if c else None
            out.append(
                f"{cval if cval is not None else '<unknown>'}/{tv}"
                + (" (avg)" if tgt.get("averageValue") else "")
            )
    return ", ".join(out) or "<none>"


def _lower_first(s: str | None) -> str:
    return (s[0].lower() + s[1:]) if s else ""


def _hpa_row(h: dict[str, Any], now: float) -> list[Any]:
    spec = h.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    return [
        _name(h),
        f"{ref.get('kind')}/{ref.get('name')}",
        _hpa_targets(h),
        spec.get("minReplicas", 1),
        spec.get("maxReplicas"),
        (h.get("status") or {}).get("currentReplicas", 0),
        _age(h, now),
    ]


HPA: Printer = (
    [
        NAME,
        ("Reference", "string", 0, ""),
        ("Targets", "string", 0, ""),
        ("MinPods", "string", 0, ""),
        ("MaxPods", "integer", 0, ""),
        ("Replicas", "integer", 0, ""),
        AGE,
    ],
    _hpa_row,
)


def _ing_row(i: dict[str, Any], now: float) -> list[Any]:
    spec = i.get("spec") or {}
    hosts = ",".join(r.get("host") or "*" for r in spec.get("rules") or []) or "*"
    ing = ((i.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    addr = ",".join(x.get("ip") or x.get("hostname", "") for x in ing)
    ports = "80, 443" if spec.get("tls") else "80"
    return [_name(i), spec.get("ingressClassName") or "<none>", hosts, addr, ports, _age(i, now)]


INGRESS: Printer = (
    [
        NAME,
        ("Class", "string", 0, ""),
        ("Hosts", "string", 0, ""),
        ("Address", "string", 0, ""),
        ("Ports", "string", 0, ""),
        AGE,
    ],
    _ing_row,
)


def _binding_row(b: dict[str, Any], now: float) -> list[Any]:
    ref = b.get("roleRef") or {}
    subs = b.get("subjects") or []

    def names(kind: str) -> str:
        out = []
        for s in subs:
            if s.get("kind") == kind:
                out.append(
                    f"{s.get('namespace')}/{s.get('name')}" if kind == "ServiceAccount" else s.get("name", "")
                )
        return ", ".join(out)

    return [
        _name(b),
        f"{ref.get('kind')}/{ref.get('name')}",
        _age(b, now),
        names("User"),
        names("Group"),
        names("ServiceAccount"),
    ]


BINDING: Printer = (
    [
        NAME,
        ("Role", "string", 0, ""),
        AGE,
        ("Users", "string", 1, ""),
        ("Groups", "string", 1, ""),
        ("ServiceAccounts", "string", 1, ""),
    ],
    _binding_row,
)
CREATED_AT: Printer = (
    [NAME, ("Created At", "date", 0, "")],
    lambda o, now: [_name(o), o.get("metadata", {}).get("creationTimestamp")],
)
LEASE: Printer = (
    [NAME, ("Holder", "string", 0, ""), AGE],
    lambda o, now: [_name(o), (o.get("spec") or {}).get("holderIdentity") or "", _age(o, now)],
)
CONTROLLERREVISION: Printer = (
    [NAME, ("Controller", "string", 0, ""), ("Revision", "integer", 0, ""), AGE],
    lambda o, now: [
        _name(o),
        next(
            (
                f"{r.get('kind', '').lower()}.{r.get('apiVersion', '').split('/')[0]}/{r.get('name')}"
                for r in o.get("metadata", {}).get("ownerReferences") or []
                if r.get("controller")
            ),
            "<none>",
        ),
        o.get("revision", 0),
        _age(o, now),
    ],
)
INGRESSCLASS: Printer = (
    [NAME, ("Controller", "string", 0, ""), ("Parameters", "string", 0, ""), AGE],
    lambda o, now: [_name(o), (o.get("spec") or {}).get("controller", ""), "<none>", _age(o, now)],
)

PRINTERS: dict[str, Printer] = {
    "Pod": POD,
    "Node": NODE,
    "Deployment": DEPLOYMENT,
    "ReplicaSet": REPLICASET,
    "StatefulSet": STATEFULSET,
    "DaemonSet": DAEMONSET,
    "Service": SERVICE,
    "Endpoints": ENDPOINTS,
    "EndpointSlice": ENDPOINTSLICE,
    "Namespace": NAMESPACE,
    "ConfigMap": CONFIGMAP,
    "Secret": SECRET,
    "ServiceAccount": SERVICEACCOUNT,
    "Event": EVENT,
    "HorizontalPodAutoscaler": HPA,
    "Ingress": INGRESS,
    "IngressClass": INGRESSCLASS,
    "RoleBinding": BINDING,
    "ClusterRoleBinding": BINDING,
    "Lease": LEASE,
    "ControllerRevision": CONTROLLERREVISION,
}


def _jsonpath(obj: Any, path: str) -> Any:
    cur = obj
    for p in path.strip().lstrip(".").split("."):
        if not p:
            continue
        idx = None
        if "[" in p and p.endswith("]"):
            p, _, rest = p.partition("[")
            try:
                idx = int(rest[:-1])
            except ValueError:
                return None
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
        if idx is not None:
            if not isinstance(cur, list) or idx >= len(cur):
                return None
            cur = cur[idx]
    return cur


def crd_printer(version: dict[str, Any]) -> Printer:
    """Columns of a custom resource (additionalPrinterColumns, else Name + Age)."""
    extra = version.get("additionalPrinterColumns") or []
    cols: list[Col] = [NAME]
    for c in extra:
        cols.append(
            (c.get("name", ""), c.get("type", "string"), int(c.get("priority", 0)), c.get("format", ""))
        )
    if not extra:
        cols.append(AGE)

    def row(o: dict[str, Any], now: float) -> list[Any]:
        cells: list[Any] = [_name(o)]
        for c in extra:
            v = _jsonpath(o, c.get("jsonPath", ""))
            if c.get("type") == "date":
                cells.append(age(v, now) if v else "<unknown>")
            elif v is None:
                cells.append(None)
            elif isinstance(v, dict | list):
                import json

                cells.append(json.dumps(v))
            else:
                cells.append(v)
        if not extra:
            cells.append(_age(o, now))
        return cells

    return cols, row


def partial_metadata(o: dict[str, Any]) -> dict[str, Any]:
    """PartialObjectMetadata of an object."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": o.get("metadata", {}),
    }


def to_table(
    printer: Printer,
    items: list[dict[str, Any]],
    now: float,
    *,
    resource_version: str = "",
    continue_: str = "",
    include_object: str = "Metadata",
    no_headers: bool = False,
) -> dict[str, Any]:
    """Build a Table for items."""
    cols, fn = printer
    rows = []
    for o in items:
        row: dict[str, Any] = {"cells": fn(o, now)}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = partial_metadata(o)
        rows.append(row)
    meta: dict[str, Any] = {}
    if resource_version:
        meta["resourceVersion"] = resource_version
    if continue_:
        meta["continue"] = continue_
    table: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    table["columnDefinitions"] = (
        []
        if no_headers
        else [
            {"name": n, "type": t, "format": f, "description": _DESCRIPTIONS.get(n, n), "priority": p}
            for n, t, p, f in cols
        ]
    )
    table["rows"] = rows
    return table


_DESCRIPTIONS = {
    "Name": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "Age": "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
}
