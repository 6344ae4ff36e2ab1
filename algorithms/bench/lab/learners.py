"""The lab's learners (credit-lab.md §3, §5) at a matched budget of B = 8 evaluator calls per task.

A learner = a rollout plan (flat 8 episodes, CCPO's 4 joint + 4 thinker-ablated, or C3's tree [2, 4]) + a credit
rule from :mod:`algorithms.bench.lab.credit` (the tested twins of ``ESTIMATORS``, configured with the estimators'
own config classes) + its state. :data:`LEARNERS` is the one registry; the runner never branches on a name.

Randomness: each iteration gets uniforms ``U [S, T, 8, 3]`` (streams: thinker, reasoner, evaluator flip), the
same for every learner of a seed (common random numbers across learners, which tightens paired differences).
Flat plans use slot k for episode k; CCPO's joint k uses slot k and its solo k slot 4 + k (``crn``: slot k, so
joint k and solo k share the reasoner's and the evaluator's random numbers); C3's thinker node i uses slot i's
thinker stream and leaf j slot j's reasoner and flip streams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from algorithms.estimators import C3Config, CCPOConfig, GRPOConfig, MAPPOConfig

from . import credit
from .sim import N_CONTEXTS, N_HINTS, NULL_HINT, World

B = 8  # evaluator calls per task


def sample(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: ``p [..., n]`` (broadcast against ``u [...]``) → indices ``[...]``."""
    cum = np.cumsum(p, axis=-1)
    k = (u[..., None] >= cum).sum(-1)
    return np.minimum(k, p.shape[-1] - 1)


def reward(world: World, x: np.ndarray, a: np.ndarray, flip_u: np.ndarray) -> np.ndarray:
    """Team reward 1[a = y(x)], flipped with probability ε: ``x [S, T]``, ``a, flip_u [S, T, K]`` → ``[S, T, K]``."""
    right = a == world.y[x][..., None]
    return (right != (flip_u < world.knobs.eps)).astype(np.float64)


def _answers(pi_R: np.ndarray, m: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Reasoner answers for hints ``m [S, T, K]`` with uniforms ``u [S, T, K]``; ``pi_R [S, T, 11, 10]``."""
    return sample(gather_hint(pi_R, m), u)


def gather_hint(pi_R: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``pi_R [S, T, 11, 10]`` at hints ``m [S, T, K]`` → ``[S, T, K, 10]``."""
    S, T = m.shape[:2]
    return pi_R[np.arange(S)[:, None, None], np.arange(T)[None, :, None], m]


@dataclass
class Step:
    """One iteration's trained messages and credits (seed axis first).

    ``mT, advT, trT [S, T, KT]``: thinker messages, their credits, trained mask; ``mR, aR, advR, trR [S, T, KR]``
    reasoner messages (hint seen, answer), credits, mask; ``state``: the learner state for the next iteration.
    """

    mT: np.ndarray
    advT: np.ndarray
    trT: np.ndarray
    mR: np.ndarray
    aR: np.ndarray
    advR: np.ndarray
    trR: np.ndarray
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def n_trained(self) -> np.ndarray:
        """Trained messages per seed ``[S]``."""
        return self.trT.reshape(self.trT.shape[0], -1).sum(1) + self.trR.reshape(self.trR.shape[0], -1).sum(1)


StepFn = Callable[[World, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict], Step]


@dataclass(frozen=True)
class Learner:
    """A registered learner: ``init(world, S) -> state`` and ``step(world, it, x, U, pi_T, pi_R, state) -> Step``."""

    name: str
    plan: str
    description: str
    init: Callable[[World, int], dict]
    step: StepFn


def _flat(world: World, x: np.ndarray, U: np.ndarray, pi_T: np.ndarray, pi_R: np.ndarray):
    m = sample(pi_T[:, :, None, :], U[..., 0])
    a = _answers(pi_R, m, U[..., 1])
    return m, a, reward(world, x, a, U[..., 2])


def _all(shape: tuple[int, ...]) -> np.ndarray:
    return np.ones(shape, dtype=bool)


# ------------------------------------------------------------------------------------------------ GRPO family
def _grpo(cfg: GRPOConfig) -> StepFn:
    def step(world, it, x, U, pi_T, pi_R, state):
        m, a, R = _flat(world, x, U, pi_T, pi_R)
        adv, _ = credit.grpo_credits(R, cfg)
        return Step(m, adv, _all(m.shape), m, a, adv, _all(m.shape), state)
    return step


def _rae_step(world, it, x, U, pi_T, pi_R, state):
    m, a, R = _flat(world, x, U, pi_T, pi_R)
    adv, b = credit.rae_credits(R, state["baseline"])
    return Step(m, adv, _all(m.shape), m, a, adv, _all(m.shape), {"baseline": b})


def _drmas_step(world, it, x, U, pi_T, pi_R, state):
    m, a, R = _flat(world, x, U, pi_T, pi_R)
    adv = credit.drmas_credits(R)
    return Step(m, adv, _all(m.shape), m, a, adv, _all(m.shape), state)


# ------------------------------------------------------------------------------------------------ MAPPO
@dataclass(frozen=True)
class CriticSpec:
    """MAPPO's critic: ``"table"`` (V(x), V(x, m) per task) or ``"factored"`` (V(a·10+b), V(m, c)); regression
    step ``lr`` per visit toward the mean return of the visit (zero-initialised, updated every iteration);
    ``stale_every`` k: the credits read a snapshot of the critic refreshed every k iterations."""

    kind: str = "table"
    lr: float = 0.5
    stale_every: int = 1


def _mappo_init(spec: CriticSpec) -> Callable[[World, int], dict]:
    def init(world: World, S: int) -> dict:
        if spec.kind == "table":
            st = {"VT": np.zeros((S, world.n_tasks)), "VR": np.zeros((S, world.n_tasks, N_HINTS))}
        else:
            st = {"VT": np.zeros((S, N_CONTEXTS)), "VR": np.zeros((S, N_HINTS, world.knobs.C))}
        st.update({"snapT": st["VT"].copy(), "snapR": st["VR"].copy()})
        return st
    return init


def table_critic_update(V: np.ndarray, flat_idx: np.ndarray, target: np.ndarray, lr: float) -> np.ndarray:
    """``V`` (any shape, seed first) moved by ``lr`` toward the mean target of each visited cell."""
    n = V.size
    sums = np.bincount(flat_idx.ravel(), weights=target.ravel(), minlength=n)
    cnt = np.bincount(flat_idx.ravel(), minlength=n)
    flat = V.reshape(-1).copy()
    seen = cnt > 0
    flat[seen] += lr * (sums[seen] / cnt[seen] - flat[seen])
    return flat.reshape(V.shape)


def _mappo(spec: CriticSpec, cfg: MAPPOConfig | None = None) -> StepFn:
    cfg = cfg or MAPPOConfig()

    def step(world, it, x, U, pi_T, pi_R, state):
        m, a, R = _flat(world, x, U, pi_T, pi_R)
        S, T, K = m.shape
        s = np.arange(S)[:, None, None]
        xx = np.broadcast_to(x[..., None], m.shape)
        if spec.kind == "table":
            iT, iR = s * world.n_tasks + xx, (s * world.n_tasks + xx) * N_HINTS + m
        else:
            C = world.knobs.C
            iT = s * N_CONTEXTS + world.ab[xx]
            iR = (s * N_HINTS + m) * C + world.c[xx]
        VT, VR = state["snapT"].reshape(-1)[iT], state["snapR"].reshape(-1)[iR]
        advT, advR, rawT, rawR = credit.mappo_credits(R, VT, VR, cfg)
        new = dict(state)
        new["VT"] = table_critic_update(state["VT"], iT, rawT + VT, spec.lr)
        new["VR"] = table_critic_update(state["VR"], iR, rawR + VR, spec.lr)
        if (it + 1) % spec.stale_every == 0:
            new["snapT"], new["snapR"] = new["VT"].copy(), new["VR"].copy()
        return Step(m, advT, _all(m.shape), m, a, advR, _all(m.shape), new)
    return step


# ------------------------------------------------------------------------------------------------ CCPO family
def _ccpo(cfg: CCPOConfig, crn: bool) -> StepFn:
    def step(world, it, x, U, pi_T, pi_R, state):
        k = B // 2
        m = sample(pi_T[:, :, None, :], U[:, :, :k, 0])
        a = _answers(pi_R, m, U[:, :, :k, 1])
        J = reward(world, x, a, U[:, :, :k, 2])
        solo = slice(0, k) if crn else slice(k, B)
        null = np.full_like(m, NULL_HINT)
        a_solo = _answers(pi_R, null, U[:, :, solo, 1])
        Sv = reward(world, x, a_solo, U[:, :, solo, 2])
        advT, advR, _, _, active, new = credit.ccpo_credits(J, Sv, state, cfg)
        trT = np.broadcast_to(active[:, 0, None, None], m.shape)
        trR = np.broadcast_to(active[:, 1, None, None], m.shape)
        return Step(m, advT, trT, m, a, advR, trR, new)
    return step


# ------------------------------------------------------------------------------------------------ C3
def _c3(cfg: C3Config, fan: tuple[int, int] = (2, 4)) -> StepFn:
    n1, n2 = fan

    def step(world, it, x, U, pi_T, pi_R, state):
        S, T = x.shape
        mT = sample(pi_T[:, :, None, :], U[:, :, :n1, 0])  # [S, T, n1]
        mR = np.repeat(mT, n2, axis=-1)  # leaf j = i * n2 + jj
        a = _answers(pi_R, mR, U[:, :, : n1 * n2, 1])
        R = reward(world, x, a, U[:, :, : n1 * n2, 2])
        advT, advR, _, _ = credit.c3_credits(R.reshape(S, T, n1, n2), cfg)
        return Step(mT, advT, _all(mT.shape), mR, a, advR.reshape(S, T, n1 * n2), _all(mR.shape), state)
    return step


def _empty(world: World, S: int) -> dict:
    return {}


CCPO_LAB = CCPOConfig(alternate_every=0)
"""The lab's CCPO: v1's rule with both roles trained every step (``alternate_every=0``); ``ccpo_alt`` keeps the
release's alternation (one role per 10-step block), which halves the trained messages."""

LEARNERS: dict[str, Learner] = {
    lr.name: lr for lr in (
        Learner("grpo", "flat", "MAGRPO: 8 flat episodes, group-normalised team reward for both roles",
                _empty, _grpo(GRPOConfig())),
        Learner("mappo", "flat", "MAPPO: R − V(x) / R − V(x, m), per-task critic table (lr 0.5, every iteration)",
                _mappo_init(CriticSpec()), _mappo(CriticSpec())),
        Learner("mappo_factored", "flat", "MAPPO with a factored critic V(a·10+b), V(m, c)",
                _mappo_init(CriticSpec(kind="factored")), _mappo(CriticSpec(kind="factored"))),
        Learner("mappo_stale", "flat", "MAPPO, per-task critic read from a snapshot refreshed every 20 iterations",
                _mappo_init(CriticSpec(stale_every=20)), _mappo(CriticSpec(stale_every=20))),
        Learner("ccpo", "ccpo", "CCPO v1: 4 joint + 4 thinker-ablated, Δ, EMA shaping, tanh / gate, GRPO",
                lambda w, S: credit.ccpo_init_state(S), _ccpo(CCPO_LAB, crn=False)),
        Learner("ccpo_crn", "ccpo", "CCPO v1 with common random numbers for joint k and solo k",
                lambda w, S: credit.ccpo_init_state(S), _ccpo(CCPO_LAB, crn=True)),
        Learner("ccpo_alt", "ccpo", "CCPO v1 as released: one role trained per 10-step block",
                lambda w, S: credit.ccpo_init_state(S), _ccpo(CCPOConfig(), crn=False)),
        Learner("rema", "ccpo", "ReMA shared reward on CCPO's plan (the 4 solo episodes are spent, unused)",
                lambda w, S: credit.ccpo_init_state(S), _ccpo(replace(CCPO_LAB, reward_mode="shared"), crn=False)),
        Learner("c3", "tree", "C3: tree [2, 4], leave-one-out among siblings, group-normalised",
                _empty, _c3(C3Config())),
        Learner("rae", "flat", "per-agent running-average reward baseline (RAE, prime-rl style), no normalisation",
                lambda w, S: {"baseline": np.full(S, np.nan)}, _rae_step),
        Learner("drmas", "flat", "per-agent advantage normalisation over the agent's batch (Dr. MAS-style)",
                _empty, _drmas_step),
    )
}
"""Every lab learner by name."""

DEFAULT_LEARNERS = ("grpo", "mappo", "mappo_factored", "ccpo", "ccpo_crn", "c3", "rae", "drmas")
"""The learners of a full run (``--learners`` chooses others from :data:`LEARNERS`)."""
