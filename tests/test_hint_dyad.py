"""HintDyad-v0: the credit lab's task as an env (PettingZoo conformance, split, reward table, parsing
rule, ablation, prefix restore, determinism, the scripted oracle)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pettingzoo
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    parallel_seed_test,
    render_test,
    seed_test,
    state_test,
)

import llm_marl_envs
from agents.scripted import OracleAgent
from llm_marl_envs.envs import hint_dyad_v0
from llm_marl_envs.envs.registration import ENVS, make, make_parallel
from llm_marl_envs.rollout import RolloutRunner
from llm_marl_envs.tasks import TASK_SOURCES, load_tasks
from llm_marl_envs.tasks.hint import (
    NULL_HINT,
    NULL_HINT_TEXT,
    HintTaskSource,
    answer,
    format_symbol,
    hint_answer,
    hint_split,
    make_task,
    n_tasks,
    parse_symbol,
    stage_one,
    task_triples,
)
from llm_marl_envs.topologies import TOPOLOGIES
from llm_marl_envs.topologies.hint import HINT_VERIFIER
from llm_marl_envs.types import Task
from llm_marl_envs.verifiers.base import VERIFIERS

ENV_ID = "llm-marl/HintDyad-v0"
SYMBOLS = list(range(11))  # 0..9 and NULL_HINT


def play(env, policy, *, seed=None, options=None, max_steps=200):
    """One AEC episode; ``policy(agent, obs, env)`` gives the action. Returns the step log."""
    env.reset(seed=seed, options=options)
    log = []
    for agent in env.agent_iter(max_steps):
        obs, reward, term, trunc, info = env.last()
        log.append((agent, obs, reward, term, trunc, info))
        env.step(None if term or trunc else policy(agent, obs, env))
    return log


def final_infos(log):
    return {agent: info for agent, _, _, term, trunc, info in log if term or trunc}


def reward_of(task, thinker_text, reasoner_text, **kwargs):
    log = play(make(ENV_ID, **kwargs), lambda a, o, e: thinker_text if a == "thinker_0" else reasoner_text,
               options={"task": task})
    infos = final_infos(log)
    assert set(infos) == {"thinker_0", "reasoner_0"}
    rewards = {info["reward"] for info in infos.values()}
    assert len(rewards) == 1
    return rewards.pop(), log


# ---------------------------------------------------------------------------- registration
def test_registered_in_both_registries_and_with_its_parts():
    assert ENV_ID in llm_marl_envs.registered_envs()
    assert ENV_ID in pettingzoo.aec_registry and ENV_ID in pettingzoo.parallel_registry
    assert ENVS.get(ENV_ID).module == "llm_marl_envs.envs.hint_dyad_v0"
    assert "hint" in TASK_SOURCES and "hint_dyad" in TOPOLOGIES and VERIFIERS.get("hint") is HINT_VERIFIER
    aec, par = pettingzoo.make("aec", ENV_ID), pettingzoo.make("parallel", ENV_ID)
    assert aec.possible_agents == par.possible_agents == ["thinker_0", "reasoner_0"]
    assert make("HintDyad-v0").possible_agents == ["thinker_0", "reasoner_0"]


def test_env_card_uses_plain_markdown_backticks_and_has_the_sections():
    doc = hint_dyad_v0.__doc__
    assert "``" not in doc
    for section in ("| Actions |", "| Agents |", "| Observation |", "**Arguments**", "**Rewards.**", "**Version history.**"):
        assert section in doc


# ---------------------------------------------------------------------------- PettingZoo's tests
def test_pettingzoo_api_tests_both_apis():
    api_test(make(ENV_ID), num_cycles=20)
    parallel_api_test(make_parallel(ENV_ID), num_cycles=20)


def test_pettingzoo_seed_tests_both_apis():
    seed_test(lambda: make(ENV_ID), num_cycles=20)
    parallel_seed_test(lambda: make_parallel(ENV_ID), num_cycles=20)


def test_pettingzoo_max_cycles_render_and_state_tests():
    max_cycles_test(hint_dyad_v0)
    render_test(lambda **kw: make(ENV_ID, **kw))
    state_test(make(ENV_ID), make_parallel(ENV_ID))


# ---------------------------------------------------------------------------- tasks and split
def test_split_equals_hint_split_at_defaults():
    ref = hint_split()
    train, held, every = (HintTaskSource(split=s) for s in ("train", "held_out", "all"))
    assert (len(train), len(held), len(every)) == (300, 100, 400)
    assert [t.metadata["index"] for t in train] == ref.train.tolist()
    assert [t.metadata["index"] for t in held] == ref.held_out.tolist()
    ids_train, ids_held = {t.id for t in train}, {t.id for t in held}
    assert not ids_train & ids_held and ids_train | ids_held == {t.id for t in every}
    assert [t.metadata["index"] for t in every] == list(range(400))
    # the env's default source is the training split, and reset draws only from it
    env = make(ENV_ID)
    assert [t.id for t in env.unwrapped.task_source] == [t.id for t in train]
    for seed in range(30):
        env.reset(seed=seed)
        assert env.unwrapped.engine.task.id in ids_train


@pytest.mark.parametrize(("C", "held_frac", "split_seed", "solo_frac"), [(3, 0.5, 7, 0.5), (4, 0.25, 0, 0.3), (1, 0.1, 2, 1.0)])
def test_split_and_solo_set_equal_hint_split_for_other_options(C, held_frac, split_seed, solo_frac):
    ref = hint_split(C, held_frac=held_frac, split_seed=split_seed, solo_frac=solo_frac)
    opts = {"C": C, "held_frac": held_frac, "split_seed": split_seed, "solo_frac": solo_frac}
    for split, expected in (("train", ref.train), ("held_out", ref.held_out)):
        env = make(ENV_ID, task_options={**opts, "split": split})
        tasks = list(env.unwrapped.task_source)
        assert [t.metadata["index"] for t in tasks] == expected.tolist()
        assert [t.metadata["solo"] for t in tasks] == ref.solo[expected].tolist()
    assert sum(HintTaskSource(**opts, split="all")[i].metadata["solo"] for i in range(n_tasks(C))) == int(ref.solo.sum())


def test_task_fields_agree_with_the_lab_definitions():
    triples = task_triples(4)
    for task in load_tasks("hint", split="all"):
        i = task.metadata["index"]
        a, b, c = (int(v) for v in triples[i])
        assert task.id == f"hint-{i}" and task.kind == "math"
        assert (task.metadata["a"], task.metadata["b"], task.metadata["c"], task.metadata["C"]) == (a, b, c, 4)
        assert task.answer == str(int(answer(a, b, c))) == str(int(hint_answer(stage_one(a, b), c)))
        assert task.metadata["u"] == int(stage_one(a, b)) and task.metadata["intermediate"] == str(task.metadata["u"])
        assert i == (a * 10 + b) * 4 + c
        assert f"a = {a}, b = {b}, c = {c}." in task.prompt
    # plain data: tasks round-trip through JSON exactly
    task = make_task(123, 4, solo=True)
    again = Task.from_dict(json.loads(json.dumps(task.to_dict())))
    assert again == task and again.metadata == task.metadata
    assert all(type(v) in (int, bool, str) for v in task.metadata.values())


def test_bad_task_options_are_one_line_errors():
    with pytest.raises(ValueError, match="split must be one of train, held_out, all, got 'test'"):
        HintTaskSource(split="test")
    with pytest.raises(ValueError, match="C must be >= 1"):
        HintTaskSource(C=0)
    with pytest.raises(ValueError, match="C must be an integer"):
        HintTaskSource(C=2.5)
    with pytest.raises(ValueError, match="held_frac"):
        HintTaskSource(held_frac=1.0)
    with pytest.raises(ValueError, match="is empty"):
        HintTaskSource(split="held_out", held_frac=0.0)
    with pytest.raises(ValueError, match="task index"):
        make_task(400, 4)
    with pytest.raises(ValueError, match="symbol"):
        format_symbol(11)


# ---------------------------------------------------------------------------- the parsing rule
@pytest.mark.parametrize(("text", "symbol"), [
    ("7", 7), ("hint: 7", 7), (" 0 ", 0), ("The answer is \\boxed{7}", 7), ("u = 12 mod 10 = 2", 2),
    ("-3", 3), ("3.5", 3), ("x7y", 7), ("1\n2", 1), ("\\boxed{4} then \\boxed{5}", 5),
    ("5 then \\boxed{12}", NULL_HINT), ("9 \\boxed{}", NULL_HINT), ("\\boxed{ 8 ", 8), ("\\boxed{8}} 9", 8),
    ("", NULL_HINT), ("no idea", NULL_HINT), ("42", NULL_HINT), ("\\boxed{71}", NULL_HINT),
    (NULL_HINT_TEXT, NULL_HINT), ("٣", NULL_HINT), ("７", NULL_HINT),
])
def test_parse_symbol_table(text, symbol):
    assert parse_symbol(text) == symbol


def test_format_symbol_round_trips():
    assert [parse_symbol(format_symbol(m)) for m in SYMBOLS] == SYMBOLS
    assert format_symbol(NULL_HINT) == NULL_HINT_TEXT == "(no hint)"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.text(alphabet="0123456789\\boxed{} -", max_size=60)))
def test_parse_symbol_is_total(text):
    assert parse_symbol(text) in SYMBOLS
    verdict = HINT_VERIFIER.verify(text, make_task(5))
    assert verdict.score in (0.0, 1.0) and verdict.status in ("ok", "no_answer")


# ---------------------------------------------------------------------------- rewards
TASK_SAMPLE = [0, 37, 141, 222, 399]


@pytest.mark.parametrize("index", TASK_SAMPLE)
def test_reward_for_every_hint_answer_pair_equals_the_definition(index):
    task = make_task(index)
    y = int(task.answer)
    for m in SYMBOLS:
        for a in SYMBOLS:
            reward, log = reward_of(task, format_symbol(m), format_symbol(a))
            assert reward == float(a == y), (index, m, a)
            # the reasoner saw exactly the hint's symbol
            reasoner_obs = log[1][1]
            assert log[1][0] == "reasoner_0"
            assert reasoner_obs["user"].endswith(f"[thinker]\n{format_symbol(m)}")
    # the same through other renderings of the symbols
    assert reward_of(task, "hint: 3, surely", f"I say \\boxed{{{y}}}")[0] == 1.0
    assert reward_of(task, "", f"{y}")[0] == 1.0
    assert reward_of(task, "", f"{y}{y}")[0] == 0.0


@pytest.mark.parametrize("C", [1, 4, 7])
def test_verifier_reward_on_every_task_and_answer_equals_the_lab_arrays(C):
    triples = task_triples(C)
    y = answer(triples[:, 0], triples[:, 1], triples[:, 2])
    source = load_tasks("hint", C=C, split="all")
    got = np.array([[HINT_VERIFIER.verify(format_symbol(a), task).score for a in SYMBOLS] for task in source])
    expected = (np.array(SYMBOLS)[None, :] == y[:, None]).astype(float)
    assert got.shape == (n_tasks(C), 11) and (got == expected).all()


def test_the_reasoner_sees_the_parsed_hint_not_the_raw_text():
    task = make_task(10)
    _, log = reward_of(task, "the hint is 4 (secret words)", "0")
    reasoner_user = log[1][1]["user"]
    assert "secret" not in reasoner_user and reasoner_user.endswith("[thinker]\n4")
    assert task.prompt in reasoner_user and task.prompt in log[0][1]["user"]  # both see the whole task


def test_scripted_oracle_team_scores_one_and_wrong_team_zero():
    source = load_tasks("hint", split="all")
    oracle = OracleAgent(source)
    for seed in range(12):
        log = play(make(ENV_ID, task_options={"split": "all"}), lambda a, o, e: oracle.act(o), seed=seed)
        assert {info["reward"] for info in final_infos(log).values()} == {1.0}
    for seed in range(12):
        def wrong(agent, obs, env):
            return format_symbol((int(env.unwrapped.engine.task.answer) + 1) % 10)
        log = play(make(ENV_ID), wrong, seed=seed)
        assert {info["reward"] for info in final_infos(log).values()} == {0.0}


def test_rollout_runner_plays_it_with_the_oracle_and_trees():
    source = load_tasks("hint")
    runner = RolloutRunner(ENV_ID, OracleAgent(source))
    episodes = runner.run_episodes(list(range(8)), n_per_task=2, seed=0)
    assert len(episodes) == 16 and all(ep.reward == 1.0 for ep in episodes)
    tree = runner.run_tree(3, fanout=(2, 4), seed=0)
    assert tree.evaluator_calls == 8 == len(tree.episodes) and all(ep.reward == 1.0 for ep in tree.episodes)
    solo = runner.run_episodes([3], n_per_task=2, seed=0, ablate=["thinker_0"])
    assert all(ep.reward == 1.0 for ep in solo)


# ---------------------------------------------------------------------------- ablation
def test_ablating_the_thinker_is_the_null_hint():
    task = make_task(77)
    ablated = make(ENV_ID)
    log = play(ablated, lambda a, o, e: format_symbol(int(task.answer)), options={"task": task, "ablate": ["thinker_0"]})
    assert [a for a, *_ in log] == ["reasoner_0", "reasoner_0"]
    ablated_context = log[0][1]["prompt"]
    info = final_infos(log)["reasoner_0"]
    assert info["reward"] == 1.0 and info["ablated"] == ["thinker_0"]
    assert [m["agent"] for m in info["transcript"]] == ["reasoner_0"]
    for no_digit in ("", "no idea", "\\boxed{12}", NULL_HINT_TEXT):
        _, joint = reward_of(task, no_digit, "0")
        assert joint[1][1]["prompt"] == ablated_context  # byte-identical: ablation = the null hint
    _, joint = reward_of(task, "7", "0")
    assert joint[1][1]["prompt"] != ablated_context and NULL_HINT_TEXT in ablated_context


# ---------------------------------------------------------------------------- prefix restore
def _random_policy(seed):
    rng = np.random.default_rng(seed)
    texts = [*(format_symbol(m) for m in SYMBOLS), "\\boxed{3}", "hmm 12", "π ≤ 4", ""]

    def policy(agent, obs, env):
        return texts[int(rng.integers(len(texts)))]

    return policy


def test_prefix_restore_gives_byte_identical_contexts():
    for seed in range(6):
        env = make(ENV_ID)
        play(env, _random_policy(seed), seed=seed)
        result = env.unwrapped.engine.finished[-1]
        messages = [t.message for t in result.history]
        assert [m.agent for m in messages] == ["thinker_0", "reasoner_0"]
        restored = make(ENV_ID)
        restored.reset(options={"task": result.task, "prefix": messages[:1]})
        assert restored.agent_selection == "reasoner_0"
        assert restored.observe("reasoner_0")["prompt"] == messages[1].context
        restored.step(messages[1].content)
        assert restored.unwrapped.engine.finished[-1].verdict == result.verdict
        # a prefix from another prompt style is refused
        other = make(ENV_ID, prompt_style="compact")
        with pytest.raises(ValueError, match="context"):
            other.reset(options={"task": result.task, "prefix": messages[:1]})


# ---------------------------------------------------------------------------- determinism and fuzzing
def test_whole_episodes_are_deterministic_aec_and_parallel():
    def aec(seed):
        return json.dumps(play(make(ENV_ID, max_cycles=9), _random_policy(3), seed=seed), sort_keys=True)

    def parallel(seed):
        env = make_parallel(ENV_ID, max_cycles=9)
        obs, infos = env.reset(seed=seed)
        out = [(obs, infos)]
        policy = _random_policy(3)
        while env.agents:
            out.append(env.step({a: policy(a, obs[a], env) for a in env.agents}))
            obs = out[-1][0]
        return json.dumps(out, sort_keys=True)

    assert aec(11) == aec(11) and aec(11) != aec(12)
    assert parallel(4) == parallel(4) and parallel(4) != parallel(5)
    assert len(json.loads(aec(11))) > 9


FUZZ = st.one_of(
    st.just(""), st.text(max_size=200), st.none(), st.integers(), st.binary(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=50),
    st.builds(lambda k, s: s * k, st.integers(1000, 30000), st.sampled_from(["\\boxed{", "}", "9", "99"])),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(FUZZ, min_size=1, max_size=8), parallel=st.booleans())
def test_gibberish_actions_never_raise(actions, parallel):
    it = iter(actions * 20)
    if parallel:
        env = make_parallel(ENV_ID, max_cycles=6)
        env.reset(seed=0)
        while env.agents:
            _, rewards, *_ = env.step({a: next(it, "") for a in env.agents})
            assert all(r in (0.0, 1.0) for r in rewards.values())
        return
    env = make(ENV_ID)
    log = play(env, lambda a, o, e: next(it, ""), seed=0)
    space = env.observation_space("reasoner_0")
    for _, obs, reward, *_ in log:
        assert space.contains(obs) and reward in (0.0, 1.0)
    json.dumps(final_infos(log), ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------------------- golden contexts
def test_golden_contexts():
    # a change here changes what agents see (and breaks recorded prefixes): bump -vN on purpose
    task = make_task(57)  # a = 1, b = 4, c = 1
    log = play(make(ENV_ID, prompt_style="compact"), lambda a, o, e: f"message 9 of {a}", options={"task": task})
    assert [obs["prompt"] for _, obs, *_ in log[:2]] == [
        "thinker\n\na = 1, b = 4, c = 1. The hint is u = (a + b) mod 10; the answer is y = (3u + c) mod 10.",
        "reasoner\n\na = 1, b = 4, c = 1. The hint is u = (a + b) mod 10; the answer is y = (3u + c) mod 10."
        "\nthinker: 9",
    ]
    log = play(make(ENV_ID), lambda a, o, e: f"message 9 of {a}", options={"task": task})
    contexts = "\x00".join(obs["prompt"] for _, obs, _, term, trunc, _ in log if not (term or trunc))
    assert hashlib.sha1(contexts.encode()).hexdigest()[:12] == GOLDEN_DEFAULT


GOLDEN_DEFAULT = "bf29e374d214"
