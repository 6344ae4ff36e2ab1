"""On a trivially learnable task every learner's reward rises (seeded, CPU, tiny model).

The task: the team answer (the reasoner's message) is scored by the share of digits it contains
(test-only verifier). A random tiny model starts near 0.1; a working learner pushes it up within a
dozen iterations at the default budget B = 8 per task. CCPO runs with ``alternate_every=0`` (the v1
default trains only the thinker for the first 9 steps, and the thinker does not touch this reward)
and ``mask_truncated=False`` (6-token
messages are always truncated, which v1 would zero); it keeps the v1 gate with its solo-term noise
(pitfall P13), which makes it the slowest of the four here.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_alg_trainer import digit_config, digit_trainer


@pytest.mark.parametrize("learner", ["grpo", "mappo", "ccpo", "c3"])
def test_reward_rises_on_a_trivially_learnable_task(learner, tmp_path):
    cfg = digit_config(learner, tmp_path, iterations=12, tasks_per_iter=2, budget=8, lr=2e-2, micro_batch_size=32, seed=0)
    history = digit_trainer(cfg).train().history
    rewards = [h["train_reward_mean"] for h in history if h["iteration"] > 0]
    first, last = np.mean(rewards[:3]), np.mean(rewards[-3:])
    assert last > first + 0.06, f"{learner}: {np.round(rewards, 2).tolist()}"
