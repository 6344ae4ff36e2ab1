"""Replay buckets at frozen contexts and each learner's credit diagnostics on them.

A bucket is one held-out task's context for the team's first decision (the dyad's thinker, the first
solver of a vote). ``J`` candidate messages are sampled there and each is continued ``2m`` times by
the downstream agents under the same (frozen) policy, as one rollout tree with fan-out
``[J, 2m, 1, ...]``. The first ``m`` leaves of a candidate give the credit replays, the other ``m``
the independent Monte-Carlo target (pitfall P9 of the reference). Credits per method:

- ``c3``: leave-one-out, ``Rbar_j - mean_{k != j} Rbar_k``;
- ``grpo``: ``Rbar_j - mean_k Rbar_k`` (the group baseline);
- ``mappo``: ``Rbar_j - V(h)`` with the run's trained critic (when it has one);
- ``ccpo``: ``Rbar_j - Rbar_solo(h)``: dyad, ``m`` extra episodes with the first agent ablated;
  voting, the free re-vote without that agent from the same leaves;
- ``random``: a null reference that should score about 0.

Each credit is computed from as many replays as the method uses in training: C3 averages the ``m``
continuations of its subtree, while GRPO, MAPPO and CCPO see one episode per thinker message (their
credit uses the first credit replay only; CCPO's solo baseline is one index-paired solo episode, its
v1 default). The target always uses the ``m`` independent replays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from algorithms.diagnostics import (
    ReplayBucket,
    credit_fidelity,
    influence,
    method_credits,
    within_group_variance,
)


def _first_level(tree) -> list[str]:
    return [c.node_id for c in tree.children(tree.root.node_id)]


def build_buckets(runner, tasks: Sequence[Any], *, candidates: int, replays: int, decisions: int,
                  seed: int) -> tuple[list[ReplayBucket], list[list[float]], int]:
    """Buckets from one tree per task; also, per bucket, each candidate's CCPO counterfactual
    reward (dyad: a solo episode; voting: the re-vote without the first voter) and the evaluator
    calls spent. ``decisions`` is the number of messages per episode."""
    fanout = [candidates, 2 * replays] + [1] * max(decisions - 2, 0)
    buckets: list[ReplayBucket] = []
    solo: list[list[float]] = []
    calls = 0
    first_agent = runner.plan_env_info.agents[0]
    has_vote = runner.plan_env_info.has_vote
    for t, task in enumerate(tasks):
        tree = runner.run_tree(task, fanout=fanout, seed=seed + 101 * t)
        calls += tree.evaluator_calls
        cand_ids = _first_level(tree)
        leaf_rewards: dict[str, list[float]] = {c: [] for c in cand_ids}
        leaf_cf: dict[str, list[float]] = {c: [] for c in cand_ids}
        outputs: dict[str, list[str]] = {c: [] for c in cand_ids}
        episodes = {ep.leaf_id: ep for ep in tree.episodes}
        for leaf in tree.leaves():
            path = tree.path(leaf.node_id)
            generated = [n for n in path if n.message is not None]
            if not generated:
                continue
            cand = generated[0].node_id
            if cand not in leaf_rewards:
                continue
            leaf_rewards[cand].append(float(leaf.reward or 0.0))
            if len(generated) > 1:
                outputs[cand].append(generated[1].message.content)
            ep = episodes.get(leaf.node_id)
            if ep is not None and ep.counterfactual_rewards and first_agent in ep.counterfactual_rewards:
                leaf_cf[cand].append(float(ep.counterfactual_rewards[first_agent]))
        cands = [c for c in cand_ids if len(leaf_rewards[c]) >= 2]
        if len(cands) < 2:
            continue
        root_msg = tree.nodes[cands[0]].message
        bucket = ReplayBucket(
            task_id=task.id,
            context=root_msg.context,
            role=root_msg.role,
            candidates=[tree.nodes[c].message.content for c in cands],
            credit_rewards=[leaf_rewards[c][:replays] for c in cands],
            target_rewards=[leaf_rewards[c][replays:] for c in cands],
            downstream_outputs=[outputs[c] for c in cands],
        )
        bucket.prompt_token_ids = list(root_msg.prompt_token_ids or [])  # for the critic's V(h)
        buckets.append(bucket)
        if has_vote:  # the free re-vote without the first voter, in the candidate's first credit leaf
            solo.append([leaf_cf[c][0] if leaf_cf[c] else float("nan") for c in cands])
        else:  # one index-paired solo episode per candidate (CCPO v1), the thinker ablated
            eps = runner.run_ablated([task], ablate=[first_agent], n_per_task=len(cands), seed=seed + 101 * t + 1)
            calls += len(eps)
            solo.append([float(ep.reward) for ep in eps])
    return buckets, solo, calls


def critic_values(critic, buckets: Sequence[ReplayBucket]) -> list[float] | None:
    """V(h) of each bucket's context from a trained state-value critic (None without one)."""
    if critic is None or getattr(critic, "kind", None) != "state_value":
        return None
    import torch

    ids = [getattr(b, "prompt_token_ids", None) for b in buckets]
    if not all(ids):
        return None
    with torch.no_grad():
        return [float(v) for v in critic.forward(ids).tolist()]


def diagnose(runner, tasks: Sequence[Any], *, candidates: int, replays: int, decisions: int, seed: int,
             critic=None) -> dict[str, Any]:
    """Credit fidelity (all candidates and real-only), within-group variance per method, influence."""
    buckets, solo, calls = build_buckets(runner, tasks, candidates=candidates, replays=replays,
                                         decisions=decisions, seed=seed)
    out: dict[str, Any] = {"buckets": len(buckets), "evaluator_calls": calls, "methods": {}}
    if not buckets:
        return out
    targets = [b.target() for b in buckets]
    # flat methods see one episode per message: their credit uses the first credit replay only
    single = [replace(b, credit_rewards=[r[:1] for r in b.credit_rewards]) for b in buckets]
    credits: dict[str, list[np.ndarray]] = {
        "c3": method_credits("c3", buckets),
        "grpo": method_credits("grpo", single),
        "random": method_credits("random", buckets, seed=seed),
    }
    if solo and all(len(s) == len(b.candidates) and np.isfinite(s).all() for b, s in zip(buckets, solo, strict=True)):
        credits["ccpo"] = [b.credit_means() - np.asarray(s) for b, s in zip(single, solo, strict=True)]
    values = critic_values(critic, buckets)
    if values is not None:
        for b, v in zip(single, values, strict=True):
            b.value = v
        credits["mappo"] = method_credits("mappo", single)
    for method, cr in credits.items():
        out["methods"][method] = {
            "fidelity": _finite(credit_fidelity(cr, targets)),
            "fidelity_real_only": _finite(credit_fidelity(cr, targets, variant="real_only")),
            "within_group_var": _finite(within_group_variance(cr)),
        }
    out["influence"] = _finite(influence([b.downstream_outputs for b in buckets if b.downstream_outputs]))
    out["target_abs_mean"] = float(np.mean([np.abs(t).mean() for t in targets]))
    out["bucket_reward_mean"] = float(np.mean([np.mean(b.credit_rewards) for b in buckets]))
    return out


def _finite(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
