"""Authentication: static bearer tokens (a token file) and ServiceAccount tokens.

The token file has Kubernetes' ``--token-auth-file`` format: CSV lines of
``token,user,uid,"group1,group2"``. ServiceAccount tokens are JWTs signed with
HS256 and a key kept in the data directory; they name the account and its UID
(and, for TokenRequest tokens, an expiry and the bound object), and stop
working when the account is deleted or recreated.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class User:
    """An authenticated identity."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)

    def info(self) -> dict[str, Any]:
        """The UserInfo object of the API."""
        d: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            d["uid"] = self.uid
        if self.extra:
            d["extra"] = self.extra
        return d


ANONYMOUS = User("system:anonymous", groups=("system:unauthenticated",))
SYSTEM = User("system:apiserver", groups=("system:masters", "system:authenticated"))


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class TokenAuthenticator:
    """Maps bearer tokens to users."""

    def __init__(
        self,
        token_file: Path | None = None,
        signing_key: bytes | None = None,
        sa_lookup: Callable[[str, str], dict[str, Any] | None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.token_file = token_file
        self._static: dict[str, User] = {}
        self._mtime = 0.0
        self._key = signing_key or secrets.token_bytes(32)
        self._sa_lookup = sa_lookup
        import time

        self._clock = clock or time.time
        self._load()

    def _load(self) -> None:
        if self.token_file is None or not self.token_file.exists():
            return
        mtime = self.token_file.stat().st_mtime
        if mtime == self._mtime:
            return
        self._mtime = mtime
        self._static = parse_token_file(self.token_file.read_text())

    def add_static(self, token: str, user: User) -> None:
        """Register a token in memory (and in the token file if one is configured)."""
        self._static[token] = user
        if self.token_file is not None:
            lines = []
            for t, u in self._static.items():
                groups = ",".join(u.groups)
                lines.append(f'{t},{u.name},{u.uid or u.name},"{groups}"')
            tmp = self.token_file.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("\n".join(lines) + "\n")
            os.replace(tmp, self.token_file)
            self._mtime = self.token_file.stat().st_mtime

    def authenticate(self, token: str) -> User | None:
        """The user a token belongs to, or None."""
        self._load()
        u = self._static.get(token)
        if u is not None:
            return _with_authenticated(u)
        if token.count(".") == 2:
            return self._sa_user(token)
        return None

    # ---- ServiceAccount tokens ----------------------------------------
    def issue(
        self,
        namespace: str,
        name: str,
        uid: str,
        *,
        audiences: list[str] | None = None,
        expiration_seconds: int | None = None,
        bound: dict[str, Any] | None = None,
    ) -> tuple[str, float | None]:
        """Sign a ServiceAccount token; returns (token, expiry unix time or None)."""
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "aud": audiences or [ISSUER],
            "iat": now,
            "nbf": now,
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
        }
        exp: float | None = None
        if expiration_seconds:
            exp = now + int(expiration_seconds)
            claims["exp"] = exp
        if bound:
            claims["kubernetes.io"][bound["kind"].lower()] = {
                "name": bound["name"],
                "uid": bound.get("uid", ""),
            }
        header = {"alg": "HS256", "kid": hashlib.sha256(self._key).hexdigest()[:16], "typ": "JWT"}
        signing = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = hmac.new(self._key, signing.encode(), hashlib.sha256).digest()
        return signing + "." + _b64(sig), exp

    def _sa_user(self, token: str) -> User | None:
        try:
            h, p, s = token.split(".")
            want = hmac.new(self._key, f"{h}.{p}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(want, _unb64(s)):
                return None
            claims = json.loads(_unb64(p))
        except (ValueError, TypeError):
            return None
        if claims.get("exp") is not None and self._clock() > float(claims["exp"]):
            return None
        k8s = claims.get("kubernetes.io") or {}
        ns = k8s.get("namespace")
        sa = (k8s.get("serviceaccount") or {}).get("name")
        uid = (k8s.get("serviceaccount") or {}).get("uid")
        if not ns or not sa:
            return None
        if self._sa_lookup is not None:
            obj = self._sa_lookup(ns, sa)
            if obj is None or obj["metadata"].get("uid") != uid:
                return None
        extra: dict[str, list[str]] = {}
        if "pod" in k8s:
            extra["authentication.kubernetes.io/pod-name"] = [k8s["pod"]["name"]]
            extra["authentication.kubernetes.io/pod-uid"] = [k8s["pod"].get("uid", "")]
        return User(
            f"system:serviceaccount:{ns}:{sa}",
            uid=uid or "",
            groups=("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"),
            extra=extra,
        )


def _with_authenticated(u: User) -> User:
    if "system:authenticated" in u.groups:
        return u
    return User(u.name, u.uid, (*u.groups, "system:authenticated"), u.extra)


def parse_token_file(text: str) -> dict[str, User]:
    """Parse a ``--token-auth-file`` CSV."""
    out: dict[str, User] = {}
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0].strip() or row[0].startswith("#"):
            continue
        if len(row) < 2:
            continue
        token, name = row[0].strip(), row[1].strip()
        uid = row[2].strip() if len(row) > 2 else ""
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        out[token] = User(name, uid, groups)
    return out


def load_or_create_key(path: Path) -> bytes:
    """A 32-byte secret kept in a 0600 file."""
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(key).decode() + "\n")
    return key
