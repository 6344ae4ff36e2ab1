"""Supervised pre-training of a causal LM on (conversation, target) pairs, loss on targets only."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Conversation = list[dict[str, str]]


@dataclass(frozen=True)
class SFTExample:
    """One supervised example: the exact chat context a role sees, and the message it should write."""

    conversation: tuple[tuple[str, str], ...]  # ((role, content), ...) so that it is hashable
    target: str
    role: str = ""

    @classmethod
    def make(cls, conversation: Conversation, target: str, role: str = "") -> SFTExample:
        return cls(tuple((m["role"], m["content"]) for m in conversation), target, role)

    def messages(self) -> Conversation:
        return [{"role": r, "content": c} for r, c in self.conversation]


def encode_example(tokenizer, example: SFTExample) -> tuple[list[int], list[int]]:
    """Token ids of the templated prompt and of the target followed by the end-of-sequence token."""
    from agents.chat import render_chat

    prompt = render_chat(tokenizer, example.messages(), add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    target_ids = tokenizer(example.target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return list(prompt_ids), list(target_ids)


def _batch(encoded: Sequence[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 outside targets), each [B, T]."""
    import torch

    length = max(len(p) + len(t) for p, t in encoded)
    ids = torch.full((len(encoded), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), length), dtype=torch.long)
    labels = torch.full((len(encoded), length), -100, dtype=torch.long)
    for row, (p, t) in enumerate(encoded):
        seq = p + t
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        labels[row, len(p) : len(seq)] = torch.tensor(t)
    return ids, mask, labels


def train_sft(
    model,
    tokenizer,
    examples: Sequence[SFTExample],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    warmup_steps: int = 0,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    log_every: int = 50,
) -> list[dict[str, float]]:
    """Train ``model`` in place with AdamW (linear warm-up, cosine decay); return the loss curve."""
    import torch

    if not examples:
        raise ValueError("no SFT examples")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    encoded = [encode_example(tokenizer, ex) for ex in examples]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < warmup_steps:
            return lr * (step + 1) / warmup_steps
        frac = (step - warmup_steps) / max(1, steps - warmup_steps)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    model.train()
    curve: list[dict[str, float]] = []
    order: list[int] = []
    start = time.perf_counter()
    running = None
    for step in range(steps):
        if len(order) < batch_size:
            fresh = list(range(len(encoded)))
            rng.shuffle(fresh)
            order.extend(fresh)
        idx, order = order[:batch_size], order[batch_size:]
        ids, mask, labels = _batch([encoded[i] for i in idx], pad_id)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = float(loss.detach())
        running = value if running is None else 0.9 * running + 0.1 * value
        if step % log_every == 0 or step == steps - 1:
            curve.append({"step": step, "loss": value, "loss_ema": running, "wall_s": time.perf_counter() - start})
            if log:
                log(f"[testbed] sft step {step + 1}/{steps} loss {running:.3f} ({time.perf_counter() - start:.0f}s)")
    model.eval()
    return curve
