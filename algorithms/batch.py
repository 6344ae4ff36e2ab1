"""The rollout batch: one row per decision (one generated message), every field any estimator needs.

A *decision* is one whole message of one agent (algorithms.md section 1). Credit is one scalar per
decision, broadcast to that message's generated tokens by the loss. Rows come from flat joint
episodes (GRPO, MAPPO), joint + ablated episodes (CCPO) or rollout trees (C3); the builders
:meth:`RolloutBatch.from_episodes` and :meth:`RolloutBatch.from_trees` read the rollout runner's
plain data classes (``llm_marl_envs.rollout``).

Field meanings (``Decision``):

==========================  ===================================================================
``episode_id``              episode the message belongs to (tree: the leaf path id, see below)
``group_id``                comparison group: the task group for flat/CCPO episodes; for C3 the
                            sibling group key (task, role, exact parent node)
``task_id``                 the task
``role`` / ``agent``        e.g. ``"thinker"`` / ``"thinker_0"``
``turn``                    global decision index within the episode (0-based)
``node_id`` / ``parent_id``  rollout-tree node of this message and its parent (``None`` if flat)
``context``                 exact text the agent saw (byte-identical for C3 siblings)
``prompt_token_ids``        the templated prompt tokens the generator consumed
``token_ids``               generated tokens; ``logprobs`` their behaviour log-probs (or ``None``)
``reward``                  return credited to the decision: the episode's team reward, or for a
                            tree node its value = mean leaf reward of its subtree
``counterfactual_reward``   team reward with the contributing agent ablated (CCPO), or ``None``
``value``                   a critic's estimate (MAPPO: V(state); C3 value-assisted: Q), filled in
                            by the trainer before the estimator runs
``truncated``               the message hit the token limit (``finish_reason == "length"``)
``kind``                    ``"joint"`` (trainable episode) or ``"solo"`` (ablated, never trained)
``sample_index``            index k of the episode within its group (CCPO pairs joint k with solo k)
==========================  ===================================================================
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np


def context_hash(text: str) -> str:
    """A stable 16-hex-digit hash of an exact context (C3 groups siblings by it)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class Decision:
    """One generated message and everything the estimators and the loss need about it."""

    episode_id: str
    group_id: str
    task_id: str
    role: str
    agent: str
    turn: int
    reward: float
    context: str = ""
    prompt_token_ids: list[int] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    node_id: str | None = None
    parent_id: str | None = None
    counterfactual_reward: float | None = None
    value: float | None = None
    truncated: bool = False
    kind: str = "joint"
    sample_index: int = 0
    text: str = ""

    @property
    def context_hash(self) -> str:
        return context_hash(self.context)


@dataclass
class RolloutBatch:
    """A list of :class:`Decision` rows with column accessors (numpy arrays of length ``N``).

    The batch also carries what the rollouts spent (``evaluator_calls``, ``generated_tokens``) so
    every learner's budget is logged the same way.
    """

    decisions: list[Decision]
    evaluator_calls: int = 0
    generated_tokens: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.decisions)

    def __iter__(self):
        return iter(self.decisions)

    def column(self, name: str, *, dtype: Any = None) -> np.ndarray:
        """Column ``name`` as an array ``[N]`` (``None`` values become ``nan`` for float columns)."""
        values = [getattr(d, name) for d in self.decisions]
        if dtype is float or dtype == np.float64:
            return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        if dtype is bool:
            return np.asarray(values, dtype=bool)
        return np.asarray(values, dtype=object if dtype is None else dtype)

    def rewards(self) -> np.ndarray:
        """``reward`` column ``[N]`` (float64)."""
        return self.column("reward", dtype=float)

    def with_values(self, values: Sequence[float]) -> RolloutBatch:
        """A copy whose ``value`` column is ``values`` ``[N]``."""
        if len(values) != len(self.decisions):
            raise ValueError(f"got {len(values)} values for {len(self.decisions)} decisions")
        rows = [replace(d, value=float(v)) for d, v in zip(self.decisions, values, strict=True)]
        return replace(self, decisions=rows)

    def subset(self, mask: Sequence[bool] | np.ndarray) -> RolloutBatch:
        """The rows where ``mask`` is true (spending counters are kept)."""
        rows = [d for d, keep in zip(self.decisions, mask, strict=True) if keep]
        return replace(self, decisions=rows)

    @staticmethod
    def concat(batches: Iterable[RolloutBatch]) -> RolloutBatch:
        """Concatenate batches, summing their spending counters."""
        batches = list(batches)
        return RolloutBatch(
            decisions=[d for b in batches for d in b.decisions],
            evaluator_calls=sum(b.evaluator_calls for b in batches),
            generated_tokens=sum(b.generated_tokens for b in batches),
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        """Rows as plain dicts (for JSONL dumps and debugging)."""
        return [{f.name: getattr(d, f.name) for f in fields(Decision)} for d in self.decisions]
