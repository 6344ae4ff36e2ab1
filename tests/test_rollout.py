"""The rollout runner: batching (one generate call per policy per step, one verify_many per step),
rollout trees from frozen prefixes, ablated episodes, JSONL round trips, spending records."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agents.scripted import FixedAgent, OracleAgent, gold_response
from llm_marl_envs.envs.registration import make
from llm_marl_envs.policy import Generation, SamplingParams
from llm_marl_envs.rollout import Episode, RolloutRunner, RolloutTree, RunStats, load_jsonl, save_jsonl
from llm_marl_envs.tasks import load_tasks
from llm_marl_envs.verifiers import get_verifier

TASKS = load_tasks("arith")[:5]


class CountingPolicy:
    """Answers gold for every n-th sample (else a wrong answer) and records every call it gets."""

    def __init__(self, tasks, correct_every=1, tokens=True):
        self.tasks = list(tasks)
        self.correct_every = correct_every
        self.tokens = tokens
        self.calls: list[tuple[int, SamplingParams]] = []

    def generate(self, prompts, params):
        self.calls.append((len(prompts), params))
        out = []
        for conv in prompts:
            user = conv[-1]["content"]
            task = next(t for t in self.tasks if t.prompt in user)
            for j in range(params.n):
                text = gold_response(task) if j % self.correct_every == 0 else "\\boxed{-1}"
                ids = [ord(c) % 97 for c in text][:5] if self.tokens else []
                out.append(Generation(text, ids, [-0.5] * len(ids) if self.tokens else None, "stop", [1, 2, 3]))
        return out


class CountingVerifier:
    """Wraps the real math verifier and counts verify_many calls."""

    kind = "math"

    def __init__(self):
        self.inner = get_verifier("math")
        self.batches: list[int] = []

    def answer_key(self, text):
        return self.inner.answer_key(text)

    def verify(self, text, task):
        return self.verify_many([text], [task])[0]

    def verify_many(self, texts, tasks):
        self.batches.append(len(texts))
        return self.inner.verify_many(texts, tasks)


def test_one_batched_generate_call_per_policy_per_step():
    thinker, reasoner = CountingPolicy(TASKS), CountingPolicy(TASKS)
    runner = RolloutRunner("llm-marl/MathDyad-v0", {"thinker": thinker, "reasoner": reasoner})
    episodes = runner.run_episodes(TASKS, n_per_task=3, seed=0)
    assert len(episodes) == 15
    assert [n for n, _ in thinker.calls] == [15] and [n for n, _ in reasoner.calls] == [15]
    shared = CountingPolicy(TASKS)
    runner = RolloutRunner("llm-marl/MathDebate-v0", shared)
    runner.run_episodes(TASKS, n_per_task=2, seed=0)
    assert [n for n, _ in shared.calls] == [30, 30]  # 2 rounds x (5 tasks x 2 episodes x 3 debaters)
    assert runner.last_stats.generate_calls == 2 and runner.last_stats.prompts == 60


def test_per_agent_policies_one_call_each_and_agent_keys_win_over_roles():
    pis = [CountingPolicy(TASKS) for _ in range(2)]
    shared = CountingPolicy(TASKS)
    runner = RolloutRunner("llm-marl/MathVote-v0", {"solver_0": pis[0], "solver_2": pis[1], "solver": shared})
    runner.run_episodes(TASKS, n_per_task=2)
    assert [n for n, _ in pis[0].calls] == [10] and [n for n, _ in pis[1].calls] == [10]
    assert [n for n, _ in shared.calls] == [10]  # solver_1 falls back to its role's policy
    with pytest.raises(ValueError, match="unknown keys"):
        RolloutRunner("llm-marl/MathVote-v0", {"solver": shared, "judge": shared})


def test_verification_is_one_batched_call_per_step():
    verifier = CountingVerifier()
    runner = RolloutRunner(lambda: make("llm-marl/MathVote-v0", verifier=verifier), CountingPolicy(TASKS, 2))
    episodes = runner.run_episodes(TASKS, n_per_task=4, seed=0)
    assert len(verifier.batches) == 1
    # team answers and counterfactual re-votes of all 20 episodes, deduplicated per (task, text)
    assert verifier.batches[0] <= 2 * len(TASKS)
    assert all(e.counterfactual_rewards is not None for e in episodes)
    assert runner.last_stats.evaluator_calls == 20 and runner.last_stats.verifier_calls == verifier.batches[0]


def test_episodes_carry_ids_contexts_generations_and_rewards():
    policy = CountingPolicy(TASKS)
    runner = RolloutRunner("llm-marl/MathDyad-v0", policy)
    episodes = runner.run_episodes(TASKS[:2], n_per_task=2, seed=7)
    assert [e.reward for e in episodes] == [1.0] * 4
    assert len({e.episode_id for e in episodes}) == 4 and len({e.group_id for e in episodes}) == 2
    assert [e.sample_index for e in episodes] == [0, 1, 0, 1]
    ep = episodes[0]
    assert [m.agent for m in ep.messages] == ["thinker_0", "reasoner_0"] and [m.turn for m in ep.messages] == [0, 1]
    reasoner = ep.messages[1]
    assert reasoner.context.startswith("You are the Reasoner") and ep.messages[0].content in reasoner.context
    assert reasoner.conversation[0]["role"] == "system" and reasoner.token_ids and reasoner.logprobs == [-0.5] * 5
    assert reasoner.prompt_token_ids == [1, 2, 3] and not reasoner.truncated
    assert ep.verdict.score == 1.0 and ep.team_answer["agent"] == "reasoner_0"
    assert runner.last_stats.generated_tokens == 4 * 2 * 5 == sum(e.generated_tokens for e in episodes)


def test_recorded_episodes_replay_exactly_through_their_contexts():
    from agents.scripted import RandomAgent, ReplayAgent

    recorded = RolloutRunner("llm-marl/MathDebate-v0", RandomAgent(seed=3, max_len=40)).run_episodes(TASKS[:2], 2)
    replayed = RolloutRunner("llm-marl/MathDebate-v0", ReplayAgent(episodes=recorded, default="MISSING"))
    again = replayed.run_episodes(TASKS[:2], 2)
    assert [m.content for e in again for m in e.messages] == [m.content for e in recorded for m in e.messages]
    assert [m.context for e in again for m in e.messages] == [m.context for e in recorded for m in e.messages]


def test_run_ablated_is_the_reasoner_alone():
    runner = RolloutRunner("llm-marl/MathDyad-v0", CountingPolicy(TASKS))
    solo = runner.run_ablated(TASKS[:2], ["thinker_0"], n_per_task=3, seed=0)
    assert len(solo) == 6 and all(e.ablated == ["thinker_0"] for e in solo)
    assert all([m.agent for m in e.messages] == ["reasoner_0"] for e in solo)
    assert all("Messages from your team" not in e.messages[0].context for e in solo)
    assert all(e.episode_id.endswith("/ablate=thinker_0") for e in solo)
    with pytest.raises(ValueError):
        runner.run_ablated(TASKS[:1], [], 1)


def test_rollout_tree_fanout_2_4_with_frozen_contexts_and_subtree_values():
    thinker = FixedAgent("a plan")
    reasoner = CountingPolicy(TASKS, correct_every=2)  # samples 0, 2 right; 1, 3 wrong
    runner = RolloutRunner("llm-marl/MathDyad-v0", {"thinker": thinker, "reasoner": reasoner})
    tree = runner.run_tree(TASKS[0], fanout=[2, 4], seed=0)
    assert isinstance(tree, RolloutTree)
    assert len(tree.root.children) == 2 and all(len(tree.children(c)) == 4 for c in tree.root.children)
    assert len(tree.leaves()) == 8 == len(tree.episodes) == tree.evaluator_calls
    assert thinker.batch_sizes == [1] and [(n, p.n) for n, p in reasoner.calls] == [(2, 4)]
    for group in tree.sibling_groups():
        assert len({n.message.context for n in group}) == 1  # byte-identical context per sibling group
        assert {n.message.agent for n in group} in ({"thinker_0"}, {"reasoner_0"})
    for node_id in tree.root.children:
        assert tree.nodes[node_id].value == pytest.approx(0.5)
        assert [c.reward for c in tree.children(node_id)] == [1.0, 0.0, 1.0, 0.0]
    assert tree.root.value == pytest.approx(0.5)
    leaf_ep = tree.episodes[0]
    assert leaf_ep.leaf_id in tree.nodes and [m.node_id for m in leaf_ep.messages] == [n.node_id for n in tree.path(leaf_ep.leaf_id)]
    assert leaf_ep.messages[1].parent_id == leaf_ep.messages[0].node_id


def test_trees_of_many_tasks_grow_together_one_call_per_level():
    thinker, reasoner = CountingPolicy(TASKS), CountingPolicy(TASKS, correct_every=4)
    runner = RolloutRunner("llm-marl/MathDyad-v0", {"thinker": thinker, "reasoner": reasoner})
    trees = runner.run_trees(TASKS[:3], fanout=[2, 4], seed=1)
    assert [(n, p.n) for n, p in thinker.calls] == [(3, 2)] and [(n, p.n) for n, p in reasoner.calls] == [(6, 4)]
    assert [t.task.id for t in trees] == [t.id for t in TASKS[:3]] and len({t.tree_id for t in trees}) == 3
    assert all(t.root.value == pytest.approx(0.25) and t.evaluator_calls == 8 for t in trees)
    assert runner.last_stats.evaluator_calls == 24 and runner.last_stats.generate_calls == 2


def test_rollout_tree_from_a_recorded_prefix_reuses_the_exact_context():
    runner = RolloutRunner("llm-marl/MathDyad-v0", CountingPolicy(TASKS))
    joint = runner.run_episodes(TASKS[:1], n_per_task=1, seed=0)[0]
    tree = runner.run_tree(joint.task, fanout=[3], prefix=joint.messages[:1])
    assert len(tree.root.children) == 3 and tree.prefix[0].content == joint.messages[0].content
    assert all(n.message.context == joint.messages[1].context for n in tree.children("root"))
    assert all(e.prefix_len == 1 and e.messages[0].content == joint.messages[0].content for e in tree.episodes)


def test_voting_tree_levels_inside_one_simultaneous_stage():
    runner = RolloutRunner("llm-marl/MathVote-v0", CountingPolicy(TASKS, correct_every=2))
    tree = runner.run_tree(TASKS[1], fanout=[2, 2, 2])
    assert len(tree.leaves()) == 8
    contexts = {n.message.context for n in tree.nodes.values() if n.message is not None}
    assert len(contexts) == 1  # simultaneous voters all see just the task


def test_jsonl_round_trip(tmp_path):
    runner = RolloutRunner("llm-marl/MathVote-v0", CountingPolicy(TASKS, 2))
    episodes = runner.run_episodes(TASKS[:2], n_per_task=2)
    tree = runner.run_tree(TASKS[0], fanout=[2])
    path = tmp_path / "rollouts.jsonl"
    assert save_jsonl([*episodes, tree, runner.stats], path) == 6
    back = load_jsonl(path)
    assert back[:4] == episodes and back[4].to_dict() == tree.to_dict() and isinstance(back[5], RunStats)
    assert isinstance(back[0], Episode) and back[0].messages[0].generation.logprobs == [-0.5] * 5
    assert all(json.loads(line)["type"] for line in path.read_text().splitlines())


def test_per_role_params_and_seeded_reproducibility():
    calls = []

    class Echo:
        def generate(self, prompts, params):
            calls.append(params)
            return [Generation(f"t={params.temperature} seed={params.seed}") for _ in range(len(prompts) * params.n)]

    params = {"thinker": SamplingParams(temperature=0.3), "reasoner": SamplingParams(temperature=0.9)}
    runner = RolloutRunner("llm-marl/MathDyad-v0", Echo(), params)
    a = runner.run_episodes(TASKS[:2], n_per_task=2, seed=5)
    assert [p.temperature for p in calls] == [0.3, 0.9] and all(p.seed is not None for p in calls)
    runner2 = RolloutRunner("llm-marl/MathDyad-v0", Echo(), params)
    b = runner2.run_episodes(TASKS[:2], n_per_task=2, seed=5)
    assert [m.content for e in a for m in e.messages] == [m.content for e in b for m in e.messages]


def test_the_runner_rejects_missing_roles_and_bad_policies():
    with pytest.raises(ValueError, match="reasoner"):
        RolloutRunner("llm-marl/MathDyad-v0", {"thinker": FixedAgent("x")})

    class Short:
        def generate(self, prompts, params):
            return []

    runner = RolloutRunner("llm-marl/MathDyad-v0", Short())
    with pytest.raises(RuntimeError, match="returned 0 generations"):
        runner.run_episodes(TASKS[:1])


def test_code_env_oracle_rollout_scores_one():
    tasks = load_tasks("codegen")[:3]
    runner = RolloutRunner("llm-marl/CodeDyad-v0", OracleAgent(tasks))
    episodes = runner.run_episodes(tasks, n_per_task=2, seed=0)
    assert [e.reward for e in episodes] == [1.0] * 6
    assert runner.last_stats.verifier_calls <= 3  # identical programs per task are verified once


def test_cli_lists_envs_and_writes_rollouts(tmp_path):
    exe = [sys.executable, "-m", "llm_marl_envs.cli"]
    listing = subprocess.run([*exe, "envs"], capture_output=True, text=True, check=True).stdout
    for name in ("MathDyad", "MathVote", "MathPipeline", "MathDebate", "CodeDyad", "CodeVote", "CodePipeline"):
        assert f"llm-marl/{name}-v0" in listing
    out = tmp_path / "eps.jsonl"
    subprocess.run(
        [*exe, "rollout", "llm-marl/MathDyad-v0", "--policy", "oracle", "--tasks", "4", "--n", "2", "--out", str(out)],
        capture_output=True, text=True, check=True,
    )
    records = load_jsonl(out)
    episodes = [r for r in records if isinstance(r, Episode)]
    assert len(episodes) == 8 and all(e.reward == 1.0 for e in episodes)
    assert isinstance(records[-1], RunStats)


def test_jsonl_keeps_a_lone_surrogate_from_a_model_and_a_failed_save_keeps_the_file(tmp_path):
    """Regression: a lone surrogate in a Generation made save_jsonl raise after emptying the file."""
    from agents.scripted import FunctionAgent

    runner = RolloutRunner("llm-marl/MathDyad-v0", FunctionAgent(lambda s: "a \ud800 \\boxed{6}"), progress=False)
    episodes = runner.run_episodes([0], seed=0)
    path = tmp_path / "e.jsonl"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(TypeError):
        save_jsonl([*episodes, object()], path)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert save_jsonl(episodes, path) == 1
    back = load_jsonl(path)
    assert back[0].to_dict() == episodes[0].to_dict()
    assert any("\ud800" in (m.generation.text if m.generation else "") for m in back[0].messages)


def test_a_prefix_listed_out_of_schedule_order_keeps_each_agents_generation():
    """Regression: a stage's prefix messages were paired with the committed ones by position."""
    from llm_marl_envs.rollout.data import MessageRecord

    runner = RolloutRunner("llm-marl/MathVote-v0", FixedAgent("\\boxed{1}"), progress=False)
    env = make("llm-marl/MathVote-v0")
    env.reset(seed=0, options={"task": 0})
    task = env.unwrapped.engine.task
    context = env.observe("solver_0")["prompt"]
    prefix = [MessageRecord("solver_1", "solver", "B", 0, 0, context, generation=Generation("B", [11], [-1.0])),
              MessageRecord("solver_0", "solver", "A", 1, 0, context, generation=Generation("A", [22], [-2.0]))]
    episode = runner.run_episodes([task], prefix=prefix)[0]
    for record in episode.messages[:2]:
        assert record.generation is not None and record.generation.text == record.content
