"""Credit-assignment learners (C3, CCPO, MAPPO, GRPO) over one batch structure (DESIGN.md section 6).

Public API (stable; the credit benchmark drives it)::

    from algorithms import TrainConfig, Trainer, LEARNERS, ESTIMATORS
    result = Trainer(TrainConfig(learner="c3", budget=8, iterations=20), policy=HFPolicy(model, tok)).train()
    result.history            # one dict per iteration (also out_dir/metrics.jsonl)

Modules: ``batch`` (the rollout batch), ``estimators`` (one per learner, registry ``ESTIMATORS``),
``losses`` (PPO-clip token/sequence, KL), ``critic`` (V / Q critics), ``plans`` (how the budget B is
spent), ``learners`` (registry ``LEARNERS``), ``config``, ``trainer``, ``evaluation``,
``diagnostics`` (credit fidelity, within-group variance, influence), ``cli`` (``llm-marl train``).
Names load lazily so that ``import algorithms`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "TrainConfig": "algorithms.config",
    "Trainer": "algorithms.trainer",
    "TrainResult": "algorithms.trainer",
    "LEARNERS": "algorithms.learners",
    "Learner": "algorithms.learners",
    "register_learner": "algorithms.learners",
    "ESTIMATORS": "algorithms.estimators",
    "Credits": "algorithms.estimators",
    "register_estimator": "algorithms.estimators",
    "RolloutBatch": "algorithms.batch",
    "Decision": "algorithms.batch",
    "LossConfig": "algorithms.losses",
    "LOSSES": "algorithms.losses",
    "PLANS": "algorithms.plans",
    "PRESETS": "algorithms.presets",
    "preset_config": "algorithms.presets",
    "ReplayBucket": "algorithms.diagnostics",
    "collect_replay_buckets": "algorithms.diagnostics",
    "credit_diagnostics": "algorithms.diagnostics",
    "credit_fidelity": "algorithms.diagnostics",
    "within_group_variance": "algorithms.diagnostics",
    "influence": "algorithms.diagnostics",
    "evaluate": "algorithms.evaluation",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'algorithms' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = sorted(_LAZY)
