"""Which letters in an answer are words and which are mathematics (one list, shared by every layer).

A *word* is a run of two or more letters with a vowel that is neither a LaTeX command (``\\frac``), a
name of a function or constant written in plain text (``sin``, ``pi``) nor ``and``/``or`` (which
join answers). ``2xy`` and ``sin x`` are mathematics; ``It is 50`` and ``odd`` are words.

A value is *stated* only when no qualifier touches it. :data:`QUALIFIER_WORDS` (English function
words, comparisons, hedges and multipliers) are never part of a unit (``34 or more``, ``34 is wrong``,
``34 thousand`` are not ``34`` with a unit), and :func:`hedged` says whether the words right before
or after a value qualify it (``at least 34``, ``not 34``, ``greater than $34$``, ``34 or more``).
"""

from __future__ import annotations

import re

# Plain-text names of functions and constants (``2 sin x``, ``2pi``): mathematics, not words.
MATH_FUNCTION_NAMES = frozenset(
    "pi sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp sqrt max min gcd lcm mod det".split()
)
MATH_WORDS = MATH_FUNCTION_NAMES | {"or", "and"}  # "x = 2 or x = 3" lists solutions

# Never part of a unit: function words (articles, copulas, pronouns, prepositions other than "per", "of", "in",
# conjunctions, negations), comparisons and hedges, and words that multiply or change a value.
QUALIFIER_WORDS = frozenset(
    """a an the this that these those it its is are was were be been am not no nor never or and but except
    besides than at least most more less fewer greater larger smaller bigger higher lower over under above
    below beyond up down to from on by with without within between if unless when whenever else only
    any all every each some none other otherwise plus minus times divided approximately approx about around
    roughly nearly almost near maybe perhaps probably possibly ish tops max maximum min minimum inclusive
    exclusive wrong incorrect false true correct so then therefore hence thus because since which who what
    where how why i we you he she they as for exceeds exceed exceeding hundred hundreds thousand thousands
    million millions billion billions trillion trillions dozen dozens tens half halves twice double triple
    squared cubed factorial percent""".split()
)
MAX_UNIT_WORDS = 4
_ONE_LETTER_UNITS = frozenset("m g s h l L K".split())  # metres, grams, seconds, hours, litres, kelvin

# Right before a value: a negation, comparison or hedge ("not 34", "at least 34", "greater than $34$",
# "about 34", "multiples of 34", "\\ge 34"); right after it: an alternative, a bound or a denial
# ("34 or more", "34 at most", "34 and up", "34 max", "34 is not the answer").
_HEDGE_BEFORE_RE = re.compile(
    r"(?:\b(?:not|no|never|than|least|most|except|but|besides|other|near|nearly|about|around|approximately|approx"
    r"|roughly|almost|over|under|above|below|beyond|within|exceeds?|exceeding|up\s+to|maybe|perhaps|probably|possibly"
    r"|(?:multiples?|factors?|divisors?|roots?|half|third|quarter|powers?|fractions?|inverse|reciprocal|square|cube"
    r"|logarithm|log)\s+of)|[<>~\u2264\u2265\u2260\u2248]|\\(?:ge|le|geq|leq|gt|lt|neq|ne|approx|sim|not))[\s$(]*$",
    re.I,
)
_HEDGE_AFTER_RE = re.compile(
    r"^[\s$)]*(?:(?:or|plus|minus|times|max|maximum|min|minimum|tops|ish|at\s+(?:least|most)"
    r"|and\s+(?:up|above|over|more|higher|beyond|below|less|lower|under|fewer)"
    r"|(?:is|was|are|were)\s+(?:not|wrong|incorrect|false)|isn't|wasn't|aren't)\b|[+?])",
    re.I,
)


# A sentence with one of these is uncertain or conditional ("Nobody knows whether it is 34", "If n is
# even, it is 34", "My guess is 34"): it does not state its value. Modal verbs are not hedges here ("The
# most she could buy is 34" states 34).
_UNCERTAIN_RE = re.compile(
    r"\b(?:if|unless|whether|suppose|supposing|assume|assuming|maybe|perhaps|probably|possibly|"
    r"guess|guessing|unsure|unclear|unknown|doubt|doubtful|uncertain|approximately|roughly|"
    r"nearly|almost|about|around|estimate|estimated)\b",
    re.I,
)


def is_uncertain(text: str) -> bool:
    """Whether a sentence hedges or sets a condition (``maybe``, ``whether``, ``if``, ``about`` ...)."""
    return bool(_UNCERTAIN_RE.search(text))


def is_unit_phrase(text: str) -> bool:
    """Whether words after a value are a unit (``cm``, ``square meters``, ``miles per hour``, ``km/h``): one to
    :data:`MAX_UNIT_WORDS` words of letters, none a qualifier (:data:`QUALIFIER_WORDS`) or a math name,
    and no single letter but ``m g s h l L K`` (``34 x`` is 34x)."""
    words = re.findall(r"[A-Za-z]+", text)
    if not words or len(words) > MAX_UNIT_WORDS or not re.fullmatch(r"[A-Za-z\s.^\d/]*", text):
        return False
    if any(len(w) == 1 and w not in _ONE_LETTER_UNITS for w in words):
        return False  # "34 x/y" is 34x/y, not 34 with a unit
    return not any(w.lower() in QUALIFIER_WORDS or w.lower() in MATH_FUNCTION_NAMES for w in words)


_MIXED_SCRIPT_RE = re.compile(r"(?=\S*[A-Za-z])(?=\S*[^\W\d_A-Za-z])\S+")


def _mixed_script(word: str) -> bool:
    """Whether a word mixes ASCII letters with other letters (``nоt`` with a Cyrillic ``о``)."""
    return bool(_MIXED_SCRIPT_RE.fullmatch(word))


def hedged(before: str, after: str) -> bool:
    """Whether the text right ``before`` a value or right ``after`` it qualifies the value, so that
    the value is not stated as the answer (see the module docstring). A neighbouring word that mixes
    scripts (a look-alike such as ``nоt``) counts as a qualifier: word lists cannot read it."""
    if _HEDGE_BEFORE_RE.search(before[-60:]) or _HEDGE_AFTER_RE.match(after[:40]):
        return True
    words_before, words_after = before.split()[-2:], after.split()[:2]
    return any(_mixed_script(w) for w in words_before + words_after)


_LETTER_RUN = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_VOWEL = re.compile(r"[aeiouAEIOU]")


def is_word(run: str) -> bool:
    """Whether a run of letters is a word (has a vowel, is not a math name)."""
    return bool(_VOWEL.search(run)) and run.lower() not in MATH_WORDS


def looks_like_prose(text: str) -> bool:
    """Whether ``text`` has a word in it (``"It is 50."``, ``"so 7"``; not ``"2xy"``, ``"\\frac"``, ``"sin x"``)."""
    return any(is_word(w) for w in _LETTER_RUN.findall(text))


def starts_with_prose(text: str) -> bool:
    """Whether ``text`` opens with a word (``"The largest $n$ is 34"``; not ``"5 meters"``, ``"x = 2"``)."""
    m = re.match(r"[\s*_(\"']*([A-Za-z]{2,})(?![A-Za-z])", text)
    return bool(m) and is_word(m.group(1)) and not text.lstrip(" *_(\"'").startswith("\\")
