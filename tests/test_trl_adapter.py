"""The TRL adapter with the real GRPOTrainer on CPU: a tiny transformer built from a config trains
MathDyad's reasoner (the thinker is the scripted oracle) on easy ``arith``; the rewards and advantages
TRL records (its own completions table) are checked against our verifier and our credit."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import llm_marl_envs
from agents import FixedAgent, OracleAgent
from algorithms.integrations.trl import INSTALL_HINT, TeamRollout, require_trl

ROOT = Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("trl_grpo_dyad", ROOT / "examples" / "trl_grpo_dyad.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()
ENV_ID, ENV_KWARGS = EXAMPLE.ENV_ID, EXAMPLE.ENV_KWARGS
G = 4


def _tasks(n: int = 2):
    source = llm_marl_envs.make(ENV_ID, **ENV_KWARGS).unwrapped.task_source
    return [t for t in (source[i] for i in range(40)) if t.answer == "0"][:n]


def _train(tmp_path, learner=None, steps=2, patch=None):
    pytest.importorskip("trl")
    model, tokenizer = EXAMPLE.build_tiny_digit_model(seed=0)
    tasks = _tasks()
    team = TeamRollout(ENV_ID, "reasoner", {"thinker": OracleAgent(tasks)}, env_kwargs=ENV_KWARGS, learner=learner)
    args = team.grpo_config(
        output_dir=str(tmp_path), max_steps=steps, per_device_train_batch_size=G * len(tasks), num_generations=G,
        max_completion_length=8, learning_rate=1e-2, logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=True, bf16=False, seed=0, log_completions=True, disable_tqdm=True,
    )
    trainer = team.build_trainer(model, tokenizer, args, train_dataset=team.dataset(tasks))
    if patch is not None:
        patch(team)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    trainer.train()
    return team, trainer, before, tasks


def _table(tmp_path, step):
    import pandas as pd

    return pd.read_parquet(tmp_path / "completions" / f"completions_{step:05d}.parquet")


def _changed(model, before):
    return [k for k, v in model.named_parameters() if not np.array_equal(v.detach().numpy(), before[k].numpy())]


@pytest.mark.parametrize("learner", [None, "c3", "ccpo"])
def test_two_trl_steps_train_the_reasoner_on_our_verifier(tmp_path, learner):
    team, trainer, before, tasks = _train(tmp_path, learner)
    assert trainer.state.global_step == 2
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert any(x != 0 for x in losses)
    assert [k for k in _changed(trainer.model, before) if k != "lm_head.bias"], "no transformer weight changed"

    verifier = llm_marl_envs.make(ENV_ID, **ENV_KWARGS).unwrapped.verifier_for("math")
    by_prompt = {t.prompt: t for t in tasks}
    rewards_seen = []
    for step, record in zip((1, 2), team.history, strict=True):
        table = _table(tmp_path, step)
        assert len(table) == G * len(tasks)
        # what TRL trained on is what the env played: same texts, same tasks, same order
        assert table["completion"].tolist() == record.completions
        assert table["task_id"].tolist() == record.task_ids
        for prompt, completion, reward in zip(table["prompt"], table["completion"], table["team_reward"], strict=True):
            assert reward == verifier.verify(completion, by_prompt[prompt]).score  # the reward our verifier gave
        rewards_seen += table["team_reward"].tolist()
        if learner is None:  # TRL's own GRPO on the team reward: (r - mean_G) / (std_G + 1e-4)
            r = table["team_reward"].to_numpy().reshape(-1, G)
            expected = (r - r.mean(1, keepdims=True)) / (r.std(1, ddof=1, keepdims=True) + 1e-4)
        else:  # our credit, handed over unchanged
            assert table["team_credit"].tolist() == pytest.approx(record.credits, abs=1e-6)
            expected = np.asarray(record.credits)
        assert table["advantage"].to_numpy() == pytest.approx(expected.ravel(), abs=1e-5)
        if learner == "c3":
            np.testing.assert_allclose(expected, _c3_by_hand(record), atol=1e-6)
    assert 1.0 in rewards_seen and 0.0 in rewards_seen  # the check above saw both verdicts


def _c3_by_hand(record):
    """C3 (reward_only, LOO, std-normalised) for the reasoner's rows, recomputed from the tree's rewards."""
    rows = [d for d in record.batch.decisions if d.agent == "reasoner_0"]
    out = []
    for d in rows:
        sibs = [s.reward for s in rows if s.group_id == d.group_id]
        raw = [v - (sum(sibs) - v) / (len(sibs) - 1) for v in sibs]
        mean, sd = np.mean(raw), math.sqrt(np.var(raw) + 1e-8)
        out.append((d.reward - (sum(sibs) - d.reward) / (len(sibs) - 1) - mean) / sd)
    return np.asarray(out)


def test_credit_that_trl_would_recentre_is_refused(tmp_path):
    def shift(team):
        inner = team.estimator

        def shifted(batch, config, state):
            credits = inner(batch, config, state)
            credits.advantages = credits.advantages + 0.5
            return credits

        team.estimator = shifted

    with pytest.raises(RuntimeError, match="TRL would subtract it"):
        _train(tmp_path, "grpo", steps=1, patch=shift)


def test_without_trl_one_line_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # import trl -> ImportError
    with pytest.raises(ImportError) as err:
        require_trl()
    assert INSTALL_HINT in str(err.value) and "\n" not in str(err.value)
    team = TeamRollout(ENV_ID, "reasoner", FixedAgent("x"), env_kwargs=ENV_KWARGS)
    with pytest.raises(ImportError, match="llm-marl-envs\\[trl\\]"):
        team.dataset(2)


def test_bad_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="names 3 agents"):
        TeamRollout("llm-marl/MathVote-v0", "solver", FixedAgent("1"), env_kwargs={"tasks": "arith"})
    with pytest.raises(ValueError, match="trained agent reasoner_0"):
        TeamRollout(ENV_ID, "reasoner", {"thinker": FixedAgent(""), "reasoner": FixedAgent("")}, env_kwargs=ENV_KWARGS)
    with pytest.raises(ValueError, match="critic"):
        TeamRollout(ENV_ID, "reasoner", FixedAgent(""), env_kwargs=ENV_KWARGS, learner="mappo")
    team = TeamRollout(ENV_ID, "thinker", FixedAgent(""), env_kwargs=ENV_KWARGS, learner="c3")
    assert team.agent == "thinker_0" and team.tree_fanout(4) == (4, 2)  # G thinker siblings, 2 reasoners each
    assert TeamRollout(ENV_ID, "reasoner_0", FixedAgent(""), env_kwargs=ENV_KWARGS, learner="c3").tree_fanout(8) == (2, 4)
    pytest.importorskip("trl")
    with pytest.raises(ValueError, match="scale_rewards='group' conflicts"):
        team.grpo_config(output_dir="unused", scale_rewards="group")
