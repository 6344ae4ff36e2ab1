"""The trainer end to end with a tiny real transformer: every learner, budgets, policies, config, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from agents.hf import HFPolicy
from agents.tiny import build_tiny_model, build_tiny_tokenizer
from algorithms import LEARNERS, TrainConfig, Trainer
from llm_marl_envs.types import Task, Verdict

DIGITS = set("0123456789")


class DigitVerifier:
    """Test-only verifier of a trivially learnable task: score = share of digits in the answer."""

    kind = "math"

    def verify(self, response: str, task: Task) -> Verdict:
        score = sum(c in DIGITS for c in response) / len(response) if response else 0.0
        return Verdict(correct=score >= 0.5, score=float(score), status="ok", extracted=response[:8])

    def verify_many(self, responses, tasks):
        return [self.verify(r, t) for r, t in zip(responses, tasks, strict=True)]

    def answer_key(self, response: str):
        return response.strip() or None


DIGIT_TASKS = [Task(id=f"d{i}", kind="math", prompt=f"say digits {i}", answer="0") for i in range(40)]


def tiny_policy(seed: int = 0) -> HFPolicy:
    tok = build_tiny_tokenizer()
    return HFPolicy(build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=seed), tok)


def digit_config(learner: str, out_dir, **kw) -> TrainConfig:
    base = dict(
        learner=learner, env_kwargs={"prompt_style": "compact", "verifier": {"math": DigitVerifier()}, "tasks": DIGIT_TASKS},
        budget=4, tasks_per_iter=2, iterations=1, lr=3e-2, critic_lr=1e-2, max_tokens=6, n_eval=4, eval_k=0, eval_every=0,
        out_dir=str(out_dir), progress=False, tensorboard=False,
        estimator_kwargs={"alternate_every": 0, "mask_truncated": False} if learner == "ccpo" else {},
    )
    base.update(kw)
    return TrainConfig(**base)


def digit_trainer(cfg: TrainConfig, policy=None, **kw) -> Trainer:
    return Trainer(cfg, policy=policy if policy is not None else tiny_policy(), train_tasks=DIGIT_TASKS[:36],
                   eval_tasks=DIGIT_TASKS[36:], **kw)


@pytest.mark.parametrize("learner", LEARNERS.names())
def test_every_learner_runs_two_iterations_on_builtin_tasks(learner, tmp_path):
    core = learner in ("grpo", "mappo", "ccpo", "c3")  # variants of them run one iteration
    iterations = 2 if core else 1
    cfg = TrainConfig(learner=learner, env_kwargs={"prompt_style": "compact"}, task_kwargs={"difficulty": 1},
                      budget=4, tasks_per_iter=2, iterations=iterations, n_eval=2, eval_k=2, eval_every=1, max_tokens=6,
                      out_dir=str(tmp_path), progress=False, tensorboard=learner == "c3")
    result = Trainer(cfg, policy=tiny_policy()).train()
    hist = result.history
    assert [h["iteration"] for h in hist] == list(range(iterations + 1))
    # matched budget: B evaluator calls per training task, whatever the learner
    assert [h["evaluator_calls"] for h in hist] == [8 * i for i in range(iterations + 1)]
    assert hist[-1]["generated_tokens"] > hist[0]["generated_tokens"] == 0
    assert hist[-1]["wall_s"] > 0
    if core:
        assert hist[2]["generated_tokens"] > hist[1]["generated_tokens"] and hist[2]["wall_s"] >= hist[1]["wall_s"]
    for h in hist:
        assert {"eval/greedy_accuracy", "eval/pass@2", "eval/pass@1"} <= set(h)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == list(range(iterations + 1))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["learner"] == learner and "estimator_config" in saved
    assert (tmp_path / "checkpoint" / "state.pt").exists()
    if learner == "c3":
        assert any(p.name.startswith("events") for p in (tmp_path / "tb").iterdir())


@pytest.mark.parametrize("learner", ["grpo", "mappo", "ccpo", "c3"])
def test_an_update_changes_the_weights_when_credit_is_nonzero(learner, tmp_path):
    policy = tiny_policy()
    before = [p.detach().clone() for p in policy.model.parameters()]
    result = digit_trainer(digit_config(learner, tmp_path), policy).train()
    rec = result.history[-1]
    assert rec["adv_abs_mean"] > 0 and rec["trained_decisions"] > 0
    changed = sum(not torch.equal(a, b) for a, b in zip(before, policy.model.parameters(), strict=True))
    assert changed > 0
    assert rec["loss/ratio_mean"] == pytest.approx(1.0, abs=1e-4)  # recomputed old log-probs: on-policy ratio 1


def test_per_role_lora_adapters_train_their_own_weights(tmp_path):
    policy = tiny_policy()
    cfg = digit_config("grpo", tmp_path, policy_mode="per_role")
    trainer = digit_trainer(cfg, policy)
    model = policy.model  # now a peft model with one adapter per role
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    assert any(".thinker." in n for n in lora) and any(".reasoner." in n for n in lora)
    trainer.train()
    after = dict(model.named_parameters())
    for role in ("thinker", "reasoner"):
        assert any(not torch.equal(v, after[n]) for n, v in lora.items() if f".{role}." in n and "lora_B" in n), role
    assert all(torch.equal(v, after[n]) for n, v in base.items())


def test_separate_models_per_role(tmp_path):
    policies = {"thinker": tiny_policy(0), "reasoner": tiny_policy(1)}
    before = {r: [p.detach().clone() for p in pol.model.parameters()] for r, pol in policies.items()}
    trainer = digit_trainer(digit_config("grpo", tmp_path, policy_mode="per_role"), policies)
    assert len(trainer.optimizers) == 2
    trainer.train()
    for r, pol in policies.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[r], pol.model.parameters(), strict=True)), r


def test_kl_to_reference_is_logged_and_sequence_loss_runs(tmp_path):
    res = digit_trainer(digit_config("grpo", tmp_path / "a", kl_coef=0.1, iterations=2)).train()
    assert res.history[-1]["loss/ratio_mean"] > 0
    res = digit_trainer(digit_config("c3", tmp_path / "b", loss="ppo_sequence", dual_clip=3.0)).train()
    assert "loss/clip_frac" in res.history[-1]


def test_training_never_samples_a_held_out_prompt(tmp_path):
    eval_tasks = DIGIT_TASKS[36:]
    clones = [Task(id=f"clone{i}", kind="math", prompt="  SAY digits 36 ", answer="0") for i in range(20)]
    trainer = Trainer(digit_config("grpo", tmp_path, tasks_per_iter=8), policy=tiny_policy(),
                      train_tasks=clones + DIGIT_TASKS[:4], eval_tasks=eval_tasks)
    for it in range(1, 6):
        assert {t.prompt for t in trainer.sample_tasks(it)} <= {t.prompt for t in DIGIT_TASKS[:4]}


def test_config_file_overrides_and_errors(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('learner = "ccpo"\nbudget = 6\nfanout = [2, 3]\n[estimator_kwargs]\nsolo_baseline = "group_mean"\n')
    cfg = TrainConfig.from_file(path).with_overrides(["lr=0.5", "dual_clip=3", "resume=false"])
    assert (cfg.learner, cfg.budget, cfg.fanout, cfg.lr, cfg.dual_clip, cfg.resume) == ("ccpo", 6, (2, 3), 0.5, 3.0, False)
    assert cfg.estimator_kwargs == {"solo_baseline": "group_mean"}
    (tmp_path / "run.json").write_text(json.dumps(cfg.to_dict()))
    assert TrainConfig.from_file(tmp_path / "run.json") == cfg
    with pytest.raises(KeyError, match="valid"):
        TrainConfig.from_dict({"learning_rate": 1})
    with pytest.raises(KeyError, match="valid"):
        Trainer(TrainConfig(learner="c3", estimator_kwargs={"nope": 1}, out_dir=str(tmp_path)), policy=tiny_policy())
    with pytest.raises(ValueError):
        TrainConfig(policy_mode="both")


def test_tree_fanout_must_match_the_budget(tmp_path):
    trainer = digit_trainer(digit_config("c3", tmp_path, fanout=(2, 3)))
    with pytest.raises(ValueError, match="budget"):
        trainer.train()


def test_cli_trains_and_lists(tmp_path):
    exe = [sys.executable, "-m", "llm_marl_envs.cli", "train"]
    out = subprocess.run([*exe, "--list"], capture_output=True, text=True, check=True).stdout
    assert all(name in out for name in ("grpo", "mappo", "ccpo", "c3"))
    run = subprocess.run(
        [*exe, "--learner", "grpo", "--backend", "tiny", "--iterations", "1", "--budget", "2", "--tasks-per-iter", "2",
         "--n-eval", "2", "--eval-k", "0", "--max-tokens", "4", "--env-kwargs", '{"prompt_style": "compact"}',
         "--out-dir", str(tmp_path), "--set", "progress=false", "--set", "tensorboard=false"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["evaluator_calls"] == 4


def test_c3_value_assisted_trains_a_q_critic(tmp_path):
    cfg = digit_config("c3", tmp_path, iterations=2, estimator_kwargs={"mode": "value_assisted", "va_alpha": 0.5})
    trainer = digit_trainer(cfg)
    assert trainer.critic is not None and trainer.critic.kind == "action_value"
    head_before = trainer.critic.head.bias.detach().clone()
    hist = trainer.train().history
    assert "critic/loss" in hist[-1] and not torch.equal(head_before, trainer.critic.head.bias)
    assert 0 <= hist[-1]["upstream_answer_leak_rate"] <= 1


def test_paper_presets_build_valid_configs():
    from algorithms import PRESETS, preset_config

    for name in PRESETS.names():
        cfg = preset_config(name, iterations=3)
        assert cfg.learner in LEARNERS and cfg.budget == 8 and cfg.iterations == 3
    assert preset_config("c3_table3").ppo_epochs == 5 and preset_config("c3_release").ppo_epochs == 1
    assert preset_config("ccpo_v1").loss == "ppo_sequence"


def test_second_ppo_epoch_sees_the_old_log_probs(tmp_path):
    rec = digit_trainer(digit_config("grpo", tmp_path, ppo_epochs=2)).train().history[-1]
    assert rec["loss/ratio_mean"] != pytest.approx(1.0, abs=1e-6)  # epoch 2 ratios vs the pre-update policy
    assert rec["loss/approx_kl_old"] > 0


def test_mappo_critic_retokenises_when_role_tokenizers_differ(tmp_path):
    policies = {"thinker": tiny_policy(0), "reasoner": tiny_policy(1)}  # two tokenizer objects
    trainer = digit_trainer(digit_config("mappo", tmp_path, policy_mode="per_role"), policies)
    assert trainer.critic.tokenizer is not None
    rec = trainer.train().history[-1]
    assert rec["critic/loss"] >= 0


@pytest.mark.parametrize(("learner", "env_id"), [("ccpo", "llm-marl/MathVote-v0"), ("c3", "llm-marl/MathPipeline-v0")])
def test_learners_on_other_topologies(learner, env_id, tmp_path):
    budget = 8 if learner == "c3" else 4  # C3 needs >= 2 siblings at each of the pipeline's 3 decisions
    cfg = TrainConfig(learner=learner, env_id=env_id, env_kwargs={"prompt_style": "compact"}, task_kwargs={"difficulty": 1},
                      budget=budget, tasks_per_iter=2, iterations=1, n_eval=2, eval_k=0, max_tokens=4,
                      out_dir=str(tmp_path), progress=False, tensorboard=False)
    trainer = Trainer(cfg, policy=tiny_policy())
    rec = trainer.train().history[-1]
    assert rec["evaluator_calls"] == 2 * budget  # voting counterfactuals are free; the tree has B leaves
    if learner == "ccpo":
        assert rec["decisions"] == 2 * 4 * 3  # 3 solvers, no ablated episodes
    else:
        assert trainer.env.decisions == 3 and rec["decisions"] == 2 * (2 + 4 + 8)  # fan-out (2, 2, 2)
