"""The lab's diagnostics: credit fidelity (Spearman of trained credits vs exact A*), gradient SNR, removal
distortion, calls to a threshold. Vectorised over seeds."""

from __future__ import annotations

import numpy as np

from .sim import NULL_HINT, World, exact_q, init_params, tables


def _avg_ranks(v: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Average ranks (0-based) of ``v [..., K]`` within the groups given by ``same [..., K, K]`` (bool)."""
    less = (v[..., None, :] < v[..., :, None]) & same
    eq = (v[..., None, :] == v[..., :, None]) & same
    return less.sum(-1) + 0.5 * (eq.sum(-1) - 1)


def grouped_spearman(credit: np.ndarray, target: np.ndarray, group: np.ndarray, mask: np.ndarray
                     ) -> tuple[float, float]:
    """Spearman of ``credit`` vs ``target`` inside each group, averaged over groups where both vary.

    All arrays ``[B, K]`` (B independent blocks of K items); items with equal ``group`` inside a block form a
    group; ``mask`` marks the items that count. Returns ``(sum of per-group correlations, number of groups)``.
    """
    same = (group[..., :, None] == group[..., None, :]) & mask[..., :, None] & mask[..., None, :]
    n = same.sum(-1)  # group size seen from each item (0 for masked items)
    rx, ry = _avg_ranks(credit, same), _avg_ranks(target, same)
    c = (n - 1) / 2.0
    dx, dy = np.where(mask, rx - c, 0.0), np.where(mask, ry - c, 0.0)
    sxy = (same * (dx * dy)[..., None, :]).sum(-1)
    sxx = (same * (dx * dx)[..., None, :]).sum(-1)
    syy = (same * (dy * dy)[..., None, :]).sum(-1)
    ok = mask & (n >= 2) & (sxx > 0) & (syy > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(ok, sxy / np.sqrt(sxx * syy), 0.0)
    w = np.where(ok, 1.0 / np.maximum(n, 1), 0.0)
    return float((corr * w).sum()), float(w.sum())


class Fidelity:
    """Accumulates within-context and pooled credit fidelity per role over logged iterations."""

    def __init__(self) -> None:
        self.acc = {(scope, role): [0.0, 0.0] for scope in ("within", "pooled") for role in ("thinker", "reasoner")}

    def add(self, world: World, x: np.ndarray, pi_T: np.ndarray, pi_R: np.ndarray, step) -> None:
        """Log one iteration: ``x [S, T]``, policy tables at ``x``, a :class:`~algorithms.bench.lab.learners.Step`."""
        Q = exact_q(world, x, pi_R)  # [S, T, 11]
        V = (pi_T * Q).sum(-1)
        S, T = x.shape
        aT = np.take_along_axis(Q, step.mT, axis=-1) - V[..., None]  # A*_T [S, T, KT]
        qR = np.take_along_axis(Q, step.mR, axis=-1)
        rbar = world.rbar[x]  # [S, T, 10]
        aR = np.take_along_axis(rbar, step.aR, axis=-1) - qR  # A*_R [S, T, KR]
        for role, cr, tg, ctx, tr in (("thinker", step.advT, aT, np.zeros_like(step.mT), step.trT),
                                      ("reasoner", step.advR, aR, step.mR, step.trR)):
            tr = np.asarray(tr, dtype=bool)
            if not tr.any():
                continue
            s, n = grouped_spearman(cr.reshape(S * T, -1), tg.reshape(S * T, -1), ctx.reshape(S * T, -1),
                                    tr.reshape(S * T, -1))
            self.acc[("within", role)][0] += s
            self.acc[("within", role)][1] += n
            s, n = grouped_spearman(cr.reshape(S, -1), tg.reshape(S, -1), np.zeros((S, cr[0].size)),
                                    tr.reshape(S, -1))
            self.acc[("pooled", role)][0] += s
            self.acc[("pooled", role)][1] += n

    def result(self) -> dict:
        """``{"within": {"thinker", "reasoner"}, "pooled": {...}}`` (None where no group varied)."""
        out: dict = {"within": {}, "pooled": {}}
        for (scope, role), (s, n) in self.acc.items():
            out[scope][role] = s / n if n > 0 else None
        return out


def snr(grads: np.ndarray, n_policies: int, mask: np.ndarray) -> float | None:
    """Gradient SNR ``|E g|² / tr Var g`` on the coordinates ``mask [D]``.

    ``grads [n_policies * n_batches, D]``: rows ``p * n_batches + b`` are independent batches at policy p.
    ``|E g|²`` is estimated without bias (``|ḡ|² − tr Var / n``); the ratio is averaged over policies.
    None when the role has no learnable coordinate or no variance.
    """
    if not mask.any():
        return None
    g = grads[:, mask].reshape(n_policies, -1, int(mask.sum()))
    nb = g.shape[1]
    mean = g.mean(1)
    trvar = g.var(1, ddof=1).sum(-1)  # [n_policies]
    sig = (mean**2).sum(-1) - trvar / nb
    ok = trvar > 0
    if not ok.any():
        return None
    return float(np.mean(sig[ok] / trvar[ok]))


def removal_distortion(world: World, P: np.ndarray | None = None) -> dict:
    """Ablation contribution D = Q(x, m) − Q(x, ∅) (CCPO) vs the exact marginal value A*_T = Q(x, m) − V(x)
    (frozen-context resampling, C3), over all tasks and messages weighted by π_T(m | x).

    Returns ``{"mean": E[D − A*] (= mean thinker contribution V − Q(x, ∅)), "corr": π_T-weighted Pearson of D and
    A*}``, both averaged over seeds of ``P [S, D]`` (default: the initial policy).
    """
    P = init_params(world, 1) if P is None else P
    x = np.arange(world.n_tasks)
    pi_T, pi_R = tables(world, P, x)
    Q = exact_q(world, x, pi_R)
    V = (pi_T * Q).sum(-1, keepdims=True)
    D = Q - Q[..., NULL_HINT:NULL_HINT + 1]
    A = Q - V
    w = pi_T / pi_T.sum((1, 2), keepdims=True)
    mD, mA = (w * D).sum((1, 2), keepdims=True), (w * A).sum((1, 2), keepdims=True)
    cov = (w * (D - mD) * (A - mA)).sum((1, 2))
    vd, va = (w * (D - mD) ** 2).sum((1, 2)), (w * (A - mA) ** 2).sum((1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where((vd > 0) & (va > 0), cov / np.sqrt(vd * va), np.nan)
    mean = (w * (D - A)).sum((1, 2))
    return {"mean": float(mean.mean()), "corr": None if np.isnan(corr).all() else float(np.nanmean(corr))}


def calls_to_reach(calls: np.ndarray, mean_curve: np.ndarray, threshold: float) -> float | None:
    """Evaluator calls at which the mean curve first reaches ``threshold`` (linear interpolation between
    evaluation points); None if it never does."""
    above = np.flatnonzero(mean_curve >= threshold)
    if len(above) == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(calls[0])
    x0, x1, y0, y1 = calls[i - 1], calls[i], mean_curve[i - 1], mean_curve[i]
    return float(x0 + (threshold - y0) / (y1 - y0) * (x1 - x0))
