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
``terminal``                the decision ended its episode (last message; a tree leaf), so its
                            ``reward`` is one episode's team reward
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
    terminal: bool = False

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

    def episode_reward_mean(self, kind: str = "joint") -> float:
        """Mean team reward over the episodes of ``kind`` (one per terminal decision)."""
        r = [d.reward for d in self.decisions if d.terminal and d.kind == kind]
        return float(np.mean(r)) if r else 0.0

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

    @staticmethod
    def from_episodes(episodes: Sequence[Any], ablated: Sequence[Any] = ()) -> RolloutBatch:
        """Rows of the runner's flat (and ablated) episodes; see :func:`from_episodes`."""
        return from_episodes(episodes, ablated)

    @staticmethod
    def from_trees(trees: Sequence[Any]) -> RolloutBatch:
        """Rows of the runner's rollout trees; see :func:`from_trees`."""
        return from_trees(trees)

    def to_dicts(self) -> list[dict[str, Any]]:
        """Rows as plain dicts (for JSONL dumps and debugging)."""
        return [{f.name: getattr(d, f.name) for f in fields(Decision)} for d in self.decisions]


# ---------------------------------------------------------------------- builders from rollout data
def _decision_from_record(rec: Any, **kw: Any) -> Decision:
    gen = rec.generation
    return Decision(
        role=rec.role,
        agent=rec.agent,
        turn=rec.turn,
        context=rec.context,
        prompt_token_ids=list(gen.prompt_token_ids or []) if gen is not None else [],
        token_ids=list(gen.token_ids) if gen is not None else [],
        logprobs=None if gen is None or gen.logprobs is None else list(gen.logprobs),
        truncated=bool(gen is not None and gen.finish_reason == "length"),
        text=rec.content,
        **kw,
    )


def _from_episodes(episodes: Sequence[Any], *, kind: str, counterfactual: dict[tuple[str, int], float] | None,
                   group_of: dict[str, str] | None = None) -> list[Decision]:
    rows = []
    for ep in episodes:
        group = ep.group_id if group_of is None else group_of.get(ep.task.id, ep.group_id)
        generated = [rec for rec in ep.messages[ep.prefix_len:] if rec.generation is not None]
        for n, rec in enumerate(generated):
            cf = None
            if ep.counterfactual_rewards is not None and rec.agent in ep.counterfactual_rewards:
                cf = float(ep.counterfactual_rewards[rec.agent])  # voting: re-vote without this agent
            elif counterfactual is not None:
                cf = counterfactual.get((ep.task.id, ep.sample_index))
            rows.append(_decision_from_record(
                rec, episode_id=ep.episode_id, group_id=group, task_id=ep.task.id, reward=float(ep.reward),
                counterfactual_reward=cf, kind=kind, sample_index=ep.sample_index, terminal=n == len(generated) - 1,
            ))
    return rows


def _spent(episodes: Sequence[Any]) -> tuple[int, int]:
    return len(episodes), sum(ep.generated_tokens for ep in episodes)


def from_episodes(episodes: Sequence[Any], ablated: Sequence[Any] = ()) -> RolloutBatch:
    """Rows for flat joint episodes, plus (CCPO) ablated episodes of the same tasks.

    Ablated episode ``k`` of a task is paired with joint episode ``k`` of that task: every joint
    row gets ``counterfactual_reward`` = its reward (index pairing); when a task has fewer ablated
    than joint episodes the rest get the mean ablated reward of the task (the release's fallback).
    Voting episodes carry per-agent counterfactual rewards themselves (a re-vote without that
    agent) and need no ablated episodes. Ablated rows are kept with ``kind="solo"`` (never trained)
    and the ``group_id`` of their task's joint group.
    """
    counterfactual: dict[tuple[str, int], float] | None = None
    if ablated:
        by_task: dict[str, list[float]] = {}
        counterfactual = {}
        for ep in ablated:
            by_task.setdefault(ep.task.id, []).append(float(ep.reward))
            counterfactual[(ep.task.id, ep.sample_index)] = float(ep.reward)
        for ep in episodes:
            key = (ep.task.id, ep.sample_index)
            if key not in counterfactual and ep.task.id in by_task:
                counterfactual[key] = float(np.mean(by_task[ep.task.id]))
    rows = _from_episodes(episodes, kind="joint", counterfactual=counterfactual)
    group_of = {ep.task.id: ep.group_id for ep in episodes}
    rows += _from_episodes(ablated, kind="solo", counterfactual=None, group_of=group_of)
    calls, tokens = _spent(list(episodes) + list(ablated))
    return RolloutBatch(rows, evaluator_calls=calls, generated_tokens=tokens)


def from_trees(trees: Sequence[Any]) -> RolloutBatch:
    """Rows for C3 rollout trees: one per generated node, ``reward`` = node value (mean leaf reward
    of its subtree), ``group_id`` = ``"<tree>|<role>|<parent node>"`` (siblings at one context)."""
    rows = []
    calls = tokens = 0
    for tree in trees:
        calls += tree.evaluator_calls
        tokens += tree.generated_tokens
        for node in tree.nodes.values():
            rec = node.message
            if rec is None or rec.generation is None:
                continue
            rows.append(_decision_from_record(
                rec, episode_id=f"{tree.tree_id}/{node.node_id}",
                group_id=f"{tree.tree_id}|{rec.role}|{node.parent_id}", task_id=tree.task.id,
                reward=float(node.value), node_id=node.node_id, parent_id=node.parent_id, terminal=node.is_leaf,
            ))
    return RolloutBatch(rows, evaluator_calls=calls, generated_tokens=tokens)
