"""Statistics over paired seeds for the credit lab: mean ± 95% CI (Student t), paired differences, verdicts.

Stable API (tier 2 imports it):

- ``mean_ci95(x) -> {"mean": float, "ci95": [lo, hi]}`` over axis 0 (seeds); other axes are averaged first.
- ``paired_diff(a, b) -> same`` for the per-seed difference ``a - b`` (seeds paired by index).
- ``verdict(diff, expected_sign, practical=0.01) -> str``: ``"hypothesis held"``, ``"hypothesis failed"``,
  ``"no practical difference"`` (the CI includes 0 or ``|mean| < practical``), or ``"differs"`` when no sign is
  expected.

No scipy: the t quantile is computed from the regularised incomplete beta function (continued fraction).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["mean_ci95", "paired_diff", "verdict", "t_quantile", "spearman", "VERDICTS"]

VERDICTS = ("hypothesis held", "hypothesis failed", "no practical difference", "differs")


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (Lentz), as in Numerical Recipes."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b), x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def _t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (bisection on the exact CDF; |error| < 1e-12). ``t_quantile(0.975, 63) ≈ 1.9983``."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile: p must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"t_quantile: df must be > 0, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if _t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return 0.5 * (lo + hi)


def _per_seed(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """(S, ...) -> (S,): average every axis but the first."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        raise ValueError("mean_ci95: need an array with a leading seed axis, got a scalar")
    return a.reshape(a.shape[0], -1).mean(axis=1)


def mean_ci95(x: Sequence[float] | np.ndarray) -> dict:
    """Mean and two-sided 95% Student-t interval over axis 0 (seeds). ``x``: (S,) or (S, ...), S >= 2.

    Returns ``{"mean": float, "ci95": [lo, hi]}``. Non-finite values raise (a silent NaN would hide a bug).
    """
    v = _per_seed(x)
    n = v.shape[0]
    if n < 2:
        raise ValueError(f"mean_ci95: need at least 2 seeds, got {n}")
    if not np.all(np.isfinite(v)):
        raise ValueError("mean_ci95: non-finite values in the input")
    m = float(v.mean())
    half = t_quantile(0.975, n - 1) * float(v.std(ddof=1)) / math.sqrt(n)
    return {"mean": m, "ci95": [m - half, m + half]}


def paired_diff(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> dict:
    """Mean and 95% CI of the per-seed difference ``a - b`` (seed i of a paired with seed i of b). (S,) each."""
    va, vb = _per_seed(a), _per_seed(b)
    if va.shape != vb.shape:
        raise ValueError(f"paired_diff: seed counts differ ({va.shape[0]} vs {vb.shape[0]})")
    return mean_ci95(va - vb)


def verdict(diff: dict, expected_sign: int | None, practical: float = 0.01) -> str:
    """Verdict for a paired difference ``diff`` (from :func:`paired_diff`) against a hypothesised sign.

    ``"no practical difference"`` when the CI includes 0 or ``|mean| < practical`` (whatever was expected: for a
    hypothesised tie, ``expected_sign`` 0, this is the predicted outcome); otherwise, with ``expected_sign``
    +1 / -1, ``"hypothesis held"`` if the sign matches and ``"hypothesis failed"`` if not; with 0 a real
    difference fails the hypothesis; ``None`` → ``"differs"``.
    """
    m = float(diff["mean"])
    lo, hi = (float(v) for v in diff["ci95"])
    if (lo <= 0.0 <= hi) or abs(m) < practical:
        return "no practical difference"
    if expected_sign is None:
        return "differs"
    if expected_sign == 0:
        return "hypothesis failed"
    return "hypothesis held" if np.sign(m) == np.sign(expected_sign) else "hypothesis failed"


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank, 0-based) of a 1-D array."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    _, inverse, counts = np.unique(xs, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = np.empty(x.shape[0], dtype=np.float64)
    ranks[order] = (first + (counts - 1) / 2.0)[inverse]
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays (average ranks for ties); NaN when either is constant."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"spearman: shapes differ {x.shape} vs {y.shape}")
    rx, ry = _rank(x), _rank(y)
    rx -= rx.mean()
    ry -= ry.mean()
    den = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / den) if den > 0 else float("nan")
