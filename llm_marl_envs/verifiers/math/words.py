"""Which letters in an answer are words and which are mathematics (one list, shared by every layer).

A *word* is a run of two or more letters with a vowel that is neither a LaTeX command (``\\frac``), a
name of a function or constant written in plain text (``sin``, ``pi``) nor ``and``/``or`` (which
join answers). ``2xy`` and ``sin x`` are mathematics; ``It is 50`` and ``odd`` are words.
"""

from __future__ import annotations

import re

# Plain-text names of functions and constants (``2 sin x``, ``2pi``): mathematics, not words.
MATH_FUNCTION_NAMES = frozenset(
    "pi sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp sqrt max min gcd lcm mod det".split()
)
MATH_WORDS = MATH_FUNCTION_NAMES | {"or", "and"}  # "x = 2 or x = 3" lists solutions

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
