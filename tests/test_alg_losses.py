"""Policy losses and teacher-forced log-probs: clipping, masks, accumulation, KL, consistency."""

from __future__ import annotations

import pytest
import torch

from algorithms.logprobs import completion_logprobs, pad_sequences
from algorithms.losses import LOSSES, LossConfig, k3_kl, loss_normalizer, ppo_sequence_loss, ppo_token_loss


def batch(seed=0, B=3, T=5):
    g = torch.Generator().manual_seed(seed)
    logp = (-torch.rand(B, T, generator=g) * 2).requires_grad_(True)
    old = logp.detach() + 0.3 * torch.randn(B, T, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.float32)[:B, :T]
    adv = torch.tensor([1.0, -0.5, 2.0])[:B]
    return logp, old, adv, mask


def test_on_policy_token_loss_is_minus_token_weighted_advantage_and_its_gradient():
    logp, _, adv, mask = batch()
    out = ppo_token_loss(logp, logp.detach(), adv, mask, LossConfig())
    expected = -(adv[:, None] * mask).sum() / mask.sum()
    assert float(out.loss.detach()) == pytest.approx(float(expected))
    out.loss.backward()
    # one scalar per message, broadcast to its tokens: d loss / d logp_t = -A_message / n_tokens on real tokens
    torch.testing.assert_close(logp.grad, -(adv[:, None] * mask) / mask.sum())


def test_padding_never_matters():
    logp, old, adv, mask = batch()
    a = ppo_token_loss(logp, old, adv, mask, LossConfig()).loss
    junk_logp = torch.where(mask.bool(), logp, torch.full_like(logp, 123.0))
    junk_old = torch.where(mask.bool(), old, torch.full_like(old, -55.0))
    b = ppo_token_loss(junk_logp, junk_old, adv, mask, LossConfig()).loss
    c = ppo_sequence_loss(logp, old, adv, mask, LossConfig()).loss
    d = ppo_sequence_loss(junk_logp, junk_old, adv, mask, LossConfig()).loss
    assert float(a.detach()) == pytest.approx(float(b.detach())) and float(c.detach()) == pytest.approx(float(d.detach()))


def test_clip_stops_gradient_beyond_the_trust_region():
    logp = torch.zeros(1, 2, requires_grad=True)
    old = torch.tensor([[-1.0, 0.0]])  # token 0 ratio e > 1.2; token 1 ratio 1
    out = ppo_token_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 2), LossConfig(clip_eps=0.2))
    out.loss.backward()
    assert logp.grad[0, 0] == 0 and logp.grad[0, 1] < 0
    assert out.stats["loss/clip_frac"] == pytest.approx(0.5)


def test_dual_clip_bounds_negative_advantage_loss():
    logp = torch.tensor([[2.0]], requires_grad=True)
    old = torch.zeros(1, 1)
    plain = ppo_token_loss(logp, old, torch.tensor([-1.0]), torch.ones(1, 1), LossConfig()).loss
    dual = ppo_token_loss(logp, old, torch.tensor([-1.0]), torch.ones(1, 1), LossConfig(dual_clip=3.0)).loss
    assert float(plain.detach()) == pytest.approx(torch.exp(torch.tensor(2.0)).item())
    assert float(dual.detach()) == pytest.approx(3.0)


def test_gradient_accumulation_reproduces_the_full_batch():
    logp, old, adv, mask = batch()
    for name in ("ppo_token", "ppo_sequence"):
        cfg = LossConfig(name=name)
        fn = LOSSES.get(name)
        full = fn(logp, old, adv, mask, cfg).loss
        norm = loss_normalizer(cfg, [int(row.sum()) for row in mask])
        parts = fn(logp[:2], old[:2], adv[:2], mask[:2], cfg, normalizer=norm).loss + fn(
            logp[2:], old[2:], adv[2:], mask[2:], cfg, normalizer=norm
        ).loss
        assert float(parts.detach()) == pytest.approx(float(full.detach()), rel=1e-6)


def test_sequence_ratio_is_geometric_mean_and_clamped():
    logp = torch.tensor([[0.0, 0.0, 0.0]], requires_grad=True)
    old = torch.tensor([[-0.1, -0.2, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    out = ppo_sequence_loss(logp, old, torch.tensor([1.0]), mask, LossConfig(clip_eps=10.0))
    assert float(out.loss.detach()) == pytest.approx(-float(torch.exp(torch.tensor(0.15))))
    big = ppo_sequence_loss(torch.full((1, 2), 10.0), torch.zeros(1, 2), torch.tensor([-1.0]), torch.ones(1, 2),
                            LossConfig(clip_eps=100.0, log_ratio_clamp=3.0)).loss
    assert float(big.detach()) == pytest.approx(float(torch.exp(torch.tensor(3.0))))


def test_k3_kl_zero_at_reference_and_positive_elsewhere():
    logp, old, adv, mask = batch()
    assert torch.all(k3_kl(logp.detach(), logp.detach()) == 0)
    assert torch.all(k3_kl(logp.detach(), old) >= 0)
    base = ppo_token_loss(logp, old, adv, mask, LossConfig()).loss
    with_kl = ppo_token_loss(logp, old, adv, mask, LossConfig(kl_coef=0.5), ref_logp=old).loss
    assert float(with_kl.detach()) > float(base.detach())
    with pytest.raises(ValueError, match="ref_logp"):
        ppo_token_loss(logp, old, adv, mask, LossConfig(kl_coef=0.5))


def test_pad_sequences_layout():
    ids, attn, pos, cm, P = pad_sequences([[5, 6], [7]], [[1, 2, 3], [4]], pad_id=0)
    assert P == 2
    assert ids.tolist() == [[5, 6, 1, 2, 3], [0, 7, 4, 0, 0]]
    assert attn.tolist() == [[1, 1, 1, 1, 1], [0, 1, 1, 0, 0]]
    assert pos.tolist() == [[0, 1, 2, 3, 4], [0, 0, 1, 1, 1]] and cm.tolist() == [[1, 1, 1], [1, 0, 0]]


@pytest.fixture(scope="module")
def tiny():
    from agents.tiny import build_tiny_model, build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    return tok, build_tiny_model(tok, hidden_size=32, num_layers=1, num_heads=2, seed=0)


def test_completion_logprobs_match_unpadded_forward_and_hf_policy(tiny):
    tok, model = tiny
    prompts = [tok.encode("hello there"), tok.encode("hi"), tok.encode("a much longer prompt than the others")]
    comps = [tok.encode("abc"), tok.encode("wxyz!"), tok.encode("q")]
    with torch.no_grad():
        logp, mask = completion_logprobs(model, prompts, comps, pad_id=tok.pad_token_id, temperature=0.7)
        for b, (p, c) in enumerate(zip(prompts, comps, strict=True)):
            logits = model(input_ids=torch.tensor([p + c])).logits[0, len(p) - 1 : -1] / 0.7
            ref = torch.log_softmax(logits, -1).gather(-1, torch.tensor(c)[:, None]).squeeze(-1)
            torch.testing.assert_close(logp[b, : len(c)], ref, atol=1e-5, rtol=1e-5)
            assert mask[b].sum() == len(c)
    from agents.hf import HFPolicy
    from llm_marl_envs.policy import SamplingParams

    policy = HFPolicy(model, tok)
    expected = policy.token_logprobs(prompts[1], comps[1], SamplingParams(temperature=0.7))
    torch.testing.assert_close(logp[1, : len(comps[1])], torch.tensor(expected), atol=1e-4, rtol=1e-4)
