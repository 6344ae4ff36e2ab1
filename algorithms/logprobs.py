"""Teacher-forced log-probs of generated messages, batched (the learner's forward pass)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_sequences(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-pad ``prompt + completion`` rows.

    Returns ``input_ids [B, L]``, ``attention_mask [B, L]``, ``positions [B, T]`` (index of the
    logit that predicts completion token t: ``len(prompt) - 1 + t``) and ``completion_mask [B, T]``,
    with ``T`` the longest completion.
    """
    B = len(prompts)
    lengths = [len(p) + len(c) for p, c in zip(prompts, completions, strict=True)]
    L, T = max(lengths, default=1), max((len(c) for c in completions), default=1)
    T = max(T, 1)
    input_ids = torch.full((B, L), pad_id, dtype=torch.long)
    attention = torch.zeros((B, L), dtype=torch.long)
    positions = torch.zeros((B, T), dtype=torch.long)
    cmask = torch.zeros((B, T), dtype=torch.float32)
    for b, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        seq = list(p) + list(c)
        input_ids[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention[b, : len(seq)] = 1
        n = len(c)
        positions[b, :n] = torch.arange(len(p) - 1, len(p) - 1 + n)
        cmask[b, :n] = 1
    return input_ids, attention, positions, cmask


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
    input_ids, attention, positions, cmask = pad_sequences(prompts, completions, pad_id)
    input_ids, attention, positions = input_ids.to(device), attention.to(device), positions.to(device)
    logits = model(input_ids=input_ids, attention_mask=attention).logits  # [B, L, V]
    picked_logits = logits.gather(1, positions[:, :, None].expand(-1, -1, logits.shape[-1]))  # [B, T, V]
    picked_logits = picked_logits.float()
    if temperature and temperature > 0 and temperature != 1.0:
        picked_logits = picked_logits / temperature
    logp_all = torch.log_softmax(picked_logits, dim=-1)
    targets = torch.zeros_like(positions)
    for b, c in enumerate(completions):
        if len(c):
            targets[b, : len(c)] = torch.tensor(list(c), dtype=torch.long)
    logp = logp_all.gather(-1, targets[:, :, None]).squeeze(-1)
    cmask = cmask.to(device)
    return logp * cmask, cmask
