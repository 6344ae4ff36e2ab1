"""Policy-gradient of the lab's message-mean loss and the Adam step, vectorised over seeds.

The loss of one iteration is ``L = −(1/N) Σ_i A_i log π(action_i | context_i)`` over the N trained messages
of a seed (each trained message weighs 1/N: "message-mean"). :func:`pg_gradient` returns ``∂(−L)/∂P``, the
ascent direction, in the flat parameter layout of :class:`~algorithms.bench.lab.sim.Layout`; the exact score
function of a softmax is used (``∂ log π(k)/∂ logit = e_k − π``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .sim import N_ANSWERS, N_HINTS, NULL_HINT, Layout, World


@dataclass
class Messages:
    """The trained messages of one iteration (seed axis first).

    Attributes:
        x: ``[S, T]`` task of each task slot.
        mT: ``[S, T, KT]`` thinker messages; ``wT`` ``[S, T, KT]`` their weights A_i / N (0 = not trained).
        mR: ``[S, T, KR]`` the hint each reasoner message saw; ``aR`` ``[S, T, KR]`` its answer; ``wR`` weights.
    """

    x: np.ndarray
    mT: np.ndarray
    wT: np.ndarray
    mR: np.ndarray
    aR: np.ndarray
    wR: np.ndarray


def pg_gradient(world: World, pi_T: np.ndarray, pi_R: np.ndarray, msg: Messages,
                skip: tuple[str, ...] | None = None) -> np.ndarray:
    """Ascent gradient ``[S, D]`` of ``Σ_i w_i log π(action_i)`` given the policy tables at ``msg.x``.

    ``pi_T [S, T, 11]`` and ``pi_R [S, T, 11, 10]`` come from :func:`~algorithms.bench.lab.sim.tables`.
    Groups in ``skip`` (default: the knobs' frozen groups) are left at 0 (never read: they do not learn).
    """
    skip = world.knobs.frozen if skip is None else skip
    C = world.knobs.C
    lay = Layout(C, world.n_tasks)
    S, T = msg.x.shape
    g = np.zeros((S, lay.D))
    s_idx = np.arange(S)[:, None]
    ab, c, u = world.ab[msg.x], world.c[msg.x], world.u[msg.x]

    # thinker: sum_k w (e_m - pi_T)
    wT_sum = msg.wT.sum(-1)  # [S, T]
    if "theta" not in skip:
        gtheta = _onehot_sum(msg.mT, msg.wT, N_HINTS) - wT_sum[..., None] * pi_T  # [S, T, 11]
        np.add.at(lay.view(g, "theta"), (s_idx, ab), gtheta)
    if "s_T" not in skip:
        p_u = np.take_along_axis(pi_T, u[..., None], axis=-1)[..., 0]  # [S, T]
        hit_u = (msg.mT == u[..., None]) * msg.wT
        g[:, lay.slices["s_T"]] = (hit_u.sum(-1) - wT_sum * p_u).sum(-1, keepdims=True)

    # reasoner: w (e_a - pi_R(.|x, m))
    if {"phi", "psi", "s_R"} <= set(skip):
        return g
    KR = msg.mR.shape[-1]
    pR = pi_R[s_idx[..., None], np.arange(T)[None, :, None], msg.mR]  # [S, T, KR, 10]
    contrib = _onehot(msg.aR, N_ANSWERS)
    contrib -= pR
    contrib *= msg.wR[..., None]  # [S, T, KR, 10]
    cR = np.broadcast_to(c[..., None], (S, T, KR))
    if "phi" not in skip:
        idx = ((((s_idx[..., None] * N_HINTS + msg.mR) * C + cR) * N_ANSWERS)[..., None] + np.arange(N_ANSWERS)).ravel()
        g[:, lay.slices["phi"]] = np.bincount(idx, weights=contrib.ravel(),
                                              minlength=S * N_HINTS * C * N_ANSWERS).reshape(S, -1)
    if "psi" not in skip:
        np.add.at(lay.view(g, "psi"), (s_idx, world.psi_row[msg.x]), contrib.sum(2))
    if "s_R" not in skip:
        gm = (3 * msg.mR + c[..., None]) % 10  # g(m, c)
        p_g = np.take_along_axis(pR, gm[..., None], axis=-1)[..., 0]
        sR = np.where(msg.mR != NULL_HINT, msg.wR * ((msg.aR == gm) - p_g), 0.0)  # [S, T, KR]
        idx = (s_idx[..., None] * C + cR).ravel()
        g[:, lay.slices["s_R"]] = np.bincount(idx, weights=sR.ravel(), minlength=S * C).reshape(S, C)
    return g


def _onehot(k: np.ndarray, n: int) -> np.ndarray:
    return (k[..., None] == np.arange(n)).astype(np.float64)


def _onehot_sum(k: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """``Σ_j w[..., j] e_{k[..., j]}`` ``[..., n]`` for ``k, w [..., K]``."""
    return (_onehot(k, n) * w[..., None]).sum(-2)


@dataclass
class Adam:
    """Adam (torch defaults β = (0.9, 0.999), eps 1e-8, dense) on the learnable coordinates of ``[S, D]``.

    The learnable coordinates are kept as contiguous runs of ``mask`` so every update works on views in place.
    """

    lr: float
    mask: np.ndarray  # [D] bool, learnable coordinates
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def runs(self) -> list[slice]:
        """Contiguous runs of ``mask`` as slices."""
        m = np.concatenate([[False], self.mask, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(m))
        return [slice(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]

    def init(self, S: int) -> dict:
        """Optimiser state for ``S`` seeds (moments per run of learnable coordinates)."""
        runs = self.runs()
        return {"runs": runs, "m": [np.zeros((S, r.stop - r.start)) for r in runs],
                "v": [np.zeros((S, r.stop - r.start)) for r in runs], "t": 0}

    def step(self, P: np.ndarray, ascent: np.ndarray, state: dict) -> None:
        """In place: ``P`` ``[S, D]`` moves along the ascent gradient ``[S, D]`` (loss gradient = −ascent)."""
        if self.lr == 0.0 or not state["runs"]:
            return
        state["t"] += 1
        t = state["t"]
        # p -= lr/bc1 * m / (sqrt(v/bc2) + eps)  ==  p -= (lr/bc1 * sqrt(bc2)) * m / (sqrt(v) + eps*sqrt(bc2))
        sbc2 = float(np.sqrt(1 - self.beta2**t))
        step = self.lr / (1 - self.beta1**t) * sbc2
        eps = self.eps * sbc2
        for r, m, v in zip(state["runs"], state["m"], state["v"], strict=True):
            g = ascent[:, r]  # ascent = -loss gradient: m and v are kept for the loss gradient -g
            m *= self.beta1
            m -= (1 - self.beta1) * g
            v *= self.beta2
            g = g * g
            g *= 1 - self.beta2
            v += g
            denom = np.sqrt(v)
            denom += eps
            np.divide(m, denom, out=denom)
            denom *= step
            P[:, r] -= denom
