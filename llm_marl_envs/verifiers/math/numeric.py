"""Numeric values of parse trees with mpmath at :data:`DPS` digits, and the probe points.

Free variables are set to the same pseudo-random positive reals (in [0.5, 2.5]) at each probe point,
so two expressions are compared at identical points. Magnitude guards raise
:class:`~.exact.TooBig` before a tower or a huge trig argument is computed.
"""

from __future__ import annotations

import random
import threading

import mpmath

from .exact import NotExact, TooBig, exact_if_rational, index_range
from .parse import Node

MAX_NUMERIC_LOG = 1e15  # |exponent * log(base)| above this is "too large"
DPS = 50
AGREE_REL = mpmath.mpf("1e-30")
DIFFER_REL = mpmath.mpf("1e-12")
DIFFER_ABS = mpmath.mpf("1e-30")
N_POINTS = 3


_local = threading.local()


def mp_context() -> mpmath.ctx_mp.MPContext:
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
    ctx = ctx or mp_context()
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
            indices = index_range(node)
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


def probe_points(symbols: set[str], n: int) -> list[dict[str, object]]:
    ctx = mp_context()
    names = sorted(symbols)
    out = []
    for p in range(n):
        env = {}
        for name in names:
            rng = random.Random(f"{name}|{p}")
            env[name] = ctx.mpf(rng.randint(1, 10**9)) / 10**9 * 2 + ctx.mpf("0.5")
        out.append(env)
    return out


def closeness(a, b) -> str:
    """``"agree"``, ``"differ"`` or ``"unclear"`` for two mpmath numbers."""
    ctx = mp_context()
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
