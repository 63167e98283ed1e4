"""Decoding of Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``).

kubectl's typed clients (``kubectl create namespace|serviceaccount|role|...``,
``kubectl create token``, ``kubectl auth can-i``, ``kubectl auth whoami``,
``kubectl drain``'s evictions) send protobuf bodies. They are decoded here into
the JSON object model with per-message field tables taken from Kubernetes'
``generated.proto`` files for the kinds those commands send. A body using a
field not in the tables is refused with 415 so nothing is silently dropped;
JSON works for everything.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

MAGIC = b"k8s\x00"

# message -> field number -> (json name, type, repeated)
# types: s=string, i=int (varint), b=bool (capitals: Go pointer fields, whose zero is a value), y=bytes, t=Time, q=Quantity, n=IntOrString,
#        m:X=message X, ms=map<string,string>, my=map<string,bytes>, mq=map<string,Quantity>, mv=map<string,[]string>
F = tuple[str, str, bool]
S: dict[str, dict[int, F]] = {
    "ObjectMeta": {
        1: ("name", "s", False),
        2: ("generateName", "s", False),
        3: ("namespace", "s", False),
        4: ("selfLink", "s", False),
        5: ("uid", "s", False),
        6: ("resourceVersion", "s", False),
        7: ("generation", "i", False),
        8: ("creationTimestamp", "t", False),
        9: ("deletionTimestamp", "t", False),
        10: ("deletionGracePeriodSeconds", "I", False),
        11: ("labels", "ms", False),
        12: ("annotations", "ms", False),
        13: ("ownerReferences", "m:OwnerReference", True),
        14: ("finalizers", "s", True),
        17: ("managedFields", "skip", True),
    },
    "OwnerReference": {
        1: ("kind", "s", False),
        3: ("name", "s", False),
        4: ("uid", "s", False),
        5: ("apiVersion", "s", False),
        6: ("controller", "B", False),
        7: ("blockOwnerDeletion", "B", False),
    },
    "LabelSelector": {
        1: ("matchLabels", "ms", False),
        2: ("matchExpressions", "m:LabelSelectorRequirement", True),
    },
    "LabelSelectorRequirement": {
        1: ("key", "s", False),
        2: ("operator", "s", False),
        3: ("values", "s", True),
    },
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "I", False),
        2: ("preconditions", "m:Preconditions", False),
        3: ("orphanDependents", "B", False),
        4: ("propagationPolicy", "s", False),
        5: ("dryRun", "s", True),
    },
    "Preconditions": {1: ("uid", "s", False), 2: ("resourceVersion", "s", False)},
    # policy/v1
    "Eviction": {1: ("metadata", "m:ObjectMeta", False), 2: ("deleteOptions", "m:DeleteOptions", False)},
    # authorization/v1
    "SelfSubjectAccessReview": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:SelfSubjectAccessReviewSpec", False),
        3: ("status", "skip", False),
    },
    "SelfSubjectAccessReviewSpec": {
        1: ("resourceAttributes", "m:ResourceAttributes", False),
        2: ("nonResourceAttributes", "m:NonResourceAttributes", False),
    },
    "SubjectAccessReview": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:SubjectAccessReviewSpec", False),
        3: ("status", "skip", False),
    },
    "LocalSubjectAccessReview": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:SubjectAccessReviewSpec", False),
        3: ("status", "skip", False),
    },
    "SubjectAccessReviewSpec": {
        1: ("resourceAttributes", "m:ResourceAttributes", False),
        2: ("nonResourceAttributes", "m:NonResourceAttributes", False),
        3: ("user", "s", False),
        4: ("groups", "s", True),
        5: ("extra", "mv", False),
        6: ("uid", "s", False),
    },
    "ResourceAttributes": {
        1: ("namespace", "s", False),
        2: ("verb", "s", False),
        3: ("group", "s", False),
        4: ("version", "s", False),
        5: ("resource", "s", False),
        6: ("subresource", "s", False),
        7: ("name", "s", False),
        8: ("fieldSelector", "skip", False),
        9: ("labelSelector", "skip", False),
    },
    "NonResourceAttributes": {1: ("path", "s", False), 2: ("verb", "s", False)},
    "SelfSubjectRulesReview": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:SelfSubjectRulesReviewSpec", False),
        3: ("status", "skip", False),
    },
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "s", False)},
    # authentication/v1
    "SelfSubjectReview": {1: ("metadata", "m:ObjectMeta", False), 2: ("status", "skip", False)},
    "TokenReview": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:TokenReviewSpec", False),
        3: ("status", "skip", False),
    },
    "TokenReviewSpec": {1: ("token", "s", False), 2: ("audiences", "s", True)},
    "TokenRequest": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:TokenRequestSpec", False),
        3: ("status", "skip", False),
    },
    "TokenRequestSpec": {
        1: ("audiences", "s", True),
        4: ("expirationSeconds", "I", False),
        3: ("boundObjectRef", "m:BoundObjectReference", False),
    },
    "BoundObjectReference": {
        1: ("kind", "s", False),
        2: ("apiVersion", "s", False),
        3: ("name", "s", False),
        4: ("uid", "s", False),
    },
    # core/v1
    "Namespace": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:NamespaceSpec", False),
        3: ("status", "skip", False),
    },
    "NamespaceSpec": {1: ("finalizers", "s", True)},
    "ServiceAccount": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("secrets", "m:ObjectReference", True),
        3: ("imagePullSecrets", "m:LocalObjectReference", True),
        4: ("automountServiceAccountToken", "B", False),
    },
    "ObjectReference": {
        1: ("kind", "s", False),
        2: ("namespace", "s", False),
        3: ("name", "s", False),
        4: ("uid", "s", False),
        5: ("apiVersion", "s", False),
        6: ("resourceVersion", "s", False),
        7: ("fieldPath", "s", False),
    },
    "LocalObjectReference": {1: ("name", "s", False)},
    "ConfigMap": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("data", "ms", False),
        3: ("binaryData", "my", False),
        4: ("immutable", "B", False),
    },
    "Secret": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("data", "my", False),
        3: ("type", "s", False),
        4: ("stringData", "ms", False),
        5: ("immutable", "B", False),
    },
    "Service": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:ServiceSpec", False),
        3: ("status", "skip", False),
    },
    "ServiceSpec": {
        1: ("ports", "m:ServicePort", True),
        2: ("selector", "ms", False),
        3: ("clusterIP", "s", False),
        4: ("type", "s", False),
        5: ("externalIPs", "s", True),
        7: ("sessionAffinity", "s", False),
        8: ("loadBalancerIP", "s", False),
        9: ("loadBalancerSourceRanges", "s", True),
        10: ("externalName", "s", False),
        11: ("externalTrafficPolicy", "s", False),
        12: ("healthCheckNodePort", "i", False),
        13: ("publishNotReadyAddresses", "b", False),
        17: ("ipFamilyPolicy", "s", False),
        18: ("clusterIPs", "s", True),
        19: ("ipFamilies", "s", True),
        20: ("allocateLoadBalancerNodePorts", "B", False),
        21: ("loadBalancerClass", "s", False),
        22: ("internalTrafficPolicy", "s", False),
    },
    "ServicePort": {
        1: ("name", "s", False),
        2: ("protocol", "s", False),
        3: ("port", "i", False),
        4: ("targetPort", "n", False),
        5: ("nodePort", "i", False),
        6: ("appProtocol", "s", False),
    },
    "Binding": {1: ("metadata", "m:ObjectMeta", False), 2: ("target", "m:ObjectReference", False)},
    # rbac/v1
    "Role": {1: ("metadata", "m:ObjectMeta", False), 2: ("rules", "m:PolicyRule", True)},
    "ClusterRole": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("rules", "m:PolicyRule", True),
        3: ("aggregationRule", "m:AggregationRule", False),
    },
    "AggregationRule": {1: ("clusterRoleSelectors", "m:LabelSelector", True)},
    "PolicyRule": {
        1: ("verbs", "s", True),
        2: ("apiGroups", "s", True),
        3: ("resources", "s", True),
        4: ("resourceNames", "s", True),
        5: ("nonResourceURLs", "s", True),
    },
    "RoleBinding": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("subjects", "m:Subject", True),
        3: ("roleRef", "m:RoleRef", False),
    },
    "ClusterRoleBinding": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("subjects", "m:Subject", True),
        3: ("roleRef", "m:RoleRef", False),
    },
    "Subject": {
        1: ("kind", "s", False),
        2: ("apiGroup", "s", False),
        3: ("name", "s", False),
        4: ("namespace", "s", False),
    },
    "RoleRef": {1: ("apiGroup", "s", False), 2: ("kind", "s", False), 3: ("name", "s", False)},
    # apps/v1 Deployment as `kubectl create deployment` writes it
    "Deployment": {
        1: ("metadata", "m:ObjectMeta", False),
        2: ("spec", "m:DeploymentSpec", False),
        3: ("status", "skip", False),
    },
    "DeploymentSpec": {
        1: ("replicas", "I", False),
        2: ("selector", "m:LabelSelector", False),
        3: ("template", "m:PodTemplateSpec", False),
        4: ("strategy", "m:DeploymentStrategy", False),
        5: ("minReadySeconds", "i", False),
        6: ("revisionHistoryLimit", "I", False),
        7: ("paused", "b", False),
        9: ("progressDeadlineSeconds", "I", False),
    },
    "DeploymentStrategy": {1: ("type", "s", False), 2: ("rollingUpdate", "m:RollingUpdateDeployment", False)},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "n", False), 2: ("maxSurge", "n", False)},
    "PodTemplateSpec": {1: ("metadata", "m:ObjectMeta", False), 2: ("spec", "m:PodSpec", False)},
    "PodSpec": {
        2: ("containers", "m:Container", True),
        3: ("restartPolicy", "s", False),
        4: ("terminationGracePeriodSeconds", "I", False),
        5: ("activeDeadlineSeconds", "I", False),
        6: ("dnsPolicy", "s", False),
        7: ("nodeSelector", "ms", False),
        8: ("serviceAccountName", "s", False),
        9: ("serviceAccount", "s", False),
        10: ("nodeName", "s", False),
        11: ("hostNetwork", "b", False),
        12: ("hostPID", "b", False),
        13: ("hostIPC", "b", False),
        15: ("imagePullSecrets", "m:LocalObjectReference", True),
        16: ("hostname", "s", False),
        17: ("subdomain", "s", False),
        19: ("schedulerName", "s", False),
        21: ("automountServiceAccountToken", "B", False),
        24: ("priorityClassName", "s", False),
    },
    "Container": {
        1: ("name", "s", False),
        2: ("image", "s", False),
        3: ("command", "s", True),
        4: ("args", "s", True),
        5: ("workingDir", "s", False),
        6: ("ports", "m:ContainerPort", True),
        7: ("env", "m:EnvVar", True),
        8: ("resources", "m:ResourceRequirements", False),
        13: ("terminationMessagePath", "s", False),
        14: ("imagePullPolicy", "s", False),
        16: ("stdin", "b", False),
        17: ("stdinOnce", "b", False),
        18: ("tty", "b", False),
        20: ("terminationMessagePolicy", "s", False),
    },
    "ContainerPort": {
        1: ("name", "s", False),
        2: ("hostPort", "i", False),
        3: ("containerPort", "i", False),
        4: ("protocol", "s", False),
        5: ("hostIP", "s", False),
    },
    "EnvVar": {1: ("name", "s", False), 2: ("value", "s", False)},
    "ResourceRequirements": {1: ("limits", "mq", False), 2: ("requests", "mq", False)},
}


class ProtobufError(Exception):
    """The body cannot be decoded with the known field tables."""


def _varint(b: bytes, i: int) -> tuple[int, int]:
    shift = 0
    out = 0
    while True:
        if i >= len(b):
            raise ProtobufError("truncated varint")
        c = b[i]
        i += 1
        out |= (c & 0x7F) << shift
        if not c & 0x80:
            return out, i
        shift += 7


def _fields(b: bytes) -> list[tuple[int, int, Any]]:
    out = []
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        v: Any
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v = b[i : i + n]
            if len(v) != n:
                raise ProtobufError("truncated field")
            i += n
        elif wt == 1:
            v = b[i : i + 8]
            i += 8
        elif wt == 5:
            v = b[i : i + 4]
            i += 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        out.append((num, wt, v))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _time(b: bytes) -> str | None:
    secs = 0
    for num, _, v in _fields(b):
        if num == 1:
            secs = _signed(v)
    if secs <= 0:
        return None  # the zero Time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))


def _intstr(b: bytes) -> Any:
    typ, iv, sv = 0, 0, ""
    for num, _, v in _fields(b):
        if num == 1:
            typ = v
        elif num == 2:
            iv = _signed(v)
        elif num == 3:
            sv = v.decode()
    return sv if typ == 1 else iv


def _map_entry(b: bytes, vtype: str) -> tuple[str, Any]:
    k, val = "", None
    for num, _, v in _fields(b):
        if num == 1:
            k = v.decode()
        elif num == 2:
            if vtype == "ms":
                val = v.decode()
            elif vtype == "my":
                val = base64.b64encode(v).decode()
            elif vtype == "mq":
                val = next((x.decode() for n, _, x in _fields(v) if n == 1), "0")
            elif vtype == "mv":
                val = [x.decode() for n, _, x in _fields(v) if n == 1]
    if val is None:
        val = [] if vtype == "mv" else ""
    return k, val


def decode_message(name: str, b: bytes) -> dict[str, Any]:
    """Decode one message into its JSON form."""
    table = S.get(name)
    if table is None:
        raise ProtobufError(f"no field table for {name}")
    out: dict[str, Any] = {}
    for num, _, v in _fields(b):
        f = table.get(num)
        if f is None:
            raise ProtobufError(f"field {num} of {name} is not supported")
        jname, typ, rep = f
        if typ == "skip":
            continue
        # non-pointer Go fields are always encoded: their zero values mean "unset"
        if typ == "s":
            val: Any = v.decode()
            if val == "" and not rep:
                continue
        elif typ in ("i", "I"):
            val = _signed(v)
            if val == 0 and typ == "i":
                continue
        elif typ in ("b", "B"):
            val = bool(v)
            if not val and typ == "b":
                continue
        elif typ == "y":
            val = base64.b64encode(v).decode()
        elif typ == "t":
            val = _time(v)
            if val is None:
                continue
        elif typ == "n":
            val = _intstr(v)
        elif typ == "q":
            val = next((x.decode() for n, _, x in _fields(v) if n == 1), "0")
        elif typ.startswith("m:"):
            val = decode_message(typ[2:], v)
        elif typ in ("ms", "my", "mq", "mv"):
            k, mv = _map_entry(v, typ)
            out.setdefault(jname, {})[k] = mv
            continue
        else:
            raise ProtobufError(f"bad type {typ}")
        if rep:
            out.setdefault(jname, []).append(val)
        else:
            out[jname] = val
    return out


def decode(body: bytes) -> dict[str, Any]:
    """Decode an enveloped (``k8s\\0`` + runtime.Unknown) object to JSON form."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing protobuf envelope")
    api_version, kind, raw = "", "", b""
    for num, _, v in _fields(body[len(MAGIC) :]):
        if num == 1:
            for n2, _, v2 in _fields(v):
                if n2 == 1:
                    api_version = v2.decode()
                elif n2 == 2:
                    kind = v2.decode()
        elif num == 2:
            raw = v
    obj = decode_message(kind, raw)
    return {"apiVersion": api_version, "kind": kind, **obj}


def to_json(body: bytes) -> bytes:
    """Convenience: protobuf body to JSON bytes."""
    return json.dumps(decode(body)).encode()
