"""Dashboard provisioning: JSON files from folders (Grafana's ``provisioning/dashboards`` idea).

A folder is scanned recursively for ``*.json``; a Grafana provider file (``*.yaml`` with
``providers[].options.path``) in it is followed too. Files are re-read when they change.
Imported dashboards live in memory next to the provisioned ones (an import with the uid of a
provisioned dashboard shadows it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from .model import Dashboard, DashboardError, as_dict, load_dashboard

__all__ = ["SHIPPED_DIR", "DashboardStore", "Problem"]

SHIPPED_DIR = Path(__file__).with_name("shipped")


@dataclass
class Problem:
    """A file that could not be loaded."""

    path: str
    error: str


class DashboardStore:
    """Provisioned and imported dashboards by uid (thread-safe, reloads changed files)."""

    def __init__(self, dirs: Sequence[str | Path], rescan_interval: float = 2.0) -> None:
        self.dirs = [Path(d) for d in dirs]
        self.rescan_interval = rescan_interval
        self._lock = threading.Lock()
        self._files: dict[Path, tuple[float, Dashboard | None]] = {}
        self._by_uid: dict[str, Dashboard] = {}
        self._imported: dict[str, Dashboard] = {}
        self.problems: list[Problem] = []
        self._last_scan = 0.0
        self.scan(force=True)

    def _json_files(self) -> list[tuple[Path, str]]:
        out: list[tuple[Path, str]] = []
        seen: set[Path] = set()

        def walk(root: Path, folder: str) -> None:
            if not root.exists():
                return
            if root.is_file():
                if root.suffix == ".json" and root not in seen:
                    seen.add(root)
                    out.append((root, folder))
                return
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                rel = os.path.relpath(dirpath, root)
                sub = folder if rel == "." else (f"{folder}/{rel}" if folder else rel)
                for fn in sorted(filenames):
                    p = Path(dirpath) / fn
                    if fn.endswith(".json") and p not in seen:
                        seen.add(p)
                        out.append((p, sub))
                    elif fn.endswith((".yaml", ".yml")):
                        for target, pfolder in _providers(p):
                            walk(target, pfolder)

        for d in self.dirs:
            walk(d, "")
        return out

    def scan(self, force: bool = False) -> None:
        """Re-read changed files (at most every ``rescan_interval`` seconds unless forced)."""
        now = time.monotonic()
        if not force and now - self._last_scan < self.rescan_interval:
            return
        with self._lock:
            self._last_scan = now
            files = self._json_files()
            problems: list[Problem] = []
            new_files: dict[Path, tuple[float, Dashboard | None]] = {}
            for path, folder in files:
                try:
                    mtime = path.stat().st_mtime
                except OSError:
                    continue
                old = self._files.get(path)
                if old is not None and old[0] == mtime:
                    new_files[path] = old
                    if old[1] is None:
                        problems.extend(p for p in self.problems if p.path == str(path))
                    continue
                try:
                    d = load_dashboard(path.read_bytes(), source=str(path))
                    d.folder = folder
                    new_files[path] = (mtime, d)
                except (OSError, DashboardError) as e:
                    problems.append(Problem(str(path), str(e)))
                    new_files[path] = (mtime, None)
            self._files = new_files
            by_uid: dict[str, Dashboard] = {}
            for _, (_, maybe) in sorted(new_files.items()):
                if maybe is None:
                    continue
                d = maybe
                if d.uid in by_uid:
                    problems.append(
                        Problem(d.source, f"duplicate uid {d.uid!r} (also in {by_uid[d.uid].source})")
                    )
                    continue
                by_uid[d.uid] = d
            self._by_uid = by_uid
            self.problems = problems

    def get(self, uid: str) -> Dashboard | None:
        """The dashboard with ``uid`` (imports first)."""
        self.scan()
        with self._lock:
            return self._imported.get(uid) or self._by_uid.get(uid)

    def list(self) -> list[Dashboard]:
        """All dashboards sorted by folder and title."""
        self.scan()
        with self._lock:
            merged = dict(self._by_uid)
            merged.update(self._imported)
        return sorted(merged.values(), key=lambda d: (d.folder.lower(), d.title.lower()))

    def add(self, d: Dashboard) -> Dashboard:
        """Keep an imported dashboard (in memory)."""
        d.folder = d.folder or "Imported"
        with self._lock:
            self._imported[d.uid] = d
        return d


def _providers(path: Path) -> list[tuple[Path, str]]:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return []
    out: list[tuple[Path, str]] = []
    if not isinstance(doc, dict):
        return out
    for p in doc.get("providers") or []:
        if not isinstance(p, dict):
            continue
        opts = as_dict(p.get("options"))
        target = opts.get("path")
        if not isinstance(target, str):
            continue
        t = Path(target)
        if not t.is_absolute():
            t = path.parent / t
        out.append((t, str(p.get("folder") or "")))
    return out
