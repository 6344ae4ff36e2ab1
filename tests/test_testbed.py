"""The CPU testbed: teacher data from the real envs, SFT, save/load round trip, cache keys."""

from __future__ import annotations

import random

import pytest

from algorithms.testbed import TestbedConfig, checkpoint_dir, load_testbed, pretrain
from algorithms.testbed import testbed_metadata as read_metadata
from algorithms.testbed.sft import SFTExample, encode_example, train_sft
from algorithms.testbed.teacher import collect_examples, solution_steps, stage_one, stage_two
from llm_marl_envs.tasks import load_tasks

TINY = TestbedConfig(hidden_size=32, num_layers=1, num_heads=2, n_sft_tasks=12, steps=4, batch_size=8, warmup_steps=1)


def _tasks(n: int = 6, seed: int = 5) -> list:
    return list(load_tasks("arith", seed=seed, difficulty=1)[:n])


def test_config_key_changes_with_every_recipe_field(tmp_path, monkeypatch):
    base = TestbedConfig()
    assert base.key() == TestbedConfig().key()
    assert base.key() != TestbedConfig(steps=base.steps + 1).key()
    assert base.key() != TestbedConfig(thinker_noise=0.0).key()
    assert TestbedConfig.from_dict(base.to_dict()) == base
    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path))
    assert checkpoint_dir(base) == tmp_path / f"testbed-{base.key()}"


def test_teacher_stages_follow_the_stated_intermediate():
    task = _tasks(1)[0]
    a, op, b, inter = solution_steps(task)[0]
    assert inter == task.metadata["intermediate"]
    first, stated = stage_one(task, random.Random(0), noise=0.0)
    assert stated == task.metadata["intermediate"] and first.endswith(f"= {stated}.")
    assert stage_two(task, stated).endswith(f"\\boxed{{{task.answer}}}")
    wrong = str(int(stated) + 1)
    assert f"\\boxed{{{task.answer}}}" not in stage_two(task, wrong)
    assert stage_two(task, None) == f"\\boxed{{{task.answer}}}"
    noisy = [stage_one(task, random.Random(i), noise=1.0)[1] for i in range(5)]
    assert all(v != stated for v in noisy)


def test_teacher_team_is_right_exactly_when_the_thinker_is_right():
    """Through the real env and verifier: a clean teacher scores 1, a wrong thinker drags the team to 0."""
    import llm_marl_envs

    tasks = _tasks(4)
    for noise, expected in ((0.0, 1.0), (1.0, 0.0)):
        rng = random.Random(0)
        examples = collect_examples("llm-marl/MathDyad-v0", tasks, rng=rng, noise=noise, solo_fraction=0.0,
                                    env_kwargs={"prompt_style": "compact"})
        env = llm_marl_envs.make("llm-marl/MathDyad-v0", tasks=tasks, prompt_style="compact")
        for i in range(len(tasks)):
            thinker, reasoner = examples[2 * i], examples[2 * i + 1]
            env.reset(seed=0, options={"task": i})
            rewards = []
            for agent in env.agent_iter():
                _, r, term, trunc, _ = env.last()
                if term or trunc:
                    rewards.append(r)
                    env.step(None)
                    continue
                env.step(thinker.target if agent.startswith("thinker") else reasoner.target)
            assert rewards and rewards[-1] == expected


def test_collected_contexts_are_exactly_what_the_env_renders():
    tasks = _tasks(6)
    examples = collect_examples("llm-marl/MathDyad-v0", tasks, rng=random.Random(1), noise=0.3, solo_fraction=0.5,
                                env_kwargs={"prompt_style": "compact"})
    roles = {e.role for e in examples}
    assert roles == {"thinker", "reasoner"}
    reasoners = [e for e in examples if e.role == "reasoner"]
    assert len(reasoners) == len(tasks)
    solo = [e for e in reasoners if "thinker:" not in e.messages()[-1]["content"]]
    assert solo and all(e.target.startswith("\\boxed{") for e in solo)
    thinkers = [e.messages() for e in examples if e.role == "thinker"]
    assert thinkers and all(m[0] == {"role": "system", "content": "thinker"} for m in thinkers)
    assert {m[1]["content"] for m in thinkers} <= {t.prompt for t in tasks}
    votes = collect_examples("llm-marl/MathVote-v0", tasks, rng=random.Random(1), noise=0.0, solo_fraction=0.0,
                             env_kwargs={"prompt_style": "compact"})
    assert len(votes) == len(tasks) and all(e.target.endswith(f"\\boxed{{{t.answer}}}") for e, t in zip(votes, tasks, strict=True))


def test_sft_lowers_the_loss_on_targets_only():
    from agents.tiny import build_tiny_model, build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)
    examples = [SFTExample.make([{"role": "user", "content": f"compute {i} + 1"}], f"\\boxed{{{i + 1}}}") for i in range(8)]
    prompt_ids, target_ids = encode_example(tok, examples[0])
    assert target_ids[-1] == tok.eos_token_id and tok.decode(target_ids[:-1]) == "\\boxed{1}"
    curve = train_sft(model, tok, examples, steps=40, batch_size=8, lr=1e-2, warmup_steps=2, seed=0, log_every=1)
    assert curve[-1]["loss"] < 0.5 * curve[0]["loss"]


def test_pretrain_save_load_roundtrip(tmp_path):
    import torch

    folder = pretrain(TINY, tmp_path / "tb", log=None)
    meta = read_metadata(path=folder)
    assert meta["key"] == TINY.key() and meta["n_examples"] > 0 and meta["roles"] == ["reasoner", "solver", "thinker"]
    assert all(torch.isfinite(torch.tensor(p["loss"])) for p in meta["loss_curve"])
    model, tok = load_testbed(TINY, path=folder, train_if_missing=False, log=None)
    assert sum(p.numel() for p in model.parameters()) == meta["n_params"]
    from agents.hf import HFPolicy
    from llm_marl_envs.policy import SamplingParams

    gens = HFPolicy(model, tok).generate([[{"role": "system", "content": "thinker"},
                                           {"role": "user", "content": "compute (3 + 4) * 2"}]],
                                         SamplingParams(temperature=0.0, max_tokens=6))
    assert len(gens) == 1 and len(gens[0].token_ids) >= 1
    with pytest.raises(FileNotFoundError):
        load_testbed(TINY, path=tmp_path / "missing", train_if_missing=False, log=None)


def test_load_testbed_trains_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path))
    load_testbed(TINY, log=None)
    stamp = (checkpoint_dir(TINY) / "testbed.json").stat().st_mtime_ns
    load_testbed(TINY, log=None)
    assert (checkpoint_dir(TINY) / "testbed.json").stat().st_mtime_ns == stamp


def test_testbed_is_built_through_the_agents_backend_registry(tmp_path, monkeypatch):
    import torch

    from agents import BACKENDS, make_policy

    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path))
    assert "testbed" in BACKENDS
    policy = make_policy("testbed", config=TINY, log=None)
    model, _ = load_testbed(TINY, log=None)
    ours = policy.model.state_dict()
    assert ours.keys() == model.state_dict().keys()
    assert all(torch.equal(ours[k], v) for k, v in model.state_dict().items())


def test_a_build_uses_the_same_threads_whatever_the_ambient_setting(tmp_path):
    """The weights of a float32 build depend on the thread count: a build takes BUILD_THREADS, not the
    count the load-based default chose (a busy machine's 1 thread gave another model under one key)."""
    import torch

    from algorithms.testbed.build import BUILD_THREADS

    ambient = torch.get_num_threads()
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            folder = pretrain(TINY, tmp_path / f"tb{threads}", log=None)
            assert read_metadata(path=folder)["torch_threads"] == BUILD_THREADS
            assert torch.get_num_threads() == threads  # restored for the caller
    finally:
        torch.set_num_threads(ambient)


def test_the_default_testbed_ships_with_the_package_and_is_read_when_the_cache_has_none(tmp_path, monkeypatch):
    """A fresh machine evaluates the shipped weights (no first build); a build in the cache wins."""
    from algorithms.testbed import testbed_folder
    from algorithms.testbed.config import SHIPPED_ROOT

    monkeypatch.setenv("LLM_MARL_CACHE", str(tmp_path))
    default = TestbedConfig()
    shipped = SHIPPED_ROOT / f"testbed-{default.key()}"
    assert testbed_folder(default) == shipped
    meta = read_metadata(default)
    assert meta["key"] == default.key() and meta["torch_threads"] == 2
    assert (shipped / "model.safetensors").stat().st_size < 5_000_000
    assert testbed_folder(TINY) == checkpoint_dir(TINY)  # nothing shipped: a first use builds into the cache
    pretrain(TINY, checkpoint_dir(TINY), log=None)
    assert testbed_folder(TINY) == checkpoint_dir(TINY)
