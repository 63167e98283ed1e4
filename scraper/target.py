"""Scrape targets: from discovered label sets to targets, as Prometheus's ``PopulateLabels``.

:func:`populate_labels` applies a scrape config's defaults (``job``,
``__scrape_interval__``, ``__scrape_timeout__``, ``__metrics_path__``,
``__scheme__``, ``__param_*``) and ``relabel_configs`` to a discovered label
set, validates the result, drops ``__meta_*`` labels and defaults
``instance`` to ``__address__``. :func:`targets_from_group` does it for every
target of a group. A :class:`Target` holds the resulting labels, its scrape
URL and its health for ``/api/v1/targets``.

Like Prometheus 3.x, no default port is added to an address without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from tsdb.labels import Labels, LabelsBuilder

from .config import format_duration, parse_duration
from .discovery import TargetGroup
from .relabel import relabel_builder

__all__ = [
    "Target",
    "TargetError",
    "fnv64a",
    "populate_labels",
    "targets_from_group",
]

ADDRESS = "__address__"
SCHEME = "__scheme__"
METRICS_PATH = "__metrics_path__"
SCRAPE_INTERVAL = "__scrape_interval__"
SCRAPE_TIMEOUT = "__scrape_timeout__"
PARAM_PREFIX = "__param_"
META_PREFIX = "__meta_"

_HOST_RE = re.compile(r"^[^/@?#\s]+$")


class TargetError(ValueError):
    """A discovered target that can't be scraped (reported, not fatal)."""


def _check_target_address(addr: str) -> None:
    # Prometheus's config.CheckTargetAddress: the address must be a host[:port].
    if _HOST_RE.match(addr) is None or "/" in addr:
        raise TargetError(f'"{addr}" is not a valid hostname')


def _has_port(addr: str) -> bool:
    if addr.startswith("["):
        return "]:" in addr
    return addr.count(":") == 1 and addr.rsplit(":", 1)[1] != ""


def populate_labels(lbls: Labels, cfg: Any) -> tuple[Labels | None, Labels]:
    """``(labels, discovered labels)``; labels is None when relabeling dropped the target.

    Raises :class:`TargetError` for targets that can't be used (no address,
    invalid interval/timeout, invalid label values).
    """
    lb = LabelsBuilder(lbls)
    defaults = (
        ("job", cfg.job_name),
        (SCRAPE_INTERVAL, format_duration(cfg.scrape_interval)),
        (SCRAPE_TIMEOUT, format_duration(cfg.scrape_timeout)),
        (METRICS_PATH, cfg.metrics_path),
        (SCHEME, cfg.scheme),
    )
    for k, v in defaults:
        if lb.get(k) == "":
            lb.set(k, v)
    for k, vs in cfg.params.items():
        name = PARAM_PREFIX + k
        if vs and lb.get(name) == "":
            lb.set(name, vs[0])
    pre = lb.labels()
    if not relabel_builder(lb, cfg.relabel_configs):
        return None, pre
    addr = lb.get(ADDRESS)
    if addr == "":
        raise TargetError("no address")
    _check_target_address(addr)
    interval = lb.get(SCRAPE_INTERVAL)
    try:
        iv = parse_duration(interval)
    except ValueError as e:
        raise TargetError(f"error parsing scrape interval: {e}") from None
    if iv == 0:
        raise TargetError("scrape interval cannot be 0")
    timeout = lb.get(SCRAPE_TIMEOUT)
    try:
        to = parse_duration(timeout)
    except ValueError as e:
        raise TargetError(f"error parsing scrape timeout: {e}") from None
    if to == 0:
        raise TargetError("scrape timeout cannot be 0")
    if to > iv:
        raise TargetError(
            f'scrape timeout cannot be greater than scrape interval ("{timeout}" > "{interval}")'
        )
    res = lb.labels()
    drop = [k for k, _ in res.pairs if k.startswith(META_PREFIX)]
    if drop:
        lb.delete(*drop)
    if lb.get("instance") == "":
        lb.set("instance", addr)
    res = lb.labels()
    for k, v in res.pairs:
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise TargetError(f'invalid label value for "{k}": "{v}"') from None
    return res, pre


def targets_from_group(tg: TargetGroup, cfg: Any) -> tuple[list[Target], list[Target], list[str]]:
    """Active targets, dropped targets and errors of one discovered group."""
    active: list[Target] = []
    dropped: list[Target] = []
    errors: list[str] = []
    for t in tg.targets:
        d = dict(tg.labels)
        d.update(t)
        try:
            lbls, orig = populate_labels(Labels.from_dict(d), cfg)
        except TargetError as e:
            errors.append(f"instance {len(active) + len(dropped)} in group {tg.source}: {e}")
            continue
        tgt = Target(lbls if lbls is not None else Labels(()), orig, cfg.params, cfg.job_name)
        (active if lbls is not None else dropped).append(tgt)
    return active, dropped, errors


def fnv64a(data: bytes) -> int:
    """64-bit FNV-1a."""
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


_ZERO_TIME = "0001-01-01T00:00:00Z"


def format_rfc3339nano(ts: float) -> str:
    """Go's ``time.Time`` JSON form (RFC 3339 with trailing zeros of the fraction trimmed)."""
    dt = datetime.fromtimestamp(ts, UTC)
    frac = f"{ts % 1:.9f}"[2:].rstrip("0")
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return base + ("." + frac if frac else "") + "Z"


@dataclass(eq=False)
class Target:
    """One scrape target: its labels (incl. ``__address__`` etc.), discovered labels and health."""

    labels: Labels
    discovered_labels: Labels
    params: dict[str, list[str]] = field(default_factory=dict)
    scrape_pool: str = ""
    health: str = "unknown"
    last_error: str = ""
    last_scrape: float = 0.0  # seconds since the epoch of the last scrape start (0: never)
    last_scrape_duration: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)  # family -> MetricMetadata

    def __post_init__(self) -> None:
        self._url: str | None = None
        self._public: Labels | None = None
        self._hash: int | None = None

    def url(self) -> str:
        """The scrape URL (``__scheme__://__address____metrics_path__?params``)."""
        if self._url is None:
            params: dict[str, list[str]] = {k: list(v) for k, v in self.params.items()}
            for k, v in self.labels.pairs:
                if k.startswith(PARAM_PREFIX):
                    name = k[len(PARAM_PREFIX) :]
                    if params.get(name):
                        params[name][0] = v
                    else:
                        params[name] = [v]
            q = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k in sorted(params) for v in params[k])
            lb = self.labels
            self._url = f"{lb.get(SCHEME)}://{lb.get(ADDRESS)}{lb.get(METRICS_PATH)}" + ("?" + q if q else "")
        return self._url

    def public_labels(self) -> Labels:
        """The labels attached to every scraped series (names not starting with ``__``)."""
        if self._public is None:
            self._public = Labels(tuple(p for p in self.labels.pairs if not p[0].startswith("__")))
        return self._public

    def hash(self) -> int:
        """Identity of the target within its pool (labels + URL), as Prometheus's ``Target.hash``."""
        if self._hash is None:
            lh = self.labels.fingerprint()
            self._hash = fnv64a(f"{lh:016d}".encode() + self.url().encode())
        return self._hash

    def offset_ms(self, interval_ms: int, now_ms: int, seed: int = 0) -> int:
        """Delay until this target's slot in the interval (stable per target, as Prometheus spreads scrapes)."""
        base = interval_ms - now_ms % interval_ms
        off = (self.hash() ^ seed) % interval_ms
        nxt = base + off
        if nxt > interval_ms:
            nxt -= interval_ms
        return nxt

    def interval_ms(self) -> int:
        return parse_duration(self.labels.get(SCRAPE_INTERVAL))

    def timeout_ms(self) -> int:
        return parse_duration(self.labels.get(SCRAPE_TIMEOUT))

    def api_active(self, global_url: str | None = None) -> dict[str, Any]:
        """This target as an ``activeTargets`` entry of ``/api/v1/targets``."""
        return {
            "discoveredLabels": self.discovered_labels.to_dict(),
            "labels": self.public_labels().to_dict(),
            "scrapePool": self.scrape_pool,
            "scrapeUrl": self.url(),
            "globalUrl": global_url if global_url is not None else self.url(),
            "lastError": self.last_error,
            "lastScrape": format_rfc3339nano(self.last_scrape) if self.last_scrape else _ZERO_TIME,
            "lastScrapeDuration": self.last_scrape_duration,
            "health": self.health,
            "scrapeInterval": self.labels.get(SCRAPE_INTERVAL),
            "scrapeTimeout": self.labels.get(SCRAPE_TIMEOUT),
        }

    def api_dropped(self) -> dict[str, Any]:
        """This target as a ``droppedTargets`` entry."""
        return {"discoveredLabels": self.discovered_labels.to_dict(), "scrapePool": self.scrape_pool}
