"""Diagnostics read the credits the learner trained on (issue 12): the trainer's credit log, replays of it."""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_alg_trainer import digit_config, digit_trainer

from algorithms.diagnostics import collect_replay_buckets, credit_diagnostics, logged_buckets, read_credit_log


@pytest.mark.parametrize("learner", ["grpo", "c3"])
def test_trainer_logs_the_credits_the_loss_used(learner, tmp_path):
    trainer = digit_trainer(digit_config(learner, tmp_path, iterations=2))
    used = {}
    original = trainer.update_policy

    def spy(batch, advantages, trainable):
        used["adv"], used["trainable"], used["n"] = np.array(advantages), np.array(trainable), len(batch)
        return original(batch, advantages, trainable)

    trainer.update_policy = spy
    trainer.train()
    rows = read_credit_log(tmp_path)
    assert {r["iteration"] for r in rows} == {2} and len(rows) == used["n"]  # the last iteration's batch
    np.testing.assert_array_equal([r["advantage"] for r in rows], used["adv"])
    np.testing.assert_array_equal([r["trainable"] for r in rows], used["trainable"])
    assert all(r["text"] is not None and r["context"] for r in rows)
    groups = logged_buckets(rows)
    assert groups and all(len(g["rows"]) >= 2 and {r["turn"] for r in g["rows"]} == {0} for g in groups)


def test_collect_replay_buckets_replays_the_logged_messages_with_the_real_runner():
    from agents.scripted import ScriptedPolicy
    from algorithms.plans import make_runner
    from llm_marl_envs.policy import SamplingParams
    from llm_marl_envs.tasks import load_tasks

    tasks = list(load_tasks("arith", difficulty=1)[:4])

    class Coin(ScriptedPolicy):
        """Thinker: a random hint; reasoner: the gold answer only after the hint 'good'."""

        def __init__(self):
            super().__init__()
            self.rng = random.Random(0)

        def respond(self, conversation, index, sample, params):
            user = conversation[-1]["content"]
            task = next(t for t in tasks if t.prompt in user)
            if "thinker" in conversation[0]["content"].lower() and "good" not in user and "bad" not in user:
                return self.rng.choice(["good", "bad"])
            return f"\\boxed{{{task.answer}}}" if ("good" in user and self.rng.random() < 0.9) else "\\boxed{-1}"

    runner = make_runner("llm-marl/MathDyad-v0", Coin(), SamplingParams(max_tokens=50), {"prompt_style": "compact"})
    # a credit log as the trainer writes it: two thinker messages per task, credited +1 (good) / -1 (bad)
    contexts = {}
    for t in tasks:
        (ep,) = runner.run_episodes([t], n_per_task=1, seed=1)
        contexts[t.id] = ep.messages[0].context
    rows = []
    for t in tasks:
        for k, (text, credit) in enumerate((("good", 1.0), ("bad", -1.0))):
            rows.append({"iteration": 3, "episode_id": f"{t.id}-{k}", "group_id": t.id, "task_id": t.id, "role": "thinker",
                         "agent": "thinker_0", "turn": 0, "kind": "joint", "trainable": True, "reward": 0.0,
                         "advantage": credit, "raw": credit, "text": text, "context": contexts[t.id]})
    buckets = collect_replay_buckets(runner, rows, tasks, replays=3, n_extra=2, seed=5)
    assert len(buckets) == 4
    for b in buckets:
        assert b.candidates == ["good", "bad"] and b.credits == [1.0, -1.0] and b.role == "thinker"
        assert [len(r) for r in b.target_rewards] == [3, 3] and len(b.extra_rewards) == 2
        assert b.target_rewards[1] == [0.0, 0.0, 0.0]  # the reasoner only succeeds after the hint 'good'
        assert len(b.downstream_outputs[0]) == 3
    diag = credit_diagnostics(buckets)
    assert diag["fidelity"] > 0.5 and diag["upstream_entropy_nats"] == pytest.approx(np.log(2))
    assert 0 <= diag["cmi_nats"] <= diag["upstream_entropy_nats"]
