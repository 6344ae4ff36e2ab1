"""Typed training configuration: one dataclass, a config file (JSON or TOML) and command-line overrides.

    cfg = TrainConfig(learner="c3", budget=8, iterations=20)
    cfg = TrainConfig.from_file("run.toml").with_overrides(["lr=3e-5", "estimator_kwargs={\"std_normalize\": false}"])

Every field has a docstring (shown by ``llm-marl train --help``). No environment variables, no ``exec``.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .losses import LossConfig


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; ``asdict(cfg)`` is logged with every run."""

    # -- what to train ------------------------------------------------------------------------
    learner: str = "c3"
    """A key of ``algorithms.LEARNERS``: ``grpo``, ``mappo``, ``ccpo``, ``c3`` (and variants)."""
    estimator_kwargs: dict[str, Any] = field(default_factory=dict)
    """Overrides of the learner's estimator switches (e.g. ``{"std_normalize": false}`` for C3)."""
    env_id: str = "llm-marl/MathDyad-v0"
    """A registered environment id."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments of the env (e.g. ``{"prompt_style": "compact"}``)."""
    tasks: str = "arith"
    """Training task source: a registered name, or a path to a JSONL file of tasks."""
    task_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the training task source (e.g. ``{"difficulty": 1}``)."""
    eval_tasks: str | None = None
    """Held-out task source (default: the last ``n_eval`` tasks of the training source, which
    training never samples). Training skips any task whose prompt is in the held-out set."""
    eval_task_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the held-out source."""
    n_eval: int = 32
    """Number of held-out tasks evaluated."""

    # -- budget and schedule ----------------------------------------------------------------------
    budget: int = 8
    """B: terminal-evaluator calls per training task, the same for every learner."""
    fanout: tuple[int, ...] | None = None
    """C3 rollout-tree fan-out per role (product = budget); default ``[2, B/2]`` for two roles."""
    tasks_per_iter: int = 8
    """Training tasks per iteration."""
    iterations: int = 20
    """Training iterations (one rollout + one update each)."""
    eval_every: int = 5
    """Evaluate every N iterations (0: only at the end); iteration 0 is evaluated before training."""
    eval_k: int = 4
    """Samples per held-out task for pass@k and mean@k (0: greedy only)."""

    # -- sampling ---------------------------------------------------------------------------------
    temperature: float = 1.0
    """Sampling temperature of training rollouts (the learner's log-probs use the same)."""
    top_p: float = 1.0
    """Nucleus sampling threshold of training rollouts."""
    top_k: int = 0
    """Top-k of training rollouts (0 = off)."""
    max_tokens: int = 64
    """Maximum generated tokens per message."""

    # -- optimisation -------------------------------------------------------------------------------
    lr: float = 1e-4
    """Actor learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0 = off)."""
    ppo_epochs: int = 1
    """Passes over each batch (each pass = one optimiser step per policy)."""
    micro_batch_size: int = 16
    """Messages per forward/backward pass (gradient accumulation over the batch)."""
    old_logprobs: str = "recompute"
    """``"recompute"`` (teacher-forced under the pre-update weights; ratio starts at 1) or
    ``"behaviour"`` (the generator's log-probs, which include top-k/top-p truncation)."""
    loss: str = "ppo_token"
    """Policy loss: ``"ppo_token"`` or ``"ppo_sequence"``."""
    clip_eps: float = 0.2
    """PPO clip epsilon."""
    dual_clip: float | None = None
    """Dual-clip constant for negative advantages (None = off)."""
    kl_coef: float = 0.0
    """k3 KL-to-reference loss weight, identical for every learner (0 = no reference model)."""
    critic_lr: float = 5e-5
    """Critic learning rate (MAPPO's V critic, C3's optional Q critic)."""
    critic_steps: int = 1
    """Critic optimiser steps per iteration."""

    # -- policies -------------------------------------------------------------------------------------
    policy_mode: str = "shared"
    """``"shared"`` (one model plays every role) or ``"per_role"`` (one LoRA adapter per role on the
    given HF policy, or separate policies passed as a dict)."""
    backend: str = "hf"
    """Backend used when the trainer builds the policy itself (``agents.make_policy``)."""
    model: str | None = None
    """Model path for the built policy (None: the backend's default, e.g. the embedded SmolLM2)."""

    # -- bookkeeping --------------------------------------------------------------------------------
    seed: int = 0
    """Seeds task sampling, rollouts (per-request seeds) and torch."""
    out_dir: str = "runs/train"
    """Where metrics.jsonl, config.json, TensorBoard events and checkpoints go."""
    save_every: int = 1
    """Checkpoint every N iterations (0: only at the end)."""
    resume: bool = True
    """Resume from ``out_dir/checkpoint`` when it exists."""
    tensorboard: bool = True
    """Also log scalars to TensorBoard."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError(f"budget must be >= 1, got {self.budget}")
        if self.policy_mode not in ("shared", "per_role"):
            raise ValueError(f"policy_mode must be 'shared' or 'per_role', got {self.policy_mode!r}")
        if self.old_logprobs not in ("recompute", "behaviour"):
            raise ValueError(f"old_logprobs must be 'recompute' or 'behaviour', got {self.old_logprobs!r}")
        if self.fanout is not None:
            object.__setattr__(self, "fanout", tuple(int(f) for f in self.fanout))

    # -------------------------------------------------------------------- derived settings
    def loss_config(self) -> LossConfig:
        """The :class:`~algorithms.losses.LossConfig` of this run."""
        return LossConfig(name=self.loss, clip_eps=self.clip_eps, dual_clip=self.dual_clip, kl_coef=self.kl_coef)

    def to_dict(self) -> dict[str, Any]:
        """Fields as a dict (shallow: objects inside ``env_kwargs``, e.g. a verifier, are not copied)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("estimator_kwargs", "env_kwargs", "task_kwargs", "eval_task_kwargs"):
            d[key] = dict(d[key])
        if d["fanout"] is not None:
            d["fanout"] = list(d["fanout"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys raise listing the valid ones."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise KeyError(f"unknown TrainConfig field(s) {unknown}; valid: {sorted(valid)}")
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Load a ``.json`` or ``.toml`` file of fields."""
        return cls.from_dict(read_fields(path))

    def with_overrides(self, overrides: list[str] | dict[str, Any]) -> TrainConfig:
        """Apply ``["key=value", ...]`` (values parsed per the field's type) or a dict of typed values."""
        if isinstance(overrides, dict):
            valid = {f.name for f in fields(self)}
            unknown = sorted(set(overrides) - valid)
            if unknown:
                raise KeyError(f"unknown TrainConfig field(s) {unknown}; valid: {sorted(valid)}")
            return replace(self, **overrides)
        changes: dict[str, Any] = {}
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not key=value")
            key, raw = item.split("=", 1)
            changes[key.strip().replace("-", "_")] = parse_field(key.strip().replace("-", "_"), raw)
        return self.with_overrides(changes)


def read_fields(path: str | Path) -> dict[str, Any]:
    """The fields set in a ``.json`` or ``.toml`` config file (only those present in the file)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        import tomllib  # Python >= 3.11

        return dict(tomllib.loads(text))
    return dict(json.loads(text))


def field_types() -> dict[str, Any]:
    """Resolved type hints of the TrainConfig fields."""
    return typing.get_type_hints(TrainConfig)


def parse_field(name: str, raw: str) -> Any:
    """Parse a command-line string for field ``name`` according to its type."""
    types = field_types()
    if name not in types:
        raise KeyError(f"unknown TrainConfig field {name!r}; valid: {sorted(types)}")
    tp = types[name]
    args = typing.get_args(tp)
    optional = type(None) in args
    if optional and raw.strip().lower() in ("none", "null", ""):
        return None
    base = next((a for a in args if a is not type(None)), tp) if optional else tp
    origin = typing.get_origin(base) or base
    if origin is bool:
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{name}: expected a boolean, got {raw!r}")
    if origin in (int, float, str):
        return origin(raw)
    if origin in (dict, tuple, list):
        value = json.loads(raw) if raw.strip()[:1] in "[{" else [int(x) for x in raw.split(",") if x.strip()]
        return tuple(value) if origin is tuple else value
    return raw
