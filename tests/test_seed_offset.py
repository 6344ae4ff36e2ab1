"""``generate(..., prompt_offset=k)``: a slice of a batch draws, with a request seed, exactly what the
whole batch draws for those prompts (every backend that derives seeds from the prompt's index), and
offset 0 is the old behaviour."""

from __future__ import annotations

import inspect

import pytest

from agents import RandomAgent, make_policy
from agents.openai_compat import OpenAICompatPolicy, _request_seed
from agents.router import RouterPolicy
from llm_marl_envs.policy import SamplingParams
from tests.agents_fixtures import OpenAIStubServer

PROMPTS = [[{"role": "user", "content": f"What is {a} * {a + 2}?"}] for a in range(5)]
SEEDED = SamplingParams(temperature=1.0, max_tokens=10, seed=5, n=2)


def _texts(gens) -> list[str]:
    return [g.text for g in gens]


@pytest.fixture(scope="module")
def tiny():
    return make_policy("tiny", seed=0)


def test_hf_slices_draw_what_the_whole_batch_draws(tiny):
    whole = tiny.generate(PROMPTS, SEEDED)
    assert len(set(_texts(whole))) == len(whole)  # real samples, all distinct
    parts = tiny.generate(PROMPTS[:2], SEEDED) + tiny.generate(PROMPTS[2:], SEEDED, prompt_offset=2)
    assert _texts(parts) == _texts(whole)
    assert [g.token_ids for g in parts] == [g.token_ids for g in whole]
    one = tiny.generate([PROMPTS[3]], SEEDED, prompt_offset=3)
    assert _texts(one) == _texts(whole[6:8])
    # without the offset a slice draws as prompts 0.. (the old behaviour), which differs
    assert _texts(tiny.generate(PROMPTS[2:], SEEDED)) != _texts(whole[4:])
    assert _texts(tiny.generate(PROMPTS[2:], SEEDED, prompt_offset=0)) == _texts(tiny.generate(PROMPTS[2:], SEEDED))


def test_hf_role_view_and_ids_path_take_the_offset(tiny):
    whole = tiny.generate(PROMPTS, SEEDED)
    ids = [tiny.encode_prompt(p) for p in PROMPTS[1:]]
    assert _texts(tiny.generate_from_ids(ids, SEEDED, prompt_offset=1)) == _texts(whole[2:])
    assert _texts(tiny.for_role("thinker").generate(PROMPTS[4:], SEEDED, prompt_offset=4)) == _texts(whole[8:])


def test_scripted_random_agent_takes_the_offset():
    agent = RandomAgent(seed=0)
    whole = agent.generate(PROMPTS, SEEDED)
    assert _texts(agent.generate(PROMPTS[3:], SEEDED, prompt_offset=3)) == _texts(whole[6:])
    assert _texts(agent.generate(PROMPTS[3:], SEEDED)) != _texts(whole[6:])


def test_openai_and_router_send_the_global_seed():
    policy = RandomAgent(seed=0)
    with OpenAIStubServer({"default": policy}) as server:
        for n_per_request in (True, False):
            with OpenAICompatPolicy(server.base_url, "default", n_per_request=n_per_request) as client:
                server.requests.clear()
                client.generate(PROMPTS[2:4], SEEDED, prompt_offset=2)
                sent = sorted(r["seed"] for r in server.requests)
            expected = sorted({_request_seed(5, i, j if not n_per_request else 0)
                               for i in (2, 3) for j in range(2)})
            assert sent == expected
        with RouterPolicy([server.base_url], "default") as router:
            server.requests.clear()
            router.generate(PROMPTS[4:], SEEDED, prompt_offset=4)
            assert [r["seed"] for r in server.requests] == [_request_seed(5, 4, 0)]


def test_every_backend_generate_takes_prompt_offset():
    from agents import hf, openai_compat, router, scripted, vllm  # vllm: the module imports without vLLM

    for cls in (hf.HFPolicy, hf.HFRoleView, openai_compat.OpenAICompatPolicy, router.RouterPolicy,
                scripted.ScriptedPolicy, vllm.VLLMPolicy):
        param = inspect.signature(cls.generate).parameters.get("prompt_offset")
        assert param is not None and param.default == 0 and param.kind is param.KEYWORD_ONLY, cls
