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

_LAZY = {
    "make": "llm_marl_envs.envs.registration",
    "make_parallel": "llm_marl_envs.envs.registration",
    "registered_envs": "llm_marl_envs.envs.registration",
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


__all__ = ["Generation", "Message", "Policy", "Registry", "SamplingParams", "Task", "Verdict", "__version__", *_LAZY]
