"""MAPPO: a centralised critic V(state text) and GAE over the role turns of each episode.

Yu et al. 2022, "The Surprising Effectiveness of PPO in Cooperative Multi-Agent Games"
(arXiv 2103.01955); the LLM variant follows C3's baseline (algorithms.md section 4): the state of a
decision is its role-aware context text, the environment reward sits on the episode's last decision
only, and with ``gamma = lam = 1`` every decision gets ``A_t = R - V(s_t)``.

Per episode, decisions ordered by ``turn``: ``r_t = 0`` except ``r_T = R`` (the team reward);
``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)``; ``A_t = delta_t + gamma lam A_{t+1}``;
critic targets ``returns_t = A_t + V(s_t)``. Then, optionally, a global normalisation of the
advantages over the whole batch (C3's MAPPO normalises globally).

Deviation from C3's MAPPO baseline: its ``mappo_token_normalize`` (dividing advantages by the number
of action tokens) is not applied; the shared token-level loss already averages over tokens.

The ``value`` column of the batch must hold V(s_t) (the trainer fills it from the critic before
calling the estimator); a missing value raises. The critic (:mod:`algorithms.critic`) is given enough
steps rather than a separate warm-up: the ``mappo`` learner fits it 8 optimiser steps per iteration
(``critic_steps``) and its first fit starts the head's bias at the mean return; its error on the
values used here is logged as ``critic/mse`` and ``critic/explained_variance``. With a constant V,
the global normalisation makes MAPPO exactly REINFORCE with a batch-mean baseline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..batch import RolloutBatch
from .base import Credits, register_estimator
from .functional import generalized_advantage_estimate


@dataclass(frozen=True)
class MAPPOConfig:
    """Switches of the MAPPO estimator."""

    gamma: float = 1.0
    """Discount over role turns."""
    lam: float = 1.0
    """GAE lambda."""
    global_normalize: bool = True
    """Standardise the advantages over the whole batch (population std, ``std + 1e-8``)."""


@register_estimator("mappo", MAPPOConfig, critic="state_value")
def mappo_credits(batch: RolloutBatch, config: MAPPOConfig, state: Mapping[str, Any]) -> Credits:
    """GAE advantages per decision from the critic values in ``batch``'s ``value`` column."""
    values = batch.column("value", dtype=float)
    if np.isnan(values).any():
        raise ValueError("MAPPO needs a critic value for every decision (batch.value is None somewhere)")
    rewards = batch.rewards()
    adv = np.zeros(len(batch))
    returns = np.zeros(len(batch))
    by_episode: dict[str, list[int]] = defaultdict(list)
    for i, d in enumerate(batch.decisions):
        by_episode[d.episode_id].append(i)
    for rows in by_episode.values():
        rows.sort(key=lambda i: batch.decisions[i].turn)
        step_rewards = np.zeros(len(rows))
        step_rewards[-1] = rewards[rows[-1]]  # terminal team reward on the last decision only
        a, r = generalized_advantage_estimate(step_rewards, values[rows], gamma=config.gamma, lam=config.lam)
        adv[rows], returns[rows] = a, r
    raw = adv.copy()
    if config.global_normalize and len(adv) > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    trainable = batch.column("kind") == "joint"
    return Credits(
        advantages=adv,
        trainable=trainable,
        raw=raw,
        returns=returns,
        state=dict(state),
        stats={"value_mean": float(values.mean()) if len(values) else 0.0},
    )
