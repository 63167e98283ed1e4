"""The steady-state fast path: re-parse a payload whose lines are unchanged except for values.

Most targets expose the same series, in the same order, with the same
comments, scrape after scrape; only the values change. A :class:`Layout`
remembers such a payload (built after a full, validated parse): the byte
length of each sample line's series key and the payload with the value
tokens cut out (the *skeleton*). :meth:`Layout.match` checks a new payload
against it with a few vectorized passes (line ends, one gather of the
skeleton bytes, one of the value bytes) and, when the skeleton is identical,
returns the values as a float64 array, in line order, with no per-line
Python work except the float conversion. Anything unusual (a changed key or
comment, a timestamp, an odd character in a value) returns None and the
caller parses the payload fully.

Only payloads without timestamps and exemplars get a layout.
"""

from __future__ import annotations

import numpy as np

from .exposition import NO_TIMESTAMP, NORMAL_NAN_BITS, ParseResult

__all__ = ["Layout"]

_NL = 10
_SP = 32
# Bytes a value token may contain (Go float syntax without hex/underscores, NaN, Inf, infinity).
_VALUE_BYTES = np.zeros(256, dtype=bool)
for _c in b"0123456789.+-eEnNaAiIfFtTyY\n":
    _VALUE_BYTES[_c] = True


def _line_ends(arr: np.ndarray) -> np.ndarray:
    return np.flatnonzero(arr == _NL)


def _value_mask(n: int, region_start: np.ndarray, region_end: np.ndarray) -> np.ndarray:
    """Boolean mask of ``[region_start[i], region_end[i])`` ranges (sorted, disjoint) over ``n`` bytes."""
    k = len(region_start)
    bounds = np.empty(2 * k + 2, dtype=np.int64)
    bounds[0] = 0
    bounds[1:-1:2] = region_start
    bounds[2:-1:2] = region_end
    bounds[-1] = n
    pat = np.zeros(2 * k + 1, dtype=bool)
    pat[1::2] = True
    return np.repeat(pat, np.diff(bounds))


class Layout:
    """The shape of one validated payload (see the module docstring)."""

    __slots__ = ("nlines", "sample_lines", "keylens", "skeleton", "om")

    def __init__(
        self, nlines: int, sample_lines: np.ndarray, keylens: np.ndarray, skeleton: np.ndarray, om: bool
    ) -> None:
        self.nlines = nlines
        self.sample_lines = sample_lines
        self.keylens = keylens
        self.skeleton = skeleton
        self.om = om

    @classmethod
    def build(cls, body: bytes, res: ParseResult, om: bool) -> Layout | None:
        """A layout for ``body`` (already parsed into ``res``), or None if it doesn't qualify.

        The parser's series keys are prefixes of their lines and its samples
        come one per sample line in line order, so the layout only needs the
        key lengths and a check that a single token follows each key.
        """
        n = len(res)
        if n == 0 or res.exemplars or not body.endswith(b"\n"):
            return None
        if b"\t" in body or b"\r" in body:
            return None
        if len(res.timestamps) and not bool((res.timestamps == NO_TIMESTAMP).all()):
            return None
        arr = np.frombuffer(body, dtype=np.uint8)
        ends = _line_ends(arr)
        starts = np.concatenate(([0], ends[:-1] + 1))
        nonempty = starts != ends
        first = arr[np.minimum(starts, len(arr) - 1)]
        if bool((nonempty & (first == _SP)).any()):
            return None
        sample_lines = np.flatnonzero(nonempty & (first != ord("#")))
        if len(sample_lines) != n:
            return None
        if body.isascii():
            keylens = np.fromiter(map(len, res.series), dtype=np.int64, count=n)
        else:
            keylens = np.array([len(k.encode()) for k in res.series], dtype=np.int64)
        ks = starts[sample_lines] + keylens
        se = ends[sample_lines]
        if bool((ks >= se).any()) or bool((arr[ks] != _SP).any()):
            return None
        mask = _value_mask(len(arr), ks + 1, se + 1)
        vb = arr[mask]
        if bool((vb == _SP).any()):
            return None
        return cls(len(ends), sample_lines, keylens, arr[~mask].copy(), om)

    def match(self, body: bytes) -> np.ndarray | None:
        """The values of ``body`` in sample order if it has this layout, else None."""
        arr = np.frombuffer(body, dtype=np.uint8)
        if not len(arr) or arr[-1] != _NL:
            return None
        ends = _line_ends(arr)
        if len(ends) != self.nlines:
            return None
        se = ends[self.sample_lines]
        sl = self.sample_lines
        starts = np.where(sl > 0, ends[np.maximum(sl - 1, 0)] + 1, 0)
        vstart = starts + self.keylens + 1
        if bool((vstart >= se).any()):
            return None
        mask = _value_mask(len(arr), vstart, se + 1)
        skel = arr[~mask]
        if len(skel) != len(self.skeleton) or not np.array_equal(skel, self.skeleton):
            return None
        if bool((arr[vstart] == _SP).any()) or bool((arr[se - 1] == _SP).any()):
            return None
        vb = arr[mask]
        if not _VALUE_BYTES[vb].all():
            return None
        raw = vb.tobytes()
        toks = raw.split()
        if len(toks) != len(se):
            return None
        try:
            vals = np.array(list(map(float, toks)), dtype=np.float64)
        except ValueError:
            return None
        bad = ~np.isfinite(vals)
        if bad.any():
            if b"+n" in raw or b"-n" in raw or b"+N" in raw or b"-N" in raw:
                return None
            for i in np.flatnonzero(np.isinf(vals)):
                t = toks[i].lower().lstrip(b"+-")
                if t not in (b"inf", b"infinity"):
                    return None  # out of range, e.g. 1e400: the full parser reports it
            nan = np.isnan(vals)
            if nan.any():
                vals.view(np.uint64)[nan] = np.uint64(NORMAL_NAN_BITS)
        return vals
