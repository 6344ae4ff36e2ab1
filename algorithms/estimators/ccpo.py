"""CCPO v1: counterfactual marginal contribution, global-history normalisation, then GRPO.

Counterfactual Credit Policy Optimization (arXiv 2603.21563 v1, code ``CCPO-v1/``; algorithms.md
section 3). For joint episode ``k`` of a prompt group, ``J_k`` is the team reward and ``S_k`` the team
reward with the contributing agent ablated (dyad: the reasoner answering alone, index-paired;
voting: the vote re-aggregated without that agent). ``Delta_k = J_k - S_k``.

Shaping with the EMA statistics of the PREVIOUS steps (mu, sigma = sqrt(m2) or 1 if m2 <= 1e-6):

    contributor (e.g. thinker):  r = tanh(alpha * (Delta - mu_D) / (sigma_D + 1e-6))
    gated role (e.g. reasoner):  z_J = (J - mu_J)/(sigma_J + 1e-6),  z_S = (S - mu_S)/(sigma_S + 1e-6)
                                 g = sigmoid(eta * mu_D / (sigma_D + 1e-6));  r = g z_J + (1 - g) z_S
    before any history:          r = Delta (contributor), r = J (gated role)

then the EMA is updated with the raw batch (first update: mean and population variance; later
``mu <- d mu + (1-d) batch_mean``, ``m2 <- d m2 + (1-d) batch_var``) and, per (prompt group, role),
``A = (r - mean) / (unbiased_std + 1e-6)`` (a group of one: mean 0, std 1).

Faithful v1 behaviour and the documented switches (algorithms.md section 9):
- ``solo_baseline="index"`` pairs joint k with solo k (P12); ``"group_mean"`` uses the group's mean
  solo reward (the authors' later choice).
- ``gated_mode="gated"`` keeps the solo term in the gated role's reward (P13, faithful: a correct
  joint answer can get a negative advantage); ``"joint"`` gives that role ``z_J`` only.
- ``use_history=False`` is the "w/o global-history normalisation" ablation that crashes in the
  release (P14, B1); here it runs with the code's intended values ``r = 0.5 Delta`` (contributor)
  and ``r = 0.5 J`` (gated role).
- ``alternate_every`` trains one role at a time, switching every N steps starting with the first
  role; ``alternation="v1"`` replicates the release's off-by-one (first block N-1 steps, P21),
  ``"equal"`` gives equal blocks; ``alternate_every=0`` trains all roles every step.
- ``mask_truncated``: a role whose own message was truncated gets reward 0.
- ``reward_mode="shared"`` is the ReMA baseline: every role gets GRPO(J).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..batch import RolloutBatch
from .base import Credits, register_estimator
from .functional import group_index, group_mean, group_standardize

TRACKS = ("delta", "joint", "solo")


@dataclass(frozen=True)
class CCPOConfig:
    """Switches of the CCPO estimator (defaults: v1 as released)."""

    reward_mode: str = "counterfactual"
    """``"counterfactual"`` (CCPO) or ``"shared"`` (ReMA baseline: every role gets GRPO of J)."""
    gated_roles: tuple[str, ...] = ("reasoner",)
    """Roles shaped with the gate ``g z_J + (1-g) z_S``; every other role is a contributor."""
    gated_mode: str = "gated"
    """``"gated"`` (v1) or ``"joint"`` (gated roles get ``z_J`` only, no solo-term noise, P13)."""
    solo_baseline: str = "index"
    """``"index"`` (pair joint k with solo k, v1) or ``"group_mean"`` (mean solo reward of the group)."""
    use_history: bool = True
    """Global-history (EMA) normalisation; False = the ablation (0.5 Delta, 0.5 J)."""
    alpha: float = 1.0
    """Contributor tanh sharpness."""
    eta: float = 1.0
    """Gate sharpness."""
    ema_decay: float = 0.99
    """EMA decay of the history statistics."""
    min_samples: int = 10
    """Shaping starts once this many samples have been seen (and one update happened)."""
    mask_truncated: bool = True
    """A role whose own message was truncated gets reward 0."""
    alternate_every: int = 10
    """Train one role at a time, switching every N steps (0: all roles every step)."""
    alternation: str = "v1"
    """``"v1"`` (first block N-1 steps, as released) or ``"equal"``."""
    grpo_eps: float = 1e-6
    """Added to the unbiased group std in the final GRPO normalisation."""


@register_estimator("ccpo", CCPOConfig)
def ccpo_credits(batch: RolloutBatch, config: CCPOConfig, state: Mapping[str, Any]) -> Credits:
    """Shaped counterfactual rewards, EMA update, then per-group GRPO; see the module docstring."""
    _validate(config)
    state = {k: (dict(v) if isinstance(v, dict) else v) for k, v in state.items()}
    kinds = batch.column("kind")
    roles = batch.column("role")
    joint = kinds == "joint"
    J = batch.rewards()
    S = _solo_rewards(batch, config)  # [N], nan where there is no counterfactual
    gated = np.isin(roles, list(config.gated_roles)) & joint
    contributor = joint & ~gated
    if np.isnan(S[joint & (contributor | gated)]).any() and config.reward_mode == "counterfactual":
        raise ValueError("CCPO needs a counterfactual_reward on every joint decision")
    delta = J - S

    # statistics of this batch (raw): Delta and S over contributor decisions, J over joint episodes
    raw_S = batch.column("counterfactual_reward", dtype=float)
    episodes = batch.column("episode_id")
    _, first_rows = np.unique(episodes[joint], return_index=True)
    batch_stats = {
        "delta": delta[contributor],
        "joint": J[joint][first_rows],
        "solo": raw_S[contributor],
    }

    r = np.zeros(len(batch))
    history = state.get("history", {})
    shaped = (
        config.use_history
        and history.get("n_updates", 0) >= 1
        and history.get("n_seen", 0) >= config.min_samples
    )
    if config.reward_mode == "shared":
        r[joint] = J[joint]
    elif not config.use_history:
        r[contributor] = 0.5 * delta[contributor]
        r[gated] = 0.5 * J[gated]
    elif not shaped:
        r[contributor] = delta[contributor]
        r[gated] = J[gated]
    else:
        mu, sigma = _moments(history)
        r[contributor] = np.tanh(config.alpha * (delta[contributor] - mu["delta"]) / (sigma["delta"] + 1e-6))
        z_j = (J[gated] - mu["joint"]) / (sigma["joint"] + 1e-6)
        if config.gated_mode == "gated":
            z_s = (S[gated] - mu["solo"]) / (sigma["solo"] + 1e-6)
            gate = _sigmoid(config.eta * mu["delta"] / (sigma["delta"] + 1e-6))
            r[gated] = gate * z_j + (1 - gate) * z_s
        else:
            r[gated] = z_j
    if config.mask_truncated:
        r[batch.column("truncated", dtype=bool)] = 0.0

    if config.use_history and config.reward_mode == "counterfactual":
        history = _update_history(history, batch_stats, config.ema_decay)
    state["history"] = history

    # GRPO within (prompt group, role), unbiased std + eps, singleton passes through
    groups = group_index([(d.group_id, d.role) for d in batch.decisions])
    adv = np.zeros(len(batch))
    if joint.any():
        adv[joint] = group_standardize(
            r[joint], group_index(groups[joint].tolist()), ddof=1, eps=config.grpo_eps, eps_inside_sqrt=False,
            singleton="identity",
        )

    step = int(state.get("step", 0)) + 1
    state["step"] = step
    active = _active_roles(batch, config, step)
    trainable = joint & np.isin(roles, active)
    stats = {"active_role_index": float(_role_order(batch).index(active[0])) if len(active) == 1 else -1.0}
    if contributor.any() and config.reward_mode == "counterfactual":
        stats["delta_mean"] = float(delta[contributor].mean())
    if "delta" in history:
        stats["ema_delta_mean"] = float(history["delta"]["mean"])
    return Credits(advantages=adv, trainable=trainable, raw=r, state=state, stats=stats)


def _validate(config: CCPOConfig) -> None:
    choices = {
        "reward_mode": ("counterfactual", "shared"),
        "gated_mode": ("gated", "joint"),
        "solo_baseline": ("index", "group_mean"),
        "alternation": ("v1", "equal"),
    }
    for name, valid in choices.items():
        if getattr(config, name) not in valid:
            raise ValueError(f"CCPO {name} must be one of {valid}, got {getattr(config, name)!r}")


def _solo_rewards(batch: RolloutBatch, config: CCPOConfig) -> np.ndarray:
    S = batch.column("counterfactual_reward", dtype=float)
    if config.solo_baseline == "group_mean":
        g = group_index([(d.group_id, d.role) for d in batch.decisions])
        known = ~np.isnan(S)
        means = np.full(len(S), np.nan)
        if known.any():
            sub = group_index(g[known].tolist())
            means[known] = group_mean(S[known], sub)
        S = means
    return S


def _moments(history: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    empty = {"mean": 0.0, "m2": 0.0}  # a track never observed: mean 0, sigma 1
    mu = {t: float(history.get(t, empty)["mean"]) for t in TRACKS}
    sigma = {t: (math.sqrt(history.get(t, empty)["m2"]) if history.get(t, empty)["m2"] > 1e-6 else 1.0) for t in TRACKS}
    return mu, sigma


def _update_history(history: Mapping[str, Any], stats: Mapping[str, np.ndarray], decay: float) -> dict[str, Any]:
    """EMA of batch mean and population variance per track; the first update copies the batch."""
    new = {k: (dict(v) if isinstance(v, dict) else v) for k, v in history.items()}
    first = new.get("n_updates", 0) == 0
    for track in TRACKS:
        x = np.asarray(stats[track], dtype=np.float64)
        if len(x) == 0:
            continue
        mean, var = float(x.mean()), float(x.var())
        if first or track not in new:
            new[track] = {"mean": mean, "m2": var}
        else:
            new[track] = {
                "mean": decay * new[track]["mean"] + (1 - decay) * mean,
                "m2": decay * new[track]["m2"] + (1 - decay) * var,
            }
    new["n_updates"] = new.get("n_updates", 0) + 1
    new["n_seen"] = min(new.get("n_seen", 0) + len(stats["delta"]), 1000)  # the release's deque(maxlen=1000)
    return new


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _role_order(batch: RolloutBatch) -> list[str]:
    first_turn: dict[str, int] = {}
    for d in batch.decisions:
        if d.kind == "joint":
            first_turn[d.role] = min(first_turn.get(d.role, d.turn), d.turn)
    return sorted(first_turn, key=lambda r: (first_turn[r], r))


def _active_roles(batch: RolloutBatch, config: CCPOConfig, step: int) -> list[str]:
    """Roles trained at global ``step`` (1-based). v1: ``(step // N) % n_roles`` (first block N-1)."""
    order = _role_order(batch)
    if config.alternate_every <= 0 or not order:
        return order
    k = step if config.alternation == "v1" else step - 1
    return [order[(k // config.alternate_every) % len(order)]]
