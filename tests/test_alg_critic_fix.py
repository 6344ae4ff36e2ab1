"""MAPPO's critic is trained (issue 12: V stayed ~0.02 against a mean reward of 0.156) and its error is logged."""

from __future__ import annotations

import numpy as np
import pytest
from test_alg_trainer import digit_config, digit_trainer

from algorithms.critic import critic_error


def test_critic_error_metrics():
    out = critic_error(np.array([0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0]))
    assert out["critic/mse"] == pytest.approx(0.25 / 3)
    assert out["critic/explained_variance"] == pytest.approx(1 - np.var([0, 0, 0.5]) / np.var([0, 1, 1]))
    assert np.isnan(critic_error(np.zeros(2), np.ones(2))["critic/explained_variance"])


def test_mappo_critic_tracks_the_returns_at_the_default_critic_lr(tmp_path):
    """At the benchmark's critic_lr (5e-5), after one fit the values MAPPO's credit uses sit at the level
    of the returns seen so far (they stayed near the zero initialisation), and the critic's error on
    exactly those values is logged."""
    cfg = digit_config("mappo", tmp_path, iterations=4, tasks_per_iter=4, budget=4, critic_lr=5e-5, lr=1e-3, seed=0)
    trainer = digit_trainer(cfg)
    assert trainer.cfg.critic_steps == 8  # the learner's default
    hist = [h for h in trainer.train().history if h["iteration"] > 0]
    assert {"critic/mse", "critic/explained_variance", "critic/value_mean", "critic/target_mean"} <= set(hist[-1])
    targets = [h["critic/target_mean"] for h in hist]
    assert min(targets) > 0.02
    assert hist[1]["estimator/value_mean"] == pytest.approx(targets[0], rel=0.2)
    for i, h in enumerate(hist[1:], start=1):
        assert h["critic/value_mean"] == pytest.approx(h["estimator/value_mean"])  # the error is of the values used
        assert h["estimator/value_mean"] > 0.5 * min(targets[:i]), (i, h)
