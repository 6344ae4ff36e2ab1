"""Learners: a learner = a rollout plan + an estimator (+ its switches) + loss settings.

The trainer looks a learner up by name and never branches on it. Adding a learner is one
``register_learner(Learner(...))`` call; adding a variant (an ablation) is the same with different
``estimator_kwargs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_marl_envs.registry import Registry


@dataclass(frozen=True)
class Learner:
    """What a learner is made of.

    Attributes:
        name: registry key.
        plan: a key of ``algorithms.plans.PLANS`` (how the budget B is spent on rollouts).
        estimator: a key of ``algorithms.estimators.ESTIMATORS``.
        estimator_kwargs: default switches of the estimator for this learner.
        loss_kwargs: default loss settings (``TrainConfig`` fields, e.g. ``{"loss": "ppo_sequence"}``);
            a value the user sets explicitly in the config wins.
        description: one line for ``llm-marl train --list``.
    """

    name: str
    plan: str
    estimator: str
    estimator_kwargs: dict[str, Any] = field(default_factory=dict)
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


LEARNERS: Registry[Learner] = Registry("learner")


def register_learner(learner: Learner) -> Learner:
    """Register ``learner`` under its name."""
    LEARNERS.register(learner.name, learner)
    return learner


register_learner(Learner("grpo", plan="flat", estimator="grpo",
                         description="(MA)GRPO: B flat joint episodes per task, group-normalised episode reward"))
# MAPPO's critic gets 8 optimiser steps per iteration (C3's critic_train_steps_per_iter; with 1 it stayed
# near its zero initialisation: issue 12) and its bias starts at the first batch's mean return (critic.py)
register_learner(Learner("mappo", plan="flat", estimator="mappo", loss_kwargs={"critic_steps": 8},
                         description="MAPPO: B flat episodes, centralised V(state text) critic (8 steps/iter), GAE over role turns"))
register_learner(Learner("ccpo", plan="joint_ablated", estimator="ccpo",
                         description="CCPO v1: B/2 joint + B/2 ablated episodes, counterfactual credit, EMA normalisation"))
register_learner(Learner("c3", plan="tree", estimator="c3",
                         description="C3: rollout tree with per-role fan-out (B leaves), LOO credit at frozen contexts"))
# named variants used by ablations and baselines
# ReMA needs no counterfactual: its plan is "flat" (all B evaluator calls on joint episodes it trains on;
# with "joint_ablated" it spent B/2 on solo episodes it never used)
register_learner(Learner("rema", plan="flat", estimator="ccpo", estimator_kwargs={"reward_mode": "shared"},
                         description="ReMA shared-reward baseline of CCPO: B joint episodes, every role gets GRPO of the joint reward"))
register_learner(Learner("ccpo_v1", plan="joint_ablated", estimator="ccpo",
                         loss_kwargs={"loss": "ppo_sequence", "dual_clip": 3.0},
                         description="CCPO v1 with its own loss: turn-level (sequence) ratio, log-ratio clamp 3, dual clip 3"))
register_learner(Learner("c3_mean", plan="tree", estimator="c3",
                         estimator_kwargs={"baseline": "mean", "std_normalize": False},
                         description="C3 'No LOO' ablation without std-normalisation (with it, LOO == mean: pitfall P1)"))
