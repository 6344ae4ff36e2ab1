"""Which trainable model plays which role: shared, separate per-role models, or per-role LoRA adapters.

A :class:`PolicySlot` is what the trainer needs for one role: the policy the rollout runner calls
(``generator``), the ``torch`` module to optimise (``model``), the pad id, and how to activate the
role's weights for a teacher-forced forward pass (``activate()``; a no-op unless the role is a peft
adapter on a shared base). Slots whose ``model`` is the same object share one optimiser.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class PolicySlot:
    """The generator and trainable module of one role."""

    role: str
    generator: Any
    model: Any
    pad_id: int
    adapter: str | None = None

    @contextlib.contextmanager
    def activate(self) -> Iterator[None]:
        """Make this role's weights the active ones (peft ``set_adapter``) for the duration."""
        if self.adapter is not None:
            self.model.set_adapter(self.adapter)
        yield


def build_policy(backend: str, model: str | None = None) -> Any:
    """The policy ``TrainConfig.backend`` / ``TrainConfig.model`` name, built through the backend
    registry ``agents.BACKENDS`` (``agents.make_policy``).

    Importing :mod:`algorithms.testbed` registers its ``testbed`` backend there, so every
    backend a learner can train (``hf``, ``tiny``, ``testbed``) resolves by name; ``model`` is the
    backend's model path (for ``testbed``: a checkpoint folder instead of the cached one).
    """
    import algorithms.testbed  # noqa: F401  (registers the "testbed" backend)
    from agents import make_policy

    try:
        policy = make_policy(backend, **({"model": model} if model else {}))
    except TypeError as e:
        raise ValueError(f"backend {backend!r} cannot be built from --backend/--model alone ({e}); learners train "
                         "a transformers backend: hf, tiny or testbed") from None
    if not hasattr(getattr(policy, "model", None), "parameters"):
        raise ValueError(f"backend {backend!r} has no trainable weights; learners train hf, tiny or testbed")
    return policy


def _trainable_model(policy: Any) -> Any:
    model = getattr(policy, "model", None)
    if model is None or not hasattr(model, "parameters"):
        raise TypeError(f"{type(policy).__name__} has no trainable torch .model; learners need e.g. agents.hf.HFPolicy")
    return model


def _pad_id(policy: Any) -> int:
    pad = getattr(policy, "pad_id", None)
    if pad is None:
        tok = getattr(policy, "tokenizer", None)
        pad = getattr(tok, "pad_token_id", None)
        if pad is None:
            pad = getattr(tok, "eos_token_id", 0)
    return int(pad)


def build_slots(policy: Any, roles: list[str], mode: str) -> dict[str, PolicySlot]:
    """One slot per role.

    Args:
        policy: one policy (``mode="shared"``: it plays every role; ``mode="per_role"``: a peft
            LoRA adapter named after each role is added to it when missing, and the runner calls
            ``policy.for_role(role)``), or a mapping ``{role: policy}`` of separate policies.
        roles: the env's roles.
        mode: ``"shared"`` or ``"per_role"``.
    """
    if isinstance(policy, Mapping):
        missing = [r for r in roles if r not in policy]
        if missing:
            raise KeyError(f"no policy for role(s) {missing}; got {sorted(policy)}")
        return {r: PolicySlot(r, policy[r], _trainable_model(policy[r]), _pad_id(policy[r])) for r in roles}
    if mode == "shared":
        model = _trainable_model(policy)
        return {r: PolicySlot(r, policy, model, _pad_id(policy)) for r in roles}
    if mode != "per_role":
        raise ValueError(f"policy mode must be 'shared' or 'per_role', got {mode!r}")
    if not hasattr(policy, "for_role") or not hasattr(policy, "add_adapter"):
        raise TypeError("per_role mode on one policy needs per-role adapters (agents.hf.HFPolicy)")
    for r in roles:
        if r not in getattr(policy, "adapter_roles", []):
            policy.add_adapter(r)
    model = _trainable_model(policy)
    return {r: PolicySlot(r, policy.for_role(r), model, _pad_id(policy), adapter=r) for r in roles}


def generators(slots: Mapping[str, PolicySlot]) -> Any:
    """What the rollout runner takes: one policy if every role shares it, else ``{role: policy}``."""
    gens = {r: s.generator for r, s in slots.items()}
    first = next(iter(gens.values()))
    return first if all(g is first for g in gens.values()) else gens


def unique_models(slots: Mapping[str, PolicySlot]) -> list[Any]:
    """The distinct trainable modules, in role order."""
    seen: dict[int, Any] = {}
    for s in slots.values():
        seen.setdefault(id(s.model), s.model)
    return list(seen.values())
