"""Scripted policies: the protocol (order, n, stop, max_tokens, seeds) and each agent's behaviour."""

from __future__ import annotations

import pytest

from agents.chat import normalize_roles, to_conversation
from agents.scripted import (
    FixedAgent,
    FunctionAgent,
    OracleAgent,
    RandomAgent,
    ReplayAgent,
    gold_response,
    user_message,
)
from llm_marl_envs.policy import Generation, SamplingParams
from llm_marl_envs.types import Message, Task

MATH = [Task(id=f"m{i}", kind="math", prompt=f"What is {i} + {i}?", answer=str(2 * i)) for i in range(1, 13)]
CODE = Task(id="c0", kind="code", prompt="Write add(a, b).", tests=("assert add(1, 2) == 3",),
            entry_point="add", metadata={"reference": "def add(a, b):\n    return a + b\n"})
HUMANEVAL = Task(id="h0", kind="code", prompt='def inc(x):\n    """Add one."""\n', tests="assert inc(1) == 2",
                 entry_point="inc", metadata={"reference": "    return x + 1\n"})


def conv(user: str, system: str | None = "You are a helpful team member.") -> list[dict[str, str]]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def test_oracle_answers_gold_in_batch_order_with_n_samples():
    oracle = OracleAgent(MATH)
    prompts = [conv(f"Task:\n\n{t.prompt}\n\nThink step by step.") for t in reversed(MATH)]
    out = oracle.generate(prompts, SamplingParams(n=3))
    assert len(out) == 3 * len(MATH) and all(isinstance(g, Generation) for g in out)
    for i, task in enumerate(reversed(MATH)):
        for j in range(3):
            assert out[3 * i + j].text == f"The answer is \\boxed{{{task.answer}}}"
    assert oracle.calls == 1 and oracle.prompts_seen == len(MATH) and oracle.batch_sizes == [len(MATH)]


def test_oracle_prefers_the_longest_quoted_prompt_and_handles_unknown():
    # "What is 1 + 1?" is a substring of nothing else, but "What is 1" prefixes "What is 11 + 11?"
    oracle = OracleAgent(MATH, unknown="?")
    assert oracle.generate([conv("Solve: What is 11 + 11? now")])[0].text.endswith("{22}")
    assert oracle.generate([conv("Solve: What is 1 + 1? now")])[0].text.endswith("{2}")
    assert oracle.generate([conv("nothing here")])[0].text == "?"
    # found in the system message when the user message does not quote it
    assert oracle.find_task([{"role": "system", "content": MATH[4].prompt}, {"role": "user", "content": "go"}]) is MATH[4]


def test_oracle_code_fences_reference_and_prepends_humaneval_prompt():
    oracle = OracleAgent([CODE, HUMANEVAL])
    code, he = oracle.generate([conv(CODE.prompt), conv("Complete:\n" + HUMANEVAL.prompt)])
    assert code.text == "```python\ndef add(a, b):\n    return a + b\n```"
    assert he.text.startswith("```python\ndef inc(x):") and "return x + 1" in he.text
    namespace: dict = {}
    exec(he.text.split("```python\n")[1].split("```")[0], namespace)  # our own gold program, not model text
    assert namespace["inc"](1) == 2
    assert gold_response(MATH[0]) == "The answer is \\boxed{2}"


def test_stop_strings_and_max_tokens_in_characters():
    agent = FixedAgent("abc STOP def")
    g = agent.generate([conv("x")], SamplingParams(stop=("STOP",)))[0]
    assert g.text == "abc " and g.finish_reason == "stop"
    g = agent.generate([conv("x")], SamplingParams(max_tokens=5))[0]
    assert g.text == "abc S" and g.finish_reason == "length"
    g = agent.generate([conv("x")], SamplingParams(stop=("zzz", " d"), max_tokens=100))[0]
    assert g.text == "abc STOP" and g.finish_reason == "stop"
    assert g.logprobs is None and g.token_ids == []


def test_replay_in_order_and_by_context():
    replay = ReplayAgent(["one", "two"], cycle=False, default="done")
    assert [g.text for g in replay.generate([conv("a"), conv("b"), conv("c")])] == ["one", "two", "done"]
    episodes = [{"messages": [Message("thinker_0", "thinker", "hint A", 0, context="ctx A").to_dict(),
                              Message("reasoner_0", "reasoner", "final B", 1, context="ctx B").to_dict()]}]
    replay = ReplayAgent(["fallback"], episodes=episodes)
    texts = [g.text for g in replay.generate([conv("ctx B", system=None), conv("ctx A"), conv("zzz")])]
    assert texts == ["final B", "hint A", "fallback"]
    by_ctx = ReplayAgent(by_context={"q": ["first", "second"]})
    assert [g.text for g in by_ctx.generate([conv("q")], SamplingParams(n=3))] == ["first", "second", "first"]
    from_messages = ReplayAgent(episodes=[Message("a_0", "a", "hello", 0, context="hi")])
    assert from_messages.generate([conv("hi")])[0].text == "hello"


def test_random_agent_is_printable_seeded_and_bounded():
    agent = RandomAgent(seed=3, max_len=50)
    params = SamplingParams(seed=7, n=2)
    a = [g.text for g in agent.generate([conv("p"), conv("q")], params)]
    b = [g.text for g in RandomAgent(seed=99, max_len=50).generate([conv("p"), conv("q")], params)]
    assert a == b  # a per-request seed fixes the text whatever the agent's own seed
    assert len(set(a)) > 1
    free = [g.text for g in RandomAgent(seed=1, max_len=50).generate([conv("p")] * 20)]
    assert free == [g.text for g in RandomAgent(seed=1, max_len=50).generate([conv("p")] * 20)]
    assert free != [g.text for g in RandomAgent(seed=2, max_len=50).generate([conv("p")] * 20)]
    for text in free:
        assert len(text) <= 50 and all(c.isprintable() or c == "\n" for c in text)
    assert any(ord(c) > 127 for text in free for c in text)


def test_function_agent_user_message_conversation_and_batched():
    upper = FunctionAgent(str.upper)
    assert upper.generate([conv("hello")])[0].text == "HELLO"

    def count(conversation):
        return f"{len(conversation)} messages"

    assert FunctionAgent(count).generate([conv("hi")])[0].text == "2 messages"
    assert FunctionAgent(lambda x: len(x), conversation=True).generate([conv("hi")])[0].text == "2"
    calls = []

    def batch_fn(texts):
        calls.append(len(texts))
        return [t[::-1] for t in texts]

    agent = FunctionAgent(batch_fn, batched=True)
    out = agent.generate([conv("ab"), conv("cd")], SamplingParams(n=2))
    assert [g.text for g in out] == ["ba", "ba", "dc", "dc"] and calls == [4]
    with pytest.raises(ValueError):
        FunctionAgent(lambda texts: ["x"], batched=True).generate([conv("a"), conv("b")])
    with pytest.raises(TypeError):
        FunctionAgent("not callable")  # type: ignore[arg-type]


def test_act_on_observation_dicts_and_chat_helpers():
    agent = FunctionAgent(lambda text: text + "!")
    obs = {"system": "sys", "user": "the question", "prompt": "the question", "role": "thinker"}
    assert agent.act(obs) == "the question!"
    assert to_conversation(obs) == [{"role": "system", "content": "sys"}, {"role": "user", "content": "the question"}]
    assert user_message("plain") == "plain"
    norm = normalize_roles([{"role": "system", "content": "s"}, {"role": "thinker", "content": "t"},
                            {"role": "user", "content": "u"}, {"role": "reasoner", "content": "r"}],
                           self_role="reasoner")
    assert norm == [{"role": "system", "content": "s"}, {"role": "user", "content": "[thinker]: t\n\nu"},
                    {"role": "assistant", "content": "r"}]


def test_replay_reproduces_recorded_runner_episodes():
    from llm_marl_envs.rollout import RolloutRunner

    tasks = MATH[:4]
    oracle, fixed = OracleAgent(tasks), FixedAgent("no idea")
    policies = {"thinker": fixed, "reasoner": oracle}
    recorded = RolloutRunner("llm-marl/MathDyad-v0", policies, env_kwargs={"tasks": tasks}).run_episodes(tasks)
    assert [e.reward for e in recorded] == [1.0] * 4
    replay = ReplayAgent(episodes=recorded, default="unmatched")
    replayed = RolloutRunner("llm-marl/MathDyad-v0", replay, env_kwargs={"tasks": tasks}).run_episodes(tasks)
    assert [e.reward for e in replayed] == [1.0] * 4
    assert [[m.content for m in e.messages] for e in replayed] == [[m.content for m in e.messages] for e in recorded]
    assert replay.calls == 2  # one batched call per stage (thinkers, then reasoners)
