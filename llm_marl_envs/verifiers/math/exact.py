"""Exact rational values of parse trees (``fractions.Fraction``), with magnitude guards.

Integers, decimals, fractions, integer powers, perfect roots, factorials up to :data:`MAX_FACTORIAL`,
``\\sum``/``\\prod`` with constant bounds, results up to :data:`MAX_BITS` bits. Anything else raises
:class:`NotExact`; a value too large to compute (a tower exponent, a huge factorial) raises
:class:`TooBig`, and the caller answers ``"error"`` instead of computing it.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .parse import Node

MAX_BITS = 200_000
MAX_FACTORIAL = 5000


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


def index_range(node: Node) -> range:
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
        for j in index_range(node):
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


def exact_if_rational(node: Node) -> Fraction | None:
    try:
        return try_exact(node)
    except TooBig:
        return None

