"""Exact arithmetic on sums of rational multiples of ``pi^k * sqrt(n)`` (n squarefree).

The numbers ``pi^k * sqrt(n)`` (k an integer, n a squarefree natural number) are linearly independent
over the rationals, so a dict ``{(n, k): coefficient}`` without zero coefficients is a canonical form:
two such values are equal exactly when their dicts are. This decides the common MATH answers with
radicals and pi (``2\\sqrt{2}`` vs ``\\sqrt{8}``, ``\\frac{\\sqrt2}{2}`` vs ``\\frac{1}{\\sqrt2}``,
``\\frac{\\pi}{4}`` vs ``\\frac14\\pi``) exactly and without sympy.

Supported: + - *, division by a one-term value or a two-term value without pi (rationalised with the
conjugate), integer powers, square roots of non-negative rationals whose squarefree part can be found
by trial division. Anything else raises :class:`~.equiv.NotExact` (the caller falls back).
"""

from __future__ import annotations

import math
from fractions import Fraction

from .parse import Node

Surd = dict[tuple[int, int], Fraction]

MAX_TERMS = 16
MAX_POWER = 64
MAX_COEFF_BITS = 4096
_SMALL_PRIMES = [p for p in range(2, 1000) if all(p % q for q in range(2, int(p**0.5) + 1))]


class NotSurd(ValueError):
    """Not representable (or too large) in this exact form."""


def _squarefree(n: int) -> tuple[int, int]:
    """``(s, f)`` with ``n == s*s*f`` and f squarefree; raises :class:`NotSurd` when not found cheaply."""
    if n <= 0:
        raise NotSurd("square root of a non-positive number")
    s, f = 1, 1
    for p in _SMALL_PRIMES:
        if p * p > n:
            break
        e = 0
        while n % p == 0:
            n //= p
            e += 1
        s *= p ** (e // 2)
        if e % 2:
            f *= p
    if n > 1:
        r = math.isqrt(n)
        if r * r == n:
            s *= r
        elif n < 10**9:
            f *= n  # no prime factor below 1000 and n < 1000^3: n is p or p*q, squarefree
        else:
            raise NotSurd("cannot factor")
    return s, f


def _clean(d: Surd) -> Surd:
    out = {k: v for k, v in d.items() if v != 0}
    if len(out) > MAX_TERMS or any(max(v.numerator.bit_length(), v.denominator.bit_length()) > MAX_COEFF_BITS for v in out.values()):
        raise NotSurd("too large")
    return out


def _add(a: Surd, b: Surd) -> Surd:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Fraction(0)) + v
    return _clean(out)


def _mul(a: Surd, b: Surd) -> Surd:
    out: Surd = {}
    for (m, j), x in a.items():
        for (n, k), y in b.items():
            g = math.gcd(m, n)
            key = ((m // g) * (n // g), j + k)
            out[key] = out.get(key, Fraction(0)) + x * y * g
    return _clean(out)


def _inverse(a: Surd) -> Surd:
    if len(a) == 1:
        ((n, k), c), = a.items()
        return {(n, -k): 1 / (c * n)}  # 1/(c pi^k sqrt n) = sqrt(n) / (c n) pi^-k
    if len(a) == 2 and all(k == 0 for _, k in a):
        conj = {key: (v if key[0] == 1 else -v) for key, v in a.items()}
        if (1, 0) not in a:  # b sqrt m + c sqrt n: multiply by b sqrt m - c sqrt n
            first = next(iter(a))
            conj = {key: (v if key == first else -v) for key, v in a.items()}
        norm = _mul(a, conj)
        if set(norm) <= {(1, 0)} and norm:
            return _mul(conj, {(1, 0): 1 / norm[(1, 0)]})
    raise NotSurd("cannot invert")


def _sqrt(a: Surd) -> Surd:
    if set(a) - {(1, 0)}:
        raise NotSurd("square root of an irrational")
    q = a.get((1, 0), Fraction(0))
    if q == 0:
        return {}
    if q < 0:
        raise NotSurd("square root of a negative number")
    s, f = _squarefree(q.numerator * q.denominator)
    return _clean({(f, 0): Fraction(s, q.denominator)})


def _pow(a: Surd, e: Surd) -> Surd:
    if set(e) - {(1, 0)}:
        raise NotSurd("irrational exponent")
    x = e.get((1, 0), Fraction(0))
    if x.denominator == 2:
        a = _sqrt(a)
        x = x * 2
    if x.denominator != 1 or abs(x) > MAX_POWER:
        raise NotSurd("exponent")
    n = int(x)
    base = a if n >= 0 else _inverse(a) if a else _raise_zero()
    out: Surd = {(1, 0): Fraction(1)}
    for _ in range(abs(n)):
        out = _mul(out, base)
    return out


def _raise_zero() -> Surd:
    raise NotSurd("division by zero")


def surd_value(node: Node) -> Surd:
    """The canonical exact form of ``node``; raises :class:`NotSurd` when it has none here."""
    kind = node[0]
    if kind == "num":
        return _clean({(1, 0): node[1]})
    if kind == "const" and node[1] == "pi":
        return {(1, 1): Fraction(1)}
    if kind == "add":
        out: Surd = {}
        for arg in node[1]:
            out = _add(out, surd_value(arg))
        return out
    if kind == "mul":
        out = {(1, 0): Fraction(1)}
        for arg in node[1]:
            out = _mul(out, surd_value(arg))
        return out
    if kind == "neg":
        return {k: -v for k, v in surd_value(node[1]).items()}
    if kind == "div":
        den = surd_value(node[2])
        if not den:
            raise NotSurd("division by zero")
        return _mul(surd_value(node[1]), _inverse(den))
    if kind == "pow":
        return _pow(surd_value(node[1]), surd_value(node[2]))
    if kind == "fn" and node[1] == "sqrt":
        return _sqrt(surd_value(node[2][0]))
    raise NotSurd(kind)


def surd_key(value: Surd) -> str:
    """A canonical string of a value (for answer keys): ``"1/2*sqrt(3)*pi^1 + 2"``."""
    if not value:
        return "0"
    parts = []
    for (n, k), c in sorted(value.items()):
        coef = str(c.numerator) if c.denominator == 1 else f"{c.numerator}/{c.denominator}"
        parts.append(coef + (f"*sqrt({n})" if n != 1 else "") + (f"*pi^{k}" if k else ""))
    return " + ".join(parts)
