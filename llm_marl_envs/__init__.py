"""llm-marl-envs: PettingZoo environments in which teams of LLM agents solve math and code tasks.

Public names (contract, DESIGN.md): the core types ``Task``, ``Message``, ``Verdict``; the env
factory ``make`` / ``make_parallel`` / ``registered_envs``. Heavy submodules load lazily; this
package never imports torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .policy import Generation, Policy, SamplingParams
from .registry import Registry
from .types import Message, Task, Verdict

__version__ = "0.1.0"

# Importing the registration registers every env id in PettingZoo's registry too, so that
# ``import llm_marl_envs; pettingzoo.make("aec", "llm-marl/MathDyad-v0")`` works.
from .envs.registration import make, make_parallel, registered_envs  # noqa: E402

_LAZY = {
    "CollabEnv": "llm_marl_envs.envs.collab_env",
    "CollabParallelEnv": "llm_marl_envs.envs.collab_env",
    "load_tasks": "llm_marl_envs.tasks",
    "verify_math": "llm_marl_envs.verifiers",
    "verify_code": "llm_marl_envs.verifiers",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_marl_envs' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "Generation", "Message", "Policy", "Registry", "SamplingParams", "Task", "Verdict", "__version__",
    "make", "make_parallel", "registered_envs", *_LAZY,
]
