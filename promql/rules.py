"""Recording and alerting rules, as Prometheus's ``rules`` and ``model/rulefmt`` packages.

Rule files::

    groups, errors = parse_rule_file(text, "rules.yml")     # errors: promtool's wording
    groups = load_rule_file("rules.yml")                    # raises RuleFileError

validate like ``promtool check rules``: unknown or duplicate fields, wrong YAML
types, bad durations, empty or repeated group names, record *and* alert (or
neither), missing ``expr``, PromQL parse errors (with the parser's position),
``for``/``keep_firing_for``/``annotations`` on recording rules, invalid
recording-rule names, invalid label and annotation names and template syntax
errors in alerting rules. Messages read like promtool's, prefixed with the
file and (unlike promtool, always) the line and column::

    rules.yml: 5:15: group "g1", rule 1, "job:up:sum": could not parse expression: 1:17: parse error: ...

Fields beyond Prometheus 2.42 are accepted as Prometheus 3 does: group
``query_offset`` and group ``labels`` (added to every rule of the group).
Label names are checked with the legacy (pre-UTF-8) rules, as promtool 2.42.

Evaluation: :class:`RecordingRule` and :class:`AlertingRule` have
``eval(ts_ms, query_fn, ...)`` returning the samples to write; alerting rules
keep Prometheus's state machine (inactive → pending → firing after ``for``,
``keep_firing_for``, resolved alerts kept 15 minutes, ``ALERTS`` and
``ALERTS_FOR_STATE`` samples). :class:`Group` evaluates its rules at slots
``offset + k·interval`` (``offset`` from a hash of the group key), appends
through any ``tsdb.interface.Appendable``, writes stale markers for series
that disappear and restores ``for`` state from ``ALERTS_FOR_STATE`` after a
restart. ``Group.run`` is the evaluation loop with an injected clock and
sleep.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tsdb.interface import (
    STALE_NAN,
    Appendable,
    DuplicateSampleError,
    OutOfBoundsError,
    OutOfOrderError,
    Queryable,
    TooOldSampleError,
    is_stale_nan,
)
from tsdb.labels import METRIC_NAME, Labels, LabelsBuilder, is_valid_label_name, is_valid_metric_name
from tsdb.matchers import Matcher, MatchType

from .ast import Expr
from .errors import ParseError
from .parser import _model_parse_duration, parse_expr
from .templates import (
    QueryFunc as TemplateQueryFunc,
)
from .templates import (
    TemplateParseError,
    expand_alert_template,
    parse_alert_template,
)

__all__ = [
    "ALERTS_FOR_STATE_METRIC",
    "ALERTS_METRIC",
    "Alert",
    "AlertState",
    "AlertingRule",
    "Group",
    "GroupOptions",
    "GroupSpec",
    "RecordingRule",
    "Rule",
    "RuleEvalError",
    "RuleFileError",
    "RuleHealth",
    "RuleSample",
    "RuleSpec",
    "engine_query_func",
    "group_key",
    "load_rule_file",
    "parse_rule_file",
    "run_rule_unit_tests",
]

log = logging.getLogger("heron.rules")

ALERTS_METRIC = "ALERTS"
ALERTS_FOR_STATE_METRIC = "ALERTS_FOR_STATE"
ALERT_NAME_LABEL = "alertname"
ALERT_STATE_LABEL = "alertstate"

RESOLVED_RETENTION_MS = 15 * 60_000
DEFAULT_OUTAGE_TOLERANCE_MS = 3_600_000
DEFAULT_FOR_GRACE_PERIOD_MS = 10 * 60_000
DEFAULT_RESEND_DELAY_MS = 60_000


class RuleFileError(ValueError):
    """Invalid rule file(s); ``errors`` lists every problem (``str()`` joins them by newline)."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class RuleEvalError(Exception):
    """A rule evaluation failed (the message is what ``lastError`` shows)."""


# =========================================================================== rule files


@dataclass(frozen=True)
class RuleSpec:
    """One rule as written in a rule file."""

    expr: str
    record: str = ""
    alert: str = ""
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def name(self) -> str:
        return self.alert or self.record


@dataclass(frozen=True)
class GroupSpec:
    """One rule group as written in a rule file (``interval_ms`` 0 = the global default)."""

    name: str
    rules: tuple[RuleSpec, ...]
    interval_ms: int = 0
    query_offset_ms: int | None = None
    limit: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    file: str = ""
    line: int = 0


_STR, _INT, _FLOAT, _BOOL, _NULL = (
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
)


def _short_tag(node: Node) -> str:
    t = node.tag or ""
    if t.startswith("tag:yaml.org,2002:"):
        return "!!" + t[len("tag:yaml.org,2002:") :]
    return t


class _Abort(Exception):
    """A decoding error that stops decoding (yaml.v3 returns it as is)."""


class _Decoder:
    """A strict decoder with yaml.v3's behaviour (``KnownFields``, type errors by line)."""

    def __init__(self) -> None:
        self.terrors: list[str] = []

    def type_error(self, node: Node, into: str) -> None:
        tag = _short_tag(node)
        if isinstance(node, ScalarNode):
            self.terrors.append(
                f"line {node.start_mark.line + 1}: cannot unmarshal {tag} `{node.value}` into {into}"
            )
        else:
            self.terrors.append(f"line {node.start_mark.line + 1}: cannot unmarshal {tag} into {into}")

    @staticmethod
    def is_null(node: Node | None) -> bool:
        return node is None or (isinstance(node, ScalarNode) and node.tag == _NULL)

    def string(self, node: Node) -> str:
        if self.is_null(node):
            return ""
        if isinstance(node, ScalarNode):
            return str(node.value)
        self.type_error(node, "string")
        return ""

    def raw_node(self, node: Node) -> str:
        """A ``yaml.Node`` field: the scalar's text, empty for collections."""
        if isinstance(node, ScalarNode):
            return "" if node.tag == _NULL and node.value in ("", "~") else str(node.value)
        return ""

    def integer(self, node: Node) -> int:
        if self.is_null(node):
            return 0
        if isinstance(node, ScalarNode):
            if node.tag == _INT:
                try:
                    return int(yaml.safe_load(node.value))
                except (ValueError, TypeError):
                    pass
            elif node.tag == _FLOAT:
                try:
                    f = float(yaml.safe_load(node.value))
                    if math.isfinite(f) and abs(f) < 2**63:
                        return int(f)
                except (ValueError, TypeError):
                    pass
        self.type_error(node, "int")
        return 0

    def duration(self, node: Node) -> int:
        if self.is_null(node):
            return 0
        if not isinstance(node, ScalarNode):
            self.type_error(node, "string")
            return 0
        try:
            return _model_parse_duration(str(node.value))
        except ValueError as e:
            raise _Abort(f"{node.start_mark.line + 1}:{node.start_mark.column + 1}: {e}") from None

    def str_map(self, node: Node) -> dict[str, str]:
        if self.is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            self.type_error(node, "map[string]string")
            return {}
        out: dict[str, str] = {}
        for k, v in self.pairs(node):
            key = self.string(k)
            out[key] = self.string(v)
        return out

    def pairs(self, node: MappingNode) -> list[tuple[Node, Node]]:
        seen: dict[str, int] = {}
        res = []
        for k, v in node.value:
            if isinstance(k, ScalarNode):
                if k.value in seen:
                    self.terrors.append(
                        f"line {k.start_mark.line + 1}: mapping key {_go_q(k.value)} "
                        f"already defined at line {seen[k.value]}"
                    )
                    continue
                seen[k.value] = k.start_mark.line + 1
            res.append((k, v))
        return res

    def struct(self, node: Node, go_type: str, fields: Mapping[str, Callable[[Node], Any]]) -> dict[str, Any]:
        if self.is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            self.type_error(node, go_type)
            return {}
        out: dict[str, Any] = {"__line__": node.start_mark.line + 1, "__col__": node.start_mark.column + 1}
        for k, v in self.pairs(node):
            key = k.value if isinstance(k, ScalarNode) else ""
            dec = fields.get(key)
            if dec is None:
                self.terrors.append(f"line {k.start_mark.line + 1}: field {key} not found in type {go_type}")
                continue
            out[key] = dec(v)
            out["__node_" + key] = v
        return out

    def seq(self, node: Node, go_type: str, item: Callable[[Node], Any]) -> list[Any]:
        if self.is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            self.type_error(node, go_type)
            return []
        return [item(v) for v in node.value if not self.is_null(v)]


def _go_q(s: str) -> str:
    from tsdb.labels import quote

    return quote(s)


def _pos(node: Node | None) -> str:
    if node is None:
        return ""
    return f"{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _validate_rule(d: Mapping[str, Any], gname: str, idx: int, errs: list[str]) -> None:
    record, alert = d.get("record", ""), d.get("alert", "")
    name = alert or record
    rnode = d.get("__node_record")
    anode = d.get("__node_alert")
    enode = d.get("__node_expr")
    rule_pos = f"{d['__line__']}:{d['__col__']}"

    def add(pos: str, msg: str) -> None:
        errs.append(f"{pos or rule_pos}: group {_go_q(gname)}, rule {idx}, {_go_q(name)}: {msg}")

    if record and alert:
        add(_pos(rnode), "only one of 'record' and 'alert' must be set")
    if not record and not alert:
        add(_pos(rnode or anode), "one of 'record' or 'alert' must be set")
    expr = d.get("expr", "")
    if not expr:
        add(_pos(enode), "field 'expr' must be set in rule")
    else:
        try:
            parse_expr(expr)
        except ParseError as e:
            add(_pos(enode), f"could not parse expression: {e}")
    if record:
        if d.get("annotations"):
            add(_pos(rnode), "invalid field 'annotations' in recording rule")
        if d.get("for"):
            add(_pos(rnode), "invalid field 'for' in recording rule")
        if d.get("keep_firing_for"):
            add(_pos(rnode), "invalid field 'keep_firing_for' in recording rule")
        if not is_valid_metric_name(record):
            add(_pos(rnode), f"invalid recording rule name: {record}")
    lnode = d.get("__node_labels")
    for k in sorted(d.get("labels") or {}):
        if not is_valid_label_name(k) or k == METRIC_NAME:
            add(_pos(lnode), f"invalid label name: {k}")
    annode = d.get("__node_annotations")
    for k in sorted(d.get("annotations") or {}):
        if not is_valid_label_name(k):
            add(_pos(annode), f"invalid annotation name: {k}")
    if alert:
        for kind, mp, node in (
            ("label", d.get("labels") or {}, lnode),
            ("annotation", d.get("annotations") or {}, annode),
        ):
            for k in sorted(mp):
                try:
                    parse_alert_template(mp[k], alert)
                except TemplateParseError as e:
                    add(_pos(node), f"{kind} {_go_q(k)}: {e}")


def parse_rule_file(text: str, filename: str = "rules.yml") -> tuple[list[GroupSpec], list[str]]:
    """Parse and validate a rule file; returns ``(groups, errors)`` (groups empty on errors).

    Each error is a full line like promtool prints: ``rules.yml: 5:15: group "g", rule 1, ...``.
    """
    try:
        docs = yaml.compose_all(text, Loader=yaml.SafeLoader)
        root = next(iter(docs), None)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return [], [f"{filename}: yaml: {where}{problem}"]
    dec = _Decoder()
    rule_fields: dict[str, Callable[[Node], Any]] = {
        "record": dec.raw_node,
        "alert": dec.raw_node,
        "expr": dec.raw_node,
        "for": dec.duration,
        "keep_firing_for": dec.duration,
        "labels": dec.str_map,
        "annotations": dec.str_map,
    }
    group_fields: dict[str, Callable[[Node], Any]] = {
        "name": dec.string,
        "interval": dec.duration,
        "query_offset": dec.duration,
        "limit": dec.integer,
        "labels": dec.str_map,
        "rules": lambda n: dec.seq(
            n, "[]rulefmt.RuleNode", lambda r: dec.struct(r, "rulefmt.RuleNode", rule_fields)
        ),
    }
    try:
        top = dec.struct(
            root,
            "rulefmt.RuleGroups",
            {
                "groups": lambda n: dec.seq(
                    n, "[]rulefmt.RuleGroup", lambda g: dec.struct(g, "rulefmt.RuleGroup", group_fields)
                )
            },
        )
    except _Abort as e:
        return [], [f"{filename}: {e}"]
    if dec.terrors:
        return [], [f"{filename}: yaml: unmarshal errors:\n  " + "\n  ".join(dec.terrors)]
    errs: list[str] = []
    seen: set[str] = set()
    groups: list[GroupSpec] = []
    for g in top.get("groups", []):
        gname = g.get("name", "")
        gpos = f"{g.get('__line__', 0)}:{g.get('__col__', 0)}"
        if gname == "":
            errs.append(f"{gpos}: Groupname must not be empty")
        if gname in seen:
            errs.append(f'{gpos}: groupname: "{gname}" is repeated in the same file')
        seen.add(gname)
        glabels = g.get("labels") or {}
        for k in sorted(glabels):
            if not is_valid_label_name(k) or k == METRIC_NAME:
                errs.append(f"{_pos(g.get('__node_labels'))}: group {_go_q(gname)}: invalid label name: {k}")
        rules: list[RuleSpec] = []
        for i, r in enumerate(g.get("rules", []), start=1):
            _validate_rule(r, gname, i, errs)
            labels = {**glabels, **(r.get("labels") or {})}
            rules.append(
                RuleSpec(
                    expr=r.get("expr", ""),
                    record=r.get("record", ""),
                    alert=r.get("alert", ""),
                    for_ms=r.get("for", 0),
                    keep_firing_for_ms=r.get("keep_firing_for", 0),
                    labels=labels,
                    annotations=dict(r.get("annotations") or {}),
                    line=r.get("__line__", 0),
                )
            )
        groups.append(
            GroupSpec(
                name=gname,
                rules=tuple(rules),
                interval_ms=g.get("interval", 0),
                query_offset_ms=g.get("query_offset") if "query_offset" in g else None,
                limit=g.get("limit", 0),
                labels=dict(glabels),
                file=filename,
                line=g.get("__line__", 0),
            )
        )
    if errs:
        return [], [f"{filename}: {e}" for e in errs]
    return groups, []


def load_rule_file(path: str | Path) -> list[GroupSpec]:
    """Read and validate a rule file; raises :class:`RuleFileError` listing every error."""
    p = str(path)
    try:
        text = Path(p).read_text()
    except OSError as e:
        msg = str(e.strerror or e)
        raise RuleFileError([f"{p}: open {p}: {msg[:1].lower()}{msg[1:]}"]) from None
    groups, errs = parse_rule_file(text, p)
    if errs:
        raise RuleFileError(errs)
    return groups


# =========================================================================== evaluation


class RuleHealth(enum.StrEnum):
    UNKNOWN = "unknown"
    GOOD = "ok"
    BAD = "err"


class AlertState(enum.IntEnum):
    """An alert's state; a rule's state is the maximum over its alerts."""

    UNKNOWN = 0
    INACTIVE = 1
    PENDING = 2
    FIRING = 3

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class RuleSample:
    """A sample produced by a rule evaluation."""

    labels: Labels
    t: int
    v: float


# (expression, evaluation time ms) -> instant vector [(labels, value)]
RuleQueryFunc = Callable[[Expr | str, int], Sequence[tuple[Labels, float]]]


def engine_query_func(engine: Any, queryable: Queryable) -> RuleQueryFunc:
    """Prometheus's ``EngineQueryFunc``: instant queries; scalars become one unlabeled sample."""

    def query(expr: Expr | str, t_ms: int) -> list[tuple[Labels, float]]:
        from .engine import Scalar, Vector

        res = engine.instant_query(queryable, expr, t_ms)
        v = res.value
        if isinstance(v, Vector):
            return [(s.labels, s.v) for s in v]
        if isinstance(v, Scalar):
            return [(Labels(()), v.v)]
        raise RuleEvalError("rule result is not a vector or scalar")

    return query


class Rule:
    """State shared by recording and alerting rules (health, last error, timings)."""

    kind = ""

    def __init__(self, name: str, expr: Expr | str, labels: Mapping[str, str] | Labels) -> None:
        self.name = name
        self.expr: Expr = parse_expr(expr) if isinstance(expr, str) else expr
        self.query = str(self.expr)
        self.labels = labels if isinstance(labels, Labels) else _pairs(labels)
        self.health = RuleHealth.UNKNOWN
        self.last_error: str | None = None
        self.evaluation_time_s = 0.0
        self.last_evaluation_ms: int | None = None

    def identity(self) -> tuple[Any, ...]:
        """What makes two rules equal for reloads (Prometheus compares ``String()``)."""
        return (self.kind, self.name, self.query, self.labels)

    def name_and_labels(self) -> str:
        return self.name + str(self.labels)

    def eval(
        self,
        ts_ms: int,
        query_fn: RuleQueryFunc,
        *,
        query_offset_ms: int = 0,
        external_url: str = "",
        limit: int = 0,
    ) -> list[RuleSample]:
        raise NotImplementedError


class RecordingRule(Rule):
    """``record:`` — writes the expression's result under a new metric name."""

    kind = "recording"

    def eval(
        self,
        ts_ms: int,
        query_fn: RuleQueryFunc,
        *,
        query_offset_ms: int = 0,
        external_url: str = "",
        limit: int = 0,
    ) -> list[RuleSample]:
        """The samples to record at ``ts_ms - query_offset_ms`` (raises on errors)."""
        t = ts_ms - query_offset_ms
        vec = query_fn(self.expr, t)
        out: list[RuleSample] = []
        seen: set[Labels] = set()
        for lbls, v in vec:
            lb = LabelsBuilder(lbls).set(METRIC_NAME, self.name)
            for k, val in self.labels:
                lb.set(k, val)
            nl = lb.labels()
            if nl in seen:
                raise RuleEvalError(
                    "vector contains metrics with the same labelset after applying rule labels"
                )
            seen.add(nl)
            out.append(RuleSample(nl, t, float(v)))
        if limit > 0 and len(out) > limit:
            raise RuleEvalError(f"exceeded limit of {limit} with {len(out)} series")
        return out


@dataclass
class Alert:
    """One alert instance of an alerting rule (times in ms; None = unset)."""

    state: AlertState
    labels: Labels
    annotations: Labels
    value: float
    active_at: int
    fired_at: int | None = None
    resolved_at: int | None = None
    last_sent_at: int | None = None
    valid_until: int | None = None
    keep_firing_since: int | None = None

    def needs_sending(self, ts_ms: int, resend_delay_ms: int) -> bool:
        if self.state == AlertState.PENDING:
            return False
        if self.resolved_at is not None and (
            self.last_sent_at is None or self.resolved_at > self.last_sent_at
        ):
            return True
        return self.last_sent_at is None or self.last_sent_at + resend_delay_ms < ts_ms


NotifyFunc = Callable[[str, list[Alert]], None]


class AlertingRule(Rule):
    """``alert:`` — turns the expression's result into alerts with Prometheus's state machine."""

    kind = "alerting"

    def __init__(
        self,
        name: str,
        expr: Expr | str,
        *,
        hold_ms: int = 0,
        keep_firing_for_ms: int = 0,
        labels: Mapping[str, str] | Labels = (),  # type: ignore[assignment]
        annotations: Mapping[str, str] | Labels = (),  # type: ignore[assignment]
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        restored: bool = True,
    ) -> None:
        super().__init__(name, expr, dict(labels) if not isinstance(labels, Labels) else labels)
        self.hold_ms = int(hold_ms)
        self.keep_firing_for_ms = int(keep_firing_for_ms)
        self.annotations = annotations if isinstance(annotations, Labels) else _pairs(annotations)
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url
        self.restored = restored
        self.active: dict[Labels, Alert] = {}

    def identity(self) -> tuple[Any, ...]:
        return (*super().identity(), self.hold_ms, self.keep_firing_for_ms, self.annotations)

    # -- state
    def state(self) -> AlertState:
        """The maximum state over the alerts (``unknown`` before the first evaluation)."""
        if self.last_evaluation_ms is None:
            return AlertState.UNKNOWN
        return max((a.state for a in self.active.values()), default=AlertState.INACTIVE)

    def active_alerts(self) -> list[Alert]:
        """Pending and firing alerts (resolved ones excluded)."""
        return [replace(a) for a in self.active.values() if a.resolved_at is None]

    def current_alerts(self) -> list[Alert]:
        """Every alert kept, including resolved ones still retained."""
        return [replace(a) for a in self.active.values()]

    # -- samples
    def _alert_labels(self, alert: Alert | None, metric: str) -> LabelsBuilder:
        lb = LabelsBuilder(self.labels)
        if alert is not None:
            for k, v in alert.labels:
                lb.set(k, v)
        lb.set(METRIC_NAME, metric)
        lb.set(ALERT_NAME_LABEL, self.name)
        return lb

    def _sample(self, alert: Alert, t: int) -> RuleSample:
        lb = self._alert_labels(alert, ALERTS_METRIC)
        lb.set(ALERT_STATE_LABEL, str(alert.state))
        return RuleSample(lb.labels(), t, 1.0)

    def _for_state_sample(self, alert: Alert, t: int) -> RuleSample:
        return RuleSample(
            self._alert_labels(alert, ALERTS_FOR_STATE_METRIC).labels(), t, float(_unix_s(alert.active_at))
        )

    def for_state_matchers(self) -> list[Matcher]:
        """Matchers selecting every ``ALERTS_FOR_STATE`` series of this rule."""
        lbls = self._alert_labels(None, ALERTS_FOR_STATE_METRIC).labels()
        return [Matcher(MatchType.EQUAL, k, v) for k, v in lbls]

    def eval(
        self,
        ts_ms: int,
        query_fn: RuleQueryFunc,
        *,
        query_offset_ms: int = 0,
        external_url: str = "",
        limit: int = 0,
    ) -> list[RuleSample]:
        """Advance the alerts to ``ts_ms``; returns the ``ALERTS``/``ALERTS_FOR_STATE`` samples."""
        qt = ts_ms - query_offset_ms
        res = query_fn(self.expr, qt)
        ext_url = external_url or self.external_url

        def tmpl_query(q: str, t: int) -> list[tuple[dict[str, str], float]]:
            return [(lb.to_dict(), v) for lb, v in query_fn(q, t)]

        tq: TemplateQueryFunc = tmpl_query
        fresh: dict[Labels, Alert] = {}
        for lbls, v in res:
            ldict = lbls.to_dict()

            def expand(text: str, ldict: dict[str, str] = ldict, v: float = v) -> str:
                return expand_alert_template(
                    text,
                    self.name,
                    ldict,
                    v,
                    external_labels=self.external_labels,
                    external_url=ext_url,
                    timestamp_ms=ts_ms,
                    query_fn=tq,
                )

            lb = LabelsBuilder(lbls).delete(METRIC_NAME)
            for k, val in self.labels:
                lb.set(k, expand(val))
            lb.set(ALERT_NAME_LABEL, self.name)
            annotations = _pairs({k: expand(val) for k, val in self.annotations})
            al = lb.labels()
            if al in fresh:
                raise RuleEvalError(
                    "vector contains metrics with the same labelset after applying alert labels"
                )
            fresh[al] = Alert(AlertState.PENDING, al, annotations, float(v), ts_ms)

        for h, a in fresh.items():
            cur = self.active.get(h)
            if cur is not None and cur.state != AlertState.INACTIVE:
                cur.value = a.value
                cur.annotations = a.annotations
                continue
            self.active[h] = a

        out: list[RuleSample] = []
        num_active = 0
        for h, a in list(self.active.items()):
            if h not in fresh:
                keep_firing = False
                if a.state == AlertState.FIRING and self.keep_firing_for_ms > 0:
                    if a.keep_firing_since is None:
                        a.keep_firing_since = ts_ms
                    if ts_ms - a.keep_firing_since < self.keep_firing_for_ms:
                        keep_firing = True
                if a.state == AlertState.PENDING or (
                    a.resolved_at is not None and ts_ms - a.resolved_at > RESOLVED_RETENTION_MS
                ):
                    del self.active[h]
                if a.state != AlertState.INACTIVE and not keep_firing:
                    a.state = AlertState.INACTIVE
                    a.resolved_at = ts_ms
                if not keep_firing:
                    continue
            else:
                a.keep_firing_since = None
            num_active += 1
            if a.state == AlertState.PENDING and ts_ms - a.active_at >= self.hold_ms:
                a.state = AlertState.FIRING
                a.fired_at = ts_ms
            if self.restored:
                out.append(self._sample(a, qt))
                out.append(self._for_state_sample(a, qt))
        if limit > 0 and num_active > limit:
            self.active = {}
            raise RuleEvalError(f"exceeded limit of {limit} with {num_active} alerts")
        return out

    def alerts_to_send(self, ts_ms: int, resend_delay_ms: int, interval_ms: int) -> list[Alert]:
        """Alerts due for (re)sending; marks them sent and sets ``valid_until``
        (``ts + 4·max(interval, resend delay)``, as Prometheus's ``sendAlerts``)."""
        out = []
        for a in self.active.values():
            if a.needs_sending(ts_ms, resend_delay_ms):
                a.last_sent_at = ts_ms
                a.valid_until = ts_ms + 4 * max(interval_ms, resend_delay_ms)
                out.append(replace(a))
        return out


def _pairs(d: Mapping[str, str]) -> Labels:
    """Sorted pairs keeping empty values (rule labels/annotations as Go's ``labels.FromMap``)."""
    return Labels(tuple(sorted(dict(d).items())))


def _unix_s(ms: int) -> int:
    """Go's ``time.Unix()`` of a ms timestamp (floor to seconds)."""
    return ms // 1000


def rule_from_spec(
    spec: RuleSpec,
    *,
    external_labels: Mapping[str, str] | None = None,
    external_url: str = "",
    restored: bool = True,
) -> Rule:
    """Build a :class:`RecordingRule` or :class:`AlertingRule` from a rule file entry."""
    if spec.alert:
        return AlertingRule(
            spec.alert,
            spec.expr,
            hold_ms=spec.for_ms,
            keep_firing_for_ms=spec.keep_firing_for_ms,
            labels=spec.labels,
            annotations=spec.annotations,
            external_labels=external_labels,
            external_url=external_url,
            restored=restored,
        )
    return RecordingRule(spec.record, spec.expr, spec.labels)


# =========================================================================== groups


def group_key(file: str, name: str) -> str:
    """Prometheus's ``GroupKey``: ``file;name``."""
    return file + ";" + name


@dataclass
class GroupOptions:
    """What a group needs to run (Prometheus's ``ManagerOptions``)."""

    appendable: Appendable
    queryable: Queryable
    query_fn: RuleQueryFunc
    notify_fn: NotifyFunc | None = None
    external_url: str = ""
    outage_tolerance_ms: int = DEFAULT_OUTAGE_TOLERANCE_MS
    for_grace_period_ms: int = DEFAULT_FOR_GRACE_PERIOD_MS
    resend_delay_ms: int = DEFAULT_RESEND_DELAY_MS
    default_query_offset_ms: int = 0
    clock: Callable[[], float] = time.time  # seconds since the epoch
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # seconds
    # Runs one evaluation (a sync callable); default: inline on the event loop.
    executor: Callable[[Callable[[], None]], Awaitable[None]] | None = None


@dataclass
class GroupMetrics:
    """Counters of one group (Prometheus's ``prometheus_rule_*`` metrics)."""

    evaluations: int = 0
    evaluation_failures: int = 0
    iterations_scheduled: int = 0
    iterations_missed: int = 0
    samples: int = 0
    last_restore_duration_s: float = 0.0


class Group:
    """A rule group: rules evaluated in order at a fixed interval."""

    def __init__(
        self,
        name: str,
        file: str,
        interval_ms: int,
        rules: Sequence[Rule],
        opts: GroupOptions,
        *,
        limit: int = 0,
        query_offset_ms: int | None = None,
        should_restore: bool = False,
    ) -> None:
        if interval_ms <= 0:
            raise ValueError("group interval must be positive")
        self.name = name
        self.file = file
        self.interval_ms = int(interval_ms)
        self.rules = list(rules)
        self.opts = opts
        self.limit = limit
        self.query_offset_ms = query_offset_ms
        self.should_restore = should_restore
        self.series_in_previous_eval: list[set[Labels]] = [set() for _ in self.rules]
        self.stale_series: list[Labels] = []
        self.evaluation_time_s = 0.0
        self.last_evaluation_ms: int | None = None  # wall clock of the last evaluation
        self.last_eval_timestamp_ms: int | None = None  # slot time of the last evaluation
        self.metrics = GroupMetrics()
        self.mark_stale = False
        self._inflight: asyncio.Future[None] | None = None

    @property
    def key(self) -> str:
        return group_key(self.file, self.name)

    def effective_query_offset_ms(self) -> int:
        return self.query_offset_ms if self.query_offset_ms is not None else self.opts.default_query_offset_ms

    def alerting_rules(self) -> list[AlertingRule]:
        return [r for r in self.rules if isinstance(r, AlertingRule)]

    # -- scheduling
    def hash(self) -> int:
        """A stable 64-bit hash of the group's name and file (spreads groups over the interval)."""
        return Labels.from_dict({"name": self.name, "file": self.file}).fingerprint()

    def eval_timestamp(self, start_ms: int) -> int:
        """The latest slot at or before ``start_ms`` (Prometheus's ``EvalTimestamp``)."""
        offset = self.hash() % self.interval_ms
        adj = start_ms - offset
        base = adj - (adj % self.interval_ms)
        return base + offset

    def equals(self, other: Group) -> bool:
        """Same name, file, interval, limit, query offset and rules (then a reload keeps the group)."""
        return (
            self.name == other.name
            and self.file == other.file
            and self.interval_ms == other.interval_ms
            and self.limit == other.limit
            and self.query_offset_ms == other.query_offset_ms
            and len(self.rules) == len(other.rules)
            and all(a.identity() == b.identity() for a, b in zip(self.rules, other.rules, strict=True))
        )

    def copy_state(self, old: Group) -> None:
        """Take over alert state and staleness bookkeeping from the group this one replaces."""
        self.evaluation_time_s = old.evaluation_time_s
        self.last_evaluation_ms = old.last_evaluation_ms
        rule_map: dict[str, list[int]] = {}
        for fi, r in enumerate(old.rules):
            rule_map.setdefault(r.name_and_labels(), []).append(fi)
        for i, r in enumerate(self.rules):
            idx = rule_map.get(r.name_and_labels())
            if not idx:
                continue
            fi = idx.pop(0)
            self.series_in_previous_eval[i] = old.series_in_previous_eval[fi]
            fr = old.rules[fi]
            if isinstance(r, AlertingRule) and isinstance(fr, AlertingRule):
                r.active.update(fr.active)
        self.stale_series = list(old.stale_series)
        for remaining in rule_map.values():
            for fi in remaining:
                self.stale_series.extend(old.series_in_previous_eval[fi])

    # -- evaluation
    def eval(self, ts_ms: int) -> None:
        """One evaluation of every rule at slot ``ts_ms`` (Prometheus's ``Group.Eval``)."""
        offset = self.effective_query_offset_ms()
        samples_total = 0
        for i, rule in enumerate(self.rules):
            start = time.perf_counter()
            rule.last_evaluation_ms = int(self.opts.clock() * 1000)
            self.metrics.evaluations += 1
            try:
                vector = rule.eval(
                    ts_ms,
                    self.opts.query_fn,
                    query_offset_ms=offset,
                    external_url=self.opts.external_url,
                    limit=self.limit,
                )
            except Exception as e:  # noqa: BLE001 - any failure is the rule's lastError
                rule.health = RuleHealth.BAD
                rule.last_error = str(e) or type(e).__name__
                self.metrics.evaluation_failures += 1
                rule.evaluation_time_s = time.perf_counter() - start
                log.warning("evaluating rule %s of group %s failed: %s", rule.name, self.key, e)
                continue
            rule.health = RuleHealth.GOOD
            rule.last_error = None
            samples_total += len(vector)
            if isinstance(rule, AlertingRule) and self.opts.notify_fn is not None:
                to_send = rule.alerts_to_send(ts_ms, self.opts.resend_delay_ms, self.interval_ms)
                if to_send:
                    try:
                        self.opts.notify_fn(rule.query, to_send)
                    except Exception as e:  # noqa: BLE001 - notification problems never stop evaluation
                        log.warning("sending alerts of %s failed: %s", rule.name, e)
            self._append(i, rule, vector, ts_ms - offset)
            rule.evaluation_time_s = time.perf_counter() - start
        self.metrics.samples = samples_total
        self.cleanup_stale_series(ts_ms)

    def _append(self, i: int, rule: Rule, vector: Sequence[RuleSample], stale_t: int) -> None:
        app = self.opts.appendable.appender()
        returned: set[Labels] = set()
        for s in vector:
            try:
                app.append(None, s.labels, s.t, s.v)
                returned.add(s.labels)
            except Exception as e:  # noqa: BLE001 - OOO, duplicates, … are reported, not fatal
                rule.health = RuleHealth.BAD
                rule.last_error = str(e) or type(e).__name__
                if not isinstance(e, OutOfOrderError | TooOldSampleError | DuplicateSampleError):
                    log.warning("rule %s: sample %s discarded: %s", rule.name, s.labels, e)
        for lset in self.series_in_previous_eval[i] - returned:
            try:
                app.append(None, lset, stale_t, STALE_NAN)
            except (OutOfOrderError, TooOldSampleError, DuplicateSampleError, OutOfBoundsError):
                pass  # expected if the series is written by another rule
            except Exception as e:  # noqa: BLE001
                log.warning("adding stale sample for %s failed: %s", lset, e)
        try:
            app.commit()
        except Exception as e:  # noqa: BLE001
            rule.health = RuleHealth.BAD
            rule.last_error = str(e) or type(e).__name__
            self.metrics.evaluation_failures += 1
            log.warning("rule %s: appending samples failed: %s", rule.name, e)
            return
        self.series_in_previous_eval[i] = returned

    def cleanup_stale_series(self, ts_ms: int) -> None:
        """Stale markers for series of rules that no longer exist."""
        if not self.stale_series:
            return
        app = self.opts.appendable.appender()
        t = ts_ms - self.effective_query_offset_ms()
        for lset in self.stale_series:
            try:
                app.append(None, lset, t, STALE_NAN)
            except Exception:  # noqa: BLE001, S110 - another rule may write the series now
                pass
        try:
            app.commit()
        except Exception as e:  # noqa: BLE001
            log.warning("stale sample appending for previous configuration failed: %s", e)
            return
        self.stale_series = []

    def eval_iteration(self, ts_ms: int) -> None:
        """Evaluate at slot ``ts_ms`` and record timings (Prometheus's ``DefaultEvalIterationFunc``)."""
        self.metrics.iterations_scheduled += 1
        start_wall = int(self.opts.clock() * 1000)
        t0 = time.perf_counter()
        self.eval(ts_ms)
        self.evaluation_time_s = time.perf_counter() - t0
        self.last_evaluation_ms = start_wall
        self.last_eval_timestamp_ms = ts_ms

    def restore_for_state(self, ts_ms: int) -> None:
        """Restore ``active_at`` of pending/firing alerts from ``ALERTS_FOR_STATE`` after a restart."""
        t0 = time.perf_counter()
        mint = ts_ms - self.opts.outage_tolerance_ms
        try:
            q = self.opts.queryable.querier(mint, ts_ms)
        except Exception as e:  # noqa: BLE001
            log.error("failed to get querier for 'for' state restoration: %s", e)
            return
        try:
            for rule in self.alerting_rules():
                hold = rule.hold_ms
                if hold < self.opts.for_grace_period_ms:
                    rule.restored = True
                    continue
                try:
                    series = list(q.select(rule.for_state_matchers()))
                except Exception as e:  # noqa: BLE001
                    log.error("failed to restore 'for' state of %s: %s", rule.name, e)
                    rule.restored = True
                    continue
                by_labels = {s.labels.without(METRIC_NAME): s for s in series if len(s.ts)}
                if not by_labels:
                    rule.restored = True
                    continue
                for a in rule.active.values():
                    s = by_labels.get(a.labels)
                    if s is None:
                        continue
                    t, v = int(s.ts[-1]), float(s.vals[-1])
                    if is_stale_nan(v):
                        continue
                    down_at = _unix_s(t) * 1000
                    restored_active_at = int(v) * 1000
                    remaining = hold - (down_at - restored_active_at)
                    if remaining <= 0:
                        pass  # was firing when we went down
                    elif remaining < self.opts.for_grace_period_ms:
                        restored_active_at = ts_ms + self.opts.for_grace_period_ms - hold
                    else:
                        restored_active_at += ts_ms - down_at
                    a.active_at = restored_active_at
                rule.restored = True
        finally:
            try:
                q.close()
            except Exception:  # noqa: BLE001, S110
                pass
        self.metrics.last_restore_duration_s = time.perf_counter() - t0

    # -- the loop
    async def _run_iteration(self, ts_ms: int) -> None:
        try:
            if self.opts.executor is None:
                self.eval_iteration(ts_ms)
                return
            fut = asyncio.ensure_future(self.opts.executor(lambda: self.eval_iteration(ts_ms)))
            self._inflight = fut
            try:
                # A cancelled run() must not abandon an evaluation still running in a thread.
                await asyncio.shield(fut)
            finally:
                if fut.done():
                    self._inflight = None
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug in one iteration must not stop the group
            log.exception("evaluation of rule group %s at %d failed", self.key, ts_ms)

    async def wait_idle(self) -> None:
        """Wait for an evaluation still running in the executor (after cancelling :meth:`run`)."""
        fut = self._inflight
        if fut is not None:
            try:
                await fut
            except Exception:  # noqa: BLE001, S110 - its errors are the rules' lastError
                pass
            self._inflight = None

    async def _wait_next(self, eval_ts: int) -> int:
        """Sleep until the slot after ``eval_ts``; returns the slot to evaluate (skipping missed ones)."""
        nxt = eval_ts + self.interval_ms
        now = self.opts.clock() * 1000
        if nxt > now:
            await self.opts.sleep((nxt - now) / 1000)
        now = self.opts.clock() * 1000
        missed = int((now - eval_ts) // self.interval_ms) - 1
        if missed > 0:
            self.metrics.iterations_missed += missed
            self.metrics.iterations_scheduled += missed
        else:
            missed = 0
        return eval_ts + (missed + 1) * self.interval_ms

    async def run(self) -> None:
        """Evaluate forever at this group's slots (cancel the task to stop)."""
        now = int(self.opts.clock() * 1000)
        eval_ts = self.eval_timestamp(now) + self.interval_ms
        wait = eval_ts - self.opts.clock() * 1000
        if wait > 0:
            await self.opts.sleep(wait / 1000)
        await self._run_iteration(eval_ts)
        if self.should_restore:
            # As Prometheus: evaluate once more before restoring, so recording rules
            # the alerts depend on have fresh values.
            eval_ts = await self._wait_next(eval_ts)
            await self._run_iteration(eval_ts)
            self.restore_for_state(int(self.opts.clock() * 1000))
            self.should_restore = False
        while True:
            eval_ts = await self._wait_next(eval_ts)
            await self._run_iteration(eval_ts)

    async def mark_stale_after_removal(self) -> None:
        """For a removed group: after two intervals, write stale markers for all its series."""
        for s in self.series_in_previous_eval:
            self.stale_series.extend(s)
        self.series_in_previous_eval = [set() for _ in self.rules]
        await self.opts.sleep(2 * self.interval_ms / 1000)
        self.cleanup_stale_series(int(self.opts.clock() * 1000))


def build_group(
    spec: GroupSpec,
    opts: GroupOptions,
    *,
    default_interval_ms: int,
    external_labels: Mapping[str, str] | None = None,
    restored: bool = True,
    should_restore: bool = False,
) -> Group:
    """A :class:`Group` from a parsed rule file group."""
    rules = [
        rule_from_spec(r, external_labels=external_labels, external_url=opts.external_url, restored=restored)
        for r in spec.rules
    ]
    return Group(
        spec.name,
        spec.file,
        spec.interval_ms or default_interval_ms,
        rules,
        opts,
        limit=spec.limit,
        query_offset_ms=spec.query_offset_ms,
        should_restore=should_restore,
    )


# =========================================================================== rule unit tests


def run_rule_unit_tests(path: str | Path) -> list[str]:
    """Run a ``promtool test rules`` file; returns the failures (empty when every test passes).

    Supports ``rule_files`` (globs, relative to the test file), ``evaluation_interval``,
    ``group_eval_order`` and test groups with ``interval``, ``input_series``,
    ``alert_rule_test`` (firing alerts only, ``alertname`` added to ``exp_labels``),
    ``promql_expr_test``, ``external_labels``, ``external_url`` and ``name``, evaluated as
    promtool does: every group at every ``evaluation_interval`` step from 0.
    """
    import glob as _glob

    from .engine import Engine
    from .promqltest import parse_series_desc
    from .testing import MemStorage

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        return [f"{p}: {e}"]
    if not isinstance(doc, dict):
        return [f"{p}: not a unit test file"]
    rule_files: list[str] = []
    for rf in doc.get("rule_files") or []:
        full = rf if Path(rf).is_absolute() else str(p.parent / rf)
        rule_files.extend(sorted(_glob.glob(full)))
    specs: list[GroupSpec] = []
    for rf in rule_files:
        try:
            specs.extend(load_rule_file(rf))
        except RuleFileError as e:
            return e.errors
    eval_interval = _model_parse_duration(str(doc.get("evaluation_interval") or "1m"))
    order = {name: i for i, name in enumerate(doc.get("group_eval_order") or [])}
    engine = Engine()
    failures: list[str] = []
    for tg in doc.get("tests") or []:
        failures.extend(
            _run_test_group(tg, specs, eval_interval, order, engine, MemStorage, parse_series_desc)
        )
    return failures


def _run_test_group(
    tg: Mapping[str, Any],
    specs: Sequence[GroupSpec],
    eval_interval: int,
    order: Mapping[str, int],
    engine: Any,
    storage_cls: Any,
    parse_series_desc: Callable[[str], tuple[Labels, list[object]]],
) -> list[str]:
    interval = _model_parse_duration(str(tg.get("interval"))) if tg.get("interval") else eval_interval
    st = storage_cls()
    for s in tg.get("input_series") or []:
        lbls, vals = parse_series_desc(f"{s['series']} {s.get('values', '')}")
        times = [i * interval for i, v in enumerate(vals) if v is not None]
        st.add(lbls, times, [v for v in vals if v is not None])
    ext_labels = {str(k): str(v) for k, v in (tg.get("external_labels") or {}).items()}
    opts = GroupOptions(
        appendable=st,
        queryable=st,
        query_fn=engine_query_func(engine, st),
        external_url=str(tg.get("external_url") or ""),
    )
    groups = [
        build_group(spec, opts, default_interval_ms=interval, external_labels=ext_labels)
        for spec in sorted(specs, key=lambda g: order.get(g.name, 0))
    ]
    name = f"    name: {tg['name']},\n" if tg.get("name") else ""
    alert_tests: dict[int, list[Mapping[str, Any]]] = {}
    for at in tg.get("alert_rule_test") or []:
        if not at.get("alertname"):
            return [
                f"an item under alert_rule_test misses required attribute alertname at eval_time {at.get('eval_time')}"
            ]
        alert_tests.setdefault(_model_parse_duration(str(at.get("eval_time") or "0s")), []).append(at)
    expr_tests = tg.get("promql_expr_test") or []
    max_t = max(
        [*alert_tests, *(_model_parse_duration(str(e.get("eval_time") or "0s")) for e in expr_tests), 0]
    )
    errs: list[str] = []
    pending = sorted(alert_tests)
    ts = 0
    while ts <= max_t:
        eval_errs = []
        for g in groups:
            g.eval(ts)
            for r in g.rules:
                if r.last_error:
                    eval_errs.append(f"    rule: {r.name}, time: {_go_dur(ts)}, err: {r.last_error}")
        if eval_errs:
            return errs + eval_errs
        while pending and ts <= pending[0] < ts + eval_interval:
            t = pending.pop(0)
            for at in alert_tests[t]:
                got = sorted(
                    (a.labels, a.annotations)
                    for g in groups
                    for r in g.alerting_rules()
                    if r.name == at["alertname"]
                    for a in r.active_alerts()
                    if a.state == AlertState.FIRING
                )
                exp = sorted(
                    (
                        Labels.from_dict(
                            {
                                **{str(k): str(v) for k, v in (e.get("exp_labels") or {}).items()},
                                ALERT_NAME_LABEL: at["alertname"],
                            }
                        ),
                        Labels.from_dict(
                            {str(k): str(v) for k, v in (e.get("exp_annotations") or {}).items()}
                        ),
                    )
                    for e in at.get("exp_alerts") or []
                )
                if got != exp:
                    errs.append(
                        f"{name}    alertname: {at['alertname']}, time: {_go_dur(t)}, \n"
                        f"        exp:{_fmt_alerts(exp)}, \n        got:{_fmt_alerts(got)}"
                    )
        ts += eval_interval
    for et in expr_tests:
        t = _model_parse_duration(str(et.get("eval_time") or "0s"))
        expr = str(et.get("expr", ""))
        try:
            got_s = sorted((lb, float(v)) for lb, v in engine_query_func(engine, st)(expr, t))
        except Exception as e:  # noqa: BLE001 - reported like promtool
            errs.append(f"    expr: {_go_q(expr)}, time: {_go_dur(t)}, err: {e}")
            continue
        try:
            exp_s = sorted(
                (_parse_metric_labels(str(s.get("labels", ""))), float(s.get("value", 0)))
                for s in et.get("exp_samples") or []
            )
        except (ValueError, ParseError) as e:
            errs.append(f"    expr: {_go_q(expr)}, time: {_go_dur(t)}, err: {e}")
            continue
        same = len(got_s) == len(exp_s) and all(
            gl == el and (gv == ev or (math.isnan(gv) and math.isnan(ev)))
            for (gl, gv), (el, ev) in zip(got_s, exp_s, strict=True)
        )
        if not same:
            errs.append(
                f"    expr: {_go_q(expr)}, time: {_go_dur(t)},\n        exp: {_fmt_samples(exp_s)}\n        got: {_fmt_samples(got_s)}"
            )
    return errs


def _parse_metric_labels(text: str) -> Labels:
    """Prometheus's ``parser.ParseMetric``: ``name{a="b"}`` to labels."""
    from .ast import VectorSelector

    if text.strip() == "{}":
        return Labels(())
    node = parse_expr(text)
    if not isinstance(node, VectorSelector) or any(m.type is not MatchType.EQUAL for m in node.matchers):
        raise ValueError(f"labels {_go_q(text)}: not a metric")
    return Labels.from_pairs((m.name, m.value) for m in node.matchers)


def _go_dur(ms: int) -> str:
    from .templates import go_duration_string

    if ms == 0:
        return "0s"
    s = go_duration_string(ms * 1_000_000)
    if s.endswith("m0s"):
        s = s[:-2]
    if s.endswith("h0m"):
        s = s[:-2]
    return s


def _go_labels_str(lbls: Labels) -> str:
    """Go's ``labels.Labels.String()``: ``{__name__="x", a="b"}``."""
    return "{" + ", ".join(f"{k if is_valid_label_name(k) else _go_q(k)}={_go_q(v)}" for k, v in lbls) + "}"


def _fmt_alerts(alerts: Sequence[tuple[Labels, Labels]]) -> str:
    if not alerts:
        return "[]"
    parts = [
        f"\n{i}:\n  Labels:{_go_labels_str(lb)}\n  Annotations:{_go_labels_str(an)}"
        for i, (lb, an) in enumerate(alerts)
    ]
    # promtool indents every line after the first by 12 spaces
    return ("[" + ",".join(parts) + "\n]").replace("\n", "\n" + " " * 12)


def _fmt_samples(samples: Sequence[tuple[Labels, float]]) -> str:
    from .templates import go_format_float

    if not samples:
        return "nil"
    return ", ".join(f"{_go_labels_str(lb)} {go_format_float(v, 'e', -1).upper()}" for lb, v in samples)
