"""Authentication (static and ServiceAccount tokens) and RBAC authorization."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cluster.auth import User, parse_token_file
from cluster.controllers.clock import FakeClock
from cluster.controlplane import ControlPlane
from cluster.rbac import Attributes, forbidden_message, rule_allows
from tests.cluster.test_apiserver import Api

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture
async def cp(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    c = ControlPlane(tmp_path / "cp", listen="127.0.0.1:0", clock=FakeClock(), tls=False)
    await c.start()
    yield c
    await c.stop()


def test_rule_matching() -> None:
    rule = {
        "verbs": ["get", "list"],
        "apiGroups": [""],
        "resources": ["pods", "pods/log"],
        "resourceNames": [],
    }
    assert rule_allows(rule, Attributes("get", "", "pods", namespace="x", name="p"))
    assert rule_allows(rule, Attributes("get", "", "pods", "log", "x", "p"))
    assert not rule_allows(rule, Attributes("get", "", "pods", "exec", "x", "p"))
    assert not rule_allows(rule, Attributes("delete", "", "pods", namespace="x"))
    assert not rule_allows(rule, Attributes("get", "apps", "pods", namespace="x"))
    named = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["configmaps"], "resourceNames": ["only"]}
    assert rule_allows(named, Attributes("update", "", "configmaps", namespace="x", name="only"))
    assert not rule_allows(named, Attributes("update", "", "configmaps", namespace="x", name="other"))
    assert not rule_allows(named, Attributes("list", "", "configmaps", namespace="x"))
    sub = {"verbs": ["get"], "apiGroups": ["apps"], "resources": ["*/scale"]}
    assert rule_allows(sub, Attributes("get", "apps", "deployments", "scale", "x", "d"))
    url = {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}
    assert rule_allows(url, Attributes("get", path="/healthz"))
    assert rule_allows(url, Attributes("get", path="/apis/apps/v1"))
    assert not rule_allows(url, Attributes("get", path="/metrics"))
    u = User("alice")
    assert forbidden_message(u, Attributes("list", "apps", "deployments", namespace="dev")) == (
        'deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" in the namespace "dev"'
    )
    assert forbidden_message(u, Attributes("get", "", "pods", "log", "dev", "p")) == (
        'pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "dev"'
    )
    assert (
        forbidden_message(u, Attributes("get", path="/metrics"))
        == 'forbidden: User "alice" cannot get path "/metrics"'
    )


def test_token_file_format() -> None:
    users = parse_token_file('t1,alice,uid-1,"dev,ops"\n# comment\nt2,bob,uid-2\n')
    assert users["t1"] == User("alice", "uid-1", ("dev", "ops"))
    assert users["t2"].groups == ()


async def test_authentication_and_default_policy(cp: ControlPlane) -> None:
    anon = Api(cp.url, "")
    st, v = await anon.get("/version")
    assert st == 200 and v["major"] == "1"
    st, body = await anon.get("/healthz")
    assert (st, body) == (200, "ok")
    st, err = await anon.get("/api/v1/namespaces/default/pods")
    assert (
        st == 403
        and err["message"]
        == 'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"'
    )
    await anon.close()
    bad = Api(cp.url, "not-a-token")
    st, err = await bad.get("/api/v1/namespaces")
    assert st == 401 and err["reason"] == "Unauthorized" and err["kind"] == "Status"
    await bad.close()
    cp.add_token("carol-token", "carol", ["qa"])
    carol = Api(cp.url, "carol-token")
    st, disc = await carol.get("/apis")  # system:discovery for every authenticated user
    assert st == 200
    st, err = await carol.get("/api/v1/namespaces")
    assert st == 403
    st, rev = await carol.post(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )
    assert st == 201 and rev["status"]["userInfo"] == {
        "username": "carol",
        "groups": ["qa", "system:authenticated"],
        "uid": "carol",
    }
    await carol.close()


async def test_roles_bindings_aggregation_and_reviews(cp: ControlPlane) -> None:
    admin = Api(cp.url, cp.admin_token)
    await admin.post("/api/v1/namespaces", {"metadata": {"name": "dev"}})
    cp.add_token("dana-token", "dana", ["devs"])
    # the group gets the aggregated "edit" role in dev
    await admin.post(
        f"/apis/{RBAC}/v1/namespaces/dev/rolebindings",
        {
            "metadata": {"name": "devs-edit"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": "devs"}],
        },
    )
    dana = Api(cp.url, "dana-token")
    st, _ = await dana.post(
        "/apis/apps/v1/namespaces/dev/deployments",
        {
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        },
    )
    assert st == 201
    st, _ = await dana.get("/api/v1/namespaces/dev/pods")  # view is aggregated into edit
    assert st == 200
    st, err = await dana.get("/api/v1/namespaces/default/pods")
    assert st == 403
    st, err = await dana.post(
        f"/apis/{RBAC}/v1/namespaces/dev/roles", {"metadata": {"name": "r"}, "rules": []}
    )
    assert (
        st == 403
        and 'cannot create resource "roles" in API group "rbac.authorization.k8s.io"' in err["message"]
    )
    # a new ClusterRole labelled for aggregation extends "edit" at once
    await admin.post(
        f"/apis/{RBAC}/v1/clusterroles",
        {
            "metadata": {
                "name": "widgets-edit",
                "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
            },
            "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}],
        },
    )
    st, _ = await dana.get("/api/v1/nodes")
    assert st == 403  # a namespaced binding never grants cluster-scoped access
    # access reviews
    st, r = await dana.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "spec": {"resourceAttributes": {"namespace": "dev", "verb": "delete", "resource": "pods"}},
        },
    )
    assert st == 201 and r["status"]["allowed"] is True
    st, r = await dana.post(
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        {
            "spec": {
                "resourceAttributes": {
                    "namespace": "dev",
                    "verb": "create",
                    "resource": "roles",
                    "group": RBAC,
                }
            }
        },
    )
    assert r["status"]["allowed"] is False
    st, r = await admin.post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "spec": {
                "user": "dana",
                "groups": ["devs"],
                "resourceAttributes": {"namespace": "dev", "verb": "list", "resource": "secrets"},
            }
        },
    )
    assert r["status"]["allowed"] is True
    st, r = await dana.post(
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {"spec": {"namespace": "dev"}}
    )
    assert any("deployments" in rule["resources"] for rule in r["status"]["resourceRules"])
    # dana may not impersonate
    st, err = await dana.req("GET", "/api/v1/namespaces/dev/pods", headers={"Impersonate-User": "admin"})
    assert st == 403 and 'cannot impersonate resource "users"' in err["message"]
    await dana.close()
    await admin.close()


async def test_service_account_tokens_expire_and_die_with_the_account(cp: ControlPlane) -> None:
    admin = Api(cp.url, cp.admin_token)
    await cp.settle()
    await admin.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "robot"}})
    await admin.post(
        f"/apis/{RBAC}/v1/namespaces/default/rolebindings",
        {
            "metadata": {"name": "robot-view"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": "default"}],
        },
    )
    st, tr = await admin.post(
        "/api/v1/namespaces/default/serviceaccounts/robot/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 600},
        },
    )
    assert st == 201 and tr["kind"] == "TokenRequest" and tr["status"]["expirationTimestamp"].endswith("Z")
    token = tr["status"]["token"]
    robot = Api(cp.url, token)
    st, _ = await robot.get("/api/v1/namespaces/default/configmaps")
    assert st == 200
    st, err = await robot.get("/api/v1/namespaces/default/secrets")
    assert st == 403 and err["message"].startswith(
        'secrets is forbidden: User "system:serviceaccount:default:robot"'
    )
    st, r = await admin.post("/apis/authentication.k8s.io/v1/tokenreviews", {"spec": {"token": token}})
    assert (
        r["status"]["authenticated"] is True
        and r["status"]["user"]["username"] == "system:serviceaccount:default:robot"
    )
    assert "system:serviceaccounts:default" in r["status"]["user"]["groups"]
    cp.clock.advance(601)  # type: ignore[attr-defined]
    st, _ = await robot.get("/api/v1/namespaces/default/configmaps")
    assert st == 401
    # a fresh token stops working when the account is deleted
    st, tr = await admin.post("/api/v1/namespaces/default/serviceaccounts/robot/token", {"spec": {}})
    robot2 = Api(cp.url, tr["status"]["token"])
    st, _ = await robot2.get("/api/v1/namespaces/default/configmaps")
    assert st == 200
    await admin.delete("/api/v1/namespaces/default/serviceaccounts/robot")
    st, _ = await robot2.get("/api/v1/namespaces/default/configmaps")
    assert st == 401
    for a in (robot, robot2, admin):
        await a.close()


async def test_legacy_service_account_token_secrets_are_filled(cp: ControlPlane) -> None:
    import base64

    admin = Api(cp.url, cp.admin_token)
    await admin.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "prom"}})
    st, s = await admin.post(
        "/api/v1/namespaces/default/secrets",
        {
            "metadata": {"name": "prom-token", "annotations": {"kubernetes.io/service-account.name": "prom"}},
            "type": "kubernetes.io/service-account-token",
        },
    )
    assert st == 201
    await cp.settle()
    st, s = await admin.get("/api/v1/namespaces/default/secrets/prom-token")
    token = base64.b64decode(s["data"]["token"]).decode()
    assert base64.b64decode(s["data"]["namespace"]) == b"default"
    st, r = await admin.post("/apis/authentication.k8s.io/v1/tokenreviews", {"spec": {"token": token}})
    assert r["status"]["user"]["username"] == "system:serviceaccount:default:prom"
    await admin.delete("/api/v1/namespaces/default/serviceaccounts/prom")
    await cp.settle()
    st, _ = await admin.get("/api/v1/namespaces/default/secrets/prom-token")
    assert st == 404
    await admin.close()
