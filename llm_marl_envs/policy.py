"""The policy protocol the rollout runner drives (re-exported by the ``agents`` package).

A policy is anything with ``generate(prompts, params) -> list[Generation]``. ``prompts`` is a batch
of chat conversations (lists of ``{"role": ..., "content": ...}`` dicts); the result holds
``len(prompts) * params.n`` generations, prompt-major (all ``n`` samples of prompt 0 first).
This module is plain Python: the env package never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

ChatMessage = dict[str, str]
Conversation = list[ChatMessage]


@dataclass(frozen=True)
class SamplingParams:
    """Backend-neutral sampling parameters.

    ``temperature=0`` means greedy. ``seed`` makes a request reproducible on backends that support
    it (per-request seeds: prompt ``i`` sample ``j`` uses a seed derived from ``(seed, i, j)``).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    n: int = 1
    logprobs: bool = True

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if isinstance(self.stop, (list, str)):
            object.__setattr__(self, "stop", (self.stop,) if isinstance(self.stop, str) else tuple(self.stop))

    def with_(self, **changes: Any) -> SamplingParams:
        return replace(self, **changes)


@dataclass
class Generation:
    """One sampled completion.

    ``token_ids`` are the generated tokens (stop strings and padding excluded); ``logprobs[i]`` is
    the behaviour log-probability of ``token_ids[i]`` under the sampling distribution, or ``None``
    when the backend cannot give it. ``finish_reason`` is ``"stop"`` or ``"length"``.
    """

    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    prompt_token_ids: list[int] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "token_ids": list(self.token_ids),
            "logprobs": None if self.logprobs is None else list(self.logprobs),
            "finish_reason": self.finish_reason,
            "prompt_token_ids": self.prompt_token_ids,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Generation:
        return cls(**d)


@runtime_checkable
class Policy(Protocol):
    """Anything that turns a batch of conversations into generations."""

    def generate(self, prompts: list[Conversation], params: SamplingParams) -> list[Generation]: ...
