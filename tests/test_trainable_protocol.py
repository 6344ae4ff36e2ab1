"""The declared trainable-policy protocol, the policy version the trainer keeps, and the pass-through
of the rollout executor settings (TrainConfig -> RolloutRunner)."""

from __future__ import annotations

import dataclasses

import pytest

from agents import make_policy
from agents.hf import HFPolicy
from algorithms import TrainConfig, Trainer
from algorithms.policies import (
    PerRolePolicy,
    TrainablePolicy,
    WeightSyncGenerator,
    build_slots,
    missing_members,
    require,
)
from llm_marl_envs.rollout.data import Episode
from tests.test_alg_trainer import DIGIT_TASKS, digit_config, digit_trainer, tiny_policy

ROLES = ["thinker", "reasoner"]


def _tiny() -> HFPolicy:
    return make_policy("tiny", hidden_size=32, num_layers=1, num_heads=2)


def test_hf_and_tiny_policies_satisfy_the_protocol():
    for policy in (tiny_policy(), _tiny()):
        assert missing_members(policy, TrainablePolicy) == []
        assert missing_members(policy, PerRolePolicy) == []
        assert require(policy, TrainablePolicy) is policy
        assert isinstance(policy, TrainablePolicy) and policy.version == 0  # the trainer's counter starts at 0


class _NoPad:
    """Has everything a trainable policy needs but ``pad_id``."""

    def __init__(self) -> None:
        inner = tiny_policy()
        self.model, self.tokenizer, self.generate = inner.model, inner.tokenizer, inner.generate


def test_a_policy_missing_a_member_is_one_line_naming_it():
    with pytest.raises(TypeError) as err:
        build_slots(_NoPad(), ROLES, "shared")
    message = str(err.value)
    assert "\n" not in message and "_NoPad has no 'pad_id'" in message
    assert "model, tokenizer, pad_id, version, generate" in message
    with pytest.raises(TypeError, match=r"^the policy of role 'reasoner', _NoPad has no 'pad_id'"):
        build_slots({"thinker": tiny_policy(), "reasoner": _NoPad()}, ROLES, "shared")
    with pytest.raises(TypeError, match=r"policy object has no 'model'"):
        build_slots(object(), ROLES, "shared")


def test_a_model_without_parameters_and_per_role_without_adapters_are_named():
    bad = tiny_policy()
    bad.model = "not a module"
    with pytest.raises(TypeError, match=r"HFPolicy has no 'model.parameters'"):
        build_slots(bad, ROLES, "shared")

    class Plain:  # trainable, but no adapters
        def __init__(self) -> None:
            inner = tiny_policy()
            self.model, self.tokenizer, self.pad_id, self.generate = inner.model, inner.tokenizer, 0, inner.generate

    assert missing_members(Plain(), TrainablePolicy) == []
    with pytest.raises(TypeError, match=r"Plain has no 'adapter_roles': a per-role policy"):
        build_slots(Plain(), ROLES, "per_role")


def test_an_untrainable_backend_is_refused_by_name(tmp_path):
    cfg = TrainConfig(backend="oracle", out_dir=str(tmp_path), progress=False, tensorboard=False)
    with pytest.raises(ValueError, match=r"^backend 'oracle' .*hf, tiny or testbed$"):
        Trainer(cfg)


def test_weight_sync_generator_names_update_weights():
    assert missing_members(tiny_policy(), WeightSyncGenerator) == ["update_weights"]


# ---------------------------------------------------------------------- versions
def test_version_bumps_after_every_optimiser_step_and_survives_resume(tmp_path):
    policy = tiny_policy()
    cfg = digit_config("grpo", tmp_path, iterations=1, ppo_epochs=2, save_every=1)
    trainer = digit_trainer(cfg, policy)
    assert trainer.policy_version == 0 and policy.version == 0
    hist = trainer.train().history
    assert hist[-1]["policy_version"] == 2 and trainer.policy_version == 2 and policy.version == 2
    # a resumed run continues counting from the checkpoint (a fresh policy object starts at 0)
    again = digit_trainer(cfg.with_overrides({"iterations": 2}), tiny_policy())
    assert again.policy_version == 2 and again.slots["thinker"].generator.version == 2
    assert again.train().history[-1]["policy_version"] == 4


def test_separate_policies_count_their_own_steps(tmp_path):
    a, b = tiny_policy(0), tiny_policy(1)
    trainer = digit_trainer(digit_config("grpo", tmp_path, iterations=2), {"thinker": a, "reasoner": b})
    trainer.train()
    assert trainer.versions == [2, 2] and a.version == 2 and b.version == 2


def test_episodes_carry_the_policy_version(tmp_path):
    if "policy_version" not in {f.name for f in dataclasses.fields(Episode)}:
        pytest.skip("Episode has no policy_version field yet (helper 'seam' adds it to llm_marl_envs.types)")
    policy = tiny_policy()
    trainer = digit_trainer(digit_config("grpo", tmp_path, iterations=1), policy)
    before = trainer.runner.run_episodes(DIGIT_TASKS[:1], n_per_task=1, seed=0)
    trainer.train()
    after = trainer.runner.run_episodes(DIGIT_TASKS[:1], n_per_task=1, seed=0)
    assert [e.policy_version for e in before] == [0] and [e.policy_version for e in after] == [1]


# ---------------------------------------------------------------------- executor settings
def test_executor_settings_are_typed_config_fields():
    cfg = TrainConfig().with_overrides(["executor=ray", "workers=3", "ray_address=10.0.0.1:6379"])
    assert (cfg.executor, cfg.workers, cfg.ray_address) == ("ray", 3, "10.0.0.1:6379")
    assert TrainConfig().with_overrides(["ray_address=none"]).ray_address is None
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        TrainConfig(workers=0)
    with pytest.raises(ValueError, match="generator 'vllm' needs policy_mode 'shared'"):
        TrainConfig(generator="vllm", policy_mode="per_role")


def test_train_help_lists_executor_and_generator(capsys):
    from llm_marl_envs.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--executor", "--workers", "--ray-address", "--generator", "--generator-kwargs"):
        assert flag in text, flag
    assert "(default: local)" in text and "(default: policy)" in text


def test_trainer_passes_executor_settings_to_the_runner(tmp_path, monkeypatch):
    import llm_marl_envs.rollout.runner as runner_module

    seen: list[dict] = []
    real = runner_module.RolloutRunner

    class Recording(real):
        def __init__(self, *args, **kwargs):
            seen.append({k: kwargs.pop(k) for k in ("executor", "workers", "ray_address") if k in kwargs})
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(runner_module, "RolloutRunner", Recording)
    digit_trainer(digit_config("grpo", tmp_path / "a"))
    digit_trainer(digit_config("grpo", tmp_path / "b", executor="ray", workers=2, ray_address="127.0.0.1:1"))
    assert seen[0] == {"executor": "local", "workers": 1, "ray_address": None}
    assert seen[1] == {"executor": "ray", "workers": 2, "ray_address": "127.0.0.1:1"}
