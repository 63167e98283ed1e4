"""The API server over HTTP: discovery, CRUD, Status errors, selectors, paging, watch, patch, subresources."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cluster.controllers.clock import FakeClock
from cluster.controllers.hollow import hollow_node_factory
from cluster.controlplane import ControlPlane


class Api:
    """A tiny HTTP client for tests."""

    def __init__(self, base: str, token: str, ssl: Any = None) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = aiohttp.ClientSession()
        self.ssl = ssl

    async def req(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        ct: str = "application/json",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = dict(self.headers)
        if data is not None:
            h["Content-Type"] = ct
        h.update(headers or {})
        async with self.session.request(method, self.base + path, data=data, headers=h, ssl=self.ssl) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.req("GET", path, **kw)

    async def post(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.req("POST", path, body, **kw)

    async def put(self, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
        return await self.req("PUT", path, body, **kw)

    async def patch(self, path: str, body: Any, ct: str = "application/merge-patch+json") -> tuple[int, Any]:
        return await self.req("PATCH", path, body, ct=ct)

    async def delete(self, path: str, body: Any = None) -> tuple[int, Any]:
        return await self.req("DELETE", path, body)

    async def watch(self, path: str, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Read ``n`` events of a watch stream."""
        out: list[dict[str, Any]] = []
        async with self.session.get(self.base + path, headers=self.headers, ssl=self.ssl) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("application/json")

            async def read() -> None:
                while len(out) < n:
                    line = await r.content.readline()
                    if not line:
                        return
                    out.append(json.loads(line))

            await asyncio.wait_for(read(), timeout)
        return out

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def cp(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    c = ControlPlane(tmp_path / "cp", listen="127.0.0.1:0", clock=FakeClock(), tls=False)
    await c.start()
    yield c
    await c.stop()


@pytest.fixture
async def api(cp: ControlPlane) -> AsyncIterator[Api]:
    a = Api(cp.url, cp.admin_token)
    yield a
    await a.close()


def pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }


async def test_discovery_documents(api: Api) -> None:
    st, v = await api.get("/version")
    assert st == 200 and v["major"] == "1" and v["minor"] == "32" and v["gitVersion"].startswith("v1.32")
    st, doc = await api.get("/api")
    assert doc["kind"] == "APIVersions" and doc["versions"] == ["v1"]
    st, doc = await api.get("/apis")
    assert doc["kind"] == "APIGroupList"
    groups = {g["name"]: g for g in doc["groups"]}
    for g in (
        "apps",
        "autoscaling",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "discovery.k8s.io",
        "networking.k8s.io",
        "monitoring.coreos.com",
        "coordination.k8s.io",
        "authorization.k8s.io",
    ):
        assert g in groups, g
    assert groups["autoscaling"]["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}
    st, core = await api.get("/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    res = {r["name"]: r for r in core["resources"]}
    assert (
        res["pods"]["kind"] == "Pod" and res["pods"]["namespaced"] is True and "watch" in res["pods"]["verbs"]
    )
    assert res["pods"]["shortNames"] == ["po"] and res["nodes"]["namespaced"] is False
    assert {"pods/status", "pods/log", "pods/binding", "pods/eviction"} <= set(res)
    st, apps = await api.get("/apis/apps/v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert scale["group"] == "autoscaling" and scale["kind"] == "Scale"
    st, g = await api.get("/apis/apps")
    assert g["kind"] == "APIGroup" and g["name"] == "apps"
    st, mon = await api.get("/apis/monitoring.coreos.com/v1")
    assert {r["name"] for r in mon["resources"]} >= {"servicemonitors", "podmonitors"}
    for p in ("/healthz", "/readyz", "/livez"):
        st, body = await api.get(p)
        assert (st, body) == (200, "ok")
    st, body = await api.get("/apis/nope/v1")
    assert st == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"


async def test_crud_defaults_and_status_errors(api: Api) -> None:
    st, created = await api.post("/api/v1/namespaces/default/pods", pod("web"))
    assert st == 201
    md = created["metadata"]
    assert md["uid"] and md["creationTimestamp"].endswith("Z") and md["namespace"] == "default"
    assert created["spec"]["restartPolicy"] == "Always"
    assert created["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert created["spec"]["terminationGracePeriodSeconds"] == 30
    assert created["status"]["phase"] == "Pending" and created["status"]["qosClass"] == "BestEffort"
    # duplicate
    st, err = await api.post("/api/v1/namespaces/default/pods", pod("web"))
    assert st == 409 and err["reason"] == "AlreadyExists" and err["message"] == 'pods "web" already exists'
    assert err["details"] == {"name": "web", "kind": "pods"}
    # not found
    st, err = await api.get("/api/v1/namespaces/default/pods/nope")
    assert (st, err["kind"], err["reason"], err["message"]) == (
        404,
        "Status",
        "NotFound",
        'pods "nope" not found',
    )
    st, err = await api.get("/apis/apps/v1/namespaces/default/deployments/nope")
    assert err["message"] == 'deployments.apps "nope" not found' and err["details"]["group"] == "apps"
    # stale update -> 409 Conflict
    st, cm = await api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "cc"}})
    stale = dict(cm)
    stale["metadata"] = dict(cm["metadata"], labels={"a": "b"})
    st, upd = await api.put("/api/v1/namespaces/default/configmaps/cc", stale)
    assert st == 200 and int(upd["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])
    st, err = await api.put("/api/v1/namespaces/default/configmaps/cc", stale)
    assert st == 409 and err["reason"] == "Conflict"
    assert (
        "the object has been modified; please apply your changes to the latest version and try again"
        in err["message"]
    )
    # invalid objects -> 422 with causes
    st, err = await api.post(
        "/api/v1/namespaces/default/pods",
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "Bad_Name"}, "spec": {"containers": []}},
    )
    assert st == 422 and err["reason"] == "Invalid"
    assert err["message"].startswith(
        'Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'
    )
    fields = {c["field"] for c in err["details"]["causes"]}
    assert fields == {"metadata.name", "spec.containers"}
    # malformed JSON -> 400; the server keeps running
    st, err = await api.post("/api/v1/namespaces/default/pods", None, raw=b"{not json")
    assert st == 400 and err["reason"] == "BadRequest"
    # kind mismatch -> 400
    st, err = await api.post(
        "/api/v1/namespaces/default/pods", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}
    )
    assert st == 400
    # unknown resource -> 404
    st, err = await api.get("/api/v1/namespaces/default/widgets")
    assert st == 404 and err["kind"] == "Status"
    # namespace must exist
    st, err = await api.post("/api/v1/namespaces/nope/pods", pod("x"))
    assert st == 404 and err["message"] == 'namespaces "nope" not found'
    # delete
    st, gone = await api.delete("/api/v1/namespaces/default/pods/web")
    assert st == 200 and gone["metadata"]["name"] == "web"
    st, _ = await api.get("/api/v1/namespaces/default/pods/web")
    assert st == 404
    st, _ = await api.get("/version")
    assert st == 200


async def test_generate_name_and_yaml_body(api: Api) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: cfg-\ndata:\n  a: b\n"
    st, cm = await api.post("/api/v1/namespaces/default/configmaps", None, raw=body, ct="application/yaml")
    assert st == 201 and cm["metadata"]["name"].startswith("cfg-") and len(cm["metadata"]["name"]) == 9


async def test_list_selectors_and_paging(api: Api) -> None:
    for i in range(7):
        await api.post(
            "/api/v1/namespaces/default/pods",
            pod(f"p{i}", {"app": "a" if i % 2 else "b", "tier": str(i)}, nodeName="n1" if i < 3 else "n2"),
        )
    st, lst = await api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Da")
    assert lst["kind"] == "PodList" and lst["apiVersion"] == "v1"
    assert [p["metadata"]["name"] for p in lst["items"]] == ["p1", "p3", "p5"]
    st, lst = await api.get("/api/v1/namespaces/default/pods?labelSelector=tier+in+(1,2,6),app!=a")
    assert [p["metadata"]["name"] for p in lst["items"]] == ["p2", "p6"]
    st, lst = await api.get("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")
    assert [p["metadata"]["name"] for p in lst["items"]] == ["p0", "p1", "p2"]
    st, lst = await api.get("/api/v1/pods?fieldSelector=spec.nodeName!%3Dn1,metadata.name!%3Dp6")
    assert [p["metadata"]["name"] for p in lst["items"]] == ["p3", "p4", "p5"]
    st, err = await api.get("/api/v1/pods?labelSelector=a%20in%20(")
    assert st == 400
    names = []
    cont = ""
    pages = 0
    while True:
        st, page = await api.get(
            "/api/v1/namespaces/default/pods?limit=3" + (f"&continue={cont}" if cont else "")
        )
        names += [p["metadata"]["name"] for p in page["items"]]
        pages += 1
        cont = page["metadata"].get("continue", "")
        if not cont:
            break
        assert page["metadata"]["remainingItemCount"] >= 1
    assert pages == 3 and names == [f"p{i}" for i in range(7)]


async def test_watch_framing_resource_versions_and_gone(cp: ControlPlane, api: Api) -> None:
    st, lst = await api.get("/api/v1/namespaces/default/configmaps")
    rv = lst["metadata"]["resourceVersion"]

    async def writes() -> None:
        await asyncio.sleep(0.05)
        await api.post(
            "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "w"}, "data": {"a": "1"}}
        )
        await api.patch("/api/v1/namespaces/default/configmaps/w", {"data": {"a": "2"}})
        await api.delete("/api/v1/namespaces/default/configmaps/w")

    t = asyncio.create_task(writes())
    evs = await api.watch(f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}", 3)
    await t
    assert [e["type"] for e in evs] == ["ADDED", "MODIFIED", "DELETED"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    assert evs[1]["object"]["data"] == {"a": "2"}
    # replay from an older version
    evs2 = await api.watch(f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}", 3)
    assert [e["object"]["metadata"]["resourceVersion"] for e in evs2] == [
        e["object"]["metadata"]["resourceVersion"] for e in evs
    ]
    # without a version: synthetic ADDED for existing objects first
    await api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "keep"}})
    evs3 = await api.watch("/api/v1/namespaces/default/configmaps?watch=1", 1)
    assert evs3[0]["type"] == "ADDED" and evs3[0]["object"]["metadata"]["name"] in (
        "keep",
        "kube-root-ca.crt",
    )
    # too old -> ERROR event with a 410 Status
    cp.store._compacted = cp.store.revision - 1  # simulate compaction
    evs4 = await api.watch("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=1", 1)
    assert evs4[0]["type"] == "ERROR"
    assert evs4[0]["object"]["code"] == 410 and evs4[0]["object"]["reason"] == "Expired"
    assert evs4[0]["object"]["message"].startswith("too old resource version: 1")


async def test_watch_bookmarks_timeout_and_selector_transitions(api: Api) -> None:
    await api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "s", "labels": {"x": "1"}}})
    st, lst = await api.get("/api/v1/namespaces/default/configmaps")
    rv = lst["metadata"]["resourceVersion"]

    async def writes() -> None:
        await asyncio.sleep(0.05)
        await api.patch("/api/v1/namespaces/default/configmaps/s", {"metadata": {"labels": {"x": "2"}}})
        await api.patch("/api/v1/namespaces/default/configmaps/s", {"metadata": {"labels": {"x": "1"}}})

    t = asyncio.create_task(writes())
    evs = await api.watch(
        f"/api/v1/namespaces/default/configmaps?watch=1&labelSelector=x%3D1&resourceVersion={rv}", 2
    )
    await t
    # leaving the selector reads as DELETED, entering as ADDED
    assert [e["type"] for e in evs] == ["DELETED", "ADDED"]
    # timeoutSeconds ends the stream
    evs = await api.watch(
        f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=1", 100
    )
    assert len(evs) == 2
    # sendInitialEvents ends the initial list with an annotated BOOKMARK
    evs = await api.watch(
        "/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
        2,
    )
    bm = next(e for e in evs if e["type"] == "BOOKMARK")
    assert bm["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


async def test_patch_kinds(api: Api) -> None:
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "labels": {"app": "d"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {
                    "containers": [
                        {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                        {"name": "b", "image": "b:1"},
                    ]
                },
            },
        },
    }
    st, d = await api.post("/apis/apps/v1/namespaces/default/deployments", dep)
    assert st == 201 and d["metadata"]["generation"] == 1
    assert d["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    # strategic merge: containers merged by name, env by name
    smp = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]}
            }
        }
    }
    st, d = await api.patch(
        "/apis/apps/v1/namespaces/default/deployments/d", smp, "application/strategic-merge-patch+json"
    )
    cs = d["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in cs] == ["a", "b"] and cs[0]["image"] == "a:2"
    assert [e["name"] for e in cs[0]["env"]] == ["X", "Y"]
    assert d["metadata"]["generation"] == 2
    # $patch: delete removes a list element
    st, d = await api.patch(
        "/apis/apps/v1/namespaces/default/deployments/d",
        {"spec": {"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}},
        "application/strategic-merge-patch+json",
    )
    assert [c["name"] for c in d["spec"]["template"]["spec"]["containers"]] == ["a"]
    # merge patch replaces lists
    st, d = await api.patch(
        "/apis/apps/v1/namespaces/default/deployments/d",
        {"metadata": {"labels": {"extra": "1"}}, "spec": {"replicas": 3}},
    )
    assert d["metadata"]["labels"] == {"app": "d", "extra": "1"} and d["spec"]["replicas"] == 3
    # JSON patch (what `kubectl rollout undo` sends)
    st, d = await api.patch(
        "/apis/apps/v1/namespaces/default/deployments/d",
        [
            {"op": "replace", "path": "/spec/replicas", "value": 2},
            {"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}},
        ],
        "application/json-patch+json",
    )
    assert st == 200 and d["spec"]["replicas"] == 2 and d["metadata"]["annotations"] == {"k": "v"}
    st, err = await api.patch(
        "/apis/apps/v1/namespaces/default/deployments/d",
        [{"op": "test", "path": "/spec/replicas", "value": 9}],
        "application/json-patch+json",
    )
    assert st == 422
    st, err = await api.patch("/apis/apps/v1/namespaces/default/deployments/d", {"a": 1}, "text/plain")
    assert st == 415
    # a patch changing the immutable selector is rejected
    st, err = await api.patch(
        "/apis/apps/v1/namespaces/default/deployments/d",
        {"spec": {"selector": {"matchLabels": {"app": "other"}}}},
    )
    assert st == 422 and "field is immutable" in err["message"]


async def test_scale_and_status_subresources(api: Api) -> None:
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "r"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    await api.post("/apis/apps/v1/namespaces/default/replicasets", rs)
    st, sc = await api.get("/apis/apps/v1/namespaces/default/replicasets/r/scale")
    assert st == 200 and sc["kind"] == "Scale" and sc["apiVersion"] == "autoscaling/v1"
    assert sc["spec"] == {"replicas": 0} and sc["status"]["selector"] == "a=b"
    st, sc = await api.patch(
        "/apis/apps/v1/namespaces/default/replicasets/r/scale", {"spec": {"replicas": 0}}
    )
    assert st == 200
    sc["spec"]["replicas"] = 0
    st, sc2 = await api.put("/apis/apps/v1/namespaces/default/replicasets/r/scale", sc)
    assert st == 200
    # the main resource ignores status; the status subresource ignores spec
    st, obj = await api.get("/apis/apps/v1/namespaces/default/replicasets/r")
    obj["status"] = {"replicas": 42}
    st, obj2 = await api.put("/apis/apps/v1/namespaces/default/replicasets/r", obj)
    assert obj2.get("status", {}).get("replicas") != 42
    obj2["status"] = {"replicas": 42, "observedGeneration": 9}
    obj2["spec"]["replicas"] = 7
    st, obj3 = await api.put("/apis/apps/v1/namespaces/default/replicasets/r/status", obj2)
    assert st == 200 and obj3["status"]["replicas"] == 42 and obj3["spec"]["replicas"] == 0


async def test_finalizers_and_cascading_delete(cp: ControlPlane, api: Api) -> None:
    cm = {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}}
    await api.post("/api/v1/namespaces/default/configmaps", cm)
    st, obj = await api.delete("/api/v1/namespaces/default/configmaps/f")
    assert st == 202 and obj["metadata"]["deletionTimestamp"]
    st, obj = await api.get("/api/v1/namespaces/default/configmaps/f")
    assert st == 200
    st, err = await api.patch(
        "/api/v1/namespaces/default/configmaps/f",
        {"metadata": {"finalizers": ["example.com/hold", "x.io/y"]}},
    )
    assert st == 422
    st, obj = await api.patch("/api/v1/namespaces/default/configmaps/f", {"metadata": {"finalizers": None}})
    assert st == 200
    st, _ = await api.get("/api/v1/namespaces/default/configmaps/f")
    assert st == 404
    # ownerReferences: background deletion removes dependents (garbage collector)
    st, owner = await api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    for i in range(2):
        await api.post(
            "/api/v1/namespaces/default/configmaps",
            {"metadata": {"name": f"dep{i}", "ownerReferences": [ref]}},
        )
    await api.post(
        "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "orphan-me", "ownerReferences": [ref]}}
    )
    await api.delete("/api/v1/namespaces/default/configmaps/owner", {"propagationPolicy": "Background"})
    await cp.settle()
    for n in ("dep0", "dep1", "orphan-me"):
        st, _ = await api.get(f"/api/v1/namespaces/default/configmaps/{n}")
        assert st == 404, n
    # orphan policy keeps dependents and strips the reference
    st, owner = await api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "owner2"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner2", "uid": owner["metadata"]["uid"]}
    await api.post(
        "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "kept", "ownerReferences": [ref]}}
    )
    await api.delete("/api/v1/namespaces/default/configmaps/owner2", {"propagationPolicy": "Orphan"})
    await cp.settle()
    st, kept = await api.get("/api/v1/namespaces/default/configmaps/kept")
    assert st == 200 and not kept["metadata"].get("ownerReferences")
    st, _ = await api.get("/api/v1/namespaces/default/configmaps/owner2")
    assert st == 404
    # foreground: the owner waits for its dependents
    st, owner = await api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "owner3"}})
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner3",
        "uid": owner["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }
    await api.post(
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "blocker", "ownerReferences": [ref], "finalizers": ["x.io/hold"]}},
    )
    st, o = await api.delete(
        "/api/v1/namespaces/default/configmaps/owner3", {"propagationPolicy": "Foreground"}
    )
    assert "foregroundDeletion" in o["metadata"]["finalizers"]
    await cp.settle()
    st, o = await api.get("/api/v1/namespaces/default/configmaps/owner3")
    assert st == 200 and o["metadata"]["deletionTimestamp"]
    await api.patch("/api/v1/namespaces/default/configmaps/blocker", {"metadata": {"finalizers": None}})
    await cp.settle()
    st, _ = await api.get("/api/v1/namespaces/default/configmaps/owner3")
    assert st == 404


async def test_namespace_lifecycle(cp: ControlPlane, api: Api) -> None:
    st, ns = await api.post(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    )
    assert st == 201 and ns["status"]["phase"] == "Active" and ns["spec"]["finalizers"] == ["kubernetes"]
    await cp.settle()
    st, sa = await api.get("/api/v1/namespaces/team/serviceaccounts/default")
    assert st == 200
    await api.post("/api/v1/namespaces/team/configmaps", {"metadata": {"name": "c"}})
    await api.post(
        "/api/v1/namespaces/team/configmaps", {"metadata": {"name": "held", "finalizers": ["x.io/hold"]}}
    )
    st, ns = await api.delete("/api/v1/namespaces/team")
    assert ns["status"]["phase"] == "Terminating"
    await cp.settle()
    st, err = await api.post("/api/v1/namespaces/team/configmaps", {"metadata": {"name": "late"}})
    assert st == 403 and "because it is being terminated" in err["message"]
    st, _ = await api.get("/api/v1/namespaces/team/configmaps/c")
    assert st == 404
    await api.patch("/api/v1/namespaces/team/configmaps/held", {"metadata": {"finalizers": None}})
    await cp.clock.step(2)  # type: ignore[attr-defined]
    await cp.settle()
    st, _ = await api.get("/api/v1/namespaces/team")
    assert st == 404
    st, err = await api.delete("/api/v1/namespaces/default")
    assert st == 403


async def test_services_get_cluster_ips_and_node_ports(api: Api) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    st, s = await api.post("/api/v1/namespaces/default/services", svc)
    assert st == 201
    assert s["spec"]["clusterIP"].startswith("127.96.") and s["spec"]["clusterIPs"] == [
        s["spec"]["clusterIP"]
    ]
    assert 30000 <= s["spec"]["ports"][0]["nodePort"] <= 32767 and s["spec"]["ports"][0]["protocol"] == "TCP"
    st, k = await api.get("/api/v1/namespaces/default/services/kubernetes")
    assert k["spec"]["clusterIP"] == "127.96.0.1"
    svc2 = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dup"},
        "spec": {"clusterIP": s["spec"]["clusterIP"], "ports": [{"port": 80}]},
    }
    st, err = await api.post("/api/v1/namespaces/default/services", svc2)
    assert st == 422 and "already allocated" in err["message"]


async def test_crds_served_generically(cp: ControlPlane, api: Api) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                    "subresources": {
                        "status": {},
                        "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.size"},
                    },
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"}
                    ],
                }
            ],
        },
    }
    st, c = await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert st == 201
    assert any(x["type"] == "Established" and x["status"] == "True" for x in c["status"]["conditions"])
    st, rl = await api.get("/apis/example.com/v1")
    assert {r["name"] for r in rl["resources"]} == {"widgets", "widgets/status", "widgets/scale"}
    w = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 2}}
    st, obj = await api.post("/apis/example.com/v1/namespaces/default/widgets", w)
    assert st == 201 and obj["metadata"]["generation"] == 1
    st, sc = await api.get("/apis/example.com/v1/namespaces/default/widgets/w1/scale")
    assert sc["spec"]["replicas"] == 2
    await api.patch("/apis/example.com/v1/namespaces/default/widgets/w1/scale", {"spec": {"replicas": 5}})
    st, obj = await api.get("/apis/example.com/v1/namespaces/default/widgets/w1")
    assert obj["spec"]["size"] == 5 and obj["metadata"]["generation"] == 2
    st, tbl = await api.get(
        "/apis/example.com/v1/namespaces/default/widgets",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    assert [c["name"] for c in tbl["columnDefinitions"]] == ["Name", "Size"] and tbl["rows"][0]["cells"] == [
        "w1",
        5,
    ]
    st, err = await api.patch(
        "/apis/example.com/v1/namespaces/default/widgets/w1",
        {"spec": {}},
        "application/strategic-merge-patch+json",
    )
    assert st == 415
    # deleting the CRD removes the instances and the endpoints
    await api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com")
    st, _ = await api.get("/apis/example.com/v1/namespaces/default/widgets")
    assert st == 404
    # ServiceMonitor and PodMonitor are installed by default
    sm = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "sm"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "endpoints": [{"port": "web"}]},
    }
    st, obj = await api.post("/apis/monitoring.coreos.com/v1/namespaces/default/servicemonitors", sm)
    assert st == 201 and obj["spec"]["endpoints"] == [{"port": "web"}]


async def test_tables_for_kubectl(api: Api) -> None:
    await api.post("/api/v1/namespaces/default/pods", pod("t1"))
    st, tbl = await api.get(
        "/api/v1/namespaces/default/pods",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    )
    assert tbl["kind"] == "Table" and tbl["apiVersion"] == "meta.k8s.io/v1"
    cols = [(c["name"], c["priority"]) for c in tbl["columnDefinitions"]]
    assert cols[:5] == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0)]
    assert ("IP", 1) in cols and ("Node", 1) in cols
    assert tbl["rows"][0]["cells"][:4] == ["t1", "0/1", "Pending", "0"]
    assert tbl["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_secrets_encrypted_and_restart_keeps_state(tmp_path: Path) -> None:
    clock = FakeClock()
    c = ControlPlane(tmp_path / "cp", listen="127.0.0.1:0", clock=clock, tls=False)
    await c.start()
    a = Api(c.url, c.admin_token)
    st, s = await a.post(
        "/api/v1/namespaces/default/secrets",
        {"metadata": {"name": "db"}, "stringData": {"password": "s3cr3t-value"}},
    )
    assert st == 201 and s["data"] == {"password": "czNjcjN0LXZhbHVl"} and s["type"] == "Opaque"
    rv = s["metadata"]["resourceVersion"]
    await a.close()
    token = c.admin_token
    await c.stop()
    for f in (tmp_path / "cp" / "store").iterdir():
        data = f.read_bytes()
        assert b"czNjcjN0LXZhbHVl" not in data and b"s3cr3t-value" not in data
    c2 = ControlPlane(tmp_path / "cp", listen="127.0.0.1:0", clock=clock, tls=False)
    await c2.start()
    assert c2.admin_token == token
    a = Api(c2.url, c2.admin_token)
    st, s2 = await a.get("/api/v1/namespaces/default/secrets/db")
    assert (
        st == 200 and s2["data"]["password"] == "czNjcjN0LXZhbHVl" and s2["metadata"]["resourceVersion"] == rv
    )
    await a.close()
    await c2.stop()


async def test_pod_binding_logs_need_node_and_metrics(cp: ControlPlane, api: Api) -> None:
    await api.post("/api/v1/namespaces/default/pods", pod("b1", schedulerName="none"))
    st, err = await api.get("/api/v1/namespaces/default/pods/b1/log")
    assert st == 400 and "waiting to start" in err["message"]
    st, res = await api.post(
        "/api/v1/namespaces/default/pods/b1/binding",
        {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "b1"},
            "target": {"kind": "Node", "name": "n1"},
        },
    )
    assert st == 201 and res["status"] == "Success"
    st, p = await api.get("/api/v1/namespaces/default/pods/b1")
    assert p["spec"]["nodeName"] == "n1"
    st, err = await api.post(
        "/api/v1/namespaces/default/pods/b1/binding", {"metadata": {"name": "b1"}, "target": {"name": "n2"}}
    )
    assert st == 409 and 'already assigned to node "n1"' in err["message"]
    st, text = await api.get("/metrics")
    assert st == 200 and "apiserver_request_total" in text and 'verb="CREATE"' in text
    assert 'workqueue_depth{name="deployment-controller"}' in text
    assert 'scheduler_schedule_attempts_total{profile="default-scheduler",result="scheduled"}' in text


async def test_hollow_nodes_run_a_deployment(tmp_path: Path) -> None:
    c = ControlPlane(
        tmp_path / "cp",
        listen="127.0.0.1:0",
        clock=FakeClock(),
        tls=False,
        nodes=2,
        node_factory=hollow_node_factory,
    )
    await c.start()
    try:
        a = Api(c.url, c.admin_token)
        dep = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "w", "image": "w"}]},
                },
            },
        }
        await a.post("/apis/apps/v1/namespaces/default/deployments", dep)
        await c.settle()
        st, d = await a.get("/apis/apps/v1/namespaces/default/deployments/web")
        assert d["status"]["availableReplicas"] == 3 and d["status"]["updatedReplicas"] == 3
        st, pods = await a.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        assert {p["status"]["phase"] for p in pods["items"]} == {"Running"}
        assert {p["spec"]["nodeName"] for p in pods["items"]} == {"node-1", "node-2"}
        await a.close()
    finally:
        await c.stop()


async def test_pod_eviction_timeout_sets_default_tolerations(tmp_path: Path) -> None:
    c = ControlPlane(
        tmp_path / "cp", listen="127.0.0.1:0", clock=FakeClock(), tls=False, pod_eviction_timeout=20
    )
    await c.start()
    try:
        p = c.registry.create("pods", "default", pod("t"))
        tols = {t["key"]: t["tolerationSeconds"] for t in p["spec"]["tolerations"]}
        assert tols == {"node.kubernetes.io/not-ready": 20, "node.kubernetes.io/unreachable": 20}
    finally:
        await c.stop()


async def test_watches_released_when_clients_disconnect(cp: ControlPlane, api: Api) -> None:
    base = len(cp.store._watchers)
    sessions = []
    for _ in range(5):
        s = aiohttp.ClientSession(headers=api.headers)
        r = await s.get(cp.url + "/api/v1/pods?watch=1")
        sessions.append((s, r))
    await asyncio.sleep(0.1)
    assert len(cp.store._watchers) == base + 5
    for s, r in sessions:
        r.close()
        await s.close()
    for _ in range(50):
        await asyncio.sleep(0.02)
        if len(cp.store._watchers) == base:
            break
    assert len(cp.store._watchers) == base
