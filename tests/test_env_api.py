"""PettingZoo's own conformance tests, unmodified, on every registered env id (AEC and parallel)."""

from __future__ import annotations

import importlib
import time

import pettingzoo
import pytest
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
from llm_marl_envs.envs.registration import ENVS, make, make_parallel, registered_envs

IDS = [i for i in registered_envs() if i.startswith("llm-marl/")]  # other tests register their own ids
EXPECTED = {
    "llm-marl/MathDyad-v0", "llm-marl/MathVote-v0", "llm-marl/MathPipeline-v0", "llm-marl/MathDebate-v0",
    "llm-marl/CodeDyad-v0", "llm-marl/CodeVote-v0", "llm-marl/CodePipeline-v0", "llm-marl/HintDyad-v0",
}


def _cycles(env_id: str) -> int:
    # random actions run through the real verifiers (the code sandbox runs subprocesses): keep code short
    return 3 if "/Code" in env_id else 8


def test_the_contract_ids_are_registered_in_both_registries():
    assert EXPECTED <= set(IDS) <= set(llm_marl_envs.registered_envs())
    for env_id in EXPECTED:
        assert env_id in pettingzoo.aec_registry and env_id in pettingzoo.parallel_registry


@pytest.mark.parametrize("env_id", IDS)
def test_api_test(env_id):
    api_test(make(env_id), num_cycles=_cycles(env_id))


@pytest.mark.parametrize("env_id", IDS)
def test_parallel_api_test(env_id):
    parallel_api_test(make_parallel(env_id), num_cycles=_cycles(env_id))


@pytest.mark.parametrize("env_id", IDS)
def test_seed_tests(env_id):
    seed_test(lambda: make(env_id), num_cycles=_cycles(env_id))
    parallel_seed_test(lambda: make_parallel(env_id), num_cycles=_cycles(env_id))


@pytest.mark.parametrize("env_id", IDS)
def test_max_cycles_test_on_the_pettingzoo_module(env_id):
    module = importlib.import_module(ENVS.get(env_id).module)
    max_cycles_test(module)


@pytest.mark.parametrize("env_id", IDS)
def test_render_and_state_tests(env_id):
    render_test(lambda **kw: make(env_id, **kw))
    state_test(make(env_id), make_parallel(env_id))


@pytest.mark.parametrize("env_id", ["llm-marl/MathDyad-v0", "llm-marl/CodeVote-v0"])
def test_pettingzoo_make_builds_the_same_env(env_id):
    aec = pettingzoo.make("aec", env_id)
    par = pettingzoo.make("parallel", env_id)
    assert aec.possible_agents == make(env_id).possible_agents == par.possible_agents
    truncating = pettingzoo.make("parallel", env_id, max_cycles=2)
    truncating.reset(seed=0)
    steps = 0
    while truncating.agents:
        truncating.step({a: "" for a in truncating.agents})
        steps += 1
    assert steps == 2


def test_make_accepts_the_bare_name_and_rejects_unknown_ids():
    assert make("MathDyad-v0").possible_agents == ["thinker_0", "reasoner_0"]
    with pytest.raises(KeyError, match="MathDyad"):
        make("llm-marl/NoSuchEnv-v0")


def test_every_module_card_has_the_pettingzoo_sections():
    for env_id in IDS:
        doc = importlib.import_module(ENVS.get(env_id).module).__doc__
        for section in ("| Actions |", "| Agents |", "| Observation |", "**Arguments**", "**Rewards.**", "**Version history.**"):
            assert section in doc, (env_id, section)


def test_envs_build_fast_once_task_sources_are_loaded():
    make("llm-marl/MathDyad-v0")
    start = time.perf_counter()
    for _ in range(20):
        make("llm-marl/MathDyad-v0").reset(seed=1)
    assert time.perf_counter() - start < 5.0  # ~0.1 s unloaded: task sources are loaded once per process
