"""Which trainable model plays which role, and what a trainable policy must provide.

:class:`TrainablePolicy` is the declared protocol of what the trainer trains (``agents.hf.HFPolicy``
provides it): ``model`` (the torch module optimised in place), ``tokenizer``, ``pad_id``, ``version``
(optimiser steps behind its weights, stamped by the trainer) and ``generate``. :class:`PerRolePolicy`
adds per-role LoRA adapters (``for_role``, ``add_adapter``, ``adapter_roles``).
:class:`WeightSyncGenerator` is a generator kept apart from the trained model (``agents.vllm.VLLMPolicy``)
that takes the trained weights after every update (``update_weights``). :func:`require` checks a policy
against one of them and names the first missing member in one line.

A :class:`PolicySlot` is what the trainer needs for one role: the policy the rollout runner calls
(``generator``), the ``torch`` module to optimise (``model``), the pad id, and how to activate the
role's weights for a teacher-forced forward pass (``activate()``; a no-op unless the role is a peft
adapter on a shared base). Slots whose ``model`` is the same object share one optimiser.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, runtime_checkable

from llm_marl_envs.policy import Conversation, Generation, SamplingParams


@runtime_checkable
class TrainablePolicy(Protocol):
    """What a learner trains (``agents.hf.HFPolicy``; the ``tiny`` and ``testbed`` backends build one)."""

    model: Any
    """The torch module the optimiser updates in place (has ``parameters()``)."""
    tokenizer: Any
    """Its tokenizer (chat template, pad/eos ids)."""
    pad_id: int
    """Padding id of teacher-forced batches."""
    version: int
    """Optimiser steps behind the current weights; the trainer sets it (0 before training) and the
    rollout runner copies it into each ``Episode.policy_version``."""

    def generate(self, prompts: Sequence[Conversation], params: SamplingParams | None = None) -> list[Generation]:
        """``len(prompts) * params.n`` generations, prompt-major."""
        ...


@runtime_checkable
class PerRolePolicy(TrainablePolicy, Protocol):
    """A trainable policy with one peft LoRA adapter per role on a shared base (``policy_mode="per_role"``)."""

    adapter_roles: list[str]
    """Roles that have an adapter."""

    def add_adapter(self, role: str, spec: Any = None) -> None:
        """Create (or load) ``role``'s adapter."""
        ...

    def for_role(self, role: str) -> Any:
        """A policy view that generates with ``role``'s adapter."""
        ...


@runtime_checkable
class WeightSyncGenerator(Protocol):
    """A generator apart from the trained model that takes its weights after every update
    (``agents.vllm.VLLMPolicy``)."""

    version: int
    """Optimiser steps behind the weights it generates with (set by the trainer at each sync)."""

    def generate(self, prompts: Sequence[Conversation], params: SamplingParams | None = None) -> list[Generation]:
        """``len(prompts) * params.n`` generations, prompt-major."""
        ...

    def update_weights(self, state_dict: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> int:
        """Load transformers-named weights; returns the number of tensors loaded."""
        ...


_PROTOCOL_USE = {
    TrainablePolicy: "a trainable policy (e.g. agents.hf.HFPolicy)",
    PerRolePolicy: "a per-role policy (per_role mode on one policy needs agents.hf.HFPolicy with peft adapters)",
    WeightSyncGenerator: "a weight-synced generator (e.g. agents.vllm.VLLMPolicy)",
}


def missing_members(obj: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``obj`` lacks (``version`` counts as present: the trainer sets it)."""
    names = [n for n in _members(protocol) if n != "version"]
    return [n for n in names if not hasattr(obj, n)]


def require(obj: Any, protocol: type, *, what: str = "policy") -> Any:
    """``obj`` when it provides ``protocol`` (see the module docstring), else one ``TypeError`` line naming
    the first missing member. A missing ``version`` is set to 0 (the trainer owns the counter)."""
    missing = missing_members(obj, protocol)
    if not missing and protocol is not WeightSyncGenerator and not hasattr(obj.model, "parameters"):
        missing = ["model.parameters"]
    if missing:
        raise TypeError(f"{what} {type(obj).__name__} has no {missing[0]!r}: {_PROTOCOL_USE[protocol]} provides "
                        f"{', '.join(_members(protocol))}")
    if not hasattr(obj, "version"):
        obj.version = 0
    return obj


def _members(protocol: type) -> list[str]:
    names: list[str] = []
    for klass in reversed(protocol.__mro__):
        if klass in (object, Protocol, Generic) or not getattr(klass, "_is_protocol", False):
            continue
        for n in (*getattr(klass, "__annotations__", {}), *vars(klass)):
            if not n.startswith("_") and n not in names:
                names.append(n)
    return names


@dataclass
class PolicySlot:
    """The generator and trainable module of one role (``generator``: what the rollout runner calls,
    unless the trainer has a separate weight-synced generator)."""

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
    if missing_members(policy, TrainablePolicy) or not hasattr(policy.model, "parameters"):
        raise ValueError(f"backend {backend!r} has no trainable weights; learners train hf, tiny or testbed")
    return policy


def build_slots(policy: Any, roles: list[str], mode: str) -> dict[str, PolicySlot]:
    """One slot per role.

    Args:
        policy: one :class:`TrainablePolicy` (``mode="shared"``: it plays every role;
            ``mode="per_role"``: a :class:`PerRolePolicy`, to which a peft LoRA adapter named after
            each role is added when missing, and the runner calls ``policy.for_role(role)``), or a
            mapping ``{role: policy}`` of separate trainable policies.
        roles: the env's roles.
        mode: ``"shared"`` or ``"per_role"``.

    Raises ``TypeError`` naming the first member a policy lacks (see :func:`require`).
    """
    if isinstance(policy, Mapping):
        missing = [r for r in roles if r not in policy]
        if missing:
            raise KeyError(f"no policy for role(s) {missing}; got {sorted(policy)}")
        slots = {}
        for r in roles:
            p = require(policy[r], TrainablePolicy, what=f"the policy of role {r!r},")
            slots[r] = PolicySlot(r, p, p.model, int(p.pad_id))
        return slots
    if mode == "shared":
        require(policy, TrainablePolicy)
        return {r: PolicySlot(r, policy, policy.model, int(policy.pad_id)) for r in roles}
    if mode != "per_role":
        raise ValueError(f"policy mode must be 'shared' or 'per_role', got {mode!r}")
    require(policy, PerRolePolicy)
    for r in roles:
        if r not in policy.adapter_roles:
            policy.add_adapter(r)
    slots = {}
    for r in roles:
        view = policy.for_role(r)
        if not hasattr(view, "version"):
            view.version = policy.version
        slots[r] = PolicySlot(r, view, policy.model, int(policy.pad_id), adapter=r)
    return slots


def require_generator(generator: Any) -> Any:
    """``generator`` when it can be kept in sync with a trained model: a :class:`WeightSyncGenerator`
    (``update_weights``) or a :class:`TrainablePolicy` (its ``model`` takes the state dict); else one
    ``TypeError`` line naming ``update_weights``."""
    if not missing_members(generator, WeightSyncGenerator):
        return require(generator, WeightSyncGenerator, what="generator")
    if not missing_members(generator, TrainablePolicy):
        return require(generator, TrainablePolicy, what="generator")
    return require(generator, WeightSyncGenerator, what="generator")  # raises, naming the missing member


def sync_weights(generator: Any, model: Any) -> int:
    """Load ``model``'s weights (``state_dict()``, transformers names) into a separate ``generator``;
    returns the number of tensors. A :class:`WeightSyncGenerator` gets ``update_weights`` (vLLM: into
    the running engine); a :class:`TrainablePolicy` copy gets ``model.load_state_dict`` (strict)."""
    state = model.state_dict()
    if not missing_members(generator, WeightSyncGenerator):
        return int(generator.update_weights(state))
    require(generator, TrainablePolicy, what="generator")
    generator.model.load_state_dict(state, strict=True)
    return len(state)


def build_generator(backend: str, policy: Any, folder: str | Path, **kwargs: Any) -> Any:
    """A separate generator for ``policy``: ``policy``'s model and tokenizer saved to ``folder``
    (``save_pretrained``), then the backend ``backend`` (``agents.BACKENDS``: ``vllm``, ``hf``) built
    from that folder with ``kwargs``; checked with :func:`require_generator`."""
    from agents import make_policy

    require(policy, TrainablePolicy)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    policy.model.save_pretrained(str(folder))
    policy.tokenizer.save_pretrained(str(folder))
    generator = make_policy(backend, model=str(folder), **kwargs)
    if missing_members(generator, WeightSyncGenerator) and missing_members(generator, TrainablePolicy):
        raise ValueError(f"generator {backend!r} cannot take the trained weights (no update_weights and no "
                         "trainable .model); use 'policy', 'vllm' or 'hf'")
    generator = require_generator(generator)
    generator.version = int(policy.version)
    return generator


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
