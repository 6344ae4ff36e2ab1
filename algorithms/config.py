"""Typed training configuration: one dataclass, a config file (JSON or TOML) and command-line overrides.

    cfg = TrainConfig(learner="c3", budget=8, iterations=20)
    cfg = TrainConfig.from_file("run.toml").with_overrides(["lr=3e-5", "estimator_kwargs={\"std_normalize\": false}"])

Every field has a docstring (shown by ``llm-marl train --help``). No environment variables, no ``exec``.

Which fields the user set is tracked (:meth:`TrainConfig.explicit_fields`: constructor keywords, file
keys, overrides), so the trainer applies a learner's defaults first and the user's settings on top: an
explicit value wins even when it equals the dataclass default. Values are type-checked on
construction; every error names the field (and the file, for config files) in one line.

This is a small hand-written layer over the dataclass rather than a CLI library (e.g. ``tyro``): the
dataclass is the one definition, ``--help`` is generated from its field docstrings with defaults, and
the same parser serves ``--config`` files, ``--set key=value`` and per-field options.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import types
import typing
from collections.abc import Mapping
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
    n_train_eval: int = 0
    """Also evaluate the first N distinct tasks training samples, as the held-out ones (``train_eval/*``
    keys: what RL fits, beside ``eval/*``, what it generalises to; 0: off)."""

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
    generator: str = "policy"
    """Who generates the rollouts: ``"policy"`` (the trained model itself), or a backend started from
    the trained weights and given them after every policy update: ``"vllm"`` (``agents.vllm.VLLMPolicy``;
    needs vLLM, see the README) or ``"hf"`` (a separate transformers copy). Shared policy only; the
    loss's log-probs are recomputed by the trained model either way."""
    generator_kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the generator backend (e.g. ``{"enforce_eager": true, "max_model_len": 2048}``
    for vLLM)."""

    # -- rollout execution ----------------------------------------------------------------------------
    executor: str = "local"
    """Where the env workers run: ``"local"`` (this process) or ``"ray"`` (Ray actors; needs the ``ray``
    extra). The same seeds give the same episodes with either."""
    workers: int = 1
    """Env worker actors with ``executor="ray"``."""
    ray_address: str | None = None
    """Ray cluster address with ``executor="ray"`` (None: start a local Ray with this machine's CPUs)."""

    # -- bookkeeping --------------------------------------------------------------------------------
    seed: int = 0
    """Seeds task sampling, rollouts (per-request seeds) and torch."""
    out_dir: str = "runs/train"
    """Where metrics.jsonl, config.json, TensorBoard events and checkpoints go."""
    save_every: int = 10
    """Checkpoint every N iterations and at the end (0: only at the end). One checkpoint is kept
    (``out_dir/checkpoint/state.pt``, replaced atomically): everything exact resume needs."""
    resume: bool = True
    """Resume from ``out_dir/checkpoint`` when it exists; a run whose config differs is never
    resumed (the trainer refuses, naming the differing fields)."""
    tensorboard: bool = True
    """Also log scalars to TensorBoard."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        check_types(self)
        if self.budget < 1:
            raise ValueError(f"budget must be >= 1, got {self.budget}")
        if self.policy_mode not in ("shared", "per_role"):
            raise ValueError(f"policy_mode must be 'shared' or 'per_role', got {self.policy_mode!r}")
        if self.old_logprobs not in ("recompute", "behaviour"):
            raise ValueError(f"old_logprobs must be 'recompute' or 'behaviour', got {self.old_logprobs!r}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.generator != "policy" and self.policy_mode != "shared":
            raise ValueError(f"generator {self.generator!r} needs policy_mode 'shared' (one model is synced into it), "
                             f"got {self.policy_mode!r}")
        if self.fanout is not None:
            object.__setattr__(self, "fanout", tuple(int(f) for f in self.fanout))

    def explicit_fields(self) -> frozenset[str]:
        """The fields the user set (constructor keywords, config-file keys, overrides), whatever
        their value; the others hold dataclass defaults that a learner's defaults may replace."""
        return getattr(self, "_explicit", frozenset())

    # -------------------------------------------------------------------- derived settings
    def loss_config(self) -> LossConfig:
        """The :class:`~algorithms.losses.LossConfig` of this run."""
        return LossConfig(name=self.loss, clip_eps=self.clip_eps, dual_clip=self.dual_clip, kl_coef=self.kl_coef)

    def to_dict(self) -> dict[str, Any]:
        """Fields as a dict (shallow: objects inside ``env_kwargs``, e.g. a verifier, are not copied)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("estimator_kwargs", "env_kwargs", "task_kwargs", "eval_task_kwargs", "generator_kwargs"):
            d[key] = dict(d[key])
        if d["fanout"] is not None:
            d["fanout"] = list(d["fanout"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict; unknown keys raise listing the valid ones."""
        _check_names(d)
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Load a ``.json`` or ``.toml`` file of fields (errors name the file)."""
        return TrainConfig().with_overrides(read_fields(path), source=str(path))

    def with_overrides(self, overrides: list[str] | Mapping[str, Any], *, source: str | None = None) -> TrainConfig:
        """Apply ``["key=value", ...]`` (values parsed per the field's type) or a dict of typed values.

        The overridden fields join :meth:`explicit_fields`. ``source`` (e.g. a file name) prefixes
        error messages."""
        if isinstance(overrides, Mapping):
            try:
                _check_names(overrides)
                new = replace(self, **overrides)
            except (KeyError, ValueError, TypeError) as e:
                if source is None:
                    raise
                message = e.args[0] if e.args else str(e)
                raise type(e)(f"{source}: {message}") from None
            object.__setattr__(new, "_explicit", self.explicit_fields() | frozenset(overrides))
            return new
        changes: dict[str, Any] = {}
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"--set {item!r} is not KEY=VALUE")
            key, raw = item.split("=", 1)
            name = key.strip().replace("-", "_")
            changes[name] = parse_field(name, raw, flag=f"--set {key.strip()}")
        return self.with_overrides(changes)


_dataclass_init = TrainConfig.__init__


def _tracking_init(self: TrainConfig, *args: Any, **kwargs: Any) -> None:
    _dataclass_init(self, *args, **kwargs)
    names = [f.name for f in fields(TrainConfig) if f.init]
    object.__setattr__(self, "_explicit", frozenset(names[: len(args)]) | frozenset(kwargs))


_tracking_init.__doc__ = _dataclass_init.__doc__
_tracking_init.__signature__ = inspect.signature(_dataclass_init)  # type: ignore[attr-defined]
TrainConfig.__init__ = _tracking_init  # type: ignore[method-assign]

SUPPORTED_FORMATS = (".json", ".toml")
_UNIONS = (typing.Union, types.UnionType)


def _check_names(d: Mapping[str, Any]) -> None:
    valid = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise KeyError(f"unknown TrainConfig field(s) {unknown}; valid: {sorted(valid)}")


def _type_name(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in _UNIONS and args:
        inner = " or ".join(_type_name(a) for a in args)
        return f"{inner} or None" if type(None) in typing.get_args(tp) else inner
    origin = typing.get_origin(tp) or tp
    return {int: "an integer", float: "a number", str: "a string", bool: "a boolean (true/false)",
            dict: "a JSON object", tuple: "a list of integers", list: "a list"}.get(origin, getattr(origin, "__name__", str(tp)))


def _matches(value: Any, tp: Any) -> bool:
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in _UNIONS:
        return any(_matches(value, a) for a in args)
    if tp is type(None):
        return value is None
    origin = origin or tp
    if origin is bool:
        return isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is tuple:
        return isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if origin is dict:
        return isinstance(value, Mapping)
    if origin is str:
        return isinstance(value, (str, os.PathLike))
    return True


def check_types(cfg: TrainConfig) -> None:
    """Raise ``ValueError`` naming the first field whose value does not have the field's type
    (ints are accepted for float fields and converted)."""
    hints = field_types()
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        tp = hints[f.name]
        if not _matches(value, tp):
            raise ValueError(f"{f.name}: expected {_type_name(tp)}, got {value!r}")
        allowed = typing.get_args(tp) or (tp,)
        if isinstance(value, int) and not isinstance(value, bool) and float in allowed and int not in allowed:
            object.__setattr__(cfg, f.name, float(value))
        elif isinstance(value, os.PathLike):
            object.__setattr__(cfg, f.name, os.fspath(value))


def read_fields(path: str | Path) -> dict[str, Any]:
    """The fields set in a ``.json`` or ``.toml`` config file (only those present in the file).

    Errors are one line naming the file: unsupported suffix (listing :data:`SUPPORTED_FORMATS`),
    missing file, parse error with its line and column, or a top level that is not a table."""
    path = Path(path)
    supported = ", ".join(SUPPORTED_FORMATS)
    if path.suffix.lower() not in SUPPORTED_FORMATS:
        raise ValueError(f"config file {path}: unsupported format {path.suffix or '(no suffix)'!r}; supported: {supported}")
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist (supported formats: {supported})")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".toml":
        import tomllib  # Python >= 3.11

        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"config file {path}: invalid TOML: {e}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"config file {path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path}: expected a table of TrainConfig fields, got {type(data).__name__}")
    return dict(data)


@functools.cache
def field_types() -> dict[str, Any]:
    """Resolved type hints of the TrainConfig fields."""
    return typing.get_type_hints(TrainConfig)


def parse_field(name: str, raw: str, *, flag: str | None = None) -> Any:
    """Parse a command-line string for field ``name`` according to its type.

    Errors are one ``ValueError`` line naming ``flag`` (default ``--<name>``), the expected type
    and the value given."""
    types = field_types()
    if name not in types:
        raise KeyError(f"unknown TrainConfig field {name!r}; valid: {sorted(types)}")
    flag = flag or "--" + name.replace("_", "-")
    tp = types[name]
    args = typing.get_args(tp)
    optional = type(None) in args
    if optional and raw.strip().lower() in ("none", "null", ""):
        return None
    base = next((a for a in args if a is not type(None)), tp) if optional else tp
    origin = typing.get_origin(base) or base

    def bad(detail: str = "") -> ValueError:
        return ValueError(f"{flag}: expected {_type_name(tp)}, got {raw!r}{detail}")

    if origin is bool:
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise bad()
    if origin in (int, float):
        try:
            return origin(raw.strip())
        except ValueError:
            raise bad() from None
    if origin is str:
        return raw
    if origin in (dict, tuple, list):
        try:
            value = json.loads(raw) if raw.strip()[:1] in "[{" else [int(x) for x in raw.split(",") if x.strip()]
        except json.JSONDecodeError as e:
            raise bad(f" (invalid JSON at column {e.colno}: {e.msg})") from None
        except ValueError:
            raise bad() from None
        if (origin is dict) != isinstance(value, dict):
            raise bad()
        return tuple(value) if origin is tuple else value
    return raw
