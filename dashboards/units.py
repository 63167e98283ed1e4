"""Value formatting with Grafana's unit ids (``fieldConfig.defaults.unit``) and decimals rules."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "FormattedValue",
    "format_value",
    "to_fixed",
    "js_number",
    "hover_format",
    "nice_ticks",
]


@dataclass(frozen=True)
class FormattedValue:
    """A formatted number split as Grafana does: ``prefix`` + ``text`` + ``suffix``."""

    text: str
    suffix: str = ""
    prefix: str = ""

    def __str__(self) -> str:
        return f"{self.prefix}{self.text}{self.suffix}"


Formatter = Callable[[float, int | None], FormattedValue]


def js_number(x: float) -> str:
    """``String(x)`` as JavaScript prints a number (shortest round-trip digits, JS exponent rules)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign, digits, exp = Decimal(repr(float(x))).normalize().as_tuple()
    ds = "".join(map(str, digits))
    k = len(ds)
    n = int(exp) + k  # value = 0.ds * 10**n
    neg = "-" if sign else ""
    if k <= n <= 21:
        return neg + ds + "0" * (n - k)
    if 0 < n <= 21:
        return neg + ds[:n] + "." + ds[n:]
    if -6 < n <= 0:
        return neg + "0." + "0" * (-n) + ds
    e = n - 1
    mant = ds[0] + ("." + ds[1:] if k > 1 else "")
    return f"{neg}{mant}e{'+' if e >= 0 else '-'}{abs(e)}"


def _js_round(x: float) -> float:
    return math.floor(x + 0.5)


def _decimals_for_value(value: float) -> int:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return 0
    log10 = math.floor(math.log(abs(value)) / math.log(10))
    dec = -log10 + 1
    magn = 10.0**-dec
    norm = value / magn
    if norm > 2.25:  # 2.5 needs an extra decimal
        dec += 1
    if value % 1 == 0:
        dec = 0
    return max(0, dec)


def to_fixed(value: float | None, decimals: int | None = None) -> str:
    """Grafana's ``toFixed``: automatic decimals when ``decimals`` is None."""
    if value is None:
        return ""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if decimals is None:
        decimals = _decimals_for_value(value)
    decimals = max(0, min(int(decimals), 20))
    if value == 0:
        return f"{0:.{decimals}f}"
    factor = 10**decimals if decimals else 1
    formatted = js_number(_js_round(value * factor) / factor)
    if "e" in formatted:
        return formatted
    dot = formatted.find(".")
    precision = 0 if dot == -1 else len(formatted) - dot - 1
    if precision < decimals:
        return (formatted if precision else formatted + ".") + "0" * (decimals - precision)
    return formatted


def _fixed_unit(unit: str, as_prefix: bool = False) -> Formatter:
    def fmt(v: float, decimals: int | None) -> FormattedValue:
        text = to_fixed(v, decimals)
        if not unit:
            return FormattedValue(text)
        if as_prefix:
            return FormattedValue(text, prefix=unit)
        return FormattedValue(text, suffix=" " + unit)

    return fmt


def _scaled(factor: float, ext: list[str], offset: int = 0) -> Formatter:
    def fmt(v: float, decimals: int | None) -> FormattedValue:
        if math.isnan(v) or math.isinf(v):
            return FormattedValue(to_fixed(v))
        si = math.floor(math.log10(abs(v)) / math.log10(factor)) if v != 0 else -(10**6)
        suffix = ext[min(max(offset + si, 0), len(ext) - 1)]
        scale = min(max(si, -offset), len(ext) - offset - 1)
        return FormattedValue(to_fixed(v / factor**scale, decimals), suffix=suffix)

    return fmt


_SI = ["f", "p", "n", "µ", "m", "", "k", "M", "G", "T", "P", "E", "Z", "Y"]
_SI_BASE = _SI.index("")
_BIN = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"]


def _decimal_si(unit: str, offset: int = 0) -> Formatter:
    return _scaled(1000, [" " + p + unit for p in _SI], _SI_BASE + offset)


def _binary_si(unit: str, offset: int = 0) -> Formatter:
    return _scaled(1024, [" " + p + unit for p in _BIN], offset)


def _count(symbol: str) -> Formatter:
    scaler = _scaled(1000, ["", "K", "M", "B", "T"])

    def fmt(v: float, decimals: int | None) -> FormattedValue:
        f = scaler(v, decimals)
        return FormattedValue(f.text, suffix=f.suffix + " " + symbol)

    return fmt


def _currency(symbol: str, as_suffix: bool = False) -> Formatter:
    scaler = _scaled(1000, ["", "K", "M", "B", "T"])

    def fmt(v: float, decimals: int | None) -> FormattedValue:
        neg = v < 0
        f = scaler(abs(v), decimals)
        prefix, suffix = ("", f.suffix + symbol) if as_suffix else (symbol, f.suffix)
        return FormattedValue(f.text, suffix=suffix, prefix=("-" + prefix) if neg else prefix)

    return fmt


def _percent(v: float, decimals: int | None) -> FormattedValue:
    return FormattedValue(to_fixed(v, decimals), suffix="%")


def _percentunit(v: float, decimals: int | None) -> FormattedValue:
    return FormattedValue(to_fixed(100 * v, decimals), suffix="%")


def _stepped(steps: list[tuple[float, float, str]]) -> Formatter:
    """Time-like units: ``steps`` are (upper bound, divisor, suffix) tried in order."""

    def fmt(v: float, decimals: int | None) -> FormattedValue:
        if math.isnan(v) or math.isinf(v):
            return FormattedValue(to_fixed(v))
        a = abs(v)
        for bound, div, suffix in steps:
            if a < bound:
                return FormattedValue(to_fixed(v / div, decimals), suffix=suffix)
        _, div, suffix = steps[-1]
        return FormattedValue(to_fixed(v / div, decimals), suffix=suffix)

    return fmt


def _seconds(v: float, decimals: int | None) -> FormattedValue:
    if v == 0:
        return FormattedValue("0", suffix=" s")
    if math.isnan(v) or math.isinf(v):
        return FormattedValue(to_fixed(v))
    a = abs(v)
    if a < 1e-6:
        return FormattedValue(to_fixed(v * 1e9, decimals), suffix=" ns")
    if a < 1e-3:
        return FormattedValue(to_fixed(v * 1e6, decimals), suffix=" µs")
    if a < 1:
        return FormattedValue(to_fixed(v * 1e3, decimals), suffix=" ms")
    if a < 60:
        return FormattedValue(to_fixed(v, decimals), suffix=" s")
    if a < 3600:
        return FormattedValue(to_fixed(v / 60, decimals), suffix=" min")
    if a < 86400:
        return FormattedValue(to_fixed(v / 3600, decimals), suffix=" hour")
    if a < 604800:
        return FormattedValue(to_fixed(v / 86400, decimals), suffix=" day")
    if a < 31536000:
        return FormattedValue(to_fixed(v / 604800, decimals), suffix=" week")
    return FormattedValue(to_fixed(v / 3.15569e7, decimals), suffix=" year")


_ms = _stepped(
    [
        (1000, 1, " ms"),
        (60000, 1000, " s"),
        (3600000, 60000, " min"),
        (86400000, 3600000, " hour"),
        (31536000000, 86400000, " day"),
        (math.inf, 31536000000, " year"),
    ],
)
_us = _stepped([(1000, 1, " µs"), (1e6, 1000, " ms"), (math.inf, 1e6, " s")])
_ns = _stepped(
    [(1000, 1, " ns"), (1e6, 1000, " µs"), (1e9, 1e6, " ms"), (6e10, 1e9, " s"), (math.inf, 6e10, " min")],
)
_minutes = _stepped(
    [
        (60, 1, " min"),
        (1440, 60, " hour"),
        (10080, 1440, " day"),
        (604800, 10080, " week"),
        (math.inf, 5.25948e5, " year"),
    ],
)
_hours = _stepped([(24, 1, " hour"), (168, 24, " day"), (8760, 168, " week"), (math.inf, 8760, " year")])
_days = _stepped([(7, 1, " day"), (365, 7, " week"), (math.inf, 365, " year")])

_DURATION_UNITS = [
    ("year", 31536000.0),
    ("month", 2592000.0),
    ("week", 604800.0),
    ("day", 86400.0),
    ("hour", 3600.0),
    ("minute", 60.0),
    ("second", 1.0),
    ("millisecond", 0.001),
]


def _duration(scale_s: float, name: str) -> Formatter:
    def fmt(v: float, decimals: int | None) -> FormattedValue:
        if math.isnan(v) or math.isinf(v):
            return FormattedValue(to_fixed(v))
        if v == 0:
            return FormattedValue(f"0 {name}s")
        if v < 0:
            return FormattedValue(str(fmt(-v, decimals)) + " ago")
        ms = v * scale_s * 1000
        parts: list[str] = []
        left = decimals if decimals is not None else 1
        started = False
        for unit, secs in _DURATION_UNITS:
            if left < 0:
                break
            size = secs * 1000
            q = ms / size
            if q >= 1 or started:
                started = True
                n = math.floor(q)
                parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
                ms = ms % size
                left -= 1
        return FormattedValue(", ".join(parts))

    return fmt


def _hms(v: float, decimals: int | None) -> FormattedValue:
    if math.isnan(v) or math.isinf(v):
        return FormattedValue(to_fixed(v))
    if v < 0:
        return FormattedValue(str(_hms(-v, decimals)) + " ago")
    h, rem = divmod(int(v), 3600)
    m, s = divmod(rem, 60)
    return FormattedValue(f"{h:02d}:{m:02d}:{s:02d}")


def _dhms(v: float, decimals: int | None) -> FormattedValue:
    if math.isnan(v) or math.isinf(v):
        return FormattedValue(to_fixed(v))
    if v < 0:
        return FormattedValue(str(_dhms(-v, decimals)) + " ago")
    d, rem = divmod(int(v), 86400)
    hms = _hms(rem, decimals).text
    return FormattedValue(f"{d} d {hms}" if d else hms)


def _datetime(fmt: str) -> Formatter:
    def f(v: float, decimals: int | None) -> FormattedValue:
        if math.isnan(v) or math.isinf(v):
            return FormattedValue(to_fixed(v))
        return FormattedValue(time.strftime(fmt, time.gmtime(v / 1000)))

    return f


def _from_now(v: float, decimals: int | None) -> FormattedValue:
    if math.isnan(v) or math.isinf(v):
        return FormattedValue(to_fixed(v))
    diff = time.time() - v / 1000
    word = "ago" if diff >= 0 else "from now"
    a = abs(diff)
    for unit, secs in _DURATION_UNITS[:-1]:
        if a >= secs:
            n = round(a / secs)
            return FormattedValue(f"{n} {unit}{'' if n == 1 else 's'} {word}")
    return FormattedValue("a few seconds " + word)


def _bool(t: str, f: str) -> Formatter:
    return lambda v, d: FormattedValue(t if v else f)


def _string(v: float, decimals: int | None) -> FormattedValue:
    return FormattedValue(js_number(v))


def _sci(v: float, decimals: int | None) -> FormattedValue:
    return FormattedValue(f"{v:.{decimals if decimals is not None else 2}e}")


def _locale(v: float, decimals: int | None) -> FormattedValue:
    if decimals is None:
        return FormattedValue(f"{v:,.3f}".rstrip("0").rstrip("."))
    return FormattedValue(f"{v:,.{decimals}f}")


_SHORT = _scaled(1000, ["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept"])

_INDEX: dict[str, Formatter] = {
    "": _fixed_unit(""),
    "none": _fixed_unit(""),
    "string": _string,
    "short": _SHORT,
    "sishort": _decimal_si(""),
    "percent": _percent,
    "percentunit": _percentunit,
    "humidity": _fixed_unit("%H"),
    "dB": _fixed_unit("dB"),
    "sci": _sci,
    "locale": _locale,
    "pixel": _fixed_unit("px"),
    "bits": _binary_si("b"),
    "bytes": _binary_si("B"),
    "kbytes": _binary_si("B", 1),
    "mbytes": _binary_si("B", 2),
    "gbytes": _binary_si("B", 3),
    "tbytes": _binary_si("B", 4),
    "pbytes": _binary_si("B", 5),
    "decbits": _decimal_si("b"),
    "decbytes": _decimal_si("B"),
    "deckbytes": _decimal_si("B", 1),
    "decmbytes": _decimal_si("B", 2),
    "decgbytes": _decimal_si("B", 3),
    "dectbytes": _decimal_si("B", 4),
    "decpbytes": _decimal_si("B", 5),
    "pps": _decimal_si("pps"),
    "bps": _decimal_si("bps"),
    "Bps": _decimal_si("B/s"),
    "KBs": _decimal_si("B/s", 1),
    "Kbits": _decimal_si("bps", 1),
    "MBs": _decimal_si("B/s", 2),
    "Mbits": _decimal_si("bps", 2),
    "GBs": _decimal_si("B/s", 3),
    "Gbits": _decimal_si("bps", 3),
    "TBs": _decimal_si("B/s", 4),
    "Tbits": _decimal_si("bps", 4),
    "binBps": _binary_si("B/s"),
    "binbps": _binary_si("b/s"),
    "hertz": _decimal_si("Hz"),
    "ns": _ns,
    "µs": _us,
    "us": _us,
    "ms": _ms,
    "s": _seconds,
    "m": _minutes,
    "h": _hours,
    "d": _days,
    "dtdurationms": _duration(0.001, "millisecond"),
    "dtdurations": _duration(1.0, "second"),
    "dthms": _hms,
    "dtdhms": _dhms,
    "timeticks": lambda v, d: _seconds(v / 100, d),
    "dateTimeAsIso": _datetime("%Y-%m-%d %H:%M:%S"),
    "dateTimeAsIsoNoDateIfToday": _datetime("%Y-%m-%d %H:%M:%S"),
    "dateTimeAsUS": _datetime("%m/%d/%Y %I:%M:%S %p"),
    "dateTimeAsUSNoDateIfToday": _datetime("%m/%d/%Y %I:%M:%S %p"),
    "dateTimeFromNow": _from_now,
    "cps": _count("cps"),
    "ops": _count("ops"),
    "reqps": _count("reqps"),
    "rps": _count("rps"),
    "wps": _count("wps"),
    "iops": _count("iops"),
    "cpm": _count("cpm"),
    "opm": _count("opm"),
    "rpm": _count("rpm"),
    "wpm": _count("wpm"),
    "watt": _decimal_si("W"),
    "kwatt": _decimal_si("W", 1),
    "volt": _decimal_si("V"),
    "amp": _decimal_si("A"),
    "joule": _decimal_si("J"),
    "celsius": _fixed_unit("°C"),
    "fahrenheit": _fixed_unit("°F"),
    "kelvin": _fixed_unit("K"),
    "currencyUSD": _currency("$"),
    "currencyEUR": _currency("€"),
    "currencyGBP": _currency("£"),
    "bool": _bool("True", "False"),
    "bool_yes_no": _bool("Yes", "No"),
    "bool_on_off": _bool("On", "Off"),
    "degree": _fixed_unit("°"),
    "lengthm": _decimal_si("m"),
    "litre": _decimal_si("L"),
    "velocityms": _fixed_unit("m/s"),
}


def _formatter(unit: str | None) -> Formatter:
    unit = unit or ""
    fmt = _INDEX.get(unit)
    if fmt is not None:
        return fmt
    key, sep, sub = unit.partition(":")
    if sep and key:
        if key == "prefix":
            return _fixed_unit(sub, as_prefix=True)
        if key == "suffix":
            return _fixed_unit(sub)
        if key == "si":
            off = _SI.index(sub[0]) - _SI_BASE if sub and sub[0] in _SI and len(sub) > 1 else 0
            return _decimal_si(sub[1:] if off else sub, off)
        if key == "count":
            return _count(sub)
        if key == "currency":
            return _currency(sub)
        if key == "bool":
            t, _, f = sub.partition("/")
            return _bool(t, f or "-")
        if key == "time":
            return _datetime("%Y-%m-%d %H:%M:%S")
    return _fixed_unit(unit)


def format_value(value: float | None, unit: str | None = None, decimals: int | None = None) -> FormattedValue:
    """Format ``value`` like Grafana for the unit id ``unit`` (unknown ids become a suffix)."""
    if value is None:
        return FormattedValue("")
    v = float(value)
    if math.isnan(v):
        return FormattedValue("NaN")
    return _formatter(unit)(v, decimals)


def hover_format(unit: str | None, decimals: int | None = None) -> str:
    """A plotly ``hovertemplate`` number spec approximating ``unit`` (d3-format, for hover labels)."""
    unit = unit or ""
    d = decimals
    if unit in ("percent",):
        return f"%{{y:.{d if d is not None else 1}f}}%"
    if unit == "percentunit":
        return f"%{{y:.{d if d is not None else 1}%}}"
    sig = f".{max(d + 1, 1)}~s" if d is not None else ".3~s"
    suffixes = {
        "s": "s",
        "bytes": "B",
        "decbytes": "B",
        "bits": "b",
        "decbits": "b",
        "Bps": "B/s",
        "binBps": "B/s",
        "bps": "bps",
        "reqps": " reqps",
        "ops": " ops",
        "cps": " cps",
        "iops": " iops",
        "pps": " pps",
        "hertz": "Hz",
        "watt": "W",
        "short": "",
        "none": "",
        "": "",
    }
    if unit == "ms":
        return f"%{{y:{sig}}} ms"
    if unit in suffixes:
        return f"%{{y:{sig}}}{suffixes[unit]}"
    if unit.startswith("suffix:"):
        return f"%{{y:{sig}}}{unit[7:]}"
    return f"%{{y:{sig}}} {unit}" if unit else f"%{{y:{sig}}}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` evenly spaced round tick values from <= ``lo`` to >= ``hi``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        if lo == 0:
            return [0.0, 1.0]
        span = abs(lo) * 0.5
        lo, hi = lo - span, hi + span
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = 10 * mag
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            step = m * mag
            break
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    n = int(round((last - first) / step))
    return [float(f"{first + i * step:.12g}") for i in range(min(n, 60) + 1)]
