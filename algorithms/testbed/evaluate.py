"""How competent the testbed is: greedy and sampled team accuracy on held-out tasks, per env.

"Partly competent" means: well above zero (RL has signal) and well below one (room to improve), and
in the dyad the reasoner alone (thinker ablated) does worse than the team (the thinker's message
matters, which is what credit assignment measures).
"""

from __future__ import annotations

from typing import Any

from .config import TestbedConfig

HELD_OUT_SEED = 424_242


def held_out_tasks(config: TestbedConfig, n: int) -> list:
    """``n`` tasks of the testbed's source whose prompts are not in its supervised data."""
    from algorithms.bench.holdout import disjoint_tasks
    from llm_marl_envs.tasks import load_tasks

    from .build import sft_tasks, task_kwargs

    source = load_tasks(config.tasks, seed=HELD_OUT_SEED, **task_kwargs(config))
    return disjoint_tasks(iter(source), n, sft_tasks(config))


HELD_OUT_SOURCE = "testbed_heldout"
"""The registered task source of :func:`held_out_source` (the ``testbed`` training preset evaluates on it)."""


def held_out_source(n: int = 400, start: int = 0) -> Any:
    """Held-out tasks ``start .. start + n - 1`` of the default testbed as a task source: never in its
    supervised data (and the trainer keeps every evaluated prompt out of RL training). About 450 exist
    (``arith`` difficulty 1 with operands up to 9 has 1,008 distinct prompts; the SFT data covers 549).
    The ``testbed`` preset evaluates on the first 200 and trains on the 24 after them."""
    from llm_marl_envs.tasks.base import ListTaskSource

    if start < 0 or n < 1:
        raise ValueError(f"{HELD_OUT_SOURCE}: start must be >= 0 and n >= 1, got start={start}, n={n}")
    return ListTaskSource(held_out_tasks(TestbedConfig(), start + n)[start:], name=HELD_OUT_SOURCE)


def competence_report(model, tokenizer, config: TestbedConfig, *, n: int = 64, max_tokens: int = 48) -> dict[str, Any]:
    """``{env_id: {"greedy", "sampled", "solo_greedy"?}}`` team accuracies on ``n`` held-out tasks."""
    from agents.hf import HFPolicy
    from llm_marl_envs import make
    from llm_marl_envs.policy import SamplingParams
    from llm_marl_envs.rollout.runner import RolloutRunner

    tasks = held_out_tasks(config, n)
    policy = HFPolicy(model, tokenizer)
    report: dict[str, Any] = {}
    for env_id in config.env_ids:
        kwargs = {"prompt_style": config.prompt_style, "tasks": tasks}
        greedy = RolloutRunner(env_id, policy, SamplingParams(temperature=0.0, max_tokens=max_tokens),
                               env_kwargs=kwargs, progress=False)
        sampled = RolloutRunner(env_id, policy, SamplingParams(temperature=1.0, max_tokens=max_tokens),
                                env_kwargs=kwargs, progress=False)
        eps = greedy.run_episodes(tasks, n_per_task=1, seed=0)
        samp = sampled.run_episodes(tasks, n_per_task=4, seed=1)
        row = {
            "greedy": sum(e.verdict.correct for e in eps) / len(eps),
            "sampled": sum(e.verdict.correct for e in samp) / len(samp),
            "example": [m.content for m in eps[0].messages],
        }
        agents = list(make(env_id, **kwargs).possible_agents)
        if "Dyad" in env_id or "Pipeline" in env_id:
            solo = greedy.run_ablated(tasks, ablate=agents[:1], n_per_task=1, seed=0)
            row["solo_greedy"] = sum(e.verdict.correct for e in solo) / len(solo)
        report[env_id] = row
    return report
