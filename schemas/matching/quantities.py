"""Numbers with units in short answers: parse them, convert to base units, compare values.

"0.5 g" equals "500 mg", "40 %" equals "40 percent", "2.5 mg/kg" is not "2.5 mg", "1-2 mg" is a range and
"< 5 mm" is not "5 mm". Units are products and quotients of known units ("mg/kg/day", "mmol per L",
"x 10^9/L"); a unit this module does not know is left to the word comparison. Temperatures in °F are converted
to °C. Number words ("forty", "twice") are read as digits before parsing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

# unit → (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {}
_SYMBOL: dict[str, str] = {}  # any spelling → the first one listed (for display)


def _add(dim: str, factor: float, *names: str) -> None:
    for n in names:
        _UNITS[n] = (dim, factor)
        _SYMBOL[n] = names[0]


_add("mass", 1e3, "kg", "kgs", "kilogram", "kilograms", "kilogramme", "kilogrammes")
_add("mass", 1.0, "g", "gm", "gms", "gram", "grams", "gramme", "grammes")
_add("mass", 1e-3, "mg", "mgs", "milligram", "milligrams", "milligramme", "milligrammes")
_add("mass", 1e-6, "mcg", "ug", "microgram", "micrograms", "microgramme", "microgrammes")
_add("mass", 1e-9, "ng", "nanogram", "nanograms")
_add("volume", 1.0, "l", "liter", "liters", "litre", "litres")
_add("volume", 0.1, "dl", "deciliter", "deciliters", "decilitre", "decilitres")
_add("volume", 1e-3, "ml", "cc", "milliliter", "milliliters", "millilitre", "millilitres")
_add("volume", 1e-6, "ul", "microliter", "microliters", "microlitre", "microlitres")
_add("amount", 1.0, "mol", "mole", "moles")
_add("amount", 1e-3, "mmol", "millimole", "millimoles")
_add("amount", 1e-6, "umol", "micromole", "micromoles")
_add("amount", 1e-9, "nmol", "nanomole", "nanomoles")
_add("equivalent", 1e-3, "meq", "milliequivalent", "milliequivalents")
_add("unit", 1.0, "iu", "u", "unit", "units", "international unit", "international units")
_add("unit", 1e-3, "miu", "mu")
_add("length", 1.0, "m", "meter", "meters", "metre", "metres")
_add("length", 1e-2, "cm", "centimeter", "centimeters", "centimetre", "centimetres")
_add("length", 1e-3, "mm", "millimeter", "millimeters", "millimetre", "millimetres")
_add("length", 1e-6, "um", "micrometer", "micrometers", "micrometre", "micrometres", "micron", "microns")
_add("length", 0.0254, "inch", "inches")
_add("time", 1.0, "s", "sec", "secs", "second", "seconds")
_add("time", 1e-3, "ms", "msec", "millisecond", "milliseconds")
_add("time", 60.0, "min", "mins", "minute", "minutes")
_add("time", 3600.0, "h", "hr", "hrs", "hour", "hours")
_add("time", 86400.0, "day", "days")
_add("time", 604800.0, "wk", "wks", "week", "weeks")
_add("time", 2629800.0, "mo", "month", "months")
_add("time", 31557600.0, "yr", "yrs", "year", "years")
_add("percent", 1.0, "%", "percent", "pct")
_add("pressure", 1.0, "mmhg", "mm hg")
_add("pressure", 7.50062, "kpa")
_add("pressure_water", 1.0, "cmh2o", "cm h2o")
_add("temperature", 1.0, "c", "degc", "celsius", "degrees celsius", "degree celsius", "degrees c")
_add("fahrenheit", 1.0, "f", "degf", "fahrenheit", "degrees fahrenheit", "degrees f")
_add("dose_radiation", 1.0, "gy", "gray")
_add("frequency", 1.0, "hz", "hertz")
_add("energy", 1.0, "kcal", "calorie", "calories")
_add("fold", 1.0, "fold", "times", "x")
_BASE = {"mass": "g", "volume": "L", "amount": "mol", "equivalent": "eq", "unit": "IU", "length": "m"}
_BASE |= {"time": "s", "percent": "%", "pressure": "mmHg", "pressure_water": "cmH2O", "temperature": "C"}
_add("beats", 1.0, "bpm")  # beats per minute: read as a count per minute below
_add(
    "count", 1.0, "cell", "cells", "beat", "beats", "breath", "breaths", "drop", "drops", "tablet", "tablets"
)

_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_NUM = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+"
_EXP = r"(?:\s*x\s*10\s*\^?\s*(-?\d+)|e(-?\d+))?"
_CMP = (
    r"(<=|>=|<|>|less than or equal to|greater than or equal to|less than|fewer than|more than|greater than|"
)
_CMP += r"at least|at most|up to|no more than|over|above|under|below|exceeding)?"
_PER = rf"\s*(?:/|per\b)\s*(?:1\.73\s*m\^?2|{_UNIT_ALT})"
# a counted noun before "/unit" ("compressions/min", "cells per microlitre") is dimensionless
_UNIT_EXPR = rf"(?:(?:{_UNIT_ALT})(?:{_PER})*|(?:[a-z]+)?(?:{_PER})+)"
# blood pressure and other "a/b" pairs without a unit in between: one quantity, compared as a pair
_PAIR = re.compile(r"(?<![\w./])(\d+)\s*/\s*(\d+)(?:\s*mm\s*hg)?(?![\w./])")
_QUANTITY = re.compile(
    rf"{_CMP}\s*(?<![\w.])({_NUM}){_EXP}"
    rf"(?:\s*(?:-|to)\s*({_NUM}){_EXP})?"
    rf"(?:\s*({_UNIT_EXPR})(?![a-z0-9]|-[a-z]))?"
)
_CMP_CANON = {
    "<": "<",
    "less than": "<",
    "fewer than": "<",
    "under": "<",
    "below": "<",
    ">": ">",
    "more than": ">",
    "greater than": ">",
    "over": ">",
    "above": ">",
    "exceeding": ">",
    "<=": "<=",
    "less than or equal to": "<=",
    "at most": "<=",
    "up to": "<=",
    "no more than": "<=",
    ">=": ">=",
    "greater than or equal to": ">=",
    "at least": ">=",
}

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
)
_ONES += " seventeen eighteen nineteen"
_NUMBER_WORDS = {w: i for i, w in enumerate(_ONES.split())}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
_TENS["ninety"] = 90
_WORD_NUMBER = re.compile(
    r"\b("
    + "|".join(_TENS)
    + r")(?:[\s-]("
    + "|".join(list(_NUMBER_WORDS)[1:10])
    + r"))?\b|\b("
    + "|".join(_NUMBER_WORDS)
    + r"|hundred|once|twice|thrice|half)\b"
)
_SPECIAL_WORDS = {"hundred": "100", "once": "1 times", "twice": "2 times", "thrice": "3 times", "half": "0.5"}


def _words_to_digits(m: re.Match[str]) -> str:
    if m.group(1):
        return str(_TENS[m.group(1)] + (_NUMBER_WORDS[m.group(2)] if m.group(2) else 0))
    w = m.group(3)
    return _SPECIAL_WORDS.get(w, str(_NUMBER_WORDS.get(w, w)))


_GREEK = {"α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "κ": "kappa", "λ": "lambda", "ω": "omega"}
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
# "40% or less" → "<= 40%": a trailing comparator moved in front of the value it follows
_TRAILING_CMP = re.compile(
    r"(-?\d[\d.,]*(?:\s*[a-z%/]+(?:/[a-z]+)*)?)\s+(or less|or lower|or fewer|or below|and below|or under|or more|"
    r"or higher|or greater|or above|and above|and over|or over)\b"
)
_TRAILING_CANON = {w: "<=" for w in ("or less", "or lower", "or fewer", "or below", "and below", "or under")}


def _trailing(m: re.Match[str]) -> str:
    return f"{_TRAILING_CANON.get(m.group(2), '>=')} {m.group(1)}"


def prepare(text: str) -> str:
    """Lower case, ASCII symbols for units (µ → u, ° dropped, × → x, dashes → -), number words as digits,
    accents folded ("Barré" → "barre"), Greek letters spelt out (β → beta), "10⁹" as "10^9"."""
    text = re.sub(r"10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)", lambda m: "10^" + m.group(1).translate(_SUPERSCRIPT), text)
    text = text.replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00d7", "x").replace("\u2217", "x")
    text = "".join(_GREEK.get(ch, ch) for ch in text.lower())
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = (
        text.replace("\u2264", "<=").replace("\u2265", ">=").replace("°", " ").replace("per cent", "percent")
    )
    text = re.sub(r"(\d)\s*\^\s*", r"\1^", text)
    text = _WORD_NUMBER.sub(_words_to_digits, text)
    return _TRAILING_CMP.sub(_trailing, text)


@dataclass(frozen=True)
class Quantity:
    """A value or a range in base units; `dims` is the unit as sorted numerator/denominator dimensions."""

    low: float
    high: float
    dims: tuple[tuple[str, ...], tuple[str, ...]]
    cmp: str
    span: tuple[int, int]
    per: tuple[str, ...] = ()  # the denominator units as written (only for display)
    per_factor: float = 1.0

    @property
    def has_unit(self) -> bool:
        return bool(self.dims[0] or self.dims[1])

    def render(self) -> str:
        def fmt(x: float) -> str:
            return f"{x:.6g}"

        lo, hi = self.low * self.per_factor, self.high * self.per_factor
        if self.dims[0] == ("pair",):
            return f"{fmt(lo)}/{fmt(hi)}"
        value = fmt(lo) if lo == hi else f"{fmt(lo)}-{fmt(hi)}"
        unit = "*".join(_BASE.get(d, d) for d in self.dims[0]) + "".join("/" + p for p in self.per)
        return f"{self.cmp}{value}{' ' + unit if unit else ''}"

    def same_dims(self, other: Quantity) -> bool:
        return self.dims == other.dims

    def equals(self, other: Quantity) -> bool:
        return (
            self.dims == other.dims
            and self.cmp == other.cmp
            and math.isclose(self.low, other.low, rel_tol=1e-6, abs_tol=1e-12)
            and math.isclose(self.high, other.high, rel_tol=1e-6, abs_tol=1e-12)
        )


def _number(s: str, exp: str | None) -> float:
    return float(s.replace(",", "")) * (10.0 ** int(exp) if exp else 1.0)


@dataclass
class _Unit:
    factor: float = 1.0
    num: list[str] = field(default_factory=list)
    den: list[str] = field(default_factory=list)
    per: list[str] = field(default_factory=list)
    per_factor: float = 1.0
    fahrenheit: bool = False


def _unit(expr: str | None) -> _Unit:
    """Factor to base units, dimensions, and whether the unit is °F (converted to °C by the caller)."""
    u = _Unit()
    if not expr:
        return u
    for i, part in enumerate(re.split(r"\s*(?:/|\bper\b)\s*", expr.strip())):
        part = re.sub(r"^\d+(?:\.\d+)?\s*", "", part).strip()  # "/1.73 m2"-style normalisers: keep the unit
        if not part:  # "x 10^9/L": no numerator unit
            continue
        dim, f = _UNITS.get(part, ("count" if i == 0 else part, 1.0))
        if dim == "count":  # counts are dimensionless: "beats/min" is "/min"
            continue
        if dim == "fahrenheit":
            dim, u.fahrenheit = "temperature", True
        if dim == "beats":  # bpm = beats / minute
            u.den.append("time")
            u.per.append("min")
            u.factor /= 60.0
            u.per_factor = 60.0
            continue
        if i == 0:
            u.num.append(dim)
            u.factor *= f
        else:
            u.den.append(dim)
            u.per.append(_SYMBOL.get(part, part))
            u.factor /= f
            u.per_factor *= f
    return u


def quantities(text: str) -> list[Quantity]:
    """Every number in `text` (already `prepare`d), with its unit, comparator and range where present."""
    out = []
    for m in _PAIR.finditer(text):
        out.append(Quantity(float(m.group(1)), float(m.group(2)), (("pair",), ()), "", m.span()))
    text = strip_quantities(text, out)
    for m in _QUANTITY.finditer(text):
        cmp_word, lo_s, lo_exp, lo_exp2, hi_s, hi_exp, hi_exp2, unit_expr = m.groups()
        if m.group(0).strip() == "" or lo_s is None:
            continue
        u = _unit(unit_expr)
        lo = _number(lo_s, lo_exp or lo_exp2)
        hi = _number(hi_s, hi_exp or hi_exp2) if hi_s is not None else lo
        if hi_s is not None and hi < lo and hi_s.startswith("-"):  # "1 -2" read as a range with a sign slip
            hi = -hi
        lo, hi = lo * u.factor, hi * u.factor
        if u.fahrenheit:
            lo, hi = (lo - 32) * 5 / 9, (hi - 32) * 5 / 9
        cmp = _CMP_CANON.get((cmp_word or "").strip(), "")
        dims = (tuple(sorted(u.num)), tuple(sorted(u.den)))
        out.append(Quantity(min(lo, hi), max(lo, hi), dims, cmp, m.span(), tuple(u.per), u.per_factor))
    return out


def strip_quantities(text: str, found: list[Quantity]) -> str:
    """The text with the quantities' spans blanked (what is left is compared as words)."""
    chars = list(text)
    for q in found:
        for i in range(*q.span):
            chars[i] = " "
    return "".join(chars)
