"""Label sets: immutable, sorted ``(name, value)`` tuples with a cached hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping

METRIC_NAME = "__name__"

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def is_valid_label_name(name: str) -> bool:
    """Legacy (pre-UTF-8) label name check, as Prometheus's ``model.LabelName.IsValidLegacy``."""
    return _LABEL_NAME_RE.fullmatch(name) is not None


def is_valid_metric_name(name: str) -> bool:
    return _METRIC_NAME_RE.fullmatch(name) is not None


class Labels:
    """An immutable, sorted set of label pairs. Empty values are dropped.

    Equality and hashing are by content; ``hash()`` is cached. Build new sets
    with :class:`LabelsBuilder` or the ``from_*`` constructors.
    """

    __slots__ = ("_pairs", "_hash")

    def __init__(self, pairs: tuple[tuple[str, str], ...] = ()) -> None:
        # Callers must pass sorted, de-duplicated, non-empty-valued pairs; use the
        # constructors below otherwise.
        self._pairs = pairs
        self._hash = hash(pairs)

    @classmethod
    def from_dict(cls, d: Mapping[str, str]) -> Labels:
        return cls(tuple(sorted((k, v) for k, v in d.items() if v != "")))

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Labels:
        d: dict[str, str] = {}
        for k, v in pairs:
            d[k] = v
        return cls.from_dict(d)

    @classmethod
    def from_strings(cls, *kv: str) -> Labels:
        if len(kv) % 2:
            raise ValueError("from_strings needs an even number of arguments")
        return cls.from_pairs(zip(kv[::2], kv[1::2], strict=True))

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return self._pairs

    def get(self, name: str, default: str = "") -> str:
        for k, v in self._pairs:
            if k == name:
                return v
        return default

    def has(self, name: str) -> bool:
        return any(k == name for k, _ in self._pairs)

    @property
    def name(self) -> str:
        return self.get(METRIC_NAME)

    def names(self) -> list[str]:
        return [k for k, _ in self._pairs]

    def to_dict(self) -> dict[str, str]:
        return dict(self._pairs)

    def without(self, *names: str) -> Labels:
        drop = set(names)
        return Labels(tuple(p for p in self._pairs if p[0] not in drop))

    def only(self, *names: str) -> Labels:
        keep = set(names)
        return Labels(tuple(p for p in self._pairs if p[0] in keep))

    def without_name(self) -> Labels:
        return self.without(METRIC_NAME)

    def builder(self) -> LabelsBuilder:
        return LabelsBuilder(self)

    def fingerprint(self) -> int:
        """A stable 64-bit hash (sha256-based; stable across processes, unlike ``hash``)."""
        h = hashlib.sha256()
        for k, v in self._pairs:
            h.update(k.encode())
            h.update(b"\xff")
            h.update(v.encode())
            h.update(b"\xff")
        return int.from_bytes(h.digest()[:8], "little")

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __contains__(self, name: object) -> bool:
        return any(k == name for k, _ in self._pairs)

    def __getitem__(self, name: str) -> str:
        for k, v in self._pairs:
            if k == name:
                return v
        raise KeyError(name)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Labels):
            return NotImplemented
        return self._hash == other._hash and self._pairs == other._pairs

    def __lt__(self, other: Labels) -> bool:
        return self._pairs < other._pairs

    def __repr__(self) -> str:
        return f"Labels({str(self)})"

    def __str__(self) -> str:
        """Prometheus's text form: ``name{a="b", c="d"}`` (quoted as Go's %q)."""
        name = ""
        parts = []
        for k, v in self._pairs:
            if k == METRIC_NAME and is_valid_metric_name(v):
                name = v
                continue
            key = k if is_valid_label_name(k) else quote(k)
            parts.append(f"{key}={quote(v)}")
        if name and not parts:
            return name
        return name + "{" + ", ".join(parts) + "}"


EMPTY_LABELS = Labels(())


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def quote(s: str) -> str:
    """Quote a string like Go's ``strconv.Quote`` (Prometheus prints label values so)."""
    out = ['"']
    for ch in s:
        esc = _GO_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif "\udc80" <= ch <= "\udcff":
            # A byte that is not valid UTF-8 (kept via the surrogateescape error handler).
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            o = ord(ch)
            if o < 0x80:
                out.append(f"\\x{o:02x}")
            elif o <= 0xFFFF:
                out.append(f"\\u{o:04x}")
            else:
                out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


class LabelsBuilder:
    """Mutable builder: set/delete then ``labels()``."""

    __slots__ = ("_d",)

    def __init__(self, base: Labels | None = None) -> None:
        self._d: dict[str, str] = dict(base.pairs) if base is not None else {}

    def set(self, name: str, value: str) -> LabelsBuilder:
        if value == "":
            self._d.pop(name, None)
        else:
            self._d[name] = value
        return self

    def delete(self, *names: str) -> LabelsBuilder:
        for n in names:
            self._d.pop(n, None)
        return self

    def keep(self, *names: str) -> LabelsBuilder:
        keep = set(names)
        self._d = {k: v for k, v in self._d.items() if k in keep}
        return self

    def get(self, name: str) -> str:
        return self._d.get(name, "")

    def labels(self) -> Labels:
        return Labels.from_dict(self._d)
