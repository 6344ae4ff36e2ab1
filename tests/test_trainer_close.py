"""``Trainer.close()`` releases the rollout runner's Ray env actors (they hold CPUs until released)."""

from __future__ import annotations

import time

import pytest
from test_alg_trainer import tiny_policy

from algorithms import TrainConfig
from algorithms.trainer import Trainer

pytest.importorskip("ray")


def _free_cpus(ray, want: float, timeout_s: float = 10.0) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        free = ray.available_resources().get("CPU", 0.0)
        if free >= want or time.monotonic() > deadline:
            return free


def test_a_ray_trainer_used_as_a_context_manager_gives_its_cpus_back(ray_cluster, tmp_path):
    cfg = TrainConfig(learner="grpo", env_kwargs={"prompt_style": "compact"}, task_kwargs={"difficulty": 1},
                      budget=4, tasks_per_iter=2, iterations=1, n_eval=2, eval_k=0, eval_every=0, max_tokens=6,
                      out_dir=str(tmp_path), progress=False, tensorboard=False, executor="ray", workers=2)
    with Trainer(cfg, policy=tiny_policy()) as trainer:
        result = trainer.train()
        assert result.history and _free_cpus(ray_cluster, 2.0, timeout_s=0.5) < 2.0  # its actors hold CPUs
    assert _free_cpus(ray_cluster, 2.0) == 2.0
