"""Critics over decision text: MAPPO's centralised V(state) and C3's optional Q(state, message).

A :class:`TextCritic` is a copy of the policy's transformer body (initialised from the policy's
weights, as in OpenRLHF/C3) with a scalar head read at the last real token:

- ``kind="state_value"``: input = the decision's context tokens (``prompt_token_ids``: the
  role-aware state text: task, visible conversation, the next role's tags); linear output; MSE to
  the estimator's ``returns`` (MAPPO).
- ``kind="action_value"``: input = context + the message's tokens; sigmoid output in [0, 1];
  binary cross-entropy to the node value clipped to [0, 1] (C3's Q-critic, ``value_assisted``).

Order per iteration (as in C3's code): values are predicted with the current critic, the
estimator uses them, then the critic is fitted on the batch, then the policy is updated.

Fitting (issue 12: with a zero head, lr 5e-5 and one step per iteration, MAPPO's V stayed at about
0.02 against a mean reward of 0.156 after 12 iterations, so the row was REINFORCE with a batch
baseline): at its FIRST fit the head's bias is set to the batch's mean target (V; for Q the logit of
the Laplace-smoothed mean, as C3 initialises its Q-critic's bias), after the first batch's values were
predicted, so no batch's credit ever sees its own rewards; then every iteration runs ``steps``
optimiser steps (MAPPO's learner default: 8, C3's ``critic_train_steps_per_iter``). :func:`fit_critic`
reports the error of the values the estimator used (``critic/mse``, ``critic/explained_variance``,
before this batch's fit) and the regression loss after its last step.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .batch import RolloutBatch

KINDS = ("state_value", "action_value")


def _backbone(model: nn.Module) -> nn.Module:
    """The transformer body of a causal LM (hidden states out), unwrapped from peft if needed."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    body = getattr(model, "base_model", model)
    return copy.deepcopy(body)


class TextCritic(nn.Module):
    """A scalar head on a transformer body; see the module docstring."""

    def __init__(self, policy_model: nn.Module, kind: str, *, pad_id: int, tokenizer: Any = None) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"critic kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.pad_id = pad_id
        self.tokenizer = tokenizer
        self.body = _backbone(policy_model).float()
        self.body.requires_grad_(True)
        hidden = self.body.config.hidden_size
        self.head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        """False until the first :func:`fit_critic` (which sets the head's bias to the mean target)."""

    def inputs(self, batch: RolloutBatch) -> list[list[int]]:
        """Token ids the critic reads for each decision.

        By default the generator's own ids (``prompt_token_ids`` [+ ``token_ids``]). With a
        ``tokenizer`` (per-role policies whose tokenizers differ, pitfall P15) the context text
        [+ message text] is re-tokenised with the critic's own tokenizer instead.
        """
        if self.tokenizer is not None:
            texts = [d.context + ("\n" + d.text if self.kind == "action_value" else "") for d in batch.decisions]
            return [list(self.tokenizer(t, add_special_tokens=False)["input_ids"]) or [self.pad_id] for t in texts]
        if self.kind == "state_value":
            return [list(d.prompt_token_ids) for d in batch.decisions]
        return [list(d.prompt_token_ids) + list(d.token_ids) for d in batch.decisions]

    def forward(self, sequences: Sequence[Sequence[int]]) -> torch.Tensor:
        """Raw head outputs ``[B]`` (logits for ``action_value``)."""
        device = self.head.weight.device
        L = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), L), self.pad_id, dtype=torch.long, device=device)
        attn = torch.zeros_like(ids)
        for i, s in enumerate(sequences):
            ids[i, : len(s)] = torch.tensor(list(s), dtype=torch.long, device=device)
            attn[i, : len(s)] = 1
        hidden = self.body(input_ids=ids, attention_mask=attn).last_hidden_state  # [B, L, H]
        last = attn.sum(dim=1) - 1
        h = hidden[torch.arange(len(sequences), device=device), last]
        return self.head(h.float()).squeeze(-1)

    @torch.no_grad()
    def predict(self, batch: RolloutBatch, *, micro_batch_size: int = 32) -> np.ndarray:
        """V or Q for every decision of ``batch`` ``[N]``."""
        seqs = self.inputs(batch)
        out: list[float] = []
        for i in range(0, len(seqs), micro_batch_size):
            raw = self.forward(seqs[i : i + micro_batch_size])
            out.extend((torch.sigmoid(raw) if self.kind == "action_value" else raw).tolist())
        return np.asarray(out, dtype=np.float64)

    def loss(self, sequences: Sequence[Sequence[int]], targets: torch.Tensor) -> torch.Tensor:
        """Regression loss on one micro-batch (summed over it; the caller normalises)."""
        return self.regression_loss(self.forward(sequences), targets)

    def regression_loss(self, raw: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed loss of head outputs ``raw [B]`` against ``targets [B]``: BCE on logits (Q) or half squared error (V)."""
        if self.kind == "action_value":
            return nn.functional.binary_cross_entropy_with_logits(raw, targets.clamp(0, 1), reduction="sum")
        return ((raw - targets) ** 2).sum() * 0.5


def critic_targets(kind: str, batch: RolloutBatch, returns: np.ndarray | None) -> np.ndarray:
    """Regression targets ``[N]``: the estimator's ``returns`` (V) or the node value (Q)."""
    if kind == "state_value":
        if returns is None:
            raise ValueError("a state-value critic needs the estimator's returns")
        return np.asarray(returns, dtype=np.float64)
    return np.clip(batch.rewards(), 0.0, 1.0)


def fit_critic(
    critic: TextCritic,
    optimizer: torch.optim.Optimizer,
    batch: RolloutBatch,
    targets: np.ndarray,
    *,
    steps: int = 1,
    micro_batch_size: int = 16,
    max_grad_norm: float = 1.0,
) -> dict[str, Any]:
    """``steps`` full-batch optimiser steps (gradient accumulation over micro-batches) on ``targets [N]``.

    The first fit of a critic first sets its head's bias to the mean target (see the module docstring).
    Returns ``critic/loss`` (the regression loss at the last step, before its update) and, when the
    batch's ``value`` column holds the values this iteration's credits used (predicted before this
    fit, as the trainer does), their ``critic/mse``, ``critic/explained_variance``
    (``1 - var(target - V) / var(target)``), ``critic/value_mean`` and ``critic/target_mean``.
    """
    seqs = critic.inputs(batch)
    device = critic.head.weight.device
    t = torch.as_tensor(targets, dtype=torch.float32, device=device)
    if not bool(critic.fitted):
        with torch.no_grad():
            if critic.kind == "action_value":
                p = (float(t.clamp(0, 1).sum()) + 1.0) / (len(t) + 2.0)
                critic.head.bias.fill_(float(np.log(p / (1 - p))))
            else:
                critic.head.bias.fill_(float(t.mean()))
            critic.fitted.fill_(True)
    used = batch.column("value", dtype=float)  # the values the estimator used (predicted before this fit)
    total = 0.0
    for _ in range(max(steps, 1)):
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for i in range(0, len(seqs), micro_batch_size):
            loss = critic.loss(seqs[i : i + micro_batch_size], t[i : i + micro_batch_size]) / len(seqs)
            loss.backward()
            total += float(loss.detach())
        if max_grad_norm > 0:
            nn.utils.clip_grad_norm_(critic.parameters(), max_grad_norm)
        optimizer.step()
    out: dict[str, Any] = {"critic/loss": total, "critic/steps": float(max(steps, 1))}
    if len(used) and not np.isnan(used).any():
        out.update(critic_error(used, targets, critic.kind))
    return out


def critic_error(pred: np.ndarray, targets: np.ndarray, kind: str = "state_value") -> dict[str, float]:
    """``critic/mse``, ``critic/explained_variance``, ``critic/value_mean`` and ``critic/target_mean`` of
    predictions ``pred [N]`` against ``targets [N]`` (Q targets are clipped to [0, 1], as in the loss);
    explained variance is ``nan`` when the targets are constant."""
    y = np.asarray(targets, dtype=np.float64)
    if kind == "action_value":
        y = np.clip(y, 0.0, 1.0)
    p = np.asarray(pred, dtype=np.float64)
    var = float(y.var()) if len(y) else 0.0
    return {
        "critic/mse": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
        "critic/explained_variance": 1.0 - float((y - p).var()) / var if var > 1e-12 else float("nan"),
        "critic/value_mean": float(p.mean()) if len(p) else float("nan"),
        "critic/target_mean": float(y.mean()) if len(y) else float("nan"),
    }
