"""Presets of the LLM integration run (``llm-marl bench credit``): the same script at laptop, full-CPU and GPU scale.

The statistical benchmark of the credit-assignment learners is the exact credit lab (``llm-marl bench lab``);
these presets train the learners on a real transformer, where a dozen optimiser steps move accuracy by less
than the noise of a few dozen held-out tasks (the table's intervals and its noise line say so).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

LEARNERS = ("grpo", "mappo", "ccpo", "c3")


@dataclass(frozen=True)
class BenchPreset:
    """Everything one benchmark run does: which envs, learners and seeds, at which budget.

    Every learner gets the same ``budget`` B of terminal-evaluator calls per training task, the
    same ``tasks_per_iter`` tasks per iteration and the same ``iterations`` (one optimiser step per
    iteration and trained model, ``ppo_epochs=1``), so evaluator calls and optimiser steps match.

    ``policy`` is ``"testbed"`` (the CPU testbed, pre-trained and cached on first use) or
    ``"hf"`` (a transformers model from ``model``, a local path). Training tasks are a finite pool
    of ``n_train_tasks`` tasks of ``tasks`` with ``train_seed``; held-out tasks come from
    ``eval_tasks`` (default: ``tasks`` with ``eval_seed``), and are checked disjoint from the
    training pool and from the testbed's supervised data (normalised prompts; overlap fails the run).

    ``learner_options``: estimator options per learner. By default CCPO trains every role at every
    step like the other learners (``alternate_every=0``): the release alternates roles every 10
    steps, which in a run of 8-12 steps with one shared policy would train the thinker alone.

    Diagnostics (of the credits each run trained on, :mod:`algorithms.bench.diagnose`): up to
    ``diag_buckets`` frozen first-agent contexts of the run's last training batch; every message the
    learner credited there is replayed ``diag_replays`` times, and ``diag_extra`` fresh messages per
    context give the Monte-Carlo baseline.
    """

    name: str
    env_ids: tuple[str, ...] = ("llm-marl/MathDyad-v0", "llm-marl/MathVote-v0")
    learners: tuple[str, ...] = LEARNERS
    seeds: tuple[int, ...] = (0, 1)
    budget: int = 8
    tasks_per_iter: int = 8
    iterations: int = 10
    eval_every: int = 5
    n_eval: int = 48
    eval_k: int = 4
    lr: float = 1e-4
    temperature: float = 1.0
    max_tokens: int = 48
    micro_batch_size: int = 64
    kl_coef: float = 0.0
    tasks: str = "arith"
    task_kwargs: dict[str, Any] = field(default_factory=lambda: {"difficulty": 1, "max_operand": 9})
    eval_tasks: str | None = None
    eval_task_kwargs: dict[str, Any] = field(default_factory=dict)
    train_seed: int = 2_000
    eval_seed: int = 3_000
    n_train_tasks: int = 400
    env_kwargs: dict[str, Any] = field(default_factory=lambda: {"prompt_style": "compact"})
    policy: str = "testbed"
    model: str | None = None
    learner_options: dict[str, dict[str, Any]] = field(default_factory=lambda: {"ccpo": {"alternate_every": 0}})
    diag_buckets: int = 16
    diag_replays: int = 4
    diag_extra: int = 4
    description: str = ""

    def with_(self, **changes: Any) -> BenchPreset:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


PRESETS: dict[str, BenchPreset] = {
    "quick": BenchPreset(
        name="quick",
        env_ids=("llm-marl/MathDyad-v0",),
        seeds=(0, 1),
        iterations=8,
        eval_every=4,
        n_eval=32,
        diag_buckets=8,
        diag_replays=2,
        description="README's first command: the dyad, four learners, two seeds, a few iterations (~4 min on 2 idle cores).",
    ),
    "full": BenchPreset(
        name="full",
        seeds=(0, 1, 2),
        iterations=12,
        eval_every=4,
        n_eval=48,
        diag_buckets=12,
        description="CPU testbed, dyad and voting, three seeds.",
    ),
    "gpu": BenchPreset(
        name="gpu",
        seeds=(0, 1, 2),
        tasks_per_iter=32,
        iterations=100,
        eval_every=10,
        n_eval=256,
        lr=1e-6,
        max_tokens=512,
        micro_batch_size=8,
        tasks="gsm8k",
        task_kwargs={"split": "train"},
        eval_tasks="gsm8k",
        eval_task_kwargs={"split": "test"},
        n_train_tasks=7_473,
        env_kwargs={"prompt_style": "default"},
        policy="hf",
        diag_buckets=64,
        description="An instruct model from a local path (--model), GSM8K train -> GSM8K test, transformers rollouts.",
    ),
}

TOY_OVERRIDES: dict[str, Any] = {
    "seeds": (0,),
    "budget": 4,  # C3 needs >= 2 siblings per decision: B >= 4 for two decisions
    "tasks_per_iter": 1,
    "iterations": 1,
    "eval_every": 1,
    "n_eval": 2,
    "eval_k": 2,
    "max_tokens": 8,
    "micro_batch_size": 4,
    "n_train_tasks": 4,
    "diag_buckets": 1,
    "diag_replays": 1,
    "diag_extra": 2,
}
"""``--toy``: shrink any preset to a smoke run (the GPU preset on CPU with the embedded SmolLM2)."""


def get_preset(name: str, *, toy: bool = False, **overrides: Any) -> BenchPreset:
    """A preset by name, optionally shrunk to a toy size and with explicit overrides (None = keep)."""
    try:
        preset = PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; valid: {sorted(PRESETS)}") from None
    if toy:
        preset = preset.with_(**TOY_OVERRIDES)
    return preset.with_(**overrides)
