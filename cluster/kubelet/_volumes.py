"""Pod volumes materialised as files under the pod directory.

Layout (like ``/var/lib/kubelet/pods/<uid>``)::

    <pod_dir>/volumes/<volume>/...          configMap, secret, downwardAPI, projected, emptyDir
    <pod_dir>/containers/<name>/rootfs/     the container's "/" and working directory;
                                            each volumeMount is a symlink at rootfs/<mountPath>

ConfigMap/Secret/downwardAPI volumes are written the way the kubelet's atomic
writer does (files are symlinks into ``..data``, swapped atomically), and are
rewritten when their source objects change.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ._env import ConfigError, Lookup, field_value, resource_value

Obj = dict[str, Any]
TokenFn = Callable[[str, str, int], Awaitable["str | None"]]

SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def write_atomic(target: Path, files: dict[str, bytes], mode: int = 0o644) -> bool:
    """Make ``target`` hold exactly ``files`` (relative path -> bytes); False if unchanged."""
    target.mkdir(parents=True, exist_ok=True)
    data = target / "..data"
    if data.exists():
        cur = data.resolve()
        same = True
        existing = {str(p.relative_to(cur)): p for p in cur.rglob("*") if p.is_file() and not p.is_symlink()}
        if set(existing) != set(files):
            same = False
        else:
            for k, v in files.items():
                if existing[k].read_bytes() != v:
                    same = False
                    break
        if same:
            return False
    ts = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.monotonic_ns() % 10**9}"
    ts.mkdir()
    for rel, content in files.items():
        p = ts / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
        os.chmod(p, mode)
    old = data.resolve() if data.exists() else None
    tmp = target / "..data_tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(ts.name)
    os.replace(tmp, data)
    tops = {rel.split("/", 1)[0] for rel in files}
    for top in tops:
        link = target / top
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link) if link.is_dir() else link.unlink()
            link.symlink_to(f"..data/{top}")
    for entry in target.iterdir():
        if entry.name.startswith(".."):
            continue
        if entry.name not in tops:
            entry.unlink() if entry.is_symlink() or entry.is_file() else shutil.rmtree(entry)
    if old is not None and old != ts.resolve():
        shutil.rmtree(old, ignore_errors=True)
    return True


def _items(source: Obj, data: dict[str, bytes], what: str) -> dict[str, bytes]:
    items = source.get("items")
    if not items:
        return dict(data)
    out: dict[str, bytes] = {}
    for it in items:
        if it["key"] not in data:
            if source.get("optional"):
                continue
            raise ConfigError(f'configuration key "{it["key"]}" not found in {what}')
        out[it["path"]] = data[it["key"]]
    return out


class Volumes:
    """Materialises one pod's volumes and its containers' mounts."""

    def __init__(
        self,
        pod_dir: Path,
        pvc_root: Path,
        configmaps: Lookup,
        secrets: Lookup,
        token_fn: TokenFn | None = None,
        node_allocatable: dict[str, Any] | None = None,
        ca_pem: str | None = None,
    ) -> None:
        self.ca_pem = ca_pem
        self.pod_dir = pod_dir
        self.pvc_root = pvc_root
        self.configmaps = configmaps
        self.secrets = secrets
        self.token_fn = token_fn
        self.node_allocatable = node_allocatable or {}
        self.paths: dict[str, Path] = {}
        self._token: tuple[float, str] | None = None

    def vol_dir(self, name: str) -> Path:
        return self.pod_dir / "volumes" / name

    def _cm_files(self, ns: str, src: Obj) -> dict[str, bytes]:
        cm = self.configmaps(ns, src["name"])
        if cm is None:
            if src.get("optional"):
                return {}
            raise ConfigError(f'configmap "{src["name"]}" not found')
        data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
        data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
        return _items(src, data, f'configmap "{src["name"]}"')

    def _secret_files(self, ns: str, src: Obj) -> dict[str, bytes]:
        name = str(src.get("secretName") or src.get("name") or "")
        sec = self.secrets(ns, name)
        if sec is None:
            if src.get("optional"):
                return {}
            raise ConfigError(f'secret "{name}" not found')
        data = {k: base64.b64decode(v) for k, v in (sec.get("data") or {}).items()}
        data.update({k: str(v).encode() for k, v in (sec.get("stringData") or {}).items()})
        return _items(src, data, f'secret "{name}"')

    def _downward_files(self, pod: Obj, src: Obj, pod_ip: str, host_ip: str) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for it in src.get("items") or []:
            if "fieldRef" in it:
                out[it["path"]] = field_value(pod, it["fieldRef"]["fieldPath"], pod_ip, host_ip).encode()
            elif "resourceFieldRef" in it:
                ref = it["resourceFieldRef"]
                out[it["path"]] = resource_value(
                    pod, ref.get("containerName", ""), ref, self.node_allocatable
                ).encode()
        return out

    async def _sa_token(self, ns: str, sa: str, expiry: int) -> str | None:
        if self.token_fn is None:
            return None
        if self._token and time.time() < self._token[0]:
            return self._token[1]
        tok = await self.token_fn(ns, sa, expiry)
        if tok:
            self._token = (time.time() + expiry * 0.8, tok)
        return tok

    def volumes_of(self, pod: Obj) -> list[Obj]:
        """The pod's volumes plus the automounted service account volume (if not already present)."""
        spec = pod.get("spec", {})
        vols = list(spec.get("volumes") or [])
        has_sa_mount = any(
            m.get("mountPath") == SA_MOUNT
            for c in spec.get("containers", []) + (spec.get("initContainers") or [])
            for m in c.get("volumeMounts") or []
        )
        if spec.get("automountServiceAccountToken", True) and not has_sa_mount and self.token_fn:
            vols.append(
                {
                    "name": "kube-api-access-heron",
                    "projected": {
                        "sources": [
                            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                            {
                                "downwardAPI": {
                                    "items": [
                                        {
                                            "path": "namespace",
                                            "fieldRef": {"fieldPath": "metadata.namespace"},
                                        }
                                    ]
                                }
                            },
                            {"_ca": True},
                        ]
                    },
                    "_automount": True,
                }
            )
        return vols

    async def sync(self, pod: Obj, pod_ip: str, host_ip: str) -> None:
        """(Re)write every volume; raises :class:`ConfigError` if a source is missing."""
        ns = pod["metadata"].get("namespace", "default")
        sa = pod.get("spec", {}).get("serviceAccountName") or "default"
        for v in self.volumes_of(pod):
            name = v["name"]
            d = self.vol_dir(name)
            mode = 0o644
            files: dict[str, bytes] | None = None
            if "configMap" in v:
                files = self._cm_files(ns, v["configMap"])
                mode = v["configMap"].get("defaultMode", 0o644)
            elif "secret" in v:
                files = self._secret_files(ns, v["secret"])
                mode = v["secret"].get("defaultMode", 0o644)
            elif "downwardAPI" in v:
                files = self._downward_files(pod, v["downwardAPI"], pod_ip, host_ip)
            elif "projected" in v:
                files = {}
                for s in v["projected"].get("sources") or []:
                    if "configMap" in s:
                        files.update(self._cm_files(ns, s["configMap"]))
                    elif "secret" in s:
                        files.update(self._secret_files(ns, s["secret"]))
                    elif "downwardAPI" in s:
                        files.update(self._downward_files(pod, s["downwardAPI"], pod_ip, host_ip))
                    elif s.get("_ca") and self.ca_pem:
                        files["ca.crt"] = self.ca_pem.encode()
                    elif "serviceAccountToken" in s:
                        st = s["serviceAccountToken"]
                        tok = await self._sa_token(ns, sa, int(st.get("expirationSeconds", 3607)))
                        if tok:
                            files[st.get("path", "token")] = tok.encode()
            elif "hostPath" in v:
                hp = Path(v["hostPath"]["path"])
                if v["hostPath"].get("type") in ("DirectoryOrCreate", "", None) and not hp.exists():
                    with contextlib.suppress(OSError):
                        hp.mkdir(parents=True, exist_ok=True)
                self.paths[name] = hp
                continue
            elif "persistentVolumeClaim" in v:
                p = self.pvc_root / ns / v["persistentVolumeClaim"]["claimName"]
                p.mkdir(parents=True, exist_ok=True)
                self.paths[name] = p
                continue
            else:  # emptyDir and anything unknown: a plain directory
                d.mkdir(parents=True, exist_ok=True)
                self.paths[name] = d
                continue
            write_atomic(d, files, mode)
            self.paths[name] = d

    def mount(self, pod: Obj, container: Obj, rootfs: Path) -> list[tuple[str, Path]]:
        """Create the container's mount symlinks; returns ``(mountPath, real path)`` pairs."""
        rootfs.mkdir(parents=True, exist_ok=True)
        mounts = list(container.get("volumeMounts") or [])
        auto = next((v for v in self.volumes_of(pod) if v.get("_automount")), None)
        if auto is not None:
            mounts.append({"name": auto["name"], "mountPath": SA_MOUNT})
        out: list[tuple[str, Path]] = []
        for m in mounts:
            src = self.paths.get(m["name"])
            if src is None:
                raise ConfigError(f'volume "{m["name"]}" not found')
            if m.get("subPath"):
                src = src / m["subPath"]
            mp = m["mountPath"].rstrip("/") or "/"
            link = rootfs / mp.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.is_dir():
                shutil.rmtree(link)
            link.symlink_to(src)
            out.append((mp, link))
        return out
