"""Normalisation of an extracted answer string before parsing (pure string work, linear time).

What it does, in order: markdown bold, unicode math, math delimiters (``$``, ``\\(…\\)``), sizing
(``\\left``/``\\right``/``\\big``), spacing commands, ``\\dfrac``/``\\tfrac`` -> ``\\frac``, ``\\frac12`` ->
``\\frac{1}{2}``, ``\\sqrt2`` -> ``\\sqrt{2}``, degrees (``^\\circ`` -> ``°``), percent and currency signs
(dropped here: ``50\\%`` reads 50; the pipeline may also read it as 0.5, see :func:`has_percent`), ``\\text{…}`` (unit words after a value are dropped;
``\\text{ and }`` becomes a comma; a lone ``\\text{…}`` keeps its content), plain unit words after a
number (``12 cm``; a unit is :func:`.words.is_unit_phrase`, so ``34 or more`` and ``34 \\text{ is wrong}``
keep their words), thousands separators (``1,000``, ``1{,}000``, ``1{, }000``), a trailing period.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .extract import match_brace
from .words import MATH_FUNCTION_NAMES, is_unit_phrase

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u00d7": "\\times ", "\u00f7": "\\div ", "\u221a": "\\sqrt", "\u03c0": "\\pi ",
    "\u221e": "\\infty ", "\u00b7": "\\cdot ", "\u2264": "\\le ", "\u2265": "\\ge ", "\u00b0": "°",
    "\u2260": "\\neq ", "\u2248": "\\approx ", "\u00b1": "\\pm ",
}
_TEXT_CMDS = ("text", "textbf", "textit", "textrm", "mathrm", "mathbf", "mathit", "mbox", "operatorname", "textnormal", "mathsf", "rm", "bf")
_TEXT_RE = re.compile(r"\\(?:" + "|".join(_TEXT_CMDS) + r")\s*\{")
_SPACING_RE = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad\b|~|\\(?:displaystyle|textstyle|limits|nolimits)\b")
_SIZING_RE = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![a-zA-Z])\s*")
_DEGREE_RE = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ\b|\\circ\b|\\degree\b|\^\s*\{\s*°\s*\}|\^°|\\text\{\s*°\s*\}")
_UNIT_WORDS_RE = re.compile(r"^(?P<value>[-+]?[\d.,/]*\d)(?P<space>\s*)(?P<unit>(?:[a-zA-Z]{2,}\.?|[a-zA-Z]{2,}\^\d)(?:\s+[a-zA-Z]+\.?(?:\^\d)?)*)$")
PLAIN_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
_BRACED_COMMA_RE = re.compile(r"(?<!\\)\{\s*,\s*\}")
_PERCENT_RE = re.compile(r"%|\\text\{\s*percent\s*\}|\bpercent\b")
_SEPARATED_INT_RE = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_SPACE_SEPARATED_INT_RE = re.compile(r"^[-+]?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
# Words after a number that are mathematics, not units: "2pi" is 2*pi and "2 sin x" is 2*sin(x), not 2.
# After a number, neither those nor words that change the value ("2 thousand" is not 2) are units.
_MATH_NAMES = MATH_FUNCTION_NAMES | frozenset(
    "hundred thousand million billion trillion dozen squared cubed factorial half halves percent".split()
)


# Units written without a space ("5cm"); otherwise letters right after a number are variables ("6xy").
_GLUED_UNITS = frozenset("mm cm km kg mg ml lb lbs oz ft yd mi hr hrs min mins sec secs mph kph kmh".split())


def _first_word(unit: str) -> str:
    return re.split(r"[\s.^]", unit.strip(), maxsplit=1)[0].lower()


def _is_math_name(unit: str) -> bool:
    return _first_word(unit) in _MATH_NAMES


def _is_unit(unit: str, *, spaced: bool) -> bool:
    """Whether words after a number are a unit to drop: a unit phrase (:func:`.words.is_unit_phrase`:
    never "34 or more", "34 is wrong", "2 thousand"), not mathematics ("2pi"), and glued to the number
    only when a known short unit."""
    if _is_math_name(unit) or not is_unit_phrase(unit):
        return False
    return spaced or _first_word(unit) in _GLUED_UNITS


_UNIT_AFTER_TEXT_RE = re.compile(r"^\s*(?:\^\s*\{?\s*\d\s*\}?)")


def _ends_with_value(before: str) -> bool:
    """Whether text ends with a value (a digit, a brace or bracket, a command such as ``\\pi``), so that
    a ``\\text{…}`` after it can be its unit; never after a word (``\\text{Monday}\\text{Tuesday}``)."""
    b = before.rstrip()
    return bool(b) and not re.search(r"(?<![\\A-Za-z])[A-Za-z]{2,}$", b)


def _replace_text_commands(s: str) -> str:
    """``\\text{X}``: a comma for "and"/"or", nothing for unit words after a value, else ``X``."""
    out = []
    pos = 0
    for _ in range(200):
        m = _TEXT_RE.search(s, pos)
        if m is None:
            break
        end = match_brace(s, m.end() - 1)
        if end < 0:
            break
        inner = s[m.end() : end].strip()
        before = "".join(out) + s[pos : m.start()]
        tail = s[end + 1 :]
        if inner.lower().replace(" ", "") in ("and", "or", ",", "and,", ",and", ",or"):
            rep = ","
        elif _ends_with_value(before) and is_unit_phrase(inner) and len(inner) >= 2 and not _is_math_name(inner) and (
            not tail.strip() or _UNIT_AFTER_TEXT_RE.match(tail) or tail.strip().startswith((",", ")"))
        ):
            rep = ""  # a unit word after a value: "12\text{ cm}", "5\text{ dollars}"
            um = _UNIT_AFTER_TEXT_RE.match(tail)
            if um:
                end += um.end()
        else:
            rep = inner
        out.append(s[pos : m.start()] + rep)
        pos = end + 1
    out.append(s[pos:])
    return "".join(out)


def _fix_short_args(s: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{x}`` -> ``\\frac{1}{x}``, ``\\sqrt2`` -> ``\\sqrt{2}``."""
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*(?=\{)", r"\\frac{\1}", s)
    s = re.sub(r"\\frac\s*(\{[^{}]*\})\s*(\d)", r"\\frac\1{\2}", s)
    s = re.sub(r"\\frac\s*([a-zA-Z])\s*([a-zA-Z0-9])", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    s = re.sub(r"\\sqrt\s*([a-zA-Z])(?![a-zA-Z])", r"\\sqrt{\1}", s)
    return s


def has_percent(s: str) -> bool:
    """Whether an answer string is written with a percent sign (``50\\%``, ``50%``, ``50 percent``)."""
    return isinstance(s, str) and bool(_PERCENT_RE.search(s))


def normalize_answer(s: str) -> str:
    """A cleaned form of an extracted answer (see the module docstring); never raises."""
    if not isinstance(s, str):
        return ""
    return _normalize(s)


def _clear() -> None:
    _normalize.cache_clear()


normalize_answer.cache_clear = _clear  # type: ignore[attr-defined]


@lru_cache(maxsize=65536)
def _normalize(s: str) -> str:
    if PLAIN_NUMBER_RE.fullmatch(s):  # fast path: "18", "-3.5" (most GSM8K answers) need nothing
        return s
    s = s.strip().strip("*_").strip()  # markdown emphasis around or beside an answer: **18**, 18**
    for k, v in _UNICODE.items():
        if k in s:
            s = s.replace(k, v)
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"\\[()\[\]]", " ", s)
    s = _SIZING_RE.sub("", s)
    s = s.replace("\\left.", "").replace("\\right.", "")
    s = re.sub(r"(?<=\d)\\[,;: ](?=\d{3}(?!\d))", "", s)  # 1\,000\,000
    s = re.sub(r"(?<=\d),\s*\\!\s*(?=\d{3}(?!\d))", ",", s)  # 10,\!080 (MATH's thousands separator)
    s = _SPACING_RE.sub(" ", s)
    s = _BRACED_COMMA_RE.sub("", s)  # 1{,}000 and 1{, }000
    s = re.sub(r"\\[dtc]frac(?![a-zA-Z])", r"\\frac", s)
    s = _DEGREE_RE.sub("°", s)
    s = re.sub(r"\\%|%|\\text\{\s*percent\s*\}|\bpercent\b", "", s)
    s = _replace_text_commands(s)
    s = _fix_short_args(s)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r",\s*(?:and|or)\s+", ", ", s)  # "2, 3, and 4"
    s = re.sub(r",\s*(?:,\s*)+", ", ", s)
    s = s.rstrip(".").rstrip()
    m = _UNIT_WORDS_RE.match(s)
    if m and _is_unit(m.group("unit"), spaced=bool(m.group("space"))):
        s = m.group("value")
    if _SEPARATED_INT_RE.match(s) or _SPACE_SEPARATED_INT_RE.match(s):
        s = s.replace(",", "").replace(" ", "")
    return s
