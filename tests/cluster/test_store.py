"""The versioned store: one global revision, persistence, encryption at rest, watch history."""

from __future__ import annotations

import asyncio
import json

import pytest

from cluster.store import ADDED, DELETED, MODIFIED, AlreadyExists, Conflict, Gone, NotFound, Store


def test_global_revision_and_resource_versions() -> None:
    s = Store()
    a = s.create("/registry/core/pods/ns/a", {"metadata": {"name": "a"}})
    b = s.create("/registry/apps/deployments/ns/b", {"metadata": {"name": "b"}})
    assert (a["metadata"]["resourceVersion"], b["metadata"]["resourceVersion"]) == ("1", "2")
    a2 = s.update("/registry/core/pods/ns/a", {"metadata": {"name": "a"}, "x": 1}, expect_rev=1)
    assert a2["metadata"]["resourceVersion"] == "3" and s.revision == 3
    with pytest.raises(Conflict):
        s.update("/registry/core/pods/ns/a", {"metadata": {"name": "a"}}, expect_rev=1)
    with pytest.raises(AlreadyExists):
        s.create("/registry/core/pods/ns/a", {"metadata": {"name": "a"}})
    d = s.delete("/registry/core/pods/ns/a")
    assert d["metadata"]["resourceVersion"] == "4"
    with pytest.raises(NotFound):
        s.get("/registry/core/pods/ns/a")
    items, rev = s.list("/registry/")
    assert [i["metadata"]["name"] for i in items] == ["b"] and rev == 4


def test_returned_objects_are_private_copies() -> None:
    s = Store()
    s.create("/k/a", {"metadata": {"name": "a"}, "spec": {"v": 1}})
    got = s.get("/k/a")
    got["spec"]["v"] = 2
    assert s.get("/k/a")["spec"]["v"] == 1


def test_persistence_snapshot_log_and_torn_tail(tmp_path) -> None:
    s = Store(tmp_path / "st", snapshot_every=3)
    for i in range(5):
        s.create(f"/registry/core/configmaps/ns/c{i}", {"metadata": {"name": f"c{i}"}, "data": {"i": str(i)}})
    s.delete("/registry/core/configmaps/ns/c0")
    rev = s.revision
    s._wal.close()  # simulate a crash: no final snapshot
    s._wal = None
    # a torn record at the end of the log is dropped
    with open(tmp_path / "st" / "wal.jsonl", "ab") as f:
        f.write(b'{"r":99,"k":"/registry/core/configmaps/ns/torn"')
    s2 = Store(tmp_path / "st")
    items, rev2 = s2.list("/registry/core/configmaps/")
    assert rev2 == rev
    assert [i["metadata"]["name"] for i in items] == ["c1", "c2", "c3", "c4"]
    assert s2.get("/registry/core/configmaps/ns/c3")["metadata"]["resourceVersion"] == "4"
    # the next write continues the global revision
    assert s2.create("/registry/core/configmaps/ns/n", {"metadata": {"name": "n"}})["metadata"][
        "resourceVersion"
    ] == str(rev + 1)
    s2.close()
    s3 = Store(tmp_path / "st")
    assert s3.revision == rev + 1
    s3.close()


def test_secrets_encrypted_at_rest(tmp_path) -> None:
    s = Store(tmp_path / "st", encrypt_prefixes=("/registry/core/secrets/",))
    s.create(
        "/registry/core/secrets/ns/db", {"metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}}
    )
    s.create("/registry/core/configmaps/ns/cfg", {"metadata": {"name": "cfg"}, "data": {"plain": "visible"}})
    raw = (tmp_path / "st" / "wal.jsonl").read_bytes()
    assert b"aHVudGVyMg==" not in raw and b'"db"' not in raw
    assert b"k8s:enc:heron-hmacctr:v1:key1:" in raw
    assert b"visible" in raw
    s.close()
    snap = (tmp_path / "st" / "snapshot.json").read_bytes()
    assert b"aHVudGVyMg==" not in snap
    s2 = Store(tmp_path / "st", encrypt_prefixes=("/registry/core/secrets/",))
    assert s2.get("/registry/core/secrets/ns/db")["data"]["password"] == "aHVudGVyMg=="
    # tampering is detected
    doc = json.loads(snap)
    item = next(i for i in doc["items"] if i["k"].endswith("/db"))
    blob = item["e"]
    item["e"] = blob[:-8] + ("A" if blob[-8] != "A" else "B") + blob[-7:]
    from cluster.store import StoreError

    with pytest.raises(StoreError):
        s2._decode(item)


async def test_watch_from_revision_and_gone() -> None:
    s = Store(history=5)
    for i in range(3):
        s.create(f"/registry/core/pods/ns/p{i}", {"metadata": {"name": f"p{i}"}})
    w = s.subscribe("/registry/core/pods/", 1)
    s.update("/registry/core/pods/ns/p0", {"metadata": {"name": "p0"}, "x": 1})
    s.delete("/registry/core/pods/ns/p1")
    s.create("/registry/core/services/ns/x", {"metadata": {"name": "x"}})  # other prefix
    got = []
    while not w.queue.empty():
        ev = w.queue.get_nowait()
        got.append((ev.type, ev.obj["metadata"]["name"], ev.rev))
    assert got == [(ADDED, "p1", 2), (ADDED, "p2", 3), (MODIFIED, "p0", 4), (DELETED, "p1", 5)]
    s.unsubscribe(w)
    for i in range(10):
        s.create(f"/registry/core/pods/ns/q{i}", {"metadata": {"name": f"q{i}"}})
    with pytest.raises(Gone):
        s.subscribe("/registry/core/pods/", 2)
    # watching from the current revision works and sees later writes
    it = s.watch("/registry/core/pods/", s.revision).__aiter__()
    s.create("/registry/core/pods/ns/late", {"metadata": {"name": "late"}})
    ev = await asyncio.wait_for(it.__anext__(), 1)
    assert ev.obj["metadata"]["name"] == "late"
    await it.aclose()
