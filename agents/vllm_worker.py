"""Runs inside vLLM's worker processes (``worker_extension_cls``): weight loading between training steps.

:class:`agents.vllm.VLLMPolicy` creates its engine with
``worker_extension_cls="agents.vllm_worker.WeightSyncExtension"`` and calls these methods by name
through ``LLM.collective_rpc`` (names, not pickled functions, cross the process boundary; the
weights travel as one safetensors byte string). This module never imports vLLM itself.
"""

from __future__ import annotations

__all__ = ["WeightSyncExtension"]


class WeightSyncExtension:
    """Mixed into vLLM's worker class; ``self.model_runner`` is the worker's model runner."""

    def llm_marl_load_weights(self, payload: bytes) -> int:
        """Load a safetensors-serialised ``{name: tensor}`` (transformers names) with the model's own
        ``load_weights``; returns the number of tensors."""
        from safetensors.torch import load

        weights = load(payload)
        reload = getattr(self, "reload_weights", None)
        if reload is not None:  # vLLM >= 0.2x: layer-wise in-place reload that redoes kernel packing
            reload(weights_iterator=iter(weights.items()), is_checkpoint_format=True)
        else:
            self.model_runner.model.load_weights(weights=iter(weights.items()))  # type: ignore[attr-defined]
        return len(weights)
