"""The lab's simulator and the ``llm-marl/HintDyad-v0`` env agree: same tasks, same split and solo set, and the
same reward for the same (hint, answer) actions (ε = 0: the env has no evaluator noise)."""

from __future__ import annotations

import numpy as np
import pytest

from algorithms.bench.lab.learners import reward
from algorithms.bench.lab.regimes import REGIMES
from algorithms.bench.lab.sim import Knobs, make_world

llm_marl_envs = pytest.importorskip("llm_marl_envs")
ENV_ID = "llm-marl/HintDyad-v0"
if ENV_ID not in llm_marl_envs.registered_envs():  # pragma: no cover - until the env is registered
    pytest.skip(f"{ENV_ID} is not registered yet", allow_module_level=True)

from llm_marl_envs.tasks.hint import format_symbol  # noqa: E402


def _options(k: Knobs, split: str) -> dict:
    return {"C": k.C, "split": split, "held_frac": k.held_frac, "split_seed": k.split_seed, "solo_frac": k.solo_frac}


@pytest.mark.parametrize("regime", ["tabular", "free_riding"])
def test_env_tasks_split_and_solo_set_equal_the_simulator(regime: str) -> None:
    k = REGIMES[regime].knobs
    world = make_world(k)
    for split, indices in (("train", world.train), ("held_out", world.held)):
        env = llm_marl_envs.make_parallel(ENV_ID, task_options=_options(k, split))
        source = env.unwrapped.task_source  # the env's own task source
        assert len(source) == len(indices)
        for pos, i in enumerate(indices):
            task = source[pos]
            md = task.metadata
            assert md["index"] == i and md["c"] == world.c[i] and md["a"] * 10 + md["b"] == world.ab[i]
            assert md["u"] == world.u[i] and task.answer == str(world.y[i]) and md["solo"] == bool(world.solo[i])


def test_env_reward_equals_simulator_reward_for_the_same_actions() -> None:
    k = Knobs()
    world = make_world(k)
    env = llm_marl_envs.make_parallel(ENV_ID, task_options=_options(k, "all"))
    rng = np.random.default_rng(0)
    idx = rng.choice(world.n_tasks, size=40, replace=False)
    for i in idx:
        for _ in range(3):
            m = int(rng.integers(0, 11))
            a = int(world.y[i]) if rng.random() < 0.4 else int(rng.integers(0, 10))
            env.reset(seed=0, options={"task": int(i)})
            env.step({ag: format_symbol(m) for ag in env.agents})
            _, rewards, term, _, _ = env.step({ag: f"\\boxed{{{a}}}" for ag in env.agents})
            sim = reward(world, np.array([[i]]), np.array([[[a]]]), np.ones((1, 1, 1)))[0, 0, 0]
            assert all(term.values())
            assert rewards == {"thinker_0": sim, "reasoner_0": sim}, (i, m, a)
