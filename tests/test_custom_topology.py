"""Adding a topology in one file, without touching the env engine (the documented example).

``Panel``: two proposers answer at once, then a judge sees both proposals and writes the team
answer. Registering it makes it usable by name in ``CollabEnv``, ``register_env`` and the runner.
"""

from __future__ import annotations

from pettingzoo.test import api_test, parallel_api_test, seed_test

from agents.scripted import FunctionAgent, gold_response
from llm_marl_envs.envs.collab_env import CollabEnv, CollabParallelEnv
from llm_marl_envs.envs.registration import make, register_env
from llm_marl_envs.rollout import RolloutRunner
from llm_marl_envs.tasks import load_tasks
from llm_marl_envs.topologies import TOPOLOGIES, Topology


# --- the whole custom topology: this class and one registration line --------------------------
@TOPOLOGIES.register("panel")
class Panel(Topology):
    """Two proposers at once, then a judge who sees both; the judge's message is the team answer."""

    name = "panel"
    description = "2 proposers at once, then a judge"

    def agents(self) -> tuple[str, ...]:
        return ("proposer_0", "proposer_1", "judge_0")

    def schedule(self) -> tuple[tuple[str, ...], ...]:
        return (("proposer_0", "proposer_1"), ("judge_0",))


# ---------------------------------------------------------------------------------------------


def test_custom_topology_runs_in_the_generic_env_and_passes_pettingzoo_tests():
    api_test(CollabEnv("panel", "arith"), num_cycles=5)
    parallel_api_test(CollabParallelEnv("panel", "arith"), num_cycles=5)
    seed_test(lambda: CollabEnv("panel", "arith"), num_cycles=5)


def test_custom_topology_semantics_and_custom_prompts():
    env = CollabEnv("panel", "arith", prompt_style={"system": {"judge": "Pick the best proposal. {answer_format}"}})
    env.reset(seed=0)
    task = env.engine.task
    seen = {}
    for agent in env.agent_iter():
        obs, _, term, trunc, info = env.last()
        seen.setdefault(agent, obs)
        action = None if term or trunc else (gold_response(task) if agent == "judge_0" else f"idea of {agent}")
        env.step(action)
    assert "idea of" not in seen["proposer_1"]["user"]  # simultaneous: proposers never see each other
    assert "[proposer_0]\nidea of proposer_0" in seen["judge_0"]["user"]
    assert seen["judge_0"]["system"] == "Pick the best proposal. Put the final answer in \\boxed{}."
    assert info["reward"] == 1.0 and info["team_answer"]["agent"] == "judge_0"


def test_custom_topology_as_a_registered_env_id_with_the_runner():
    register_env("test-lab/MathPanel-v0", topology="panel", tasks="arith", description="panel on arith")
    assert make("test-lab/MathPanel-v0").possible_agents == ["proposer_0", "proposer_1", "judge_0"]
    tasks = load_tasks("arith")[:3]
    judge = FunctionAgent(lambda user: next(gold_response(t) for t in tasks if t.prompt in user))
    runner = RolloutRunner("test-lab/MathPanel-v0", {"proposer": FunctionAgent(lambda user: "hmm"), "judge": judge})
    episodes = runner.run_episodes(tasks, n_per_task=2)
    assert [e.reward for e in episodes] == [1.0] * 6
    assert runner.last_stats.generate_calls == 2  # one call per policy per stage
