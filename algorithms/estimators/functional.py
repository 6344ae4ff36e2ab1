"""Pure numeric building blocks shared by the estimators (numpy only, no trainer state).

Every function takes flat arrays of length ``N`` (one entry per decision, i.e. per message) and an
integer group index ``g`` of the same length (``g[i]`` = group of decision ``i``, from
:func:`group_index`). Shapes are noted as ``[N]``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def group_index(keys: Sequence[Hashable]) -> np.ndarray:
    """Map arbitrary hashable keys to dense group ids ``[N]`` (first appearance order).

    >>> group_index(["a", "b", "a"]).tolist()
    [0, 1, 0]
    """
    seen: dict[Hashable, int] = {}
    return np.asarray([seen.setdefault(k, len(seen)) for k in keys], dtype=np.int64)


def group_sizes(g: np.ndarray) -> np.ndarray:
    """Size of the group of each element ``[N]``."""
    counts = np.bincount(g)
    return counts[g]


def group_mean(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Mean of ``x`` over each element's group, broadcast back ``[N]``."""
    x = np.asarray(x, dtype=np.float64)
    sums = np.bincount(g, weights=x)
    return (sums / np.bincount(g))[g]


def loo_mean(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Leave-one-out mean ``LOO(x)_i = mean_{k in G(i), k != i} x_k`` ``[N]``.

    A group of size 1 has no other member; its LOO mean is defined as ``x_i`` itself, so that the
    credit ``x_i - LOO(x)_i`` is 0 (C3's rule for singleton sibling groups).

    >>> loo_mean(np.array([0.63, 0.80, 0.73]), np.zeros(3, dtype=int)).round(3).tolist()
    [0.765, 0.68, 0.715]
    """
    x = np.asarray(x, dtype=np.float64)
    sums = np.bincount(g, weights=x)[g]
    n = np.bincount(g)[g]
    out = x.copy()
    many = n > 1
    out[many] = (sums[many] - x[many]) / (n[many] - 1)
    return out


def group_std(x: np.ndarray, g: np.ndarray, *, ddof: int) -> np.ndarray:
    """Standard deviation of ``x`` within each element's group (``ddof`` 0 = population) ``[N]``.

    Groups with ``size - ddof <= 0`` get a std of 0.
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - group_mean(x, g)
    ss = np.bincount(g, weights=centred**2)
    dof = np.bincount(g) - ddof
    var = np.where(dof > 0, ss / np.maximum(dof, 1), 0.0)
    return np.sqrt(var)[g]


def group_scale(x: np.ndarray, g: np.ndarray, *, ddof: int, eps: float, eps_inside_sqrt: bool) -> np.ndarray:
    """The denominator of a group standardisation ``[N]``: ``sqrt(var + eps)`` or ``std + eps``."""
    std = group_std(x, g, ddof=ddof)
    return np.sqrt(std**2 + eps) if eps_inside_sqrt else std + eps


def group_standardize(
    x: np.ndarray,
    g: np.ndarray,
    *,
    ddof: int,
    eps: float,
    eps_inside_sqrt: bool,
    singleton: str = "zero",
) -> np.ndarray:
    """Standardise ``x`` within groups: ``(x - mean) / scale`` ``[N]``.

    Args:
        x: values ``[N]``.
        g: group ids ``[N]``.
        ddof: 0 for the population variance (C3), 1 for the unbiased one (CCPO / torch default).
        eps: stabiliser; ``scale = sqrt(var + eps)`` if ``eps_inside_sqrt`` (C3's ``normalize_adv``)
            else ``std + eps`` (verl's GRPO, used by CCPO).
        singleton: what a group of one gets: ``"zero"`` (C3: ``x - mean = 0``) or ``"identity"``
            (verl's GRPO: mean 0 and std 1, so the value passes through unchanged).
    """
    x = np.asarray(x, dtype=np.float64)
    scale = group_scale(x, g, ddof=ddof, eps=eps, eps_inside_sqrt=eps_inside_sqrt)
    out = (x - group_mean(x, g)) / scale
    if singleton not in ("zero", "identity"):
        raise ValueError(f"singleton must be 'zero' or 'identity', got {singleton!r}")
    if singleton == "identity":
        alone = group_sizes(g) == 1
        out[alone] = x[alone]
    return out


def generalized_advantage_estimate(
    rewards: np.ndarray, values: np.ndarray, *, gamma: float = 1.0, lam: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """GAE over the ordered decisions of ONE episode (Schulman et al. 2016, arXiv 1506.02438).

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` (``V_T = 0`` after the last decision) and
    ``A_t = delta_t + gamma * lam * A_{t+1}``; returns ``(advantages [T], returns [T])`` with
    ``returns = advantages + values`` (the critic's regression targets).

    >>> a, r = generalized_advantage_estimate(np.array([0.0, 1.0]), np.array([0.4, 0.7]))
    >>> a.round(6).tolist(), r.round(6).tolist()
    ([0.6, 0.3], [1.0, 1.0])
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    adv = np.zeros_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        next_value = values[t + 1] if t + 1 < len(rewards) else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
    return adv, adv + values


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation with average ranks for ties; ``nan`` if either side is constant."""
    ra, rb = _average_ranks(np.asarray(a, dtype=np.float64)), _average_ranks(np.asarray(b, dtype=np.float64))
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    for value in np.unique(x):
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks
