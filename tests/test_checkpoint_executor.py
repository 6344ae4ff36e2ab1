"""Where the env workers run (``executor``, ``workers``, ``ray_address``) is resume-neutral: the same seeds
give byte-identical episodes with either executor, so changing them must not refuse a resume."""

from __future__ import annotations

import json

import pytest

from algorithms import TrainConfig
from algorithms.checkpoint import ConfigMismatchError, config_differences, resume_decision


def test_executor_workers_and_address_are_resume_neutral():
    saved = TrainConfig(learner="c3").to_dict()
    moved = TrainConfig(learner="c3", executor="ray", workers=4, ray_address="10.0.0.1:6379").to_dict()
    assert config_differences(saved, moved) == []
    # a field that does change the numbers still differs (the check is not switched off)
    assert config_differences(saved, {**moved, "lr": 1.0}) == [f"lr: {saved['lr']!r} -> 1.0"]


def test_a_checkpointed_local_run_resumes_on_ray_settings(tmp_path):
    """A run dir as the trainer leaves it (config.json + checkpoint) resumes when only the executor
    settings differ, and is still refused when a number-changing field differs."""
    from test_alg_trainer import digit_config, digit_trainer

    cfg = digit_config("grpo", tmp_path, iterations=1, save_every=1, resume=True)
    trainer = digit_trainer(cfg)
    trainer.train()
    assert (tmp_path / "checkpoint" / "state.pt").exists()
    recorded = json.loads((tmp_path / "config.json").read_text())
    requested = {**trainer.run_config, "executor": "ray", "workers": 2, "ray_address": "127.0.0.1:6379",
                 "iterations": 2}
    assert resume_decision(tmp_path, requested, resume=True) is True
    assert recorded["executor"] == "local"
    with pytest.raises(ConfigMismatchError, match="seed"):
        resume_decision(tmp_path, {**requested, "seed": recorded["seed"] + 1}, resume=True)
