"""The math verifier, one module per layer:

- :mod:`.extract` — the final answer in a response (tags, last ``\\boxed{}``, markers, math spans, numbers);
- :mod:`.words` — which letters are words and which are mathematics (shared by every layer);
- :mod:`.normalize` — string clean-up before parsing (delimiters, ``\\dfrac``, units, separators, percent);
- :mod:`.parse` — a safe recursive-descent parser to plain-tuple trees (no ``eval``; typed errors);
- :mod:`.exact` — exact rational values; :mod:`.numeric` — 50-digit values at probe points;
- :mod:`.equiv` — equivalence of two trees (exact, radical via :mod:`.surd`, numeric; containers, relations);
- :mod:`.pool` / :mod:`.worker` — sympy in killable worker processes with a caller-side deadline;
- :mod:`.pipeline` — the one pipeline behind ``verify_math`` and ``verify_many``;
- :mod:`.keys` — answer keys for voting; :mod:`.verifier` — the registered ``MathVerifier``.
"""

from .keys import answer_key
from .pipeline import clear_cache, verify_batch, verify_math
from .verifier import MATH_VERIFIER, MathVerifier

__all__ = ["MATH_VERIFIER", "MathVerifier", "answer_key", "clear_cache", "verify_batch", "verify_math"]
