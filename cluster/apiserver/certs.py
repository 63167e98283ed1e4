"""Self-signed serving certificates in pure Python (RSA + X.509 DER), stdlib only.

kubectl only sends a kubeconfig's bearer token over TLS, so the API server
serves HTTPS with a cluster CA kept in the data directory (``ca.crt``,
``apiserver.crt``, ``apiserver.key``); the admin kubeconfig embeds the CA.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
from pathlib import Path

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % d for d in range(2, int(p**0.5) + 1))]


def _is_probable_prime(n: int, rounds: int = 24) -> bool:
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = secrets.randbelow(n - 3) + 2
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, e: int) -> int:
    while True:
        c = secrets.randbits(bits) | (3 << (bits - 2)) | 1
        if _is_probable_prime(c) and (c - 1) % e != 0:
            return c


class RSAKey:
    """An RSA private key."""

    def __init__(self, n: int, e: int, d: int, p: int, q: int) -> None:
        self.n, self.e, self.d, self.p, self.q = n, e, d, p, q

    @classmethod
    def generate(cls, bits: int = 2048) -> RSAKey:
        """A fresh key."""
        e = 65537
        while True:
            p, q = _prime(bits // 2, e), _prime(bits // 2, e)
            n = p * q
            if p != q and n.bit_length() == bits:
                break
        d = pow(e, -1, (p - 1) * (q - 1))
        return cls(n, e, d, p, q)

    def sign_sha256(self, data: bytes) -> bytes:
        """PKCS#1 v1.5 signature over SHA-256."""
        k = (self.n.bit_length() + 7) // 8
        digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(data).digest()
        em = b"\x00\x01" + b"\xff" * (k - len(digest_info) - 3) + b"\x00" + digest_info
        return pow(int.from_bytes(em, "big"), self.d, self.n).to_bytes(k, "big")

    def public_der(self) -> bytes:
        """SubjectPublicKeyInfo."""
        rsa_pub = _seq(_int(self.n), _int(self.e))
        return _seq(_seq(_oid("1.2.840.113549.1.1.1"), b"\x05\x00"), _bitstring(rsa_pub))

    def private_pem(self) -> str:
        """PKCS#1 ``RSA PRIVATE KEY`` PEM."""
        p, q, d = self.p, self.q, self.d
        der = _seq(
            _int(0),
            _int(self.n),
            _int(self.e),
            _int(d),
            _int(p),
            _int(q),
            _int(d % (p - 1)),
            _int(d % (q - 1)),
            _int(pow(q, -1, p)),
        )
        return _pem("RSA PRIVATE KEY", der)

    @classmethod
    def from_pem(cls, pem: str) -> RSAKey:
        """Load a key written by :meth:`private_pem`."""
        der = base64.b64decode("".join(line for line in pem.splitlines() if not line.startswith("-----")))
        vals = _parse_ints(der)
        return cls(vals[1], vals[2], vals[3], vals[4], vals[5])


# ---- DER ---------------------------------------------------------------------
def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _len(len(body)) + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _set(*parts: bytes) -> bytes:
    return _tlv(0x31, b"".join(parts))


def _int(v: int) -> bytes:
    b = v.to_bytes((v.bit_length() + 8) // 8 or 1, "big")
    return _tlv(0x02, b)


def _oid(s: str) -> bytes:
    parts = [int(x) for x in s.split(".")]
    body = bytes([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(enc))
    return _tlv(0x06, body)


def _bitstring(b: bytes, unused: int = 0) -> bytes:
    return _tlv(0x03, bytes([unused]) + b)


def _octets(b: bytes) -> bytes:
    return _tlv(0x04, b)


def _utf8(s: str) -> bytes:
    return _tlv(0x0C, s.encode())


def _time(t: dt.datetime) -> bytes:
    if t.year < 2050:
        return _tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def _name(cn: str, org: str = "") -> bytes:
    rdns = []
    if org:
        rdns.append(_set(_seq(_oid("2.5.4.10"), _utf8(org))))
    rdns.append(_set(_seq(_oid("2.5.4.3"), _utf8(cn))))
    return _seq(*rdns)


def _ext(oid: str, value: bytes, critical: bool = False) -> bytes:
    return _seq(_oid(oid), (_tlv(0x01, b"\xff") if critical else b""), _octets(value))


def _parse_ints(der: bytes) -> list[int]:
    # parse a SEQUENCE of INTEGERs
    i = 1
    ln = der[i]
    i += 1
    if ln & 0x80:
        i += ln & 0x7F
    out = []
    while i < len(der):
        assert der[i] == 0x02
        i += 1
        ln = der[i]
        i += 1
        if ln & 0x80:
            nb = ln & 0x7F
            ln = int.from_bytes(der[i : i + nb], "big")
            i += nb
        out.append(int.from_bytes(der[i : i + ln], "big"))
        i += ln
    return out


def _pem(label: str, der: bytes) -> str:
    b = base64.b64encode(der).decode()
    lines = [b[i : i + 64] for i in range(0, len(b), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def make_cert(
    subject_cn: str,
    key: RSAKey,
    issuer_cn: str,
    issuer_key: RSAKey,
    *,
    ca: bool,
    dns_names: list[str] = (),  # type: ignore[assignment]
    ips: list[str] = (),  # type: ignore[assignment]
    days: int = 3650,
    org: str = "",
) -> str:
    """A PEM certificate for ``key`` signed by ``issuer_key``."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ski = hashlib.sha1(key.public_der()).digest()
    aki = hashlib.sha1(issuer_key.public_der()).digest()
    exts = []
    if ca:
        exts.append(_ext("2.5.29.19", _seq(_tlv(0x01, b"\xff")), critical=True))
        exts.append(_ext("2.5.29.15", _bitstring(b"\x86", 1), critical=True))
    else:
        exts.append(_ext("2.5.29.19", _seq(), critical=True))
        exts.append(_ext("2.5.29.15", _bitstring(b"\xa0", 5), critical=True))
        exts.append(_ext("2.5.29.37", _seq(_oid("1.3.6.1.5.5.7.3.1"), _oid("1.3.6.1.5.5.7.3.2"))))
    exts.append(_ext("2.5.29.14", _octets(ski)))
    if not ca:
        exts.append(_ext("2.5.29.35", _seq(_tlv(0x80, aki))))
    sans = [_tlv(0x82, d.encode()) for d in dns_names]
    sans += [_tlv(0x87, ipaddress.ip_address(ip).packed) for ip in ips]
    if sans:
        exts.append(_ext("2.5.29.17", _seq(*sans)))
    alg = _seq(_oid("1.2.840.113549.1.1.11"), b"\x05\x00")
    tbs = _seq(
        _tlv(0xA0, _int(2)),
        _int(int.from_bytes(os.urandom(16), "big") >> 1),
        alg,
        _name(issuer_cn, "heron" if ca or issuer_cn != subject_cn else ""),
        _seq(_time(now - dt.timedelta(hours=1)), _time(now + dt.timedelta(days=days))),
        _name(subject_cn, org or ("heron" if ca else "")),
        key.public_der(),
        _tlv(0xA3, _seq(*exts)),
    )
    cert = _seq(tbs, alg, _bitstring(issuer_key.sign_sha256(tbs)))
    return _pem("CERTIFICATE", cert)


_KEYS: list[RSAKey] = []


def _keys() -> tuple[RSAKey, RSAKey]:
    # keys are costly in pure Python; a process reuses one pair (tests start many clusters)
    if not _KEYS:
        _KEYS.extend([RSAKey.generate(), RSAKey.generate()])
    return _KEYS[0], _KEYS[1]


def ensure_serving_certs(directory: Path, hosts: list[str]) -> tuple[Path, Path, Path]:
    """Create (once) ``ca.crt``, ``apiserver.crt`` and ``apiserver.key``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_crt, crt, key_path = directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key"
    if ca_crt.exists() and crt.exists() and key_path.exists():
        return ca_crt, crt, key_path
    ca_key, srv_key = _keys()
    ca_pem = make_cert("heron-ca", ca_key, "heron-ca", ca_key, ca=True)
    ips, dns = (
        [],
        [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
    )
    for h in hosts:
        try:
            ipaddress.ip_address(h)
            if h not in ips:
                ips.append(h)
        except ValueError:
            if h and h not in dns:
                dns.append(h)
    srv_pem = make_cert("kube-apiserver", srv_key, "heron-ca", ca_key, ca=False, dns_names=dns, ips=ips)
    ca_crt.write_text(ca_pem)
    crt.write_text(srv_pem + ca_pem)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(srv_key.private_pem())
    return ca_crt, crt, key_path
