"""Teacher-forced log-probs of generated messages, batched (the learner's forward pass).

Layout of a micro-batch: prompts are LEFT-padded to a common length ``P`` and completions RIGHT-padded
to ``T``, so every completion token ``t`` is predicted by the logit at the same position ``P - 1 + t``
in every row. Position ids are explicit (``cumsum(mask) - 1``), so padding never changes a row's
logits, and only the last ``T + 1`` positions go through the LM head (``logits_to_keep``) when the
model supports it: the vocabulary projection, the biggest tensor of a real model, is never computed
for prompt positions.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch


def pad_sequences(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """``[pad | prompt | completion | pad]`` rows.

    Returns ``input_ids [B, P+T]``, ``attention_mask [B, P+T]``, ``position_ids [B, P+T]``,
    ``completion_mask [B, T]`` and ``P`` (the padded prompt length); ``T`` is the longest completion.
    """
    B = len(prompts)
    P = max((len(p) for p in prompts), default=1)
    T = max(max((len(c) for c in completions), default=1), 1)
    input_ids = torch.full((B, P + T), pad_id, dtype=torch.long)
    attention = torch.zeros((B, P + T), dtype=torch.long)
    cmask = torch.zeros((B, T), dtype=torch.float32)
    for b, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        start = P - len(p)
        input_ids[b, start:P] = torch.tensor(list(p), dtype=torch.long)
        input_ids[b, P : P + len(c)] = torch.tensor(list(c), dtype=torch.long)
        attention[b, start : P + len(c)] = 1
        cmask[b, : len(c)] = 1
    positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
    return input_ids, attention, positions, cmask, P


def _supports_logits_to_keep(model: torch.nn.Module) -> bool:
    try:
        return "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def completion_logprobs(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    *,
    pad_id: int,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs ``[B, T]`` of each completion token given its prompt, and the mask ``[B, T]``.

    Logits are divided by ``temperature`` (the sampling temperature; 0 or 1 mean none), without
    top-k/top-p truncation so that an update can never push a sampled token to ``-inf``.
    Gradients flow when called outside ``torch.no_grad``.
    """
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every completion needs a non-empty prompt (its first token is predicted from it)")
    device = next(model.parameters()).device
    input_ids, attention, positions, cmask, P = pad_sequences(prompts, completions, pad_id)
    T = cmask.shape[1]
    kwargs = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device),
              "position_ids": positions.to(device)}
    if _supports_logits_to_keep(model):
        kwargs["logits_to_keep"] = T + 1  # positions P-1 .. P+T-1
    logits = model(**kwargs).logits
    logits = logits[:, -(T + 1) : -1].float()  # [B, T, V]: the logit at P-1+t predicts completion token t
    if temperature and temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, P : P + T].to(device)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets[:, :, None]).squeeze(-1)
    cmask = cmask.to(device)
    return logp * cmask, cmask
