"""HTTP client settings shared by scraping and service discovery (TLS, auth headers)."""

from __future__ import annotations

import ssl
import tempfile
from typing import Any

__all__ = ["auth_headers", "ssl_context"]

_CTX_CACHE: dict[str, ssl.SSLContext] = {}


def ssl_context(tls: Any) -> ssl.SSLContext | bool | None:
    """An ``ssl`` argument for aiohttp from a ``TLSConfig`` (None: aiohttp's default)."""
    if tls is None:
        return None
    if not (
        tls.insecure_skip_verify
        or tls.ca_file
        or tls.ca
        or tls.cert_file
        or tls.cert
        or tls.server_name
        or tls.min_version
        or tls.max_version
    ):
        return None
    key = repr(tls)
    ctx = _CTX_CACHE.get(key)
    if ctx is not None:
        return ctx
    ctx = ssl.create_default_context(cafile=tls.ca_file or None, cadata=tls.ca or None)
    if tls.cert_file or tls.cert:
        cert, keyf = tls.cert_file, tls.key_file
        if tls.cert:
            cert = _tmp(tls.cert)
        if tls.key:
            keyf = _tmp(tls.key)
        ctx.load_cert_chain(cert, keyf or None)
    versions = {
        "TLS10": ssl.TLSVersion.TLSv1,
        "TLS11": ssl.TLSVersion.TLSv1_1,
        "TLS12": ssl.TLSVersion.TLSv1_2,
        "TLS13": ssl.TLSVersion.TLSv1_3,
    }
    if tls.min_version:
        ctx.minimum_version = versions[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = versions[tls.max_version]
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    _CTX_CACHE[key] = ctx
    return ctx


def _tmp(data: str) -> str:
    f = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)  # noqa: SIM115
    f.write(data)
    f.close()
    return f.name


def auth_headers(http: Any) -> dict[str, str]:
    """``Authorization`` from an ``HTTPClientConfig`` (basic auth, bearer, credentials files)."""
    h = http.auth_header() if http is not None else None
    return {"Authorization": h} if h else {}
