"""The ``prometheus.yml`` model: load, validate, default and print a Prometheus config.

``load_config(path)`` / ``load_config_str(text)`` return a :class:`Config` of
dataclasses with Prometheus's defaults applied (global values pushed into
every scrape config, timeouts capped by intervals, …). Semantics follow
Prometheus 3.x ``config/config.go``, ``model/relabel`` and
``prometheus/common/config``:

* Durations use Prometheus syntax (``1h30m``, ``15s``, ``0``) and are stored
  as integer milliseconds; sizes (``body_size_limit``) as bytes.
* Unknown fields, duplicate keys, values of the wrong YAML type and invalid
  values are rejected with the file and line, e.g.
  ``prometheus.yml:3: field scrape_intervall not found in type config.GlobalConfig``.
  Messages otherwise read like Prometheus's own.
* Relative file paths (rule files, ``file_sd_configs`` files, TLS and
  credential files, ``query_log_file``) are resolved against the config file's
  directory, as Prometheus's ``SetDirectory``.
* ``Config.to_yaml()`` prints the effective config with secrets as
  ``<secret>`` (what ``/api/v1/status/config`` shows).

Service discovery: ``static_configs``, ``file_sd_configs``,
``kubernetes_sd_configs``, ``http_sd_configs`` and ``dns_sd_configs`` are
modelled; other mechanisms (consul, ec2, …) and cloud auth blocks (``sigv4``,
``azuread``, ``google_iam``) are rejected as unknown fields.

The relabeling config lives here; :func:`relabel` (re-exported from
:mod:`scraper.relabel`) applies a list of :class:`RelabelConfig` to a label set.
"""

from __future__ import annotations

import copy
import dataclasses
import glob
import hashlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tsdb.labels import Labels

from .relabel import compile_anchored, relabel

__all__ = [
    "AlertingConfig",
    "AlertmanagerConfig",
    "Authorization",
    "BasicAuth",
    "Config",
    "ConfigError",
    "DNSSDConfig",
    "ExemplarsConfig",
    "FileSDConfig",
    "GlobalConfig",
    "HTTPClientConfig",
    "HTTPSDConfig",
    "KubernetesSDConfig",
    "MetadataConfig",
    "OAuth2",
    "QueueConfig",
    "RelabelConfig",
    "RemoteReadConfig",
    "RemoteWriteConfig",
    "ScrapeConfig",
    "StorageConfig",
    "TLSConfig",
    "TSDBConfig",
    "TargetGroup",
    "TracingConfig",
    "format_duration",
    "load_config",
    "load_config_str",
    "parse_duration",
    "parse_size",
    "relabel",
]


class ConfigError(ValueError):
    """An invalid configuration; ``str()`` is ``file:line: message``."""

    def __init__(self, msg: str, filename: str = "", line: int | None = None) -> None:
        self.msg = msg
        self.filename = filename
        self.line = line
        where = filename
        if line is not None:
            where = f"{filename}:{line}" if filename else f"line {line}"
        super().__init__(f"{where}: {msg}" if where else msg)


# =========================================================================== durations and sizes

_DUR_UNITS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000}
_DUR_UNITS.update({"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1})
_DUR_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
_DUR_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")


def _go_quote(s: str) -> str:
    from tsdb.labels import quote

    return quote(s)


def parse_duration(s: str) -> int:
    """Prometheus's ``model.ParseDuration`` (``1h30m``, ``5m``, ``0``) to milliseconds.

    Raises ``ValueError("not a valid duration string: ...")`` like Prometheus.
    """
    if s == "0":
        return 0
    m = _DUR_RE.match(s)
    if not s or m is None:
        raise ValueError(f"not a valid duration string: {_go_quote(s)}")
    total = 0
    for unit, num in zip(_DUR_ORDER, m.groups(), strict=True):
        if num is not None:
            total += int(num) * _DUR_UNITS[unit]
    if total * 1_000_000 >= 1 << 63:
        raise ValueError("duration out of range")
    return total


def format_duration(ms: int) -> str:
    """Prometheus's ``model.Duration.String()``: ``90000`` -> ``1m30s``, ``0`` -> ``0s``."""
    if ms == 0:
        return "0s"
    out = []
    for unit in _DUR_ORDER:
        mult = _DUR_UNITS[unit]
        if unit in ("y", "w") and ms % mult:
            continue  # years and weeks only when exact, as Prometheus prints 90d not 12w6d
        n = ms // mult
        if n > 0:
            out.append(f"{n}{unit}")
            ms -= n * mult
    return "".join(out)


_SIZE_UNITS = {
    "B": 1,
    "KB": 1 << 10,
    "MB": 1 << 20,
    "GB": 1 << 30,
    "TB": 1 << 40,
    "PB": 1 << 50,
    "EB": 1 << 60,
    "KiB": 1 << 10,
    "MiB": 1 << 20,
    "GiB": 1 << 30,
    "TiB": 1 << 40,
    "PiB": 1 << 50,
    "EiB": 1 << 60,
}
_SIZE_RE = re.compile(r"(\d+)([A-Za-z]+)")


def parse_size(s: str) -> int:
    """A base-2 byte size as ``units.ParseBase2Bytes`` (``512MB``, ``1GB``, ``1GiB``, ``0``)."""
    s = s.strip()
    if s in ("0", ""):
        if s == "":
            raise ValueError('units: invalid base-2 bytes size ""')
        return 0
    pos = 0
    total = 0
    while pos < len(s):
        m = _SIZE_RE.match(s, pos)
        if m is None or m.group(2) not in _SIZE_UNITS:
            raise ValueError(f"units: invalid base-2 bytes size {_go_quote(s)}")
        total += int(m.group(1)) * _SIZE_UNITS[m.group(2)]
        pos = m.end()
    return total


def format_size(n: int) -> str:
    if n == 0:
        return "0B"
    for unit in ("EiB", "PiB", "TiB", "GiB", "MiB", "KiB"):
        mult = _SIZE_UNITS[unit]
        if n % mult == 0:
            return f"{n // mult}{unit}"
    return f"{n}B"


# =========================================================================== decoding machinery

_TAG_SHORT = {
    "tag:yaml.org,2002:str": "!!str",
    "tag:yaml.org,2002:int": "!!int",
    "tag:yaml.org,2002:float": "!!float",
    "tag:yaml.org,2002:bool": "!!bool",
    "tag:yaml.org,2002:null": "!!null",
    "tag:yaml.org,2002:map": "!!map",
    "tag:yaml.org,2002:seq": "!!seq",
    "tag:yaml.org,2002:timestamp": "!!timestamp",
    "tag:yaml.org,2002:binary": "!!binary",
}
_NULL = "tag:yaml.org,2002:null"
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class _Ctx:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self._flattener = yaml.SafeLoader("")

    def fail(self, node: Node | None, msg: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None and node.start_mark is not None else None
        return ConfigError(msg, self.filename, line)

    def type_error(self, node: Node, into: str) -> ConfigError:
        tag = _TAG_SHORT.get(node.tag, node.tag)
        if isinstance(node, ScalarNode):
            v = node.value
            if len(v) > 10:
                v = v[:7] + "..."
            return self.fail(node, f"cannot unmarshal {tag} `{v}` into {into}")
        return self.fail(node, f"cannot unmarshal {tag} into {into}")

    def mapping(self, node: Node, into: str) -> list[tuple[ScalarNode, Node]]:
        """The key/value node pairs of a mapping, with merge keys flattened and duplicates rejected."""
        if not isinstance(node, MappingNode):
            raise self.type_error(node, into)
        seen: set[str] = set()
        for k, _ in node.value:
            if not isinstance(k, ScalarNode):
                raise self.type_error(k, "string")
            if k.tag == "tag:yaml.org,2002:merge":
                continue
            if k.value in seen:
                raise self.fail(k, f"field {k.value} already set in type {into}")
            seen.add(k.value)
        pairs = node.value
        if len(seen) != len(node.value):  # merge keys: explicit keys override merged ones
            flat = copy.copy(node)
            flat.value = list(node.value)
            self._flattener.flatten_mapping(flat)
            last: dict[str, tuple[ScalarNode, Node]] = {}
            for k, v in flat.value:
                last[k.value] = (k, v)
            pairs = list(last.values())
        return pairs


def _is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, ScalarNode) and node.tag == _NULL)


def _scalar_text(ctx: _Ctx, node: Node, into: str = "string") -> str:
    if not isinstance(node, ScalarNode):
        raise ctx.type_error(node, into)
    if node.tag == _NULL:
        return ""
    return node.value


class Kind:
    """How one field is decoded from YAML and printed back."""

    go: str = "string"

    def decode(self, ctx: _Ctx, node: Node) -> Any:
        raise NotImplementedError

    def encode(self, v: Any) -> Any:
        return v

    def is_zero(self, v: Any) -> bool:
        return v in (None, "", 0, False) or (isinstance(v, list | dict | tuple) and not v)


class _Str(Kind):
    go = "string"

    def decode(self, ctx: _Ctx, node: Node) -> str:
        return _scalar_text(ctx, node)


class _Secret(_Str):
    def encode(self, v: Any) -> Any:
        return "<secret>" if v else v


class _Bool(Kind):
    go = "bool"

    def decode(self, ctx: _Ctx, node: Node) -> bool:
        if _is_null(node):
            return False
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            raise ctx.type_error(node, "bool")
        return node.value.lower() in ("true", "yes", "on", "y")


class _Int(Kind):
    def __init__(self, go: str = "int", unsigned: bool = False) -> None:
        self.go = go
        self.unsigned = unsigned

    def decode(self, ctx: _Ctx, node: Node) -> int:
        if _is_null(node):
            return 0
        if not isinstance(node, ScalarNode) or node.tag != "tag:yaml.org,2002:int":
            raise ctx.type_error(node, self.go)
        try:
            v = int(node.value.replace("_", ""), 0)
        except ValueError:
            raise ctx.type_error(node, self.go) from None
        if self.unsigned and v < 0:
            raise ctx.type_error(node, self.go)
        return v


class _Float(Kind):
    go = "float64"

    def decode(self, ctx: _Ctx, node: Node) -> float:
        if _is_null(node):
            return 0.0
        if not isinstance(node, ScalarNode) or node.tag not in (
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
        ):
            raise ctx.type_error(node, "float64")
        txt = node.value.replace("_", "")
        low = txt.lower()
        if low in (".inf", "+.inf"):
            return float("inf")
        if low == "-.inf":
            return float("-inf")
        if low == ".nan":
            return float("nan")
        try:
            return float(int(txt, 0)) if node.tag.endswith("int") else float(txt)
        except ValueError:
            raise ctx.type_error(node, "float64") from None


class _Duration(Kind):
    go = "model.Duration"

    def decode(self, ctx: _Ctx, node: Node) -> int:
        if _is_null(node):
            return 0
        s = _scalar_text(ctx, node)
        try:
            return parse_duration(s)
        except ValueError as e:
            raise ctx.fail(node, str(e)) from None

    def encode(self, v: Any) -> Any:
        return format_duration(v)


class _Size(Kind):
    go = "units.Base2Bytes"

    def decode(self, ctx: _Ctx, node: Node) -> int:
        if _is_null(node):
            return 0
        s = _scalar_text(ctx, node)
        try:
            return parse_size(s)
        except ValueError as e:
            raise ctx.fail(node, str(e)) from None

    def encode(self, v: Any) -> Any:
        return format_size(v)


class _URL(Kind):
    """A URL as Go's ``url.Parse`` accepts it (lenient; a leading ``:`` is an error)."""

    def decode(self, ctx: _Ctx, node: Node) -> str | None:
        if _is_null(node):
            return None
        s = _scalar_text(ctx, node)
        if s.startswith(":") or (":" in s.split("/", 1)[0] and s.split(":", 1)[0] == ""):
            raise ctx.fail(node, f"parse {_go_quote(s)}: missing protocol scheme")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in s):
            raise ctx.fail(node, f"parse {_go_quote(s)}: net/url: invalid control character in URL")
        m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", s)
        if m is None and ":" in s.split("/", 1)[0]:
            raise ctx.fail(node, f"parse {_go_quote(s)}: first path segment in URL cannot contain colon")
        try:
            parts = urlsplit(s)
            _ = parts.port
        except ValueError as e:
            raise ctx.fail(node, f"parse {_go_quote(s)}: {e}") from None
        return s


class _Regex(Kind):
    go = "relabel.Regexp"

    def decode(self, ctx: _Ctx, node: Node) -> str:
        s = _scalar_text(ctx, node)
        err = check_regex(s)
        if err:
            raise ctx.fail(node, err)
        return s


class _List(Kind):
    def __init__(self, item: Kind | type, go: str | None = None) -> None:
        self.item = item
        self.go = go or f"[]{_go_name(item)}"

    def decode(self, ctx: _Ctx, node: Node) -> list[Any]:
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise ctx.type_error(node, self.go)
        return [_decode_value(ctx, self.item, n) for n in node.value]

    def encode(self, v: Any) -> Any:
        return [_encode_value(self.item, x) for x in v]


class _StrMap(Kind):
    go = "map[string]string"

    def __init__(self, label_names: bool = False, values_list: bool = False) -> None:
        self.label_names = label_names
        self.values_list = values_list
        if label_names:
            self.go = "model.LabelSet"
        elif values_list:
            self.go = "url.Values"

    def decode(self, ctx: _Ctx, node: Node) -> dict[str, Any]:
        if _is_null(node):
            return {}
        out: dict[str, Any] = {}
        for k, v in ctx.mapping(node, self.go):
            if self.label_names and not _LABEL_NAME_RE.match(k.value):
                raise ctx.fail(k, f"{_go_quote(k.value)} is not a valid label name")
            if self.values_list:
                out[k.value] = _List(_Str()).decode(ctx, v)
            else:
                out[k.value] = _scalar_text(ctx, v)
        return out


class _PtrList(_List):
    """A list of pointers to structs: null items stay None (Prometheus names them in errors)."""

    def decode(self, ctx: _Ctx, node: Node) -> list[Any]:
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise ctx.type_error(node, self.go)
        return [None if _is_null(n) else _decode_value(ctx, self.item, n) for n in node.value]


class _RelabelList(_List):
    """``[]*relabel.Config``; a null entry is an error with Prometheus's per-context message."""

    def __init__(self, null_msg: str) -> None:
        super().__init__(_LazyRelabel(), "[]*relabel.Config")
        self.null_msg = null_msg

    def decode(self, ctx: _Ctx, node: Node) -> list[Any]:
        if isinstance(node, SequenceNode):
            for n in node.value:
                if _is_null(n):
                    raise ctx.fail(n, self.null_msg)
        return super().decode(ctx, node)


class _LazyRelabel(Kind):
    go = "relabel.Config"

    def decode(self, ctx: _Ctx, node: Node) -> Any:
        return _decode_struct(ctx, RelabelConfig, node)

    def encode(self, v: Any) -> Any:
        return _encode_struct(v)


def _go_name(t: Kind | type) -> str:
    if isinstance(t, Kind):
        return t.go
    return getattr(t, "_go_type", t.__name__)


def _decode_value(ctx: _Ctx, kind: Kind | type, node: Node) -> Any:
    if isinstance(kind, Kind):
        return kind.decode(ctx, node)
    return _decode_struct(ctx, kind, node)


def _encode_value(kind: Kind | type, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(kind, Kind):
        return kind.encode(v)
    return _encode_struct(v)


def _f(
    yaml_name: str,
    kind: Kind | type,
    default: Any = None,
    *,
    factory: Callable[[], Any] | None = None,
    omitempty: bool = True,
    inline: bool = False,
    path: bool = False,
) -> Any:
    md = {"yaml": yaml_name, "kind": kind, "omitempty": omitempty, "inline": inline, "path": path}
    if factory is not None:
        return field(default_factory=factory, metadata=md)
    return field(default=default, metadata=md)


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if "yaml" in f.metadata]


def _keys_of(cls: type) -> dict[str, tuple[dataclasses.Field[Any], ...]]:
    """YAML key -> field path (inline structs flattened)."""
    out: dict[str, tuple[dataclasses.Field[Any], ...]] = {}
    for f in _fields(cls):
        if f.metadata["inline"]:
            for k, sub in _keys_of(f.metadata["kind"]).items():
                out[k] = (f, *sub)
        else:
            out[f.metadata["yaml"]] = (f,)
    return out


class _Struct:
    """Base of the config dataclasses: ``_go_type`` names them in errors."""

    _go_type: ClassVar[str] = "struct"

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        """Check (and default) after decoding; raise ``ctx.fail(node, ...)`` on error."""


def _decode_struct(ctx: _Ctx, cls: type, node: Node | None) -> Any:
    obj = cls()
    if _is_null(node):
        if node is not None:
            obj._present = False
        obj._node = node
        obj._validate(ctx, node)
        return obj
    assert node is not None
    keys = _keys_of(cls)
    set_keys: set[str] = set()
    go_type = _go_name(cls)
    for k, v in ctx.mapping(node, go_type):
        path = keys.get(k.value)
        if path is None:
            raise ctx.fail(k, f"field {k.value} not found in type {go_type}")
        target = obj
        for f in path[:-1]:
            target = getattr(target, f.name)
        f = path[-1]
        setattr(target, f.name, _decode_value(ctx, f.metadata["kind"], v))
        set_keys.add(k.value)
    obj._node = node
    obj._set = set_keys
    for f in _fields(cls):
        if f.metadata["inline"]:
            inner = getattr(obj, f.name)
            inner._node = node
            inner._set = set_keys
            inner._validate(ctx, node)
    obj._validate(ctx, node)
    return obj


def _encode_struct(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in _fields(type(obj)):
        v = getattr(obj, f.name)
        kind = f.metadata["kind"]
        if f.metadata["inline"]:
            out.update(_encode_struct(v))
            continue
        if v is None:
            continue
        if f.metadata["omitempty"]:
            if isinstance(kind, Kind):
                if kind.is_zero(v):
                    continue
            elif v == type(v)():
                continue
        out[f.metadata["yaml"]] = _encode_value(kind, v)
    return out


def _join_dir(base: str, p: str) -> str:
    if not p or os.path.isabs(p):
        return p
    return os.path.join(base, p)


def _set_directory(obj: Any, base: str) -> None:
    if isinstance(obj, list):
        for x in obj:
            _set_directory(x, base)
        return
    if not dataclasses.is_dataclass(obj):
        return
    for f in _fields(type(obj)):
        v = getattr(obj, f.name)
        if f.metadata["path"]:
            if isinstance(v, list):
                setattr(obj, f.name, [_join_dir(base, x) for x in v])
            elif isinstance(v, str):
                setattr(obj, f.name, _join_dir(base, v))
        else:
            _set_directory(v, base)


# =========================================================================== regexes (RE2 subset)

_UNSUPPORTED_PERL = re.compile(r"\(\?(?:=|!|<=|<!|>|#|P=|\()")


def check_regex(s: str) -> str | None:
    """An error message (Go's wording) if ``s`` is not a valid RE2 regex, else None."""
    m = _UNSUPPORTED_PERL.search(s)
    if m:
        return f"error parsing regexp: invalid or unsupported Perl syntax: `{m.group(0)}`"
    backref = re.search(r"(?<!\\)\\[1-9]", s)
    if backref:
        return f"error parsing regexp: invalid escape sequence: `{backref.group(0)}`"
    try:
        from tsdb.matchers import re2_to_python

        re.compile("^(?:" + re2_to_python(s) + ")$")
    except re.error as e:
        return f"error parsing regexp: {e}: `{s}`"
    return None


# =========================================================================== HTTP client config


@dataclass
class TLSConfig(_Struct):
    _go_type: ClassVar[str] = "config.TLSConfig"
    ca: str = _f("ca", _Str(), "")
    ca_file: str = _f("ca_file", _Str(), "", path=True)
    cert: str = _f("cert", _Str(), "")
    cert_file: str = _f("cert_file", _Str(), "", path=True)
    key: str = _f("key", _Secret(), "")
    key_file: str = _f("key_file", _Str(), "", path=True)
    server_name: str = _f("server_name", _Str(), "")
    insecure_skip_verify: bool = _f("insecure_skip_verify", _Bool(), False, omitempty=False)
    min_version: str = _f("min_version", _Str(), "")
    max_version: str = _f("max_version", _Str(), "")

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        for v in (self.min_version, self.max_version):
            if v and v not in ("TLS10", "TLS11", "TLS12", "TLS13"):
                raise ctx.fail(node, f"unknown TLS version: {v}")
        if self.ca and self.ca_file:
            raise ctx.fail(node, "at most one of ca and ca_file must be configured")
        if self.cert and self.cert_file:
            raise ctx.fail(node, "at most one of cert and cert_file must be configured")
        if self.key and self.key_file:
            raise ctx.fail(node, "at most one of key and key_file must be configured")
        has_cert = bool(self.cert or self.cert_file)
        has_key = bool(self.key or self.key_file)
        if has_cert and not has_key:
            raise ctx.fail(
                node,
                "exactly one of key or key_file must be configured when a client certificate is configured",
            )
        if has_key and not has_cert:
            raise ctx.fail(
                node, "exactly one of cert or cert_file must be configured when a client key is configured"
            )


@dataclass
class BasicAuth(_Struct):
    _go_type: ClassVar[str] = "config.BasicAuth"
    username: str = _f("username", _Str(), "", omitempty=False)
    username_file: str = _f("username_file", _Str(), "", path=True)
    password: str = _f("password", _Secret(), "")
    password_file: str = _f("password_file", _Str(), "", path=True)


@dataclass
class Authorization(_Struct):
    _go_type: ClassVar[str] = "config.Authorization"
    type: str = _f("type", _Str(), "")
    credentials: str = _f("credentials", _Secret(), "")
    credentials_file: str = _f("credentials_file", _Str(), "", path=True)


@dataclass
class ProxyConfig(_Struct):
    _go_type: ClassVar[str] = "config.ProxyConfig"
    proxy_url: str | None = _f("proxy_url", _URL())
    no_proxy: str = _f("no_proxy", _Str(), "")
    proxy_from_environment: bool = _f("proxy_from_environment", _Bool(), False)
    proxy_connect_header: dict[str, Any] = _f("proxy_connect_header", _StrMap(values_list=True), factory=dict)

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        if self.proxy_connect_header and not self.proxy_url and not self.proxy_from_environment:
            raise ctx.fail(
                node,
                "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
            )
        if self.proxy_from_environment and self.proxy_url:
            raise ctx.fail(node, "if proxy_from_environment is configured, proxy_url must not be configured")
        if self.proxy_from_environment and self.no_proxy:
            raise ctx.fail(node, "if proxy_from_environment is configured, no_proxy must not be configured")
        if not self.proxy_url and self.no_proxy:
            raise ctx.fail(node, "if no_proxy is configured, proxy_url must also be configured")


@dataclass
class OAuth2(_Struct):
    _go_type: ClassVar[str] = "config.OAuth2"
    client_id: str = _f("client_id", _Str(), "", omitempty=False)
    client_secret: str = _f("client_secret", _Secret(), "")
    client_secret_file: str = _f("client_secret_file", _Str(), "", path=True)
    scopes: list[str] = _f("scopes", _List(_Str()), factory=list)
    token_url: str = _f("token_url", _Str(), "", omitempty=False)
    endpoint_params: dict[str, str] = _f("endpoint_params", _StrMap(), factory=dict)
    tls_config: TLSConfig = _f("tls_config", TLSConfig, factory=TLSConfig)
    proxy: ProxyConfig = _f("", ProxyConfig, factory=ProxyConfig, inline=True)


@dataclass
class HTTPClientConfig(_Struct):
    """``prometheus/common`` HTTP client settings (inlined into scrape, remote and SD configs)."""

    _go_type: ClassVar[str] = "config.HTTPClientConfig"
    basic_auth: BasicAuth | None = _f("basic_auth", BasicAuth)
    authorization: Authorization | None = _f("authorization", Authorization)
    oauth2: OAuth2 | None = _f("oauth2", OAuth2)
    bearer_token: str = _f("bearer_token", _Secret(), "")
    bearer_token_file: str = _f("bearer_token_file", _Str(), "", path=True)
    tls_config: TLSConfig = _f("tls_config", TLSConfig, factory=TLSConfig)
    follow_redirects: bool = _f("follow_redirects", _Bool(), True, omitempty=False)
    enable_http2: bool = _f("enable_http2", _Bool(), True, omitempty=False)
    proxy: ProxyConfig = _f("", ProxyConfig, factory=ProxyConfig, inline=True)

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        if self.bearer_token and self.bearer_token_file:
            raise ctx.fail(node, "at most one of bearer_token & bearer_token_file must be configured")
        if (self.basic_auth or self.oauth2) and (self.bearer_token or self.bearer_token_file):
            raise ctx.fail(
                node, "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
            )
        ba = self.basic_auth
        if ba is not None and ba.username and ba.username_file:
            raise ctx.fail(
                node, "at most one of basic_auth username, username_file & username_ref must be configured"
            )
        if ba is not None and ba.password and ba.password_file:
            raise ctx.fail(
                node, "at most one of basic_auth password, password_file & password_ref must be configured"
            )
        au = self.authorization
        if au is not None:
            if self.bearer_token or self.bearer_token_file:
                raise ctx.fail(node, "authorization is not compatible with bearer_token & bearer_token_file")
            if au.credentials and au.credentials_file:
                raise ctx.fail(
                    node, "at most one of authorization credentials & credentials_file must be configured"
                )
            au.type = au.type.strip() or "Bearer"
            if au.type.lower() == "basic":
                raise ctx.fail(node, 'authorization type cannot be set to "basic", use "basic_auth" instead')
            if self.basic_auth or self.oauth2:
                raise ctx.fail(node, "at most one of basic_auth, oauth2 & authorization must be configured")
        else:
            if self.bearer_token:
                self.authorization = Authorization(type="Bearer", credentials=self.bearer_token)
                self.bearer_token = ""
            if self.bearer_token_file:
                self.authorization = Authorization(type="Bearer", credentials_file=self.bearer_token_file)
                self.bearer_token_file = ""
        if self.oauth2 is not None:
            if self.basic_auth is not None:
                raise ctx.fail(node, "at most one of basic_auth, oauth2 & authorization must be configured")
            if not self.oauth2.client_id:
                raise ctx.fail(node, "oauth2 client_id must be configured")
            if not self.oauth2.token_url:
                raise ctx.fail(node, "oauth2 token_url must be configured")
            if self.oauth2.client_secret and self.oauth2.client_secret_file:
                raise ctx.fail(
                    node,
                    "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured",
                )

    def auth_header(self) -> str | None:
        """The ``Authorization`` header value these settings produce (files read now), if any."""
        import base64

        if self.basic_auth is not None:
            ba = self.basic_auth
            user = ba.username or (_read_secret(ba.username_file) if ba.username_file else "")
            pw = ba.password or (_read_secret(ba.password_file) if ba.password_file else "")
            return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
        if self.authorization is not None:
            au = self.authorization
            cred = au.credentials or (_read_secret(au.credentials_file) if au.credentials_file else "")
            return f"{au.type or 'Bearer'} {cred}"
        return None


def _read_secret(path: str) -> str:
    return Path(path).read_text().strip()


# =========================================================================== relabeling

_RELABEL_TARGET = re.compile(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$")
RELABEL_ACTIONS = (
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
)


class _Action(Kind):
    go = "relabel.Action"

    def decode(self, ctx: _Ctx, node: Node) -> str:
        s = _scalar_text(ctx, node)
        act = s.lower()
        if act not in RELABEL_ACTIONS:
            raise ctx.fail(node, f"unknown relabel action {_go_quote(s)}")
        return act


class _LabelNames(Kind):
    go = "model.LabelNames"

    def decode(self, ctx: _Ctx, node: Node) -> list[str]:
        if _is_null(node):
            return []
        if not isinstance(node, SequenceNode):
            raise ctx.type_error(node, "model.LabelNames")
        out = []
        for n in node.value:
            s = _scalar_text(ctx, n)
            if not _LABEL_NAME_RE.match(s):
                raise ctx.fail(n, f"{_go_quote(s)} is not a valid label name")
            out.append(s)
        return out


@dataclass
class RelabelConfig(_Struct):
    """One relabeling step (``relabel_configs`` and friends)."""

    _go_type: ClassVar[str] = "relabel.Config"
    source_labels: list[str] = _f("source_labels", _LabelNames(), factory=list)
    separator: str = _f("separator", _Str(), ";")
    regex: str = _f("regex", _Regex(), "(.*)")
    modulus: int = _f("modulus", _Int("uint64", unsigned=True), 0)
    target_label: str = _f("target_label", _Str(), "")
    replacement: str = _f("replacement", _Str(), "$1")
    action: str = _f("action", _Action(), "replace")

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        a = self.action
        if not a:
            raise ctx.fail(node, "relabel action cannot be empty")
        if a == "hashmod" and self.modulus == 0:
            raise ctx.fail(node, "relabel configuration for hashmod requires non-zero modulus")
        if (
            a in ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
            and not self.target_label
        ):
            raise ctx.fail(node, f"relabel configuration for {a} action requires 'target_label' value")
        tl = self.target_label
        if a == "replace" and "$" not in tl and not _LABEL_NAME_RE.match(tl):
            raise ctx.fail(node, f"{_go_quote(tl)} is invalid 'target_label' for {a} action")
        if a == "replace" and "$" in tl and not _RELABEL_TARGET.match(tl):
            raise ctx.fail(node, f"{_go_quote(tl)} is invalid 'target_label' for {a} action")
        if a in ("lowercase", "uppercase", "keepequal", "dropequal") and not _LABEL_NAME_RE.match(tl):
            raise ctx.fail(node, f"{_go_quote(tl)} is invalid 'target_label' for {a} action")
        if a in ("lowercase", "uppercase", "keepequal", "dropequal") and self.replacement != "$1":
            raise ctx.fail(node, f"'replacement' can not be set for {a} action")
        if a == "labelmap" and not _RELABEL_TARGET.match(self.replacement):
            raise ctx.fail(node, f"{_go_quote(self.replacement)} is invalid 'replacement' for {a} action")
        if a == "hashmod" and not _LABEL_NAME_RE.match(tl):
            raise ctx.fail(node, f"{_go_quote(tl)} is invalid 'target_label' for {a} action")
        if a in ("dropequal", "keepequal") and (
            self.regex != "(.*)" or self.modulus != 0 or self.separator != ";" or self.replacement != "$1"
        ):
            raise ctx.fail(
                node, f"{a} action requires only 'source_labels' and `target_label`, and no other fields"
            )
        if a in ("labeldrop", "labelkeep") and (
            "source_labels" in getattr(self, "_set", ())
            or tl
            or self.modulus != 0
            or self.separator != ";"
            or self.replacement != "$1"
        ):
            raise ctx.fail(node, f"{a} action requires only 'regex', and no other fields")

    def compiled(self) -> re.Pattern[str]:
        return _compile_anchored(self.regex)


def _compile_anchored(s: str) -> re.Pattern[str]:
    return compile_anchored(s)


# =========================================================================== service discovery


@dataclass
class TargetGroup(_Struct):
    """A ``static_configs`` entry: targets plus common labels."""

    _go_type: ClassVar[str] = "targetgroup.Group"
    targets: list[str] = _f("targets", _List(_Str()), factory=list, omitempty=False)
    labels: dict[str, str] = _f("labels", _StrMap(label_names=True), factory=dict)


_FILE_SD_PAT = re.compile(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")


@dataclass
class FileSDConfig(_Struct):
    _go_type: ClassVar[str] = "file.SDConfig"
    files: list[str] = _f("files", _List(_Str()), factory=list, omitempty=False, path=True)
    refresh_interval: int = _f("refresh_interval", _Duration(), 5 * 60_000)

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        if not self.files:
            raise ctx.fail(node, "file service discovery config must contain at least one path name")
        for name in self.files:
            if not _FILE_SD_PAT.match(name):
                raise ctx.fail(node, f"path name {_go_quote(name)} is not valid for file discovery")


_K8S_ROLES = ("pod", "service", "endpoints", "endpointslice", "node", "ingress")


@dataclass
class KubernetesNamespaces(_Struct):
    _go_type: ClassVar[str] = "kubernetes.NamespaceDiscovery"
    own_namespace: bool = _f("own_namespace", _Bool(), False)
    names: list[str] = _f("names", _List(_Str()), factory=list)


@dataclass
class KubernetesSelector(_Struct):
    _go_type: ClassVar[str] = "kubernetes.SelectorConfig"
    role: str = _f("role", _Str(), "", omitempty=False)
    label: str = _f("label", _Str(), "")
    field: str = _f("field", _Str(), "")

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        if self.role not in _K8S_ROLES:
            raise ctx.fail(
                node,
                f"invalid role: {_go_quote(self.role)}, expecting one of: pod, service, endpoints, endpointslice, node or ingress",
            )


@dataclass
class KubernetesAttachMetadata(_Struct):
    _go_type: ClassVar[str] = "kubernetes.AttachMetadataConfig"
    node: bool = _f("node", _Bool(), False)
    namespace: bool = _f("namespace", _Bool(), False)


@dataclass
class KubernetesSDConfig(_Struct):
    _go_type: ClassVar[str] = "kubernetes.SDConfig"
    api_server: str | None = _f("api_server", _URL())
    role: str = _f("role", _Str(), "", omitempty=False)
    kubeconfig_file: str = _f("kubeconfig_file", _Str(), "", path=True)
    http: HTTPClientConfig = _f("", HTTPClientConfig, factory=HTTPClientConfig, inline=True)
    namespaces: KubernetesNamespaces = _f("namespaces", KubernetesNamespaces, factory=KubernetesNamespaces)
    selectors: list[KubernetesSelector] = _f("selectors", _List(KubernetesSelector), factory=list)
    attach_metadata: KubernetesAttachMetadata = _f(
        "attach_metadata", KubernetesAttachMetadata, factory=KubernetesAttachMetadata
    )

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        if not self.role:
            raise ctx.fail(
                node, "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"
            )
        if self.role not in _K8S_ROLES:
            raise ctx.fail(node, f"unknown Kubernetes SD role {_go_quote(self.role)}")
        if self.api_server and self.kubeconfig_file:
            raise ctx.fail(node, "cannot use 'kubeconfig_file' and 'api_server' simultaneously")
        if self.kubeconfig_file and (self.http.basic_auth or self.http.authorization or self.http.oauth2):
            raise ctx.fail(
                node, "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
            )
        if not self.api_server and (self.http.basic_auth or self.http.authorization or self.http.oauth2):
            raise ctx.fail(
                node, "to use custom HTTP client configuration please provide the 'api_server' URL explicitly"
            )


@dataclass
class HTTPSDConfig(_Struct):
    _go_type: ClassVar[str] = "http.SDConfig"
    http: HTTPClientConfig = _f("", HTTPClientConfig, factory=HTTPClientConfig, inline=True)
    refresh_interval: int = _f("refresh_interval", _Duration(), 60_000)
    url: str = _f("url", _Str(), "", omitempty=False)

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        if not self.url:
            raise ctx.fail(node, "URL is missing")
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https"):
            raise ctx.fail(node, "URL scheme must be 'http' or 'https'")
        if not parts.hostname:
            raise ctx.fail(node, "host is missing in URL")


@dataclass
class DNSSDConfig(_Struct):
    _go_type: ClassVar[str] = "dns.SDConfig"
    names: list[str] = _f("names", _List(_Str()), factory=list, omitempty=False)
    refresh_interval: int = _f("refresh_interval", _Duration(), 30_000)
    type: str = _f("type", _Str(), "SRV")
    port: int = _f("port", _Int(), 0)

    def _validate(self, ctx: _Ctx, node: Node) -> None:
        if not self.names:
            raise ctx.fail(node, "DNS-SD config must contain at least one SRV record name")
        self.type = self.type.upper()
        if self.type not in ("SRV", "A", "AAAA", "MX", "NS"):
            raise ctx.fail(node, f"invalid DNS-SD records type {self.type}")
        if self.type != "SRV" and self.type != "NS" and self.port == 0:
            raise ctx.fail(node, "a port is required in DNS-SD configs for all record types except SRV")


@dataclass
class _SDConfigs(_Struct):
    """The service discovery blocks shared by scrape and Alertmanager configs."""

    _go_type: ClassVar[str] = "discovery.Configs"
    static_configs: list[TargetGroup] = _f("static_configs", _List(TargetGroup), factory=list)
    file_sd_configs: list[FileSDConfig] = _f("file_sd_configs", _List(FileSDConfig), factory=list)
    kubernetes_sd_configs: list[KubernetesSDConfig] = _f(
        "kubernetes_sd_configs", _List(KubernetesSDConfig), factory=list
    )
    http_sd_configs: list[HTTPSDConfig] = _f("http_sd_configs", _List(HTTPSDConfig), factory=list)
    dns_sd_configs: list[DNSSDConfig] = _f("dns_sd_configs", _List(DNSSDConfig), factory=list)


def _check_static_targets(ctx: _Ctx, node: Node, sd: _SDConfigs) -> None:
    for tg in sd.static_configs:
        for t in tg.targets:
            if "/" in t:
                raise ctx.fail(node, f"{_go_quote(t)} is not a valid hostname")


# =========================================================================== global and scrape

SCRAPE_PROTOCOLS = {
    "PrometheusProto": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
    "PrometheusText0.0.4": "text/plain;version=0.0.4",
    "PrometheusText1.0.0": "text/plain;version=1.0.0",
    "OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
    "OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0",
}
DEFAULT_SCRAPE_PROTOCOLS = [
    "OpenMetricsText1.0.0",
    "OpenMetricsText0.0.1",
    "PrometheusText1.0.0",
    "PrometheusText0.0.4",
]


def _validate_protocols(ctx: _Ctx, node: Node, sps: list[str], suffix: str) -> None:
    if not sps:
        raise ctx.fail(node, f"scrape_protocols cannot be empty{suffix}")
    seen: set[str] = set()
    for sp in sps:
        if sp.lower() in seen:
            raise ctx.fail(node, f"duplicated protocol in scrape_protocols, got [{' '.join(sps)}]{suffix}")
        if sp not in SCRAPE_PROTOCOLS:
            raise ctx.fail(
                node,
                f"scrape_protocols: unknown scrape protocol {sp}, supported: [{' '.join(sorted(SCRAPE_PROTOCOLS))}]{suffix}",
            )
        seen.add(sp.lower())


@dataclass
class GlobalConfig(_Struct):
    _go_type: ClassVar[str] = "config.GlobalConfig"
    scrape_interval: int = _f("scrape_interval", _Duration(), 0)
    scrape_timeout: int = _f("scrape_timeout", _Duration(), 0)
    scrape_protocols: list[str] | None = _f("scrape_protocols", _List(_Str(), "[]config.ScrapeProtocol"))
    evaluation_interval: int = _f("evaluation_interval", _Duration(), 0)
    rule_query_offset: int = _f("rule_query_offset", _Duration(), 0)
    query_log_file: str = _f("query_log_file", _Str(), "", path=True)
    scrape_failure_log_file: str = _f("scrape_failure_log_file", _Str(), "", path=True)
    external_labels: dict[str, str] = _f("external_labels", _StrMap(label_names=True), factory=dict)
    body_size_limit: int = _f("body_size_limit", _Size(), 0)
    sample_limit: int = _f("sample_limit", _Int("uint", True), 0)
    target_limit: int = _f("target_limit", _Int("uint", True), 0)
    label_limit: int = _f("label_limit", _Int("uint", True), 0)
    label_name_length_limit: int = _f("label_name_length_limit", _Int("uint", True), 0)
    label_value_length_limit: int = _f("label_value_length_limit", _Int("uint", True), 0)
    keep_dropped_targets: int = _f("keep_dropped_targets", _Int("uint", True), 0)
    metric_name_validation_scheme: str = _f("metric_name_validation_scheme", _Str(), "")
    metric_name_escaping_scheme: str = _f("metric_name_escaping_scheme", _Str(), "")
    scrape_native_histograms: bool = _f("scrape_native_histograms", _Bool(), False)
    convert_classic_histograms_to_nhcb: bool = _f("convert_classic_histograms_to_nhcb", _Bool(), False)
    always_scrape_classic_histograms: bool = _f("always_scrape_classic_histograms", _Bool(), False)
    extra_scrape_metrics: bool = _f("extra_scrape_metrics", _Bool(), False)

    def _validate(self, ctx: _Ctx, node: Node | None) -> None:
        if self.metric_name_validation_scheme not in ("utf8", "legacy"):
            self.metric_name_validation_scheme = "utf8"
        if self.scrape_interval == 0:
            self.scrape_interval = 60_000
        if self.scrape_timeout > self.scrape_interval:
            raise ctx.fail(node, "global scrape timeout greater than scrape interval")
        if self.scrape_timeout == 0:
            self.scrape_timeout = min(10_000, self.scrape_interval)
        if self.evaluation_interval == 0:
            self.evaluation_interval = 60_000
        if self.scrape_protocols is not None:
            _validate_protocols(ctx, node, self.scrape_protocols, " for global config")  # type: ignore[arg-type]


@dataclass
class ScrapeConfig(_Struct):
    """One ``scrape_configs`` entry, with the global defaults applied."""

    _go_type: ClassVar[str] = "config.ScrapeConfig"
    job_name: str = _f("job_name", _Str(), "", omitempty=False)
    honor_labels: bool = _f("honor_labels", _Bool(), False)
    honor_timestamps: bool = _f("honor_timestamps", _Bool(), True, omitempty=False)
    track_timestamps_staleness: bool = _f("track_timestamps_staleness", _Bool(), False, omitempty=False)
    params: dict[str, list[str]] = _f("params", _StrMap(values_list=True), factory=dict)
    scrape_interval: int = _f("scrape_interval", _Duration(), 0)
    scrape_timeout: int = _f("scrape_timeout", _Duration(), 0)
    scrape_protocols: list[str] | None = _f("scrape_protocols", _List(_Str(), "[]config.ScrapeProtocol"))
    fallback_scrape_protocol: str = _f("fallback_scrape_protocol", _Str(), "")
    scrape_native_histograms: bool | None = _f("scrape_native_histograms", _Bool())
    always_scrape_classic_histograms: bool | None = _f("always_scrape_classic_histograms", _Bool())
    convert_classic_histograms_to_nhcb: bool | None = _f("convert_classic_histograms_to_nhcb", _Bool())
    scrape_failure_log_file: str = _f("scrape_failure_log_file", _Str(), "", path=True)
    metrics_path: str = _f("metrics_path", _Str(), "/metrics")
    scheme: str = _f("scheme", _Str(), "http")
    enable_compression: bool = _f("enable_compression", _Bool(), True, omitempty=False)
    body_size_limit: int = _f("body_size_limit", _Size(), 0)
    sample_limit: int = _f("sample_limit", _Int("uint", True), 0)
    target_limit: int = _f("target_limit", _Int("uint", True), 0)
    label_limit: int = _f("label_limit", _Int("uint", True), 0)
    label_name_length_limit: int = _f("label_name_length_limit", _Int("uint", True), 0)
    label_value_length_limit: int = _f("label_value_length_limit", _Int("uint", True), 0)
    native_histogram_bucket_limit: int = _f("native_histogram_bucket_limit", _Int("uint", True), 0)
    native_histogram_min_bucket_factor: float = _f("native_histogram_min_bucket_factor", _Float(), 0.0)
    keep_dropped_targets: int = _f("keep_dropped_targets", _Int("uint", True), 0)
    metric_name_validation_scheme: str = _f("metric_name_validation_scheme", _Str(), "")
    metric_name_escaping_scheme: str = _f("metric_name_escaping_scheme", _Str(), "")
    extra_scrape_metrics: bool | None = _f("extra_scrape_metrics", _Bool())
    sd: _SDConfigs = _f("", _SDConfigs, factory=_SDConfigs, inline=True)
    http: HTTPClientConfig = _f("", HTTPClientConfig, factory=HTTPClientConfig, inline=True)
    relabel_configs: list[RelabelConfig] = _f(
        "relabel_configs", _RelabelList("empty or null target relabeling rule in scrape config"), factory=list
    )
    metric_relabel_configs: list[RelabelConfig] = _f(
        "metric_relabel_configs",
        _RelabelList("empty or null metric relabeling rule in scrape config"),
        factory=list,
    )

    def _validate(self, ctx: _Ctx, node: Node | None) -> None:
        if not self.job_name:
            raise ctx.fail(node, "job_name is empty")
        if not self.relabel_configs:
            _check_static_targets(ctx, node, self.sd)  # type: ignore[arg-type]

    def apply_global(self, ctx: _Ctx, g: GlobalConfig) -> None:
        node = getattr(self, "_node", None)
        if self.scrape_interval == 0:
            self.scrape_interval = g.scrape_interval
        if self.scrape_timeout > self.scrape_interval:
            raise ctx.fail(
                node,
                f"scrape timeout greater than scrape interval for scrape config with job name {_go_quote(self.job_name)}",
            )
        if self.scrape_timeout == 0:
            self.scrape_timeout = min(g.scrape_timeout, self.scrape_interval)
        for name in (
            "body_size_limit",
            "sample_limit",
            "target_limit",
            "label_limit",
            "label_name_length_limit",
            "label_value_length_limit",
            "keep_dropped_targets",
        ):
            if getattr(self, name) == 0:
                setattr(self, name, getattr(g, name))
        if not self.scrape_failure_log_file:
            self.scrape_failure_log_file = g.scrape_failure_log_file
        if self.scrape_native_histograms is None:
            self.scrape_native_histograms = g.scrape_native_histograms
        if self.extra_scrape_metrics is None:
            self.extra_scrape_metrics = g.extra_scrape_metrics
        if self.scrape_protocols is None:
            if g.scrape_protocols is not None:
                self.scrape_protocols = list(g.scrape_protocols)
            elif self.scrape_native_histograms:
                self.scrape_protocols = ["PrometheusProto", *DEFAULT_SCRAPE_PROTOCOLS]
            else:
                self.scrape_protocols = list(DEFAULT_SCRAPE_PROTOCOLS)
        _validate_protocols(
            ctx, node, self.scrape_protocols, f" for scrape config with job name {_go_quote(self.job_name)}"
        )  # type: ignore[arg-type]
        if self.fallback_scrape_protocol and self.fallback_scrape_protocol not in SCRAPE_PROTOCOLS:
            raise ctx.fail(
                node,
                f"invalid fallback_scrape_protocol for scrape config with job name {_go_quote(self.job_name)}: "
                f"unknown scrape protocol {self.fallback_scrape_protocol}, supported: [{' '.join(sorted(SCRAPE_PROTOCOLS))}]",
            )
        local_unset = False
        if self.metric_name_validation_scheme == "":
            local_unset = True
            self.metric_name_validation_scheme = g.metric_name_validation_scheme
        elif self.metric_name_validation_scheme not in ("legacy", "utf8"):
            raise ctx.fail(
                node,
                "unknown scrape config name validation method specified, must be either '', 'legacy' or 'utf8', "
                f"got {self.metric_name_validation_scheme}",
            )
        escapes = ("allow-utf-8", "underscores", "dots", "values")
        g_esc = g.metric_name_escaping_scheme or (
            "underscores" if g.metric_name_validation_scheme == "legacy" else "allow-utf-8"
        )
        if g_esc not in escapes:
            raise ctx.fail(
                node,
                "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', "
                f"or 'values', got {_go_quote(g_esc)}",
            )
        if not self.metric_name_escaping_scheme:
            if local_unset:
                self.metric_name_escaping_scheme = g_esc
            elif self.metric_name_validation_scheme == "legacy":
                self.metric_name_escaping_scheme = "underscores"
            else:
                self.metric_name_escaping_scheme = "allow-utf-8"
        if self.metric_name_escaping_scheme == "allow-utf-8":
            if self.metric_name_validation_scheme != "utf8":
                raise ctx.fail(node, "utf8 metric names requested but validation scheme is not set to UTF8")
        elif self.metric_name_escaping_scheme not in escapes:
            raise ctx.fail(
                node,
                "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', "
                f"'dots', or 'values', got {_go_quote(self.metric_name_escaping_scheme)}",
            )
        if self.convert_classic_histograms_to_nhcb is None:
            self.convert_classic_histograms_to_nhcb = g.convert_classic_histograms_to_nhcb
        if self.always_scrape_classic_histograms is None:
            self.always_scrape_classic_histograms = g.always_scrape_classic_histograms


# =========================================================================== alerting


class _APIVersion(Kind):
    go = "config.AlertmanagerAPIVersion"

    def decode(self, ctx: _Ctx, node: Node) -> str:
        s = _scalar_text(ctx, node)
        if s != "v2":
            raise ctx.fail(node, f"expected Alertmanager api version to be one of [v2] but got {s}")
        return s


@dataclass
class AlertmanagerConfig(_Struct):
    _go_type: ClassVar[str] = "config.AlertmanagerConfig"
    sd: _SDConfigs = _f("", _SDConfigs, factory=_SDConfigs, inline=True)
    http: HTTPClientConfig = _f("", HTTPClientConfig, factory=HTTPClientConfig, inline=True)
    scheme: str = _f("scheme", _Str(), "http")
    path_prefix: str = _f("path_prefix", _Str(), "")
    timeout: int = _f("timeout", _Duration(), 10_000)
    api_version: str = _f("api_version", _APIVersion(), "v2", omitempty=False)
    relabel_configs: list[RelabelConfig] = _f(
        "relabel_configs", _RelabelList("empty or null Alertmanager target relabeling rule"), factory=list
    )
    alert_relabel_configs: list[RelabelConfig] = _f(
        "alert_relabel_configs",
        _RelabelList("empty or null Alertmanager alert relabeling rule"),
        factory=list,
    )

    def _validate(self, ctx: _Ctx, node: Node | None) -> None:
        if not self.relabel_configs:
            _check_static_targets(ctx, node, self.sd)  # type: ignore[arg-type]

    def static_urls(self) -> list[str]:
        """The ``/api/v2/alerts`` URLs of the statically configured Alertmanagers."""
        prefix = "/" + self.path_prefix.strip("/") if self.path_prefix.strip("/") else ""
        return [
            f"{self.scheme}://{t}{prefix}/api/v2/alerts" for tg in self.sd.static_configs for t in tg.targets
        ]


@dataclass
class AlertingConfig(_Struct):
    _go_type: ClassVar[str] = "config.AlertingConfig"
    alert_relabel_configs: list[RelabelConfig] = _f(
        "alert_relabel_configs", _RelabelList("empty or null alert relabeling rule"), factory=list
    )
    alertmanagers: list[AlertmanagerConfig] = _f("alertmanagers", _List(AlertmanagerConfig), factory=list)


# =========================================================================== remote write / read

_RESERVED_HEADERS = {
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
}


def _validate_headers(ctx: _Ctx, node: Node | None, headers: dict[str, str]) -> None:
    for h in headers:
        if h.lower() == "authorization":
            raise ctx.fail(
                node,
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            )
        if h.lower() in _RESERVED_HEADERS:
            raise ctx.fail(node, f"{h} is a reserved header. It must not be changed")


@dataclass
class QueueConfig(_Struct):
    _go_type: ClassVar[str] = "config.QueueConfig"
    capacity: int = _f("capacity", _Int(), 10000)
    max_shards: int = _f("max_shards", _Int(), 50)
    min_shards: int = _f("min_shards", _Int(), 1)
    max_samples_per_send: int = _f("max_samples_per_send", _Int(), 2000)
    batch_send_deadline: int = _f("batch_send_deadline", _Duration(), 5_000)
    min_backoff: int = _f("min_backoff", _Duration(), 30)
    max_backoff: int = _f("max_backoff", _Duration(), 5_000)
    retry_on_http_429: bool = _f("retry_on_http_429", _Bool(), False)
    sample_age_limit: int = _f("sample_age_limit", _Duration(), 0)


@dataclass
class MetadataConfig(_Struct):
    _go_type: ClassVar[str] = "config.MetadataConfig"
    send: bool = _f("send", _Bool(), True, omitempty=False)
    send_interval: int = _f("send_interval", _Duration(), 60_000, omitempty=False)
    max_samples_per_send: int = _f("max_samples_per_send", _Int(), 2000)


class _ProtobufMessage(Kind):
    def decode(self, ctx: _Ctx, node: Node) -> str:
        s = _scalar_text(ctx, node)
        if s not in ("prometheus.WriteRequest", "io.prometheus.write.v2.Request"):
            raise ctx.fail(
                node,
                f"invalid protobuf_message value: unknown remote write protobuf message {s}, supported: "
                "prometheus.WriteRequest, io.prometheus.write.v2.Request",
            )
        return s


@dataclass
class RemoteWriteConfig(_Struct):
    _go_type: ClassVar[str] = "config.RemoteWriteConfig"
    url: str | None = _f("url", _URL(), omitempty=False)
    remote_timeout: int = _f("remote_timeout", _Duration(), 30_000)
    headers: dict[str, str] = _f("headers", _StrMap(), factory=dict)
    write_relabel_configs: list[RelabelConfig] = _f(
        "write_relabel_configs",
        _RelabelList("empty or null relabeling rule in remote write config"),
        factory=list,
    )
    name: str = _f("name", _Str(), "")
    send_exemplars: bool = _f("send_exemplars", _Bool(), False)
    send_native_histograms: bool = _f("send_native_histograms", _Bool(), False)
    round_robin_dns: bool = _f("round_robin_dns", _Bool(), False)
    protobuf_message: str = _f("protobuf_message", _ProtobufMessage(), "prometheus.WriteRequest")
    http: HTTPClientConfig = _f(
        "", HTTPClientConfig, factory=lambda: HTTPClientConfig(enable_http2=False), inline=True
    )
    queue_config: QueueConfig = _f("queue_config", QueueConfig, factory=QueueConfig)
    metadata_config: MetadataConfig = _f("metadata_config", MetadataConfig, factory=MetadataConfig)

    def _validate(self, ctx: _Ctx, node: Node | None) -> None:
        if self.url is None:
            raise ctx.fail(node, "url for remote_write is empty")
        _validate_headers(ctx, node, self.headers)

    def queue_name(self) -> str:
        """``name``, or Prometheus-style: the first 6 hex digits of a hash of the config."""
        if self.name:
            return self.name
        return hashlib.sha256(repr(_encode_struct(self)).encode()).hexdigest()[:6]


@dataclass
class RemoteReadConfig(_Struct):
    _go_type: ClassVar[str] = "config.RemoteReadConfig"
    url: str | None = _f("url", _URL(), omitempty=False)
    remote_timeout: int = _f("remote_timeout", _Duration(), 60_000)
    chunked_read_limit: int = _f("chunked_read_limit", _Int("uint64", True), 50_000_000)
    headers: dict[str, str] = _f("headers", _StrMap(), factory=dict)
    read_recent: bool = _f("read_recent", _Bool(), False)
    name: str = _f("name", _Str(), "")
    http: HTTPClientConfig = _f("", HTTPClientConfig, factory=HTTPClientConfig, inline=True)
    required_matchers: dict[str, str] = _f("required_matchers", _StrMap(label_names=True), factory=dict)
    filter_external_labels: bool = _f("filter_external_labels", _Bool(), True)

    def _validate(self, ctx: _Ctx, node: Node | None) -> None:
        if self.url is None:
            raise ctx.fail(node, "url for remote_read is empty")
        _validate_headers(ctx, node, self.headers)


# =========================================================================== storage, tracing, misc


@dataclass
class TSDBRetentionConfig(_Struct):
    _go_type: ClassVar[str] = "config.TSDBRetentionConfig"
    time: int = _f("time", _Duration(), 0)
    size: int = _f("size", _Size(), 0)


@dataclass
class TSDBConfig(_Struct):
    _go_type: ClassVar[str] = "config.TSDBConfig"
    out_of_order_time_window: int = _f("out_of_order_time_window", _Duration(), 0)
    retention: TSDBRetentionConfig | None = _f("retention", TSDBRetentionConfig)


@dataclass
class ExemplarsConfig(_Struct):
    _go_type: ClassVar[str] = "config.ExemplarsConfig"
    max_exemplars: int = _f("max_exemplars", _Int("int64"), 100000)


@dataclass
class StorageConfig(_Struct):
    _go_type: ClassVar[str] = "config.StorageConfig"
    tsdb: TSDBConfig | None = _f("tsdb", TSDBConfig)
    exemplars: ExemplarsConfig | None = _f("exemplars", ExemplarsConfig)


class _TracingClientType(Kind):
    def decode(self, ctx: _Ctx, node: Node) -> str:
        s = _scalar_text(ctx, node)
        if s not in ("http", "grpc"):
            raise ctx.fail(node, f"expected tracing client type to be to be http or grpc, but got {s}")
        return s


@dataclass
class TracingConfig(_Struct):
    _go_type: ClassVar[str] = "config.TracingConfig"
    client_type: str = _f("client_type", _TracingClientType(), "")
    endpoint: str = _f("endpoint", _Str(), "")
    sampling_fraction: float = _f("sampling_fraction", _Float(), 0.0)
    insecure: bool = _f("insecure", _Bool(), False)
    tls_config: TLSConfig = _f("tls_config", TLSConfig, factory=TLSConfig)
    headers: dict[str, str] = _f("headers", _StrMap(), factory=dict)
    compression: str = _f("compression", _Str(), "")
    timeout: int = _f("timeout", _Duration(), 0)

    def _validate(self, ctx: _Ctx, node: Node | None) -> None:
        if _is_null(node):
            return
        self.client_type = self.client_type or "grpc"
        for h in self.headers:
            if h.lower() == "authorization":
                raise ctx.fail(node, "custom authorization header configuration is not yet supported")
            if h.lower() in _RESERVED_HEADERS:
                raise ctx.fail(node, f"{h} is a reserved header. It must not be changed")
        if not self.endpoint:
            raise ctx.fail(node, "tracing endpoint must be set")
        if self.compression and self.compression != "gzip":
            raise ctx.fail(node, f"invalid compression type {self.compression} provided, valid options: gzip")


@dataclass
class RuntimeConfig(_Struct):
    _go_type: ClassVar[str] = "config.RuntimeConfig"
    gogc: int = _f("gogc", _Int(), 75)


@dataclass
class OTLPConfig(_Struct):
    _go_type: ClassVar[str] = "config.OTLPConfig"
    promote_all_resource_attributes: bool = _f("promote_all_resource_attributes", _Bool(), False)
    promote_resource_attributes: list[str] = _f("promote_resource_attributes", _List(_Str()), factory=list)
    ignore_resource_attributes: list[str] = _f("ignore_resource_attributes", _List(_Str()), factory=list)
    translation_strategy: str = _f("translation_strategy", _Str(), "UnderscoreEscapingWithSuffixes")
    keep_identifying_resource_attributes: bool = _f("keep_identifying_resource_attributes", _Bool(), False)
    convert_histograms_to_nhcb: bool = _f("convert_histograms_to_nhcb", _Bool(), False)
    promote_scope_metadata: bool = _f("promote_scope_metadata", _Bool(), False)


_RULE_PATH = re.compile(r"^[^*]*(\*[^/]*)?$")


@dataclass
class Config(_Struct):
    """A whole ``prometheus.yml``."""

    _go_type: ClassVar[str] = "config.Config"
    global_config: GlobalConfig = _f("global", GlobalConfig, factory=GlobalConfig, omitempty=False)
    runtime: RuntimeConfig = _f("runtime", RuntimeConfig, factory=RuntimeConfig)
    alerting: AlertingConfig = _f("alerting", AlertingConfig, factory=AlertingConfig)
    rule_files: list[str] = _f("rule_files", _List(_Str()), factory=list, path=True)
    scrape_config_files: list[str] = _f("scrape_config_files", _List(_Str()), factory=list, path=True)
    scrape_configs: list[ScrapeConfig] = _f(
        "scrape_configs", _PtrList(ScrapeConfig, "[]*config.ScrapeConfig"), factory=list
    )
    storage: StorageConfig = _f("storage", StorageConfig, factory=StorageConfig)
    tracing: TracingConfig = _f("tracing", TracingConfig, factory=TracingConfig)
    remote_write: list[RemoteWriteConfig] = _f(
        "remote_write", _PtrList(RemoteWriteConfig, "[]*config.RemoteWriteConfig"), factory=list
    )
    remote_read: list[RemoteReadConfig] = _f(
        "remote_read", _PtrList(RemoteReadConfig, "[]*config.RemoteReadConfig"), factory=list
    )
    otlp: OTLPConfig = _f("otlp", OTLPConfig, factory=OTLPConfig)

    filename: str = ""
    source: str = ""

    def _validate(self, ctx: _Ctx, node: Node | None) -> None:
        g = self.global_config
        if "global" not in getattr(self, "_set", ()):
            g._validate(ctx, None)  # absent section: Prometheus's DefaultGlobalConfig
        for i, rf in enumerate(self.rule_files):
            if not _RULE_PATH.match(rf):
                raise ctx.fail(_item_node(node, "rule_files", i), f"invalid rule file path {_go_quote(rf)}")
        for i, sf in enumerate(self.scrape_config_files):
            if not _RULE_PATH.match(sf):
                raise ctx.fail(
                    _item_node(node, "scrape_config_files", i),
                    f"invalid scrape config file path {_go_quote(sf)}",
                )
        names: set[str] = set()
        for i, sc in enumerate(self.scrape_configs):
            if sc is None:
                raise ctx.fail(_item_node(node, "scrape_configs", i), "empty or null scrape config section")
            sc.apply_global(ctx, g)
            if sc.job_name in names:
                raise ctx.fail(
                    getattr(sc, "_node", None),
                    f"found multiple scrape configs with job name {_go_quote(sc.job_name)}",
                )
            names.add(sc.job_name)
        rw: set[str] = set()
        for i, c in enumerate(self.remote_write):
            if c is None or getattr(c, "_present", True) is False:
                raise ctx.fail(
                    _item_node(node, "remote_write", i), "empty or null remote write config section"
                )
            if c.name and c.name in rw:
                raise ctx.fail(
                    getattr(c, "_node", None),
                    f"found multiple remote write configs with job name {_go_quote(c.name)}",
                )
            rw.add(c.name)
        rr: set[str] = set()
        for i, rc in enumerate(self.remote_read):
            if rc is None or getattr(rc, "_present", True) is False:
                raise ctx.fail(_item_node(node, "remote_read", i), "empty or null remote read config section")
            if rc.name and rc.name in rr:
                raise ctx.fail(
                    getattr(rc, "_node", None),
                    f"found multiple remote read configs with job name {_go_quote(rc.name)}",
                )
            rr.add(rc.name)

    # ---- conveniences ------------------------------------------------------------------

    @property
    def external_labels(self) -> Labels:
        """``global.external_labels`` (``$VAR`` expanded from the environment) as Labels."""
        return Labels.from_dict({k: _expand_env(v) for k, v in self.global_config.external_labels.items()})

    def rule_file_paths(self) -> list[str]:
        """Every rule file the ``rule_files`` globs match, sorted, de-duplicated."""
        out: list[str] = []
        for pat in self.rule_files:
            for p in sorted(glob.glob(pat)):
                if p not in out:
                    out.append(p)
        return out

    def ooo_window_ms(self) -> int:
        t = self.storage.tsdb
        return t.out_of_order_time_window if t is not None else 0

    def to_yaml(self) -> str:
        """The effective config as Prometheus prints it (secrets as ``<secret>``)."""
        d = _encode_struct(self)
        return yaml.safe_dump(d, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1 << 30)


def _item_node(node: Node | None, key: str, i: int) -> Node | None:
    if not isinstance(node, MappingNode):
        return node
    for k, v in node.value:
        if isinstance(k, ScalarNode) and k.value == key and isinstance(v, SequenceNode) and i < len(v.value):
            return v.value[i]
    return node


def _expand_env(v: str) -> str:
    """Go's ``os.Expand`` with the environment (``$$`` stays ``$``)."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name == "$":
            return "$"
        return os.environ.get(name, "")

    return re.sub(r"\$(?:\{([^}]*)\}|([A-Za-z0-9_]+|\$))", sub, v)


# =========================================================================== loading


def load_config_str(text: str, filename: str = "prometheus.yml") -> Config:
    """Parse and validate a ``prometheus.yml`` given as text.

    Raises :class:`ConfigError` (``str``: ``file:line: message``).
    """
    ctx = _Ctx(filename)
    try:
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"yaml: {problem}", filename, line) from None
    node = docs[0] if docs else None
    if node is None or _is_null(node):
        cfg = _decode_struct(ctx, Config, None)
    else:
        cfg = _decode_struct(ctx, Config, node)
    cfg.filename = filename
    cfg.source = text
    return cfg


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load ``prometheus.yml`` from a file; relative paths in it are resolved against its directory."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"open {p}: {e.strerror or e}", str(p)) from None
    cfg = load_config_str(text, str(p))
    _set_directory(cfg, str(p.parent))
    return cfg


def iter_scrape_configs(cfg: Config) -> Iterable[ScrapeConfig]:
    """The scrape configs of ``cfg`` (``scrape_config_files`` are not loaded yet)."""
    return iter(cfg.scrape_configs)
