"""The routing tree (``dispatch.Route``): inherited options, depth-first matching, route keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from . import config as cfg
from .labels import LabelSet, Matcher, matchers_str, matches_all


@dataclass
class RouteOpts:
    """The options that apply to alerts of a route (after inheritance)."""

    receiver: str
    group_by: frozenset[str] = frozenset()
    group_by_all: bool = False
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    mute_time_intervals: list[str] = field(default_factory=list)
    active_time_intervals: list[str] = field(default_factory=list)


class Route:
    """A node of the routing tree."""

    def __init__(self, c: cfg.Route, parent: Route | None = None, idx: int = 0) -> None:
        self.parent = parent
        if parent is not None:
            p = parent.opts
            opts: RouteOpts = RouteOpts(
                p.receiver, p.group_by, p.group_by_all, p.group_wait, p.group_interval, p.repeat_interval
            )
        else:
            opts = RouteOpts(c.receiver)
        if c.receiver:
            opts.receiver = c.receiver
        if c.group_by is not None:
            opts.group_by = frozenset(c.group_by)
            opts.group_by_all = c.group_by_all
        if c.group_wait is not None:
            opts.group_wait = c.group_wait
        if c.group_interval is not None:
            opts.group_interval = c.group_interval
        if c.repeat_interval is not None:
            opts.repeat_interval = c.repeat_interval
        # Not inherited, as in Alertmanager.
        opts.mute_time_intervals = list(c.mute_time_intervals)
        opts.active_time_intervals = list(c.active_time_intervals)
        self.opts: RouteOpts = opts
        self.matchers: list[Matcher] = c.all_matchers()
        self.continue_ = c.continue_
        self.idx = idx
        self.routes = [Route(cr, self, i) for i, cr in enumerate(c.routes)]
        self._key: str | None = None

    def key(self) -> str:
        """``Route.Key``: the parent's key, ``/``, then this route's matchers."""
        if self._key is None:
            own = matchers_str(self.matchers)
            self._key = (self.parent.key() + "/" + own) if self.parent is not None else own
        return self._key

    def id(self) -> str:
        """A key that is unique in the tree (the key plus the position among siblings)."""
        if self.parent is None:
            return self.key()
        return f"{self.parent.id()}/{matchers_str(self.matchers)}/{self.idx}"

    def match(self, ls: LabelSet) -> list[Route]:
        """Routes an alert with these labels goes to: depth first, stopping unless ``continue``."""
        if not matches_all(self.matchers, ls):
            return []
        out: list[Route] = []
        for cr in self.routes:
            m = cr.match(ls)
            out += m
            if m and not cr.continue_:
                break
        if not out:
            out.append(self)
        return out

    def walk(self) -> Iterator[Route]:
        yield self
        for r in self.routes:
            yield from r.walk()

    def group_labels(self, ls: LabelSet) -> dict[str, str]:
        """``getGroupLabels``: the alert's labels named in ``group_by`` (all with ``...``)."""
        o = self.opts
        if o.group_by_all:
            return dict(ls)
        return {k: v for k, v in ls.items() if k in o.group_by}
