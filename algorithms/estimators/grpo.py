"""(MA)GRPO: group-relative episode advantages, shared by every message of the episode.

GRPO: Shao et al. 2024, "DeepSeekMath" (arXiv 2402.03300); MAGRPO: Liu, Liang, Lyu, Amato 2025
(arXiv 2508.04652). For the episodes ``e`` of one task group ``G`` (B flat joint episodes):

    A_e = (R_e - b_e) / scale_G,   b_e = mean_{k in G} R_k   (baseline="mean")
                                   b_e = mean_{k in G, k != e} R_k   (baseline="loo", RLOO)

and every message of episode ``e`` (all roles) gets ``A_e``. Statistics are taken over episodes,
not over messages, so an episode with more messages does not weigh more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..batch import RolloutBatch
from .base import Credits, register_estimator
from .functional import group_index, group_mean, group_scale, loo_mean


@dataclass(frozen=True)
class GRPOConfig:
    """Switches of the GRPO estimator.

    Defaults follow C3's MAGRPO baseline (the comparison the C3 paper makes): population std
    (``std_ddof=0``) with ``eps=1e-8`` inside the square root. Set ``std_ddof=1, std_eps=1e-6,
    eps_inside_sqrt=False`` for verl's GRPO convention (pitfall 24).
    """

    baseline: str = "mean"
    """``"mean"`` (group mean, GRPO) or ``"loo"`` (leave-one-out mean, RLOO)."""
    std_normalize: bool = True
    """Divide by the group's reward std (off: Dr.GRPO-style mean-centring only)."""
    std_ddof: int = 0
    """0 = population std, 1 = unbiased."""
    std_eps: float = 1e-8
    """Stabiliser added to the variance (``eps_inside_sqrt``) or to the std."""
    eps_inside_sqrt: bool = True
    """``sqrt(var + eps)`` (True) or ``std + eps`` (False)."""


@register_estimator("grpo", GRPOConfig)
def grpo_credits(batch: RolloutBatch, config: GRPOConfig, state: Mapping[str, Any]) -> Credits:
    """Episode-level group-relative advantage broadcast to all messages of the episode."""
    if config.baseline not in ("mean", "loo"):
        raise ValueError(f"GRPO baseline must be 'mean' or 'loo', got {config.baseline!r}")
    kinds = batch.column("kind")
    episodes = batch.column("episode_id")
    row_episode = group_index(list(episodes))  # [N] dense episode index
    n_episodes = int(row_episode.max()) + 1 if len(batch) else 0
    # one reward and one group per episode (first row of each episode)
    first = np.full(n_episodes, -1, dtype=np.int64)
    for i, e in enumerate(row_episode):
        if first[e] < 0:
            first[e] = i
    rewards = batch.rewards()
    ep_reward = rewards[first]
    ep_group = group_index([batch.decisions[i].group_id for i in first])
    baseline = group_mean(ep_reward, ep_group) if config.baseline == "mean" else loo_mean(ep_reward, ep_group)
    raw = ep_reward - baseline
    if config.std_normalize:
        adv = raw / group_scale(
            ep_reward, ep_group, ddof=config.std_ddof, eps=config.std_eps, eps_inside_sqrt=config.eps_inside_sqrt
        )
    else:
        adv = raw
    return Credits(
        advantages=adv[row_episode],
        trainable=(kinds == "joint"),
        raw=raw[row_episode],
        state=dict(state),
        stats={"reward_mean": float(ep_reward.mean()) if n_episodes else 0.0},
    )

