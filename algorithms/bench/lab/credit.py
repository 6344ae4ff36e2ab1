"""Vectorised twins of the project's estimators (``algorithms.estimators.ESTIMATORS``) and the array adapter.

Calling ``ESTIMATORS[name]`` once per seed per iteration costs a ``RolloutBatch`` of Python objects per call
(measured in ``tests/test_lab_equivalence.py``'s timing note: ~64 × 300 calls per learner and regime); the lab
instead uses the twins below, on arrays with the seed axis first, and ``tests/test_lab_equivalence.py`` shows
twin == ``ESTIMATORS`` output on random batches to 1e-12 (GRPO, MAPPO, CCPO incl. its EMA state across
iterations, C3), through :func:`flat_batch` / :func:`tree_batch` which build the ``RolloutBatch`` the
estimators read. The configs are the estimators' own dataclasses, so a changed default reaches the lab.

Array conventions (one seed batch = T tasks):

- flat episodes: ``R [S, T, K]`` team rewards (both roles' messages of episode k share it);
- CCPO: joint ``J [S, T, K]`` and index-paired solo (thinker-ablated) ``Sv [S, T, K]``;
- C3 tree [2, 4]: leaf rewards ``L [S, T, 2, 4]``.

Two lab-only baselines (not in ``ESTIMATORS``; no copy of a project rule): :func:`rae_credits` and
:func:`drmas_credits` (credit-lab.md §5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from algorithms.batch import Decision, RolloutBatch
from algorithms.estimators import C3Config, CCPOConfig, GRPOConfig, MAPPOConfig

TRACKS = ("delta", "joint", "solo")


# ------------------------------------------------------------------------------------------------ GRPO
def grpo_credits(R: np.ndarray, cfg: GRPOConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Twin of ``ESTIMATORS["grpo"]`` for flat episodes: ``(adv, raw)`` each ``[S, T, K]`` (same for both roles)."""
    cfg = cfg or GRPOConfig()
    mean = R.mean(-1, keepdims=True) if cfg.baseline == "mean" else _loo(R)
    raw = R - mean
    if not cfg.std_normalize:
        return raw, raw
    K = R.shape[-1]
    var = ((R - R.mean(-1, keepdims=True)) ** 2).sum(-1, keepdims=True) / max(K - cfg.std_ddof, 1)
    if K - cfg.std_ddof <= 0:
        var = np.zeros_like(var)
    scale = np.sqrt(var + cfg.std_eps) if cfg.eps_inside_sqrt else np.sqrt(var) + cfg.std_eps
    return raw / scale, raw


def _loo(x: np.ndarray) -> np.ndarray:
    K = x.shape[-1]
    return (x.sum(-1, keepdims=True) - x) / (K - 1) if K > 1 else x.copy()


# ------------------------------------------------------------------------------------------------ MAPPO
def mappo_credits(R: np.ndarray, VT: np.ndarray, VR: np.ndarray, cfg: MAPPOConfig | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Twin of ``ESTIMATORS["mappo"]`` for the dyad (thinker turn 0, reasoner turn 1, reward on the last).

    Args: ``R, VT, VR [S, T, K]`` reward and the critic's V at the thinker's and the reasoner's state.
    Returns ``(advT, advR, rawT, rawR)`` each ``[S, T, K]`` (global normalisation over the seed's 2TK rows).
    """
    cfg = cfg or MAPPOConfig()
    g, lam = cfg.gamma, cfg.lam
    rawR = R - VR  # delta_1 = R - V1
    rawT = (g * VR - VT) + g * lam * rawR  # delta_0 + gamma lam A_1
    if not cfg.global_normalize:
        return rawT, rawR, rawT, rawR
    both = np.concatenate([rawT.reshape(R.shape[0], -1), rawR.reshape(R.shape[0], -1)], axis=1)
    mu = both.mean(1)[:, None, None]
    sd = both.std(1)[:, None, None]
    return (rawT - mu) / (sd + 1e-8), (rawR - mu) / (sd + 1e-8), rawT, rawR


# ------------------------------------------------------------------------------------------------ CCPO
def ccpo_init_state(S: int) -> dict[str, np.ndarray]:
    """Empty CCPO state for ``S`` seeds (EMA tracks delta/joint/solo, counters, step)."""
    return {"mean": np.zeros((S, 3)), "m2": np.zeros((S, 3)), "n_updates": np.zeros(S, dtype=np.int64),
            "n_seen": np.zeros(S, dtype=np.int64), "step": np.zeros(S, dtype=np.int64)}


def ccpo_credits(J: np.ndarray, Sv: np.ndarray, state: Mapping[str, np.ndarray], cfg: CCPOConfig | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Twin of ``ESTIMATORS["ccpo"]`` for the dyad (thinker = contributor, reasoner = gated role).

    Args: ``J, Sv [S, T, K]`` joint and index-paired solo rewards; ``state`` from :func:`ccpo_init_state`.
    Returns ``(advT, advR, rT, rR, active [S, 2] bool (thinker, reasoner trained), new_state)``.
    Only ``solo_baseline="index"``, no truncation (the lab has none); other switches as in the estimator.
    """
    cfg = cfg or CCPOConfig()
    if cfg.solo_baseline != "index":
        raise ValueError("lab CCPO twin supports solo_baseline='index' only")
    S = J.shape[0]
    delta = J - Sv
    mean, m2 = state["mean"], state["m2"]
    if cfg.reward_mode == "shared":
        rT, rR = J.copy(), J.copy()
    elif not cfg.use_history:
        rT, rR = 0.5 * delta, 0.5 * J
    else:
        shaped = ((state["n_updates"] >= 1) & (state["n_seen"] >= cfg.min_samples))[:, None, None]
        sig = np.where(m2 > 1e-6, np.sqrt(np.maximum(m2, 0.0)), 1.0)
        mu = mean
        e = lambda a, k: a[:, k][:, None, None]  # noqa: E731  [S] -> [S, 1, 1]
        tT = np.tanh(cfg.alpha * (delta - e(mu, 0)) / (e(sig, 0) + 1e-6))
        zJ = (J - e(mu, 1)) / (e(sig, 1) + 1e-6)
        if cfg.gated_mode == "gated":
            zS = (Sv - e(mu, 2)) / (e(sig, 2) + 1e-6)
            gate = 1.0 / (1.0 + np.exp(-cfg.eta * e(mu, 0) / (e(sig, 0) + 1e-6)))
            tR = gate * zJ + (1 - gate) * zS
        else:
            tR = zJ
        rT = np.where(shaped, tT, delta)
        rR = np.where(shaped, tR, J)
    new = {k: v.copy() for k, v in state.items()}
    if cfg.use_history and cfg.reward_mode == "counterfactual":
        flat = lambda a: a.reshape(S, -1)  # noqa: E731
        bm = np.stack([flat(delta).mean(1), flat(J).mean(1), flat(Sv).mean(1)], axis=1)
        bv = np.stack([flat(delta).var(1), flat(J).var(1), flat(Sv).var(1)], axis=1)
        first = (state["n_updates"] == 0)[:, None]
        d = cfg.ema_decay
        new["mean"] = np.where(first, bm, d * mean + (1 - d) * bm)
        new["m2"] = np.where(first, bv, d * m2 + (1 - d) * bv)
        new["n_updates"] = state["n_updates"] + 1
        new["n_seen"] = np.minimum(state["n_seen"] + delta[0].size, 1000)
    K = J.shape[-1]

    def grpo1(r: np.ndarray) -> np.ndarray:
        if K == 1:
            return r.copy()
        c = r - r.mean(-1, keepdims=True)
        sd = np.sqrt((c**2).sum(-1, keepdims=True) / (K - 1))
        return c / (sd + cfg.grpo_eps)

    step = state["step"] + 1
    new["step"] = step
    if cfg.alternate_every <= 0:
        active = np.ones((S, 2), dtype=bool)
    else:
        k = step if cfg.alternation == "v1" else step - 1
        role = (k // cfg.alternate_every) % 2
        active = np.stack([role == 0, role == 1], axis=1)
    return grpo1(rT), grpo1(rR), rT, rR, active, new


# ------------------------------------------------------------------------------------------------ C3
def c3_credits(L: np.ndarray, cfg: C3Config | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Twin of ``ESTIMATORS["c3"]`` (``reward_only``) for a tree ``[n1, n2]`` per task.

    Args: ``L [S, T, n1, n2]`` leaf rewards. Returns ``(advT [S, T, n1], advR [S, T, n1, n2], rawT, rawR)``:
    thinker node value = mean of its leaves; leave-one-out (or group mean) among siblings; singleton groups 0;
    then, if ``std_normalize``, standardised within each sibling group (population variance + ``std_eps``).
    """
    cfg = cfg or C3Config()
    if cfg.mode != "reward_only":
        raise ValueError("lab C3 twin supports mode='reward_only' only")
    v = L.mean(-1)  # [S, T, n1]

    def credit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = x.shape[-1]
        if n == 1:
            z = np.zeros_like(x)
            return z, z
        base = _loo(x) if cfg.baseline == "loo" else x.mean(-1, keepdims=True)
        raw = x - base
        if not cfg.std_normalize:
            return raw, raw
        c = raw - raw.mean(-1, keepdims=True)
        return c / np.sqrt((c**2).mean(-1, keepdims=True) + cfg.std_eps), raw

    advT, rawT = credit(v)
    advR, rawR = credit(L)
    return advT, advR, rawT, rawR


# ------------------------------------------------------------------------------------------------ lab-only baselines
def rae_credits(R: np.ndarray, baseline: np.ndarray, decay: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Per-agent running-average reward baseline (RAE, as in prime-rl), not normalised.

    ``A = R − b`` with ``b [S]`` the agent's running average of past batch-mean rewards (EMA ``decay``; the first
    batch initialises it); in the dyad both agents see the team reward, so their baselines coincide.
    Returns ``(adv [S, T, K], new_baseline [S])``; pass ``baseline`` = NaN before the first batch.
    """
    bm = R.reshape(R.shape[0], -1).mean(1)
    b = np.where(np.isnan(baseline), bm, baseline)
    return R - b[:, None, None], decay * b + (1 - decay) * bm


def drmas_credits(R: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Per-agent advantage normalisation (Dr. MAS-style): ``(R − mean_agent) / (std_agent + eps)`` over the
    agent's whole batch (all tasks of the iteration, population std), not per task group. ``[S, T, K]``."""
    f = R.reshape(R.shape[0], -1)
    return (R - f.mean(1)[:, None, None]) / (f.std(1)[:, None, None] + eps)


# ------------------------------------------------------------------------------------------------ array adapter
@dataclass(frozen=True)
class FlatRows:
    """Where each flat-batch row sits in the arrays: ``role`` 0/1, ``t``, ``k``, ``kind`` ("joint"/"solo")."""

    role: np.ndarray
    t: np.ndarray
    k: np.ndarray
    kind: np.ndarray


def flat_batch(R: np.ndarray, *, VT: np.ndarray | None = None, VR: np.ndarray | None = None,
               solo: np.ndarray | None = None) -> tuple[RolloutBatch, FlatRows]:
    """The ``RolloutBatch`` of ONE seed's flat episodes, as the rollout runner would give it.

    ``R [T, K]`` rewards; optional critic values ``VT, VR [T, K]``; optional index-paired solo rewards
    ``solo [T, K]`` (CCPO: every joint row gets ``counterfactual_reward`` = solo k, and K solo reasoner rows of
    ``kind="solo"`` are appended). Each task is one group; each episode has a thinker (turn 0) and a
    reasoner (turn 1, terminal) decision.
    """
    rows, role, ts, ks, kinds = [], [], [], [], []
    T, K = R.shape
    for t in range(T):
        for k in range(K):
            for r, name in enumerate(("thinker", "reasoner")):
                rows.append(Decision(
                    episode_id=f"t{t}/e{k}", group_id=f"t{t}", task_id=f"task{t}", role=name, agent=f"{name}_0",
                    turn=r, reward=float(R[t, k]), context=f"task {t}" + ("" if r == 0 else f" hint e{k}"),
                    value=None if VT is None else float((VT if r == 0 else VR)[t, k]),
                    counterfactual_reward=None if solo is None else float(solo[t, k]),
                    kind="joint", sample_index=k, terminal=r == 1,
                ))
                role.append(r), ts.append(t), ks.append(k), kinds.append("joint")
        if solo is not None:
            for k in range(K):
                rows.append(Decision(
                    episode_id=f"t{t}/s{k}", group_id=f"t{t}", task_id=f"task{t}", role="reasoner",
                    agent="reasoner_0", turn=0, reward=float(solo[t, k]), context=f"task {t}", kind="solo",
                    sample_index=k, terminal=True,
                ))
                role.append(1), ts.append(t), ks.append(k), kinds.append("solo")
    info = FlatRows(np.array(role), np.array(ts), np.array(ks), np.array(kinds))
    return RolloutBatch(rows, evaluator_calls=int(R.size + (0 if solo is None else solo.size))), info


def tree_batch(L: np.ndarray) -> tuple[RolloutBatch, list[tuple[int, int, int | None]]]:
    """The ``RolloutBatch`` of ONE seed's C3 trees, as :meth:`RolloutBatch.from_trees` builds it.

    ``L [T, n1, n2]`` leaf rewards. Rows: per task, the n1 thinker nodes (value = mean leaf reward, siblings at
    the root) and their n2 reasoner leaves (siblings under their thinker node, byte-identical contexts).
    Also returns, per row, ``(t, i, j)`` (``j`` None for a thinker node).
    """
    rows, where = [], []
    T, n1, n2 = L.shape
    for t in range(T):
        tree = f"tree{t}"
        for i in range(n1):
            node = f"{t}.{i}"
            rows.append(Decision(
                episode_id=f"{tree}/{node}", group_id=f"{tree}|thinker|root", task_id=f"task{t}", role="thinker",
                agent="thinker_0", turn=0, reward=float(L[t, i].mean()), context=f"task {t}", node_id=node,
                parent_id="root", terminal=False,
            ))
            where.append((t, i, None))
            for j in range(n2):
                leaf = f"{t}.{i}.{j}"
                rows.append(Decision(
                    episode_id=f"{tree}/{leaf}", group_id=f"{tree}|reasoner|{node}", task_id=f"task{t}",
                    role="reasoner", agent="reasoner_0", turn=1, reward=float(L[t, i, j]),
                    context=f"task {t} hint {i}", node_id=leaf, parent_id=node, terminal=True,
                ))
                where.append((t, i, j))
    return RolloutBatch(rows, evaluator_calls=int(L.size)), where


def ccpo_state_to_estimator(state: Mapping[str, np.ndarray], s: int) -> dict[str, Any]:
    """Seed ``s`` of a twin CCPO state in ``ESTIMATORS["ccpo"]``'s dict form."""
    out: dict[str, Any] = {"step": int(state["step"][s])}
    if state["n_updates"][s] > 0:
        hist: dict[str, Any] = {t: {"mean": float(state["mean"][s, i]), "m2": float(state["m2"][s, i])}
                                for i, t in enumerate(TRACKS)}
        hist["n_updates"] = int(state["n_updates"][s])
        hist["n_seen"] = int(state["n_seen"][s])
        out["history"] = hist
    else:
        out["history"] = {}
    return out
