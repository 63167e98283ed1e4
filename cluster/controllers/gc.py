"""Garbage collector: ownerReferences, background/foreground deletion, orphaning."""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

from cluster.apiserver import errors
from cluster.apiserver.resources import ResourceInfo
from cluster.store import DELETED, Event

from .base import Context, Controller


class GarbageCollector(Controller):
    """Deletes dependents whose owners are gone; honours ``orphan`` and ``foregroundDeletion``.

    Keys are store keys. An index of owner UID -> dependent store keys is kept from
    the store watch, so a deletion finds its dependents without scanning.
    """

    name = "garbage-collector"
    watch_all = True

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._uids: dict[str, str] = {}  # uid -> key
        self._deps: defaultdict[str, set[str]] = defaultdict(set)  # owner uid -> dependent keys
        self._owners: dict[str, set[str]] = {}  # key -> owner uids

    def initial_keys(self) -> list[str]:
        keys = []
        for k, o in self.reg.store.list_refs("/registry/"):
            self._index(k, o)
        for k, o in self.reg.store.list_refs("/registry/"):
            if o["metadata"].get("ownerReferences") or o["metadata"].get("deletionTimestamp"):
                keys.append(k)
        return keys

    def _index(self, key: str, obj: dict[str, Any] | None) -> None:
        for uid in self._owners.pop(key, set()):
            self._deps[uid].discard(key)
            if not self._deps[uid]:
                del self._deps[uid]
        if obj is None:
            return
        uid = obj["metadata"].get("uid")
        if uid:
            self._uids[uid] = key
        owners = {r.get("uid") for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid")}
        if owners:
            self._owners[key] = owners
            for u in owners:
                self._deps[u].add(key)

    def on_event(self, r: ResourceInfo, ev: Event) -> None:
        if ev.type == DELETED:
            uid = ev.obj["metadata"].get("uid")
            if uid and self._uids.get(uid) == ev.key:
                del self._uids[uid]
            self._index(ev.key, None)
            for dep in list(self._deps.get(uid, ())):
                self.queue.add(dep)
            # an owner waiting in foreground deletion may now be free to go
            for ref in ev.obj["metadata"].get("ownerReferences") or []:
                okey = self._uids.get(ref.get("uid", ""))
                if okey is not None:
                    self.queue.add(okey)
            return
        self._index(ev.key, ev.obj)
        md = ev.obj["metadata"]
        if md.get("ownerReferences") or md.get("deletionTimestamp"):
            self.queue.add(ev.key)

    def _info(self, key: str) -> tuple[ResourceInfo, str | None, str] | None:
        parts = key.split("/")  # '', registry, group, plural, [ns], name
        group = "" if parts[2] == "core" else parts[2]
        plural = parts[3]
        r = self.reg.resources.lookup(group, plural)
        if r is None:
            return None
        if r.namespaced:
            return r, parts[4], parts[5]
        return r, None, parts[4]

    def _owner_exists(self, ref: dict[str, Any], ns: str | None) -> dict[str, Any] | None:
        key = self._uids.get(ref.get("uid", ""))
        if key is None:
            return None
        return self.reg.store.get_ref(key)

    def sync(self, key: str) -> None:
        obj = self.reg.store.get_ref(key)
        info = self._info(key)
        if obj is None or info is None:
            return
        r, ns, name = info
        md = obj["metadata"]
        fins = md.get("finalizers") or []
        if md.get("deletionTimestamp"):
            if "orphan" in fins:
                self._orphan(obj)
                self._remove_finalizer(r, ns, name, "orphan")
                return
            if "foregroundDeletion" in fins:
                deps = [d for d in self._deps.get(md["uid"], set()) if self.reg.store.get_ref(d) is not None]
                blocking = []
                for d in deps:
                    dobj = self.reg.store.get_ref(d)
                    dinfo = self._info(d)
                    if dobj is None or dinfo is None:
                        continue
                    if not dobj["metadata"].get("deletionTimestamp"):
                        self._delete(dinfo, "Foreground")
                    ref: dict[str, Any] = next(
                        (
                            x
                            for x in dobj["metadata"].get("ownerReferences") or []
                            if x.get("uid") == md["uid"]
                        ),
                        {},
                    )
                    if ref.get("blockOwnerDeletion") and self.reg.store.get_ref(d) is not None:
                        blocking.append(d)
                if not blocking:
                    self._remove_finalizer(r, ns, name, "foregroundDeletion")
                return
        refs = md.get("ownerReferences") or []
        if not refs:
            return
        alive = []
        waiting_foreground = False
        for ref in refs:
            owner = self._owner_exists(ref, ns)
            if owner is None:
                continue
            alive.append(ref)
            ofins = owner["metadata"].get("finalizers") or []
            if owner["metadata"].get("deletionTimestamp") and "foregroundDeletion" in ofins:
                waiting_foreground = True
        if not alive:
            if not md.get("deletionTimestamp"):
                self._delete(info, "Background")
            return
        if waiting_foreground and not md.get("deletionTimestamp"):
            self._delete(info, "Foreground")
        if len(alive) < len(refs):
            # drop dangling references
            new = copy.deepcopy(obj)
            new["metadata"]["ownerReferences"] = alive
            try:
                self.reg.update(r, ns, name, new)
            except errors.APIError:
                pass

    def _delete(self, info: tuple[ResourceInfo, str | None, str], policy: str) -> None:
        r, ns, name = info
        try:
            self.reg.delete(r, ns, name, {"propagationPolicy": policy})
        except errors.APIError as e:
            if e.code not in (404, 409):
                raise

    def _orphan(self, owner: dict[str, Any]) -> None:
        uid = owner["metadata"]["uid"]
        for d in list(self._deps.get(uid, ())):
            dobj = self.reg.store.get_ref(d)
            dinfo = self._info(d)
            if dobj is None or dinfo is None:
                continue
            r, ns, name = dinfo
            new = copy.deepcopy(dobj)
            refs = [x for x in new["metadata"].get("ownerReferences") or [] if x.get("uid") != uid]
            if refs:
                new["metadata"]["ownerReferences"] = refs
            else:
                new["metadata"].pop("ownerReferences", None)
            try:
                self.reg.update(r, ns, name, new)
            except errors.APIError:
                pass

    def _remove_finalizer(self, r: ResourceInfo, ns: str | None, name: str, fin: str) -> None:
        obj = self.reg.try_get(r, ns, name)
        if obj is None:
            return
        fins = [f for f in obj["metadata"].get("finalizers") or [] if f != fin]
        if fins:
            obj["metadata"]["finalizers"] = fins
        else:
            obj["metadata"].pop("finalizers", None)
        self.reg.update(r, ns, name, obj)
