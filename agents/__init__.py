"""Text-generation backends behind one protocol (DESIGN.md section 5).

Every backend has ``generate(prompts, params) -> list[Generation]`` (see ``llm_marl_envs.policy``).
Pick one by name with :func:`make_policy`; the registry :data:`BACKENDS` maps names to factories:

| name | class | module |
|---|---|---|
| ``oracle``, ``fixed``, ``replay``, ``random``, ``function`` | scripted agents | ``agents.scripted`` |
| ``hf`` | ``HFPolicy`` (transformers; default model: embedded SmolLM2-135M-Instruct) | ``agents.hf`` |
| ``tiny`` | ``HFPolicy`` over a fresh tiny random transformer (tests, demos) | ``agents.tiny`` |
| ``vllm`` | ``VLLMPolicy`` (offline engine) | ``agents.vllm`` |
| ``openai`` | ``OpenAICompatPolicy`` (any OpenAI-compatible server) | ``agents.openai_compat`` |
| ``router`` | ``RouterPolicy`` (several OpenAI-compatible servers: prefix affinity, least-loaded, failover) | ``agents.router`` |
| ``replicas`` | ``RayReplicaPolicy`` (one batch split over Ray actors, each a replica of ``replica_backend``; one per GPU) | ``agents.ray_replicas`` |
| ``testbed`` | ``HFPolicy`` over the CPU credit-benchmark testbed (an entry point, imported when asked for) | ``algorithms.testbed`` |

Backends of other packages arrive as entry points of the group ``llm_marl.backends`` (this
project's ``testbed`` is one: ``agents`` never imports ``algorithms``); they are listed with the rest
and imported only when first asked for.

Heavy libraries (torch, transformers, vllm, httpx) load only inside the backend that needs them.

Note: ``agents`` is also the import name of another PyPI distribution (the OpenAI Agents SDK);
this package is the one from ``llm-marl-envs`` (a test checks that it resolves to this checkout).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llm_marl_envs.policy import ChatMessage, Conversation, Generation, Policy, SamplingParams
from llm_marl_envs.registry import Registry

from .chat import to_conversation
from .scripted import FixedAgent, FunctionAgent, OracleAgent, RandomAgent, ReplayAgent

BACKENDS: Registry[Callable[..., Any]] = Registry("agent backend", entry_points="llm_marl.backends")


def make_policy(backend: str, **kwargs: Any) -> Any:
    """Build a policy by backend name (see the table above); ``kwargs`` go to its constructor."""
    return BACKENDS.get(backend)(**kwargs)


def _hf(model: Any = None, **kwargs: Any) -> Any:
    """``HFPolicy``; without ``model``, the embedded SmolLM2-135M-Instruct (converted once, cached)."""
    from .hf import HFPolicy

    if model is None:
        from .embedded import smollm2_dir

        model = smollm2_dir()
    return HFPolicy(model, **kwargs)


def _tiny(kind: str = "char", seed: int = 0, **kwargs: Any) -> Any:
    """``HFPolicy`` over a fresh tiny random Llama (no download; gibberish output)."""
    from .hf import HFPolicy
    from .tiny import build_tiny_model, build_tiny_tokenizer

    model_keys = ("hidden_size", "num_layers", "num_heads", "max_positions")
    model_kwargs = {k: kwargs.pop(k) for k in model_keys if k in kwargs}
    tokenizer = build_tiny_tokenizer(kind=kind)
    return HFPolicy(build_tiny_model(tokenizer, seed=seed, **model_kwargs), tokenizer, **kwargs)


def _vllm(**kwargs: Any) -> Any:
    from .vllm import VLLMPolicy

    return VLLMPolicy(**kwargs)


def _openai(**kwargs: Any) -> Any:
    from .openai_compat import OpenAICompatPolicy

    return OpenAICompatPolicy(**kwargs)


def _router(**kwargs: Any) -> Any:
    from .router import RouterPolicy

    return RouterPolicy(**kwargs)


def _replicas(**kwargs: Any) -> Any:
    """``RayReplicaPolicy``: ``make_policy("replicas", replica_backend="hf", replicas=2, model=...)``."""
    from .ray_replicas import RayReplicaPolicy

    return RayReplicaPolicy(**kwargs)


for _name, _cls in (("oracle", OracleAgent), ("fixed", FixedAgent), ("replay", ReplayAgent),
                    ("random", RandomAgent), ("function", FunctionAgent)):
    BACKENDS.register(_name, _cls)  # scripted agents are imported already: register the classes
BACKENDS.register("hf", _hf)
BACKENDS.register("tiny", _tiny)
BACKENDS.register("vllm", _vllm)
BACKENDS.register("openai", _openai)
BACKENDS.register("router", _router)
BACKENDS.register("replicas", _replicas)

__all__ = [
    "BACKENDS",
    "ChatMessage",
    "Conversation",
    "FixedAgent",
    "FunctionAgent",
    "Generation",
    "OracleAgent",
    "Policy",
    "RandomAgent",
    "ReplayAgent",
    "SamplingParams",
    "make_policy",
    "to_conversation",
]
