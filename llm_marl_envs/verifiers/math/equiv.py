"""Equivalence of two parsed answers, in-process: exact rational arithmetic, then a numeric probe.

Order for two scalar expressions:

1. structural equality of the trees;
2. exact rational values (``fractions.Fraction``: integers, decimals, fractions, integer powers,
   perfect roots, factorials up to :data:`MAX_FACTORIAL`, results up to :data:`MAX_BITS` bits) — equal
   or not, decided here (so ``1/2004!`` vs ``1/2006!`` and ``1/2^99`` vs ``1/2^98`` differ exactly);
   then exact sums of rational multiples of ``pi^k sqrt(n)`` (:mod:`.surd`: radicals and pi);
3. a numeric probe with mpmath at 50 significant digits, with every free variable set to the same
   pseudo-random values at three points: a clear relative difference decides "unequal"; agreement
   (relative 1e-30) or an unclear result is left to the symbolic check (:mod:`.pool`), which
   receives the pair together with the probe's opinion.

Magnitude guards (exponents, ``exp``, factorials) raise :class:`TooBig` instead of computing towers,
and the caller answers ``"error"``. Containers: tuples/lists/matrices element-wise in order, sets
and bare comma lists as multisets, intervals with their closedness (``(a, b)`` also matches the open
interval), unions as sets of intervals, ``x > 3`` against an interval as ``(3, oo)``; equations ``lhs = rhs`` (lhs not a lone variable) are equal
when ``lhs - rhs`` are proportional.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field
from fractions import Fraction

import mpmath

from .parse import Node
from .surd import NotSurd, surd_value

MAX_BITS = 200_000
MAX_FACTORIAL = 5000
MAX_NUMERIC_LOG = 1e15  # |exponent * log(base)| above this is "too large"
DPS = 50
AGREE_REL = mpmath.mpf("1e-30")
DIFFER_REL = mpmath.mpf("1e-12")
DIFFER_ABS = mpmath.mpf("1e-30")
N_POINTS = 3


class NotExact(ValueError):
    """The value is not a (small) rational number."""


class TooBig(ValueError):
    """The value is too large to compute (a tower exponent, a huge factorial)."""


SCALARS = {"num", "sym", "const", "add", "mul", "div", "neg", "pow", "fn", "fact", "sum", "prod"}
MAX_SUM_TERMS = 1000  # \sum / \prod with constant bounds are evaluated term by term up to this many


def _substitute(node, name: str, value: Node):
    """``node`` with the variable ``name`` replaced by ``value`` (an inner sum over ``name`` keeps its own)."""
    if not isinstance(node, tuple):
        return node
    if node == ("sym", name):
        return value
    if node and node[0] in ("sum", "prod") and node[1] == name:
        return (node[0], name, _substitute(node[2], name, value), _substitute(node[3], name, value), node[4])
    return tuple(_substitute(x, name, value) for x in node)


def _size(node) -> int:
    """Number of tuples in a tree (a bound on the work of evaluating it once)."""
    return 1 + sum(_size(x) for x in node if isinstance(x, tuple)) if isinstance(node, tuple) else 0


def _index_range(node: Node) -> range:
    """The integer range of a sum/product with constant integer bounds (empty when hi < lo). Only
    :data:`MAX_SUM_TERMS` body nodes in all are evaluated in-process, and no nested sum: the rest is
    left to sympy in the killable worker."""
    lo, hi = exact_value(node[2]), exact_value(node[3])
    if lo.denominator != 1 or hi.denominator != 1:
        raise NotExact("non-integer bounds")
    if (hi - lo + 1) * _size(node[4]) > 20 * MAX_SUM_TERMS or "'sum'" in repr(node[4]) or "'prod'" in repr(node[4]):
        raise NotExact("too many terms")
    return range(int(lo), int(hi) + 1)


# -- exact rational evaluation ----------------------------------------------------------------------

def _iroot(n: int, k: int) -> int | None:
    """The exact integer k-th root of n >= 0, or None."""
    if n < 2:
        return n
    if k == 2:
        r = math.isqrt(n)
        return r if r * r == n else None
    r = round(n ** (1.0 / k)) if n.bit_length() < 1000 else int(math.exp(math.log(n) / k))
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**k == n:
            return c
    lo, hi = 0, 1 << (n.bit_length() // k + 1)
    while lo < hi:  # exact binary search for large n
        mid = (lo + hi) // 2
        if mid**k < n:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo**k == n else None


def _exact_root(x: Fraction, k: int) -> Fraction:
    if k <= 0 or k > 64:
        raise NotExact("root index")
    neg = x < 0
    if neg and k % 2 == 0:
        raise NotExact("even root of a negative number")
    x = -x if neg else x
    p, q = _iroot(x.numerator, k), _iroot(x.denominator, k)
    if p is None or q is None:
        raise NotExact("not a perfect power")
    r = Fraction(p, q)
    return -r if neg else r


def _exact_pow(b: Fraction, e: Fraction) -> Fraction:
    if e.denominator != 1:
        b = _exact_root(b, e.denominator)
        e = Fraction(e.numerator)
    n = e.numerator
    if b == 0 and n < 0:
        raise NotExact("division by zero")
    if b in (0, 1):
        return b
    if b == -1:
        return Fraction(1 if n % 2 == 0 else -1)
    size = max(b.numerator.bit_length(), b.denominator.bit_length())
    if abs(n) * size > MAX_BITS:
        raise TooBig("power too large")
    return b**n


def _bounded(value: Fraction, what: str) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise TooBig(f"{what} too large")
    return value


def exact_value(node: Node) -> Fraction:
    """The exact rational value of ``node``; raises :class:`NotExact` or :class:`TooBig`."""
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "add":  # a sum of fractions with coprime denominators grows like a product: check each step
        out = Fraction(0)
        for a in node[1]:
            out = _bounded(out + exact_value(a), "sum")
        return out
    if kind == "mul":
        out = Fraction(1)
        for a in node[1]:
            out = _bounded(out * exact_value(a), "product")
        return out
    if kind == "neg":
        return -exact_value(node[1])
    if kind == "div":
        den = exact_value(node[2])
        if den == 0:
            raise NotExact("division by zero")
        return _bounded(exact_value(node[1]) / den, "quotient")
    if kind == "pow":
        return _exact_pow(exact_value(node[1]), exact_value(node[2]))
    if kind in ("sum", "prod"):
        out = Fraction(0 if kind == "sum" else 1)
        for j in _index_range(node):
            term = exact_value(_substitute(node[4], node[1], ("num", Fraction(j))))
            out = _bounded(out + term if kind == "sum" else out * term, kind)
        return out
    if kind == "fact":
        n = exact_value(node[1])
        if n.denominator != 1 or n < 0:
            raise NotExact("factorial of a non-natural number")
        if n > MAX_FACTORIAL:
            raise TooBig("factorial too large")
        return Fraction(math.factorial(int(n)))
    if kind == "fn":
        name, args = node[1], node[2]
        if name == "sqrt":
            return _exact_root(exact_value(args[0]), 2)
        if name == "abs":
            return abs(exact_value(args[0]))
        if name == "floor":
            return Fraction(math.floor(exact_value(args[0])))
        if name == "ceil":
            return Fraction(math.ceil(exact_value(args[0])))
        if name == "binom":
            n, k = exact_value(args[0]), exact_value(args[1])
            if n.denominator != 1 or k.denominator != 1 or not 0 <= n <= MAX_FACTORIAL:
                raise NotExact("binomial")
            return Fraction(math.comb(int(n), int(k)) if k >= 0 else 0)
    raise NotExact(kind)


def try_exact(node: Node) -> Fraction | None:
    """``exact_value`` or None when not exact (``TooBig`` propagates)."""
    try:
        return exact_value(node)
    except TooBig:
        raise
    except (NotExact, ZeroDivisionError, OverflowError, ValueError):
        return None


# -- numeric evaluation -----------------------------------------------------------------------------

_local = threading.local()


def _ctx() -> mpmath.ctx_mp.MPContext:
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = mpmath.MPContext()
        ctx.dps = DPS
        _local.ctx = ctx
    return ctx


def free_symbols(node: Node, out: set[str] | None = None) -> set[str]:
    """Names of the variables in ``node``."""
    out = set() if out is None else out
    if node[0] == "sym":
        out.add(node[1])
        return out
    if node[0] in ("sum", "prod"):  # the index is bound
        free_symbols(node[2], out)
        free_symbols(node[3], out)
        out |= free_symbols(node[4]) - {node[1]}
        return out
    for part in node[1:]:
        _walk(part, out)
    return out


def _walk(x: object, out: set[str]) -> None:
    if isinstance(x, tuple):
        if x and isinstance(x[0], str):
            free_symbols(x, out)
        else:
            for y in x:
                _walk(y, out)


def _guard(x, what: str) -> None:
    if x != x:  # nan
        return
    if abs(x) > MAX_NUMERIC_LOG:
        raise TooBig(f"{what} too large")


_FUNCS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc", "arcsin": "asin",
    "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "sqrt": "sqrt", "abs": "fabs",
    "floor": "floor", "ceil": "ceil",
}


_PERIODIC = {"sin", "cos", "tan", "cot", "sec", "csc", "sinh", "cosh", "tanh"}


def numeric_value(node: Node, env: dict[str, object], ctx=None):
    """The value of ``node`` as an mpmath number with ``env`` for the variables (raises on failure)."""
    ctx = ctx or _ctx()
    kind = node[0]
    if kind == "num":
        v = node[1]
        return ctx.mpf(v.numerator) / v.denominator
    if kind == "sym":
        return env[node[1]]
    if kind == "const":
        return {"pi": ctx.pi, "E": ctx.e, "I": ctx.mpc(0, 1), "oo": ctx.inf}[node[1]]
    if kind == "add":
        return ctx.fsum(numeric_value(a, env, ctx) for a in node[1])
    if kind == "mul":
        out = ctx.mpf(1)
        for a in node[1]:
            out = out * numeric_value(a, env, ctx)
        return out
    if kind == "neg":
        return -numeric_value(node[1], env, ctx)
    if kind == "div":
        den = numeric_value(node[2], env, ctx)
        if den == 0:
            raise ZeroDivisionError
        return numeric_value(node[1], env, ctx) / den
    if kind == "pow":
        b = numeric_value(node[1], env, ctx)
        e = numeric_value(node[2], env, ctx)
        if b != 0 and ctx.isfinite(b) and ctx.isfinite(e):
            _guard(abs(e) * abs(ctx.log(abs(b))), "power")
        if b == 0 and ctx.re(e) < 0:
            raise ZeroDivisionError
        if ctx.im(b) == 0 and ctx.im(e) == 0 and b < 0:
            ev = exact_if_rational(node[2])
            if ev is not None and ev.denominator % 2 == 1:  # real odd root of a negative number
                r = ctx.power(-b, e)
                return r if ev.numerator % 2 == 0 else -r
        return ctx.power(b, e)
    if kind in ("sum", "prod"):
        try:
            indices = _index_range(node)
        except TooBig:
            raise
        except (NotExact, ZeroDivisionError) as e:
            raise NotExact(f"{kind} with open bounds") from e
        vals = (numeric_value(node[4], {**env, node[1]: ctx.mpf(j)}, ctx) for j in indices)
        if kind == "sum":
            return ctx.fsum(vals)
        out = ctx.mpf(1)
        for v in vals:
            out *= v
        return out
    if kind == "fact":
        x = numeric_value(node[1], env, ctx)
        _guard(abs(x) * 1e7, "factorial")
        return ctx.factorial(x)
    if kind == "fn":
        name, args = node[1], node[2]
        vals = [numeric_value(a, env, ctx) for a in args]
        if name == "log":
            if any(v == 0 for v in vals):
                raise ZeroDivisionError
            return ctx.log(vals[0]) if len(vals) == 1 else ctx.log(vals[0]) / ctx.log(vals[1])
        if name == "exp":
            _guard(ctx.re(vals[0]), "exponential")
            return ctx.exp(vals[0])
        if name == "binom":
            _guard(max(abs(vals[0]), abs(vals[1])) * 1e7, "binomial")
            return ctx.binomial(vals[0], vals[1])
        if name == "abs":
            return abs(vals[0])
        fn = _FUNCS.get(name)
        if fn is None:
            raise NotExact(f"unknown function {name}")
        if name in _PERIODIC:  # argument reduction of a huge argument needs huge precision
            _guard(abs(vals[0]), "trigonometric argument")
        return getattr(ctx, fn)(vals[0])
    raise NotExact(f"not a scalar: {kind}")


def exact_if_rational(node: Node) -> Fraction | None:
    try:
        return try_exact(node)
    except TooBig:
        return None


def _points(symbols: set[str], n: int) -> list[dict[str, object]]:
    ctx = _ctx()
    names = sorted(symbols)
    out = []
    for p in range(n):
        env = {}
        for name in names:
            rng = random.Random(f"{name}|{p}")
            env[name] = ctx.mpf(rng.randint(1, 10**9)) / 10**9 * 2 + ctx.mpf("0.5")
        out.append(env)
    return out


def _closeness(a, b) -> str:
    """``"agree"``, ``"differ"`` or ``"unclear"`` for two mpmath numbers."""
    ctx = _ctx()
    if a == b:
        return "agree"
    if ctx.isnan(a) or ctx.isnan(b):
        return "unclear"
    if ctx.isinf(a) or ctx.isinf(b):
        return "differ"
    diff = abs(a - b)
    scale = max(abs(a), abs(b))
    if diff <= AGREE_REL * scale:
        return "agree"
    if diff > DIFFER_REL * scale and diff > DIFFER_ABS:
        return "differ"
    return "unclear"


# -- decisions --------------------------------------------------------------------------------------

@dataclass
class Decision:
    """``state``: ``"equal"``, ``"unequal"``, ``"pending"`` (needs the symbolic check on ``pairs``,
    each with the numeric probe's opinion ``True`` = agreed) or ``"error"`` (with ``detail``)."""

    state: str
    detail: str = ""
    pairs: list[tuple[Node, Node, bool]] = field(default_factory=list)


EQUAL = Decision("equal")
UNEQUAL = Decision("unequal")


def _all(decisions: list[Decision]) -> Decision:
    pairs: list[tuple[Node, Node, bool]] = []
    for d in decisions:
        if d.state in ("unequal", "error"):
            return d
        pairs += d.pairs
    if pairs:
        return Decision("pending", "symbolic check on parts", pairs)
    return Decision("equal", decisions[0].detail if decisions else "")


def compare_scalars(g: Node, r: Node) -> Decision:
    if g == r:
        return Decision("equal", "identical")
    try:
        ge, re_ = try_exact(g), try_exact(r)
    except TooBig as e:
        ge = re_ = None
        big = str(e)
    else:
        big = ""
    if ge is not None and re_ is not None:
        return Decision("equal" if ge == re_ else "unequal", "exact")
    try:
        gs, rs = surd_value(g), surd_value(r)
    except (NotSurd, ZeroDivisionError):
        pass
    else:
        return Decision("equal" if gs == rs else "unequal", "exact (radicals and pi)")
    symbols = free_symbols(g) | free_symbols(r)
    opinions = []
    for env in _points(symbols, N_POINTS if symbols else 1):
        try:
            a = numeric_value(g, env)
        except TooBig as e:
            return Decision("error", f"gold too large ({e})")
        except (ZeroDivisionError, ValueError, OverflowError, ArithmeticError, KeyError, TypeError):
            opinions.append("unclear")
            continue
        try:
            b = numeric_value(r, env)
        except TooBig as e:
            return Decision("error", f"expression too large ({e})")
        except ZeroDivisionError:
            return Decision("unequal", "answer undefined where the gold is defined")
        except (ValueError, OverflowError, ArithmeticError, KeyError, TypeError):
            opinions.append("unclear")
            continue
        verdict = _closeness(a, b)
        if verdict == "differ":
            return Decision("unequal", "numeric")
        opinions.append(verdict)
    if big and not opinions:
        return Decision("error", f"expression too large ({big})")
    agree = bool(opinions) and all(o == "agree" for o in opinions)
    return Decision("pending", "numerically equal" if agree else "numerically unclear", [(g, r, agree)])


def _as_seq(node: Node) -> tuple[Node, ...] | None:
    return node[1] if node[0] in ("tuple", "list", "set") else None


MAX_DEDUPE = 40  # longer lists are compared as multisets (the pairwise check is quadratic)


def _dedupe(items: tuple[Node, ...]) -> tuple[Node, ...]:
    """``items`` without elements equal (decided in-process) to an earlier one."""
    if len(items) > MAX_DEDUPE:
        return items
    kept: list[Node] = []
    for x in items:
        if x in kept or any(compare(k, x).state == "equal" for k in kept):
            continue
        kept.append(x)
    return tuple(kept)


def _match_unordered(gs: tuple[Node, ...], rs: tuple[Node, ...]) -> Decision:
    """Unordered lists and sets. Solution lists are **sets**: a repeated element in the answer does
    not count (``(1,2), (2,1), (1,2)`` names the same two solutions) -- unless the gold itself repeats
    one (roots listed with multiplicity, ``2, 2, 3``), then both are compared as multisets."""
    gd = _dedupe(gs)
    if len(gd) == len(gs):
        rs = _dedupe(rs)
    if len(gs) != len(rs):
        return Decision("unequal", "different number of elements")
    remaining = list(rs)
    decisions = []
    for g in gs:
        best = None
        for j, r in enumerate(remaining):
            d = compare(g, r)
            if d.state == "equal":
                best = (j, d)
                break
            if d.state == "pending" and best is None and all(agree for _, _, agree in d.pairs):
                best = (j, d)
        if best is None:
            return Decision("unequal", "no matching element")
        decisions.append(best[1])
        remaining.pop(best[0])
    return _all(decisions)


def _interval_parts(node: Node) -> tuple[bool, Node, Node, bool] | None:
    if node[0] == "interval":
        return node[1], node[2], node[3], node[4]
    if node[0] == "tuple" and len(node[1]) == 2:
        return False, node[1][0], node[1][1], False
    return None


def _proportional(dg: Node, dr: Node):
    """The constant ``dg / dr`` when the two expressions are proportional at every probe point
    (numerically, 50 digits, four points), else ``None``."""
    symbols = free_symbols(dg) | free_symbols(dr)
    ratio = None
    ctx = _ctx()
    informative = 0
    for env in _points(symbols, 4):
        try:
            a, b = numeric_value(dg, env), numeric_value(dr, env)
        except (TooBig, NotExact, ZeroDivisionError, ValueError, ArithmeticError, KeyError, TypeError):
            continue
        if ctx.im(a) != 0 or ctx.im(b) != 0:
            return None
        if _closeness(a, ctx.mpf(0)) == "agree" or _closeness(b, ctx.mpf(0)) == "agree":
            if not (a == 0 and b == 0) and _closeness(a, b) != "agree":
                return None
            continue
        k = a / b
        if ratio is not None and _closeness(k, ratio) != "agree":
            return None
        ratio = k
        informative += 1
    return ratio if informative >= 2 else None


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}


def _compare_relations(g: Node, r: Node) -> Decision:
    """Two relations ``L op R``: the same sides (or swapped with the flipped operator), or -- with
    variables -- ``L - R`` proportional to the other's, by a positive factor for the same operator
    and a negative one for the flipped operator (``x < 1`` is ``-x > -1`` and ``2x < 2``)."""
    if g[1] == r[1]:
        d = _all([compare(g[2], r[2]), compare(g[3], r[3])])
    elif _FLIP[g[1]] == r[1]:
        d = _all([compare(g[2], r[3]), compare(g[3], r[2])])
    else:
        return Decision("unequal", "relation")
    if d.state == "equal":
        return d
    dg = ("add", (g[2], ("neg", g[3])))
    dr = ("add", (r[2], ("neg", r[3])))
    if not (free_symbols(dg) | free_symbols(dr)):
        return d
    k = _proportional(dg, dr)
    if k is None:
        return Decision("unequal", "relation")
    same = g[1] == r[1]
    if g[1] == "!=" or (k > 0) == same:
        return Decision("equal", "relation (proportional)")
    return Decision("unequal", "relation")


def _compare_equations(g: Node, r: Node) -> Decision:
    dg = ("add", (g[1], ("neg", g[2])))
    dr = ("add", (r[1], ("neg", r[2])))
    symbols = free_symbols(dg) | free_symbols(dr)
    if not symbols:
        return _all([compare(g[1], r[1]), compare(g[2], r[2])])
    ratio = None
    ctx = _ctx()
    informative = 0
    for env in _points(symbols, 4):
        try:
            a, b = numeric_value(dg, env), numeric_value(dr, env)
        except (TooBig, ZeroDivisionError, ValueError, ArithmeticError, KeyError, TypeError):
            continue
        if _closeness(a, ctx.mpf(0)) == "agree" or _closeness(b, ctx.mpf(0)) == "agree":
            if not (a == 0 and b == 0) and _closeness(a, b) != "agree":
                return Decision("unequal", "equation")
            continue
        k = a / b
        if ratio is not None and _closeness(k, ratio) != "agree":
            return Decision("unequal", "equation")
        ratio = k
        informative += 1
    return Decision("equal" if informative >= 2 else "unequal", "equation (proportional)")


_OO = ("const", "oo")


def _rel_as_interval(node: Node) -> Node | None:
    """``x > 3`` as the interval ``(3, oo)``, ``-x > -1`` as ``(-oo, 1)``, ``x \\neq 3`` as
    ``(-oo, 3) U (3, oo)`` (one variable against a constant), else None."""
    if node[0] != "rel":
        return None
    op, a, b = node[1], node[2], node[3]
    if b[0] in ("sym", "neg") and a[0] not in ("sym", "neg"):
        op, a, b = _FLIP[op], b, a
    if a[0] == "neg" and a[1][0] == "sym":  # -x > -1 is x < 1
        op, a, b = _FLIP[op], a[1], ("neg", b)
    if a[0] != "sym" or free_symbols(b):
        return None
    if op == "!=":
        return ("union", (("interval", False, ("neg", _OO), b, False), ("interval", False, b, _OO, False)))
    if op in (">", ">="):
        return ("interval", op == ">=", b, _OO, False)
    return ("interval", False, ("neg", _OO), b, op == "<=")


def _named(node: Node) -> dict | None:
    """``{name: value}`` of a list of assignments (``a = 1, b = 2``), else ``None``."""
    if node[0] == "list" and node[1] and all(item[0] == "named" for item in node[1]):
        return {item[1]: item[2] for item in node[1]}
    return None


def _compare_named(g: Node, r: Node) -> Decision | None:
    """Assignments: by name when both sides name their values, else in order; ``None`` when neither does."""
    gn, rn = _named(g), _named(r)
    if gn is None and rn is None:
        return None
    if gn is not None and rn is not None:
        if set(gn) != set(rn):
            return Decision("unequal", "different names")
        return _all([compare(gn[k], rn[k]) for k in gn])
    named, other = (gn, r) if gn is not None else (rn, g)
    values = _as_seq(other)
    if values is None or len(values) != len(named):
        return Decision("unequal", "different length")
    pairs = zip(named.values(), values, strict=True) if gn is not None else zip(values, named.values(), strict=True)
    return _all([compare(a, b) for a, b in pairs])


def _compare_label(g: Node, r: Node) -> Decision:
    """``("label", y, value)`` (``y = 2x + 3``): against an equation it is the equation ``y = value``;
    otherwise its value, or (two labels) either their values or their equations."""
    eq_g = ("eq", g[1], g[2]) if g[0] == "label" else g
    eq_r = ("eq", r[1], r[2]) if r[0] == "label" else r
    if eq_g[0] == "eq" and r[0] == "eq" or g[0] == "eq" and eq_r[0] == "eq":
        return _compare_equations(eq_g, eq_r)
    d = compare(g[2] if g[0] == "label" else g, r[2] if r[0] == "label" else r)
    if d.state == "unequal" and g[0] == r[0] == "label":
        return _compare_equations(eq_g, eq_r)
    return d


def _chain_as_interval(node: Node) -> Node | None:
    """``1 \\le |z| \\le 3/2`` as the interval ``[1, 3/2]`` (to meet ``|z| \\in [1, 3/2]``)."""
    if node[0] != "chain" or not free_symbols(node[3]):  # "0 < 5 < 1" bounds nothing
        return None
    return ("interval", node[1] == "<=", node[2], node[5], node[4] == "<=")


def compare(g: Node, r: Node) -> Decision:
    """Decide whether answer ``r`` equals gold ``g`` (both parse trees); see the module docstring."""
    if g[0] == "label" or r[0] == "label":
        return _compare_label(g, r)
    if g[0] == "chain" or r[0] == "chain":
        if g[0] == r[0] == "chain":
            if (g[1], g[4]) != (r[1], r[4]):
                return Decision("unequal", "chain operators")
            return _all([compare(g[2], r[2]), compare(g[3], r[3]), compare(g[5], r[5])])
        g, r = _chain_as_interval(g) or g, _chain_as_interval(r) or r
    if g[0] == "ratio" or r[0] == "ratio":
        if g[0] != r[0] or len(g[1]) != len(r[1]):
            return Decision("unequal", "ratio")
        return _all([compare(a, b) for a, b in zip(g[1], r[1], strict=True)])
    named = _compare_named(g, r)
    if named is not None:
        return named
    if (g[0] == "rel") != (r[0] == "rel"):
        g, r = _rel_as_interval(g) or g, _rel_as_interval(r) or r
    gk, rk = g[0], r[0]
    if gk == "text" or rk == "text":
        return Decision("equal" if g == r else "unequal", "text")
    if gk in SCALARS and rk in SCALARS:
        return compare_scalars(g, r)
    if gk == "eq" and rk == "eq":
        return _compare_equations(g, r)
    if gk == "rel" and rk == "rel":
        return _compare_relations(g, r)
    if gk == "matrix" and rk == "matrix":
        if len(g[1]) != len(r[1]) or len(g[1][0]) != len(r[1][0]):
            return Decision("unequal", "matrix shape")
        return _all([compare(a, b) for ra, rb in zip(g[1], r[1], strict=False) for a, b in zip(ra, rb, strict=False)])
    if gk == "union" and rk == "union":
        return _match_unordered(g[1], r[1])
    gi, ri = _interval_parts(g), _interval_parts(r)
    if gi and ri and (gk == "interval" or rk == "interval"):
        if gi[0] != ri[0] or gi[3] != ri[3]:
            return Decision("unequal", "interval ends")
        return _all([compare(gi[1], ri[1]), compare(gi[2], ri[2])])
    gs, rs = _as_seq(g), _as_seq(r)
    if gs is not None and rs is not None:
        if gk == "set" or (gk == "list" and rk in ("list", "set")):  # the GOLD decides: a tuple stays ordered
            return _match_unordered(gs, rs)
        if gk == "tuple" and rk == "set":
            return Decision("unequal", "a set for an ordered tuple")
        if len(gs) != len(rs):
            return Decision("unequal", "different length")
        return _all([compare(a, b) for a, b in zip(gs, rs, strict=False)])
    if gs is not None and len(gs) == 1 and rk in SCALARS:
        return compare(gs[0], r)
    if rs is not None and len(rs) == 1 and gk in SCALARS:
        return compare(g, rs[0])
    return Decision("unequal", f"different kinds ({gk} vs {rk})")
