"""Policy losses: token-level PPO-clip (default) and a sequence-level ratio, one optional KL term.

All functions are pure torch over padded tensors:

=============  ==========  ======================================================================
name           shape       meaning
=============  ==========  ======================================================================
``logp``       ``[B, T]``  log-probs of the generated tokens under the policy being optimised
``old_logp``   ``[B, T]``  the same under the policy that generated them (no gradient)
``adv``        ``[B]``     one credit per message, broadcast to its tokens (algorithms.md 1)
``mask``       ``[B, T]``  1 on real generated tokens, 0 on padding
``ref_logp``   ``[B, T]``  log-probs under a frozen reference policy (only with ``kl_coef > 0``)
=============  ==========  ======================================================================

``normalizer`` lets gradient accumulation reproduce one big batch exactly: pass the total number
of tokens (token level) or messages (sequence level) of the whole optimiser batch, and the sum of
the micro-batch losses equals the full-batch loss.

KL is treated identically by every learner (pitfall P4): a loss term ``kl_coef * k3`` with the
k3 estimator ``exp(ref - logp) - (ref - logp) - 1`` (Schulman's unbiased, non-negative estimator),
averaged the same way as the policy term; it is never folded into rewards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_marl_envs.registry import Registry


@dataclass(frozen=True)
class LossConfig:
    """Settings of the policy loss (shared by every learner)."""

    name: str = "ppo_token"
    """``"ppo_token"`` (token-level ratio, masked token mean; OpenRLHF/C3) or ``"ppo_sequence"``
    (ratio = exp(mean token log-ratio) per message, GSPO/CCPO "turn" clip; mean over messages)."""
    clip_eps: float = 0.2
    """PPO clip range epsilon."""
    dual_clip: float | None = None
    """Dual-clip constant c > 1 for negative advantages (CCPO uses 3.0), or None."""
    log_ratio_clamp: float = 3.0
    """Upper clamp of the mean log-ratio in the sequence-level loss (CCPO's ``log_ratio_clip_c``)."""
    kl_coef: float = 0.0
    """Weight of the k3 KL penalty to the frozen reference policy (0 = no reference model)."""


@dataclass
class LossOutput:
    """The scalar loss to backpropagate and detached statistics."""

    loss: torch.Tensor
    stats: dict[str, float]


LOSSES: Registry = Registry("policy loss")


def _clip_objective(ratio: torch.Tensor, adv: torch.Tensor, config: LossConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element PPO-clip loss and a clipped-indicator (same shape as ``ratio``)."""
    unclipped = -ratio * adv
    clipped = -torch.clamp(ratio, 1 - config.clip_eps, 1 + config.clip_eps) * adv
    loss = torch.maximum(unclipped, clipped)
    if config.dual_clip is not None:
        loss = torch.where(adv < 0, torch.minimum(loss, -config.dual_clip * adv), loss)
    return loss, (clipped > unclipped).float()


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref): ``exp(ref - logp) - (ref - logp) - 1`` ``[B, T]``."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def _kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor | None, config: LossConfig) -> torch.Tensor:
    """``kl_coef * k3`` per token ``[B, T]`` (the same KL term for every loss and learner)."""
    if ref_logp is None:
        raise ValueError("kl_coef > 0 needs ref_logp")
    return config.kl_coef * k3_kl(logp, ref_logp)


@LOSSES.register("ppo_token")
def ppo_token_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    config: LossConfig,
    *,
    ref_logp: torch.Tensor | None = None,
    normalizer: float | None = None,
) -> LossOutput:
    """Token-level PPO-clip, masked token mean: ``sum_t mask * l_t / normalizer`` (default: mask sum)."""
    mask = mask.to(logp.dtype)
    ratio = torch.exp(logp - old_logp)
    per_token, clipped = _clip_objective(ratio, adv[:, None].to(logp.dtype), config)
    if config.kl_coef > 0:
        per_token = per_token + _kl_penalty(logp, ref_logp, config)
    denom = float(normalizer) if normalizer is not None else mask.sum().clamp(min=1)
    loss = (per_token * mask).sum() / denom
    n = mask.sum().clamp(min=1)
    return LossOutput(loss, {
        "loss/clip_frac": float((clipped * mask).sum() / n),
        "loss/ratio_mean": float((ratio.detach() * mask).sum() / n),
        "loss/approx_kl_old": float((((ratio.detach() - 1) - torch.log(ratio.detach())) * mask).sum() / n),
    })


ppo_token_loss.averages_over = "tokens"  # type: ignore[attr-defined]


@LOSSES.register("ppo_sequence")
def ppo_sequence_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    config: LossConfig,
    *,
    ref_logp: torch.Tensor | None = None,
    normalizer: float | None = None,
) -> LossOutput:
    """Sequence-level ratio ``exp(clamp(mean_t log-ratio, max=log_ratio_clamp))`` per message; mean
    over messages (``sum / normalizer``, default the number of messages)."""
    mask = mask.to(logp.dtype)
    lengths = mask.sum(dim=1).clamp(min=1)
    log_ratio = ((logp - old_logp) * mask).sum(dim=1) / lengths
    ratio = torch.exp(torch.clamp(log_ratio, max=config.log_ratio_clamp))
    per_seq, clipped = _clip_objective(ratio, adv.to(logp.dtype), config)
    if config.kl_coef > 0:
        per_seq = per_seq + (_kl_penalty(logp, ref_logp, config) * mask).sum(dim=1) / lengths
    denom = float(normalizer) if normalizer is not None else max(len(per_seq), 1)
    return LossOutput(per_seq.sum() / denom, {
        "loss/clip_frac": float(clipped.mean()) if len(clipped) else 0.0,
        "loss/ratio_mean": float(ratio.detach().mean()) if len(ratio) else 1.0,
    })


ppo_sequence_loss.averages_over = "messages"  # type: ignore[attr-defined]


def loss_normalizer(config: LossConfig, token_counts: list[int]) -> float:
    """The ``normalizer`` of a whole optimiser batch of messages with ``token_counts`` generated tokens.

    Each registered loss declares what it averages over in its ``averages_over`` attribute
    (``"tokens"``: masked token mean; ``"messages"``: mean over sequences), so that gradient
    accumulation over micro-batches equals one big batch whatever the loss.
    """
    unit = getattr(LOSSES.get(config.name), "averages_over", "tokens")
    if unit == "messages":
        return float(len(token_counts))
    return float(max(sum(token_counts), 1))
