"""Issue 14, rollouts: progress on long runs (never on short ones), defaults in ``--help``, the
absolute output path and a word when a file is replaced; ``MessageRecord.message`` a property."""

from __future__ import annotations

import time
import warnings

import pytest

from agents.scripted import OracleAgent
from llm_marl_envs.cli import main
from llm_marl_envs.envs.registration import make
from llm_marl_envs.rollout import RolloutRunner, load_jsonl
from llm_marl_envs.rollout import progress as progress_module
from llm_marl_envs.rollout.data import MessageRecord
from llm_marl_envs.tasks import load_tasks
from llm_marl_envs.types import Message

TASKS = load_tasks("arith")[:3]


class SlowOracle(OracleAgent):
    """The oracle, but its first ``generate`` call takes ``seconds`` and records what stderr showed
    *during* that call (the bar must appear while a long call runs, not only at the end)."""

    def __init__(self, tasks, seconds, capsys):
        super().__init__(tasks)
        self.seconds, self.capsys, self.seen_during = seconds, capsys, None

    def generate(self, prompts, params):
        if self.seen_during is None:
            time.sleep(self.seconds)
            self.seen_during = self.capsys.readouterr().err
        return super().generate(prompts, params)


def test_a_short_rollout_prints_no_progress(capsys):
    runner = RolloutRunner("llm-marl/MathDyad-v0", OracleAgent(TASKS), env_kwargs={"tasks": TASKS})
    runner.run_episodes(TASKS)
    assert capsys.readouterr().err == ""


def test_a_long_rollout_of_few_episodes_shows_progress_while_it_runs(capsys, monkeypatch):
    """Regression: the bar appeared only at 64+ episodes (a 3-task HF rollout ran 4 minutes
    silently), and only ever advanced when an episode ended."""
    monkeypatch.setattr(progress_module, "AUTO_DELAY_S", 0.2)  # the real delay is 2 s
    policy = SlowOracle(TASKS, 1.4, capsys)
    runner = RolloutRunner("llm-marl/MathDyad-v0", policy, env_kwargs={"tasks": TASKS})
    episodes = runner.run_episodes(TASKS)
    assert [e.reward for e in episodes] == [1.0] * 3
    assert "rollout llm-marl/MathDyad-v0" in policy.seen_during and "step 1: generate 3 prompt(s)" in policy.seen_during
    assert "3/3" in capsys.readouterr().err  # and it ends complete


def test_a_long_tree_rollout_shows_progress(capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "AUTO_DELAY_S", 0.2)
    policy = SlowOracle(TASKS[:1], 1.4, capsys)
    runner = RolloutRunner("llm-marl/MathDyad-v0", policy, env_kwargs={"tasks": TASKS})
    runner.run_tree(TASKS[0], [2, 2])
    assert "rollout trees llm-marl/MathDyad-v0" in policy.seen_during and "level 1" in policy.seen_during


def test_progress_false_starts_no_thread_and_prints_nothing(capsys):
    bar = progress_module.RolloutProgress(3, "x", "ep", False)
    bar.phase("anything")
    bar.update(3)
    bar.close()
    assert not bar.shown and capsys.readouterr().err == ""


def test_rollout_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["rollout", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for flag, default in [("--policy", "oracle"), ("--tasks", "8"), ("--n", "1"), ("--max-tokens", "256"),
                          ("--temperature", "1.0"), ("--top-p", "1.0"), ("--seed", "0"), ("--prompt-style", "default"),
                          ("--out", "-"), ("--task-offset", "0")]:
        assert flag in out
        assert f"(default: {default})" in out, (flag, default)


def test_rollout_prints_the_absolute_path_and_says_when_it_replaces_a_file(tmp_path, monkeypatch, capsys):
    """Regression: output landed relative to the current directory without a word, and a re-run
    replaced the previous file silently."""
    monkeypatch.chdir(tmp_path)
    args = ["rollout", "llm-marl/MathDyad-v0", "--tasks", "2", "--out", "runs/eps.jsonl"]
    assert main(args) == 0
    first = capsys.readouterr()
    target = tmp_path / "runs" / "eps.jsonl"
    assert f"-> {target}" in first.out and "replace" not in first.out + first.err
    assert len([r for r in load_jsonl(target) if hasattr(r, "episode_id")]) == 2
    assert main(args) == 0
    second = capsys.readouterr()
    assert f"{target} exists and will be replaced" in second.err and "(replaced the previous file)" in second.out


def test_rollout_out_at_a_folder_is_a_one_line_error_before_any_work(tmp_path, capsys):
    assert main(["rollout", "llm-marl/MathDyad-v0", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


# --- MessageRecord.message ---------------------------------------------------------------------

def test_message_is_a_property_equal_to_the_plain_message():
    record = MessageRecord("thinker_0", "thinker", "hi", 0, 0, "ctx")
    plain = Message("thinker_0", "thinker", "hi", 0, "ctx")
    assert isinstance(record.message, Message)
    assert record.message == plain and plain == record.message and hash(record.message) == hash(plain)
    assert record.message != Message("thinker_0", "thinker", "bye", 0, "ctx")


def test_the_old_call_still_works_with_a_deprecation_warning():
    record = MessageRecord("thinker_0", "thinker", "hi", 0, 0, "ctx")
    with pytest.warns(DeprecationWarning, match="property"):
        old = record.message()
    assert type(old) is Message and old == record.message


def test_recorded_messages_replay_through_env_reset_as_a_prefix():
    """Regression: the README passed ``ep.messages[:1]`` (records) and the env raised TypeError."""
    runner = RolloutRunner("llm-marl/MathDyad-v0", OracleAgent(TASKS), env_kwargs={"tasks": TASKS})
    ep = runner.run_episodes(TASKS[:1])[0]
    env = make("llm-marl/MathDyad-v0", tasks=TASKS)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        env.reset(options={"task": ep.task, "prefix": [m.message for m in ep.messages[:1]]})
    assert env.observe(env.agent_selection)["prompt"] == ep.messages[1].context
