"""Regression tests of the learner fixes of issue 12 (each failed on the code before its fix)."""

from __future__ import annotations

import numpy as np
import pytest
from test_alg_batch import Alternating

from algorithms.estimators import ESTIMATORS
from algorithms.learners import LEARNERS
from algorithms.plans import PLANS, PlanSettings, default_fanout, make_runner
from llm_marl_envs.policy import SamplingParams
from llm_marl_envs.tasks import load_tasks

TASKS = list(load_tasks("arith", difficulty=1)[:3])


def _runner(env_id: str):
    return make_runner(env_id, Alternating(), SamplingParams(max_tokens=200), {"prompt_style": "compact"})


def _settings(r, budget=8):
    return PlanSettings(budget=budget, fanout=None, seed=3, env=r.plan_env_info)


def test_default_fanout_gives_every_decision_siblings():
    """Was (2, B/2, 1, ...): the third and later decisions had no sibling, hence zero credit."""
    assert default_fanout(8, 2) == (2, 4)  # the release's default for the dyad
    assert default_fanout(8, 3) == (2, 2, 2)
    assert default_fanout(12, 3) == (2, 2, 3) and default_fanout(9, 2) == (3, 3) and default_fanout(8, 1) == (8,)
    for budget, decisions in ((8, 3), (16, 4), (18, 3), (4, 2)):
        fan = default_fanout(budget, decisions)
        assert len(fan) == decisions and int(np.prod(fan)) == budget and min(fan) >= 2
    with pytest.raises(ValueError, match="B=4"):
        default_fanout(4, 3)
    with pytest.raises(ValueError, match="B=7"):
        default_fanout(7, 2)


@pytest.mark.parametrize("env_id", ["llm-marl/MathVote-v0", "llm-marl/MathPipeline-v0"])
def test_c3_tree_credits_the_third_decision(env_id):
    r = _runner(env_id)
    assert r.plan_env_info.decisions == 3
    batch = PLANS.get("tree")(r, TASKS, _settings(r))
    assert batch.evaluator_calls == 3 * 8
    groups = {}
    for d in batch:
        groups.setdefault(d.group_id, []).append(d)
    assert min(len(g) for g in groups.values()) >= 2  # no singleton sibling group: every message can get credit
    credits = ESTIMATORS.get("c3")(batch)
    last_turn = max(d.turn for d in batch)
    third = np.array([d.turn == last_turn for d in batch])
    assert np.abs(credits.advantages[third]).sum() > 0


def test_ccpo_refuses_chains_of_more_than_two_roles():
    """Was: every non-first role of a 3-role chain got the first agent's Delta, silently."""
    r = _runner("llm-marl/MathPipeline-v0")
    with pytest.raises(ValueError, match=r"MathPipeline-v0.*first agent only"):
        PLANS.get("joint_ablated")(r, TASKS, _settings(r))
    dyad = _runner("llm-marl/MathDyad-v0")
    assert len(PLANS.get("joint_ablated")(dyad, TASKS, _settings(dyad))) > 0


def test_rema_spends_the_whole_budget_on_episodes_it_trains_on():
    """Was: rema used CCPO's joint + ablated plan, B/2 of its calls on solo episodes it never trains on."""
    learner = LEARNERS.get("rema")
    r = _runner("llm-marl/MathDyad-v0")
    batch = PLANS.get(learner.plan)(r, TASKS, _settings(r))
    assert batch.evaluator_calls == 3 * 8
    assert set(batch.column("kind")) == {"joint"}
    assert len({d.episode_id for d in batch}) == 3 * 8
    spec = ESTIMATORS.get(learner.estimator)
    credits = spec(batch, spec.make_config({**learner.estimator_kwargs, "alternate_every": 0}))
    assert credits.trainable.all() and np.isfinite(credits.advantages).all()
