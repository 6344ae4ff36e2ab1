"""Policy replicas as Ray actors (``agents.ray_replicas``) on a real local Ray with tiny transformers
models built from a config: the same generations as one local policy (uneven chunks included), the
same rollout episodes, a killed replica replaced with its chunk repeated, weights synced to every
replica, and the one-line error without Ray."""

from __future__ import annotations

import json
import math
import sys

import pytest

from agents import make_policy
from agents.ray_replicas import split_batch
from llm_marl_envs.policy import SamplingParams

# Not marked slow, so CI runs them: the 13 tests take ~46 s on the idle 2-core VM (Ray and two torch actors).
SYSTEM = "You are a careful assistant. Think step by step, then give the final answer in a box."
PROMPTS = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"What is {a} + {3 * a}?" + "?" * (a % 3)}]
           for a in range(5)]
PARAMS = {
    "greedy": SamplingParams(temperature=0, max_tokens=16),
    "sampled": SamplingParams(temperature=1.0, max_tokens=16, seed=11, n=2),
    "top_p_top_k": SamplingParams(temperature=0.8, top_p=0.9, top_k=20, max_tokens=16, seed=3),
}


def _dump(gens) -> str:
    return json.dumps([g.to_dict() for g in gens], sort_keys=True)


def _without_logprobs(obj, found: list):
    """``obj`` (nested dicts/lists) with every ``logprobs`` list replaced by None; the lists go to ``found``."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "logprobs" and isinstance(v, list):
                found.append(v)
                out[k] = None
            else:
                out[k] = _without_logprobs(v, found)
        return out
    if isinstance(obj, list):
        return [_without_logprobs(v, found) for v in obj]
    return obj


def _assert_same_up_to_logprob_rounding(a, b, tol: float = 1e-5) -> None:
    """Byte-identical apart from log-probs, which agree within float32 rounding (see the module
    docstring of agents.ray_replicas: CPU kernels are not batch-invariant in the last bits)."""
    la: list = []
    lb: list = []
    assert json.dumps(_without_logprobs(a, la), sort_keys=True, default=str) == \
        json.dumps(_without_logprobs(b, lb), sort_keys=True, default=str)
    assert len(la) == len(lb) and sum(len(x) for x in la) > 0
    for x, y in zip(la, lb, strict=True):
        assert len(x) == len(y) and all(math.isclose(p, q, abs_tol=tol) for p, q in zip(x, y, strict=True))


def _one_thread(fn):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def test_split_batch_is_contiguous_and_balanced():
    five = PROMPTS
    assert split_batch(five, 2) == [(0, 3), (3, 5)]
    assert split_batch(five, 3) == [(0, 2), (2, 4), (4, 5)]
    assert split_batch(five, 8) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]  # never an empty chunk
    assert split_batch([], 4) == []
    long_first = [[{"role": "user", "content": "x" * 90}]] + [[{"role": "user", "content": "y" * 10}]] * 9
    assert split_batch(long_first, 2, "length") == [(0, 1), (1, 10)]
    assert split_batch(long_first, 2, "count") == [(0, 5), (5, 10)]
    assert split_batch(five, 5, "length") == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    with pytest.raises(ValueError, match="balance"):
        split_batch(five, 2, "tokens")


def test_missing_ray_is_one_line(monkeypatch):
    from llm_marl_envs.rollout.ray_cluster import RayMissingError

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    with pytest.raises(RayMissingError) as info:
        make_policy("replicas", replica_backend="tiny", replicas=2)
    assert "pip install 'llm-marl-envs[ray]'" in str(info.value) and "\n" not in str(info.value)


@pytest.fixture(scope="module")
def local():
    return make_policy("tiny", seed=0)


@pytest.fixture(scope="module")
def replicas(ray_cluster):
    policy = make_policy("replicas", replica_backend="tiny", replicas=2, num_cpus=0.5, seed=0)
    yield policy
    policy.close()


def test_resources_and_registry(replicas):
    assert replicas.replicas == 2 and len(replicas.actors()) == 2
    assert replicas.num_gpus == 0 and replicas.num_cpus == 0.5  # no GPU here: no GPU reserved
    assert "replicas" in __import__("agents").BACKENDS


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_same_generations_as_one_local_policy(replicas, local, name):
    params = PARAMS[name]
    got = replicas.generate(PROMPTS, params)  # 5 prompts over 2 replicas: chunks of 3 and 2
    assert len(got) == len(PROMPTS) * params.n
    # exactly what the local policy computes for the same chunks at their global prompt indices, with
    # the one torch thread a 1-CPU actor has (Ray sets OMP_NUM_THREADS; thread count changes the last bits)
    chunked = _one_thread(lambda: local.generate(PROMPTS[:3], params)
                          + local.generate(PROMPTS[3:], params, prompt_offset=3))
    assert _dump(got) == _dump(chunked)
    # and, against the whole batch at once: byte-identical texts, tokens, finish reasons; log-probs to rounding
    whole = local.generate(PROMPTS, params)
    _assert_same_up_to_logprob_rounding([g.to_dict() for g in got], [g.to_dict() for g in whole])
    if params.seed is not None:
        assert len({g.text for g in got}) == len(got)  # real, distinct samples


def test_fewer_prompts_than_replicas_and_empty(replicas, local):
    params = PARAMS["sampled"]
    assert _dump(replicas.generate(PROMPTS[:1], params)) == _dump(_one_thread(lambda: local.generate(PROMPTS[:1], params)))
    assert replicas.generate([], params) == []


def test_backend_errors_are_reraised_as_is(replicas):
    with pytest.raises(ValueError, match="empty conversation"):
        replicas.generate([PROMPTS[0], []], PARAMS["greedy"])


def test_rollout_episodes_same_as_local(replicas, local):
    from llm_marl_envs.rollout import RolloutRunner

    def run(policy):
        runner = RolloutRunner("llm-marl/MathDyad-v0", policy, SamplingParams(temperature=1.0, max_tokens=12),
                               env_kwargs={"tasks": "arith"}, progress=False)
        try:
            return [e.to_dict() for e in runner.run_episodes([0, 1, 2], n_per_task=2, seed=7)]
        finally:
            runner.close()

    expected, got = run(local), run(replicas)
    assert len(got) == 6
    _assert_same_up_to_logprob_rounding(got, expected)


def test_killed_replica_is_replaced_and_its_chunk_repeated(replicas, local, ray_cluster):
    params = PARAMS["sampled"]
    expected = replicas.generate(PROMPTS, params)
    before = replicas.restarts
    dead = replicas.actors()[1]
    ray_cluster.kill(dead, no_restart=True)
    got = replicas.generate(PROMPTS, params)
    assert replicas.restarts == before + 1 and replicas.actors()[1] is not dead
    assert _dump(got) == _dump(expected)


def test_replica_crashing_mid_call_is_replaced(replicas, ray_cluster, tmp_path):
    """A replica's process exits while it generates (the first call anywhere that claims the marker
    file): the call still returns every answer, in order, from a fresh replica."""
    marker = str(tmp_path / "crashed")

    def crash_once(text, marker=marker):
        import os

        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return f"echo: {text}"
        os.close(fd)
        os._exit(1)

    with make_policy("replicas", replica_backend="function", replicas=2, num_cpus=0.25, fn=crash_once) as policy:
        out = policy.generate([[{"role": "user", "content": f"q{i}"}] for i in range(5)], SamplingParams(n=2))
        assert policy.restarts == 1
    assert [g.text for g in out] == [f"echo: q{i}" for i in range(5) for _ in range(2)]


def test_update_weights_reaches_every_replica(replicas, local):
    params = PARAMS["sampled"]
    before = replicas.generate(PROMPTS, params)
    other = make_policy("tiny", seed=1)  # same architecture, other random weights
    state = other.model.state_dict()
    assert replicas.update_weights(state) == len(state)
    after = replicas.generate(PROMPTS, params)
    assert [g.text for g in after] != [g.text for g in before]
    chunked = _one_thread(lambda: other.generate(PROMPTS[:3], params)
                          + other.generate(PROMPTS[3:], params, prompt_offset=3))
    assert _dump(after) == _dump(chunked)  # both replicas generate with the new weights
    assert replicas.update_weights(local.model.state_dict()) == len(state)  # back, for any later test
    assert _dump(replicas.generate(PROMPTS, params)) == _dump(before)


def test_trainer_generator_from_a_saved_model_takes_synced_weights(replicas, local, tmp_path):
    """``TrainConfig(generator="replicas")``: ``build_generator`` saves the trained model, starts the
    replicas of ``hf`` from that folder, and ``sync_weights`` loads the trained weights into them."""
    from algorithms.policies import build_generator, sync_weights

    trained = make_policy("tiny", seed=0)
    generator = build_generator("replicas", trained, tmp_path / "gen", replica_backend="hf", replicas=1,
                                num_cpus=0.5)
    try:
        params = PARAMS["sampled"]
        assert _dump(generator.generate(PROMPTS, params)) == _dump(_one_thread(lambda: trained.generate(PROMPTS, params)))
        trained.model.load_state_dict(make_policy("tiny", seed=2).model.state_dict())  # "a training step"
        assert sync_weights(generator, trained.model) == len(trained.model.state_dict())
        assert _dump(generator.generate(PROMPTS, params)) == _dump(_one_thread(lambda: trained.generate(PROMPTS, params)))
    finally:
        generator.close()
