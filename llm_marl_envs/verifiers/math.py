"""The math verifier: ``verify_math(response, gold)`` and the registered ``MathVerifier`` (``"math"``).

Pipeline (each step can decide; later steps run only when needed):

1. **Extraction** of the final answer (:mod:`.math_extract`: ``<answer>`` tags, last ``\\boxed{}``,
   "answer is"/``####`` markers, last inline math or last number; a response that is one short line
   of math is taken whole). Nothing found -> ``status="no_answer"``.
2. **Normalisation** (:mod:`.math_normalize`) and string equality of the normalised forms.
3. **Safe parsing** of both sides into trees (:mod:`.math_parser`; no ``eval``; size, node and depth
   limits -> ``status="error"``).
4. **Exact and numeric equivalence** in-process (:mod:`.math_equiv`): rationals exactly, radicals and
   pi exactly (:mod:`.math_surd`), anything else probed numerically at 50 digits (variables are
   positive reals); clear differences decide "wrong" here. Towers, huge factorials and huge trig
   arguments answer ``status="error"`` at once.
5. **Symbolic confirmation** with sympy in a worker process (:mod:`.math_pool`) that is killed at
   the deadline: proves equality, or disproves it. A timeout gives ``status="timeout"`` unless the
   numeric probe already agreed (then ``correct`` with a detail saying so).

A decimal answer with at least 6 significant digits also matches a gold without an exact decimal
form that it rounds to (within half a unit in its last place): ``1.41421`` for ``\\sqrt2``; ``0.33``
for ``1/3`` does not, and near misses of integers or terminating decimals (``4.99999`` for 5) never do.
Percentages are read at face value (``50\\%`` is 50); there is no x100 / /100 leniency.

Tasks from the ``reasoning_gym`` source are scored by their generator instead (:mod:`.math_rgym`).

Results are cached on ``(extracted answer, gold)``. Everything is thread-safe; the caller's thread
never receives a signal. ``verify_math`` never raises.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import mpmath

from ..types import Task, Verdict
from .base import VERIFIERS
from .math_equiv import Decision, TooBig, compare, numeric_value, try_exact
from .math_extract import extract_answer
from .math_normalize import MATH_FUNCTION_NAMES, normalize_answer
from .math_parser import MAX_CHARS, Node, ParseError, canonical_text, parse_answer
from .math_pool import get_pool
from .math_rgym import score_reasoning_gym
from .math_surd import NotSurd, surd_key, surd_value

__all__ = ["MATH_VERIFIER", "MathVerifier", "answer_key", "clear_cache", "verify_math"]

CACHE_SIZE = 200_000
_DECIMAL_RE = re.compile(r"^-?(\d+)\.(\d+)$")


# -- result cache ------------------------------------------------------------------------------------

class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[tuple[str, str], tuple[bool, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[bool, str, str] | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple[str, str], value: tuple[bool, str, str]) -> None:
        with self._lock:
            self._d[key] = value
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_CACHE = _LRU(CACHE_SIZE)


def clear_cache() -> None:
    """Forget cached results (benchmarks use it to measure cold calls)."""
    _CACHE.clear()


# -- the in-process half ---------------------------------------------------------------------------------

@dataclass
class _Pending:
    """A comparison that needs the symbolic worker."""

    key: tuple[str, str]
    pairs: list[tuple[Node, Node, bool]] = field(default_factory=list)
    detail: str = ""


def _decimal_approx(extracted_norm: str, gold_norm: str, gold_tree: Node) -> bool:
    """True when a >= 6-significant-digit decimal answer is the gold rounded (within half a unit in
    its last place) and the gold has no exact decimal form (1/3, sqrt(2), pi; never 5 or 1/4)."""
    m = _DECIMAL_RE.match(extracted_norm)
    if not m or _DECIMAL_RE.match(gold_norm) or gold_tree[0] not in ("num", "div", "pow", "fn", "mul", "add", "neg", "const"):
        return False
    if gold_tree[0] == "num" and _terminates(gold_tree[1]):
        return False
    digits = (m.group(1) + m.group(2)).lstrip("0")
    if len(digits) < 6:
        return False
    try:
        g = numeric_value(gold_tree, {})
        ctx = mpmath.MPContext()
        ctx.dps = 60
        if g == ctx.nint(g) or _terminates_value(ctx, g):
            return False
        tolerance = ctx.mpf(10) ** (-len(m.group(2))) / 2 * (1 + ctx.mpf("1e-30"))
        return bool(abs(ctx.mpmathify(g) - ctx.mpf(extracted_norm)) <= tolerance)
    except (TooBig, ZeroDivisionError, ValueError, ArithmeticError, KeyError, TypeError):
        return False


def _terminates(value) -> bool:
    """Whether a rational has a finite decimal expansion (denominator 2^a 5^b)."""
    from fractions import Fraction

    q = Fraction(value).denominator
    for p in (2, 5):
        while q % p == 0:
            q //= p
    return q == 1


def _terminates_value(ctx, g) -> bool:
    """Whether a 60-digit value is (numerically) a decimal with at most 12 places."""
    scaled = ctx.mpf(g) * ctx.mpf(10) ** 12
    return bool(abs(scaled - ctx.nint(scaled)) < ctx.mpf("1e-30") * max(1, abs(scaled)))


def _decide_local(extracted: str, gold: str) -> tuple[bool, str, str] | _Pending:
    """Everything short of sympy: a final ``(correct, status, detail)`` or a :class:`_Pending`."""
    key = (extracted, gold)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    result = _decide_uncached(extracted, gold, key)
    if not isinstance(result, _Pending):
        _CACHE.put(key, result)
    return result


def _decide_uncached(extracted: str, gold: str, key: tuple[str, str]) -> tuple[bool, str, str] | _Pending:
    if len(extracted) > MAX_CHARS:
        return False, "error", f"answer longer than {MAX_CHARS} characters"
    ne, ng = normalize_answer(extracted), normalize_answer(gold)
    if ne and ne == ng:
        return True, "ok", "normalized strings equal"
    try:
        gtree = parse_answer(gold)
    except ParseError:
        same = canonical_text(ne) == canonical_text(ng) and bool(ne)
        return same, "ok", "gold is not parseable: compared as text"
    try:
        rtree = parse_answer(extracted)
    except ParseError as e:
        msg = str(e)
        status = "error" if ("too" in msg or "longer" in msg) else "ok"
        return False, status, f"answer not parseable: {msg}"
    decision: Decision = compare(gtree, rtree)
    if decision.state == "equal":
        return True, "ok", decision.detail or "equal"
    if _decimal_approx(ne, ng, gtree):
        return True, "ok", "decimal approximation of the gold"
    if decision.state == "unequal":
        return False, "ok", decision.detail or "not equal"
    if decision.state == "error":
        return False, "error", decision.detail
    return _Pending(key, decision.pairs, decision.detail)


def _finish(p: _Pending, results: list[str] | None) -> tuple[bool, str, str]:
    agree_all = all(agree for _, _, agree in p.pairs)
    if results is None:
        if agree_all:
            return True, "ok", "numerically equal at 50 digits; symbolic check timed out"
        return False, "timeout", "symbolic check timed out"
    for (_, _, agree), res in zip(p.pairs, results, strict=False):
        if res == "unequal":
            return False, "ok", "symbolic: not equal"
        if res != "equal" and not agree:
            return False, "ok", f"symbolic: {res}, numerically unclear"
    detail = "symbolic: equal" if all(r == "equal" for r in results) else "numerically equal; sympy undecided"
    return True, "ok", detail


def _verdict(extracted: str, how: str, result: tuple[bool, str, str]) -> Verdict:
    correct, status, detail = result
    if len(extracted) > 2 * MAX_CHARS:  # keep episode infos small
        extracted = extracted[: 2 * MAX_CHARS] + "…"
    return Verdict(correct=correct, score=1.0 if correct else 0.0, status=status, extracted=extracted, detail=f"{how}: {detail}")


_MATH_WORDS = MATH_FUNCTION_NAMES | {"or", "and"}  # "x = 2 or x = 3" lists solutions
_LETTER_RUN = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_VOWEL = re.compile(r"[aeiouAEIOU]")


def _looks_like_prose(line: str) -> bool:
    """Whether a short line has words in it (``"It is 50."``, ``"so 7"``): a run of two or more
    letters with a vowel that is neither a LaTeX command nor a function name. ``"2xy"``, ``"\\frac"``
    and ``"sin x"`` are math."""
    return any(_VOWEL.search(w) and w.lower() not in _MATH_WORDS for w in _LETTER_RUN.findall(line))


def _extract(response: str) -> tuple[str | None, str]:
    """:func:`.math_extract.extract_answer`, except that a response that is one short line of math
    (``"126"``, ``"x^2 + 1"``, ``"3x - y + 13 = 0"``) is taken whole rather than by its last number;
    a line with words in it (``"It is 50."``) keeps its last number."""
    text = response if isinstance(response, str) else ""
    extracted, how = extract_answer(text)
    if how == "last_number":
        whole = text.strip()
        if len(whole) <= 100 and "\n" not in whole and not _looks_like_prose(whole):
            try:
                if parse_answer(whole)[0] != "text":
                    return whole, "whole"
            except ParseError:
                pass
    return extracted, how


def verify_math(response: str, gold: str, *, timeout_s: float = 5.0) -> Verdict:
    """Score ``response`` against the ``gold`` answer string (contract: DESIGN.md section 3)."""
    start = time.monotonic()
    try:
        extracted, how = _extract(response)
        if extracted is None:
            return Verdict(False, 0.0, "no_answer", None, "no final answer found")
        result = _decide_local(extracted, str(gold))
        if isinstance(result, _Pending):
            left = timeout_s - (time.monotonic() - start)
            results = get_pool().check([(a, b) for a, b, _ in result.pairs], left) if left > 0 else None
            final = _finish(result, results)
            if results is not None:
                _CACHE.put(result.key, final)
            result = final
        return _verdict(extracted, how, result)
    except Exception as e:  # a bug must not crash a training run: report it
        return Verdict(False, 0.0, "error", None, f"verifier error: {type(e).__name__}: {e}"[:300])


# -- answer keys (voting) --------------------------------------------------------------------------

def _tree_key(node: Node) -> str:
    kind = node[0]
    if kind == "text":
        return f"text:{node[1]}"
    if kind == "named":
        return f"{_tree_key(node[1])}={_tree_key(node[2])}"
    if kind == "list" and node[1] and all(a[0] == "named" for a in node[1]):  # assignments: any order
        return "(" + ",".join(sorted(_tree_key(a) for a in node[1])) + ")"
    if kind in ("tuple", "list"):
        return "(" + ",".join(_tree_key(a) for a in node[1]) + ")"
    if kind == "set":
        return "{" + ",".join(sorted(_tree_key(a) for a in node[1])) + "}"
    if kind == "interval":
        return ("[" if node[1] else "(") + _tree_key(node[2]) + "," + _tree_key(node[3]) + ("]" if node[4] else ")")
    if kind == "union":
        return "U".join(sorted(_tree_key(a) for a in node[1]))
    if kind == "matrix":
        return "[" + ";".join(",".join(_tree_key(a) for a in row) for row in node[1]) + "]"
    try:
        v = try_exact(node)
    except TooBig:
        v = None
    if v is not None:
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    try:
        return surd_key(surd_value(node))
    except (NotSurd, ZeroDivisionError):
        pass
    from .math_equiv import free_symbols

    if not free_symbols(node) and kind not in ("eq", "rel"):
        try:
            import mpmath

            val = numeric_value(node, {})
            return "~" + mpmath.nstr(val, 15)
        except Exception:
            pass
    return repr(node)


def answer_key(response: str) -> str | None:
    """Canonical key of the answer in ``response`` (``"1/2"`` for ``0.5``, ``\\frac12``, ``\\dfrac{1}{2}``);
    ``None`` when no answer is found. Never raises."""
    try:
        extracted, _ = _extract(response)
        if extracted is None:
            return None
        try:
            return _tree_key(parse_answer(extracted))
        except ParseError:
            return "text:" + canonical_text(normalize_answer(extracted[:MAX_CHARS]))
    except Exception:
        return None


# -- the registered verifier -------------------------------------------------------------------------

class MathVerifier:
    """Verifier for ``kind="math"`` tasks (registered as ``"math"``): scores ``task.answer``."""

    kind = "math"

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s

    def verify(self, response: str, task: Task) -> Verdict:
        if "reasoning_gym" in task.metadata:
            return score_reasoning_gym(response, task.metadata["reasoning_gym"])
        return verify_math(response, task.answer or "", timeout_s=self.timeout_s)

    def verify_many(self, responses: Sequence[str], tasks: Sequence[Task]) -> list[Verdict]:
        """Score a batch: fast paths inline, symbolic checks fanned out to the worker pool in parallel."""
        if len(responses) != len(tasks):
            raise ValueError(f"{len(responses)} responses for {len(tasks)} tasks")
        out: list[Verdict | None] = [None] * len(responses)
        pending: list[tuple[int, str, str, _Pending]] = []
        for i, (resp, task) in enumerate(zip(responses, tasks, strict=False)):
            if "reasoning_gym" in task.metadata:
                out[i] = score_reasoning_gym(resp, task.metadata["reasoning_gym"])
                continue
            try:
                extracted, how = _extract(resp)
                if extracted is None:
                    out[i] = Verdict(False, 0.0, "no_answer", None, "no final answer found")
                    continue
                result = _decide_local(extracted, str(task.answer or ""))
                if isinstance(result, _Pending):
                    pending.append((i, extracted, how, result))
                else:
                    out[i] = _verdict(extracted, how, result)
            except Exception as e:
                out[i] = Verdict(False, 0.0, "error", None, f"verifier error: {type(e).__name__}")
        if pending:
            pool = get_pool()
            with ThreadPoolExecutor(max_workers=pool.size) as ex:
                for i, v in ex.map(lambda item: _check_pending(item, self.timeout_s), pending):
                    out[i] = v
        return [v if v is not None else Verdict(False, 0.0, "error", None, "not scored") for v in out]

    def answer_key(self, response: str) -> str | None:
        return answer_key(response)


def _check_pending(item: tuple[int, str, str, _Pending], timeout_s: float) -> tuple[int, Verdict]:
    """Run one symbolic check with its own ``timeout_s`` (queueing behind others is not its fault)."""
    i, extracted, how, p = item
    try:
        results = get_pool().check([(a, b) for a, b, _ in p.pairs], timeout_s)
    except Exception:
        results = None
    final = _finish(p, results)
    if results is not None:
        _CACHE.put(p.key, final)
    return i, _verdict(extracted, how, final)


MATH_VERIFIER = MathVerifier()
VERIFIERS.register("math", MATH_VERIFIER)
