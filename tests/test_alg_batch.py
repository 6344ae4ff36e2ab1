"""The rollout batch built from the real rollout runner: trees, joint + ablated pairs, voting."""

from __future__ import annotations

import numpy as np
import pytest

from agents.scripted import FixedAgent, ScriptedPolicy, gold_response
from algorithms.batch import RolloutBatch, context_hash
from algorithms.estimators import ESTIMATORS
from algorithms.plans import PlanSettings, default_fanout, env_info, make_runner, restart_counters
from llm_marl_envs.policy import SamplingParams
from llm_marl_envs.tasks import load_tasks

TASKS = list(load_tasks("arith", difficulty=1)[:3])


class Alternating(ScriptedPolicy):
    """Answers the gold on every other call-sample (so rewards vary), else a wrong answer."""

    def __init__(self) -> None:
        super().__init__()
        self.k = 0

    def respond(self, conversation, index, sample, params):
        self.k += 1
        user = conversation[-1]["content"]
        task = next(t for t in TASKS if t.prompt in user)
        return gold_response(task) if self.k % 3 else "\\boxed{-1}"


def runner(env_id="llm-marl/MathDyad-v0"):
    return make_runner(env_id, Alternating(), SamplingParams(max_tokens=200), {"prompt_style": "compact"})


def settings(r, budget=8):
    return PlanSettings(budget=budget, fanout=None, seed=3, env=r.plan_env_info)


def test_tree_batch_rows_groups_and_budget():
    from algorithms.plans import PLANS

    r = runner()
    batch = PLANS.get("tree")(r, TASKS, settings(r))
    assert default_fanout(8, 2) == (2, 4)
    assert len(batch) == 3 * 10  # per task: 2 thinker + 8 reasoner messages
    assert batch.evaluator_calls == 3 * 8
    groups = {}
    for d in batch:
        groups.setdefault(d.group_id, []).append(d)
        assert d.node_id is not None and d.parent_id is not None
    assert len(groups) == 3 * 3  # per task: {R1, R2}, 4 actors under R1, 4 under R2
    assert sorted(len(g) for g in groups.values()) == [2] * 3 + [4] * 6
    for rows in groups.values():  # siblings share a byte-identical context and one role
        assert len({context_hash(d.context) for d in rows}) == 1
        assert len({d.role for d in rows}) == 1
    # a thinker node's value is the mean of its 4 leaves
    for d in batch:
        if d.role == "thinker":
            leaves = [c.reward for c in batch if c.parent_id == d.node_id and c.task_id == d.task_id]
            assert d.reward == pytest.approx(np.mean(leaves))
    leaves = [d for d in batch if d.terminal]
    assert len(leaves) == 3 * 8 and all(d.role == "reasoner" for d in leaves)
    trees = {}
    for d in leaves:
        trees.setdefault(d.task_id, []).append(d.reward)
    assert batch.episode_reward_mean() == pytest.approx(np.mean([r for v in trees.values() for r in v]))
    credits = ESTIMATORS.get("c3")(batch)
    g = np.array([d.group_id for d in batch])
    for key in set(g):
        assert abs(credits.advantages[g == key].sum()) < 1e-6


def test_joint_ablated_pairs_by_index_and_marks_solo_rows():
    from algorithms.plans import PLANS

    r = runner()
    batch = PLANS.get("joint_ablated")(r, TASKS, settings(r))
    kinds = batch.column("kind")
    assert (kinds == "solo").sum() == 3 * 4 and (kinds == "joint").sum() == 3 * 4 * 2
    assert batch.evaluator_calls == 3 * 8
    solo = {(d.task_id, d.sample_index): d.reward for d in batch if d.kind == "solo"}
    for d in batch:
        if d.kind == "joint":
            assert d.counterfactual_reward == solo[(d.task_id, d.sample_index)]
        else:
            assert d.role == "reasoner" and d.counterfactual_reward is None
    # solo rows share the joint group of their task
    joint_groups = {d.task_id: d.group_id for d in batch if d.kind == "joint"}
    assert all(d.group_id == joint_groups[d.task_id] for d in batch if d.kind == "solo")
    credits = ESTIMATORS.get("ccpo")(batch)
    assert not credits.trainable[kinds == "solo"].any()


def test_voting_counterfactuals_cost_nothing():
    from algorithms.plans import PLANS

    r = runner("llm-marl/MathVote-v0")
    info = env_info("llm-marl/MathVote-v0", {"prompt_style": "compact"})
    assert info.has_vote and info.decisions == 3
    batch = PLANS.get("joint_ablated")(r, TASKS[:2], settings(r, budget=4))
    assert batch.evaluator_calls == 2 * 4 and len(batch) == 2 * 4 * 3
    assert all(d.counterfactual_reward is not None for d in batch)
    assert set(batch.column("kind")) == {"joint"}


def test_flat_batch_with_a_real_tokenizer_policy():
    from agents.hf import HFPolicy
    from agents.tiny import build_tiny_model, build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    policy = HFPolicy(build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2), tok)
    r = make_runner("llm-marl/MathDyad-v0", policy, SamplingParams(max_tokens=5, seed=1), {"prompt_style": "compact"})
    restart_counters(r)
    from algorithms.plans import PLANS

    batch = PLANS.get("flat")(r, TASKS[:2], settings(r, budget=3))
    assert len(batch) == 2 * 3 * 2
    for d in batch:
        assert d.prompt_token_ids and 1 <= len(d.token_ids) <= 5
        assert d.logprobs is not None and len(d.logprobs) == len(d.token_ids)
        task = next(t for t in TASKS if t.id == d.task_id)
        assert task.prompt in tok.decode(d.prompt_token_ids)  # the exact templated context the generator saw
    assert batch.generated_tokens == sum(len(d.token_ids) for d in batch)
    assert sum(d.terminal for d in batch) == 6 and all(d.role == "reasoner" for d in batch if d.terminal)
    # one scalar per message: GRPO gives both messages of an episode the same advantage
    credits = ESTIMATORS.get("grpo")(batch)
    eps = batch.column("episode_id")
    for e in set(eps):
        assert len(set(credits.advantages[eps == e].round(12))) == 1


def test_batch_helpers():
    from algorithms.batch import Decision

    rows = [Decision("e", "g", "t", "r", "r_0", 0, 1.0), Decision("e", "g", "t", "r", "r_0", 1, 0.0)]
    b = RolloutBatch(rows, evaluator_calls=1, generated_tokens=3)
    assert b.with_values([0.5, 0.25]).column("value", dtype=float).tolist() == [0.5, 0.25]
    assert len(b.subset([True, False])) == 1
    both = RolloutBatch.concat([b, b])
    assert len(both) == 4 and both.evaluator_calls == 2 and both.generated_tokens == 6
    with pytest.raises(ValueError):
        b.with_values([1.0])
    assert b.to_dicts()[0]["reward"] == 1.0


def test_ccpo_plan_rejects_a_budget_without_room_for_the_counterfactual():
    from algorithms.plans import PLANS

    tasks = load_tasks("arith")[:1]
    r = make_runner("llm-marl/MathDyad-v0", FixedAgent("x"), SamplingParams(max_tokens=5),
                    {"tasks": tasks, "prompt_style": "compact"})
    with pytest.raises(ValueError, match="B >= 2"):
        PLANS["joint_ablated"](r, [0], PlanSettings(budget=1, fanout=None, seed=0))
