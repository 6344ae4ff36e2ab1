"""The estimator contract: one signature for every credit-assignment rule, one registry.

An estimator is a pure function ``estimate(batch, config, state) -> Credits``:

- ``batch`` is a :class:`~algorithms.batch.RolloutBatch` (one row per decision);
- ``config`` is the estimator's own frozen dataclass (documented switches for its variants);
- ``state`` is a plain dict carried between iterations (e.g. CCPO's EMA statistics, a step
  counter); the estimator never mutates it and returns the new one in ``Credits.state``.

The trainer calls ``ESTIMATORS.get(name)`` and never branches on the name (style principle 4).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from llm_marl_envs.registry import Registry

from ..batch import RolloutBatch


@dataclass
class Credits:
    """What an estimator returns.

    Attributes:
        advantages: one scalar per decision ``[N]``; the loss broadcasts it to the message's tokens.
        trainable: which decisions the policy loss uses ``[N]`` (e.g. CCPO's solo episodes and its
            inactive agent are excluded).
        raw: the credit before any group normalisation ``[N]`` (logged next to ``advantages``).
        returns: regression targets for a critic ``[N]`` when the estimator defines them, else ``None``.
        state: the estimator state to carry into the next iteration.
        stats: scalar diagnostics to log (names are ``estimator/<key>`` in the metrics).
    """

    advantages: np.ndarray
    trainable: np.ndarray
    raw: np.ndarray
    returns: np.ndarray | None = None
    state: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, float] = field(default_factory=dict)


EstimateFn = Callable[[RolloutBatch, Any, Mapping[str, Any]], Credits]


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator: its function, its config class, and the critic it reads.

    ``critic`` is ``None`` (no critic), ``"state_value"`` (V of the decision's context, MAPPO) or
    ``"action_value"`` (Q of context + message, C3 value-assisted); a config may switch it off
    through a ``critic_kind()`` method (see :func:`critic_kind`).
    """

    name: str
    fn: EstimateFn
    config_cls: type
    critic: str | None = None

    def make_config(self, overrides: Mapping[str, Any] | None = None) -> Any:
        """The config dataclass with ``overrides`` applied; unknown keys raise listing valid ones."""
        overrides = dict(overrides or {})
        valid = {f.name for f in fields(self.config_cls)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise KeyError(f"unknown {self.name} estimator option(s) {unknown}; valid: {sorted(valid)}")
        return self.config_cls(**overrides)

    def __call__(self, batch: RolloutBatch, config: Any = None, state: Mapping[str, Any] | None = None) -> Credits:
        return self.fn(batch, config if config is not None else self.config_cls(), dict(state or {}))


ESTIMATORS: Registry[EstimatorSpec] = Registry("estimator")


def register_estimator(name: str, config_cls: type, critic: str | None = None) -> Callable[[EstimateFn], EstimateFn]:
    """Decorator: register ``fn`` as estimator ``name`` with its config class."""

    def decorator(fn: EstimateFn) -> EstimateFn:
        ESTIMATORS.register(name, EstimatorSpec(name=name, fn=fn, config_cls=config_cls, critic=critic))
        return fn

    return decorator


def critic_kind(spec: EstimatorSpec, config: Any) -> str | None:
    """The critic this estimator needs under ``config`` (``None`` when it needs none)."""
    method = getattr(config, "critic_kind", None)
    return method() if callable(method) else spec.critic
