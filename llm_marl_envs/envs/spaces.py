"""A permissive ``gymnasium.spaces.Text``: any string within the length bound is a member.

Gymnasium's ``Text`` only accepts characters from its charset (alphanumerics by default), so LaTeX,
newlines or code would be "out of bounds" for PettingZoo's ``api_test``. ``AnyText`` keeps being a
``Text`` (tooling keeps working) but ``contains`` checks only the type and the length, and
``sample()`` draws short strings from a printable charset that includes whitespace, control
characters and some non-ASCII text (so PettingZoo's random actions fuzz the env).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
from gymnasium.spaces import Text

#: Characters ``AnyText.sample`` draws from: printable ASCII, tab/newline/CR, a few control
#: characters, LaTeX-ish and non-Latin text.
SAMPLE_CHARSET = "".join(
    dict.fromkeys(string.printable + "\x00\x07\x1b\u00e9\u00df\u03c0\u2264\u221a\u4e2d\u6587\U0001f600")
)

#: The length bound of observation and action strings.
MAX_TEXT_LENGTH = 2**24


class AnyText(Text):
    """A ``Text`` space whose members are all strings of length ``min_length..max_length``.

    Args:
        max_length: the longest member.
        min_length: the shortest member (0: the empty string is allowed).
        sample_max_length: the longest string ``sample()`` draws (keeps random play fast).
        seed: seed of the sampling RNG.
    """

    def __init__(
        self,
        max_length: int = MAX_TEXT_LENGTH,
        *,
        min_length: int = 0,
        sample_max_length: int = 64,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(max_length, min_length=min_length, charset=SAMPLE_CHARSET, seed=seed)
        self.sample_max_length = max(min_length, min(sample_max_length, max_length))

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """A random string of ``min_length..sample_max_length`` characters (masks are ignored)."""
        length = int(self.np_random.integers(self.min_length, self.sample_max_length + 1))
        idx = self.np_random.integers(0, len(self.character_list), size=length)
        return "".join(self.character_list[i] for i in idx)

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, AnyText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
            and self.sample_max_length == other.sample_max_length
        )

    __hash__ = None  # type: ignore[assignment]  # like every gymnasium space
