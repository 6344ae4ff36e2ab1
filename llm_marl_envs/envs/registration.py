"""Env ids: our registry (``ENVS``) and PettingZoo's (``pettingzoo.make("aec"|"parallel", id)``).

An env id is a preset of ``CollabEnv``: topology x default task source x default options. Adding
one is one ``register_env(...)`` call::

    register_env("my-lab/MathStar-v0", topology="star", tasks="gsm8k", description="...")

``make(id, **kwargs)`` builds the AEC env (wrapped in PettingZoo's ``OrderEnforcingWrapper``);
``make_parallel(id, **kwargs)`` the parallel one; ``kwargs`` override the preset (``tasks=``,
``prompt_style=``, ``render_mode=``, ``max_cycles=``, ``n_agents=``, ...). Versions: bump ``-vN``
when rewards, observations or default prompts change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from ..registry import Registry
from ..topologies import hint as _hint  # noqa: F401  (registers the hint_dyad topology, verifier, prompt style)
from .collab_env import CollabEnv, CollabParallelEnv

NAMESPACE = "llm-marl"


@dataclass(frozen=True)
class EnvSpec:
    """A registered env preset.

    Attributes:
        id: ``"<namespace>/<Name>-v<N>"``.
        topology: the topology name (``TOPOLOGIES``) or a factory returning a ``Topology``.
        tasks: the default task source (``"arith"``, ``"codegen"``, a path, a list of tasks).
        description: one line for ``llm-marl envs``.
        kwargs: default ``CollabEnv`` keyword arguments (topology options included).
        module: a module exposing PettingZoo-style ``env()`` / ``parallel_env()`` for this id.
    """

    id: str
    topology: Any
    tasks: Any
    description: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    module: str | None = None

    @property
    def name(self) -> str:
        return self.id.split("/")[-1]


#: Every registered env id (ours; PettingZoo's registries get the same ids).
ENVS: Registry[EnvSpec] = Registry("env")


def register_env(
    env_id: str,
    *,
    topology: Any,
    tasks: Any,
    description: str,
    module: str | None = None,
    **kwargs: Any,
) -> EnvSpec:
    """Register ``env_id`` in our registry and in PettingZoo's ``aec`` and ``parallel`` registries."""
    spec = EnvSpec(env_id, topology, tasks, description, dict(kwargs), module)
    if env_id in ENVS and ENVS.get(env_id) == spec:
        return ENVS.get(env_id)
    ENVS.register(env_id, spec)
    _register_pettingzoo(spec)
    return spec


def _register_pettingzoo(spec: EnvSpec) -> None:
    import pettingzoo

    if spec.module:
        aec: Any = f"{spec.module}:env"
        par: Any = f"{spec.module}:parallel_env"
    else:
        aec, par = family_factories(spec.id)[:2]
    if spec.id not in pettingzoo.aec_registry:
        pettingzoo.register("aec", spec.id, entry_point=aec)
    if spec.id not in pettingzoo.parallel_registry:
        pettingzoo.register("parallel", spec.id, entry_point=par)


def env_spec(env_id: str) -> EnvSpec:
    """The registered spec of ``env_id``; a bare name (``"MathDyad-v0"``) means ``llm-marl/<name>``."""
    if env_id not in ENVS and "/" not in env_id and f"{NAMESPACE}/{env_id}" in ENVS:
        env_id = f"{NAMESPACE}/{env_id}"
    return ENVS.get(env_id)


def _env_kwargs(spec: EnvSpec, kwargs: dict[str, Any]) -> dict[str, Any]:
    merged = {"topology": spec.topology, "tasks": spec.tasks, "name": spec.name, **spec.kwargs, **kwargs}
    if merged.get("max_cycles", 0) is None:
        merged.pop("max_cycles")  # pettingzoo.make forwards max_cycles=None
    return merged


def make_raw(env_id: str, **kwargs: Any) -> CollabEnv:
    """The unwrapped AEC env of ``env_id``."""
    spec = env_spec(env_id)
    return CollabEnv(**_env_kwargs(spec, kwargs))


def make(env_id: str, **kwargs: Any) -> OrderEnforcingWrapper:
    """The AEC env of ``env_id`` (``OrderEnforcingWrapper``-ed, as PettingZoo's ``env()`` factories)."""
    return OrderEnforcingWrapper(make_raw(env_id, **kwargs))


def make_parallel(env_id: str, **kwargs: Any) -> CollabParallelEnv:
    """The parallel env of ``env_id``."""
    spec = env_spec(env_id)
    kw = _env_kwargs(spec, kwargs)
    kw.pop("lockstep", None)
    return CollabParallelEnv(**kw)


def registered_envs() -> list[str]:
    """Every registered env id, sorted."""
    return ENVS.names()


def describe_envs() -> list[tuple[str, str]]:
    """``(id, one-line description)`` for every registered env."""
    return [(name, spec.description) for name, spec in ENVS.items()]


def family_factories(env_id: str) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """PettingZoo-style module factories ``(env, parallel_env, raw_env)`` for ``env_id``."""

    def env(**kwargs: Any) -> OrderEnforcingWrapper:
        return make(env_id, **kwargs)

    def parallel_env(**kwargs: Any) -> CollabParallelEnv:
        return make_parallel(env_id, **kwargs)

    def raw_env(**kwargs: Any) -> CollabEnv:
        return make_raw(env_id, **kwargs)

    for f in (env, parallel_env, raw_env):
        f.__doc__ = f"{f.__name__}(**kwargs) for {env_id} (kwargs override the preset; see CollabEnv)."
    return env, parallel_env, raw_env



_MATH, _CODE = "arith", "codegen"
_BUILTIN = [
    ("MathDyad", "dyad", _MATH, {}, "math: thinker -> reasoner, the reasoner's \\boxed{} answer is scored"),
    ("MathVote", "voting", _MATH, {"n_agents": 3}, "math: 3 solvers answer at once, majority vote"),
    ("MathPipeline", "pipeline", _MATH, {}, "math: planner -> solver -> checker (the checker may revise)"),
    ("MathDebate", "debate", _MATH, {"n_agents": 3, "rounds": 2}, "math: 3 debaters, 2 rounds, vote over the last"),
    ("CodeDyad", "dyad", _CODE, {}, "code: thinker plans, reasoner writes the program; tests score it"),
    ("CodeVote", "voting", _CODE, {"n_agents": 3}, "code: 3 programmers answer at once, vote over programs"),
    ("CodePipeline", "pipeline", _CODE, {}, "code: planner -> solver -> checker; the last program is tested"),
    ("HintDyad", "hint_dyad", "hint", {"verifier": "hint", "prompt_style": "hint"},
     "credit lab: the thinker sends a one-digit hint u, the reasoner answers y = (3u + c) mod 10"),
]


def _module_name(name: str) -> str:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return f"llm_marl_envs.envs.{snake}_v0"


for _name, _topology, _tasks, _kw, _description in _BUILTIN:
    register_env(
        f"{NAMESPACE}/{_name}-v0",
        topology=_topology,
        tasks=_tasks,
        description=_description,
        module=_module_name(_name),
        **_kw,
    )

__all__ = [
    "ENVS",
    "NAMESPACE",
    "EnvSpec",
    "describe_envs",
    "env_spec",
    "family_factories",
    "make",
    "make_parallel",
    "make_raw",
    "register_env",
    "registered_envs",
]
