"""C3: contextual counterfactual credit, leave-one-out among siblings at a frozen context.

Contextual Counterfactual Credit Assignment (arXiv 2603.06859 v1; algorithms.md section 2). In a
rollout tree with per-role fan-out (e.g. ``[2, 4]``), siblings are alternative messages of one
role sampled from a byte-identical context and continued under the frozen behaviour policy. A node's
value ``v`` is the mean leaf reward of its subtree (a leaf: its own reward). Within a sibling group
``G`` keyed by (task, role, exact parent node):

    reward_only     A_i = v_i - LOO(v)_i                          (the paper's formula; default)
    value_assisted  A_i = v_i - [(1 - alpha) LOO(v)_i + alpha LOO(Q)_i]
    value_only      A_i = Q_i - LOO(Q)_i

with ``LOO(x)_i = mean_{k in G, k != i} x_k``; ``baseline="mean"`` replaces LOO by the full group
mean (the released "No LOO" ablation). A group of size 1 gets ``A = 0``. Then, if
``std_normalize``, ``(A - mean_G) / sqrt(pop_var_G + 1e-8)``.

Pitfalls handled (algorithms.md section 9): normalisation is its own flag (P1: with it on, LOO and
mean credits coincide, so the LOO-vs-mean ablation is only meaningful with ``std_normalize=False``);
the default is ``reward_only``, not the release's ``value_assisted`` (P2); raw credits are returned
next to normalised ones (P3); siblings are grouped by the exact parent node and their contexts are
checked to be byte-identical (P5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..batch import RolloutBatch
from .base import Credits, register_estimator
from .functional import group_index, group_mean, group_standardize, loo_mean

MODES = ("reward_only", "value_assisted", "value_only")


@dataclass(frozen=True)
class C3Config:
    """Switches of the C3 estimator (defaults: the paper's ``reward_only`` LOO, release's std-norm)."""

    mode: str = "reward_only"
    """``"reward_only"``, ``"value_assisted"`` (needs a Q critic) or ``"value_only"`` (ditto)."""
    baseline: str = "loo"
    """``"loo"`` (leave-one-out, the paper) or ``"mean"`` (full group mean, "No LOO" ablation)."""
    va_alpha: float = 1.0
    """Weight of the critic's LOO baseline in ``value_assisted`` mode."""
    std_normalize: bool = True
    """Standardise credits within each sibling group, ``sqrt(pop_var + std_eps)`` (release default)."""
    std_eps: float = 1e-8
    """Added to the population variance inside the square root."""
    check_contexts: bool = True
    """Raise if siblings of one group do not share a byte-identical context."""

    def critic_kind(self) -> str | None:
        return None if self.mode == "reward_only" else "action_value"


@register_estimator("c3", C3Config, critic="action_value")
def c3_credits(batch: RolloutBatch, config: C3Config, state: Mapping[str, Any]) -> Credits:
    """LOO credit per sibling group of a rollout tree; one scalar per message."""
    if config.mode not in MODES:
        raise ValueError(f"C3 mode must be one of {MODES}, got {config.mode!r}")
    if config.baseline not in ("loo", "mean"):
        raise ValueError(f"C3 baseline must be 'loo' or 'mean', got {config.baseline!r}")
    g = group_index(list(batch.column("group_id")))
    if config.check_contexts:
        _check_frozen_contexts(batch, g)
    v = batch.rewards()
    base = loo_mean if config.baseline == "loo" else group_mean
    if config.mode == "reward_only":
        raw = v - base(v, g)
    else:
        q = batch.column("value", dtype=float)
        if np.isnan(q).any():
            raise ValueError(f"C3 mode {config.mode!r} needs a Q value for every decision")
        if config.mode == "value_assisted":
            raw = v - ((1 - config.va_alpha) * base(v, g) + config.va_alpha * base(q, g))
        else:
            raw = q - base(q, g)
    raw = np.where(np.bincount(g)[g] > 1, raw, 0.0)  # singleton groups get exactly 0
    adv = raw
    if config.std_normalize:
        adv = group_standardize(raw, g, ddof=0, eps=config.std_eps, eps_inside_sqrt=True, singleton="zero")
    return Credits(
        advantages=adv,
        trainable=batch.column("kind") == "joint",
        raw=raw,
        state=dict(state),
        stats={"n_groups": float(g.max() + 1) if len(g) else 0.0, "raw_abs_mean": float(np.abs(raw).mean()) if len(raw) else 0.0},
    )


def _check_frozen_contexts(batch: RolloutBatch, g: np.ndarray) -> None:
    first: dict[int, str] = {}
    for gi, d in zip(g.tolist(), batch.decisions, strict=True):
        ctx = first.setdefault(gi, d.context)
        if ctx != d.context:
            raise ValueError(
                f"C3 sibling group {d.group_id!r} mixes different contexts (pitfall P5): siblings must be "
                "sampled from a byte-identical context"
            )
