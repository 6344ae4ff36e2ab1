"""The oracle team scores 1.0 on every registered env and every task source of its kind, with the
rollout command's default settings (regression: CodeVote + humaneval scored 0.000 because the
scripted agents cut the gold program at --max-tokens 256 characters)."""

from __future__ import annotations

import argparse

import pytest

import llm_marl_envs
from agents import make_policy
from agents.scripted import gold_response
from llm_marl_envs.policy import SamplingParams
from llm_marl_envs.rollout.runner import RolloutRunner
from llm_marl_envs.tasks import TASK_SOURCES, load_tasks


def rollout_defaults(env_id: str) -> argparse.Namespace:
    """``llm-marl rollout ENV_ID`` parsed with nothing else: exactly the command's defaults."""
    from llm_marl_envs.rollout.cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args([env_id])


def env_kind(env_id: str) -> str:
    env = llm_marl_envs.make(env_id)
    try:
        return env.unwrapped.task_source[0].kind
    finally:
        env.close()


def sources_of_kind(kind: str) -> list[str]:
    out = []
    for name in TASK_SOURCES.names():
        source = load_tasks(name)
        if len(source) and source[0].kind == kind:
            out.append(name)
    return out


def hardest(source, n: int = 3, scan: int = 2000) -> list:
    """The first task and the ``n`` tasks with the longest gold answers among the first ``scan``
    (where truncation bites; procedural sources are unbounded)."""
    tasks = [source[i] for i in range(min(len(source), scan))]
    longest = sorted(tasks, key=lambda t: -len(gold_response(t)))[:n]
    return [tasks[0], *[t for t in longest if t is not tasks[0]]]


def env_sources(env_id: str) -> list[str]:
    """The task sources an env plays: its own default only when its preset names its own verifier
    (HintDyad's ``hint``), else every registered source of its task kind."""
    from llm_marl_envs.envs.registration import env_spec

    spec = env_spec(env_id)
    if "verifier" in spec.kwargs and isinstance(spec.tasks, str):
        return [spec.tasks]
    return sources_of_kind(env_kind(env_id))


CASES = [(env_id, source) for env_id in llm_marl_envs.registered_envs() for source in env_sources(env_id)]


def test_every_env_and_source_is_covered():
    envs = {e for e, _ in CASES}
    assert envs == set(llm_marl_envs.registered_envs())
    assert ("llm-marl/CodeVote-v0", "humaneval") in CASES and ("llm-marl/MathDyad-v0", "arith") in CASES


@pytest.mark.parametrize(("env_id", "source_name"), CASES)
def test_oracle_scores_one_with_rollout_defaults(env_id, source_name):
    args = rollout_defaults(env_id)
    source = load_tasks(source_name)
    tasks = hardest(source)
    params = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens)
    runner = RolloutRunner(env_id, make_policy("oracle", tasks=tasks), params,
                           env_kwargs={"prompt_style": args.prompt_style, "tasks": tasks}, progress=False)
    episodes = runner.run_episodes(tasks, n_per_task=1, seed=0)
    scores = {task.id: ep.reward for task, ep in zip(tasks, episodes, strict=True)}
    assert all(r == 1.0 for r in scores.values()), (env_id, source_name, scores)


def test_rollout_command_oracle_on_codevote_humaneval(capsys):
    """The issue's exact command: ``llm-marl rollout llm-marl/CodeVote-v0 --task-source humaneval``."""
    from llm_marl_envs.cli import main

    assert main(["rollout", "llm-marl/CodeVote-v0", "--task-source", "humaneval", "--out", "-", "--no-progress"]) == 0
    assert "mean reward 1.000" in capsys.readouterr().out


def test_other_scripted_agents_still_count_max_tokens_in_characters():
    from agents.scripted import FixedAgent

    conv = [{"role": "user", "content": "x"}]
    assert FixedAgent("abcdefgh").generate([conv], SamplingParams(max_tokens=3))[0].text == "abc"
    fixed = make_policy("fixed", text="x" * 1000)
    assert fixed.generate([conv], SamplingParams(max_tokens=256))[0].finish_reason == "length"
