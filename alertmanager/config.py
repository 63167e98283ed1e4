"""The ``alertmanager.yml`` model: strict decoding with Alertmanager's validation messages.

Decoding walks the YAML node tree so every error carries the file and line it comes
from; the message texts are Alertmanager 0.25's (``amtool check-config`` agrees on which
files are valid). ``Config.original`` is the normalised YAML that ``/api/v2/status``
serves (defaults filled in, secrets replaced by ``<secret>``), as Alertmanager does, so
``amtool config show`` / ``amtool config routes`` work against Heron.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml import Node

from .labels import (
    Matcher,
    MatcherError,
    MatchType,
    compile_regex,
    parse_matchers,
    sort_matchers,
    valid_label_name,
)
from .timeinterval import TimeInterval, TimeIntervalError, parse_time_interval


class ConfigError(ValueError):
    """An invalid configuration; ``str()`` names the file and line when known."""

    def __init__(self, msg: str, line: int | None = None, file: str | None = None) -> None:
        self.msg = msg
        self.line = line
        self.file = file
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        return where + self.msg

    def with_file(self, file: str) -> ConfigError:
        return ConfigError(self.msg, self.line, file)


# --- durations -------------------------------------------------------------------------------

_DURATION_RE = re.compile(
    r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
)
_UNITS_MS = [
    ("y", 365 * 86400_000),
    ("w", 7 * 86400_000),
    ("d", 86400_000),
    ("h", 3600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
]


def parse_duration(s: str) -> float:
    """Prometheus ``model.ParseDuration`` (``1h30m``, ``2d``, ``0``) in seconds."""
    if s == "0":
        return 0.0
    if s == "":
        raise ValueError("empty duration string")
    m = _DURATION_RE.match(s)
    if m is None:
        raise ValueError(f"not a valid duration string: {_goq(s)}")
    ms = 0
    for i, (_, mult) in enumerate(_UNITS_MS):
        g = m.group(2 * i + 2)
        if g:
            ms += int(g) * mult
    return ms / 1000.0


def format_duration(seconds: float) -> str:
    """``model.Duration.String``: ``1m``, ``4h``, ``1d12h``; ``0s`` for zero."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, mult in _UNITS_MS:
        if unit in ("y", "w") and ms % mult:
            continue
        v = ms // mult
        if v > 0:
            out += f"{v}{unit}"
            ms -= v * mult
    return out


def _goq(s: str) -> str:
    from .labels import go_quote

    return go_quote(s)


# --- the model -------------------------------------------------------------------------------

SECRET = "<secret>"


@dataclass
class BasicAuth:
    username: str = ""
    password: str = ""
    password_file: str = ""


@dataclass
class Authorization:
    type: str = "Bearer"
    credentials: str = ""
    credentials_file: str = ""


@dataclass
class HTTPConfig:
    """The subset of Prometheus's ``http_config`` that Heron's webhook client honours."""

    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    tls_config: dict[str, Any] = field(default_factory=dict)
    proxy_url: str = ""
    follow_redirects: bool = True
    enable_http2: bool = True
    oauth2: dict[str, Any] | None = None

    def to_yaml(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.basic_auth:
            ba: dict[str, Any] = {"username": self.basic_auth.username}
            if self.basic_auth.password:
                ba["password"] = SECRET
            if self.basic_auth.password_file:
                ba["password_file"] = self.basic_auth.password_file
            d["basic_auth"] = ba
        if self.authorization:
            au: dict[str, Any] = {"type": self.authorization.type}
            if self.authorization.credentials:
                au["credentials"] = SECRET
            if self.authorization.credentials_file:
                au["credentials_file"] = self.authorization.credentials_file
            d["authorization"] = au
        if self.oauth2:
            d["oauth2"] = dict(self.oauth2)
        if self.proxy_url:
            d["proxy_url"] = self.proxy_url
        if self.tls_config:
            d["tls_config"] = dict(self.tls_config)
        d["follow_redirects"] = self.follow_redirects
        d["enable_http2"] = self.enable_http2
        return d


@dataclass
class WebhookConfig:
    """One ``webhook_configs`` entry."""

    url: str | None = None
    url_file: str = ""
    send_resolved: bool = True
    max_alerts: int = 0
    timeout: float = 0.0
    http_config: HTTPConfig | None = None

    def resolve_url(self) -> str:
        """The URL, read from ``url_file`` when that is set."""
        if self.url is not None:
            return self.url
        return Path(self.url_file).read_text().strip()

    def to_yaml(self) -> dict[str, Any]:
        d: dict[str, Any] = {"send_resolved": self.send_resolved}
        if self.http_config is not None:
            d["http_config"] = self.http_config.to_yaml()
        if self.url is not None:
            d["url"] = self.url
        if self.url_file:
            d["url_file"] = self.url_file
        d["max_alerts"] = self.max_alerts
        if self.timeout:
            d["timeout"] = format_duration(self.timeout)
        return d


@dataclass
class Receiver:
    """A named receiver; only webhooks are delivered, other integrations are kept as given."""

    name: str
    webhook_configs: list[WebhookConfig] = field(default_factory=list)
    other: dict[str, list[Any]] = field(default_factory=dict)

    def to_yaml(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name}
        for k, v in self.other.items():
            d[k] = v
        if self.webhook_configs:
            d["webhook_configs"] = [w.to_yaml() for w in self.webhook_configs]
        return d


@dataclass
class Route:
    """A node of the routing tree as written in the file (options not yet inherited)."""

    receiver: str = ""
    group_by: list[str] | None = None
    group_by_all: bool = False
    match: dict[str, str] = field(default_factory=dict)
    match_re: dict[str, str] = field(default_factory=dict)
    matchers: list[Matcher] = field(default_factory=list)
    mute_time_intervals: list[str] = field(default_factory=list)
    active_time_intervals: list[str] = field(default_factory=list)
    continue_: bool = False
    routes: list[Route] = field(default_factory=list)
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    line: int | None = None

    def all_matchers(self) -> list[Matcher]:
        """match + match_re + matchers, sorted as Alertmanager's ``NewRoute`` does."""
        ms = [Matcher.new(MatchType.EQ, k, v) for k, v in self.match.items()]
        # Go passes Regexp.String(), the anchored source, as the matcher value.
        ms += [Matcher.new(MatchType.RE, k, "^(?:" + v + ")$") for k, v in self.match_re.items()]
        ms += self.matchers
        return sort_matchers(ms)

    def to_yaml(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.receiver:
            d["receiver"] = self.receiver
        gb = (["..."] if self.group_by_all else []) + (self.group_by or [])
        if gb:
            d["group_by"] = gb
        if self.match:
            d["match"] = dict(self.match)
        if self.match_re:
            d["match_re"] = dict(self.match_re)
        if self.matchers:
            d["matchers"] = [str(m) for m in self.matchers]
        if self.mute_time_intervals:
            d["mute_time_intervals"] = list(self.mute_time_intervals)
        if self.active_time_intervals:
            d["active_time_intervals"] = list(self.active_time_intervals)
        d["continue"] = self.continue_
        if self.routes:
            d["routes"] = [r.to_yaml() for r in self.routes]
        for k in ("group_wait", "group_interval", "repeat_interval"):
            v = getattr(self, k)
            if v is not None:
                d[k] = format_duration(v)
        return d


@dataclass
class InhibitRule:
    """An inhibition rule; ``source``/``target`` combine the legacy and new matcher forms."""

    source: list[Matcher]
    target: list[Matcher]
    equal: list[str]
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class GlobalConfig:
    resolve_timeout: float = 300.0
    http_config: HTTPConfig = field(default_factory=HTTPConfig)
    extra: dict[str, Any] = field(default_factory=dict)


_GLOBAL_DEFAULTS: dict[str, Any] = {
    "smtp_hello": "localhost",
    "smtp_require_tls": True,
    "pagerduty_url": "https://events.pagerduty.com/v2/enqueue",
    "opsgenie_api_url": "https://api.opsgenie.com/",
    "wechat_api_url": "https://qyapi.weixin.qq.com/cgi-bin/",
    "victorops_api_url": "https://alert.victorops.com/integrations/generic/20131114/alert/",
    "telegram_api_url": "https://api.telegram.org",
    "webex_api_url": "https://webexapis.com/v1/messages",
}
_GLOBAL_ORDER = [
    "smtp_from",
    "smtp_hello",
    "smtp_smarthost",
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_password_file",
    "smtp_auth_secret",
    "smtp_auth_identity",
    "smtp_require_tls",
    "smtp_tls_config",
    "slack_api_url",
    "slack_api_url_file",
    "pagerduty_url",
    "opsgenie_api_url",
    "opsgenie_api_key",
    "opsgenie_api_key_file",
    "wechat_api_url",
    "wechat_api_secret",
    "wechat_api_corp_id",
    "victorops_api_url",
    "victorops_api_key",
    "victorops_api_key_file",
    "telegram_api_url",
    "webex_api_url",
]
_GLOBAL_SECRETS = {
    "smtp_auth_password",
    "smtp_auth_secret",
    "slack_api_url",
    "opsgenie_api_key",
    "wechat_api_secret",
    "victorops_api_key",
}
_OTHER_INTEGRATIONS = [
    "email_configs",
    "pagerduty_configs",
    "slack_configs",
    "opsgenie_configs",
    "wechat_configs",
    "pushover_configs",
    "victorops_configs",
    "sns_configs",
    "telegram_configs",
    "webex_configs",
    "discord_configs",
    "msteams_configs",
]


@dataclass
class Config:
    """A loaded ``alertmanager.yml``."""

    global_: GlobalConfig
    route: Route
    receivers: list[Receiver]
    inhibit_rules: list[InhibitRule] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    time_intervals: dict[str, list[TimeInterval]] = field(default_factory=dict)
    source: str = ""
    raw_time_intervals: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def original(self) -> str:
        """The normalised YAML served as ``config.original`` by ``/api/v2/status``."""
        g: dict[str, Any] = {"resolve_timeout": format_duration(self.global_.resolve_timeout)}
        g["http_config"] = self.global_.http_config.to_yaml()
        vals = dict(_GLOBAL_DEFAULTS)
        vals.update(self.global_.extra)
        for k in _GLOBAL_ORDER:
            if k in vals and vals[k] not in (None, ""):
                g[k] = SECRET if k in _GLOBAL_SECRETS else vals[k]
        d: dict[str, Any] = {"global": g, "route": self.route.to_yaml()}
        if self.inhibit_rules:
            d["inhibit_rules"] = [r.raw for r in self.inhibit_rules]
        d["receivers"] = [r.to_yaml() for r in self.receivers]
        d["templates"] = list(self.templates)
        mti = [v for k, v in self.raw_time_intervals if k == "mute_time_intervals"]
        ti = [v for k, v in self.raw_time_intervals if k == "time_intervals"]
        if mti:
            d["mute_time_intervals"] = mti
        if ti:
            d["time_intervals"] = ti
        return yaml.safe_dump(d, sort_keys=False, default_flow_style=False, allow_unicode=True)

    @property
    def hash(self) -> float:
        """``alertmanager_config_hash``: a float of the first bytes of the source's SHA-256."""
        h = hashlib.sha256(self.source.encode()).digest()
        return float(int.from_bytes(h[:6], "big"))

    def receiver(self, name: str) -> Receiver | None:
        for r in self.receivers:
            if r.name == name:
                return r
        return None


# --- node decoding ---------------------------------------------------------------------------


def _line(n: Node) -> int:
    return n.start_mark.line + 1


def _err(n: Node | None, msg: str) -> ConfigError:
    return ConfigError(msg, _line(n) if n is not None else None)


def _is_null(n: Node) -> bool:
    return isinstance(n, yaml.ScalarNode) and n.tag == "tag:yaml.org,2002:null"


_TAG_NAMES = {
    "tag:yaml.org,2002:str": "!!str",
    "tag:yaml.org,2002:int": "!!int",
    "tag:yaml.org,2002:float": "!!float",
    "tag:yaml.org,2002:bool": "!!bool",
    "tag:yaml.org,2002:null": "!!null",
    "tag:yaml.org,2002:map": "!!map",
    "tag:yaml.org,2002:seq": "!!seq",
}


def _cannot(n: Node, into: str) -> ConfigError:
    tag = _TAG_NAMES.get(n.tag, n.tag)
    val = f" `{n.value}`" if isinstance(n, yaml.ScalarNode) else ""
    return ConfigError(f"yaml: unmarshal errors:\n  line {_line(n)}: cannot unmarshal {tag}{val} into {into}")


def _mapping(n: Node, allowed: set[str] | None, typename: str = "config.plain") -> dict[str, Node]:
    if _is_null(n):
        return {}
    if not isinstance(n, yaml.MappingNode):
        raise _cannot(n, typename)
    out: dict[str, Node] = {}
    for k, v in n.value:
        if not isinstance(k, yaml.ScalarNode):
            raise _cannot(k, "string")
        key = k.value
        if key in out:
            raise ConfigError(f'yaml: unmarshal errors:\n  line {_line(k)}: key "{key}" already set in map')
        if allowed is not None and key not in allowed:
            raise ConfigError(
                f"yaml: unmarshal errors:\n  line {_line(k)}: field {key} not found in type {typename}"
            )
        out[key] = v
    return out


def _scalar(n: Node) -> yaml.ScalarNode:
    if not isinstance(n, yaml.ScalarNode):
        raise _cannot(n, "string")
    return n


def _str(n: Node) -> str:
    s = _scalar(n)
    if _is_null(s):
        return ""
    return str(s.value)


def _bool(n: Node) -> bool:
    s = _scalar(n)
    v = s.value.lower()
    if v in ("true", "yes", "on", "y"):
        return True
    if v in ("false", "no", "off", "n"):
        return False
    raise _cannot(s, "bool")


def _uint(n: Node) -> int:
    s = _scalar(n)
    try:
        v = int(s.value, 0)
    except ValueError:
        raise _cannot(s, "uint64") from None
    if v < 0:
        raise _cannot(s, "uint64")
    return v


def _seq(n: Node, into: str = "[]string") -> list[Node]:
    if _is_null(n):
        return []
    if not isinstance(n, yaml.SequenceNode):
        raise _cannot(n, into)
    return list(n.value)


def _str_list(n: Node) -> list[str]:
    return [_str(x) for x in _seq(n)]


def _str_map(n: Node) -> dict[str, str]:
    m = _mapping(n, None, "map[string]string")
    return {k: _str(v) for k, v in m.items()}


def _duration(n: Node) -> float:
    s = _str(n)
    try:
        return parse_duration(s)
    except ValueError as e:
        raise _err(n, str(e)) from None


def _to_py(n: Node) -> Any:
    """A node as plain Python (for integrations Heron keeps but does not deliver)."""
    return yaml.safe_load(yaml.serialize(n))


def _plain(n: Node) -> Any:
    """A node as nested dicts/lists of scalar *texts* (Go's yaml.v2 never reads ``18:00`` as 1080)."""
    if isinstance(n, yaml.MappingNode):
        return {k.value: _plain(v) for k, v in n.value}
    if isinstance(n, yaml.SequenceNode):
        return [_plain(x) for x in n.value]
    return None if _is_null(n) else n.value


def _url(n: Node) -> str:
    s = _str(n)
    try:
        u = urllib.parse.urlparse(s)
    except ValueError as e:
        raise _err(n, f"parse {_goq(s)}: {e}") from None
    if u.scheme not in ("http", "https"):
        raise _err(n, f"unsupported scheme {_goq(u.scheme)} for URL")
    if not u.netloc:
        raise _err(n, "missing host for URL")
    return s


_HTTP_KEYS = {
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "tls_config",
    "follow_redirects",
    "enable_http2",
}
_TLS_KEYS = {
    "ca_file",
    "cert_file",
    "key_file",
    "ca",
    "cert",
    "key",
    "server_name",
    "insecure_skip_verify",
    "min_version",
    "max_version",
}


def _http_config(n: Node) -> HTTPConfig:
    m = _mapping(n, _HTTP_KEYS)
    c = HTTPConfig()
    bearer = _str(m["bearer_token"]) if "bearer_token" in m else ""
    bearer_file = _str(m["bearer_token_file"]) if "bearer_token_file" in m else ""
    if "basic_auth" in m:
        ba = _mapping(m["basic_auth"], {"username", "password", "password_file"})
        c.basic_auth = BasicAuth(
            _str(ba["username"]) if "username" in ba else "",
            _str(ba["password"]) if "password" in ba else "",
            _str(ba["password_file"]) if "password_file" in ba else "",
        )
    if "authorization" in m:
        au = _mapping(m["authorization"], {"type", "credentials", "credentials_file"})
        c.authorization = Authorization(
            _str(au["type"]).strip() if "type" in au else "",
            _str(au["credentials"]) if "credentials" in au else "",
            _str(au["credentials_file"]) if "credentials_file" in au else "",
        )
    if "oauth2" in m:
        c.oauth2 = _to_py(m["oauth2"]) or {}
    if "tls_config" in m:
        c.tls_config = {k: _to_py(v) for k, v in _mapping(m["tls_config"], _TLS_KEYS).items()}
    if "proxy_url" in m:
        c.proxy_url = _str(m["proxy_url"])
    if "follow_redirects" in m:
        c.follow_redirects = _bool(m["follow_redirects"])
    if "enable_http2" in m:
        c.enable_http2 = _bool(m["enable_http2"])
    # common/config HTTPClientConfig.Validate
    if bearer and bearer_file:
        raise _err(n, "at most one of bearer_token & bearer_token_file must be configured")
    if (c.basic_auth or c.oauth2 is not None) and (bearer or bearer_file):
        raise _err(
            n, "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
        )
    if c.basic_auth and c.basic_auth.password and c.basic_auth.password_file:
        raise _err(n, "at most one of basic_auth password & password_file must be configured")
    if c.authorization is not None:
        if bearer or bearer_file:
            raise _err(n, "authorization is not compatible with bearer_token & bearer_token_file")
        if c.authorization.credentials and c.authorization.credentials_file:
            raise _err(n, "at most one of authorization credentials & credentials_file must be configured")
        if not c.authorization.type:
            c.authorization.type = "Bearer"
        if c.authorization.type.lower() == "basic":
            raise _err(n, 'authorization type cannot be set to "basic", use "basic_auth" instead')
        if c.basic_auth or c.oauth2 is not None:
            raise _err(n, "at most one of basic_auth, oauth2 & authorization must be configured")
    elif bearer:
        c.authorization = Authorization("Bearer", bearer, "")
    elif bearer_file:
        c.authorization = Authorization("Bearer", "", bearer_file)
    if c.oauth2 is not None and c.basic_auth:
        raise _err(n, "at most one of basic_auth, oauth2 & authorization must be configured")
    return c


def _webhook(n: Node) -> WebhookConfig:
    m = _mapping(n, {"send_resolved", "http_config", "url", "url_file", "max_alerts", "timeout"})
    w = WebhookConfig()
    if "send_resolved" in m:
        w.send_resolved = _bool(m["send_resolved"])
    if "http_config" in m and not _is_null(m["http_config"]):
        w.http_config = _http_config(m["http_config"])
    if "url" in m and not _is_null(m["url"]):
        w.url = _url(m["url"])
    if "url_file" in m:
        w.url_file = _str(m["url_file"])
    if "max_alerts" in m:
        w.max_alerts = _uint(m["max_alerts"])
    if "timeout" in m:
        w.timeout = _duration(m["timeout"])
    if w.url is None and not w.url_file:
        raise _err(n, "one of url or url_file must be configured")
    if w.url is not None and w.url_file:
        raise _err(n, "at most one of url & url_file must be configured")
    return w


def _receiver(n: Node) -> Receiver:
    allowed = {"name", "webhook_configs", *_OTHER_INTEGRATIONS}
    m = _mapping(n, allowed)
    name = _str(m["name"]) if "name" in m else ""
    r = Receiver(name)
    if "webhook_configs" in m:
        r.webhook_configs = [_webhook(x) for x in _seq(m["webhook_configs"], "[]*config.WebhookConfig")]
    for k in _OTHER_INTEGRATIONS:
        if k in m:
            items = _seq(m[k], "[]*config.Config")
            for it in items:
                _mapping(it, None)
            r.other[k] = [_to_py(x) for x in items]
    if not name:
        raise _err(n, "missing name in receiver")
    return r


def _matchers_list(n: Node) -> list[Matcher]:
    out: list[Matcher] = []
    for x in _seq(n):
        try:
            out += parse_matchers(_str(x))
        except MatcherError as e:
            raise _err(x, str(e)) from None
    return sort_matchers(out)


def _match_re(n: Node) -> dict[str, str]:
    m = _mapping(n, None, "config.MatchRegexps")
    out: dict[str, str] = {}
    for k, v in m.items():
        s = _str(v)
        try:
            compile_regex(s)
        except MatcherError as e:
            raise _err(v, str(e).replace(f"`{s}`", f"`^(?:{s})$`")) from None
        if not valid_label_name(k):
            raise _err(v, f"invalid label name {_goq(k)}")
        out[k] = s
    return out


_ROUTE_KEYS = {
    "receiver",
    "group_by",
    "match",
    "match_re",
    "matchers",
    "mute_time_intervals",
    "active_time_intervals",
    "continue",
    "routes",
    "group_wait",
    "group_interval",
    "repeat_interval",
}


def _route(n: Node) -> Route:
    m = _mapping(n, _ROUTE_KEYS)
    r = Route(line=_line(n))
    if "receiver" in m:
        r.receiver = _str(m["receiver"])
    if "group_by" in m:
        r.group_by = []
        for x in _seq(m["group_by"]):
            s = _str(x)
            if s == "...":
                r.group_by_all = True
            elif not valid_label_name(s):
                raise _err(x, f"invalid label name {_goq(s)} in group_by list")
            else:
                r.group_by.append(s)
    if "match" in m:
        r.match = _str_map(m["match"])
    if "match_re" in m:
        r.match_re = _match_re(m["match_re"])
    if "matchers" in m:
        r.matchers = _matchers_list(m["matchers"])
    if "mute_time_intervals" in m:
        r.mute_time_intervals = _str_list(m["mute_time_intervals"])
    if "active_time_intervals" in m:
        r.active_time_intervals = _str_list(m["active_time_intervals"])
    if "continue" in m:
        r.continue_ = _bool(m["continue"])
    for k in ("group_wait", "group_interval", "repeat_interval"):
        if k in m and not _is_null(m[k]):
            setattr(r, k, _duration(m[k]))
    if "routes" in m:
        r.routes = [_route(x) for x in _seq(m["routes"], "[]*config.Route")]
    for k in r.match:
        if not valid_label_name(k):
            raise _err(m["match"], f"invalid label name {_goq(k)}")
    if r.group_by and r.group_by_all:
        raise _err(
            m["group_by"], "cannot have wildcard group_by (`...`) and other other labels at the same time"
        )
    seen: set[str] = set()
    for ln in r.group_by or []:
        if ln in seen:
            raise _err(m["group_by"], f"duplicated label {_goq(ln)} in group_by")
        seen.add(ln)
    if r.group_interval == 0:
        raise _err(m["group_interval"], "group_interval cannot be zero")
    if r.repeat_interval == 0:
        raise _err(m["repeat_interval"], "repeat_interval cannot be zero")
    return r


_INHIBIT_KEYS = {
    "source_match",
    "source_match_re",
    "source_matchers",
    "target_match",
    "target_match_re",
    "target_matchers",
    "equal",
}


def _inhibit(n: Node) -> InhibitRule:
    m = _mapping(n, _INHIBIT_KEYS)
    sides: dict[str, list[Matcher]] = {}
    raw: dict[str, Any] = {}
    for side in ("source", "target"):
        ms: list[Matcher] = []
        if f"{side}_match" in m:
            eq = _str_map(m[f"{side}_match"])
            for k in eq:
                if not valid_label_name(k):
                    raise _err(m[f"{side}_match"], f"invalid label name {_goq(k)}")
            ms += [Matcher.new(MatchType.EQ, k, v) for k, v in eq.items()]
            raw[f"{side}_match"] = eq
        if f"{side}_match_re" in m:
            rx = _match_re(m[f"{side}_match_re"])
            ms += [Matcher.new(MatchType.RE, k, "^(?:" + v + ")$") for k, v in rx.items()]
            raw[f"{side}_match_re"] = rx
        if f"{side}_matchers" in m:
            nm = _matchers_list(m[f"{side}_matchers"])
            ms += nm
            raw[f"{side}_matchers"] = [str(x) for x in nm]
        sides[side] = ms
    equal = _str_list(m["equal"]) if "equal" in m else []
    for e in equal:
        if not valid_label_name(e):
            raise _err(m["equal"], f"invalid label name {_goq(e)} in equal list")
    if equal:
        raw["equal"] = equal
    return InhibitRule(sides["source"], sides["target"], equal, raw)


_GLOBAL_KEYS = {"resolve_timeout", "http_config", *_GLOBAL_ORDER}


def _global(n: Node) -> GlobalConfig:
    m = _mapping(n, _GLOBAL_KEYS)
    g = GlobalConfig()
    if "resolve_timeout" in m:
        g.resolve_timeout = _duration(m["resolve_timeout"])
    if "http_config" in m and not _is_null(m["http_config"]):
        g.http_config = _http_config(m["http_config"])
    for k, v in m.items():
        if k in ("resolve_timeout", "http_config"):
            continue
        if k.endswith("_url") and not _is_null(v):
            _url(v)
        g.extra[k] = _to_py(v)
    return g


_TOP_KEYS = {
    "global",
    "route",
    "inhibit_rules",
    "receivers",
    "templates",
    "mute_time_intervals",
    "time_intervals",
}


def _check_other_integrations(c: Config) -> None:
    g = {**_GLOBAL_DEFAULTS, **c.global_.extra}
    for r in c.receivers:
        for ec in r.other.get("email_configs", []):
            if not ec.get("smarthost") and not g.get("smtp_smarthost"):
                raise ConfigError("no global SMTP smarthost set")
            if not ec.get("from") and not g.get("smtp_from"):
                raise ConfigError("no global SMTP from set")
        for sc in r.other.get("slack_configs", []):
            if (
                not sc.get("api_url")
                and not sc.get("api_url_file")
                and not g.get("slack_api_url")
                and not g.get("slack_api_url_file")
            ):
                raise ConfigError("no global Slack API URL set either inline or in a file")
        for oc in r.other.get("opsgenie_configs", []):
            if (
                not oc.get("api_key")
                and not oc.get("api_key_file")
                and not g.get("opsgenie_api_key")
                and not g.get("opsgenie_api_key_file")
            ):
                raise ConfigError("no global OpsGenie API Key set either inline or in a file")
        for wc in r.other.get("wechat_configs", []):
            if not wc.get("api_secret") and not g.get("wechat_api_secret"):
                raise ConfigError("no global Wechat ApiSecret set")
            if not wc.get("corp_id") and not g.get("wechat_api_corp_id"):
                raise ConfigError("no global Wechat CorpID set")
        for vc in r.other.get("victorops_configs", []):
            if (
                not vc.get("api_key")
                and not vc.get("api_key_file")
                and not g.get("victorops_api_key")
                and not g.get("victorops_api_key_file")
            ):
                raise ConfigError("no global VictorOps API Key set")


def _walk(r: Route) -> list[Route]:
    out = [r]
    for c in r.routes:
        out += _walk(c)
    return out


def load(text: str, filename: str | None = None) -> Config:
    """Parse and validate an ``alertmanager.yml``; raises ``ConfigError``."""
    try:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            raise ConfigError(
                f"yaml: {getattr(e, 'problem', None) or e}", mark.line + 1 if mark else None
            ) from None
        c = _load(root, text)
    except ConfigError as e:
        raise e.with_file(filename) if filename else e from None
    except TimeIntervalError as e:
        err = ConfigError(str(e), e.line)
        raise err.with_file(filename) if filename else err from None
    return c


def _load(root: Node | None, text: str) -> Config:
    if root is None or _is_null(root):
        raise ConfigError("no route provided in config")
    m = _mapping(root, _TOP_KEYS)
    g = _global(m["global"]) if "global" in m and not _is_null(m["global"]) else GlobalConfig()
    receivers: list[Receiver] = []
    names: set[str] = set()
    for rn in _seq(m["receivers"], "[]*config.Receiver") if "receivers" in m else []:
        r = _receiver(rn)
        if r.name in names:
            raise _err(rn, f"notification config name {_goq(r.name)} is not unique")
        names.add(r.name)
        for w in r.webhook_configs:
            if w.http_config is None:
                w.http_config = g.http_config
        receivers.append(r)
    inhibit = (
        [_inhibit(x) for x in _seq(m["inhibit_rules"], "[]*config.InhibitRule")]
        if "inhibit_rules" in m
        else []
    )
    templates = _str_list(m["templates"]) if "templates" in m else []
    intervals: dict[str, list[TimeInterval]] = {}
    raw_ti: list[tuple[str, Any]] = []
    for key in ("mute_time_intervals", "time_intervals"):
        if key not in m:
            continue
        for tn in _seq(m[key], "[]config.TimeInterval"):
            tm = _mapping(tn, {"name", "time_intervals"})
            name = _str(tm["name"]) if "name" in tm else ""
            specs = (
                [
                    parse_time_interval(_plain(x), _line(x))
                    for x in _seq(tm["time_intervals"], "[]timeinterval.TimeInterval")
                ]
                if "time_intervals" in tm
                else []
            )
            if not name:
                kind = "mute time interval" if key == "mute_time_intervals" else "time interval"
                raise _err(tn, f"missing name in {kind}")
            if name in intervals:
                kind = "mute time interval" if key == "mute_time_intervals" else "time interval"
                raise _err(tn, f"{kind} {_goq(name)} is not unique")
            intervals[name] = specs
            raw_ti.append((key, _plain(tn)))
    if "route" not in m or _is_null(m["route"]):
        raise ConfigError("no routes provided")
    route = _route(m["route"])
    c = Config(g, route, receivers, inhibit, templates, intervals, text, raw_ti)
    _check_other_integrations(c)
    rn = m["route"]
    if not route.receiver:
        raise _err(rn, "root route must specify a default receiver")
    if route.match or route.match_re or route.matchers:
        raise _err(rn, "root route must not have any matchers")
    if route.mute_time_intervals:
        raise _err(rn, "root route must not have any mute time intervals")
    if route.active_time_intervals:
        raise _err(rn, "root route must not have any active time intervals")
    for node in reversed(_walk(route)):
        if node.receiver and node.receiver not in names:
            raise ConfigError(f"undefined receiver {_goq(node.receiver)} used in route", node.line)
    for node in reversed(_walk(route)):
        for ti in [*node.active_time_intervals, *node.mute_time_intervals]:
            if ti not in intervals:
                raise ConfigError(f"undefined time interval {_goq(ti)} used in route", node.line)
    if route.continue_:
        raise _err(rn, "cannot have continue in root route")
    return c


def load_file(path: str | Path) -> Config:
    """Read and parse a config file; errors name the file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"open {p}: {e.strerror or e}") from None
    return load(text, str(p))
