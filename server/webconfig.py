"""``--web.config.file``: the exporter-toolkit web configuration (TLS, basic auth, headers).

Supported: ``tls_server_config`` (``cert_file``, ``key_file``, ``client_ca_file``,
``client_auth_type``, ``min_version``, ``max_version``), ``basic_auth_users``
(bcrypt hashes, checked with the ``bcrypt`` package when installed, else the C
library's ``crypt``) and ``http_server_config.headers``. Unknown keys are errors,
as in Prometheus. Authentication results are cached per credential so bcrypt runs
once per user and password.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

__all__ = ["WebConfig", "WebConfigError", "auth_middleware", "load_web_config"]


class WebConfigError(ValueError):
    """An invalid web config file."""


_TLS_KEYS = {
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "cipher_suites",
    "curve_preferences",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


@dataclass
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def load_web_config(path: str) -> WebConfig:
    """Parse and check a web config file (relative TLS paths resolve against its directory)."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise WebConfigError(f"{path}: {e}") from None
    if not isinstance(raw, dict):
        raise WebConfigError(f"{path}: expected a mapping")
    unknown = set(raw) - {"tls_server_config", "http_server_config", "basic_auth_users"}
    if unknown:
        raise WebConfigError(f"{path}: field {sorted(unknown)[0]} not found in type web.plain")
    cfg = WebConfig()
    tls = raw.get("tls_server_config") or {}
    if tls:
        bad = set(tls) - _TLS_KEYS
        if bad:
            raise WebConfigError(f"{path}: field {sorted(bad)[0]} not found in type web.TLSConfig")
        if not tls.get("cert_file") or not tls.get("key_file"):
            raise WebConfigError(f"{path}: missing cert_file or key_file")

        def rel(f: str) -> str:
            return str(p.parent / f) if not Path(f).is_absolute() else f

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(rel(tls["cert_file"]), rel(tls["key_file"]))
        ctx.minimum_version = _VERSIONS.get(tls.get("min_version", "TLS12"), ssl.TLSVersion.TLSv1_2)
        if tls.get("max_version"):
            ctx.maximum_version = _VERSIONS[tls["max_version"]]
        auth = tls.get("client_auth_type", "NoClientCert")
        if tls.get("client_ca_file"):
            ctx.load_verify_locations(rel(tls["client_ca_file"]))
        if auth in ("RequireAndVerifyClientCert", "RequireAnyClientCert"):
            ctx.verify_mode = ssl.CERT_REQUIRED
        elif auth in ("VerifyClientCertIfGiven", "RequestClientCert"):
            ctx.verify_mode = ssl.CERT_OPTIONAL
        cfg.ssl_context = ctx
    users = raw.get("basic_auth_users") or {}
    if not isinstance(users, dict):
        raise WebConfigError(f"{path}: basic_auth_users must be a mapping")
    cfg.users = {str(k): str(v) for k, v in users.items()}
    http = raw.get("http_server_config") or {}
    cfg.headers = {str(k): str(v) for k, v in (http.get("headers") or {}).items()}
    return cfg


def _bcrypt_ok(password: str, hashed: str) -> bool:
    try:
        import bcrypt  # type: ignore[import-not-found]

        return bool(bcrypt.checkpw(password.encode(), hashed.encode()))
    except ImportError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # type: ignore[import-not-found]

        return crypt.crypt(password, hashed) == hashed


def auth_middleware(path: str) -> Any:
    """An aiohttp middleware enforcing ``basic_auth_users`` and adding configured headers."""
    cfg = load_web_config(path)
    cache: dict[str, bool] = {}

    @web.middleware
    async def mw(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if cfg.users:
            ok = False
            h = request.headers.get("Authorization", "")
            if h.startswith("Basic "):
                key = hashlib.sha256(h.encode()).hexdigest()
                ok = cache.get(key, False)
                if key not in cache:
                    try:
                        user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
                        hashed = cfg.users.get(user)
                        ok = hashed is not None and _bcrypt_ok(pw, hashed)
                    except (ValueError, UnicodeDecodeError):
                        ok = False
                    if len(cache) > 1000:
                        cache.clear()
                    cache[key] = ok
            if not ok:
                return web.Response(status=401, text="Unauthorized", headers={"WWW-Authenticate": "Basic"})
        resp = await handler(request)
        for k, v in cfg.headers.items():
            resp.headers[k] = v
        return resp

    return mw
