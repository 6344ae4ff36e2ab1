"""The one pipeline behind ``verify_math`` and ``MathVerifier.verify_many``.

Each step can decide; later steps run only when needed:

1. **Extraction** of the final answer (:mod:`.extract`: ``<answer>`` tags, the last ``\\boxed{}``,
   "answer is"/``####`` markers, the last math span or number; a response that is one short line of
   math is taken whole). Nothing found, or an empty or unclosed last ``\\boxed{`` ->
   ``status="no_answer"``.
2. **Normalisation** (:mod:`.normalize`) and string equality of the normalised forms.
3. **Safe parsing** of both sides into trees (:mod:`.parse`; no ``eval``). A :class:`~.parse.LimitExceeded`
   (size, node, depth) gives ``status="error"``; any other :class:`~.parse.ParseError` is a wrong answer
   (``status="ok"``).
4. **Exact and numeric equivalence** in-process (:mod:`.equiv`): rationals exactly, radicals and pi
   exactly (:mod:`.surd`), anything else probed numerically at 50 digits (variables are positive
   reals); clear differences decide "wrong" here. Towers, huge factorials and huge trig arguments
   answer ``status="error"`` at once.
5. **Symbolic confirmation** with sympy in a worker process (:mod:`.pool`) that is killed at the
   deadline: proves equality, or disproves it. A timeout gives ``status="timeout"`` unless the numeric
   probe already agreed (then ``correct`` with a detail saying so).

Numbers: a decimal answer with at least 6 significant digits also matches a gold without an exact
decimal form that it rounds to (within half a unit in its last place): ``1.41421`` for ``\\sqrt2``;
``0.33`` for ``1/3`` does not, and near misses of integers or terminating decimals (``4.99999`` for 5)
never do. **Percentages**: a gold written with a percent sign is read at face value or as a fraction
of 100 (gold ``50\\%`` accepts ``50`` and ``0.5``; gold ``12.5\\%`` accepts ``\\frac18``); everything
else is read at face value only, so gold ``10`` never accepts ``1000``, ``0.1`` or ``1000\\%``, and
gold ``0.1`` does not accept ``10\\%`` (the answer's sign never rescales it).

Results are cached on ``(extracted answer, gold)``. Everything is thread-safe; the caller's thread
never receives a signal. Nothing here raises.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath

from ...types import Verdict
from .equiv import SCALARS, Decision, TooBig, compare, numeric_value
from .extract import extract_answer
from .normalize import PLAIN_NUMBER_RE, has_percent, normalize_answer
from .parse import MAX_CHARS, LimitExceeded, Node, ParseError, canonical_text, parse_answer
from .pool import get_pool
from .words import looks_like_prose

__all__ = ["Job", "clear_cache", "extract_final", "start", "finish", "verify_batch", "verify_math"]

CACHE_SIZE = 200_000
_DECIMAL_RE = re.compile(r"^-?(\d+)\.(\d+)$")
Result = tuple[bool, str, str]  # (correct, status, detail)


# -- result cache ------------------------------------------------------------------------------------

class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[tuple[str, str], Result] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Result | None:
        with self._lock:
            v = self._d.get(key)
            if v is not None:
                self._d.move_to_end(key)
            return v

    def put(self, key: tuple[str, str], value: Result) -> None:
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
    """Forget cached results, parse trees and normalised strings (benchmarks measure cold calls)."""
    _CACHE.clear()
    parse_answer.cache_clear()
    normalize_answer.cache_clear()


# -- step 1: extraction ----------------------------------------------------------------------------

def extract_final(response: str) -> tuple[str | None, str]:
    """:func:`.extract.extract_answer`, except that a response that is one short line of math
    (``"126"``, ``"x^2 + 1"``, ``"3x - y + 13 = 0"``) is taken whole rather than by its last number;
    a line with words in it (``"It is 50."``) keeps its last number."""
    text = response if isinstance(response, str) else ""
    extracted, how = extract_answer(text)
    if how == "last_number":
        whole = text.strip()
        if len(whole) <= 100 and "\n" not in whole and not looks_like_prose(whole):
            try:
                if parse_answer(whole)[0] != "text":
                    return whole, "whole"
            except ParseError:
                pass
    return extracted, how


_NO_ANSWER_DETAIL = {
    "empty_box": "the last \\boxed{} is empty",
    "unclosed_box": "the last \\boxed{ is never closed",
}


# -- steps 2-4: in-process decision --------------------------------------------------------------

@dataclass
class _Pending:
    """A comparison that needs the symbolic worker."""

    key: tuple[str, str]
    pairs: list[tuple[Node, Node, bool]] = field(default_factory=list)
    detail: str = ""


def _terminates(value: Fraction) -> bool:
    """Whether a rational has a finite decimal expansion (denominator 2^a 5^b)."""
    q = Fraction(value).denominator
    for p in (2, 5):
        while q % p == 0:
            q //= p
    return q == 1


def _terminates_value(ctx, g) -> bool:
    """Whether a 60-digit value is (numerically) a decimal with at most 12 places."""
    scaled = ctx.mpf(g) * ctx.mpf(10) ** 12
    return bool(abs(scaled - ctx.nint(scaled)) < ctx.mpf("1e-30") * max(1, abs(scaled)))


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
        if ctx.im(g) != 0 or g == ctx.nint(g) or _terminates_value(ctx, g):
            return False
        tolerance = ctx.mpf(10) ** (-len(m.group(2))) / 2 * (1 + ctx.mpf("1e-30"))
        return bool(abs(ctx.mpmathify(g) - ctx.mpf(extracted_norm)) <= tolerance)
    except (TooBig, ZeroDivisionError, ValueError, ArithmeticError, KeyError, TypeError):
        return False


_HUNDRED = ("num", Fraction(100))


def _percent_decision(extracted: str, gold: str, gtree: Node, rtree: Node) -> Decision | None:
    """The face-value comparison failed: when the *gold* has a percent sign and the answer has none,
    compare the gold read as a fraction of 100 (``50\\%`` as ``0.5``); else ``None``. An answer's
    own percent sign never rescales it (gold ``10`` rejects ``1000\\%``)."""
    if not has_percent(gold) or has_percent(extracted) or gtree[0] not in SCALARS or rtree[0] not in SCALARS:
        return None
    return compare(("div", gtree, _HUNDRED), rtree)


def _decide_uncached(extracted: str, gold: str, key: tuple[str, str]) -> Result | _Pending:
    if len(extracted) > MAX_CHARS:
        return False, "error", f"answer longer than {MAX_CHARS} characters"
    ne, ng = normalize_answer(extracted), normalize_answer(gold)
    if ne and ne == ng:
        return True, "ok", "normalized strings equal"
    if PLAIN_NUMBER_RE.fullmatch(ne) and PLAIN_NUMBER_RE.fullmatch(ng) and not (has_percent(gold) or has_percent(extracted)):
        return Fraction(ne) == Fraction(ng), "ok", "exact (plain numbers)"  # fast path: "18" vs "19"
    try:
        gtree = parse_answer(gold)
    except ParseError:
        same = canonical_text(ne) == canonical_text(ng) and bool(ne)
        return same, "ok", "gold is not parseable: compared as text"
    try:
        rtree = parse_answer(extracted)
    except LimitExceeded as e:
        return False, "error", f"answer not judged: {e}"
    except ParseError as e:
        return False, "ok", f"answer not parseable: {e}"
    decision: Decision = compare(gtree, rtree)
    if decision.state == "equal":
        return True, "ok", decision.detail or "equal"
    if _decimal_approx(ne, ng, gtree):
        return True, "ok", "decimal approximation of the gold"
    if decision.state == "unequal":
        percent = _percent_decision(extracted, gold, gtree, rtree)
        if percent is not None and percent.state == "equal":
            return True, "ok", "equal as a percentage"
        if percent is not None and percent.state == "pending":
            return _Pending(key, percent.pairs, "as a percentage: " + percent.detail)
        return False, "ok", decision.detail or "not equal"
    if decision.state == "error":
        return False, "error", decision.detail
    return _Pending(key, decision.pairs, decision.detail)


def _decide_local(extracted: str, gold: str) -> Result | _Pending:
    """Everything short of sympy: a final ``(correct, status, detail)`` or a :class:`_Pending`."""
    key = (extracted, gold)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    result = _decide_uncached(extracted, gold, key)
    if not isinstance(result, _Pending):
        _CACHE.put(key, result)
    return result


# -- step 5 and the verdict ----------------------------------------------------------------------

def _finish_pending(p: _Pending, results: list[str] | None) -> Result:
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


def _verdict(extracted: str, how: str, result: Result) -> Verdict:
    correct, status, detail = result
    if len(extracted) > 2 * MAX_CHARS:  # keep episode infos small
        extracted = extracted[: 2 * MAX_CHARS] + "…"
    return Verdict(correct=correct, score=1.0 if correct else 0.0, status=status, extracted=extracted, detail=f"{how}: {detail}")


@dataclass
class Job:
    """One (response, gold) on its way through the pipeline: either ``verdict`` is set (decided
    in-process) or ``pending`` waits for the symbolic worker."""

    extracted: str | None
    how: str
    verdict: Verdict | None = None
    pending: _Pending | None = None


def _error(e: BaseException) -> Verdict:
    return Verdict(False, 0.0, "error", None, f"verifier error: {type(e).__name__}: {e}"[:300])


def start(response: str, gold: str) -> Job:
    """Steps 1-4 for one response; never raises."""
    try:
        extracted, how = extract_final(response)
        if extracted is None:
            return Job(None, how, Verdict(False, 0.0, "no_answer", None, _NO_ANSWER_DETAIL.get(how, "no final answer found")))
        result = _decide_local(extracted, str(gold))
        if isinstance(result, _Pending):
            return Job(extracted, how, pending=result)
        return Job(extracted, how, _verdict(extracted, how, result))
    except Exception as e:  # a bug must not crash a training run: report it
        return Job(None, "none", _error(e))


def finish(job: Job, timeout_s: float) -> Verdict:
    """Step 5 for a job: the symbolic check with its own ``timeout_s`` (a job waiting behind others
    in a batch gets its full deadline); never raises."""
    if job.verdict is not None:
        return job.verdict
    try:
        p = job.pending
        results = get_pool().check([(a, b) for a, b, _ in p.pairs], timeout_s) if timeout_s > 0 else None
        final = _finish_pending(p, results)
        if results is not None:
            _CACHE.put(p.key, final)
        return _verdict(job.extracted or "", job.how, final)
    except Exception as e:
        return _error(e)


def verify_math(response: str, gold: str, *, timeout_s: float = 5.0) -> Verdict:
    """Score ``response`` against the ``gold`` answer string (contract: DESIGN.md section 3)."""
    t0 = time.monotonic()
    job = start(response, gold)
    return finish(job, timeout_s - (time.monotonic() - t0))


def verify_batch(responses: Sequence[str], golds: Sequence[str], *, timeout_s: float = 5.0) -> list[Verdict]:
    """``verify_math`` over a batch: steps 1-4 inline, the symbolic checks fanned out to the worker
    pool in parallel, each with its own ``timeout_s``."""
    if len(responses) != len(golds):
        raise ValueError(f"{len(responses)} responses for {len(golds)} golds")
    jobs = [start(r, g) for r, g in zip(responses, golds, strict=True)]
    waiting = [j for j in jobs if j.verdict is None]
    if len(waiting) > 1:
        with ThreadPoolExecutor(max_workers=get_pool().size) as ex:
            done = dict(zip(map(id, waiting), ex.map(lambda j: finish(j, timeout_s), waiting), strict=True))
        return [j.verdict if j.verdict is not None else done[id(j)] for j in jobs]
    return [finish(j, timeout_s) for j in jobs]
